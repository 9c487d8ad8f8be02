//! Brushes on the label map: paint and erase on the slice views, add,
//! remove and smooth on the 3D surface. Every input (the slice views, the
//! 3D view, an XR controller) sends [`BrushAction`]s: the begin, the
//! samples and the end of a stroke. This plugin turns them into the
//! document's stroke edits on the selected segment (the core brush joins
//! consecutive samples as capsules; the end is one history step); the
//! chunked remeshing and the full rebuild follow the document's changes.
//! The brush panel's "new empty segment" and "fill between slices" are
//! edits too.

use bevy::prelude::*;
use stratum_core::document::Edit;
use stratum_core::edit::{self, Brush, BrushShape, SliceAxis};
use stratum_core::image::view::{Plane, SliceLayout};

use crate::app::actions::{BrushAction, BrushTool, StrokePhase};
use crate::app::state::document::DocEdit;
use crate::app::state::segments::{Segment, ToolSettings};

/// The brush panel's settings (the XR mode changes the same resource).
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct BrushSettings {
    /// Brushing on: drags on the slice views and the 3D view edit the
    /// selected segment instead of moving the crosshair or the camera.
    pub active: bool,
    /// The tool (on the slices; the 3D view uses [`BrushTool::in_3d`]).
    pub tool: BrushTool,
    pub diameter_mm: f64,
    /// On the slice views: paint this slice only (a disc) or a sphere.
    pub sphere: bool,
    /// Only voxels with intensities in `range` change (HU for CT).
    pub limit_range: bool,
    pub range: (f64, f64),
    /// Paint over other segments' voxels (off: only background and this segment's).
    pub overwrite: bool,
    /// Smoothing strength, 0..1.
    pub smooth_strength: f32,
}

impl Default for BrushSettings {
    fn default() -> Self {
        BrushSettings {
            active: false,
            tool: BrushTool::Paint,
            diameter_mm: 10.0,
            sphere: false,
            limit_range: false,
            range: (-100.0, 300.0),
            overwrite: false,
            smooth_strength: 0.5,
        }
    }
}

/// The core brush of a stroke: the settings at its start, a disc in the
/// slice of the first point for a slice view's 2D brush.
pub fn brush_for(
    tool: BrushTool,
    plane: Option<Plane>,
    point: [f64; 3],
    settings: &BrushSettings,
    volume: &stratum_core::image::volume::Volume,
) -> Brush {
    let shape = match plane {
        None => BrushShape::Sphere,
        Some(p) => {
            // Index axis the view's slices step along (0 x, 1 y, 2 z).
            let a = SliceLayout::new(p, volume.dim(), &volume.geometry).slice_axis();
            let axis = match a {
                2 => SliceAxis::Axial,
                1 => SliceAxis::Coronal,
                _ => SliceAxis::Sagittal,
            };
            let n = [volume.dim().2, volume.dim().1, volume.dim().0][a];
            let slice = volume.geometry.lps_to_index(point)[a]
                .round()
                .clamp(0.0, n as f64 - 1.0);
            BrushShape::Disc {
                axis,
                slice: slice as usize,
            }
        }
    };
    let action = match tool {
        BrushTool::Paint | BrushTool::Add => edit::BrushAction::Paint,
        BrushTool::Erase | BrushTool::Remove => edit::BrushAction::Erase,
        BrushTool::Smooth => edit::BrushAction::Smooth {
            strength: settings.smooth_strength as f64,
        },
    };
    Brush {
        radius_mm: (settings.diameter_mm / 2.0).max(0.05),
        shape,
        action,
        intensity: settings.limit_range.then_some(settings.range),
        overwrite: settings.overwrite,
    }
}

/// A refused stroke says why once, not at every sample.
#[derive(Default)]
struct Refused(bool);

pub struct SculptPlugin;

impl Plugin for SculptPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<BrushSettings>()
            .add_message::<BrushAction>()
            .add_message::<AddEmptySegment>()
            .add_message::<FillBetweenSlices>()
            .add_systems(
                Update,
                (add_empty_segments, fill_between, apply_brush_actions).chain(),
            );
    }
}

/// Brush actions become the document's stroke edits on the selected segment,
/// applied as they come: a drag is a stroke begun (`Edit::stroke_begin`,
/// the same edit a whole `BrushStroke` run as a tool begins with), then one
/// `StrokeTo` per sample, so the surface follows the hand, then its end.
fn apply_brush_actions(
    mut actions: MessageReader<BrushAction>,
    settings: Res<BrushSettings>,
    tools: Res<ToolSettings>,
    segments: Query<&Segment>,
    mut refused: Local<Refused>,
    mut doc: DocEdit,
) {
    for action in actions.read() {
        let Some(study) = doc.study() else {
            continue;
        };
        let stroking = study.doc.stroking().is_some();
        let edit = match action.phase {
            StrokePhase::Begin => {
                let Some(seg) = tools.selected.and_then(|e| segments.get(e).ok()) else {
                    // A stroke begun without a segment ends the one before.
                    if stroking {
                        doc.apply("The stroke", Edit::StrokeEnd);
                    }
                    if !refused.0 {
                        doc.notices().error(format!(
                            "{}: select a segment first (or add an empty one in the Brush panel)",
                            action.tool.name()
                        ));
                    }
                    refused.0 = true;
                    continue;
                };
                refused.0 = false;
                let brush = brush_for(
                    action.tool,
                    action.plane,
                    action.point,
                    &settings,
                    &study.volume,
                );
                Edit::stroke_begin(action.tool.name(), (seg.id, &seg.name), brush, action.point)
            }
            StrokePhase::Sample if stroking => Edit::StrokeTo {
                point: action.point,
            },
            StrokePhase::Sample => continue,
            StrokePhase::End => {
                refused.0 = false;
                if !stroking {
                    continue;
                }
                Edit::StrokeEnd
            }
        };
        doc.apply("The brush", edit);
    }
}

/// Add an empty segment to paint into (it becomes the selected one).
#[derive(Message, Clone, Copy, Debug)]
pub struct AddEmptySegment;

fn add_empty_segments(mut requests: MessageReader<AddEmptySegment>, mut doc: DocEdit) {
    for _ in requests.read() {
        doc.apply("New segment", Edit::AddEmpty);
    }
}

/// Fill the slices between those where the selected segment is painted
/// (along the axis of a slice view): paint a few slices, interpolate the rest.
#[derive(Message, Clone, Copy, Debug)]
pub struct FillBetweenSlices(pub SliceAxis);

fn fill_between(
    mut requests: MessageReader<FillBetweenSlices>,
    tools: Res<ToolSettings>,
    settings: Res<BrushSettings>,
    segments: Query<&Segment>,
    mut doc: DocEdit,
) {
    for FillBetweenSlices(axis) in requests.read() {
        let Some((id, name)) = tools
            .selected
            .and_then(|e| segments.get(e).ok())
            .map(|s| (s.id, s.name.clone()))
        else {
            doc.notices()
                .error("Fill between slices: select the segment you painted first");
            continue;
        };
        let edit = Edit::FillBetween {
            id,
            axis: *axis,
            overwrite: settings.overwrite,
        };
        if let Some(change) = doc.apply("Fill between slices", edit)
            && change.voxels.is_empty()
        {
            doc.notices().info(format!(
                "Nothing to fill: paint {name} on two or more slices with gaps between them"
            ));
        }
    }
}
