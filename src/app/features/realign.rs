//! Re-aligning slices the motion check found shifted: reopens the study's
//! scan with the core's correction in the background (before resampling,
//! as the check measured it), keeps the label map (same grid), and keeps
//! the uncorrected scan so Undo puts it back at once. The correction is
//! recorded in the checklist and in the session's scan reference.
//!
//! Not yet a step of the edit history: Undo is its own button.

use std::sync::Arc;

use bevy::prelude::*;
use stratum_core::checks::SeriesReport;
use stratum_core::checks::realign::Realign;
use stratum_core::open::{OpenOptions, open_volume};
use stratum_core::segment::histogram;
use stratum_core::{Progress, Volume};

use crate::app::jobs::{JobDone, JobPlugin, Notices, spawn_job};
use crate::app::loading::{Study, StudySource};

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

struct Corrected(Volume, SeriesReport);

pub struct RealignPlugin;

impl Plugin for RealignPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(JobPlugin::<Corrected>::default())
            .add_message::<RealignAction>()
            .add_systems(Update, (start, finish).chain());
    }
}

const TITLE: &str = "Re-aligning moved slices";

fn start(
    mut commands: Commands,
    mut actions: MessageReader<RealignAction>,
    study: Option<ResMut<Study>>,
    source: Option<Res<StudySource>>,
    realigned: Option<Res<Realigned>>,
    mut notices: ResMut<Notices>,
) {
    let Some(mut study) = study else {
        actions.clear();
        return;
    };
    for action in actions.read() {
        match action {
            RealignAction::Undo => {
                if let Some(r) = realigned.as_deref() {
                    set_volume(&mut study, r.original.clone(), r.report.clone());
                    commands.remove_resource::<Realigned>();
                    notices.info("The slices are back as they were loaded.");
                }
            }
            RealignAction::Apply => {
                let Some(source) = source.as_deref().cloned() else {
                    continue;
                };
                let opts = OpenOptions {
                    series: source.series.clone(),
                    subset: source.subset,
                    realign: Realign::Offered,
                    ..OpenOptions::new()
                };
                spawn_job(&mut commands, TITLE, move |p: &Progress| {
                    let opened = open_volume(&source.path, &opts, p)?;
                    Ok(Corrected(opened.volume, opened.report))
                });
            }
        }
    }
}

fn finish(
    mut commands: Commands,
    mut done: MessageMutator<JobDone<Corrected>>,
    study: Option<ResMut<Study>>,
    mut notices: ResMut<Notices>,
) {
    let Some(mut study) = study else {
        return;
    };
    for d in done.read() {
        let title = d.title.clone();
        let Some(Corrected(volume, report)) = notices.take(&title, d.take()) else {
            continue;
        };
        if volume.dim() != study.volume.dim() || volume.geometry != study.volume.geometry {
            notices.error("The scan changed on disk since it was opened; open it again to re-align it.");
            continue;
        }
        let Some(plan) = report.motion.as_ref().and_then(|m| m.applied.clone()) else {
            notices.info("Nothing to re-align: no slice moved in-plane.");
            continue;
        };
        commands.insert_resource(Realigned {
            original: study.volume.clone(),
            report: study.report.clone(),
        });
        set_volume(&mut study, Arc::new(volume), report);
        notices.info(format!(
            "Re-aligned {}. Surfaces built before keep the old shape until you build them again.",
            plan.summary()
        ));
    }
}

fn set_volume(study: &mut Study, volume: Arc<Volume>, report: SeriesReport) {
    study.histogram = histogram(&volume, 512);
    study.volume = volume;
    study.report = report;
}
