//! The brush stroke in progress: its samples change the label map as they
//! come (so surfaces can follow chunk by chunk), and its end records the
//! whole stroke as one history step.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::{Change, Document, apply_delta, count_changes, region_counts};
use crate::base::error::{CoreError, Result};
use crate::edit::bricks::Region;
use crate::edit::{Brush, Stroke, StrokeRecorder};

/// A stroke between its begin and its end.
#[derive(Debug)]
pub(super) struct OpenStroke {
    stroke: Stroke,
    recorder: StrokeRecorder,
    /// Segments whose voxels changed (the painted one, those painted over).
    changed: BTreeSet<u16>,
    region: Region,
}

impl OpenStroke {
    pub fn segment(&self) -> u16 {
        self.stroke.segment
    }
}

impl Document {
    pub(super) fn begin_stroke(
        &mut self,
        segment: u16,
        brush: Brush,
        point: [f64; 3],
        name: String,
    ) -> Result<Change> {
        self.segment_or_err(segment)?;
        if brush.intensity.is_some() && self.scan.is_none() {
            return Err(CoreError::EditMismatch(
                "a brush limited to an intensity range needs the scan, and this label map has none",
            ));
        }
        self.stroke = Some(OpenStroke {
            stroke: Stroke::new(brush, segment),
            recorder: StrokeRecorder::new(name, &self.labels),
            changed: BTreeSet::new(),
            region: Region::empty(),
        });
        self.stroke_to(point)
    }

    /// One sample: the capsule from the stroke's last point to `point`.
    pub(super) fn stroke_to(&mut self, point: [f64; 3]) -> Result<Change> {
        let Some(open) = self.stroke.as_mut() else {
            // A sample after its stroke ended (or was refused): nothing to do.
            return Ok(Change::default());
        };
        // Shared with a background job (a surface build holding the map),
        // the map is copied once here; the rest of the stroke edits in place.
        let labels = Arc::make_mut(&mut self.labels);
        let reach = open.stroke.reach(labels, point);
        open.recorder.touch(labels, reach);
        let before = region_counts(labels, reach);
        let changed = open.stroke.sample(labels, self.scan.as_deref(), point)?;
        let Some(changed) = changed else {
            return Ok(Change::default());
        };
        let after = region_counts(labels, reach);
        let mut change = Change {
            region: changed,
            live: true,
            ..Change::default()
        };
        for (id, delta) in count_changes(&before, &after) {
            apply_delta(&mut self.counts, id, delta);
            open.changed.insert(id);
            change.voxel(id);
        }
        // The painted segment's chunks follow even when a sample only
        // smoothed (same count, other voxels).
        change.voxel(open.stroke.segment);
        open.changed.insert(open.stroke.segment);
        open.region = open.region.union(&changed);
        Ok(change)
    }

    /// Ends the stroke: records its step; the change lists every segment
    /// it changed, for their full rebuilds.
    pub(super) fn end_stroke(&mut self) -> Result<Change> {
        let Some(open) = self.stroke.take() else {
            return Ok(Change::default());
        };
        let step = open.recorder.finish(&self.labels)?;
        let mut change = Change {
            region: open.region,
            ..Change::default()
        };
        let Some(step) = step else {
            return Ok(change);
        };
        change.step = Some(step.name().to_string());
        change.voxels = open.changed.into_iter().collect();
        self.push(step);
        Ok(change)
    }
}
