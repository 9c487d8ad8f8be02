//! Loading: opens a DICOM folder or NIfTI file (or the demo study) in the
//! background, checks it, and publishes the study. A folder with several
//! series asks the user to pick one.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bevy::prelude::*;
use bevy::window::FileDragAndDrop;
use stratum_core::base::sizes::Offer;
use stratum_core::convert::load_labels_for;
use stratum_core::dicom::{Subset, scan};
use stratum_core::image::view::auto_window_range;
use stratum_core::read::open::{OpenOptions, inspect_series_subset, open_volume};
use stratum_core::segment::{LabelMap, histogram};
use stratum_core::{base::error::CoreError, base::progress::Progress};

use stratum_core::document::Document;
use stratum_core::session::is_session_folder;

use crate::app::state::jobs::{JobDone, JobInfo, JobPlugin, Notices, spawn_job};
use crate::app::state::study::{Study, StudyLoaded, StudySource};

/// Ask to open a file or folder (File ▸ Open, a dropped folder, the command line).
#[derive(Message, Clone, Debug)]
pub struct OpenRequest {
    pub path: PathBuf,
    /// Which series of a folder; `None` asks when there are several.
    pub series: Option<String>,
    /// A label map (NIfTI) and its names to import with the scan.
    pub labels: Option<(PathBuf, Option<PathBuf>)>,
    /// Part of a DICOM series (a range of slices, a downsampled copy).
    pub subset: Subset,
}

/// A folder held several series: the user picks one.
#[derive(Resource, Default)]
pub struct SeriesChoice {
    pub pending: Option<(PathBuf, Vec<SeriesSummary>)>,
    /// A series too large for the memory: what would fit, for the user to pick.
    pub too_large: Option<TooLarge>,
}

/// A study the memory cannot hold, and what of it would fit.
#[derive(Clone, Debug)]
pub struct TooLarge {
    /// The request that was refused (path, series, labels).
    pub request: OpenRequest,
    /// What the study needs and what is free.
    pub message: String,
    /// Bytes the study needs, and the memory budget it was refused by.
    pub needed: u64,
    pub limit: u64,
    pub offer: Offer,
    /// First slice of the range the dialog offers (1-based).
    pub start: u64,
}

#[derive(Clone, Debug)]
pub struct SeriesSummary {
    pub id: String,
    pub label: String,
    pub slices: usize,
    pub size: String,
}

/// What a load job produces.
pub enum Loaded {
    Choose(PathBuf, Vec<SeriesSummary>),
    TooLarge(Box<TooLarge>),
    Study(Box<Study>, StudySource),
}

pub struct LoadingPlugin;

impl Plugin for LoadingPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(JobPlugin::<Loaded>::default())
            .add_message::<OpenRequest>()
            .add_message::<FileDragAndDrop>()
            .add_message::<StudyLoaded>()
            .init_resource::<SeriesChoice>()
            .add_systems(
                Update,
                (open_dropped_files, start_loading, finish_loading).chain(),
            );
    }
}

fn open_dropped_files(
    mut drops: MessageReader<FileDragAndDrop>,
    mut open: MessageWriter<OpenRequest>,
) {
    for d in drops.read() {
        if let FileDragAndDrop::DroppedFile { path_buf, .. } = d {
            open.write(OpenRequest {
                path: path_buf.clone(),
                series: None,
                labels: None,
                subset: Subset::default(),
            });
        }
    }
}

fn start_loading(
    mut commands: Commands,
    mut requests: MessageReader<OpenRequest>,
    running: Query<&JobInfo>,
    mut notices: ResMut<Notices>,
) {
    for req in requests.read() {
        // A session folder opens as a session: the sessions feature takes it.
        if is_session_folder(&req.path) {
            continue;
        }
        if running.iter().any(|j| j.title.starts_with("Loading")) {
            notices.error("A study is already loading: cancel it first or wait.");
            continue;
        }
        let req = req.clone();
        let title = format!("Loading {}", display_name(&req.path));
        spawn_job(&mut commands, title, move |progress| load(&req, progress));
    }
}

/// The last part of a path, for titles (never a full path: folders are often
/// named after the patient).
pub fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scan".into())
}

/// Opens a study (runs in the background). A DICOM series the memory
/// cannot hold comes back as [`Loaded::TooLarge`] with what would fit.
pub fn load(req: &OpenRequest, progress: &Progress) -> Result<Loaded, CoreError> {
    match load_whole(req, progress) {
        Err(CoreError::TooLarge {
            what,
            needed,
            limit,
            offer: Some(offer),
            ..
        }) => {
            let start = (offer.total - offer.slices) / 2 + 1;
            // The app's own words (the CLI's message names its flags).
            let what = what.strip_prefix("the series ").unwrap_or(&what);
            let message = format!(
                "This series {what} needs about {} of memory; {} is free for it.",
                stratum_core::base::sizes::human(needed),
                stratum_core::base::sizes::human(limit)
            );
            Ok(Loaded::TooLarge(Box::new(TooLarge {
                request: req.clone(),
                message,
                needed,
                limit,
                offer,
                start,
            })))
        }
        other => other,
    }
}

fn load_whole(req: &OpenRequest, progress: &Progress) -> Result<Loaded, CoreError> {
    let is_file = req.path.is_file();
    let nifti = stratum_core::read::nifti::is_nifti_path(&req.path);
    let mut series_id = None;
    let (volume, report, title) = if nifti || (is_file && req.series.is_none()) {
        let opts = OpenOptions {
            subset: req.subset,
            ..OpenOptions::new()
        };
        let opened = open_volume(&req.path, &opts, progress)?;
        let title = if nifti {
            display_name(&req.path)
        } else {
            opened.report.label.clone()
        };
        (opened.volume, opened.report, title)
    } else {
        let found = scan(&req.path, progress)?;
        let series = match &req.series {
            Some(key) => found.find(key)?,
            None if found.series.len() > 1 => {
                let list = found
                    .series
                    .iter()
                    .map(|s| SeriesSummary {
                        id: s.id.clone(),
                        label: s.label(),
                        slices: s.slices.len(),
                        size: format!("{}x{}", s.columns, s.rows),
                    })
                    .collect();
                return Ok(Loaded::Choose(req.path.clone(), list));
            }
            None => found.largest().ok_or_else(|| CoreError::NoImages {
                path: req.path.clone(),
                ignored: found.ignored,
            })?,
        };
        series_id = Some(series.id.clone());
        let (report, volume) = inspect_series_subset(series, true, &req.subset, progress);
        let title = match req.subset.is_whole() {
            true => series.label(),
            false => format!("{} ({})", series.label(), req.subset.describe()),
        };
        (volume?, report, title)
    };
    progress.begin("checking intensities", 1);
    let mut labels = match &req.labels {
        Some((path, names)) => load_labels_for(&volume, path, names.as_deref(), progress)?,
        None => LabelMap::empty(volume.dim(), volume.geometry),
    };
    // The segment table lists what is there: labels the file names but
    // does not hold would come back on an undo.
    let counts = labels.counts();
    labels
        .segments
        .retain(|s| counts.get(s.id as usize).is_some_and(|&n| n > 0));
    let hist = histogram(&volume, 512);
    let auto_window = auto_window_range(&volume);
    progress.advance(1);
    let volume = Arc::new(volume);
    let doc = Document::new(Some(volume.clone()), labels)?;
    Ok(Loaded::Study(
        Box::new(Study {
            volume,
            report,
            doc,
            title,
            histogram: hist,
            auto_window,
        }),
        StudySource {
            path: req.path.clone(),
            series: series_id,
            subset: req.subset,
        },
    ))
}

fn finish_loading(
    mut done: MessageMutator<JobDone<Loaded>>,
    mut commands: Commands,
    mut choice: ResMut<SeriesChoice>,
    mut notices: ResMut<Notices>,
    mut loaded: MessageWriter<StudyLoaded>,
) {
    for d in done.read() {
        let title = d.title.clone();
        match notices.take(&title, d.take()) {
            Some(Loaded::Choose(path, list)) => choice.pending = Some((path, list)),
            Some(Loaded::TooLarge(t)) => {
                info!(
                    "the study does not fit in memory: offering {} of {} slices, downsample {:?}",
                    t.offer.slices, t.offer.total, t.offer.downsample
                );
                choice.too_large = Some(*t);
            }
            Some(Loaded::Study(study, source)) => {
                commands.insert_resource(source);
                info!(
                    "opened {} ({:?} voxels, {})",
                    study.title,
                    study.volume.dim(),
                    study.volume.modality
                );
                commands.insert_resource(*study);
                loaded.write(StudyLoaded);
            }
            None => {}
        }
    }
}
