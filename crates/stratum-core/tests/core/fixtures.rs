//! Shapes the core tests build their scans and masks from: ball and box
//! inside tests on LPS points (millimetres), a mask from an inside test on
//! the voxel centres of a grid, and the balls (mask and surface) the export
//! and share-page tests write.

use stratum_core::base::progress::Progress;
use stratum_core::image::volume::Geometry;
use stratum_core::mesh::{SurfaceMesh, SurfaceOptions, mask_surface};
use stratum_core::segment::Mask;

/// Inside or on the ball of radius `r` around `c`.
pub fn in_ball(c: [f64; 3], r: f64) -> impl Fn([f64; 3]) -> bool + Copy + Sync {
    move |p| (p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2) + (p[2] - c[2]).powi(2) <= r * r
}

/// Strictly inside the ball of radius `r` around `c` (voxel centres on the
/// sphere left out).
pub fn in_open_ball(c: [f64; 3], r: f64) -> impl Fn([f64; 3]) -> bool + Copy + Sync {
    move |p| (p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2) + (p[2] - c[2]).powi(2) < r * r
}

/// Strictly inside an axis-aligned box: with faces half way between voxel
/// centres, its voxels hold exactly its volume.
pub fn in_box(lo: [f64; 3], hi: [f64; 3]) -> impl Fn([f64; 3]) -> bool + Copy + Sync {
    move |p| (0..3).all(|k| p[k] > lo[k] && p[k] < hi[k])
}

/// The mask of `dim` voxels on `geometry` that is set where `inside` holds
/// at the voxel's centre.
pub fn mask_where(
    dim: (usize, usize, usize),
    geometry: Geometry,
    inside: impl Fn([f64; 3]) -> bool,
) -> Mask {
    let data = ndarray::Array3::from_shape_fn(dim, |(z, y, x)| {
        u8::from(inside(
            geometry.index_to_lps([x as f64, y as f64, z as f64]),
        ))
    });
    Mask { data, geometry }
}

/// The grid the export tests' balls lie on: 60 x 60 x 40 voxels of
/// 1 x 1 x 1.5 mm from (-30, -30, -30).
pub const EXPORT_DIM: (usize, usize, usize) = (40, 60, 60);

pub fn export_grid() -> Geometry {
    Geometry {
        origin: [-30.0, -30.0, -30.0],
        spacing: [1.0, 1.0, 1.5],
        ..Geometry::default()
    }
}

/// A ball of radius `r` mm around `c` on [`export_grid`].
pub fn ball_mask(c: [f64; 3], r: f64) -> Mask {
    mask_where(EXPORT_DIM, export_grid(), in_ball(c, r))
}

/// The surface of [`ball_mask`], made as the app makes it.
pub fn ball_mesh(c: [f64; 3], r: f64) -> SurfaceMesh {
    mask_surface(
        &ball_mask(c, r),
        &SurfaceOptions::default(),
        &Progress::new(),
    )
    .unwrap()
}
