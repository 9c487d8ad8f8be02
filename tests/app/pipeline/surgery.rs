//! Distances and resection through the headless app: the minimum distance
//! between two segments' surfaces becomes a ruler between the closest
//! points; a resection along a clip plane adds the part cut away as a
//! segment in one undoable step.

use std::time::Duration;

use stratum::app::actions::{ClipAction, ClipKind, HistoryAction};
use stratum::app::features::clip::ClipSettings;
use stratum::app::features::measurements::Rulers;
use stratum::app::features::surgery::{Surgery, SurgeryAction};
use stratum::app::state::study::Study;
use stratum_core::segment::{LabelMap, Mask};
use stratum_core::{Geometry, Volume, Voxels};

use super::{errors, headless, publish, run_until_idle, segments, study_of};

/// Two balls 5 mm apart on a 1 mm grid: "near" (r 8) and "far" (r 6).
fn two_balls() -> Study {
    let n = 40;
    let g = Geometry::default();
    let balls = [([12.0, 20.0, 20.0], 8.0), ([31.0, 20.0, 20.0], 6.0)];
    let inside = |k: usize, z: usize, y: usize, x: usize| {
        let (c, r): ([f64; 3], f64) = balls[k];
        let d = [x as f64 - c[0], y as f64 - c[1], z as f64 - c[2]];
        d[0] * d[0] + d[1] * d[1] + d[2] * d[2] < r * r
    };
    let voxels = ndarray::Array3::from_shape_fn((n, n, n), |(z, y, x)| {
        if inside(0, z, y, x) || inside(1, z, y, x) {
            100i16
        } else {
            -1000
        }
    });
    let volume = Volume::new(Voxels::I16(voxels), g, "CT");
    let mut labels = LabelMap::empty(volume.dim(), g);
    for (k, name) in ["near", "far"].into_iter().enumerate() {
        let mask = Mask {
            data: ndarray::Array3::from_shape_fn((n, n, n), |(z, y, x)| inside(k, z, y, x) as u8),
            geometry: g,
        };
        labels.add_segment(name, &mask);
    }
    study_of(volume, labels, "two balls", (-1000.0, 100.0))
}

#[test]
fn the_distance_between_two_segments_is_a_ruler_between_their_closest_points() {
    let mut app = headless();
    publish(&mut app, two_balls());
    run_until_idle(&mut app, Duration::from_secs(60));
    assert!(segments(&mut app).iter().all(|(_, meshed)| *meshed));
    app.world_mut()
        .write_message(SurgeryAction::Distance { a: 1, b: 2 });
    app.update();
    app.update();
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    let d = app
        .world()
        .resource::<Surgery>()
        .distance
        .clone()
        .expect("a distance");
    // The balls are 5 mm apart, their voxels' faces 6 mm (the last voxel
    // centres inside lie at x = 19 and 26); the smoothed surfaces between.
    assert!(
        (5.0..=6.0).contains(&d.closest.distance_mm),
        "{}",
        d.closest.distance_mm
    );
    let rulers = app.world().resource::<Rulers>();
    assert_eq!(rulers.items.len(), 1);
    assert!((rulers.items[0].length_mm() - d.closest.distance_mm).abs() < 1e-9);
    // Between the balls, on the line joining their centres.
    assert!(
        d.closest.on_a[0] > 18.0 && d.closest.on_b[0] < 26.0,
        "{d:?}"
    );
}

#[test]
fn resecting_along_a_clip_plane_adds_the_part_cut_away_and_undo_takes_it_back() {
    let mut app = headless();
    publish(&mut app, two_balls());
    run_until_idle(&mut app, Duration::from_secs(60));
    app.world_mut().write_message(ClipAction::Orient {
        index: 0,
        kind: ClipKind::Axial,
    });
    app.world_mut()
        .write_message(ClipAction::Offset { index: 0, mm: 4.0 });
    app.update();
    app.update();
    let plane = app.world().resource::<ClipSettings>().slots[0].plane;
    let before = app.world().resource::<Study>().doc.labels().clone();
    // The voxels of "near" on the side the plane hides, counted here.
    let mut expected = 0u64;
    let mut whole = 0u64;
    for ((z, y, x), _) in ndarray::Array3::<u8>::zeros(before.dim()).indexed_iter() {
        if before.get(z, y, x) == 1 {
            whole += 1;
            let p = before.geometry.index_to_lps([x as f64, y as f64, z as f64]);
            let d: f64 = (0..3)
                .map(|k| (p[k] - plane.point[k]) * plane.normal[k])
                .sum();
            expected += u64::from(d > 0.0);
        }
    }
    assert!(expected > 0 && expected < whole, "{expected} of {whole}");
    app.world_mut().write_message(SurgeryAction::Resect {
        organ: 1,
        lesion: Some(2),
        plane: 0,
    });
    app.update();
    app.update();
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    let doc = &app.world().resource::<Study>().doc;
    let cut = doc
        .segment_named("near resected")
        .expect("the part cut away");
    assert_eq!(doc.voxel_count(cut.id), expected);
    assert_eq!(doc.voxel_count(1), whole - expected);
    let r = app
        .world()
        .resource::<Surgery>()
        .resection
        .clone()
        .expect("a resection");
    let pct = 100.0 * (whole - expected) as f64 / whole as f64;
    assert!(
        (r.remnant_pct - pct).abs() < 2.0,
        "{} vs {pct}",
        r.remnant_pct
    );
    assert!(r.summary.contains("with the lesion"), "{}", r.summary);
    run_until_idle(&mut app, Duration::from_secs(60));
    assert!(
        segments(&mut app)
            .iter()
            .any(|(s, meshed)| s.name == "near resected" && *meshed)
    );
    app.world_mut().write_message(HistoryAction::Undo);
    app.update();
    app.update();
    assert_eq!(**app.world().resource::<Study>().doc.labels(), *before);
}
