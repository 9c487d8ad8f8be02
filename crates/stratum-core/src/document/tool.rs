//! Any segmentation [`Tool`] applied to the document: one function reads
//! the segment the tool acts on, runs it and gives back the edits that
//! apply its result (one history step, undone as one), so every tool —
//! threshold, presets, region growing, islands, morphology, margin, fill
//! holes, logical operations, a brush stroke — enters the document the
//! same way.

use std::sync::Arc;

use super::{Edit, SurfaceRecipe, Target};
use crate::base::error::{CoreError, Result};
use crate::base::progress::Progress;
use crate::image::volume::Volume;
use crate::segment::{LabelMap, Mask, Tool, ToolTarget};

/// A tool's result as edits, with what the tool found to tell the user.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolEdits {
    pub edits: Vec<Edit>,
    pub note: Option<String>,
}

/// Runs `tool` on the document's `labels` and says how to apply its result.
/// `on` is the segment it acts on (id and name, for the history step's
/// name); a tool that makes a new segment reads none.
pub fn tool_edits(
    tool: &dyn Tool,
    volume: &Volume,
    labels: &LabelMap,
    on: Option<(u16, &str)>,
    progress: &Progress,
) -> Result<ToolEdits> {
    let chosen = || on.ok_or_else(|| CoreError::NoSegmentChosen { tool: tool.name() });
    if let Some((brush, points)) = tool.stroke() {
        let on = chosen()?;
        let Some((first, rest)) = points.split_first() else {
            return Ok(ToolEdits {
                edits: Vec::new(),
                note: None,
            });
        };
        let mut edits = vec![Edit::stroke_begin(&tool.name(), on, brush, *first)];
        edits.extend(rest.iter().map(|p| Edit::StrokeTo { point: *p }));
        edits.push(Edit::StrokeEnd);
        return Ok(ToolEdits { edits, note: None });
    }
    let (input, target, step) = match tool.target() {
        ToolTarget::NewSegment(name) => (
            Mask::empty(labels.dim(), labels.geometry),
            Target::New(name.clone()),
            format!("Add {name}"),
        ),
        ToolTarget::Segment => {
            let (id, name) = chosen()?;
            (
                labels.mask(id),
                Target::Replace(id),
                format!("{}: {name}", tool.name()),
            )
        }
    };
    let out = tool.run(volume, &input, progress)?;
    Ok(ToolEdits {
        edits: vec![Edit::Tool {
            step,
            target,
            mask: Arc::new(out.mask),
            recipe: out.level.map_or(SurfaceRecipe::Mask, SurfaceRecipe::Level),
            colour: out.colour,
        }],
        note: out.note,
    })
}
