//! Sliding-window geometry: where the network's windows start along each
//! axis of the model grid, and how a window is filled from the grid,
//! including the part that reaches past it.

use ndarray::{Array3, Axis};

use super::manifest::{InputSpec, PadZ, orientation_axes};
use crate::base::error::{CoreError, Result};

/// Start offsets of the patches along one axis (MONAI's scan interval):
/// windows `patch * (1 - overlap)` apart, the last one flush with the end.
pub fn patch_starts(len: usize, patch: usize, overlap: f32) -> Vec<usize> {
    if len <= patch {
        return vec![0];
    }
    let interval = ((patch as f32 * (1.0 - overlap)).floor() as usize).max(1);
    let n = (len - patch).div_ceil(interval) + 1;
    let mut v: Vec<usize> = (0..n).map(|i| (i * interval).min(len - patch)).collect();
    v.dedup();
    v
}

/// Where the network's input and output windows start along one axis of a
/// grid of `len` voxels: `(input start, output start)`, possibly negative
/// (the window reaches past the grid and is padded). The output window of
/// size `out` sits `(patch - out) / 2` inside the input window of size
/// `patch`. A grid no longer than the output is covered by one window
/// centred on it (pyliverlesionseg's centre sampling: grid voxel len / 2 at
/// patch voxel patch / 2); a longer one by output windows `patch_starts`
/// apart, each input window around its output window.
pub fn window_starts(len: usize, patch: usize, out: usize, overlap: f32) -> Vec<(i64, i64)> {
    let margin = ((patch - out) / 2) as i64;
    if len <= out {
        let input = (len / 2) as i64 - (patch / 2) as i64;
        return vec![(input, input + margin)];
    }
    patch_starts(len, out, overlap)
        .into_iter()
        .map(|o| (o as i64 - margin, o as i64))
        .collect()
}
/// How a window is filled where it reaches past the grid along one axis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EdgeFill {
    /// The manifest's `pad_value`.
    #[default]
    Constant,
    /// The grid's first or last plane across this axis, repeated.
    Edge,
}

/// Source index along one axis of each window offset: `None` where the
/// window lies past the grid and the axis is padded with the constant.
fn axis_map(start: i64, n: usize, len: usize, fill: EdgeFill) -> Vec<Option<usize>> {
    (0..n as i64)
        .map(|i| {
            let s = start + i;
            if (0..len as i64).contains(&s) {
                Some(s as usize)
            } else if fill == EdgeFill::Edge && len > 0 {
                Some(s.clamp(0, len as i64 - 1) as usize)
            } else {
                None
            }
        })
        .collect()
}

/// Copies the window of `input` (D, H, W) starting at `start` (negative or
/// past the end where it overhangs) into `buf`, laid out D, H, W with
/// `patch` voxels. A window voxel past the grid along an axis whose fill is
/// [`EdgeFill::Constant`] holds `pad`; along an [`EdgeFill::Edge`] axis it
/// holds the nearest grid voxel along that axis, so that with edge fill on
/// the head-foot axis only, a thin slab is continued above and below by its
/// end slices while the air around the body stays `pad`.
pub fn fill_window(
    buf: &mut [f32],
    input: &Array3<f32>,
    start: [i64; 3],
    patch: [usize; 3],
    pad: f32,
    fill: [EdgeFill; 3],
) {
    let g = input.dim();
    let g = [g.0, g.1, g.2];
    let [m0, m1, m2]: [Vec<Option<usize>>; 3] =
        std::array::from_fn(|k| axis_map(start[k], patch[k], g[k], fill[k]));
    for (d, sd) in m0.iter().enumerate() {
        let block = &mut buf[d * patch[1] * patch[2]..][..patch[1] * patch[2]];
        let Some(sd) = *sd else {
            block.fill(pad);
            continue;
        };
        let plane = input.index_axis(Axis(0), sd);
        for (h, sh) in m1.iter().enumerate() {
            let row = &mut block[h * patch[2]..][..patch[2]];
            let Some(sh) = *sh else {
                row.fill(pad);
                continue;
            };
            let src = plane.row(sh);
            for (o, sw) in row.iter_mut().zip(&m2) {
                *o = sw.map_or(pad, |sw| src[sw]);
            }
        }
    }
}

/// The fill of each tensor axis (D, H, W) for a network's input: edge along
/// the axis that runs head to foot (S or I in `orientation`) when `pad_z` is
/// "edge", the constant elsewhere.
pub fn edge_fill(input: &InputSpec) -> Result<[EdgeFill; 3]> {
    let axes = orientation_axes(&input.orientation).ok_or_else(|| CoreError::ManifestField {
        field: "input.orientation",
        why: "is invalid".into(),
    })?;
    Ok(std::array::from_fn(|k| {
        if input.pad_z == PadZ::Edge && axes[k][2] != 0.0 {
            EdgeFill::Edge
        } else {
            EdgeFill::Constant
        }
    }))
}
