//! Sub-voxel accuracy against analytic truth (issue 14): a bone ball inside
//! soft tissue with a partial-volume edge, meshed from the intensities at
//! the level the Bone preset finds; thin rods from a label map keeping
//! their voxels' volume; smoothing held within half a voxel; a faint,
//! noisy edge smoothed more than a clean one.

use stratum_core::base::progress::Progress;
use stratum_core::image::volume::{Geometry, Volume, Voxels};
use stratum_core::mesh::{
    SurfaceOptions, VoxelBox, constrained_taubin, crossing_noise, intensity_mesh,
    intensity_surface, mask_surface,
};
use stratum_core::segment::{Mask, Preset, keep_largest, preset_segment, threshold_mask};

const BONE: f64 = 1000.0;
const SOFT: f64 = 40.0;
const R: f64 = 6.3;

fn geometry() -> Geometry {
    Geometry {
        origin: [-20.0, -20.0, -21.0],
        spacing: [1.0, 1.0, 1.5],
        ..Geometry::default()
    }
}

/// Bone (radius `R`, centre at the origin) in a soft-tissue body (radius
/// 17) in air. The edge is a smoothstep over 1.6 mm, as a scanner blurs
/// it: its value half-way between bone and tissue lies exactly at `R`.
/// A small deterministic ripple stands in for noise.
fn bone_in_body() -> Volume {
    let g = geometry();
    let dim = (29, 41, 41);
    let data = ndarray::Array3::from_shape_fn(dim, |(z, y, x)| {
        let p = g.index_to_lps([x as f64, y as f64, z as f64]);
        let r = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
        let noise = 8.0 * ((x * 7 + y * 13 + z * 29) % 11) as f64 / 10.0 - 4.0;
        let v = if r > 17.0 {
            -1000.0
        } else {
            let t = (0.5 - (r - R) / 1.6).clamp(0.0, 1.0);
            SOFT + (BONE - SOFT) * t * t * (3.0 - 2.0 * t)
        };
        (v + noise).round() as i16
    });
    Volume::new(Voxels::I16(data), g, "CT")
}

/// Volume error (fraction) and mean / 95th percentile of the vertices'
/// distance to the true sphere (mm).
fn score(mesh: &stratum_core::mesh::SurfaceMesh) -> (f64, f64, f64) {
    let truth = 4.0 / 3.0 * std::f64::consts::PI * R.powi(3);
    let mut d: Vec<f64> = mesh
        .positions
        .iter()
        .map(|p| {
            let p = p.map(f64::from);
            ((p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt() - R).abs()
        })
        .collect();
    d.sort_by(f64::total_cmp);
    let mean = d.iter().sum::<f64>() / d.len() as f64;
    (
        (mesh.volume_mm3() - truth) / truth,
        mean,
        d[d.len() * 95 / 100],
    )
}

#[test]
fn bone_preset_surface_sits_on_the_partial_volume_edge() {
    let v = bone_in_body();
    let p = Progress::new();
    let seg = preset_segment(&v, Preset::Bone, None, &p).unwrap();
    let level = seg
        .found_level
        .expect("the Bone preset finds its level on CT");
    assert!(
        (level - 0.5 * (BONE + SOFT)).abs() < 40.0,
        "level {level}, half-way is {}",
        0.5 * (BONE + SOFT)
    );
    assert_eq!(seg.lo, level);
    let mesh = intensity_surface(&v, &seg.mask, seg.lo, &SurfaceOptions::default(), &p).unwrap();
    assert!(mesh.topology().is_watertight());
    let (vol, mean, p95) = score(&mesh);
    assert!(vol.abs() < 0.02, "volume off by {:.1}%", vol * 100.0);
    assert!(mean <= 0.10, "mean distance {mean:.3} mm");
    assert!(
        p95 <= 0.5 * 1.0,
        "p95 distance {p95:.3} mm (half a voxel is 0.5)"
    );

    // Today's fixed 250 HU and the mask's edge midpoints: too fat, by far
    // more than the goal, so the measure above tells the two apart.
    let old = keep_largest(&threshold_mask(&v, 250.0, 3071.0));
    let old_mesh = mask_surface(&old, &SurfaceOptions::default(), &p).unwrap();
    let (old_vol, _, _) = score(&old_mesh);
    assert!(
        old_vol > 0.05,
        "the old level was off by only {:.1}%",
        old_vol * 100.0
    );
}

#[test]
fn thin_label_map_structures_keep_their_voxel_volume_and_stay_near_the_raw_surface() {
    // Rods 2 and 3 voxels across along x, on 3 mm voxels (a label map from
    // a thin-organ model: adrenal glands, small arteries).
    let g = Geometry {
        spacing: [3.0, 3.0, 3.0],
        ..Geometry::default()
    };
    let mut data = ndarray::Array3::<u8>::zeros((12, 12, 30));
    data.slice_mut(ndarray::s![3..5, 3..5, 3..27]).fill(1);
    data.slice_mut(ndarray::s![6..9, 6..9, 3..27]).fill(1);
    let mask = Mask { data, geometry: g };
    let mesh = mask_surface(&mask, &SurfaceOptions::default(), &Progress::new()).unwrap();
    assert!(mesh.topology().is_watertight());
    let voxels = mask.volume_ml() * 1000.0;
    let err = (mesh.volume_mm3() - voxels) / voxels;
    assert!(err.abs() < 0.05, "volume off by {:.1}%", err * 100.0);

    // Constrained smoothing: no vertex ends more than half a voxel (per
    // axis) from where it started, however long it runs.
    let raw = mask_surface(
        &mask,
        &SurfaceOptions {
            smooth_iterations: 0,
            ..SurfaceOptions::default()
        },
        &Progress::new(),
    )
    .unwrap();
    let mut smoothed = raw.clone();
    constrained_taubin(&mut smoothed, 200, 0.5, -0.53, &VoxelBox::half_voxel(&g));
    let worst = raw
        .positions
        .iter()
        .zip(&smoothed.positions)
        .map(|(a, b)| (0..3).map(|k| (a[k] - b[k]).abs()).fold(0f32, f32::max))
        .fold(0f32, f32::max);
    assert!(
        worst <= 1.5 + 1e-4,
        "a vertex moved {worst} mm (half a voxel is 1.5)"
    );
    // Unconstrained, the same smoothing would have moved it further.
    let mut free = raw.clone();
    stratum_core::mesh::taubin_smooth(&mut free, 200, 0.5, -0.53);
    let free_worst = raw
        .positions
        .iter()
        .zip(&free.positions)
        .map(|(a, b)| (0..3).map(|k| (a[k] - b[k]).abs()).fold(0f32, f32::max))
        .fold(0f32, f32::max);
    assert!(free_worst > 1.5, "unconstrained moved only {free_worst} mm");
}

/// A faint ball (radius `FAINT_R`, 100 units above its surroundings, edge
/// blurred over 1.5 voxels) with Gaussian noise of `sigma` (a fixed seed).
const FAINT_R: f64 = 7.3;
fn faint_ball(sigma: f64) -> Volume {
    let g = Geometry::default();
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let data = ndarray::Array3::from_shape_fn((24, 24, 24), |(z, y, x)| {
        let d = |v: usize| v as f64 - 11.5;
        let r = (d(x).powi(2) + d(y).powi(2) + d(z).powi(2)).sqrt();
        let t = (0.5 - (r - FAINT_R) / 1.5).clamp(0.0, 1.0);
        // Box-Muller: one normal deviate from two uniforms.
        let n = (-2.0 * uniform().ln()).sqrt() * (std::f64::consts::TAU * uniform()).cos();
        (40.0 + 100.0 * t * t * (3.0 - 2.0 * t) + sigma * n) as f32
    });
    Volume::new(Voxels::F32(data), g, "CT")
}

fn ball_mean_distance(mesh: &stratum_core::mesh::SurfaceMesh) -> f64 {
    let c = 11.5;
    let d: f64 = mesh
        .positions
        .iter()
        .map(|p| {
            let q = p.map(|v| f64::from(v) - c);
            ((q[0] * q[0] + q[1] * q[1] + q[2] * q[2]).sqrt() - FAINT_R).abs()
        })
        .sum();
    d / mesh.positions.len() as f64
}

#[test]
fn crossing_noise_grows_with_the_scans_noise_over_the_edges_contrast() {
    let jitter = |v: &Volume| {
        let m = keep_largest(&threshold_mask(v, 90.0, 1e9));
        crossing_noise(v.voxels.to_f32().view(), m.data.view())
    };
    let (q, n) = (jitter(&faint_ball(0.0)), jitter(&faint_ball(10.0)));
    assert!(q < 0.01, "no noise, yet {q} voxel of jitter");
    // 10 units of noise against steps of about 50 across the edge.
    assert!((0.08..0.25).contains(&n), "{n} voxel of jitter");
}

#[test]
fn a_faint_noisy_edge_is_smoothed_more_and_lands_nearer_the_truth() {
    let v = faint_ball(10.0);
    let mask = keep_largest(&threshold_mask(&v, 90.0, 1e9));
    let p = Progress::new();
    let mesh = intensity_surface(&v, &mask, 90.0, &SurfaceOptions::default(), &p).unwrap();
    assert!(mesh.topology().is_watertight());
    // What 10 constrained pairs alone give (the recipe for a clean edge).
    let (mut base, noise) = intensity_mesh(&v, &mask, 90.0, &p).unwrap();
    assert!(noise > 0.05, "{noise}");
    constrained_taubin(
        &mut base,
        10,
        0.5,
        -0.53,
        &VoxelBox::half_voxel(&v.geometry),
    );
    let (now, before) = (ball_mean_distance(&mesh), ball_mean_distance(&base));
    assert!(
        now < 0.9 * before,
        "mean distance {now:.3} with the noise's smoothing, {before:.3} without"
    );
    let truth = 4.0 / 3.0 * std::f64::consts::PI * FAINT_R.powi(3);
    let vol = (mesh.volume_mm3() - truth) / truth;
    assert!(vol.abs() < 0.03, "volume off by {:.1}%", vol * 100.0);
}
