//! Pre-filters some models were trained with, applied before the model
//! grid: resampling to an isotropic spacing and a cubic median filter
//! (pyliverlesionseg: 1.5 mm, then median 3, then the 3 mm model grid).

use ndarray::{Array3, Axis};
use rayon::prelude::*;

use super::grid::ModelGrid;
use super::infer::resample_array;
use super::manifest::Interpolation;
use crate::image::volume::Volume;

/// The scan on an isotropic grid of `spacing` mm in its own axis order
/// (z, y, x), covering the same field of view (voxel edges to voxel edges),
/// linear with anti-aliasing where it shrinks.
#[tracing::instrument(level = "info", skip_all)]
pub fn to_isotropic(volume: &Volume, spacing: f64) -> Array3<f32> {
    let (nz, ny, nx) = volume.dim();
    let src_n = [nx, ny, nz];
    let g = &volume.geometry;
    let n: [usize; 3] = std::array::from_fn(|a| {
        ((src_n[a] as f64 * g.spacing[a] / spacing).round() as usize).max(1)
    });
    // Tensor axes (D, H, W) = (z, y, x): source axes 2, 1, 0, no flips.
    let grid = ModelGrid {
        shape: [n[2], n[1], n[0]],
        src_axis: [2, 1, 0],
        flip: [false; 3],
        scale: [
            nz as f64 / n[2] as f64,
            ny as f64 / n[1] as f64,
            nx as f64 / n[0] as f64,
        ],
        src_n,
        interpolation: Interpolation::Linear,
    };
    resample_array(volume.voxels.to_f32(), &grid)
}

/// Median over a `size`³ window (odd), edges clamped. `size` 1 copies.
#[tracing::instrument(level = "info", skip_all)]
pub fn median_filter(a: &Array3<f32>, size: usize) -> Array3<f32> {
    if size <= 1 {
        return a.clone();
    }
    let r = (size / 2) as isize;
    let (nz, ny, nx) = a.dim();
    let clamp = |v: isize, n: usize| v.clamp(0, n as isize - 1) as usize;
    let mut out = Array3::<f32>::zeros(a.dim());
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(z, mut plane)| {
            let mut win = Vec::with_capacity(size * size * size);
            for y in 0..ny {
                for x in 0..nx {
                    win.clear();
                    for dz in -r..=r {
                        let zz = clamp(z as isize + dz, nz);
                        for dy in -r..=r {
                            let yy = clamp(y as isize + dy, ny);
                            for dx in -r..=r {
                                win.push(a[(zz, yy, clamp(x as isize + dx, nx))]);
                            }
                        }
                    }
                    let mid = win.len() / 2;
                    plane[(y, x)] = *win.select_nth_unstable_by(mid, |p, q| p.total_cmp(q)).1;
                }
            }
        });
    out
}
