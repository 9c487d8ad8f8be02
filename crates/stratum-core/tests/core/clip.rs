//! Clip-plane geometry: the LPS-to-texture mapping the GPU reslices the scan
//! with, sampled as the GPU samples it, and the clip lines on slice views.

use ndarray::Array3;
use stratum_core::image::view::{ClipPlane, Plane, SliceLayout, texture_from_lps, windowed_texels};
use stratum_core::{image::volume::Geometry, image::volume::Volume, image::volume::Voxels};

/// An oblique, anisotropic grid (rotated about S by 30°).
fn oblique() -> Geometry {
    let (c, s) = (30f64.to_radians().cos(), 30f64.to_radians().sin());
    Geometry {
        origin: [-40.0, 25.0, -60.0],
        spacing: [0.8, 1.1, 2.5],
        direction: [[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]],
    }
}

fn apply(m: &[[f64; 4]; 4], p: [f64; 3]) -> [f64; 3] {
    let mut o = [0.0; 3];
    for r in 0..3 {
        o[r] = m[r][0] * p[0] + m[r][1] * p[1] + m[r][2] * p[2] + m[r][3];
    }
    o
}

#[test]
fn voxel_centres_land_on_texel_centres() {
    let g = oblique();
    let dim = (12, 20, 16);
    let m = texture_from_lps(&g, dim);
    for idx in [[0.0, 0.0, 0.0], [15.0, 19.0, 11.0], [3.0, 7.0, 5.0]] {
        let t = apply(&m, g.index_to_lps(idx));
        let n = [16.0, 20.0, 12.0];
        for k in 0..3 {
            assert!(
                (t[k] - (idx[k] + 0.5) / n[k]).abs() < 1e-9,
                "{idx:?} -> {t:?}"
            );
        }
    }
}

/// Linear filtering of a 3D texture as the GPU does it (texel centres at
/// (i + 0.5) / n, clamp to edge).
fn gpu_sample(texels: &[u8], n: [usize; 3], t: [f64; 3]) -> f64 {
    let mut base = [0usize; 3];
    let mut f = [0.0; 3];
    for k in 0..3 {
        let x = (t[k] * n[k] as f64 - 0.5).clamp(0.0, (n[k] - 1) as f64);
        base[k] = (x.floor() as usize).min(n[k] - 2);
        f[k] = x - base[k] as f64;
    }
    let at = |x: usize, y: usize, z: usize| texels[(z * n[1] + y) * n[0] + x] as f64;
    let mut acc = 0.0;
    for c in 0..8 {
        let (dx, dy, dz) = (c & 1, c >> 1 & 1, c >> 2 & 1);
        let w = (if dx == 1 { f[0] } else { 1.0 - f[0] })
            * (if dy == 1 { f[1] } else { 1.0 - f[1] })
            * (if dz == 1 { f[2] } else { 1.0 - f[2] });
        acc += w * at(base[0] + dx, base[1] + dy, base[2] + dz);
    }
    acc
}

/// An oblique cut through the volume: sampling the windowed texture at the
/// mapped coordinates gives the scan's (windowed) value at that point.
#[test]
fn oblique_reslice_samples_the_scan_at_known_points() {
    let g = oblique();
    let (nz, ny, nx) = (12, 20, 16);
    let data = Array3::from_shape_fn((nz, ny, nx), |(z, y, x)| {
        (3.0 * x as f32 + 2.0 * y as f32 + 5.0 * z as f32 - 40.0) as i16
    });
    let volume = Volume::new(Voxels::I16(data), g, "CT");
    let (lo, hi) = (-40.0, 120.0);
    let texels = windowed_texels(&volume, lo, hi);
    assert_eq!(texels.len(), nx * ny * nz);
    let m = texture_from_lps(&g, volume.dim());
    // Points on an oblique plane through the middle of the volume.
    let centre = g.index_to_lps([7.5, 9.5, 5.5]);
    let (u, v) = ([0.6, 0.0, 0.8], [0.0, 1.0, 0.0]);
    let mut checked = 0;
    for a in -8..=8 {
        for b in -8..=8 {
            let p = [
                centre[0] + a as f64 * u[0] + b as f64 * v[0],
                centre[1] + a as f64 * u[1] + b as f64 * v[1],
                centre[2] + a as f64 * u[2] + b as f64 * v[2],
            ];
            let Some(truth) = volume.sample_lps(p) else {
                continue;
            };
            let want = ((truth - lo) / (hi - lo) * 255.0).clamp(0.0, 255.0);
            let got = gpu_sample(&texels, [nx, ny, nz], apply(&m, p));
            assert!(
                (got - want).abs() < 0.51,
                "at {p:?}: texture {got:.2}, scan {want:.2}"
            );
            checked += 1;
        }
    }
    assert!(checked > 200, "{checked}");
}

#[test]
fn clip_planes_cross_the_slice_views_where_they_cut() {
    // Axial LPS grid, 1 mm, 40 x 30 x 20.
    let g = Geometry::default();
    let dim = (20, 30, 40);
    let axial_cut = ClipPlane::new([0.0, 0.0, 1.0], [0.0, 0.0, 12.25]);
    assert!((axial_cut.distance([5.0, 5.0, 15.0]) - 2.75).abs() < 1e-12);

    // On a coronal view it is a horizontal line at z = 12.25 across the image.
    let coronal = SliceLayout::new(Plane::Coronal, dim, &g);
    let [a, b] = axial_cut.line_on_slice(&coronal, &g, 10).expect("crosses");
    assert!((a[1] - b[1]).abs() < 1e-9, "{a:?} {b:?}");
    let row = coronal.display_of([0.0, 10.0, 12.25])[1];
    assert!((a[1] - row).abs() < 1e-9);
    assert!((a[0] - b[0]).abs() > 39.0, "spans the width: {a:?} {b:?}");

    // On an axial view it lies in the slice or misses it: no line.
    let axial = SliceLayout::new(Plane::Axial, dim, &g);
    assert!(axial_cut.line_on_slice(&axial, &g, 5).is_none());

    // A sagittal cut is a vertical line on the axial view at its x.
    let sagittal_cut = ClipPlane::new([1.0, 0.0, 0.0], [17.0, 0.0, 0.0]);
    let [a, b] = sagittal_cut.line_on_slice(&axial, &g, 5).expect("crosses");
    assert!((a[0] - b[0]).abs() < 1e-9);
    assert!((a[0] - axial.display_of([17.0, 0.0, 5.0])[0]).abs() < 1e-9);

    // An oblique cut: both ends lie on the plane.
    let oblique_cut = ClipPlane::new([1.0, 0.0, 1.0], [20.0, 15.0, 10.0]);
    let [a, b] = oblique_cut
        .line_on_slice(&coronal, &g, 15)
        .expect("crosses");
    for e in [a, b] {
        // Back from display to index on this coronal slice (y = 15): the
        // patient's right (x = 0) on the left, superior at the top.
        let x = e[0];
        let z = (coronal.height - 1) as f64 - e[1];
        let p = g.index_to_lps([x, 15.0, z]);
        assert!(oblique_cut.distance(p).abs() < 1e-6, "{e:?} -> {p:?}");
    }
}
