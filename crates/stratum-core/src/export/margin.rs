//! A margin map carried into the exports: one exported segment's surface
//! coloured by its distance to another segment (red under the first
//! threshold, yellow under the second, its own colour beyond), measured
//! on the mesh as exported (reduced or not) with
//! [`crate::planning::distance::margin_map`]. GLB and the share page carry
//! it as vertex colours (COLOR_0), OBJ as `v x y z r g b` and, textured, in
//! the atlas; STL and 3MF stay in flat colours.

use super::ExportSegment;
use super::error::ExportError;
use crate::base::error::Result;
use crate::base::progress::Progress;
use crate::mesh::SurfaceMesh;
use crate::planning::distance::{margin_colour, margin_map};
use crate::segment::LabelMap;

/// The near and middle colours of the app's margin map (sRGB): red, yellow.
pub const MARGIN_COLOURS: [[u8; 3]; 2] = [[220, 38, 38], [245, 196, 40]];

/// The thresholds a margin map starts with (mm): red under 5, yellow under 10.
pub const MARGIN_THRESHOLDS_MM: [f32; 2] = [5.0, 10.0];

/// Colour one exported segment by its distance to another segment.
#[derive(Clone, Copy, Debug)]
pub struct MarginPaint<'a> {
    /// Which of the exported segments is coloured (index in the slice given
    /// to the exporter).
    pub segment: usize,
    /// The label map holding the other segment (for the coarse distance
    /// field beyond the thresholds), on the grid the meshes were made on.
    pub labels: &'a LabelMap,
    /// The other segment's label in `labels`.
    pub other: u16,
    /// The other segment's surface, the one the distances are exact to.
    pub other_mesh: &'a SurfaceMesh,
    /// Near and middle thresholds, mm (the first below the second).
    pub thresholds_mm: [f32; 2],
    /// Near and middle colours (sRGB); beyond: the segment's own colour.
    pub colours: [[u8; 3]; 2],
}

impl<'a> MarginPaint<'a> {
    /// Segment `segment` coloured by its distance to label `other` of
    /// `labels` (surface `other_mesh`), at 5 and 10 mm, in red and yellow.
    pub fn new(
        segment: usize,
        labels: &'a LabelMap,
        other: u16,
        other_mesh: &'a SurfaceMesh,
    ) -> Self {
        MarginPaint {
            segment,
            labels,
            other,
            other_mesh,
            thresholds_mm: MARGIN_THRESHOLDS_MM,
            colours: MARGIN_COLOURS,
        }
    }
}

/// A margin measured on the exported mesh: the segment coloured and each
/// of its vertices' distance (mm) and colour.
#[derive(Clone, Debug)]
pub(crate) struct Painted {
    pub segment: usize,
    pub distances: Vec<f32>,
    pub thresholds_mm: [f32; 2],
    /// Near, middle, beyond.
    pub colours: [[u8; 3]; 3],
}

impl Painted {
    pub fn colour(&self, distance_mm: f32) -> [u8; 3] {
        margin_colour(distance_mm, self.thresholds_mm, self.colours)
    }

    /// The colour of every vertex of the coloured segment.
    pub fn vertex_colours(&self) -> Vec<[u8; 3]> {
        self.distances.iter().map(|&d| self.colour(d)).collect()
    }

    /// The vertex colours of segment `k`, if it is the one coloured.
    pub fn colours_of(painted: Option<&Painted>, k: usize) -> Option<Vec<[u8; 3]>> {
        painted
            .filter(|p| p.segment == k)
            .map(Painted::vertex_colours)
    }
}

/// Measures the margin `paint` asks for on the exported meshes.
pub(crate) fn paint(
    segments: &[ExportSegment<'_>],
    paint: &MarginPaint<'_>,
    progress: &Progress,
) -> Result<Painted> {
    let Some(seg) = segments.get(paint.segment) else {
        return Err(ExportError::MarginSegment {
            number: paint.segment + 1,
            exported: segments.len(),
        }
        .into());
    };
    let [t0, t1] = paint.thresholds_mm;
    if !(t0.is_finite() && t1.is_finite() && 0.0 < t0 && t0 <= t1) {
        return Err(ExportError::MarginThresholds { near: t0, far: t1 }.into());
    }
    let distances = margin_map(
        paint.labels,
        paint.other,
        seg.mesh,
        paint.other_mesh,
        f64::from(t1),
        progress,
    )?;
    Ok(Painted {
        segment: paint.segment,
        distances,
        thresholds_mm: paint.thresholds_mm,
        colours: [paint.colours[0], paint.colours[1], seg.colour],
    })
}
