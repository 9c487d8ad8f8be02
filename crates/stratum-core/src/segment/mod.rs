//! Segmentation: label maps with a segment table, binary masks, and the
//! tools that make them. Every tool is one small type behind [`Tool`] (the
//! way 3D Slicer's Segment Editor effects share hooks).

mod components;
mod labelmap;
mod morphology;
mod tools;

pub use components::{Components, component_at, components, keep_largest, remove_small_islands};
pub use labelmap::{LabelMap, Labels, Segment, segment_colour, totalsegmentator_ct_names};
pub use morphology::{dilate_mm, distance_transform_sq, erode_mm, fill_holes_2d, fill_holes_3d};
pub use tools::*;

use ndarray::Array3;

use crate::volume::Geometry;

/// A binary mask (0 or 1 per voxel) on a volume grid, index order (z, y, x).
#[derive(Clone, Debug, PartialEq)]
pub struct Mask {
    pub data: Array3<u8>,
    pub geometry: Geometry,
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
        let mut lo = [usize::MAX; 3];
        let mut hi = [0usize; 3];
        for ((z, y, x), v) in self.data.indexed_iter() {
            if *v != 0 {
                for (a, i) in [z, y, x].into_iter().enumerate() {
                    lo[a] = lo[a].min(i);
                    hi[a] = hi[a].max(i + 1);
                }
            }
        }
        (lo[0] != usize::MAX).then(|| [(lo[0], hi[0]), (lo[1], hi[1]), (lo[2], hi[2])])
    }
}
