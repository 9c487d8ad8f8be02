//! Validation of a model against the scan: voxelising a mesh, Dice, and the
//! per-segment report with its flags.

use stratum_core::base::progress::Progress;
use stratum_core::image::volume::Geometry;
use stratum_core::mesh::{SurfaceOptions, mask_surface};
use stratum_core::planning::measure::{SurfaceRecipe, dice, validate, voxelize};
use stratum_core::segment::Mask;

use crate::fixtures::{in_open_ball, mask_where};

/// A torus and a ball on an anisotropic, offset grid.
fn shapes() -> Mask {
    let g = Geometry {
        origin: [-30.0, -32.0, -20.0],
        spacing: [0.8, 0.9, 1.3],
        ..Geometry::default()
    };
    let ball = in_open_ball([20.0, 10.0, 5.0], 8.0);
    mask_where((40, 72, 80), g, |p| {
        let ring = ((p[0] + 8.0).hypot(p[1]) - 14.0).hypot(p[2] - 4.0) < 5.0;
        ring || ball(p)
    })
}

/// The raw (voxel-accurate) surface encloses exactly the mask's voxel
/// centres: voxelising it gives the mask back.
#[test]
fn the_raw_surface_voxelises_back_to_its_mask() {
    let mask = shapes();
    let raw = SurfaceOptions {
        presmooth_mm: None,
        smooth_iterations: 0,
        keep_ratio: 1.0,
    };
    let mesh = mask_surface(&mask, &raw, &Progress::new()).unwrap();
    let v = voxelize(&mesh, &mask.geometry, mask.dim());
    let differ = ndarray::Zip::from(&v)
        .and(&mask.data)
        .fold(0usize, |n, &a, &b| n + usize::from(a != b));
    assert_eq!(differ, 0, "{differ} voxels differ");
    assert_eq!(dice(&v, &mask.data), 1.0);
}

#[test]
fn a_good_model_passes_and_a_shifted_one_is_flagged() {
    let mask = shapes();
    let opts = SurfaceOptions::default();
    let mesh = mask_surface(&mask, &opts, &Progress::new()).unwrap();
    let recipe = SurfaceRecipe {
        presmooth_mm: opts.presmooth_mm,
        smoothing_iterations: opts.smooth_iterations,
        reduction: 1.0 - opts.keep_ratio,
    };
    let good = validate("shapes", &mask, &mesh, recipe.clone());
    assert!(good.dice > 0.95, "{good:?}");
    assert!(good.surface.p95_mm < good.voxel_diagonal_mm, "{good:?}");
    assert!(good.volume_diff_pct.abs() < 3.0, "{good:?}");
    assert!(good.watertight && good.flags.is_empty(), "{:?}", good.flags);
    assert_eq!(good.recipe, recipe);

    // The same mesh 4 mm to the left no longer matches the scan.
    let mut shifted = mesh.clone();
    for p in shifted.positions.iter_mut() {
        p[0] += 4.0;
    }
    let bad = validate("shapes", &mask, &shifted, recipe);
    assert!(bad.dice < 0.85, "{bad:?}");
    assert!(bad.surface.p95_mm > bad.voxel_diagonal_mm);
    assert!(
        bad.flags.iter().any(|f| f.contains("voxel diagonal")),
        "{:?}",
        bad.flags
    );
    assert!(
        bad.flags.iter().any(|f| f.contains("Dice")),
        "{:?}",
        bad.flags
    );
    // Moving it changes neither volume nor closedness.
    assert!(
        !bad.flags
            .iter()
            .any(|f| f.contains("volume") || f.contains("closed"))
    );
}
