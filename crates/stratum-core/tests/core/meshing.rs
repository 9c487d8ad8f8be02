//! Surface extraction accuracy on analytic shapes, and topology.

use stratum_core::base::progress::Progress;
use stratum_core::image::volume::{Geometry, Volume, Voxels};
use stratum_core::mesh::{SurfaceOptions, iso_surface, mask_surface};
use stratum_core::planning::measure::mesh_to_mask_distance;
use stratum_core::segment::Mask;

use crate::fixtures::{in_ball, mask_where};

const SPACING: [f64; 3] = [0.8, 0.9, 1.2];

fn grid(_dim: (usize, usize, usize)) -> Geometry {
    Geometry {
        origin: [-40.0, -45.0, -50.0],
        spacing: SPACING,
        ..Geometry::default()
    }
}

/// A mask from an inside test on LPS points (voxel centres).
fn shape(inside: impl Fn([f64; 3]) -> bool + Sync) -> Mask {
    let dim = (84, 100, 100);
    mask_where(dim, grid(dim), inside)
}

/// "One voxel": its largest side (1.2 mm here).
fn one_voxel() -> f64 {
    SPACING[0].max(SPACING[1]).max(SPACING[2])
}

fn check(name: &str, mask: &Mask, analytic_volume: f64, surface_dist: impl Fn([f64; 3]) -> f64) {
    for opts in [
        SurfaceOptions {
            presmooth_mm: None,
            smooth_iterations: 0,
            keep_ratio: 1.0,
        },
        SurfaceOptions {
            presmooth_mm: Some(0.8),
            smooth_iterations: 10,
            keep_ratio: 1.0,
        },
        SurfaceOptions {
            presmooth_mm: Some(0.8),
            smooth_iterations: 10,
            keep_ratio: 0.2,
        },
    ] {
        let mesh = mask_surface(mask, &opts, &Progress::new()).unwrap();
        let topo = mesh.topology();
        assert!(topo.is_watertight(), "{name} {opts:?}: {topo:?}");
        let v = mesh.volume_mm3();
        let err = (v - analytic_volume).abs() / analytic_volume;
        assert!(
            err < 0.02,
            "{name} {opts:?}: volume {v:.0} vs {analytic_volume:.0} mm³ ({:.2}%)",
            err * 100.0
        );
        // Hausdorff (vertices to the analytic surface) under one voxel.
        let worst = mesh
            .positions
            .iter()
            .map(|p| surface_dist(p.map(f64::from)).abs())
            .fold(0.0, f64::max);
        assert!(
            worst < one_voxel(),
            "{name} {opts:?}: {worst:.2} mm from the true surface"
        );
        assert_eq!(mesh.normals.len(), mesh.positions.len());
    }
}

#[test]
fn sphere_mesh_is_watertight_and_accurate() {
    let r = 25.0;
    let mask = shape(in_ball([0.0; 3], r));
    check(
        "sphere",
        &mask,
        4.0 / 3.0 * std::f64::consts::PI * r * r * r,
        |p| (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt() - r,
    );
}

#[test]
fn ellipsoid_mesh_is_watertight_and_accurate() {
    let (a, b, c) = (30.0, 20.0, 14.0);
    let mask = shape(|p| (p[0] / a).powi(2) + (p[1] / b).powi(2) + (p[2] / c).powi(2) <= 1.0);
    // Distance to an ellipsoid approximated by the scaled radial error.
    check(
        "ellipsoid",
        &mask,
        4.0 / 3.0 * std::f64::consts::PI * a * b * c,
        |p| {
            let k = ((p[0] / a).powi(2) + (p[1] / b).powi(2) + (p[2] / c).powi(2)).sqrt();
            let r = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
            r - r / k.max(1e-9)
        },
    );
}

#[test]
fn torus_mesh_is_watertight_and_accurate() {
    let (big, small) = (22.0, 8.0);
    let mask = shape(|p| {
        let q = (p[0] * p[0] + p[1] * p[1]).sqrt() - big;
        q * q + p[2] * p[2] <= small * small
    });
    check(
        "torus",
        &mask,
        2.0 * std::f64::consts::PI.powi(2) * big * small * small,
        |p| {
            let q = (p[0] * p[0] + p[1] * p[1]).sqrt() - big;
            (q * q + p[2] * p[2]).sqrt() - small
        },
    );
}

#[test]
fn mesh_matches_its_mask_within_a_voxel() {
    let mask = shape(|p| p[0] * p[0] + p[1] * p[1] + p[2] * p[2] <= 400.0);
    let mesh = mask_surface(
        &mask,
        &SurfaceOptions {
            presmooth_mm: Some(0.8),
            smooth_iterations: 10,
            keep_ratio: 1.0,
        },
        &Progress::new(),
    )
    .unwrap();
    let d = mesh_to_mask_distance(&mesh, &mask);
    assert!(d.max_mm < one_voxel(), "{d:?}");
    assert!(d.mean_mm < 0.5 * one_voxel(), "{d:?}");
}

#[test]
fn shapes_touching_the_border_are_closed() {
    // A slab that fills the grid to its edges: the surface closes at the border.
    let mask = shape(|p| p[2].abs() < 10.0);
    let mesh = mask_surface(
        &mask,
        &SurfaceOptions {
            presmooth_mm: None,
            smooth_iterations: 0,
            keep_ratio: 1.0,
        },
        &Progress::new(),
    )
    .unwrap();
    assert!(mesh.topology().is_watertight());
    assert!(mesh.volume_mm3() > 0.0);
}

#[test]
fn iso_surface_from_intensities_is_closed() {
    let dim = (40, 50, 60);
    let g = grid(dim);
    let data = ndarray::Array3::from_shape_fn(dim, |(z, y, x)| {
        let p = g.index_to_lps([x as f64, y as f64, z as f64]);
        let r = ((p[0] + 20.0).powi(2) + (p[1] + 20.0).powi(2) + (p[2] + 30.0).powi(2)).sqrt();
        (1000.0 - 40.0 * r) as i16
    });
    let v = Volume::new(Voxels::I16(data), g, "CT");
    let mesh = iso_surface(&v, 300.0, &Progress::new()).unwrap();
    assert!(mesh.topology().is_watertight(), "{:?}", mesh.topology());
    // Sphere of radius 17.5 mm (1000 - 40 r = 300).
    let expected = 4.0 / 3.0 * std::f64::consts::PI * 17.5f64.powi(3);
    assert!((mesh.volume_mm3() - expected).abs() / expected < 0.02);
}

#[test]
fn empty_segment_is_a_clear_error() {
    let mask = shape(|_| false);
    let e = mask_surface(&mask, &SurfaceOptions::default(), &Progress::new()).unwrap_err();
    assert!(e.to_string().contains("empty"));
}

#[test]
fn a_ray_through_a_sphere_hits_its_near_surface() {
    let r = 20.0;
    let mask = shape(in_ball([0.0; 3], r));
    let mesh = mask_surface(&mask, &SurfaceOptions::default(), &Progress::new()).unwrap();
    // From 100 mm anterior (-P), looking posterior through the centre.
    let t = mesh.raycast([0.0, -100.0, 0.0], [0.0, 1.0, 0.0]).unwrap();
    assert!((t - (100.0 - r as f32)).abs() < 1.2, "hit at {t}");
    // A ray that passes beside the sphere, or points away, misses.
    assert!(mesh.raycast([0.0, -100.0, 30.0], [0.0, 1.0, 0.0]).is_none());
    assert!(mesh.raycast([0.0, -100.0, 0.0], [0.0, -1.0, 0.0]).is_none());
}

#[test]
fn a_plane_cuts_a_sphere_mesh_along_its_circle() {
    let r = 20.0f32;
    let mask = shape(|p| p[0] * p[0] + p[1] * p[1] + p[2] * p[2] <= (r * r) as f64);
    let mesh = mask_surface(&mask, &SurfaceOptions::default(), &Progress::new()).unwrap();
    // The axial plane 5 mm above the centre: a circle of radius sqrt(r² - 25).
    let segs = mesh.plane_section([0.0, 0.0, 1.0], 5.0);
    assert!(segs.len() > 50, "{} segments", segs.len());
    let want = (r * r - 25.0).sqrt();
    let mut length = 0.0;
    for [a, b] in &segs {
        for p in [a, b] {
            assert!((p[2] - 5.0).abs() < 1e-3, "off the plane: {p:?}");
            let rad = (p[0] * p[0] + p[1] * p[1]).sqrt();
            assert!((rad - want).abs() < 1.2, "radius {rad} vs {want}");
        }
        length += ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    }
    let circumference = 2.0 * std::f32::consts::PI * want;
    assert!(
        (length / circumference - 1.0).abs() < 0.04,
        "{length} vs {circumference}"
    );
    // A plane beside the sphere cuts nothing.
    assert!(mesh.plane_section([0.0, 0.0, 1.0], 30.0).is_empty());
}

/// Thick slices (1 x 1 x 5 mm, as a 2D MR series): the smooth surface of a
/// ball shows no terrace per slice, and keeps the ball's volume.
#[test]
fn thick_slices_give_no_terraces() {
    let geometry = Geometry {
        spacing: [1.0, 1.0, 5.0],
        ..Geometry::default()
    };
    let (nz, ny, nx) = (24, 80, 80);
    let r = 30.0;
    let c = [40.0, 40.0, 60.0];
    let data = ndarray::Array3::from_shape_fn((nz, ny, nx), |(z, y, x)| {
        let p = [x as f64 - c[0], y as f64 - c[1], z as f64 * 5.0 - c[2]];
        u8::from(p[0] * p[0] + p[1] * p[1] + p[2] * p[2] <= r * r)
    });
    let mask = Mask { data, geometry };
    let mesh = mask_surface(&mask, &SurfaceOptions::default(), &Progress::new()).unwrap();
    assert!(mesh.topology().is_watertight());
    // Area of the surface facing straight up or down: a sphere has 2% of
    // its area with |n_z| > 0.98; terraces put a third of it there.
    let (mut flat, mut total) = (0.0f64, 0.0f64);
    for [a, b, c] in mesh.triangles() {
        let n = stratum_core::mesh::triangle_cross(a, b, c);
        let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt() as f64;
        if len > 0.0 {
            total += len;
            if (n[2] as f64 / len).abs() > 0.98 {
                flat += len;
            }
        }
    }
    let share = flat / total;
    assert!(
        share < 0.06,
        "{:.1}% of the area is flat terraces",
        share * 100.0
    );
    let analytic = 4.0 / 3.0 * std::f64::consts::PI * r * r * r;
    let v = mesh.volume_mm3();
    assert!(
        (v / analytic - 1.0).abs() < 0.04,
        "volume {v:.0} vs {analytic:.0} mm³"
    );
}
