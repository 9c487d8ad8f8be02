//! The segmentation tools run as background jobs, every one the same way:
//! the panel (or a slice click, or `--preset`) picks a tool and its
//! parameters ([`ToolSpec`]), a job builds the core [`Tool`] and runs its
//! preview or, through `document::tool_edits`, its result as the
//! document's edits, applied through [`DocEdit`] (one undoable step). The
//! segment entities and surfaces follow the document's changes.

use std::sync::Arc;

use bevy::prelude::*;
use stratum_core::base::progress::Progress;
use stratum_core::document::{Edit, Target, ToolEdits, tool_edits};
use stratum_core::segment::error::SegmentError;
use stratum_core::segment::{
    FillHoles, KeepIslandAt, KeepLargest, LabelMap, Logical, Margin, Mask, MaskBy, Morphology,
    Preset, PresetTool, Preview, RegionGrow, RemoveSmallIslands, Threshold, Tool,
};

use crate::app::state::document::DocEdit;
use crate::app::state::jobs::{JobDone, JobPlugin, Notices, spawn_job};
use crate::app::state::segments::{ModifyKind, ModifyTool, Segment, ShownPreview, ToolSettings};
use crate::app::state::study::{Study, StudyLoaded};

/// A threshold preset to segment with as soon as a study has loaded
/// (`stratum FOLDER --preset bone`), once.
#[derive(Resource, Debug, Default)]
pub struct PresetOnLoad(pub Option<Preset>);

/// A segmentation tool and its parameters, as the panel picks them.
#[derive(Clone, Debug, PartialEq)]
pub enum ToolSpec {
    /// A new segment of the voxels in a window (`name`: its own name).
    Threshold {
        name: Option<String>,
        lo: f64,
        hi: f64,
    },
    /// A new segment from a preset (see [`SegmentCommand::Preset`]).
    Preset {
        preset: Preset,
        window: Option<(f64, f64)>,
    },
    /// A new segment grown from a voxel (x, y, z) within a window.
    Grow {
        seed: [usize; 3],
        lo: f64,
        hi: f64,
    },
    KeepLargest,
    /// Morphology, margin, fill holes or a logical operation with another
    /// segment (`other`: its id) on the segment the tool acts on.
    Modify {
        tool: ModifyTool,
        other: Option<u16>,
    },
}

impl ToolSpec {
    /// The core tool (a logical operation reads its other segment here).
    pub fn build(
        &self,
        labels: &LabelMap,
    ) -> Result<Box<dyn Tool>, stratum_core::base::error::CoreError> {
        Ok(match self.clone() {
            ToolSpec::Threshold { lo, hi, .. } => Box::new(Threshold { lo, hi }),
            ToolSpec::Preset { preset, window } => Box::new(PresetTool { preset, window }),
            ToolSpec::Grow { seed, lo, hi } => Box::new(RegionGrow {
                seed: (seed[2], seed[1], seed[0]),
                lo,
                hi,
            }),
            ToolSpec::KeepLargest => Box::new(KeepLargest),
            ToolSpec::Modify { tool, other } => {
                let inner = modify_tool(&tool, other, labels)?;
                match tool.area {
                    Some(area) => Box::new(MaskBy {
                        tool: inner,
                        area: labels.mask(area.segment),
                        inside: area.inside,
                    }),
                    None => inner,
                }
            }
        })
    }

    /// The job's title.
    fn title(&self, on: Option<&str>) -> String {
        let on = on.unwrap_or("the segment");
        match self {
            ToolSpec::Threshold { name, lo, hi } => match name {
                Some(n) => format!("Segmenting {n}"),
                None => format!("Segmenting {lo:.0}..{hi:.0}"),
            },
            ToolSpec::Preset { preset, .. } => format!("Segmenting {}", preset.name()),
            ToolSpec::Grow { .. } => "Region growing".into(),
            ToolSpec::KeepLargest => format!("Keeping the largest island of {on}"),
            ToolSpec::Modify { tool, .. } => format!("{}: {on}", tool.kind.label()),
        }
    }
}

/// The core tool of a segment-changing tool (a logical operation reads its
/// other segment, `other`, here).
fn modify_tool(
    tool: &ModifyTool,
    other: Option<u16>,
    labels: &LabelMap,
) -> Result<Box<dyn Tool>, stratum_core::base::error::CoreError> {
    Ok(match tool.kind {
        ModifyKind::Morphology(op) => Box::new(Morphology {
            op,
            radius_mm: tool.radius_mm,
        }),
        ModifyKind::Margin => Box::new(Margin { mm: tool.margin_mm }),
        ModifyKind::RemoveIslands => Box::new(RemoveSmallIslands {
            min_mm3: tool.min_mm3,
        }),
        ModifyKind::FillHoles => Box::new(FillHoles {
            per_slice: tool.per_slice,
        }),
        ModifyKind::KeepIsland => {
            let [x, y, z] = tool.point.ok_or_else(|| SegmentError::NoPointPicked {
                tool: tool.kind.label().to_string(),
            })?;
            Box::new(KeepIslandAt((z, y, x)))
        }
        ModifyKind::Logical(op) => {
            let other = other.ok_or_else(|| SegmentError::NoOtherSegment {
                tool: tool.kind.label().to_string(),
            })?;
            Box::new(Logical {
                op,
                other: labels.mask(other),
            })
        }
    })
}

/// What the user asked the tools to do.
#[derive(Message, Clone, Debug)]
pub enum SegmentCommand {
    /// Apply a tool on a segment (`None` for a tool that makes a new one).
    Run {
        tool: ToolSpec,
        on: Option<Entity>,
    },
    /// Compute a tool's preview in the background: it is drawn on the
    /// slices while it still shows what applying would do.
    Preview {
        tool: ToolSpec,
        on: Option<Entity>,
    },
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
    /// Keep the island of the selected segment at a voxel (x, y, z)
    /// clicked on a slice (the panel's "Keep the island at a point").
    KeepIslandAt([usize; 3]),
    Delete(Entity),
}

/// A tool's result as the document's edits.
pub struct ToolResult {
    pub edits: ToolEdits,
    /// The new segment's name, for its note.
    pub new_name: Option<String>,
}

/// A tool's preview: a window the slices draw live, or a mask computed
/// for a segment at a generation of the document.
pub enum PreviewResult {
    Window { lo: f64, hi: f64 },
    Mask(ShownPreview),
}

/// A preset's level found from the scan.
pub struct LevelFound {
    pub preset: Preset,
    pub window: (f64, f64),
    pub level: Option<f64>,
}

pub struct SegmentationPlugin;

impl Plugin for SegmentationPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(JobPlugin::<ToolResult>::default())
            .add_plugins(JobPlugin::<PreviewResult>::default())
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
                    apply_results,
                    show_previews,
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
    tools.shown = None;
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
        // The old commands are names for a tool run.
        let (tool, on, preview) = match req.clone() {
            SegmentCommand::Run { tool, on } => (tool, on, false),
            SegmentCommand::Preview { tool, on } => (tool, on, true),
            SegmentCommand::Threshold { name, lo, hi } => (
                ToolSpec::Threshold {
                    name: Some(name),
                    lo,
                    hi,
                },
                None,
                false,
            ),
            SegmentCommand::Preset { preset, window } => {
                (ToolSpec::Preset { preset, window }, None, false)
            }
            SegmentCommand::Grow { seed, lo, hi } => {
                tools.seed_mode = false;
                (ToolSpec::Grow { seed, lo, hi }, None, false)
            }
            SegmentCommand::KeepLargest(e) => (ToolSpec::KeepLargest, Some(e), false),
            SegmentCommand::KeepIslandAt(point) => {
                tools.island_mode = false;
                tools.modify.kind = ModifyKind::KeepIsland;
                tools.modify.point = Some(point);
                let spec = ToolSpec::Modify {
                    tool: tools.modify,
                    other: None,
                };
                (spec, tools.selected, false)
            }
            SegmentCommand::FindLevel(preset) => {
                tools.finding_level = true;
                tools.found_level = None;
                let volume = study.volume.clone();
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
                continue;
            }
            SegmentCommand::Delete(e) => {
                let Ok(seg) = segments.get(e) else { continue };
                if doc.apply("Delete", Edit::Delete { id: seg.id }).is_some() {
                    doc.notices().info(format!("Deleted segment {}", seg.name));
                }
                continue;
            }
        };
        let target = match on {
            Some(e) => match segments.get(e) {
                Ok(s) => Some((s.id, s.name.clone())),
                // The segment went away before the command was read.
                Err(_) => continue,
            },
            None => None,
        };
        let title = tool.title(target.as_ref().map(|t| t.1.as_str()));
        let volume = study.volume.clone();
        let labels = study.doc.labels().clone();
        if preview {
            let generation = study.doc.generation();
            let ToolSpec::Modify { tool: modify, .. } = tool.clone() else {
                // Tools that make a new segment preview their window.
                spawn_job(&mut commands, title, move |p: &Progress| {
                    let built = tool.build(&labels)?;
                    let empty = Mask::empty(labels.dim(), labels.geometry);
                    Ok(match built.preview(&volume, &empty, p)? {
                        Preview::Window { lo, hi } => PreviewResult::Window { lo, hi },
                        Preview::Mask(m) => PreviewResult::Mask(ShownPreview {
                            tool: None,
                            on: None,
                            generation,
                            mask: Arc::new(m),
                        }),
                    })
                });
                continue;
            };
            spawn_job(
                &mut commands,
                format!("Previewing {title}"),
                move |p: &Progress| {
                    let built = tool.build(&labels)?;
                    let (id, _) = target.ok_or_else(|| {
                        stratum_core::base::error::CoreError::NoSegmentChosen { tool: built.name() }
                    })?;
                    let mask = match built.preview(&volume, &labels.mask(id), p)? {
                        Preview::Mask(m) => m,
                        Preview::Window { lo, hi } => {
                            stratum_core::segment::threshold_mask(&volume, lo, hi)
                        }
                    };
                    Ok(PreviewResult::Mask(ShownPreview {
                        tool: Some(modify),
                        on,
                        generation,
                        mask: Arc::new(mask),
                    }))
                },
            );
            continue;
        }
        tools.shown = None;
        spawn_job(&mut commands, title, move |p: &Progress| {
            let built = tool.build(&labels)?;
            let on = target.as_ref().map(|(id, n)| (*id, n.as_str()));
            let mut edits = tool_edits(built.as_ref(), &volume, &labels, on, p)?;
            // A threshold named by its caller.
            let mut new_name = None;
            for e in &mut edits.edits {
                if let Edit::Tool {
                    step,
                    target: Target::New(name),
                    ..
                } = e
                {
                    if let ToolSpec::Threshold { name: Some(n), .. } = &tool {
                        *name = n.clone();
                        *step = format!("Add {n}");
                    }
                    new_name = Some(name.clone());
                }
            }
            Ok(ToolResult { edits, new_name })
        });
    }
}

/// A tool's result becomes the document's edits (one history step).
fn apply_results(mut done: MessageMutator<JobDone<ToolResult>>, mut doc: DocEdit) {
    for d in done.read() {
        let title = d.title.clone();
        let Some(result) = doc.notices().take(&title, d.take()) else {
            continue;
        };
        let mut applied = true;
        for edit in result.edits.edits {
            applied &= doc.apply(&title, edit).is_some();
        }
        if applied && let (Some(name), Some(note)) = (result.new_name, result.edits.note) {
            doc.notices().info(format!("{name}: {note}"));
        }
    }
}

/// A preview job's result: a window moves the tools' live preview; a mask
/// is drawn on the slices (see [`ToolSettings::shown`]).
fn show_previews(
    mut done: MessageMutator<JobDone<PreviewResult>>,
    mut notices: ResMut<Notices>,
    mut tools: ResMut<ToolSettings>,
) {
    for d in done.read() {
        let title = d.title.clone();
        match notices.take(&title, d.take()) {
            Some(PreviewResult::Window { lo, hi }) => {
                (tools.lo, tools.hi) = (lo, hi);
                tools.preview = true;
            }
            Some(PreviewResult::Mask(shown)) => tools.shown = Some(shown),
            None => {}
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
