//! A brush stroke as a segmentation [`Tool`]: its brush and its points are
//! the tool's parameters, so a stroke can be previewed, applied at once
//! (scripted, replayed, from a test) and enters the document as the same
//! stroke edits a drag sends live.

use super::{Brush, BrushAction, Stroke};
use crate::base::error::Result;
use crate::base::progress::Progress;
use crate::image::volume::Volume;
use crate::segment::{LabelMap, Mask, Tool};

/// A whole stroke: `points` (LPS mm) joined by capsules of `brush`.
#[derive(Clone, Debug, PartialEq)]
pub struct BrushStroke {
    pub brush: Brush,
    pub points: Vec<[f64; 3]>,
}

impl Tool for BrushStroke {
    fn name(&self) -> String {
        match self.brush.action {
            BrushAction::Paint => "Paint",
            BrushAction::Erase => "Erase",
            BrushAction::Smooth { .. } => "Smooth",
        }
        .into()
    }

    /// The stroke on the segment's mask alone (there is no other segment
    /// to keep: the document's stroke edits keep them, see [`Tool::stroke`]).
    fn apply(&self, volume: &Volume, mask: &Mask, progress: &Progress) -> Result<Mask> {
        progress.begin("brush", self.points.len() as u64);
        let mut map = LabelMap::empty(mask.dim(), mask.geometry);
        let id = map.add_segment("stroke", mask);
        let mut stroke = Stroke::new(
            Brush {
                overwrite: true,
                ..self.brush
            },
            id,
        );
        for p in &self.points {
            progress.check()?;
            stroke.sample(&mut map, Some(volume), *p)?;
            progress.advance(1);
        }
        Ok(map.mask(id))
    }

    fn stroke(&self) -> Option<(Brush, &[[f64; 3]])> {
        Some((self.brush, &self.points))
    }
}
