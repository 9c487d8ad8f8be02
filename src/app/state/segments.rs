//! The segments (one entity each under the patient space, with its built
//! surface once there is one, and picking on those surfaces) and the tool
//! settings with the selected segment, read by most features and panels.

use std::sync::Arc;

use bevy::prelude::*;
use stratum_core::mesh::SurfaceMesh;
use stratum_core::segment::{LogicOp, Mask, MorphOp, Preset};

use super::space::AnatomyPose;

/// One segment of the study, as shown: the document's table row (name,
/// colour, visibility, opacity) mirrored on its entity with its volumes.
/// The document is the truth; panels change it through edits, and the
/// segments feature copies the result here.
#[derive(Component, Clone, Debug, PartialEq)]
pub struct Segment {
    pub id: u16,
    pub name: String,
    pub colour: [u8; 3],
    pub visible: bool,
    pub opacity: f32,
    /// Volume from the voxels (mL).
    pub voxel_ml: f64,
    /// Measurements of the built surface, once there is one.
    pub surface: Option<SurfaceStats>,
}

/// The built surface of a segment, in LPS mm (for picking, measuring,
/// export); inserted by meshing.
#[derive(Component, Clone, Debug)]
pub struct SegmentSurface(pub Arc<SurfaceMesh>);

/// The segment's surface shows a margin map (vertex colours; its
/// material's colour is white meanwhile).
#[derive(Component, Clone, Copy, Debug)]
pub struct MarginColoured;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SurfaceStats {
    pub volume_ml: f64,
    pub area_mm2: f64,
    pub triangles: usize,
    pub watertight: bool,
}

/// The settings of the tools panel.
#[derive(Resource, Debug)]
pub struct ToolSettings {
    /// Threshold window (HU for CT).
    pub lo: f64,
    pub hi: f64,
    /// Show the threshold live on the slice views.
    pub preview: bool,
    /// The next click on a slice places a region-growing seed.
    pub seed_mode: bool,
    /// The next click on a slice picks the island of the selected segment
    /// to keep (the seed picking of region growing, for "Keep an island").
    pub island_mode: bool,
    /// The segment the island tools act on.
    pub selected: Option<Entity>,
    /// The preset last picked: "Add segment" makes a segment named and
    /// coloured after it, with its clean-up, at the window shown.
    pub preset: Option<Preset>,
    /// The level the preset found from the scan (shown beside the window),
    /// or `None` while it is being found or for presets that do not.
    pub found_level: Option<f64>,
    /// A level is being found in the background.
    pub finding_level: bool,
    /// The tool that changes the selected segment, with its parameters.
    pub modify: ModifyTool,
    /// The last preview computed, drawn on the slices while it still
    /// shows what applying would do.
    pub shown: Option<ShownPreview>,
}

/// The tools that change the selected segment (the core's morphology,
/// margin, fill holes, islands, logical and masking tools), as the panel
/// sets them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModifyTool {
    pub kind: ModifyKind,
    /// Morphology: the ball's radius.
    pub radius_mm: f64,
    /// Margin: grow (positive) or shrink (negative).
    pub margin_mm: f64,
    /// Fill holes: slice by slice (axial) instead of in 3D.
    pub per_slice: bool,
    /// Remove small islands: those under this volume go.
    pub min_mm3: f64,
    /// Logical and masking: the other segment.
    pub other: Option<Entity>,
    /// Keep an island: the voxel (x, y, z) picked on a slice.
    pub point: Option<[usize; 3]>,
    /// Slicer's masking setting: the tool changes voxels only inside (or
    /// outside) this segment; `None`: everywhere.
    pub area: Option<EditArea>,
}

/// Where a tool may change voxels: inside or outside a segment (its id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EditArea {
    pub segment: u16,
    pub inside: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModifyKind {
    Morphology(MorphOp),
    Margin,
    FillHoles,
    RemoveIslands,
    /// Keep the island at a point picked on a slice.
    KeepIsland,
    Logical(LogicOp),
}

impl ModifyKind {
    pub const ALL: [ModifyKind; 11] = [
        ModifyKind::Morphology(MorphOp::Dilate),
        ModifyKind::Morphology(MorphOp::Erode),
        ModifyKind::Morphology(MorphOp::Open),
        ModifyKind::Morphology(MorphOp::Close),
        ModifyKind::Margin,
        ModifyKind::FillHoles,
        ModifyKind::RemoveIslands,
        ModifyKind::KeepIsland,
        ModifyKind::Logical(LogicOp::Union),
        ModifyKind::Logical(LogicOp::Intersect),
        ModifyKind::Logical(LogicOp::Subtract),
    ];

    pub fn label(self) -> &'static str {
        match self {
            ModifyKind::Morphology(MorphOp::Dilate) => "Dilate",
            ModifyKind::Morphology(MorphOp::Erode) => "Erode",
            ModifyKind::Morphology(MorphOp::Open) => "Open",
            ModifyKind::Morphology(MorphOp::Close) => "Close",
            ModifyKind::Margin => "Margin",
            ModifyKind::FillHoles => "Fill holes",
            ModifyKind::RemoveIslands => "Remove small islands",
            ModifyKind::KeepIsland => "Keep the island at a point",
            ModifyKind::Logical(LogicOp::Union) => "Union with a segment",
            ModifyKind::Logical(LogicOp::Intersect) => "Intersect with a segment",
            ModifyKind::Logical(LogicOp::Subtract) => "Subtract a segment",
        }
    }
}

impl Default for ModifyTool {
    fn default() -> Self {
        ModifyTool {
            kind: ModifyKind::Morphology(MorphOp::Close),
            radius_mm: 2.0,
            margin_mm: 3.0,
            per_slice: false,
            min_mm3: 100.0,
            other: None,
            point: None,
            area: None,
        }
    }
}

/// A tool's previewed result: what it was computed for (the tool, the
/// segment it read, the document's generation) and the mask.
#[derive(Clone, Debug)]
pub struct ShownPreview {
    /// The segment-changing tool it previews (`None`: another tool).
    pub tool: Option<ModifyTool>,
    pub on: Option<Entity>,
    pub generation: u64,
    pub mask: Arc<Mask>,
}

impl ToolSettings {
    /// The preview to draw: the one computed for the tool, parameters and
    /// segment the panel shows now, on the document as it is.
    pub fn current_preview(&self, generation: u64) -> Option<&Arc<Mask>> {
        self.shown
            .as_ref()
            .filter(|s| {
                s.tool == Some(self.modify) && s.on == self.selected && s.generation == generation
            })
            .map(|s| &s.mask)
    }
}

impl Default for ToolSettings {
    fn default() -> Self {
        ToolSettings {
            lo: 250.0,
            hi: 3071.0,
            preview: false,
            seed_mode: false,
            island_mode: false,
            selected: None,
            preset: None,
            found_level: None,
            finding_level: false,
            modify: ModifyTool::default(),
            shown: None,
        }
    }
}

/// The nearest visible surface point along a world ray.
pub fn pick<'a>(
    ray: &Ray3d,
    pose: &AnatomyPose,
    surfaces: impl Iterator<Item = (&'a Segment, &'a SegmentSurface)>,
) -> Option<Vec3> {
    pick_surface(ray, pose, surfaces.map(|(s, m)| ((), s, m))).map(|(_, p)| p)
}

/// The nearest visible surface point along a world ray, and the tag (e.g.
/// the entity) of the segment it lies on.
pub fn pick_surface<'a, T>(
    ray: &Ray3d,
    pose: &AnatomyPose,
    surfaces: impl Iterator<Item = (T, &'a Segment, &'a SegmentSurface)>,
) -> Option<(T, Vec3)> {
    let o = pose.world_to_lps(ray.origin);
    let d = pose.world_dir_to_lps(*ray.direction).normalize();
    let origin = [o[0] as f32, o[1] as f32, o[2] as f32];
    let (tag, best) = surfaces
        .filter(|(_, seg, _)| seg.visible && seg.opacity > 0.05)
        .filter_map(|(tag, _, s)| s.0.raycast(origin, d.to_array()).map(|t| (tag, t)))
        .min_by(|a, b| a.1.total_cmp(&b.1))?;
    let p = Vec3::from(origin) + d * best;
    Some((tag, pose.lps_to_world([p.x as f64, p.y as f64, p.z as f64])))
}
