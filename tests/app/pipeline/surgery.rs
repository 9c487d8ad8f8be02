//! Distances and resection through the headless app: the minimum distance
//! between two segments' surfaces becomes a ruler between the closest
//! points; a resection along a clip plane adds the part cut away as a
//! segment in one undoable step; a margin map colours a segment's surface
//! by its distance to another, and follows the surfaces as they change.

use std::time::Duration;

use bevy::mesh::VertexAttributeValues;
use bevy::prelude::*;
use stratum::app::features::clip::SegmentMaterial;

use stratum::app::actions::{ClipAction, ClipKind, HistoryAction};
use stratum::app::features::clip::ClipSettings;
use stratum::app::features::margins::{MID, Margins, NEAR};
use stratum::app::features::measurements::Rulers;
use stratum::app::features::surgery::{Surgery, SurgeryAction};
use stratum::app::state::document::{ApplyEdit, SegmentIndex};
use stratum::app::state::segments::{MarginColoured, SegmentSurface};
use stratum::app::state::study::Study;
use stratum_core::document::{Edit, SurfaceRecipe, Target};
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
    app.update();
    app.update();
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
    app.update();
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
