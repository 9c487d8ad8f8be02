//! Distances between segments on phantoms of known geometry: two balls a
//! known gap apart, a ball beside a tube; the margin map against the
//! analytic distance at every vertex.

use ndarray::Array3;
use stratum_core::base::progress::Progress;
use stratum_core::image::volume::{Geometry, Volume, Voxels};
use stratum_core::mesh::{SurfaceMesh, SurfaceOptions, intensity_surface};
use stratum_core::planning::distance::{
    closest_on_triangle, margin_colour, margin_map, segment_distance,
};
use stratum_core::segment::{LabelMap, Labels, Mask, Segment};

/// A shape by its signed distance (mm, positive inside).
pub(crate) type Shape = Box<dyn Fn([f64; 3]) -> f64>;

pub(crate) fn ball(c: [f64; 3], r: f64) -> Shape {
    Box::new(move |p| r - norm(sub(p, c)))
}

/// An infinite tube of radius `r` along `dir` through `c`.
fn tube(c: [f64; 3], dir: [f64; 3], r: f64) -> Shape {
    let d = scale(dir, 1.0 / norm(dir));
    Box::new(move |p| {
        let v = sub(p, c);
        let along = dot(v, d);
        r - norm(sub(v, scale(d, along)))
    })
}

/// A scan whose intensity is the larger signed distance of the shapes
/// (clamped), and a label map with label k + 1 where shape k is inside:
/// meshed at level 0, each surface is the shape's own, to sub-voxel.
pub(crate) struct Phantom {
    pub scan: Volume,
    pub labels: LabelMap,
}

pub(crate) fn phantom(dim: (usize, usize, usize), spacing: [f64; 3], shapes: &[Shape]) -> Phantom {
    let geometry = Geometry {
        origin: [-20.0, -15.0, 10.0],
        spacing,
        ..Geometry::default()
    };
    let mut ids = Array3::<u8>::zeros(dim);
    let data = Array3::from_shape_fn(dim, |(z, y, x)| {
        let p = geometry.index_to_lps([x as f64, y as f64, z as f64]);
        let mut best = f64::NEG_INFINITY;
        for (k, s) in shapes.iter().enumerate() {
            let v = s(p);
            if v > 0.0 {
                ids[(z, y, x)] = k as u8 + 1;
            }
            best = best.max(v);
        }
        (best.clamp(-6.0, 6.0) * 100.0) as f32
    });
    let segments = (0..shapes.len())
        .map(|k| Segment {
            id: k as u16 + 1,
            name: format!("shape {}", k + 1),
            colour: [200, 80, 80],
            visible: true,
        })
        .collect();
    Phantom {
        scan: Volume::new(Voxels::F32(data), geometry, "CT"),
        labels: LabelMap {
            labels: Labels::U8(ids),
            geometry,
            segments,
        },
    }
}

impl Phantom {
    /// Segment `id`'s surface as the app shows a segment from the scan.
    pub(crate) fn mesh(&self, id: u16) -> SurfaceMesh {
        let mask = Mask {
            data: match &self.labels.labels {
                Labels::U8(a) => a.mapv(|v| u8::from(v as u16 == id)),
                Labels::U16(a) => a.mapv(|v| u8::from(v == id)),
            },
            geometry: self.labels.geometry,
        };
        intensity_surface(
            &self.scan,
            &mask,
            0.0,
            &SurfaceOptions {
                presmooth_mm: None,
                smooth_iterations: 10,
                keep_ratio: 1.0,
            },
            &Progress::new(),
        )
        .unwrap()
    }
}

#[test]
fn two_balls_seven_mm_apart_measure_seven_mm_within_a_tenth_of_a_voxel() {
    let spacing = [0.8, 0.8, 1.0];
    // Centres along a slanted line, so no grid axis lines the gap up.
    let dir = unit([1.0, 0.6, 0.35]);
    let c1 = [-4.0, -2.0, 30.0];
    let (r1, r2, gap) = (8.0, 6.0, 7.0);
    let c2 = add(c1, scale(dir, r1 + r2 + gap));
    let p = phantom((44, 56, 60), spacing, &[ball(c1, r1), ball(c2, r2)]);
    let (a, b) = (p.mesh(1), p.mesh(2));
    let near = segment_distance(&p.labels, 1, 2, &a, &b, &Progress::new()).unwrap();
    let voxel = 0.8;
    assert!(
        (near.distance_mm - gap).abs() <= 0.1 * voxel,
        "measured {:.3} mm for a {gap} mm gap",
        near.distance_mm
    );
    // The closest points are the poles facing each other.
    let pole_a = add(c1, scale(dir, r1));
    let pole_b = add(c2, scale(dir, -r2));
    assert!(
        norm(sub(near.on_a, pole_a)) < 1.0,
        "{:?} vs {pole_a:?}",
        near.on_a
    );
    assert!(
        norm(sub(near.on_b, pole_b)) < 1.0,
        "{:?} vs {pole_b:?}",
        near.on_b
    );
    assert!((norm(sub(near.on_a, near.on_b)) - near.distance_mm).abs() < 1e-9);
    assert!(!near.touching);
    // Either order, the same distance.
    let back = segment_distance(&p.labels, 2, 1, &b, &a, &Progress::new()).unwrap();
    assert!((back.distance_mm - near.distance_mm).abs() < 1e-6);
}

#[test]
fn a_ball_beside_a_tube_measures_the_gap_to_the_tube_wall() {
    let spacing = [1.0, 1.0, 1.0];
    let axis_point = [0.0, 0.0, 30.0];
    let axis = [0.2, 0.1, 1.0];
    let (rt, rb, gap) = (4.0, 6.0, 5.0);
    // The ball's centre lies rt + rb + gap from the axis, square to it.
    let off = unit(cross(axis, [1.0, 0.0, 0.0]));
    let cb = add(axis_point, scale(off, rt + rb + gap));
    let p = phantom(
        (50, 50, 50),
        spacing,
        &[tube(axis_point, axis, rt), ball(cb, rb)],
    );
    let near = segment_distance(&p.labels, 1, 2, &p.mesh(1), &p.mesh(2), &Progress::new()).unwrap();
    assert!(
        (near.distance_mm - gap).abs() <= 0.1,
        "measured {:.3} mm for a {gap} mm gap",
        near.distance_mm
    );
}

#[test]
fn balls_whose_voxels_touch_measure_about_zero_and_say_they_touch() {
    let c1 = [0.0, 0.0, 30.0];
    let p = phantom(
        (40, 40, 40),
        [1.0; 3],
        &[ball(c1, 7.5), ball(add(c1, [13.7, 0.0, 0.0]), 6.0)],
    );
    let near = segment_distance(&p.labels, 1, 2, &p.mesh(1), &p.mesh(2), &Progress::new()).unwrap();
    assert!(near.touching);
    assert!(near.distance_mm < 0.5, "{}", near.distance_mm);
}

#[test]
fn the_margin_map_gives_each_vertex_its_distance_to_the_other_surface() {
    let dir = unit([0.3, 1.0, -0.2]);
    let c1 = [0.0, 0.0, 32.0];
    let (r1, r2, gap) = (9.0, 5.0, 3.0);
    let c2 = add(c1, scale(dir, r1 + r2 + gap));
    let p = phantom((48, 60, 52), [0.9, 0.9, 1.1], &[ball(c1, r1), ball(c2, r2)]);
    let (a, b) = (p.mesh(1), p.mesh(2));
    let exact = 10.0;
    let map = margin_map(&p.labels, 2, &a, &b, exact, &Progress::new()).unwrap();
    assert_eq!(map.len(), a.positions.len());
    let tris: Vec<[[f64; 3]; 3]> = b.triangles().map(|t| t.map(|p| p.map(f64::from))).collect();
    let (mut worst, mut worst_mesh) = (0f64, 0f64);
    for (v, d) in a.positions.iter().zip(&map) {
        let v = v.map(f64::from);
        let truth = norm(sub(v, c2)) - r2;
        if truth < exact {
            worst = worst.max((f64::from(*d) - truth).abs());
            // Against every triangle of the other mesh: the same, exactly.
            let brute = tris
                .iter()
                .map(|t| norm(sub(v, closest_on_triangle(v, *t))))
                .fold(f64::INFINITY, f64::min);
            worst_mesh = worst_mesh.max((f64::from(*d) - brute).abs());
        } else {
            // Beyond the exact range: the voxel estimate, within a voxel.
            assert!((f64::from(*d) - truth).abs() < 1.6, "{d} vs {truth}");
        }
    }
    assert!(
        worst_mesh < 1e-4,
        "off the mesh's own distance by {worst_mesh}"
    );
    // The mesh of a 5 mm ball on a 0.9 mm grid is within a fifth of a
    // voxel of the sphere.
    assert!(
        worst <= 0.18,
        "worst vertex off the sphere by {worst:.3} mm"
    );
    // The colours at chosen points: red at the pole facing the other ball
    // (3 mm), yellow a little round (between 5 and 10 mm), green opposite.
    let colours = [[255, 0, 0], [255, 220, 0], [0, 180, 0]];
    let at = |p: [f64; 3]| {
        let i = (0..a.positions.len())
            .min_by(|&i, &j| {
                norm(sub(a.positions[i].map(f64::from), p))
                    .total_cmp(&norm(sub(a.positions[j].map(f64::from), p)))
            })
            .unwrap();
        margin_colour(map[i], [5.0, 10.0], colours)
    };
    assert_eq!(at(add(c1, scale(dir, r1))), colours[0]);
    let side = unit(cross(dir, [0.0, 0.0, 1.0]));
    // 45 degrees round from the pole: |p - c2| - r2 = 7.4 mm.
    let h = std::f64::consts::FRAC_1_SQRT_2;
    let round = add(c1, add(scale(dir, r1 * h), scale(side, r1 * h)));
    let truth = norm(sub(round, c2)) - r2;
    assert!((5.5..9.5).contains(&truth), "{truth}");
    assert_eq!(at(round), colours[1]);
    assert_eq!(at(add(c1, scale(dir, -r1))), colours[2]);
}

#[test]
fn distances_that_cannot_be_measured_say_why() {
    let p = phantom((20, 20, 20), [1.0; 3], &[ball([-10.0, -5.0, 20.0], 4.0)]);
    let a = p.mesh(1);
    let e = segment_distance(&p.labels, 1, 1, &a, &a, &Progress::new()).unwrap_err();
    assert!(e.to_string().contains("two different segments"), "{e}");
    let e = segment_distance(&p.labels, 1, 7, &a, &a, &Progress::new()).unwrap_err();
    assert!(e.to_string().contains("empty"), "{e}");
    let e = segment_distance(
        &p.labels,
        1,
        7,
        &a,
        &SurfaceMesh::default(),
        &Progress::new(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("no surface"), "{e}");
    // A damaged mesh (corners out of range, a vertex not a number) gives a
    // result or an error, never a panic.
    let p2 = phantom(
        (20, 20, 20),
        [1.0; 3],
        &[
            ball([-14.0, -9.0, 18.0], 3.0),
            ball([-6.0, -2.0, 22.0], 3.0),
        ],
    );
    let mut bad = p2.mesh(2);
    bad.indices.extend([0, 1, 999_999]);
    bad.positions[0] = [f32::NAN; 3];
    let good = p2.mesh(1);
    let _ = segment_distance(&p2.labels, 1, 2, &good, &bad, &Progress::new());
    let _ = segment_distance(&p2.labels, 2, 1, &bad, &good, &Progress::new());
    let _ = margin_map(&p2.labels, 2, &good, &bad, 10.0, &Progress::new());
    let _ = margin_map(&p2.labels, 1, &bad, &good, 10.0, &Progress::new());
}

pub(crate) fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
pub(crate) fn add(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}
pub(crate) fn scale(a: [f64; 3], s: f64) -> [f64; 3] {
    a.map(|c| c * s)
}
fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
pub(crate) fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}
pub(crate) fn unit(a: [f64; 3]) -> [f64; 3] {
    scale(a, 1.0 / norm(a))
}
pub(crate) fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// The distance transform every distance, margin and morphology step
/// stands on, against brute force on an anisotropic grid whose lanes are
/// of three different lengths, with a few scattered seeds, a solid block
/// and an empty x lane: exact to float rounding at every voxel.
#[test]
fn the_distance_transform_is_the_brute_force_nearest_seed_everywhere() {
    let (nz, ny, nx) = (9, 13, 17);
    let spacing = [0.7, 1.3, 2.9];
    let mut feature = Array3::<u8>::zeros((nz, ny, nx));
    for (z, y, x) in [(0, 0, 0), (8, 12, 16), (4, 2, 11), (1, 9, 3)] {
        feature[(z, y, x)] = 1;
    }
    for z in 5..7 {
        for y in 6..9 {
            for x in 7..10 {
                feature[(z, y, x)] = 1;
            }
        }
    }
    let seeds: Vec<[f64; 3]> = feature
        .indexed_iter()
        .filter(|(_, v)| **v != 0)
        .map(|((z, y, x), _)| {
            [
                x as f64 * spacing[0],
                y as f64 * spacing[1],
                z as f64 * spacing[2],
            ]
        })
        .collect();
    let d = stratum_core::segment::distance_transform_sq(&feature, spacing);
    for ((z, y, x), got) in d.indexed_iter() {
        let p = [
            x as f64 * spacing[0],
            y as f64 * spacing[1],
            z as f64 * spacing[2],
        ];
        let want = seeds
            .iter()
            .map(|s| (0..3).map(|k| (p[k] - s[k]).powi(2)).sum::<f64>())
            .fold(f64::INFINITY, f64::min);
        assert!(
            (f64::from(*got) - want).abs() <= 1e-3 * want.max(1.0),
            "at ({z}, {y}, {x}): {got} against {want}"
        );
    }
    let empty = stratum_core::segment::distance_transform_sq(&Array3::zeros((2, 3, 4)), spacing);
    assert!(empty.iter().all(|v| v.is_infinite()));
}
