//! A model's soft output on the scan's grid: each kept label's soft edge,
//! the field its surface is the 0.5 level of.

use ndarray::{Array3, Axis};
use rayon::prelude::*;

use super::grid::{ModelGrid, ScanTaps};
use super::manifest::Manifest;
use crate::mesh::SoftField;
use crate::segment::Mask;

/// The soft edge of output label `label` (its index in the manifest's
/// labels) around `mask`, that label's voxels on the scan grid of `labels_on_scan`
/// after post-processing: at each voxel on the mask's edge (inside with a
/// face neighbour outside, or the reverse), 0.5 plus half the margin by
/// which the label wins there (its probability over the strongest other
/// channel, and over the threshold for networks without a background
/// channel), the same interpolation and comparisons `labels_on_scan`
/// decides by, so the label changes where the field crosses 0.5. Away from
/// the edge only which side matters. `None` for an empty mask.
#[tracing::instrument(level = "info", skip_all)]
pub fn soft_on_scan(
    probs: &[Array3<f32>],
    grid: &ModelGrid,
    mask: &Mask,
    m: &Manifest,
    label: usize,
) -> Option<SoftField> {
    mask.bounds()?;
    let taps = ScanTaps::new(grid, mask.dim());
    let bg = m.output.background_channel;
    let own = if bg { label + 1 } else { label };
    if own >= probs.len() {
        return None;
    }
    let threshold = m.output.threshold;
    soft_edge(mask, |src| {
        let p = taps.value(&probs[own], src);
        let other = probs
            .iter()
            .enumerate()
            .filter(|(c, _)| *c != own)
            .map(|(_, pc)| taps.value(pc, src))
            .fold(f32::NEG_INFINITY, f32::max);
        let margin = p - other;
        if bg {
            margin
        } else {
            margin.min(p - threshold)
        }
    })
}

/// The soft field of `mask`: at each voxel on its edge (inside with a face
/// neighbour outside, or the reverse) 0.5 plus half of `margin(x, y, z)`,
/// the margin by which the label wins there (negative where it loses);
/// away from the edge only which side matters. `None` for an empty mask.
pub fn soft_edge(mask: &Mask, margin: impl Fn([usize; 3]) -> f32 + Sync) -> Option<SoftField> {
    let b = mask.bounds()?;
    let dim = mask.dim();
    let lo = [b[0].0, b[1].0, b[2].0].map(|v| v.saturating_sub(1));
    let hi = [
        (b[0].1 + 1).min(dim.0),
        (b[1].1 + 1).min(dim.1),
        (b[2].1 + 1).min(dim.2),
    ];
    let inside = |z: usize, y: usize, x: usize| mask.data[(z, y, x)] != 0;
    let mut data = Array3::<u8>::zeros((hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]));
    data.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(dz, mut plane)| {
            let z = lo[0] + dz;
            for ((dy, dx), out) in plane.indexed_iter_mut() {
                let (y, x) = (lo[1] + dy, lo[2] + dx);
                let me = inside(z, y, x);
                let edge = [
                    (z.wrapping_sub(1), y, x),
                    (z + 1, y, x),
                    (z, y.wrapping_sub(1), x),
                    (z, y + 1, x),
                    (z, y, x.wrapping_sub(1)),
                    (z, y, x + 1),
                ]
                .iter()
                .any(|&(zz, yy, xx)| {
                    zz < dim.0 && yy < dim.1 && xx < dim.2 && inside(zz, yy, xx) != me
                });
                if !edge {
                    *out = if me { 255 } else { 0 };
                    continue;
                }
                let f = (0.5 + 0.5 * margin([x, y, z])).clamp(0.0, 1.0);
                *out = (f * 255.0).round() as u8;
            }
        });
    Some(SoftField { origin: lo, data })
}
