//! Segments as entities, and the segmentation tools run as background jobs:
//! threshold presets (finding their own level, named and coloured after
//! themselves), region growing from a seed, keep-largest-island.
//! The label map in [`Study`] holds the voxels; each segment entity holds
//! its name, colour, opacity, visibility and volumes.

use bevy::prelude::*;
use stratum_core::Progress;
use stratum_core::edit::bricks::BrickGrid;
use stratum_core::segment::{
    KeepLargest, Mask, Preset, RegionGrow, Tool, preset_segment, segment_colour, threshold_mask,
};

use crate::app::history::{EditHistory, mask_region, record_edit};
use crate::app::jobs::{JobDone, JobPlugin, Notices, spawn_job};
use crate::app::loading::{Study, StudyLoaded};
use crate::app::meshing::BuildMeshes;
use crate::app::space::PatientSpace;
pub use crate::app::state::segments::{
    Segment, SoftEdge, SurfaceLevel, SurfaceStats, ToolSettings,
};

/// A threshold preset to segment with as soon as a study has loaded
/// (`stratum FOLDER --preset bone`), once.
#[derive(Resource, Debug, Default)]
pub struct PresetOnLoad(pub Option<Preset>);

/// What the user asked the tools to do.
#[derive(Message, Clone, Debug)]
pub enum SegmentCommand {
    /// A new segment from the threshold window (or a preset's window).
    Threshold {
        name: String,
        lo: f64,
        hi: f64,
    },
    /// A new segment from a preset at this window (its level found or set
    /// by hand), named and coloured after the preset, with its clean-up.
    Preset {
        preset: Preset,
        /// `None`: the preset's own window, with the level it finds.
        window: Option<(f64, f64)>,
    },
    /// Find the level of a preset that finds its own (see
    /// [`Preset::level_window`]); the tools' window follows when found.
    FindLevel(Preset),
    /// A new segment grown from a voxel (x, y, z) within the threshold window.
    Grow {
        seed: [usize; 3],
        lo: f64,
        hi: f64,
    },
    /// Keep only the largest island of a segment.
    KeepLargest(Entity),
    Delete(Entity),
}

/// What a tool job produces: a mask to add as a new segment or to replace one.
pub struct SegmentEdit {
    pub target: EditTarget,
    pub mask: Mask,
    /// The intensity level of a new segment made from the scan (its
    /// surface is then built from the intensities).
    pub level: Option<f64>,
    /// The colour of a new segment, when its tool knows it.
    pub colour: Option<[u8; 3]>,
    /// What the tool left out, told to the user.
    pub note: Option<String>,
}

impl SegmentEdit {
    fn new(target: EditTarget, mask: Mask, level: Option<f64>) -> Self {
        SegmentEdit {
            target,
            mask,
            level,
            colour: None,
            note: None,
        }
    }
}

/// A preset's level found from the scan.
pub struct LevelFound {
    pub preset: Preset,
    pub window: (f64, f64),
    pub level: Option<f64>,
}

pub enum EditTarget {
    New(String),
    Replace(u16),
}

pub struct SegmentationPlugin;

impl Plugin for SegmentationPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(JobPlugin::<SegmentEdit>::default())
            .add_plugins(JobPlugin::<LevelFound>::default())
            .add_message::<SegmentCommand>()
            .init_resource::<ToolSettings>()
            .init_resource::<PresetOnLoad>()
            .add_systems(
                Update,
                (
                    spawn_loaded_segments,
                    preset_on_load,
                    run_commands,
                    apply_edits,
                    apply_found_level,
                )
                    .chain(),
            );
    }
}

/// Replaces the segment entities when a study is loaded.
fn spawn_loaded_segments(
    mut commands: Commands,
    mut loaded: MessageReader<StudyLoaded>,
    old: Query<Entity, With<Segment>>,
    root: Query<Entity, With<PatientSpace>>,
    study: Option<Res<Study>>,
    mut tools: ResMut<ToolSettings>,
    mut build: MessageWriter<BuildMeshes>,
) {
    let Some(msg) = loaded.read().last() else {
        return;
    };
    for e in &old {
        commands.entity(e).despawn();
    }
    tools.selected = None;
    tools.preset = None;
    tools.found_level = None;
    tools.finding_level = false;
    if let Some(study) = study {
        let (lo, hi) = Preset::Bone.window(&study.volume);
        tools.lo = lo;
        tools.hi = hi;
    }
    let Ok(root) = root.single() else { return };
    for (id, name, colour, ml) in &msg.segments {
        let e = spawn_segment(&mut commands, root, *id, name, *colour, *ml);
        // Before the first build below, so it meshes the saved surface.
        if let Some(level) = msg.levels.get(id) {
            commands.entity(e).insert(SurfaceLevel(*level));
        }
        if let Some(field) = msg.soft.get(id) {
            commands.entity(e).insert(SoftEdge(field.clone()));
        }
    }
    if !msg.segments.is_empty() {
        // Explicit ids: the entities spawned above exist only after this system.
        build.write(BuildMeshes {
            ids: msg.segments.iter().map(|s| s.0).collect(),
        });
    }
}

fn preset_on_load(
    mut loaded: MessageReader<StudyLoaded>,
    mut pending: ResMut<PresetOnLoad>,
    study: Option<Res<Study>>,
    mut out: MessageWriter<SegmentCommand>,
    mut seen: Local<bool>,
) {
    // The study resource may arrive a frame after its message (commands).
    *seen |= loaded.read().last().is_some();
    if !*seen {
        return;
    }
    let (Some(study), Some(preset)) = (study, pending.0) else {
        return;
    };
    pending.0 = None;
    let _ = study;
    out.write(SegmentCommand::Preset {
        preset,
        window: None,
    });
}

/// Adds a mask as a new segment: its voxels join the label map (over
/// whatever was there), its entity is spawned; the colour reads as the
/// anatomy unless one is given. Returns the id and the entity.
pub(crate) fn add_new_segment(
    commands: &mut Commands,
    root: Entity,
    labels: &mut stratum_core::segment::LabelMap,
    name: &str,
    colour: Option<[u8; 3]>,
    mask: &Mask,
) -> (u16, Entity) {
    let id = labels.add_segment(name, mask);
    let colour = colour.unwrap_or_else(|| segment_colour(name, id));
    if let Some(entry) = labels.segments.iter_mut().find(|e| e.id == id) {
        entry.colour = colour;
    }
    let e = spawn_segment(commands, root, id, name, colour, mask.volume_ml());
    (id, e)
}

pub(crate) fn spawn_segment(
    commands: &mut Commands,
    root: Entity,
    id: u16,
    name: &str,
    colour: [u8; 3],
    ml: f64,
) -> Entity {
    commands
        .spawn((
            Name::new(format!("segment {id}")),
            Segment {
                id,
                name: name.to_string(),
                colour,
                visible: true,
                opacity: 1.0,
                voxel_ml: ml,
                surface: None,
            },
            Transform::default(),
            Visibility::default(),
            ChildOf(root),
        ))
        .id()
}

#[allow(clippy::too_many_arguments)]
fn run_commands(
    mut commands: Commands,
    mut requests: MessageReader<SegmentCommand>,
    segments: Query<&Segment>,
    sources: crate::app::history::SurfaceSources,
    mut retired: ResMut<crate::app::history::RetiredSurfaces>,
    study: Option<ResMut<Study>>,
    mut notices: ResMut<Notices>,
    mut tools: ResMut<ToolSettings>,
    mut history: ResMut<EditHistory>,
) {
    let Some(mut study) = study else {
        requests.clear();
        return;
    };
    for req in requests.read() {
        let volume = study.volume.clone();
        match req.clone() {
            SegmentCommand::Threshold { name, lo, hi } => {
                spawn_job(
                    &mut commands,
                    format!("Segmenting {name}"),
                    move |p: &Progress| {
                        p.begin("threshold", 1);
                        let mask = threshold_mask(&volume, lo, hi);
                        p.advance(1);
                        if mask.count() == 0 {
                            return Err(stratum_core::CoreError::Invalid(format!(
                                "no voxel lies between {lo:.0} and {hi:.0}: widen the window"
                            )));
                        }
                        Ok(SegmentEdit::new(EditTarget::New(name), mask, Some(lo)))
                    },
                );
            }
            SegmentCommand::Preset { preset, window } => {
                spawn_job(
                    &mut commands,
                    format!("Segmenting {}", preset.name()),
                    move |p: &Progress| {
                        let seg = preset_segment(&volume, preset, window, p)?;
                        let mut edit = SegmentEdit::new(
                            EditTarget::New(preset.name().to_string()),
                            seg.mask,
                            Some(seg.lo),
                        );
                        edit.colour = Some(preset.colour());
                        edit.note = seg.found_level.map(|l| {
                            format!("level {l:.0} found half-way between the tissues at its edge")
                        });
                        if let Some(n) = seg.note {
                            edit.note = Some(match edit.note {
                                Some(a) => format!("{a}; {n}"),
                                None => n,
                            });
                        }
                        Ok(edit)
                    },
                );
            }
            SegmentCommand::FindLevel(preset) => {
                tools.finding_level = true;
                tools.found_level = None;
                spawn_job(
                    &mut commands,
                    format!("Finding the {} level", preset.name()),
                    move |p: &Progress| {
                        p.begin("finding the level", 1);
                        let (lo, hi, level) = preset.level_window(&volume);
                        p.advance(1);
                        Ok(LevelFound {
                            preset,
                            window: (lo, hi),
                            level,
                        })
                    },
                );
            }
            SegmentCommand::Grow { seed, lo, hi } => {
                tools.seed_mode = false;
                let tool = RegionGrow {
                    seed: (seed[2], seed[1], seed[0]),
                    lo,
                    hi,
                };
                spawn_job(&mut commands, "Region growing", move |p: &Progress| {
                    let empty = Mask::empty(volume.dim(), volume.geometry);
                    let mask = tool.apply(&volume, &empty, p)?;
                    Ok(SegmentEdit::new(
                        EditTarget::New(format!("Region {lo:.0}..{hi:.0}")),
                        mask,
                        Some(lo),
                    ))
                });
            }
            SegmentCommand::KeepLargest(e) => {
                let Ok(seg) = segments.get(e) else { continue };
                let id = seg.id;
                let labels = study.labels.clone();
                spawn_job(
                    &mut commands,
                    format!("Keeping the largest island of {}", seg.name),
                    move |p: &Progress| {
                        let mask = labels.mask(id);
                        let mask = KeepLargest.apply(&volume, &mask, p)?;
                        Ok(SegmentEdit::new(EditTarget::Replace(id), mask, None))
                    },
                );
            }
            SegmentCommand::Delete(e) => {
                let Ok(seg) = segments.get(e) else { continue };
                let id = seg.id;
                let full = stratum_core::edit::bricks::BrickGrid::new(study.labels.dim()).full();
                record_edit(
                    &mut history,
                    &mut notices,
                    &mut study,
                    &format!("Delete {}", seg.name),
                    full,
                    |labels| {
                        labels.erase(id);
                        labels.segments.retain(|s| s.id != id);
                    },
                );
                if tools.selected == Some(e) {
                    tools.selected = None;
                }
                // Undoing the delete brings its surface back as it was built.
                if let Ok((level, soft)) = sources.get(e) {
                    retired.retire(seg, level, soft);
                }
                commands.entity(e).despawn();
                notices.info(format!("Deleted segment {}", seg.name));
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn apply_edits(
    mut commands: Commands,
    mut done: MessageMutator<JobDone<SegmentEdit>>,
    study: Option<ResMut<Study>>,
    mut segments: Query<(Entity, &mut Segment)>,
    root: Query<Entity, With<PatientSpace>>,
    mut notices: ResMut<Notices>,
    mut tools: ResMut<ToolSettings>,
    mut build: MessageWriter<BuildMeshes>,
    mut history: ResMut<EditHistory>,
) {
    let Some(mut study) = study else {
        done.clear();
        return;
    };
    for d in done.read() {
        let title = d.title.clone();
        let Some(edit) = notices.take(&title, d.take()) else {
            continue;
        };
        if edit.mask.dim() != study.volume.dim() {
            notices.error(format!("{title}: the result does not fit the open study"));
            continue;
        }
        let ml = edit.mask.volume_ml();
        let name = match &edit.target {
            EditTarget::New(name) => format!("Add {name}"),
            EditTarget::Replace(id) => segments
                .iter()
                .find(|(_, s)| s.id == *id)
                .map(|(_, s)| format!("Keep the largest island of {}", s.name))
                .unwrap_or_else(|| "Keep the largest island".into()),
        };
        // A replaced segment loses voxels anywhere: its box is not known here.
        let region = match edit.target {
            EditTarget::New(_) => mask_region(&edit.mask),
            EditTarget::Replace(_) => BrickGrid::new(edit.mask.dim()).full(),
        };
        let Ok(root) = root.single() else { continue };
        let note = match (&edit.target, &edit.note) {
            (EditTarget::New(n), Some(note)) => Some(format!("{n}: {note}")),
            _ => None,
        };
        let (id, selected) = record_edit(
            &mut history,
            &mut notices,
            &mut study,
            &name,
            region,
            |labels| match edit.target {
                EditTarget::New(name) => {
                    let (id, e) = add_new_segment(
                        &mut commands,
                        root,
                        labels,
                        &name,
                        edit.colour,
                        &edit.mask,
                    );
                    if let Some(level) = edit.level {
                        commands.entity(e).insert(SurfaceLevel(level));
                    }
                    (id, Some(e))
                }
                EditTarget::Replace(id) => {
                    labels.erase(id);
                    labels.paint(id, &edit.mask);
                    (id, None)
                }
            },
        );
        if let Some(note) = note {
            notices.info(note);
        }
        match selected {
            Some(e) => tools.selected = Some(e),
            None => {
                if let Some((_, mut seg)) = segments.iter_mut().find(|(_, s)| s.id == id) {
                    seg.voxel_ml = ml;
                }
            }
        }
        build.write(BuildMeshes { ids: vec![id] });
    }
}

/// Moves the tools' window to the level a preset found, unless the user
/// picked another preset meanwhile.
fn apply_found_level(
    mut done: MessageMutator<JobDone<LevelFound>>,
    mut notices: ResMut<Notices>,
    mut tools: ResMut<ToolSettings>,
) {
    for d in done.read() {
        let title = d.title.clone();
        let Some(found) = notices.take(&title, d.take()) else {
            tools.finding_level = false;
            continue;
        };
        if tools.preset != Some(found.preset) {
            continue;
        }
        tools.finding_level = false;
        tools.found_level = found.level;
        (tools.lo, tools.hi) = found.window;
    }
}
