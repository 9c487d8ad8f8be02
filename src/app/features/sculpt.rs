//! Brushes on the label map: paint and erase on the slice views, add,
//! remove and smooth on the 3D surface. Every input (the slice views, the
//! 3D view, later an XR controller) sends [`BrushAction`]s: the begin, the
//! samples and the end of a stroke. This plugin applies each sample to the
//! selected segment's voxels through the core brushes (consecutive samples
//! joined as capsules), records the stroke as one history step, asks the
//! local remeshing to follow, and rebuilds the full surface when it ends.

use std::collections::BTreeSet;
use std::sync::Arc;

use bevy::prelude::*;
use stratum_core::edit::bricks::Region;
use stratum_core::edit::{self, Brush, BrushShape, SliceAxis, Stroke, StrokeRecorder};
use stratum_core::view::{Plane, SliceLayout};

pub use crate::app::actions::{BrushAction, BrushTool, StrokePhase};
use crate::app::history::{EditHistory, count_changes, region_counts};
use crate::app::jobs::Notices;
use crate::app::loading::{Study, StudyLoaded};
use crate::app::meshing::{BuildMeshes, SegmentSurface};
use crate::app::segmentation::{Segment, ToolSettings};

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
    volume: &stratum_core::Volume,
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

/// The stroke in progress.
pub struct ActiveStroke {
    pub segment: u16,
    pub tool: BrushTool,
    pub plane: Option<Plane>,
    stroke: Stroke,
    recorder: StrokeRecorder,
    /// Every voxel box the stroke may have changed.
    pub region: Region,
    /// Segments whose voxels changed (the painted one, and those painted over).
    pub changed: BTreeSet<u16>,
    pub samples: usize,
}

#[derive(Resource, Default)]
pub struct StrokeState {
    pub current: Option<ActiveStroke>,
    /// Set when a refused stroke already said why (one notice per stroke).
    refused: bool,
}

impl StrokeState {
    pub fn is_active(&self) -> bool {
        self.current.is_some()
    }
}

/// Sent after each applied sample: the voxels of `region` changed for
/// these segments (the local remeshing redoes their chunks there).
#[derive(Message, Clone, Debug)]
pub struct VoxelsEdited {
    pub ids: Vec<u16>,
    pub region: Region,
}

/// Sent when a stroke ended (its step recorded) or an undo changed
/// surfaces: full rebuilds were asked for `rebuilt`; `emptied` lost theirs.
#[derive(Message, Clone, Debug, Default)]
pub struct StrokeEnded {
    pub rebuilt: Vec<u16>,
    pub emptied: Vec<u16>,
}

/// The brush systems, for ordering (the remeshing follows them).
#[derive(SystemSet, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SculptSet;

pub struct SculptPlugin;

impl Plugin for SculptPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<BrushSettings>()
            .init_resource::<StrokeState>()
            .add_message::<BrushAction>()
            .add_message::<VoxelsEdited>()
            .add_message::<StrokeEnded>()
            .add_message::<AddEmptySegment>()
            .add_message::<FillBetweenSlices>()
            .add_systems(
                Update,
                (
                    drop_stroke_on_load,
                    add_empty_segments,
                    fill_between,
                    apply_brush_actions,
                )
                    .chain()
                    .in_set(SculptSet),
            );
    }
}

/// A stroke never crosses studies.
fn drop_stroke_on_load(mut loaded: MessageReader<StudyLoaded>, mut stroke: ResMut<StrokeState>) {
    if loaded.read().last().is_some() {
        stroke.current = None;
    }
}

#[allow(clippy::too_many_arguments)]
fn apply_brush_actions(
    mut commands: Commands,
    mut actions: MessageReader<BrushAction>,
    study: Option<ResMut<Study>>,
    settings: Res<BrushSettings>,
    mut stroke: ResMut<StrokeState>,
    tools: Res<ToolSettings>,
    mut segments: Query<(Entity, &mut Segment)>,
    mut history: ResMut<EditHistory>,
    mut notices: ResMut<Notices>,
    mut build: MessageWriter<BuildMeshes>,
    mut edited: MessageWriter<VoxelsEdited>,
    mut ended: MessageWriter<StrokeEnded>,
) {
    let Some(mut study) = study else {
        actions.clear();
        return;
    };
    for action in actions.read() {
        match action.phase {
            StrokePhase::Begin => {
                if let Some(s) = stroke.current.take() {
                    finish(
                        &mut commands,
                        s,
                        &mut study,
                        &mut segments,
                        &mut history,
                        &mut notices,
                        &mut build,
                        &mut ended,
                    );
                }
                let selected = tools.selected.and_then(|e| segments.get(e).ok());
                let Some((_, seg)) = selected else {
                    if !stroke.refused {
                        notices.error(format!(
                            "{}: select a segment first (or add an empty one in the Brush panel)",
                            action.tool.name()
                        ));
                    }
                    stroke.refused = true;
                    continue;
                };
                stroke.refused = false;
                let name = format!("{} {}", action.tool.name(), seg.name);
                let brush = brush_for(
                    action.tool,
                    action.plane,
                    action.point,
                    &settings,
                    &study.volume,
                );
                stroke.current = Some(ActiveStroke {
                    segment: seg.id,
                    tool: action.tool,
                    plane: action.plane,
                    stroke: Stroke::new(brush, seg.id),
                    recorder: StrokeRecorder::new(name, &study.labels),
                    region: Region::empty(),
                    changed: BTreeSet::new(),
                    samples: 0,
                });
                let s = stroke.current.as_mut().expect("just set");
                apply_sample(
                    s,
                    action.point,
                    &mut study,
                    &mut segments,
                    &mut notices,
                    &mut edited,
                );
            }
            StrokePhase::Sample => {
                if let Some(s) = stroke.current.as_mut() {
                    apply_sample(
                        s,
                        action.point,
                        &mut study,
                        &mut segments,
                        &mut notices,
                        &mut edited,
                    );
                }
            }
            StrokePhase::End => {
                stroke.refused = false;
                if let Some(s) = stroke.current.take() {
                    finish(
                        &mut commands,
                        s,
                        &mut study,
                        &mut segments,
                        &mut history,
                        &mut notices,
                        &mut build,
                        &mut ended,
                    );
                }
            }
        }
    }
}

/// Applies the capsule from the stroke's last point to `point`.
fn apply_sample(
    stroke: &mut ActiveStroke,
    point: [f64; 3],
    study: &mut Study,
    segments: &mut Query<(Entity, &mut Segment)>,
    notices: &mut Notices,
    edited: &mut MessageWriter<VoxelsEdited>,
) {
    let volume = study.volume.clone();
    // Shared with a background job (a surface build holding the map) the
    // map is copied once here; the rest of the stroke edits it in place.
    let labels = Arc::make_mut(&mut study.labels);
    let reach = stroke.stroke.reach(labels, point);
    stroke.recorder.touch(labels, reach);
    let before = region_counts(labels, reach);
    let changed = match stroke.stroke.sample(labels, Some(&volume), point) {
        Ok(Some(r)) => r,
        Ok(None) => return,
        Err(e) => {
            notices.error(format!("The brush stopped: {e}"));
            return;
        }
    };
    let after = region_counts(labels, reach);
    stroke.samples += 1;
    stroke.region = stroke.region.union(&changed);
    let voxel_ml = labels.geometry.spacing.iter().product::<f64>() / 1000.0;
    let changes = count_changes(&before, &after);
    for (id, delta) in &changes {
        stroke.changed.insert(*id);
        if let Some((_, mut seg)) = segments.iter_mut().find(|(_, s)| s.id == *id) {
            seg.voxel_ml = (seg.voxel_ml + *delta as f64 * voxel_ml).max(0.0);
        }
    }
    study.labels_generation += 1;
    // Ids painted over lose voxels too (their chunks follow as well).
    let mut ids: Vec<u16> = changes.iter().map(|c| c.0).collect();
    if !ids.contains(&stroke.segment) {
        ids.push(stroke.segment);
    }
    edited.write(VoxelsEdited {
        ids,
        region: changed,
    });
}

/// Ends a stroke: records its step and rebuilds the changed surfaces with
/// the usual recipe (an emptied segment loses its surface instead).
#[allow(clippy::too_many_arguments)]
fn finish(
    commands: &mut Commands,
    stroke: ActiveStroke,
    study: &mut Study,
    segments: &mut Query<(Entity, &mut Segment)>,
    history: &mut EditHistory,
    notices: &mut Notices,
    build: &mut MessageWriter<BuildMeshes>,
    ended: &mut MessageWriter<StrokeEnded>,
) {
    match stroke.recorder.finish(&study.labels) {
        Ok(step) => history.record(step),
        Err(e) => notices.error(format!("The stroke could not be recorded for undo: {e}")),
    }
    let ids: Vec<u16> = stroke.changed.into_iter().collect();
    if ids.is_empty() {
        return;
    }
    let mut rebuild = Vec::new();
    let mut emptied = Vec::new();
    for (e, mut seg) in segments.iter_mut() {
        if !ids.contains(&seg.id) {
            continue;
        }
        // Volumes are kept in voxels (exact): under half a voxel is none.
        let voxel_ml = study.labels.geometry.spacing.iter().product::<f64>() / 1000.0;
        if seg.voxel_ml < voxel_ml * 0.5 {
            seg.voxel_ml = 0.0;
            seg.surface = None;
            commands.entity(e).remove::<(Mesh3d, SegmentSurface)>();
            emptied.push(seg.id);
        } else {
            rebuild.push(seg.id);
        }
    }
    if !rebuild.is_empty() {
        build.write(BuildMeshes {
            ids: rebuild.clone(),
        });
    }
    ended.write(StrokeEnded {
        rebuilt: rebuild,
        emptied,
    });
}

/// The first voxel of segment `id` along a ray (LPS mm origin and
/// direction), as the LPS centre of that voxel: where a 3D brush sits.
/// Marches the label map itself, so it follows the voxels while a stroke
/// changes them (the built surface lags until its rebuild). Points on the
/// cut-away side of `clips` are skipped, as the user does not see them.
pub fn pick_segment(
    labels: &stratum_core::segment::LabelMap,
    id: u16,
    origin: [f64; 3],
    dir: [f64; 3],
    clips: &[stratum_core::view::ClipPlane],
) -> Option<[f64; 3]> {
    let g = &labels.geometry;
    let (nz, ny, nx) = labels.dim();
    let n = [nx as f64, ny as f64, nz as f64];
    let o = g.lps_to_index(origin);
    let tip = g.lps_to_index([origin[0] + dir[0], origin[1] + dir[1], origin[2] + dir[2]]);
    let d = [tip[0] - o[0], tip[1] - o[1], tip[2] - o[2]];
    // Clip the ray to the grid's box (slab method), in index units.
    let (mut t0, mut t1) = (0.0f64, f64::MAX);
    for k in 0..3 {
        let (lo, hi) = (-0.5, n[k] - 0.5);
        if d[k].abs() < 1e-12 {
            if o[k] < lo || o[k] > hi {
                return None;
            }
            continue;
        }
        let (a, b) = ((lo - o[k]) / d[k], (hi - o[k]) / d[k]);
        t0 = t0.max(a.min(b));
        t1 = t1.min(a.max(b));
    }
    if t0 > t1 {
        return None;
    }
    // Steps of at most a third of a voxel along any index axis.
    let step = 1.0 / (3.0 * d.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12));
    let mut t = t0;
    while t <= t1 {
        let i = [o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]];
        let v = i.map(|c| c.round());
        if v.iter().zip(n).all(|(c, m)| *c >= 0.0 && *c < m) {
            let (x, y, z) = (v[0] as usize, v[1] as usize, v[2] as usize);
            if labels.get(z, y, x) == id {
                let p = g.index_to_lps(v);
                if clips.iter().all(|c| c.distance(p) <= 0.0) {
                    return Some(p);
                }
            }
        }
        t += step;
    }
    None
}

/// Add an empty segment to paint into (it becomes the selected one).
#[derive(Message, Clone, Copy, Debug)]
pub struct AddEmptySegment;

fn add_empty_segments(
    mut commands: Commands,
    mut requests: MessageReader<AddEmptySegment>,
    study: Option<ResMut<Study>>,
    root: Query<Entity, With<crate::app::space::PatientSpace>>,
    mut tools: ResMut<ToolSettings>,
    mut history: ResMut<EditHistory>,
) {
    let (Some(mut study), Ok(root)) = (study, root.single()) else {
        requests.clear();
        return;
    };
    for _ in requests.read() {
        let before = study.labels.segments.clone();
        let labels = Arc::make_mut(&mut study.labels);
        let id = labels.segments.iter().map(|s| s.id).max().unwrap_or(0) + 1;
        let name = format!("Segment {id}");
        let colour = stratum_core::segment::segment_colour(&name, id);
        labels.segments.push(stratum_core::segment::Segment {
            id,
            name: name.clone(),
            colour,
            visible: true,
        });
        let step =
            stratum_core::edit::Step::segments(format!("New {name}"), &before, &labels.segments);
        history.record(step);
        let e =
            crate::app::segmentation::spawn_segment(&mut commands, root, id, &name, colour, 0.0);
        tools.selected = Some(e);
    }
}

/// Fill the slices between those where the selected segment is painted
/// (along the axis of a slice view): paint a few slices, interpolate the rest.
#[derive(Message, Clone, Copy, Debug)]
pub struct FillBetweenSlices(pub SliceAxis);

#[allow(clippy::too_many_arguments)]
fn fill_between(
    mut requests: MessageReader<FillBetweenSlices>,
    study: Option<ResMut<Study>>,
    tools: Res<ToolSettings>,
    settings: Res<BrushSettings>,
    mut segments: Query<(Entity, &mut Segment)>,
    mut history: ResMut<EditHistory>,
    mut notices: ResMut<Notices>,
    mut build: MessageWriter<BuildMeshes>,
) {
    let Some(mut study) = study else {
        requests.clear();
        return;
    };
    for FillBetweenSlices(axis) in requests.read() {
        let Some((id, name)) = tools
            .selected
            .and_then(|e| segments.get(e).ok())
            .map(|(_, s)| (s.id, s.name.clone()))
        else {
            notices.error("Fill between slices: select the segment you painted first");
            continue;
        };
        let before = study.labels.counts();
        let full = stratum_core::edit::bricks::BrickGrid::new(study.labels.dim()).full();
        let overwrite = settings.overwrite;
        let result = crate::app::history::record_edit(
            &mut history,
            &mut notices,
            &mut study,
            &format!("Fill between slices of {name}"),
            full,
            |labels| edit::fill_between_slices(labels, id, *axis, overwrite),
        );
        match result {
            Ok(Some(_)) => {
                let after = study.labels.counts();
                let voxel_ml = study.labels.geometry.spacing.iter().product::<f64>() / 1000.0;
                let changed: Vec<u16> = count_changes(&before, &after)
                    .into_iter()
                    .map(|c| c.0)
                    .collect();
                for (_, mut seg) in &mut segments {
                    if changed.contains(&seg.id) {
                        seg.voxel_ml =
                            after.get(seg.id as usize).copied().unwrap_or(0) as f64 * voxel_ml;
                    }
                }
                let ids: Vec<u16> = changed
                    .into_iter()
                    .filter(|i| after.get(*i as usize).is_some_and(|&n| n > 0))
                    .collect();
                if !ids.is_empty() {
                    build.write(BuildMeshes { ids });
                }
            }
            Ok(None) => notices.info(format!(
                "Nothing to fill: paint {name} on two or more slices with gaps between them"
            )),
            Err(e) => notices.error(format!("Fill between slices failed: {e}")),
        }
    }
}
