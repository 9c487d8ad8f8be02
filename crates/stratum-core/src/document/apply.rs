//! What each edit does to the document: the handlers [`Document::apply`]
//! dispatches to (strokes are in `stroke.rs`), each recording its history
//! step and returning what changed.

use std::sync::Arc;

use super::edit::{self, ModelSegment, TableField, Target};
use super::{
    Change, Document, PendingTable, SegmentProps, SurfaceRecipe, add_segment, count_changes,
    mask_region, region_counts,
};
use crate::base::error::{CoreError, Result};
use crate::edit::Step;
use crate::edit::bricks::BrickGrid;
use crate::segment::{Mask, Segment, segment_colour};

impl Document {
    pub(super) fn tool_result(
        &mut self,
        step: String,
        target: Target,
        mask: &Mask,
        recipe: SurfaceRecipe,
        colour: Option<[u8; 3]>,
    ) -> Result<Change> {
        self.check_grid(mask, &step)?;
        match target {
            Target::New(name) => {
                let region = mask_region(mask);
                let (id, mut change) = self.recorded(&step, region, |labels| {
                    Ok(add_segment(labels, &name, colour, mask))
                })?;
                self.props.insert(
                    id,
                    SegmentProps {
                        opacity: 1.0,
                        recipe,
                    },
                );
                change.voxel(id);
                change.added.push(id);
                self.notify_props();
                Ok(change)
            }
            Target::Replace(id) => {
                self.segment_or_err(id)?;
                // A replaced segment loses voxels anywhere: the whole grid.
                let full = BrickGrid::new(mask.dim()).full();
                let (_, mut change) = self.recorded(&step, full, |labels| {
                    labels.erase(id);
                    labels.paint(id, mask);
                    Ok(())
                })?;
                change.voxel(id);
                Ok(change)
            }
        }
    }

    pub(super) fn model_result(
        &mut self,
        step: String,
        segments: Vec<ModelSegment>,
    ) -> Result<Change> {
        for s in &segments {
            self.check_grid(&s.mask, &step)?;
        }
        let full = BrickGrid::new(self.labels.dim()).full();
        let (ids, mut change) = self.recorded(&step, full, |labels| {
            let mut ids = Vec::new();
            for s in &segments {
                // Names stay unique when a model runs twice.
                let mut name = s.name.clone();
                let mut k = 2;
                while labels.segments.iter().any(|t| t.name == name) {
                    name = format!("{} ({k})", s.name);
                    k += 1;
                }
                ids.push(add_segment(labels, &name, Some(s.colour), &s.mask));
            }
            Ok(ids)
        })?;
        for (id, s) in ids.into_iter().zip(segments) {
            self.props.insert(
                id,
                SegmentProps {
                    opacity: s.opacity,
                    recipe: s.soft.map_or(SurfaceRecipe::Mask, SurfaceRecipe::Soft),
                },
            );
            change.voxel(id);
            change.added.push(id);
        }
        self.notify_props();
        Ok(change)
    }

    pub(super) fn add_empty(&mut self) -> Change {
        let before = self.labels.segments.clone();
        let labels = Arc::make_mut(&mut self.labels);
        let id = labels.segments.iter().map(|s| s.id).max().unwrap_or(0) + 1;
        let name = format!("Segment {id}");
        let colour = segment_colour(&name, id);
        labels.segments.push(Segment {
            id,
            name: name.clone(),
            colour,
            visible: true,
        });
        let mut change = Change {
            added: vec![id],
            ..Change::default()
        };
        if let Some(step) = Step::segments(format!("New {name}"), &before, &labels.segments) {
            change.step = Some(step.name().to_string());
            self.push(step);
        }
        change
    }

    pub(super) fn delete(&mut self, id: u16) -> Result<Change> {
        let seg = self.segment_or_err(id)?.clone();
        let full = BrickGrid::new(self.labels.dim()).full();
        let (_, mut change) = self.recorded(&format!("Delete {}", seg.name), full, |labels| {
            labels.erase(id);
            labels.segments.retain(|s| s.id != id);
            Ok(())
        })?;
        // Undoing the delete brings its surface back as it was built.
        let props = self.props.remove(&id).unwrap_or_default();
        self.retired.insert((id, seg.name.clone()), props);
        change.voxels.retain(|v| *v != id);
        change.removed.push(id);
        self.notify_props();
        Ok(change)
    }

    pub(super) fn set_field(
        &mut self,
        id: u16,
        field: TableField,
        value: edit::FieldValue,
    ) -> Result<Change> {
        let current = self.segment_or_err(id)?.clone();
        let mut next = current.clone();
        match (field, value) {
            (TableField::Name, edit::FieldValue::Name(n)) => next.name = n,
            (TableField::Colour, edit::FieldValue::Colour(c)) => next.colour = c,
            (TableField::Visible, edit::FieldValue::Visible(v)) => next.visible = v,
            _ => {
                return Err(CoreError::EditMismatch(
                    "a table field with a value of another kind",
                ));
            }
        }
        if next == current {
            return Ok(Change::default());
        }
        if self.pending.is_none() {
            self.pending = Some(PendingTable {
                field,
                id,
                before: self.labels.segments.clone(),
            });
        }
        let labels = Arc::make_mut(&mut self.labels);
        if let Some(s) = labels.segments.iter_mut().find(|s| s.id == id) {
            *s = next;
        }
        // A visibility toggle is a click, not a drag: it is one step at once.
        if field == TableField::Visible {
            self.seal();
        }
        Ok(Change {
            props: vec![id],
            ..Change::default()
        })
    }

    pub(super) fn set_opacity(&mut self, id: u16, opacity: f32) -> Result<Change> {
        self.segment_or_err(id)?;
        let opacity = if opacity.is_finite() {
            opacity.clamp(0.0, 1.0)
        } else {
            1.0
        };
        let p = self.props.entry(id).or_default();
        if p.opacity == opacity {
            return Ok(Change::default());
        }
        p.opacity = opacity;
        self.notify_props();
        Ok(Change {
            props: vec![id],
            ..Change::default()
        })
    }

    pub(super) fn set_recipe(&mut self, id: u16, recipe: SurfaceRecipe) -> Result<Change> {
        self.segment_or_err(id)?;
        if let SurfaceRecipe::Soft(f) = &recipe {
            let (z, y, x) = f.data.dim();
            let (nz, ny, nx) = self.labels.dim();
            let end = [
                f.origin[0].saturating_add(z),
                f.origin[1].saturating_add(y),
                f.origin[2].saturating_add(x),
            ];
            if end[0] > nz || end[1] > ny || end[2] > nx {
                return Err(CoreError::GridMismatch {
                    what: "the soft edge".into(),
                    found: (end[0], end[1], end[2]),
                    expected: (nz, ny, nx),
                });
            }
        }
        if let SurfaceRecipe::Level(l) = recipe
            && !l.is_finite()
        {
            return Err(CoreError::EditMismatch(
                "a surface level that is not a number",
            ));
        }
        let p = self.props.entry(id).or_default();
        if p.recipe == recipe {
            return Ok(Change::default());
        }
        p.recipe = recipe;
        self.notify_props();
        Ok(Change {
            props: vec![id],
            recipes: vec![id],
            ..Change::default()
        })
    }

    pub(super) fn fill_between(
        &mut self,
        id: u16,
        axis: crate::edit::SliceAxis,
        overwrite: bool,
    ) -> Result<Change> {
        let name = self.segment_or_err(id)?.name.clone();
        let full = BrickGrid::new(self.labels.dim()).full();
        let (_, change) = self.recorded(&format!("Fill between slices of {name}"), full, |l| {
            crate::edit::fill_between_slices(l, id, axis, overwrite)
        })?;
        Ok(change)
    }

    pub(super) fn undo_redo(&mut self, forward: bool) -> Result<Change> {
        let labels = Arc::make_mut(&mut self.labels);
        let table_before: Vec<(u16, String)> = labels
            .segments
            .iter()
            .map(|s| (s.id, s.name.clone()))
            .collect();
        let applied = if forward {
            self.history.redo(labels)?
        } else {
            self.history.undo(labels)?
        };
        let Some(applied) = applied else {
            return Ok(Change::default());
        };
        for (_, o) in &mut self.observers {
            if forward {
                o.redone();
            } else {
                o.undone();
            }
        }
        tracing::info!(
            "{}: {}",
            if forward { "Redo" } else { "Undo" },
            applied.name
        );
        let mut change = Change {
            region: applied.region,
            step: Some(applied.name.clone()),
            ..Change::default()
        };
        // Outside the step's box nothing changed: recount inside it.
        let labels = &*self.labels;
        if !applied.region.is_empty() {
            let full = applied.region.clip(labels.dim()).len()
                == labels.dim().0 * labels.dim().1 * labels.dim().2;
            let after = labels.counts();
            let changed = count_changes(&self.counts, &after);
            self.counts = after;
            for (id, _) in changed {
                change.voxel(id);
            }
            // Segments painted over and back within the box keep their
            // count but changed their voxels.
            if !full {
                let inside = region_counts(labels, applied.region);
                for (id, n) in inside.iter().enumerate().skip(1) {
                    if *n > 0 {
                        change.voxel(id as u16);
                    }
                }
            } else {
                for s in &labels.segments {
                    if self.voxel_count(s.id) > 0 {
                        change.voxel(s.id);
                    }
                }
            }
        }
        if applied.segments_changed {
            let now: Vec<u16> = labels.segments.iter().map(|s| s.id).collect();
            for (id, _) in &table_before {
                if !now.contains(id) {
                    change.removed.push(*id);
                }
            }
            for s in &labels.segments {
                if !table_before.iter().any(|(id, _)| *id == s.id) {
                    change.added.push(s.id);
                } else {
                    change.props.push(s.id);
                }
            }
            // Props follow the table: leaving segments retire theirs,
            // returning ones get theirs back.
            for (id, name) in &table_before {
                if change.removed.contains(id)
                    && let Some(p) = self.props.remove(id)
                {
                    self.retired.insert((*id, name.clone()), p);
                }
            }
            for id in change.added.clone() {
                let name = self.segment(id).map(|s| s.name.clone()).unwrap_or_default();
                if let Some(p) = self.retired.remove(&(id, name)) {
                    self.props.insert(id, p);
                }
            }
            self.notify_props();
        }
        change.voxels.retain(|id| !change.removed.contains(id));
        Ok(change)
    }
}
