//! Re-aligning slices that moved in-plane: the correction the motion check
//! offers. A [`Realignment`] is a plain list of slices and shifts, so it can
//! be shown, saved with a session and applied again to the same scan; it
//! never touches the source files, and undoing it is opening the scan
//! without it.

use ndarray::{ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::base::error::{CoreError, Result};
use crate::image::volume::{Volume, VoxelType};

/// One slice's measured displacement: its content sits `shift_mm` (along
/// the volume's x then y axis) away from where its neighbours put it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SliceShift {
    /// 1-based, stack order.
    pub slice: usize,
    pub shift_mm: [f64; 2],
}

/// The slices to move back, each by its measured displacement.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Realignment {
    pub slices: Vec<SliceShift>,
}

/// Whether and how to re-align moved slices when a scan is opened.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Realign {
    /// Leave the slices as they are (the motion check still reports).
    #[default]
    No,
    /// Apply the correction the motion check offers, if any.
    Offered,
    /// Apply this correction (a saved session's).
    Exactly(Realignment),
}

impl Realignment {
    /// "slices 41-47 moved back by 4.2 mm": for the study's notes.
    pub fn summary(&self) -> String {
        let mut nums: Vec<usize> = self.slices.iter().map(|s| s.slice).collect();
        nums.sort_unstable();
        nums.dedup();
        super::ranges(&nums)
    }
}

/// Samples a slice at (x + dx, y + dy) pixels, bilinear, clamped at the edges.
fn shift_plane<T: VoxelType>(
    src: ArrayView2<T>,
    mut dst: ArrayViewMut2<T>,
    d: [f64; 2],
    store: fn(f64) -> T,
) {
    let (h, w) = src.dim();
    let at = |x: isize, y: isize| {
        let x = x.clamp(0, w as isize - 1) as usize;
        let y = y.clamp(0, h as isize - 1) as usize;
        src[(y, x)].to_f64()
    };
    for y in 0..h {
        let sy = y as f64 + d[1];
        let (y0, fy) = (sy.floor() as isize, sy - sy.floor());
        for x in 0..w {
            let sx = x as f64 + d[0];
            let (x0, fx) = (sx.floor() as isize, sx - sx.floor());
            let top = at(x0, y0) * (1.0 - fx) + at(x0 + 1, y0) * fx;
            let bottom = at(x0, y0 + 1) * (1.0 - fx) + at(x0 + 1, y0 + 1) * fx;
            dst[(y, x)] = store(top * (1.0 - fy) + bottom * fy);
        }
    }
}

/// A copy of `volume` with the listed slices moved back: each slice's
/// content is resampled (bilinear) `shift_mm` further along, so it lines
/// up with its neighbours again. Slices outside the volume are an error.
pub fn realign(volume: &Volume, plan: &Realignment) -> Result<Volume> {
    let (nz, _, _) = volume.dim();
    if let Some(bad) = plan.slices.iter().find(|s| s.slice == 0 || s.slice > nz) {
        return Err(CoreError::RealignmentSlice {
            slice: bad.slice,
            count: nz,
        });
    }
    let px = [volume.geometry.spacing[0], volume.geometry.spacing[1]];
    let mut out = volume.clone();
    macro_rules! run {
        ($src:expr, $dst:expr, $store:expr) => {{
            let src = $src;
            let planes: Vec<(usize, [f64; 2])> = plan
                .slices
                .iter()
                .map(|s| (s.slice - 1, [s.shift_mm[0] / px[0], s.shift_mm[1] / px[1]]))
                .collect();
            $dst.axis_iter_mut(Axis(0))
                .into_par_iter()
                .enumerate()
                .for_each(|(z, dst)| {
                    if let Some((_, d)) = planes.iter().find(|(k, _)| *k == z) {
                        shift_plane(src.index_axis(Axis(0), z), dst, *d, $store);
                    }
                });
        }};
    }
    use crate::image::volume::Voxels::*;
    match (&volume.voxels, &mut out.voxels) {
        (U8(s), U8(d)) => run!(s, d, |v| v.round().clamp(0.0, 255.0) as u8),
        (I16(s), I16(d)) => run!(s, d, |v| v.round().clamp(-32768.0, 32767.0) as i16),
        (U16(s), U16(d)) => run!(s, d, |v| v.round().clamp(0.0, 65535.0) as u16),
        (I32(s), I32(d)) => run!(s, d, |v| v.round() as i32),
        (F32(s), F32(d)) => run!(s, d, |v| v as f32),
        _ => {
            return Err(CoreError::Internal(
                "the copy of the volume changed its voxel type",
            ));
        }
    }
    Ok(out)
}
