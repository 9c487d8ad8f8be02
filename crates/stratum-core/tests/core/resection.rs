//! Virtual resection on phantoms with analytic volumes: a plane through a
//! box and a ball, a curved surface through points on a plane, a safety
//! margin around a lesion, and the cut as an undoable document edit.

use ndarray::Array3;
use stratum_core::base::error::CoreError;
use stratum_core::base::progress::Progress;
use stratum_core::document::{Document, Edit, SurfaceRecipe};
use stratum_core::image::volume::Geometry;
use stratum_core::planning::resect::{Cut, Spline, resect};
use stratum_core::planning::shell::{margin_shell, surface_patch};
use stratum_core::segment::{LabelMap, Labels, Segment};

use crate::fixtures::{in_box, in_open_ball};

/// A label map where label k + 1 is where `inside[k]` holds (LPS mm; the
/// first that holds wins).
fn labels(
    dim: (usize, usize, usize),
    spacing: [f64; 3],
    inside: &[&dyn Fn([f64; 3]) -> bool],
) -> LabelMap {
    let geometry = Geometry {
        origin: [-30.0, -25.0, 5.0],
        spacing,
        ..Geometry::default()
    };
    let ids = Array3::from_shape_fn(dim, |(z, y, x)| {
        let p = geometry.index_to_lps([x as f64, y as f64, z as f64]);
        inside
            .iter()
            .position(|f| f(p))
            .map_or(0u8, |k| k as u8 + 1)
    });
    LabelMap {
        labels: Labels::U8(ids),
        geometry,
        segments: (0..inside.len())
            .map(|k| Segment {
                id: k as u16 + 1,
                name: ["organ", "lesion", "other"][k.min(2)].to_string(),
                colour: [180, 90, 60],
                visible: true,
            })
            .collect(),
    }
}

fn within(got: f64, want: f64, rel: f64) -> bool {
    (got - want).abs() <= rel * want
}

#[test]
fn a_plane_through_a_box_cuts_off_its_analytic_volume() {
    // 1 mm voxels; the box's faces at half-voxel positions: 40 x 30 x 20 mm.
    let (lo, hi) = ([-20.5, -15.5, 14.5], [19.5, 14.5, 34.5]);
    let map = labels((45, 50, 60), [1.0; 3], &[&in_box(lo, hi)]);
    let whole = 40.0 * 30.0 * 20.0 / 1000.0;
    // A plane square to x through no voxel boundary: 13.3 mm of the box
    // beyond it.
    let x = hi[0] - 13.3;
    let r = resect(
        &map,
        1,
        &Cut::Plane {
            point: [x, 0.0, 0.0],
            normal: [1.0, 0.0, 0.0],
        },
        None,
        &Progress::new(),
    )
    .unwrap();
    assert!((r.organ_ml - whole).abs() < 1e-9);
    let cut = 13.3 * 30.0 * 20.0 / 1000.0;
    assert!(
        within(r.resected_ml, cut, 0.01),
        "{} vs {cut}",
        r.resected_ml
    );
    assert!(within(r.remnant_ml, whole - cut, 0.01));
    assert!((r.remnant_pct - 100.0 * r.remnant_ml / whole).abs() < 1e-9);
    // A slanted plane through the box's centre halves it.
    let centre = [
        (lo[0] + hi[0]) / 2.0,
        (lo[1] + hi[1]) / 2.0,
        (lo[2] + hi[2]) / 2.0,
    ];
    let r = resect(
        &map,
        1,
        &Cut::Plane {
            point: centre,
            normal: [0.7, -0.4, 0.55],
        },
        None,
        &Progress::new(),
    )
    .unwrap();
    assert!(
        within(r.resected_ml, whole / 2.0, 0.01),
        "{}",
        r.resected_ml
    );
    assert!((r.remnant_pct - 50.0).abs() < 1.0, "{}", r.remnant_pct);
}

#[test]
fn a_plane_through_a_ball_cuts_off_its_spherical_cap() {
    let c = [0.0, 0.0, 25.0];
    let rad = 16.0;
    let ball = in_open_ball(c, rad);
    let map = labels((50, 60, 60), [0.8, 0.8, 0.8], &[&ball]);
    // A cap 12 mm high: the plane 4 mm from the centre, slanted.
    let n = {
        let v: [f64; 3] = [0.3, 0.8, -0.5];
        let l = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        v.map(|x| x / l)
    };
    let point = [c[0] + 4.0 * n[0], c[1] + 4.0 * n[1], c[2] + 4.0 * n[2]];
    let r = resect(
        &map,
        1,
        &Cut::Plane { point, normal: n },
        None,
        &Progress::new(),
    )
    .unwrap();
    let pi = std::f64::consts::PI;
    let sphere = 4.0 / 3.0 * pi * rad.powi(3) / 1000.0;
    let h = rad - 4.0;
    let cap = pi * h * h * (3.0 * rad - h) / 3.0 / 1000.0;
    assert!(
        within(r.organ_ml, sphere, 0.01),
        "{} vs {sphere}",
        r.organ_ml
    );
    assert!(
        within(r.resected_ml, cap, 0.01),
        "{} vs {cap}",
        r.resected_ml
    );
    assert!(within(r.remnant_ml, sphere - cap, 0.01));
}

#[test]
fn a_curved_surface_through_points_on_a_plane_cuts_as_the_plane() {
    let map = labels(
        (40, 40, 40),
        [1.0, 1.0, 1.2],
        &[&in_box([-25.5, -20.5, 9.5], [5.5, 10.5, 49.5])],
    );
    let point = [-7.3, -4.1, 28.2];
    let normal = [0.2, 0.5, 0.84];
    // Points scattered on that plane: two in-plane directions from `point`.
    let e1 = [0.5, -0.2, 0.0];
    let e2 = [
        normal[1] * e1[2] - normal[2] * e1[1],
        normal[2] * e1[0] - normal[0] * e1[2],
        normal[0] * e1[1] - normal[1] * e1[0],
    ];
    let points: Vec<[f64; 3]> = [
        (-20.0, 3.0),
        (14.0, -11.0),
        (2.0, 25.0),
        (9.0, 9.0),
        (-6.0, -30.0),
    ]
    .iter()
    .map(|(a, b)| std::array::from_fn(|k| point[k] + a * e1[k] + b * e2[k]))
    .collect();
    let plane = resect(
        &map,
        1,
        &Cut::Plane { point, normal },
        None,
        &Progress::new(),
    )
    .unwrap();
    let curved = resect(
        &map,
        1,
        &Cut::Surface {
            points,
            towards: normal,
        },
        None,
        &Progress::new(),
    )
    .unwrap();
    assert_eq!(plane.resected, curved.resected);
    assert!((plane.resected_ml - curved.resected_ml).abs() < 1e-6);
    assert!(plane.resected_ml > 0.0 && plane.remnant_ml > 0.0);
}

#[test]
fn a_bent_surface_cuts_differently_from_its_plane() {
    let map = labels(
        (30, 30, 30),
        [1.0; 3],
        &[&in_box([-28.5, -23.5, 6.5], [-1.5, 3.5, 33.5])],
    );
    // A bowl: its rim on z = 20, its middle at z = 14.
    let (cx, cy) = (-15.0, -10.0);
    let mut points = vec![[cx, cy, 14.0]];
    for k in 0..6 {
        let a = k as f64 * std::f64::consts::PI / 3.0;
        points.push([cx + 12.0 * a.cos(), cy + 12.0 * a.sin(), 20.0]);
    }
    let up = [0.0, 0.0, 1.0];
    let bowl = resect(
        &map,
        1,
        &Cut::Surface {
            points,
            towards: up,
        },
        None,
        &Progress::new(),
    )
    .unwrap();
    let flat = resect(
        &map,
        1,
        &Cut::Plane {
            point: [cx, cy, 20.0],
            normal: up,
        },
        None,
        &Progress::new(),
    )
    .unwrap();
    // The bowl's dip cuts more away than its rim's plane.
    assert!(
        bowl.resected_ml > flat.resected_ml + 0.3,
        "{} vs {}",
        bowl.resected_ml,
        flat.resected_ml
    );
    // The voxel under the dip's middle is cut away, one at the same height
    // out by the rim is not.
    let at = |p: [f64; 3]| {
        let i = map.geometry.lps_to_index(p).map(|v| v.round() as usize);
        bowl.resected.data[(i[2], i[1], i[0])]
    };
    assert_eq!(at([cx, cy, 16.0]), 1);
    assert_eq!(at([cx + 11.0, cy, 16.0]), 0);
}

#[test]
fn a_safety_margin_around_a_lesion_cuts_off_its_shell_with_the_shares_with_and_without_it() {
    let c = [-5.0, -3.0, 25.0];
    let lesion = in_open_ball(c, 6.0);
    // The lesion is labelled first: the organ is the box around it.
    let organ = in_box([-25.5, -22.5, 5.5], [14.5, 16.5, 44.5]);
    let map = labels((45, 45, 45), [0.75; 3], &[&lesion, &organ]);
    let pi = std::f64::consts::PI;
    let r = resect(
        &map,
        2,
        &Cut::Margin { around: 1, mm: 5.0 },
        Some(1),
        &Progress::new(),
    )
    .unwrap();
    let shell = 4.0 / 3.0 * pi * (11f64.powi(3) - 6f64.powi(3)) / 1000.0;
    assert!(
        within(r.resected_ml, shell, 0.03),
        "{} vs {shell}",
        r.resected_ml
    );
    let lesion_ml = r.lesion_ml.unwrap();
    assert!(within(lesion_ml, 4.0 / 3.0 * pi * 216.0 / 1000.0, 0.03));
    let with = r.remnant_pct_with_lesion.unwrap();
    assert!((with - 100.0 * r.remnant_ml / (r.organ_ml + lesion_ml)).abs() < 1e-9);
    assert!(with < r.remnant_pct);
}

#[test]
fn a_resection_is_one_undoable_step_that_adds_the_part_cut_away() {
    let map = labels(
        (30, 30, 30),
        [1.0; 3],
        &[&in_box([-28.5, -23.5, 6.5], [-1.5, 3.5, 33.5])],
    );
    let mut doc = Document::new(None, map).unwrap();
    let before = doc.labels().clone();
    let r = resect(
        doc.labels(),
        1,
        &Cut::Plane {
            point: [-10.0, 0.0, 0.0],
            normal: [1.0, 0.0, 0.0],
        },
        None,
        &Progress::new(),
    )
    .unwrap();
    let n = r.resected.count() as u64;
    assert!(n > 0);
    let whole = doc.voxel_count(1);
    let change = doc
        .apply(r.edit("organ", "organ resected", SurfaceRecipe::Mask))
        .unwrap();
    assert_eq!(change.step.as_deref(), Some("Resect organ"));
    let id = change.added[0];
    assert_eq!(doc.segment(id).unwrap().name, "organ resected");
    assert_eq!(doc.voxel_count(id), n);
    assert_eq!(doc.voxel_count(1), whole - n);
    assert!((doc.voxel_ml(1) - r.remnant_ml).abs() < 1.0 / 1000.0 * 30.0 * 27.0);
    doc.apply(Edit::Undo).unwrap();
    assert_eq!(**doc.labels(), *before);
    doc.apply(Edit::Redo).unwrap();
    assert_eq!(doc.voxel_count(id), n);
}

#[test]
fn cuts_that_cannot_be_made_say_why() {
    let map = labels(
        (10, 10, 10),
        [1.0; 3],
        &[&in_box([-28.5, -23.5, 6.5], [-23.5, -18.5, 11.5])],
    );
    let p = Progress::new();
    let plane = Cut::Plane {
        point: [0.0; 3],
        normal: [0.0; 3],
    };
    assert!(
        resect(&map, 1, &plane, None, &p)
            .unwrap_err()
            .to_string()
            .contains("no direction")
    );
    let line = Cut::Surface {
        points: vec![[0.0; 3], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0]],
        towards: [0.0, 0.0, 1.0],
    };
    assert!(
        resect(&map, 1, &line, None, &p)
            .unwrap_err()
            .to_string()
            .contains("line")
    );
    let two = Cut::Surface {
        points: vec![[0.0; 3], [1.0, 0.0, 0.0]],
        towards: [0.0, 0.0, 1.0],
    };
    assert!(
        resect(&map, 1, &two, None, &p)
            .unwrap_err()
            .to_string()
            .contains("at least 3")
    );
    let margin = Cut::Margin {
        around: 1,
        mm: -1.0,
    };
    assert!(
        resect(&map, 1, &margin, None, &p)
            .unwrap_err()
            .to_string()
            .contains("0 mm or more")
    );
    let ok = Cut::Plane {
        point: [0.0; 3],
        normal: [1.0, 0.0, 0.0],
    };
    assert!(resect(&map, 9, &ok, None, &p).is_err());
    assert!(resect(&map, 1, &ok, Some(1), &p).is_err());
}

#[test]
fn the_safety_margin_is_drawn_as_a_closed_shell_where_the_margin_cut_runs() {
    let c = [-5.0, -3.0, 25.0];
    // The grid holds the whole shell (the scan's edge would close it flat);
    // the organ fills the rest of it.
    let organ = in_box([-31.0, -26.0, 4.0], [20.0, 25.0, 55.0]);
    let map = labels((60, 60, 60), [0.75; 3], &[&in_open_ball(c, 6.0), &organ]);
    let shell = margin_shell(&map, 1, 5.0, &Progress::new()).unwrap();
    assert!(shell.topology().is_watertight());
    assert!(shell.triangle_count() > 500);
    // Every vertex lies on the 11 mm sphere, within a voxel.
    for p in &shell.positions {
        let r = (0..3)
            .map(|k| (f64::from(p[k]) - c[k]).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(
            (r - 11.0).abs() < 0.75,
            "a vertex {r:.2} mm from the centre"
        );
    }
    // It holds what a margin cut takes, with the lesion (within 2%).
    let cut = resect(
        &map,
        2,
        &Cut::Margin { around: 1, mm: 5.0 },
        Some(1),
        &Progress::new(),
    )
    .unwrap();
    let inside = cut.resected_ml + cut.lesion_ml.unwrap();
    let ml = shell.volume_mm3() / 1000.0;
    assert!(within(ml, inside, 0.02), "{ml} mL vs {inside} mL");
    // Outward normals: the first vertex's normal points away from the centre.
    let (p, n) = (shell.positions[0], shell.normals[0]);
    let out: f64 = (0..3)
        .map(|k| (f64::from(p[k]) - c[k]) * f64::from(n[k]))
        .sum();
    assert!(out > 0.0);
    // Bad margins and segments say why.
    assert!(matches!(
        margin_shell(&map, 1, -1.0, &Progress::new()),
        Err(CoreError::OutOfRange { .. })
    ));
    assert!(matches!(
        margin_shell(&map, 7, 5.0, &Progress::new()),
        Err(CoreError::NoSuchSegment { id: 7 })
    ));
}

#[test]
fn the_cutting_surface_is_drawn_through_its_points_and_past_them() {
    let point = [-7.3, -4.1, 28.2];
    let normal = [0.0, 0.6, 0.8];
    let e1 = [1.0, 0.0, 0.0];
    let e2 = [0.0, 0.8, -0.6];
    let points: Vec<[f64; 3]> = [(-20.0, 3.0), (14.0, -11.0), (2.0, 25.0), (9.0, 9.0)]
        .iter()
        .map(|(a, b)| std::array::from_fn(|k| point[k] + a * e1[k] + b * e2[k]))
        .collect();
    let spline = Spline::fit(&points, normal).unwrap();
    let n = spline.normal();
    assert!((0..3).map(|k| n[k] * normal[k]).sum::<f64>() > 0.999);
    let patch = surface_patch(&spline, 8, 5.0);
    assert_eq!(patch.len(), 81);
    // Points on a plane: the patch is that plane.
    for p in &patch {
        let h: f64 = (0..3).map(|k| (p[k] - point[k]) * normal[k]).sum();
        assert!(h.abs() < 1e-6, "{h}");
    }
    // Row by row: the first row runs along the surface's in-plane axis
    // u, the first column along v; each spans the points' extent along it
    // and 5 mm beyond on both sides.
    let sub = |a: [f64; 3], b: [f64; 3]| -> [f64; 3] { std::array::from_fn(|k| a[k] - b[k]) };
    let dot = |a: [f64; 3], b: [f64; 3]| -> f64 { (0..3).map(|k| a[k] * b[k]).sum() };
    let len = |a: [f64; 3]| dot(a, a).sqrt();
    let (du, dv) = (sub(patch[8], patch[0]), sub(patch[72], patch[0]));
    let (u, v) = (du.map(|c| c / len(du)), dv.map(|c| c / len(dv)));
    assert!(dot(u, v).abs() < 1e-9 && dot(u, normal).abs() < 1e-6);
    for (axis, width) in [(u, len(du)), (v, len(dv))] {
        let along: Vec<f64> = points.iter().map(|p| dot(*p, axis)).collect();
        let lo = along.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = along.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!(
            (width - (hi - lo + 10.0)).abs() < 1e-6,
            "{width} vs {}",
            hi - lo
        );
        assert!((dot(patch[0], axis) - (lo - 5.0)).abs() < 1e-6);
    }
}
