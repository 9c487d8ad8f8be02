//! Re-aligning slices the motion check found shifted: reopens the study's
//! scan with the core's correction in the background (before resampling,
//! as the check measured it) and swaps the study's volume; the label map
//! stays (same grid). The correction is recorded in the checklist (a
//! "re-aligned slices ..." line) and in the session's scan reference, so a
//! saved session reopens corrected. Undo puts the scan back as loaded (at
//! once when the uncorrected volume is still here, else by reopening it).
//!
//! It changes the scan, not the segmentation, so it is its own Undo button
//! rather than a step of the document's edit history.

use std::sync::Arc;

use bevy::prelude::*;
use stratum_core::checks::SeriesReport;
use stratum_core::checks::realign::Realign;
use stratum_core::read::open::{OpenOptions, open_volume};
use stratum_core::segment::histogram;
use stratum_core::{base::progress::Progress, image::volume::Volume};

use crate::app::features::session::ScanReplaced;
use crate::app::state::jobs::{JobDone, JobPlugin, Notices, spawn_job};
use crate::app::state::study::{Study, StudyLoaded, StudySource};

/// Sent by the Study panel.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RealignAction {
    /// Re-align the slices the motion check offers to correct.
    Apply,
    /// Put the scan back as it was loaded.
    Undo,
}

/// The scan as loaded, kept while a re-alignment is in place.
#[derive(Resource)]
pub struct Realigned {
    pub original: Arc<Volume>,
    pub report: SeriesReport,
}

/// A reopened scan: re-aligned (`true`) or as loaded.
struct Reopened(Volume, SeriesReport, bool);

pub struct RealignPlugin;

impl Plugin for RealignPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(JobPlugin::<Reopened>::default())
            .add_message::<RealignAction>()
            .add_systems(
                Update,
                (
                    forget_on_load,
                    start,
                    finish.run_if(resource_exists::<Study>),
                )
                    .chain(),
            );
    }
}

const APPLY: &str = "Re-aligning moved slices";
const UNDO: &str = "Reopening the scan as loaded";

/// A new study: the old one's uncorrected volume goes.
fn forget_on_load(mut commands: Commands, mut loaded: MessageReader<StudyLoaded>) {
    if loaded.read().last().is_some() {
        commands.remove_resource::<Realigned>();
    }
}

fn start(
    mut commands: Commands,
    mut actions: MessageReader<RealignAction>,
    study: Option<ResMut<Study>>,
    source: Option<Res<StudySource>>,
    realigned: Option<Res<Realigned>>,
    mut notices: ResMut<Notices>,
    mut replaced: MessageWriter<ScanReplaced>,
) {
    let Some(mut study) = study else {
        actions.clear();
        return;
    };
    for &action in actions.read() {
        if action == RealignAction::Undo
            && let Some(r) = realigned.as_deref()
        {
            set_volume(&mut study, r.original.clone(), r.report.clone());
            commands.remove_resource::<Realigned>();
            replaced.write(ScanReplaced);
            notices.info("The slices are back as they were loaded.");
            continue;
        }
        let Some(source) = source.as_deref().cloned() else {
            notices.error("This study has no scan on disk to reopen.");
            continue;
        };
        let apply = action == RealignAction::Apply;
        let opts = OpenOptions {
            series: source.series.clone(),
            subset: source.subset,
            realign: if apply { Realign::Offered } else { Realign::No },
            ..OpenOptions::new()
        };
        let title = if apply { APPLY } else { UNDO };
        spawn_job(&mut commands, title, move |p: &Progress| {
            let opened = open_volume(&source.path, &opts, p)?;
            Ok(Reopened(opened.volume, opened.report, apply))
        });
    }
}

fn finish(
    mut commands: Commands,
    mut done: MessageMutator<JobDone<Reopened>>,
    mut study: ResMut<Study>,
    mut notices: ResMut<Notices>,
    mut replaced: MessageWriter<ScanReplaced>,
) {
    for d in done.read() {
        let title = d.title.clone();
        let Some(Reopened(volume, report, applied)) = notices.take(&title, d.take()) else {
            continue;
        };
        if volume.dim() != study.volume.dim() || volume.geometry != study.volume.geometry {
            notices.error(
                "The scan changed on disk since it was opened; open it again to re-align it.",
            );
            continue;
        }
        let plan = report.motion.as_ref().and_then(|m| m.applied.clone());
        if !applied {
            set_volume(&mut study, Arc::new(volume), report);
            replaced.write(ScanReplaced);
            notices.info("The slices are back as they were loaded.");
            continue;
        }
        let Some(plan) = plan else {
            notices.info("Nothing to re-align: no slice moved in-plane.");
            continue;
        };
        commands.insert_resource(Realigned {
            original: study.volume.clone(),
            report: study.report.clone(),
        });
        set_volume(&mut study, Arc::new(volume), report);
        replaced.write(ScanReplaced);
        let segments = if study.doc.segments().is_empty() {
            ""
        } else {
            " Segments drawn before keep their voxels: redo the ones made on the moved slices."
        };
        notices.info(format!("Re-aligned {}.{segments}", plan.summary()));
    }
}

fn set_volume(study: &mut Study, volume: Arc<Volume>, report: SeriesReport) {
    study.histogram = histogram(&volume, 512);
    study.volume = volume;
    study.report = report;
}
