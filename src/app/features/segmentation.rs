//! The segmentation tools run as background jobs: threshold presets
//! (finding their own level, named and coloured after themselves), region
//! growing from a seed, keep-largest-island, delete. Each result becomes
//! one edit of the study's document (a new segment whose surface is built
//! from the scan at its level, or a segment's new voxels); the segment
//! entities and surfaces follow the document's changes.

use std::sync::Arc;

use bevy::prelude::*;
use stratum_core::Progress;
use stratum_core::document::{Edit, SurfaceRecipe, Target};
use stratum_core::segment::{
    KeepLargest, Mask, Preset, RegionGrow, Tool, preset_segment, threshold_mask,
};

use crate::app::state::document::DocEdit;
use crate::app::state::jobs::{JobDone, JobPlugin, Notices, spawn_job};
use crate::app::state::segments::{Segment, ToolSettings};
use crate::app::state::study::{Study, StudyLoaded};

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
                    reset_tools_on_load,
                    preset_on_load,
                    run_commands,
                    apply_edits,
                    apply_found_level,
                )
                    .chain(),
            );
    }
}

/// A new study starts the tools afresh, the threshold at the Bone window.
fn reset_tools_on_load(
    mut loaded: MessageReader<StudyLoaded>,
    study: Option<Res<Study>>,
    mut tools: ResMut<ToolSettings>,
    mut pending: Local<bool>,
) {
    // The study resource may arrive a frame after its message (commands).
    *pending |= loaded.read().last().is_some();
    let Some(study) = study.filter(|s| *pending && s.is_changed()) else {
        return;
    };
    *pending = false;
    tools.preset = None;
    tools.found_level = None;
    tools.finding_level = false;
    let (lo, hi) = Preset::Bone.window(&study.volume);
    tools.lo = lo;
    tools.hi = hi;
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

fn run_commands(
    mut commands: Commands,
    mut requests: MessageReader<SegmentCommand>,
    segments: Query<&Segment>,
    mut tools: ResMut<ToolSettings>,
    mut doc: DocEdit,
) {
    for req in requests.read() {
        let Some(study) = doc.study() else {
            continue;
        };
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
                let labels = study.doc.labels().clone();
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
                if doc.apply("Delete", Edit::Delete { id: seg.id }).is_some() {
                    doc.notices().info(format!("Deleted segment {}", seg.name));
                }
            }
        }
    }
}

/// A tool's result becomes one edit: a new segment (its surface from the
/// scan at its level) or a segment's new voxels.
fn apply_edits(
    mut done: MessageMutator<JobDone<SegmentEdit>>,
    segments: Query<&Segment>,
    mut doc: DocEdit,
) {
    for d in done.read() {
        let title = d.title.clone();
        let Some(edit) = doc.notices().take(&title, d.take()) else {
            continue;
        };
        let step = match &edit.target {
            EditTarget::New(name) => format!("Add {name}"),
            EditTarget::Replace(id) => segments
                .iter()
                .find(|s| s.id == *id)
                .map(|s| format!("Keep the largest island of {}", s.name))
                .unwrap_or_else(|| "Keep the largest island".into()),
        };
        let note = match (&edit.target, &edit.note) {
            (EditTarget::New(n), Some(note)) => Some(format!("{n}: {note}")),
            _ => None,
        };
        let target = match edit.target {
            EditTarget::New(name) => Target::New(name),
            EditTarget::Replace(id) => Target::Replace(id),
        };
        let recipe = edit.level.map_or(SurfaceRecipe::Mask, SurfaceRecipe::Level);
        let applied = doc.apply(
            &title,
            Edit::Tool {
                step,
                target,
                mask: Arc::new(edit.mask),
                recipe,
                colour: edit.colour,
            },
        );
        if applied.is_some()
            && let Some(note) = note
        {
            doc.notices().info(note);
        }
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
