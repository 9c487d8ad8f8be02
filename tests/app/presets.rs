//! Presets that know what they are: Bone finds its level from the scan,
//! names and colours its segment after itself, and leaves out the table.

use std::time::Duration;

use bevy::prelude::*;
use stratum::app::actions::HistoryAction;
use stratum::app::features::segmentation::SegmentCommand;
use stratum::app::state::segments::ToolSettings;
use stratum::app::state::study::Study;
use stratum_core::segment::{LabelMap, Mask, Preset};
use stratum_core::{image::volume::Geometry, image::volume::Volume, image::volume::Voxels};

use crate::pipeline::{errors, headless, publish, run_until_idle, segments};

/// A 40 HU body (radius 18 mm) around a 1000 HU bone ball (radius 8 mm)
/// whose edge ramps over 2 mm (half-way, 520 HU, at 8 mm), and a 1000 HU
/// slab below the body with air between: the scanner's table.
fn body_with_bone_and_table() -> Study {
    let n = 48;
    let g = Geometry::default();
    let c = 22.0;
    let voxels = ndarray::Array3::from_shape_fn((n, n, n), |(z, y, x)| {
        let d = |v: usize| v as f64 - c;
        let r = (d(x) * d(x) + d(y) * d(y) + d(z) * d(z)).sqrt();
        let v = if r <= 18.0 {
            let t = (0.5 - (r - 8.0) / 2.0).clamp(0.0, 1.0);
            40.0 + 960.0 * t
        } else if y >= 44 {
            1000.0
        } else {
            -1000.0
        };
        v as i16
    });
    let volume = Volume::new(Voxels::I16(voxels), g, "CT");
    let body = Mask {
        data: volume
            .voxels
            .to_f32()
            .mapv(|v| (v > -500.0 && v < 500.0) as u8),
        geometry: g,
    };
    let mut labels = LabelMap::empty(volume.dim(), g);
    labels.add_segment("ball", &body);
    crate::pipeline::study_of(volume, labels, "bone", (-1000.0, 1000.0))
}

#[test]
fn bone_preset_finds_its_level_names_its_segment_and_leaves_out_the_table() {
    let mut app = headless();
    publish(&mut app, body_with_bone_and_table());
    run_until_idle(&mut app, Duration::from_secs(120));

    // Picking the preset finds the level half-way between bone and body.
    app.world_mut().resource_mut::<ToolSettings>().preset = Some(Preset::Bone);
    app.world_mut()
        .write_message(SegmentCommand::FindLevel(Preset::Bone));
    run_until_idle(&mut app, Duration::from_secs(120));
    let tools = app.world().resource::<ToolSettings>();
    let level = tools.found_level.expect("a level found");
    assert!((level - 520.0).abs() < 40.0, "level {level}");
    assert_eq!(tools.lo, level);
    let window = (tools.lo, tools.hi);

    app.world_mut().write_message(SegmentCommand::Preset {
        preset: Preset::Bone,
        window: Some(window),
    });
    run_until_idle(&mut app, Duration::from_secs(120));
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    let segs = segments(&mut app);
    let (bone, meshed) = segs
        .iter()
        .find(|(s, _)| s.name == "Bone")
        .expect("a Bone segment");
    assert!(*meshed);
    assert_eq!(bone.colour, Preset::Bone.colour());
    // Only the ball: the table (48 x 4 x 48 voxels, 9.2 mL) is left out.
    let ball_ml = 4.0 / 3.0 * std::f64::consts::PI * 8f64.powi(3) / 1000.0;
    assert!(
        (bone.voxel_ml - ball_ml).abs() / ball_ml < 0.1,
        "{} mL",
        bone.voxel_ml
    );
    let notices: Vec<String> = app
        .world()
        .resource::<stratum::app::state::jobs::Notices>()
        .items
        .iter()
        .map(|n| n.text.clone())
        .collect();
    assert!(
        notices.iter().any(|n| n.contains("left out 1 island")),
        "{notices:?}"
    );
    // Its surface comes from the scan at that level, and sits at the
    // half-way edge: the ball's true volume within 3%.
    let levels: Vec<f64> = crate::pipeline::surface_levels(&app)
        .into_iter()
        .filter(|(name, _)| name == "Bone")
        .map(|(_, l)| l)
        .collect();
    assert_eq!(levels, vec![level]);
    let surface = bone.surface.expect("surface stats");
    assert!(
        (surface.volume_ml - ball_ml).abs() / ball_ml < 0.03,
        "{} mL vs {ball_ml}",
        surface.volume_ml
    );

    // Deleted, then the delete undone; made, undone, redone: each time the
    // Bone comes back meshed from the scan at its level, the same surface.
    let bone_entity = |app: &mut App| {
        let mut q = app
            .world_mut()
            .query::<(Entity, &stratum::app::state::segments::Segment)>();
        q.iter(app.world())
            .find(|(_, s)| s.name == "Bone")
            .map(|(e, _)| e)
    };
    let e = bone_entity(&mut app).unwrap();
    app.world_mut().write_message(SegmentCommand::Delete(e));
    run_until_idle(&mut app, Duration::from_secs(60));
    assert!(bone_entity(&mut app).is_none());
    for action in [
        HistoryAction::Undo,
        HistoryAction::Undo,
        HistoryAction::Redo,
    ] {
        app.world_mut().write_message(action);
        run_until_idle(&mut app, Duration::from_secs(60));
    }
    // Now: delete undone, creation undone, creation redone.
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    let levels = crate::pipeline::surface_levels(&app);
    let mut q = app
        .world_mut()
        .query::<&stratum::app::state::segments::Segment>();
    let back: Vec<(f64, f64)> = q
        .iter(app.world())
        .filter(|s| s.name == "Bone")
        .filter_map(|s| {
            let l = levels.iter().find(|(n, _)| *n == s.name)?.1;
            Some((l, s.surface.expect("rebuilt").volume_ml))
        })
        .collect();
    assert_eq!(back.len(), 1, "{back:?}");
    assert_eq!(back[0].0, level);
    assert!(
        (back[0].1 - surface.volume_ml).abs() < 1e-6 * surface.volume_ml,
        "{} mL, was {} mL",
        back[0].1,
        surface.volume_ml
    );
}
