//! The tools on built surfaces through the headless app: clip planes
//! reaching the segment materials, the check against the scan filling the
//! measurements table, and rulers between picked points.

use std::time::Duration;

use bevy::prelude::*;
use stratum::app::state::segments::Segment;

use super::{ball_study, headless, publish, run_until_idle};

/// Clip planes are actions: they reach every segment's material (planes,
/// scan texture, back faces drawn), except a segment left whole.
#[test]
fn clip_actions_reach_the_segment_materials() {
    use stratum::app::actions::{ClipAction, ClipKind};
    use stratum::app::features::clip::{ClipSettings, NotClipped, SegmentMaterial};
    let mut app = headless();
    publish(&mut app, ball_study(24));
    run_until_idle(&mut app, Duration::from_secs(60));
    app.world_mut().write_message(ClipAction::Orient {
        index: 0,
        kind: ClipKind::Axial,
    });
    app.world_mut()
        .write_message(ClipAction::Offset { index: 0, mm: 4.0 });
    app.update();
    app.update();
    let clip = app.world().resource::<ClipSettings>().clone();
    assert!(clip.slots[0].enabled);
    assert!((clip.offset(0) - 4.0).abs() < 1e-9);
    // The ball's centre is 11.5 mm up; the plane 4 mm above it cuts the top.
    assert!(
        (clip.slots[0].plane.point[2] - 15.5).abs() < 1e-9,
        "{:?}",
        clip.slots[0]
    );
    let material = |app: &mut App| {
        let (handle,) = app
            .world_mut()
            .query::<(&MeshMaterial3d<SegmentMaterial>,)>()
            .single(app.world())
            .map(|(h,)| (h.0.clone(),))
            .expect("the ball has a material");
        app.world()
            .resource::<Assets<SegmentMaterial>>()
            .get(&handle)
            .cloned()
            .unwrap()
    };
    let m = material(&mut app);
    assert_eq!(m.extension.clip.mask, 1);
    assert!(m.extension.scan.is_some(), "the scan texture is bound");
    assert!(m.base.cull_mode.is_none(), "back faces show the cut");
    // World plane: normal up (world Y = superior), offset 15.5 mm.
    let p = m.extension.clip.planes[0];
    assert!(
        (p.y - 1.0).abs() < 1e-6 && (p.w - 0.0155).abs() < 1e-6,
        "{p}"
    );
    // The scan texture: one texel per voxel.
    let image = app
        .world()
        .resource::<Assets<Image>>()
        .get(m.extension.scan.as_ref().unwrap())
        .unwrap()
        .clone();
    assert_eq!(image.texture_descriptor.size.depth_or_array_layers, 24);
    assert_eq!(image.data.as_ref().map(|d| d.len()), Some(24 * 24 * 24));

    // A Ctrl+drag in 3D sends Move for the focused plane: 3 mm back down.
    app.world_mut()
        .write_message(ClipAction::Move { index: 0, mm: -3.0 });
    app.update();
    let clip = app.world().resource::<ClipSettings>().clone();
    assert!((clip.offset(0) - 1.0).abs() < 1e-9, "{}", clip.offset(0));
    assert_eq!(clip.focus, 0);
    app.world_mut().write_message(ClipAction::Enable {
        index: 2,
        on: false,
    });
    app.update();
    assert_eq!(
        app.world().resource::<ClipSettings>().focus,
        2,
        "the last plane touched has the focus"
    );

    // Keep the ball whole: its material stops clipping.
    let ball = app
        .world_mut()
        .query_filtered::<Entity, With<Segment>>()
        .single(app.world())
        .unwrap();
    app.world_mut().entity_mut(ball).insert(NotClipped);
    app.update();
    assert_eq!(material(&mut app).extension.clip.mask, 0);
    app.world_mut().entity_mut(ball).remove::<NotClipped>();
    app.world_mut().write_message(ClipAction::Flip { index: 0 });
    app.update();
    let m = material(&mut app);
    assert_eq!(m.extension.clip.mask, 1);
    assert!(
        (m.extension.clip.planes[0].y + 1.0).abs() < 1e-6,
        "flipped: keeps the top"
    );
}

/// "Check against the scan" validates every built surface in the background;
/// the table's CSV carries the numbers.
#[test]
fn checking_surfaces_against_the_scan_fills_the_measurements() {
    use stratum::app::features::measurements::{Measurements, Row, ValidateAll, to_csv};
    let mut app = headless();
    publish(&mut app, ball_study(40));
    run_until_idle(&mut app, Duration::from_secs(60));
    app.world_mut().write_message(ValidateAll);
    run_until_idle(&mut app, Duration::from_secs(60));
    let m = app.world().resource::<Measurements>();
    let (_, v) = m.checks.get(&1).expect("the ball was checked");
    assert!(v.dice > 0.95 && v.flags.is_empty(), "{v:?}");
    assert!(m.open, "the table opens with the results");
    let csv = to_csv(&[Row {
        name: "ball \"b\"".into(),
        voxel_ml: v.voxel_ml,
        mesh_ml: Some(v.mesh_ml),
        area_cm2: None,
        extent_mm: Some([1.0, 2.0, 3.0]),
        check: Some(v.clone()),
    }]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("segment,voxel_ml,mesh_ml"));
    assert!(lines[1].starts_with("\"ball \"\"b\"\"\","), "{}", lines[1]);
    assert_eq!(lines[1].split(',').count(), lines[0].split(',').count());
}

/// Rulers are actions: two points make one (from a slice click or a pick on
/// a surface in 3D), several can exist, and they can be deleted.
#[test]
fn rulers_measure_between_picked_points() {
    use stratum::app::actions::RulerAction;
    use stratum::app::actions::ViewAction;
    use stratum::app::features::measurements::Rulers;
    let mut app = headless();
    publish(&mut app, ball_study(40));
    run_until_idle(&mut app, Duration::from_secs(60));
    app.world_mut().write_message(RulerAction::Place(true));
    app.world_mut()
        .write_message(RulerAction::Point([0.0, 0.0, 0.0]));
    app.world_mut()
        .write_message(RulerAction::Point([30.0, 40.0, 0.0]));
    app.update();
    let r = app.world().resource::<Rulers>();
    assert_eq!(r.items.len(), 1);
    assert!((r.items[0].length_mm() - 50.0).abs() < 1e-9);
    // Two picks on the ball's surface in 3D, from the front and from the
    // back along the line through its centre (20 mm, radius 18 mm): a
    // diameter.
    let centre = stratum::app::state::space::lps_to_world([20.0, 20.0, 20.0]);
    for dir in [Vec3::NEG_Z, Vec3::Z] {
        let origin = centre - dir * 1.0;
        app.world_mut().write_message(ViewAction::Pick {
            ray: Ray3d::new(origin, Dir3::new(dir).unwrap()),
            centre: false,
        });
        app.update();
    }
    app.update();
    let r = app.world().resource::<Rulers>();
    assert_eq!(r.items.len(), 2, "{r:?}");
    let d = r.items[1].length_mm();
    assert!((d - 36.0).abs() < 1.5, "diameter {d:.2} mm");
    app.world_mut().write_message(RulerAction::Delete(0));
    app.update();
    let r = app.world().resource::<Rulers>();
    assert_eq!(r.items.len(), 1);
    assert!((r.items[0].length_mm() - d).abs() < 1e-9);
}
