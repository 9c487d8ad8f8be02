//! Segmentation: label maps with a segment table, binary masks, and the
//! tools that make them. Every tool is one small type behind [`Tool`] (the
//! way 3D Slicer's Segment Editor effects share hooks).

mod bits;
mod components;
pub mod error;
mod labelmap;
mod morphology;
mod preset;
mod tools;

pub(crate) use bits::BitBox;
pub use bits::{BitMask, SegmentMask};
pub use components::{Components, component_at, components, keep_largest, remove_small_islands};
pub use labelmap::{
    LabelMap, LabelValue, Labels, Segment, segment_colour, totalsegmentator_ct_names,
};
pub use morphology::{dilate_mm, distance_transform_sq, erode_mm, fill_holes_2d, fill_holes_3d};
pub use preset::{
    PresetSegment, half_way_level, half_way_level_bits, preset_segment, preset_segment_packed,
};
pub use tools::*;

use ndarray::Array3;

use crate::image::volume::Geometry;

/// A binary mask (0 or 1 per voxel) on a volume grid, index order (z, y, x).
#[derive(Clone, Debug, PartialEq)]
pub struct Mask {
    pub data: Array3<u8>,
    pub geometry: Geometry,
}

/// Index of the first non-zero byte; 32 bytes are tested at a time (an OR
/// the compiler vectorises) before one block is searched.
fn first_nonzero(s: &[u8]) -> Option<usize> {
    let block = s
        .chunks(32)
        .position(|c| c.iter().fold(0, |a, b| a | b) != 0)?;
    let start = block * 32;
    s[start..].iter().position(|v| *v != 0).map(|i| start + i)
}

/// Index of the last non-zero byte, as [`first_nonzero`] from the end.
fn last_nonzero(s: &[u8]) -> Option<usize> {
    let block = s
        .rchunks(32)
        .position(|c| c.iter().fold(0, |a, b| a | b) != 0)?;
    let end = s.len() - block * 32;
    s[..end].iter().rposition(|v| *v != 0)
}

impl Mask {
    pub fn empty(dim: (usize, usize, usize), geometry: Geometry) -> Self {
        Mask {
            data: Array3::zeros(dim),
            geometry,
        }
    }

    pub fn dim(&self) -> (usize, usize, usize) {
        self.data.dim()
    }

    /// Number of voxels set.
    pub fn count(&self) -> usize {
        use rayon::prelude::*;
        self.data
            .as_slice_memory_order()
            .expect("contiguous")
            .par_iter()
            .filter(|v| **v != 0)
            .count()
    }

    /// Volume of one voxel in mm³.
    pub fn voxel_mm3(&self) -> f64 {
        let s = self.geometry.spacing;
        s[0] * s[1] * s[2]
    }

    /// Volume of the mask in millilitres.
    pub fn volume_ml(&self) -> f64 {
        self.count() as f64 * self.voxel_mm3() / 1000.0
    }

    /// Smallest box (z, y, x ranges, end exclusive) that holds every set voxel.
    pub fn bounds(&self) -> Option<[(usize, usize); 3]> {
        use ndarray::Axis;
        use rayon::prelude::*;
        type Box3 = ([usize; 3], [usize; 3]);
        let empty: Box3 = ([usize::MAX; 3], [0; 3]);
        let merge = |a: Box3, b: Box3| -> Box3 {
            (
                std::array::from_fn(|k| a.0[k].min(b.0[k])),
                std::array::from_fn(|k| a.1[k].max(b.1[k])),
            )
        };
        let (lo, hi) = self
            .data
            .axis_iter(Axis(0))
            .into_par_iter()
            .enumerate()
            .map(|(z, plane)| {
                let mut b = empty;
                for (y, row) in plane.outer_iter().enumerate() {
                    let found = match row.as_slice() {
                        Some(r) => first_nonzero(r).map(|x0| (x0, last_nonzero(r).unwrap_or(x0))),
                        // Any memory layout: a Mask may be built from a view.
                        None => row
                            .iter()
                            .position(|v| *v != 0)
                            .map(|x0| (x0, row.iter().rposition(|v| *v != 0).unwrap_or(x0))),
                    };
                    if let Some((x0, x1)) = found {
                        b = merge(b, ([z, y, x0], [z + 1, y + 1, x1 + 1]));
                    }
                }
                b
            })
            .reduce(|| empty, merge);
        (lo[0] != usize::MAX).then(|| [(lo[0], hi[0]), (lo[1], hi[1]), (lo[2], hi[2])])
    }
}
