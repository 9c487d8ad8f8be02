//! Part of a series, for a study the memory cannot hold: a range of its
//! slices, and a copy averaged over blocks of voxels, decoded so that only
//! the small volume is ever allocated.

use std::sync::Mutex;

use ndarray::Array3;
use rayon::prelude::*;

use super::frame::{Shape, decode_slice_into, open};
use super::rescale::Store;
use super::scan::{Series, SliceRef};
use crate::base::error::{CoreError, Result};
use crate::base::progress::Progress;

/// The part of a series to load when the whole does not fit in memory (or
/// is not needed): a range of its slices, and/or a copy averaged over
/// blocks of `downsample`³ voxels. The default is the whole series.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Subset {
    /// First and last slice, 1-based and inclusive, in stack order (after
    /// sorting by position; duplicates count once).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slices: Option<(usize, usize)>,
    /// Average blocks of this many voxels along each axis (0 or 1: full
    /// resolution). Slices past the last whole block are left out.
    #[serde(default, skip_serializing_if = "is_full")]
    pub downsample: u32,
}

fn is_full(f: &u32) -> bool {
    *f <= 1
}

impl Subset {
    /// The whole series at full resolution.
    pub fn is_whole(&self) -> bool {
        self.slices.is_none() && self.downsample <= 1
    }

    /// Parses `A-B` (1-based, inclusive) for `--slices`.
    pub fn parse_range(text: &str) -> std::result::Result<(usize, usize), String> {
        let (a, b) = text
            .split_once(['-', ':'])
            .ok_or_else(|| format!("{text:?}: give the first and last slice, e.g. 1-200"))?;
        let num = |t: &str| {
            t.trim()
                .parse::<usize>()
                .ok()
                .filter(|&v| v >= 1)
                .ok_or_else(|| format!("{text:?}: slices are numbered from 1"))
        };
        let (a, b) = (num(a)?, num(b)?);
        if b <= a {
            return Err(format!(
                "{text:?}: the last slice must come after the first"
            ));
        }
        Ok((a, b))
    }

    /// A short description for titles and reports: "slices 1-200, 1/2 resolution".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some((a, b)) = self.slices {
            parts.push(format!("slices {a}-{b}"));
        }
        if self.downsample > 1 {
            parts.push(format!("1/{} resolution", self.downsample));
        }
        parts.join(", ")
    }
}

/// Decodes a series averaged over blocks of f x f x f voxels: each frame
/// is decoded full size (one buffer per task), summed over f x f in-plane
/// blocks and added into its output plane's sums, so only the small volume
/// is ever allocated. Sums are f32: exact for u16 blocks up to 4³, within
/// a few units in 33 million at 8³.
pub(super) fn decode_reduced<T: Store>(
    series: &Series,
    slices: &[SliceRef],
    shape: Shape,
    progress: &Progress,
) -> Result<Array3<T>> {
    let Shape { rows, cols, f } = shape;
    let (ro, co, no) = (rows / f, cols / f, slices.len() / f);
    let sums: Vec<Mutex<Vec<f32>>> = (0..no).map(|_| Mutex::new(vec![0f32; ro * co])).collect();
    let mut per_file: Vec<Vec<(usize, &SliceRef)>> =
        (0..series.files.len()).map(|_| Vec::new()).collect();
    for (i, s) in slices.iter().enumerate().take(no * f) {
        per_file[s.file].push((i / f, s));
    }
    per_file
        .into_par_iter()
        .filter(|jobs| !jobs.is_empty())
        .try_for_each(|jobs| -> Result<()> {
            progress.check()?;
            let header = &series.files[jobs[0].1.file];
            let obj = open(&header.path)?;
            let mut frame = vec![0f32; rows * cols];
            let mut reduced = vec![0f32; ro * co];
            for (k, s) in jobs {
                progress.check()?;
                decode_slice_into(&obj, header, s, &mut frame)?;
                for (y, out_row) in reduced.chunks_exact_mut(co).enumerate() {
                    out_row.fill(0.0);
                    for line in frame[y * f * cols..].chunks_exact(cols).take(f) {
                        for (o, block) in out_row.iter_mut().zip(line.chunks_exact(f)) {
                            *o += block.iter().sum::<f32>();
                        }
                    }
                }
                let mut plane = sums[k].lock().unwrap_or_else(|e| e.into_inner());
                for (p, r) in plane.iter_mut().zip(&reduced) {
                    *p += r;
                }
                progress.advance(1);
            }
            Ok(())
        })?;
    let count = (f * f * f) as f64;
    let mut data = Vec::with_capacity(no * ro * co);
    for plane in sums {
        let plane = plane.into_inner().unwrap_or_else(|e| e.into_inner());
        for v in plane {
            let mean = v as f64 / count;
            let mean = if T::INTEGRAL { mean.round() } else { mean };
            data.push(T::store(mean).ok_or(CoreError::ValueOutOfRange)?);
        }
    }
    Array3::from_shape_vec((no, ro, co), data)
        .map_err(|_| CoreError::Internal("the averaged slices do not fill the volume"))
}
