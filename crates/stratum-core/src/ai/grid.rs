//! How a model's grid sits on the scan: the axis match, flips and scales
//! between the scan's voxels and the model's tensor, and the trilinear taps
//! from scan voxels into the model grid that the labels and the soft edges
//! share.

use ndarray::Array3;

use super::manifest::{GridSpec, Interpolation, Manifest, orientation_axes};
use crate::base::error::{CoreError, Result};
use crate::image::volume::Geometry;

/// How the model grid sits on the scan: tensor axis k (D, H, W) runs along
/// source index axis `src_axis[k]` (0 = column x, 1 = row y, 2 = slice z),
/// reversed when `flip[k]`, with `scale[k]` source voxels per model voxel.
/// Pixel centres map as in scikit-image's `resize`:
/// `src = (t + 0.5) * scale - 0.5`.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelGrid {
    pub shape: [usize; 3],
    pub src_axis: [usize; 3],
    pub flip: [bool; 3],
    pub scale: [f64; 3],
    /// Source sizes along x, y, z.
    pub src_n: [usize; 3],
    pub interpolation: Interpolation,
}

impl ModelGrid {
    /// The grid for a scan of `dim` (slices, rows, columns) and `geometry`:
    /// the scan's axes are matched to the manifest's orientation (the
    /// nearest axis for oblique scans, as nibabel's `as_closest_canonical`).
    pub fn new(geometry: &Geometry, dim: (usize, usize, usize), m: &Manifest) -> Result<Self> {
        let target =
            orientation_axes(&m.input.orientation).ok_or_else(|| CoreError::ManifestField {
                field: "input.orientation",
                why: "is invalid".into(),
            })?;
        let src_n = [dim.2, dim.1, dim.0];
        let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
        let perms = [
            [0, 1, 2],
            [0, 2, 1],
            [1, 0, 2],
            [1, 2, 0],
            [2, 0, 1],
            [2, 1, 0],
        ];
        let best = perms
            .iter()
            .max_by(|p, q| {
                let score = |p: &[usize; 3]| {
                    (0..3)
                        .map(|k| dot(geometry.direction[p[k]], target[k]).abs())
                        .sum::<f64>()
                };
                score(p).total_cmp(&score(q))
            })
            .copied()
            .unwrap_or([0, 1, 2]);
        let mut grid = ModelGrid {
            shape: [0; 3],
            src_axis: best,
            flip: [false; 3],
            scale: [1.0; 3],
            src_n,
            interpolation: m.input.interpolation,
        };
        for k in 0..3 {
            let a = best[k];
            grid.flip[k] = dot(geometry.direction[a], target[k]) < 0.0;
            grid.shape[k] = match &m.input.grid {
                GridSpec::Shape(s) => s[k],
                GridSpec::Spacing(s) => {
                    ((src_n[a] as f64 * geometry.spacing[a] / s[k]).round() as usize).max(1)
                }
            };
            grid.scale[k] = src_n[a] as f64 / grid.shape[k] as f64;
        }
        Ok(grid)
    }

    /// The same model grid over a resampled copy of the scan that covers the
    /// same field of view with `dim` (slices, rows, columns) voxels.
    pub fn over(&self, dim: (usize, usize, usize)) -> ModelGrid {
        let src_n = [dim.2, dim.1, dim.0];
        let mut g = self.clone();
        g.src_n = src_n;
        for k in 0..3 {
            g.scale[k] = src_n[g.src_axis[k]] as f64 / g.shape[k] as f64;
        }
        g
    }

    /// Source index (along `src_axis[k]`) of model index `t` along axis k.
    #[inline]
    pub fn to_src(&self, k: usize, t: f64) -> f64 {
        let s = (t + 0.5) * self.scale[k] - 0.5;
        if self.flip[k] {
            self.src_n[self.src_axis[k]] as f64 - 1.0 - s
        } else {
            s
        }
    }

    /// Model index along axis k of source index `s` (along `src_axis[k]`).
    #[inline]
    pub fn to_model(&self, k: usize, s: f64) -> f64 {
        let s = if self.flip[k] {
            self.src_n[self.src_axis[k]] as f64 - 1.0 - s
        } else {
            s
        };
        (s + 0.5) / self.scale[k] - 0.5
    }
}

/// Linear interpolation taps (lower index, upper index, upper weight) of
/// continuous positions, clamped to the edge.
pub(super) fn taps(positions: impl Iterator<Item = f64>, n: usize) -> Vec<(usize, usize, f32)> {
    positions
        .map(|p| {
            let p = p.clamp(0.0, (n - 1) as f64);
            let i0 = p.floor() as usize;
            let i1 = (i0 + 1).min(n - 1);
            (i0, i1, (p - i0 as f64) as f32)
        })
        .collect()
}

/// Trilinear taps from the scan's voxels into the model grid.
pub(super) struct ScanTaps {
    /// For each source axis (x, y, z), the tensor axis that runs along it.
    tensor_axis: [usize; 3],
    /// Per source axis, per source index: (lower, upper, weight of upper).
    t: Vec<Vec<(usize, usize, f32)>>,
}

impl ScanTaps {
    pub(super) fn new(grid: &ModelGrid, dim: (usize, usize, usize)) -> Self {
        let mut tensor_axis = [0usize; 3];
        for k in 0..3 {
            tensor_axis[grid.src_axis[k]] = k;
        }
        let src_n = [dim.2, dim.1, dim.0];
        let t = (0..3)
            .map(|a| {
                let k = tensor_axis[a];
                taps(
                    (0..src_n[a]).map(|s| grid.to_model(k, s as f64)),
                    grid.shape[k],
                )
            })
            .collect();
        ScanTaps { tensor_axis, t }
    }

    /// Channel `pc` at scan voxel `src` (x, y, z).
    #[inline]
    pub(super) fn value(&self, pc: &Array3<f32>, src: [usize; 3]) -> f32 {
        let mut acc = 0.0f32;
        for corner in 0..8 {
            let mut idx = [0usize; 3];
            let mut wgt = 1.0f32;
            for a in 0..3 {
                let (i0, i1, f) = self.t[a][src[a]];
                let up = corner >> a & 1 == 1;
                idx[self.tensor_axis[a]] = if up { i1 } else { i0 };
                wgt *= if up { f } else { 1.0 - f };
            }
            if wgt > 0.0 {
                acc += wgt * pc[(idx[0], idx[1], idx[2])];
            }
        }
        acc
    }
}
