//! Edits as values: everything that changes a [`Document`](super::Document)
//! is one of these, so an edit can be recorded, sent to a follower and
//! replayed. Replaying the same edits on the same document gives the same
//! label map, bit for bit: an edit carries its result (a tool's mask, a
//! model's labels) or everything needed to compute it (a brush stroke's
//! brush and points; brushes limited to an intensity range read the
//! document's scan).
//!
//! Binary form: a version, then per edit a tag and its fields (little
//! endian; masks as their set voxels' box, deflated), read back with every
//! length and value checked, so a damaged or hostile record is an error,
//! never a panic or a huge allocation.

use std::sync::Arc;

use super::SurfaceRecipe;
use crate::edit::{Brush, SliceAxis};
use crate::mesh::SoftField;
use crate::segment::Mask;

/// The binary form this build writes and the newest it reads.
pub const EDIT_FORMAT_VERSION: u32 = 1;
pub(super) const WHAT: &str = "an edit record";

/// One change of the document.
#[derive(Clone, Debug, PartialEq)]
pub enum Edit {
    /// A brush stroke starts on `segment` at `point` (LPS mm); `name` names
    /// its history step ("Paint liver").
    StrokeBegin {
        segment: u16,
        brush: Brush,
        point: [f64; 3],
        name: String,
    },
    /// The stroke goes on to `point`: a capsule from its last point.
    StrokeTo {
        point: [f64; 3],
    },
    /// The stroke ends: one history step.
    StrokeEnd,
    /// A segmentation tool's result (threshold, preset, region growing,
    /// keep-largest-island...): a new segment or a segment's new voxels.
    Tool {
        /// The history step ("Add Bone").
        step: String,
        target: Target,
        mask: Arc<Mask>,
        recipe: SurfaceRecipe,
        /// A new segment's colour (`None`: from its name).
        colour: Option<[u8; 3]>,
    },
    /// A model's labels, each a new segment, in one history step.
    Model {
        step: String,
        segments: Vec<ModelSegment>,
    },
    /// An empty segment to paint into ("Segment N").
    AddEmpty,
    Delete {
        id: u16,
    },
    /// A name, colour or visibility. Consecutive edits of the same field
    /// of the same segment (typing, dragging) are one history step.
    SetField {
        id: u16,
        field: TableField,
        value: FieldValue,
    },
    /// Display only: not a history step.
    SetOpacity {
        id: u16,
        opacity: f32,
    },
    /// How segment `id`'s surface is derived (from its voxels, the scan at
    /// a level, a soft edge): its surface is rebuilt. Not a history step.
    SetRecipe {
        id: u16,
        recipe: SurfaceRecipe,
    },
    /// Fills the slices along `axis` between those where `id` is drawn.
    FillBetween {
        id: u16,
        axis: SliceAxis,
        overwrite: bool,
    },
    Undo,
    Redo,
}

/// What a tool's result does.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// A new segment of this name.
    New(String),
    /// Segment `id`'s voxels become the mask's.
    Replace(u16),
}

/// One label of a model's result.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSegment {
    pub name: String,
    pub colour: [u8; 3],
    pub opacity: f32,
    pub mask: Arc<Mask>,
    /// The network's soft output around it: its surface is the 0.5 level.
    pub soft: Option<Arc<SoftField>>,
}

/// A row field of the segment table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableField {
    Name,
    Colour,
    Visible,
}

/// The new value of a [`TableField`].
#[derive(Clone, Debug, PartialEq)]
pub enum FieldValue {
    Name(String),
    Colour([u8; 3]),
    Visible(bool),
}

impl Edit {
    /// The edit that begins a stroke of the brush tool named `tool`
    /// ("Paint", "Add", "Smooth"...) on segment `segment` = (id, name) at
    /// `point`: the one place a stroke's history step is named, for a
    /// drag (which then sends [`Edit::StrokeTo`] sample by sample as the
    /// hand moves, so the surface follows it) and for a whole
    /// [`BrushStroke`](crate::edit::BrushStroke) run as a tool.
    pub fn stroke_begin(
        tool: &str,
        (segment, name): (u16, &str),
        brush: Brush,
        point: [f64; 3],
    ) -> Edit {
        Edit::StrokeBegin {
            segment,
            brush,
            point,
            name: format!("{tool} {name}"),
        }
    }

    pub fn rename(id: u16, name: impl Into<String>) -> Edit {
        Edit::SetField {
            id,
            field: TableField::Name,
            value: FieldValue::Name(name.into()),
        }
    }

    pub fn recolour(id: u16, colour: [u8; 3]) -> Edit {
        Edit::SetField {
            id,
            field: TableField::Colour,
            value: FieldValue::Colour(colour),
        }
    }

    pub fn set_visible(id: u16, visible: bool) -> Edit {
        Edit::SetField {
            id,
            field: TableField::Visible,
            value: FieldValue::Visible(visible),
        }
    }
}

/// A sequence of edits as one value (what a document went through since
/// its base), with its binary form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EditLog(pub Vec<Edit>);
