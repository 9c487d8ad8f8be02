//! Curved and margin resections through the headless app: points placed
//! with clicks on the model give a smooth surface, the cut along it takes
//! the smaller (or the larger) part away; a safety margin around a lesion
//! is shown as a closed shell and cut away from the organ.

use std::time::Duration;

use bevy::prelude::*;
use stratum::app::actions::{ClipAction, ClipKind, HistoryAction, ViewAction};
use stratum::app::features::clip::{ClipSettings, NO_CUT_FACE, SegmentMaterial, world_plane};
use stratum::app::features::surgery::{Surgery, SurgeryAction};
use stratum::app::features::surgery_cut::{
    CutPointAction, CutPoints, MarginShell, MarginShellAction, MarginShellMesh,
};
use stratum::app::state::space::AnatomyPose;
use stratum::app::state::study::Study;
use stratum_core::segment::LabelMap;

use super::surgery::two_balls;
use super::{errors, headless, publish, run_until_idle};

/// The voxel centres (LPS mm) of segment `id` of `labels`.
fn centres(labels: &LabelMap, id: u16) -> Vec<[f64; 3]> {
    let (nz, ny, nx) = labels.dim();
    let mut v = Vec::new();
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                if labels.get(z, y, x) == id {
                    v.push(labels.geometry.index_to_lps([x as f64, y as f64, z as f64]));
                }
            }
        }
    }
    v
}

/// The voxels of segment `id` whose centre satisfies `f` (LPS mm).
fn count(app: &App, id: u16, f: impl Fn([f64; 3]) -> bool) -> u64 {
    let labels = app.world().resource::<Study>().doc.labels();
    centres(labels, id).into_iter().filter(|p| f(*p)).count() as u64
}

/// The voxels of the part a resection cut away from "near".
fn cut_away(app: &App) -> u64 {
    let doc = &app.world().resource::<Study>().doc;
    let cut = doc
        .segment_named("near resected")
        .expect("the part cut away");
    doc.voxel_count(cut.id)
}

fn step(app: &mut App) {
    app.update();
    app.update();
}

#[test]
fn a_curved_cut_through_clicked_points_takes_the_chosen_part_away_and_undo_takes_it_back() {
    let mut app = headless();
    publish(&mut app, two_balls());
    run_until_idle(&mut app, Duration::from_secs(60));
    let before = app.world().resource::<Study>().doc.labels().clone();
    // A click while placing: a point on the surface of "near" (centre
    // (12, 20, 20), radius 8), from a ray along +x aimed at its centre.
    app.world_mut().write_message(CutPointAction::Place(true));
    step(&mut app);
    let pose = *app.world().resource::<AnatomyPose>();
    let from = pose.lps_to_world([-20.0, 20.0, 20.0]);
    let to = pose.lps_to_world([12.0, 20.0, 20.0]);
    app.world_mut().write_message(ViewAction::Pick {
        ray: Ray3d::new(from, Dir3::new(to - from).unwrap()),
        centre: false,
    });
    step(&mut app);
    let points = app.world().resource::<CutPoints>();
    assert_eq!(points.points.len(), 1, "the click placed no point");
    let p = points.points[0];
    assert!(
        (p[0] - 4.5).abs() < 1.0 && (p[1] - 20.0).abs() < 0.5,
        "{p:?}"
    );
    assert!(points.patch.is_none());
    // Three more on the plane x = 14.3 (no voxel centre on it): the
    // surface through the four after the first is removed.
    app.world_mut().write_message(CutPointAction::RemoveLast);
    for (y, z) in [(10.0, 12.0), (30.0, 14.0), (21.0, 31.0), (12.0, 27.0)] {
        app.world_mut()
            .write_message(CutPointAction::Point([14.3, y, z]));
    }
    step(&mut app);
    let points = app.world().resource::<CutPoints>();
    assert_eq!(points.points.len(), 4);
    let patch = points.patch.as_ref().expect("a surface through 4 points");
    assert!(patch.iter().all(|q| (q[0] - 14.3).abs() < 1e-6));
    // The smaller part of "near" lies beyond x = 14.3.
    let cap = count(&app, 1, |q| q[0] > 14.3);
    let rest = count(&app, 1, |q| q[0] < 14.3);
    assert!(cap > 0 && cap < rest, "{cap} {rest}");
    app.world_mut()
        .write_message(SurgeryAction::ResectAlongPoints {
            organ: 1,
            lesion: None,
            larger: false,
        });
    step(&mut app);
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    assert_eq!(cut_away(&app), cap);
    assert_eq!(app.world().resource::<Study>().doc.voxel_count(1), rest);
    // The remnant's share counts the part of each voxel the cut crosses
    // (the core samples it 4 x 4 x 4): against the exact shares, within
    // half a percent.
    let r = app.world().resource::<Surgery>().resection.clone().unwrap();
    let kept = |x: f64| (14.3 - (x - 0.5)).clamp(0.0, 1.0);
    let remnant: f64 = centres(&before, 1).iter().map(|p| kept(p[0])).sum();
    let pct = 100.0 * remnant / (cap + rest) as f64;
    assert!(
        (r.remnant_pct - pct).abs() < 0.5,
        "{} vs {pct}",
        r.remnant_pct
    );
    app.world_mut().write_message(HistoryAction::Undo);
    step(&mut app);
    assert_eq!(**app.world().resource::<Study>().doc.labels(), *before);
    // The larger part instead.
    app.world_mut()
        .write_message(SurgeryAction::ResectAlongPoints {
            organ: 1,
            lesion: None,
            larger: true,
        });
    step(&mut app);
    assert_eq!(cut_away(&app), rest);
    assert_eq!(app.world().resource::<Study>().doc.voxel_count(1), cap);
}

#[test]
fn too_few_points_say_so_and_cut_nothing() {
    let mut app = headless();
    publish(&mut app, two_balls());
    run_until_idle(&mut app, Duration::from_secs(60));
    for p in [[14.3, 10.0, 12.0], [14.3, 30.0, 14.0]] {
        app.world_mut().write_message(CutPointAction::Point(p));
    }
    app.world_mut()
        .write_message(SurgeryAction::ResectAlongPoints {
            organ: 1,
            lesion: None,
            larger: false,
        });
    step(&mut app);
    let e = errors(&app);
    assert!(
        e.iter()
            .any(|m| m.contains("at least 3 points") && m.contains("placed 2")),
        "{e:?}"
    );
    assert!(
        app.world()
            .resource::<Study>()
            .doc
            .segment_named("near resected")
            .is_none()
    );
}

#[test]
fn a_safety_margin_is_shown_as_a_shell_and_cut_away_from_the_organ() {
    let mut app = headless();
    publish(&mut app, two_balls());
    run_until_idle(&mut app, Duration::from_secs(60));
    // "far" (radius 6 at x = 31) as the lesion, 3 mm around it.
    app.world_mut()
        .write_message(MarginShellAction::Show { lesion: 2, mm: 3.0 });
    step(&mut app);
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    let shell = app.world().resource::<MarginShell>();
    assert_eq!(shell.shown, Some((2, 3.0)));
    // About a 9.4 mm ball: 6 mm to the outermost voxel faces, 3 mm more.
    let ml = shell.volume_ml;
    assert!((3.0..4.0).contains(&ml), "{ml} mL");
    let mut q = app
        .world_mut()
        .query_filtered::<Entity, With<MarginShellMesh>>();
    assert_eq!(q.iter(app.world()).count(), 1);
    // A clip plane cuts the shell as it cuts the segments, without the
    // cut face (the lesion inside stays in view); off, nothing cuts it.
    let shell_clip = |app: &mut App| {
        let mut q = app
            .world_mut()
            .query_filtered::<&MeshMaterial3d<SegmentMaterial>, With<MarginShellMesh>>();
        let handle = q
            .single(app.world())
            .expect("the shell's material")
            .0
            .clone();
        let m = app.world().resource::<Assets<SegmentMaterial>>();
        m.get(&handle).expect("in the assets").extension.clip
    };
    assert_eq!(shell_clip(&mut app).mask, 0);
    app.world_mut().write_message(ClipAction::Orient {
        index: 1,
        kind: ClipKind::Sagittal,
    });
    app.world_mut()
        .write_message(ClipAction::Enable { index: 1, on: true });
    step(&mut app);
    let clip = shell_clip(&mut app);
    assert_eq!(clip.mask, (1 << 1) | NO_CUT_FACE);
    let want = world_plane(
        app.world().resource::<AnatomyPose>(),
        &app.world().resource::<ClipSettings>().slots[1].plane,
    );
    assert!(
        (clip.planes[1] - want).abs().max_element() < 1e-6,
        "{clip:?}"
    );
    app.world_mut().write_message(ClipAction::Enable {
        index: 1,
        on: false,
    });
    step(&mut app);
    assert_eq!(shell_clip(&mut app).mask, 0);
    // The cut, 8 mm around "far": the voxels of "near" within that margin
    // of "far"'s voxel centres (less half a voxel, as the core counts).
    let far = centres(app.world().resource::<Study>().doc.labels(), 2);
    let within = count(&app, 1, |p| {
        far.iter()
            .map(|f| (0..3).map(|k| (p[k] - f[k]).powi(2)).sum::<f64>())
            .fold(f64::INFINITY, f64::min)
            .sqrt()
            - 0.5
            <= 8.0
    });
    // The balls' nearest voxel centres lie 7 mm apart: 8 mm takes a cap.
    assert!(
        within > 0 && within < count(&app, 1, |_| true) / 4,
        "{within}"
    );
    app.world_mut().write_message(SurgeryAction::ResectMargin {
        organ: 1,
        lesion: 2,
        mm: 8.0,
    });
    step(&mut app);
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    assert_eq!(cut_away(&app), within);
    app.world_mut().write_message(MarginShellAction::Hide);
    step(&mut app);
    let mut q = app
        .world_mut()
        .query_filtered::<Entity, With<MarginShellMesh>>();
    assert_eq!(q.iter(app.world()).count(), 0);
    assert!(app.world().resource::<MarginShell>().shown.is_none());
}
