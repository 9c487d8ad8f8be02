//! One undo history for every edit of the label map: brush strokes, the
//! segmentation tools, AI results, new, deleted and renamed segments. The
//! steps are the core's (`stratum_core::edit::History`: XOR of the changed
//! bricks); this module records them, undoes and redoes them through
//! [`HistoryAction`] messages, and brings the segment entities and their
//! surfaces back in line with the label map afterwards.

use std::collections::HashMap;
use std::sync::Arc;

use bevy::prelude::*;
use stratum_core::edit::bricks::Region;
use stratum_core::edit::{History, Step, StrokeRecorder};
use stratum_core::segment::LabelMap;

use crate::app::jobs::Notices;
use crate::app::loading::{Study, StudyLoaded};
use crate::app::meshing::{BuildMeshes, SegmentSurface};
use crate::app::sculpt::{StrokeEnded, VoxelsEdited};
use crate::app::segmentation::{Segment, SoftEdge, SurfaceLevel, ToolSettings, spawn_segment};
use crate::app::space::PatientSpace;

/// The edit history of the open study.
#[derive(Resource, Default)]
pub struct EditHistory {
    pub core: History,
    /// Bumped on every recorded, undone or redone step (autosave and the
    /// session's "unsaved" mark read it).
    pub generation: u64,
}

impl EditHistory {
    /// Records an already applied step; a step that changed nothing is `None`
    /// and is not recorded.
    pub fn record(&mut self, step: Option<Step>) {
        if let Some(step) = step {
            debug!("history: {}", step.name());
            self.core.push(step);
            self.generation += 1;
        }
    }
}

/// How the surfaces of segments that an edit removed were built (from the
/// scan at a level, or from a model's soft edge): an undo or redo that
/// brings one back meshes it as before, not from its voxels. By id and
/// name, as the segment table has them; emptied when a study is loaded.
#[derive(Resource, Default, Debug)]
pub struct RetiredSurfaces(HashMap<(u16, String), (Option<SurfaceLevel>, Option<SoftEdge>)>);

/// What a segment entity's surface is built from, besides its voxels.
pub(crate) type SurfaceSources<'w, 's> =
    Query<'w, 's, (Option<&'static SurfaceLevel>, Option<&'static SoftEdge>)>;

impl RetiredSurfaces {
    /// Keeps what `seg`'s surface was built from, as its entity goes.
    pub(crate) fn retire(
        &mut self,
        seg: &Segment,
        level: Option<&SurfaceLevel>,
        soft: Option<&SoftEdge>,
    ) {
        let key = (seg.id, seg.name.clone());
        if level.is_none() && soft.is_none() {
            self.0.remove(&key);
        } else {
            self.0.insert(key, (level.copied(), soft.cloned()));
        }
    }

    /// Gives a segment spawned again what its surface was built from.
    fn restore(&mut self, commands: &mut Commands, e: Entity, id: u16, name: &str) {
        let Some((level, soft)) = self.0.remove(&(id, name.to_string())) else {
            return;
        };
        let mut entity = commands.entity(e);
        if let Some(l) = level {
            entity.insert(l);
        }
        if let Some(s) = soft {
            entity.insert(s);
        }
    }
}

/// Undo or redo the last step (Ctrl+Z, Ctrl+Shift+Z, the buttons; an XR
/// gesture can send the same).
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HistoryAction {
    Undo,
    Redo,
}

/// Runs `edit` on the study's label map as one named history step: the
/// bricks of `region` are saved before it, their XOR with the result after.
/// `region` must hold every voxel the edit changes (the full map when in
/// doubt). The segment table is diffed too, so new, deleted and renamed
/// segments undo with their voxels.
pub fn record_edit<R>(
    history: &mut EditHistory,
    notices: &mut Notices,
    study: &mut Study,
    name: &str,
    region: Region,
    edit: impl FnOnce(&mut LabelMap) -> R,
) -> R {
    let labels = Arc::make_mut(&mut study.labels);
    let mut recorder = StrokeRecorder::new(name, labels);
    recorder.touch(labels, region);
    let out = edit(labels);
    match recorder.finish(labels) {
        Ok(step) => history.record(step),
        Err(e) => notices.error(format!("{name} could not be recorded for undo: {e}")),
    }
    study.labels_generation += 1;
    out
}

/// The voxel box of a mask's set voxels (empty when none).
pub fn mask_region(mask: &stratum_core::segment::Mask) -> Region {
    match mask.bounds() {
        Some(b) => Region::new([b[0].0, b[1].0, b[2].0], [b[0].1, b[1].1, b[2].1]),
        None => Region::empty(),
    }
}

/// Voxel counts per label id inside `region` (index = id).
pub fn region_counts(labels: &LabelMap, region: Region) -> Vec<u64> {
    let mut counts = vec![0u64; 1];
    let r = region.clip(labels.dim());
    if r.is_empty() {
        return counts;
    }
    for z in r.lo[0]..r.hi[0] {
        for y in r.lo[1]..r.hi[1] {
            for x in r.lo[2]..r.hi[2] {
                let v = labels.get(z, y, x) as usize;
                if v >= counts.len() {
                    counts.resize(v + 1, 0);
                }
                counts[v] += 1;
            }
        }
    }
    counts
}

/// The ids whose count differs between two [`region_counts`], with the
/// change in voxels.
pub fn count_changes(before: &[u64], after: &[u64]) -> Vec<(u16, i64)> {
    (1..before.len().max(after.len()))
        .filter_map(|i| {
            let b = before.get(i).copied().unwrap_or(0) as i64;
            let a = after.get(i).copied().unwrap_or(0) as i64;
            (a != b).then_some((i as u16, a - b))
        })
        .collect()
}

pub struct HistoryPlugin;

impl Plugin for HistoryPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<EditHistory>()
            .init_resource::<RetiredSurfaces>()
            .add_message::<HistoryAction>()
            .add_systems(
                Update,
                (clear_on_load, record_table_edits, undo_redo).chain(),
            );
    }
}

/// Frames without a further change before a rename, recolour or show/hide
/// becomes a step (typing a name or dragging a colour is one step).
const TABLE_QUIET_FRAMES: u32 = 20;

/// A segment-table change in progress: the table before it, and the
/// frames since the last change.
#[derive(Default)]
struct TableEdit {
    before: Option<Vec<stratum_core::segment::Segment>>,
    quiet: u32,
}

/// The panels edit names, colours and visibility on the segment entities;
/// this copies them into the label map's segment table (what sessions save)
/// and records a step once the user stops changing them.
fn record_table_edits(
    study: Option<ResMut<Study>>,
    mut segments: Query<&mut Segment>,
    mut history: ResMut<EditHistory>,
    mut pending: Local<TableEdit>,
) {
    let Some(mut study) = study else {
        *pending = TableEdit::default();
        return;
    };
    let differs = |t: &stratum_core::segment::Segment, s: &Segment| {
        t.name != s.name || t.colour != s.colour || t.visible != s.visible
    };
    // A new entity takes the table's state (e.g. a session's hidden
    // segment); only later changes are the user's.
    for mut s in &mut segments {
        if s.is_added()
            && let Some(t) = study.labels.segments.iter().find(|t| t.id == s.id)
            && differs(t, &s)
        {
            s.name.clone_from(&t.name);
            s.colour = t.colour;
            s.visible = t.visible;
        }
    }
    let changed = segments.iter().any(|s| {
        study
            .labels
            .segments
            .iter()
            .any(|t| t.id == s.id && differs(t, s))
    });
    if changed {
        if pending.before.is_none() {
            pending.before = Some(study.labels.segments.clone());
        }
        pending.quiet = 0;
        let labels = Arc::make_mut(&mut study.labels);
        for s in &segments {
            if let Some(t) = labels.segments.iter_mut().find(|t| t.id == s.id) {
                t.name.clone_from(&s.name);
                t.colour = s.colour;
                t.visible = s.visible;
            }
        }
        return;
    }
    if pending.before.is_none() {
        return;
    }
    pending.quiet += 1;
    if pending.quiet < TABLE_QUIET_FRAMES {
        return;
    }
    let Some(before) = pending.before.take() else {
        return;
    };
    let before = &before;
    let after = &study.labels.segments;
    let what = after
        .iter()
        .find_map(|a| {
            let b = before.iter().find(|b| b.id == a.id)?;
            if a.name != b.name {
                Some(format!("Rename {} to {}", b.name, a.name))
            } else if a.colour != b.colour {
                Some(format!("Recolour {}", a.name))
            } else if a.visible != b.visible {
                Some(format!(
                    "{} {}",
                    if a.visible { "Show" } else { "Hide" },
                    a.name
                ))
            } else {
                None
            }
        })
        .unwrap_or_else(|| "Change segments".into());
    history.record(Step::segments(what, before, after));
    *pending = TableEdit::default();
}

/// A new study starts a new history (a session brings its own back
/// afterwards, see `session`).
pub(crate) fn clear_on_load(
    mut loaded: MessageReader<StudyLoaded>,
    mut history: ResMut<EditHistory>,
    mut retired: ResMut<RetiredSurfaces>,
) {
    if loaded.read().last().is_some() {
        history.core = History::default();
        history.generation += 1;
        retired.0.clear();
    }
}

#[allow(clippy::too_many_arguments)]
fn undo_redo(
    mut commands: Commands,
    mut actions: MessageReader<HistoryAction>,
    study: Option<ResMut<Study>>,
    mut history: ResMut<EditHistory>,
    mut notices: ResMut<Notices>,
    stroke: Res<crate::app::sculpt::StrokeState>,
    mut segments: Query<(Entity, &mut Segment)>,
    root: Query<Entity, With<PatientSpace>>,
    mut tools: ResMut<ToolSettings>,
    mut build: MessageWriter<BuildMeshes>,
    (live, mut edited, mut ended): (
        Res<crate::app::remesh::LiveSurfaces>,
        MessageWriter<VoxelsEdited>,
        MessageWriter<StrokeEnded>,
    ),
    (sources, mut retired): (SurfaceSources, ResMut<RetiredSurfaces>),
) {
    let Some(mut study) = study else {
        actions.clear();
        return;
    };
    for action in actions.read() {
        if stroke.is_active() {
            // The stroke is not a step yet: undo after it ends.
            continue;
        }
        let labels = Arc::make_mut(&mut study.labels);
        let before = labels.counts();
        let result = match action {
            HistoryAction::Undo => history.core.undo(labels),
            HistoryAction::Redo => history.core.redo(labels),
        };
        let applied = match result {
            Ok(Some(a)) => a,
            Ok(None) => continue,
            Err(e) => {
                notices.error(format!("Undo/redo failed, the label map is unchanged: {e}"));
                continue;
            }
        };
        history.generation += 1;
        study.labels_generation += 1;
        info!("{action:?}: {}", applied.name);
        let labels = &study.labels;
        let after = labels.counts();
        // Outside the step's box nothing changed, so a segment changed when
        // it has voxels in the box now or its count changed (it left the box).
        let in_box = region_counts(labels, applied.region);
        let mut changed: Vec<u16> = count_changes(&before, &after)
            .into_iter()
            .map(|(id, _)| id)
            .chain(
                (1..in_box.len())
                    .filter(|&i| in_box[i] > 0)
                    .map(|i| i as u16),
            )
            .collect();
        changed.sort_unstable();
        changed.dedup();
        let Ok(root) = root.single() else { continue };
        let rebuild = sync_entities(
            &mut commands,
            root,
            labels,
            &after,
            &changed,
            &mut segments,
            &mut tools,
            &sources,
            &mut retired,
        );
        // Segments shown as live chunks follow at once; the rest wait for
        // their rebuilt surfaces.
        let chunked: Vec<u16> = changed
            .iter()
            .copied()
            .filter(|id| live.segments.contains_key(id))
            .collect();
        if !chunked.is_empty() {
            edited.write(VoxelsEdited {
                ids: chunked,
                region: applied.region,
            });
        }
        let emptied = changed
            .iter()
            .copied()
            .filter(|id| !rebuild.contains(id))
            .collect();
        ended.write(StrokeEnded {
            rebuilt: rebuild.clone(),
            emptied,
        });
        if !rebuild.is_empty() {
            build.write(BuildMeshes { ids: rebuild });
        }
    }
}

/// Brings the segment entities in line with the label map's segment table
/// and voxel `counts`: spawns and despawns entities, copies names, colours
/// and visibility, updates volumes; an emptied segment loses its surface.
/// Returns the ids of `changed` whose surfaces are to be rebuilt.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sync_entities(
    commands: &mut Commands,
    root: Entity,
    labels: &LabelMap,
    counts: &[u64],
    changed: &[u16],
    segments: &mut Query<(Entity, &mut Segment)>,
    tools: &mut ToolSettings,
    sources: &SurfaceSources,
    retired: &mut RetiredSurfaces,
) -> Vec<u16> {
    let voxel_ml = labels.geometry.spacing.iter().product::<f64>() / 1000.0;
    let count = |id: u16| counts.get(id as usize).copied().unwrap_or(0);
    let table = &labels.segments;
    for (e, mut seg) in segments.iter_mut() {
        let Some(t) = table.iter().find(|t| t.id == seg.id) else {
            if tools.selected == Some(e) {
                tools.selected = None;
            }
            if let Ok((level, soft)) = sources.get(e) {
                retired.retire(&seg, level, soft);
            }
            commands.entity(e).despawn();
            continue;
        };
        if seg.name != t.name || seg.colour != t.colour || seg.visible != t.visible {
            seg.name = t.name.clone();
            seg.colour = t.colour;
            seg.visible = t.visible;
        }
        let ml = count(seg.id) as f64 * voxel_ml;
        if seg.voxel_ml != ml {
            seg.voxel_ml = ml;
        }
        if count(seg.id) == 0 && seg.surface.is_some() {
            commands.entity(e).remove::<(Mesh3d, SegmentSurface)>();
            seg.surface = None;
        }
    }
    for t in table {
        if !segments.iter().any(|(_, s)| s.id == t.id) {
            let ml = count(t.id) as f64 * voxel_ml;
            let e = spawn_segment(commands, root, t.id, &t.name, t.colour, ml);
            retired.restore(commands, e, t.id, &t.name);
            if !t.visible {
                commands
                    .entity(e)
                    .entry::<Segment>()
                    .and_modify(|mut s| s.visible = false);
            }
        }
    }
    changed
        .iter()
        .copied()
        .filter(|id| table.iter().any(|t| t.id == *id) && count(*id) > 0)
        .collect()
}
