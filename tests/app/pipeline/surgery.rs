//! Distances and resection through the headless app: the minimum distance
//! between two segments' surfaces becomes a ruler between the closest
//! points; a resection along a clip plane adds the part cut away as a
//! segment in one undoable step; a margin map colours a segment's surface
//! by its distance to another, and follows the surfaces as they change.

use std::time::{Duration, Instant};

use bevy::mesh::VertexAttributeValues;
use bevy::prelude::*;
use stratum::app::features::clip::SegmentMaterial;

use stratum::app::actions::{ClipAction, ClipKind, HistoryAction};
use stratum::app::features::clip::ClipSettings;
use stratum::app::features::margins::{MID, MarginOnLoad, Margins, NEAR};
use stratum::app::features::measurements::Rulers;
use stratum::app::features::meshing::{BuildMeshes, MeshBatch};
use stratum::app::features::surgery::{Surgery, SurgeryAction};
use stratum::app::state::document::{ApplyEdit, SegmentIndex};
use stratum::app::state::jobs::Job;
use stratum::app::state::segments::{MarginColoured, SegmentSurface};
use stratum::app::state::study::Study;
use stratum_core::document::{Edit, SurfaceRecipe, Target};
use stratum_core::segment::{LabelMap, Mask};
use stratum_core::{image::volume::Geometry, image::volume::Volume, image::volume::Voxels};

use super::{errors, headless, publish, run_until_idle, segments, study_of};

/// Two balls 5 mm apart on a 1 mm grid: "near" (r 8) and "far" (r 6).
pub(super) fn two_balls() -> Study {
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

/// What the screen shows of a segment.
struct Shown {
    /// Its surface's vertices (LPS mm).
    positions: Vec<[f32; 3]>,
    /// Its Bevy mesh's vertex colours, if any.
    colours: Option<Vec<[f32; 4]>>,
    /// Its material's colour.
    base: Color,
    /// Marked as showing a margin map.
    marked: bool,
}

fn shown(app: &mut App, id: u16) -> Shown {
    let e = app.world().resource::<SegmentIndex>().get(id).unwrap();
    let positions = app
        .world()
        .get::<SegmentSurface>(e)
        .unwrap()
        .0
        .positions
        .clone();
    let mesh = app.world().get::<Mesh3d>(e).unwrap().0.clone();
    let colours = app
        .world()
        .resource::<Assets<Mesh>>()
        .get(&mesh)
        .unwrap()
        .attribute(Mesh::ATTRIBUTE_COLOR)
        .map(|a| match a {
            VertexAttributeValues::Float32x4(v) => v.clone(),
            other => panic!("vertex colours as {other:?}"),
        });
    let material = app
        .world()
        .get::<MeshMaterial3d<SegmentMaterial>>(e)
        .unwrap()
        .0
        .clone();
    let base = app
        .world()
        .resource::<Assets<SegmentMaterial>>()
        .get(&material)
        .unwrap()
        .base
        .base_color;
    let marked = app.world().get::<MarginColoured>(e).is_some();
    Shown {
        positions,
        colours,
        base,
        marked,
    }
}

fn linear(c: [u8; 3]) -> [f32; 4] {
    let l = Color::srgb_u8(c[0], c[1], c[2]).to_linear();
    [l.red, l.green, l.blue, 1.0]
}

#[test]
fn a_margin_map_colours_a_surface_by_its_distance_and_follows_the_other_segment() {
    let mut app = headless();
    publish(&mut app, two_balls());
    run_until_idle(&mut app, Duration::from_secs(60));
    let own = segments(&mut app)[0].0.colour;
    // "near" (r 8 about x = 12) by its distance to "far" (r 6 about x = 31):
    // its side facing "far" is 5-6 mm away, its back about 21 mm.
    app.world_mut().write_message(SurgeryAction::Margin {
        a: 1,
        b: 2,
        thresholds_mm: [7.0, 12.0],
    });
    until_measured(&mut app);
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    let Shown {
        positions,
        colours,
        base,
        marked,
    } = shown(&mut app, 1);
    let colours = colours.expect("vertex colours on the surface");
    assert!(marked);
    assert_eq!(colours.len(), positions.len());
    let white = base.to_srgba();
    assert!(
        [white.red, white.green, white.blue]
            .iter()
            .all(|c| (c - 1.0).abs() < 1e-4),
        "the material under the vertex colours is not white: {base:?}"
    );
    // Each vertex's colour is its distance's band, the distance measured
    // here by brute force against the other surface's vertices (within
    // half a millimetre of the exact one on this 1 mm grid).
    let far_positions = shown(&mut app, 2).positions;
    let mut seen = [0usize; 3];
    for (p, c) in positions.iter().zip(&colours) {
        let d = far_positions
            .iter()
            .map(|q| ((0..3).map(|k| (p[k] - q[k]).powi(2)).sum::<f32>()).sqrt())
            .fold(f32::INFINITY, f32::min);
        let band = if d < 7.0 - 0.5 {
            Some(0)
        } else if (7.5..12.0 - 0.5).contains(&d) {
            Some(1)
        } else if d >= 12.5 {
            Some(2)
        } else {
            None
        };
        if let Some(band) = band {
            let want = linear([NEAR, MID, own][band]);
            assert!(
                (0..3).all(|k| (c[k] - want[k]).abs() < 1e-4),
                "vertex {p:?} at {d:.2} mm coloured {c:?}, not band {band}"
            );
            seen[band] += 1;
        }
    }
    assert!(seen.iter().all(|&n| n > 0), "bands seen {seen:?}");
    let m = app.world().resource::<Margins>().shown.clone().unwrap();
    let under = m.under_pct.expect("shares");
    assert!(
        under[0] > 0.0 && under[0] < under[1] && under[1] < 100.0,
        "{under:?}"
    );
    let min = m.min_mm.unwrap();
    assert!((5.0..=6.0).contains(&min), "{min}");

    // "far" grows towards "near" (a resection-like edit on the other
    // segment): the map is measured again on the new surface.
    let before = under;
    let grown = {
        let labels = app.world().resource::<Study>().doc.labels().clone();
        let g = labels.geometry;
        Mask {
            data: ndarray::Array3::from_shape_fn(labels.dim(), |(z, y, x)| {
                let bridge = (21..26).contains(&x)
                    && (y as f64 - 20.0).powi(2) + (z as f64 - 20.0).powi(2) < 9.0;
                u8::from(labels.get(z, y, x) == 2 || bridge)
            }),
            geometry: g,
        }
    };
    app.world_mut().write_message(ApplyEdit(Edit::Tool {
        step: "Grow far".into(),
        target: Target::Replace(2),
        mask: std::sync::Arc::new(grown),
        recipe: SurfaceRecipe::Mask,
        colour: None,
    }));
    run_until_idle(&mut app, Duration::from_secs(60));
    until_measured(&mut app);
    let m = app.world().resource::<Margins>().shown.clone().unwrap();
    let after = m.under_pct.unwrap();
    assert!(after[0] > before[0], "{before:?} -> {after:?}");
    assert!(m.min_mm.unwrap() < 3.0, "{:?}", m.min_mm);

    // Back to its own colour.
    app.world_mut().write_message(SurgeryAction::HideMargin);
    app.update();
    app.update();
    let Shown {
        colours,
        base,
        marked,
        ..
    } = shown(&mut app, 1);
    assert!(colours.is_none() && !marked);
    let c = base.to_srgba();
    let want = Color::srgb_u8(own[0], own[1], own[2]).to_srgba();
    assert!(
        (c.red - want.red).abs() < 1e-3 && (c.green - want.green).abs() < 1e-3,
        "{c:?}"
    );
}

/// Updates until the margin map (a background job) is measured and painted,
/// without sleeping: each frame polls the job.
fn until_measured(app: &mut App) {
    let start = Instant::now();
    loop {
        app.update();
        let m = app.world().resource::<Margins>();
        if !m.measuring && m.shown.as_ref().is_some_and(|s| s.under_pct.is_some()) {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the margin map was not measured within a minute: {m:?}"
        );
    }
}

/// Checks the vertex colours of "near" against its distance to "far"
/// (brute force over far's vertices, half a millimetre of slack at each
/// threshold) for thresholds `t`; returns how many vertices fell in each
/// band, or `None` while the surface shows no margin colours.
fn check_bands(app: &mut App, t: [f32; 2], own: [u8; 3]) -> Option<[usize; 3]> {
    let Shown {
        positions, colours, ..
    } = shown(app, 1);
    let colours = colours?;
    assert_eq!(colours.len(), positions.len());
    let far_positions = shown(app, 2).positions;
    let mut seen = [0usize; 3];
    for (p, c) in positions.iter().zip(&colours) {
        let d = far_positions
            .iter()
            .map(|q| ((0..3).map(|k| (p[k] - q[k]).powi(2)).sum::<f32>()).sqrt())
            .fold(f32::INFINITY, f32::min);
        let band = if d < t[0] - 0.5 {
            Some(0)
        } else if (t[0] + 0.5..t[1] - 0.5).contains(&d) {
            Some(1)
        } else if d >= t[1] + 0.5 {
            Some(2)
        } else {
            None
        };
        if let Some(band) = band {
            let want = linear([NEAR, MID, own][band]);
            assert!(
                (0..3).all(|k| (c[k] - want[k]).abs() < 1e-4),
                "vertex {p:?} at {d:.2} mm coloured {c:?}, not band {band} of {t:?}"
            );
            seen[band] += 1;
        }
    }
    Some(seen)
}

#[test]
fn a_second_margin_request_while_one_is_measured_leaves_only_the_newest_painted() {
    let mut app = headless();
    publish(&mut app, two_balls());
    run_until_idle(&mut app, Duration::from_secs(60));
    let own = segments(&mut app)[0].0.colour;
    let counts = |app: &App| {
        let m = app.world().resource::<Margins>();
        (m.measured, m.painted)
    };
    let (measured, painted) = counts(&app);
    app.world_mut().write_message(SurgeryAction::Margin {
        a: 1,
        b: 2,
        thresholds_mm: [7.0, 12.0],
    });
    app.update();
    assert_eq!(counts(&app).0, measured + 1, "the first map did not start");
    assert!(app.world().resource::<Margins>().measuring);
    // Other thresholds before the first result was taken: vertices 6.5-7 mm
    // and 12-15 mm away change band, so a stale result shows.
    let last = [6.5, 15.0];
    app.world_mut().write_message(SurgeryAction::Margin {
        a: 1,
        b: 2,
        thresholds_mm: last,
    });
    let start = Instant::now();
    loop {
        app.update();
        // Whatever is on screen at any frame is the newest request's.
        check_bands(&mut app, last, own);
        let m = app.world().resource::<Margins>();
        if !m.measuring && m.shown.as_ref().is_some_and(|s| s.under_pct.is_some()) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{m:?}");
    }
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    assert_eq!(
        counts(&app),
        (measured + 2, painted + 1),
        "two measured, only the newest painted"
    );
    let seen = check_bands(&mut app, last, own).expect("margin colours");
    assert!(seen.iter().all(|&n| n > 0), "bands seen {seen:?}");
    let m = app.world().resource::<Margins>().shown.clone().unwrap();
    assert_eq!(m.thresholds_mm, last);
    // The renderer marks a Mesh3d changed whenever its mesh asset changes
    // (as the colours just did): that is no new surface to measure.
    let e = app.world().resource::<SegmentIndex>().get(1).unwrap();
    app.world_mut().get_mut::<Mesh3d>(e).unwrap().set_changed();
    for _ in 0..10 {
        app.update();
    }
    assert_eq!(counts(&app), (measured + 2, painted + 1), "measured again");
}

#[test]
fn a_margin_map_asked_for_at_the_start_is_measured_once_the_surfaces_settle() {
    let mut app = headless();
    // As `--margin near,far`: asked for before any surface is built.
    app.world_mut()
        .insert_resource(MarginOnLoad(Some(("near".into(), "far".into()))));
    publish(&mut app, two_balls());
    // The surfaces arrive one meshing job after another, as a study's
    // start attaches them: each rebuild starts the frame after the last
    // one's surface arrived.
    let mut rebuilds = vec![vec![1u16], vec![2], vec![1], vec![2]];
    let start = Instant::now();
    let mut attached_all = false;
    while !rebuilds.is_empty() {
        assert!(start.elapsed() < Duration::from_secs(60), "meshing stalled");
        app.update();
        let meshing = app
            .world_mut()
            .query_filtered::<(), With<Job<MeshBatch>>>()
            .iter(app.world())
            .count();
        attached_all |= segments(&mut app).iter().all(|(_, meshed)| *meshed);
        if meshing == 0 && attached_all {
            app.world_mut().write_message(BuildMeshes {
                ids: rebuilds.remove(0),
            });
        } else if meshing > 0 {
            std::thread::yield_now();
        }
    }
    run_until_idle(&mut app, Duration::from_secs(60));
    until_measured(&mut app);
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    let m = app.world().resource::<Margins>();
    assert_eq!(
        (m.measured, m.painted),
        (1, 1),
        "measured for each surface attached instead of once they settled"
    );
    let shown_pair = m.shown.as_ref().map(|s| (s.a, s.b));
    assert_eq!(shown_pair, Some((1, 2)));
    let own = segments(&mut app)[0].0.colour;
    // The balls are 5-6 mm apart: nothing under 5 mm, some under 10.
    let seen = check_bands(&mut app, [5.0, 10.0], own).expect("margin colours");
    assert!(seen[1] > 0 && seen[2] > 0, "bands seen {seen:?}");
}
