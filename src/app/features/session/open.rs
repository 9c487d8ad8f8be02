//! Opening a session: a session folder or an unsaved session's journal,
//! loaded with its scan in the background (the scan found where it was,
//! beside the session, or where the user points), then its history, view
//! and opacities put back once the new study's segments exist.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bevy::prelude::*;
use stratum_core::edit::{History, HistoryConfig};
use stratum_core::mesh::SoftField;
use stratum_core::session::journal::restore;
use stratum_core::session::{ScanLocation, ScanRef, locate_scan, open_session, session_scan};
use stratum_core::{CoreError, Progress};

use super::{
    MissingScan, OpenSession, OpenSessionWithScan, PendingSession, RestoreUnsaved, SessionState,
};
use crate::app::history::EditHistory;
use crate::app::jobs::{JobDone, Notices, spawn_job};
use crate::app::loading::{Loaded, OpenRequest, Study, StudyLoaded, StudySource, load};
use crate::app::meshing::MeshesBuilt;
use crate::app::segmentation::Segment;
use crate::app::session_view::{ViewParts, apply_camera, apply_view};

/// A session (or restored journal) with its study loaded.
pub struct SessionOpened {
    study: Box<Study>,
    source: StudySource,
    scan: Option<ScanRef>,
    history: History,
    view: serde_json::Value,
    opacity: BTreeMap<u16, f32>,
    /// Surface levels by segment id.
    surface_levels: BTreeMap<u16, f64>,
    /// Model segments' soft edges by segment id.
    soft_edges: BTreeMap<u16, Arc<SoftField>>,
    /// The session folder (`None` for a restored journal).
    dir: Option<PathBuf>,
    /// The journal folder restored from (to discard once the new one runs).
    restored: Option<PathBuf>,
    warning: Option<String>,
}

/// Loads the scan a session or journal points to, checks its voxels, and
/// gives the study with the session's labels.
fn study_for(
    scan: &ScanRef,
    session_dir: &Path,
    pointed: Option<&Path>,
    labels: stratum_core::segment::LabelMap,
    progress: &Progress,
) -> Result<(Box<Study>, StudySource, Option<String>), CoreError> {
    let located = match pointed {
        Some(p) => ScanLocation::Found(p.to_path_buf()),
        None => locate_scan(scan, session_dir),
    };
    let path = match located {
        ScanLocation::Found(p) | ScanLocation::Moved(p) => p,
        ScanLocation::Missing => {
            return Err(CoreError::Invalid(format!(
                "the session's scan ({}) is not where it was saved any more: move it back \
                 beside the session or to its old place, then open the session again",
                crate::app::loading::display_name(&scan.path)
            )));
        }
    };
    let req = OpenRequest {
        path: path.clone(),
        series: scan.series_uid.clone(),
        labels: None,
        subset: scan.subset,
    };
    let (mut study, source) = match load(&req, progress)? {
        Loaded::Study(study, source) => (study, source),
        Loaded::Choose(..) => {
            return Err(CoreError::Invalid(
                "the session's scan folder holds several series and none matches".into(),
            ));
        }
        Loaded::TooLarge(t) => return Err(CoreError::Invalid(t.message)),
    };
    if study.volume.dim() != labels.dim() {
        return Err(CoreError::Invalid(format!(
            "the scan {} is not the session's: {:?} voxels, the labels have {:?}",
            crate::app::loading::display_name(&path),
            study.volume.dim(),
            labels.dim()
        )));
    }
    let warning = (!scan.matches(&study.volume)).then(|| {
        "the scan's voxels changed since the session was saved: check the labels still fit"
            .to_string()
    });
    study.labels = Arc::new(labels);
    Ok((study, source, warning))
}

pub(super) fn start_open(
    mut commands: Commands,
    mut requests: MessageReader<OpenSession>,
    mut pointed_to: MessageReader<OpenSessionWithScan>,
    running: Query<&crate::app::jobs::JobInfo>,
    mut state: ResMut<SessionState>,
    mut notices: ResMut<Notices>,
) {
    let asked = requests.read().map(|OpenSession(dir)| (dir.clone(), None));
    let pointed = pointed_to
        .read()
        .map(|m| (m.session.clone(), Some(m.scan.clone())));
    let wanted: Vec<(PathBuf, Option<PathBuf>)> = asked.chain(pointed).collect();
    for (dir, pointed) in wanted {
        if running
            .iter()
            .any(|j| j.title.starts_with("Opening session"))
        {
            notices.error("A session is already opening");
            continue;
        }
        // A scan that is neither where it was nor beside the session: ask
        // where it is now rather than fail (session.json alone is read).
        if pointed.is_none()
            && let Ok(Some(scan)) = session_scan(&dir)
            && locate_scan(&scan, &dir) == ScanLocation::Missing
        {
            state.missing_scan = Some(MissingScan {
                session: dir,
                name: crate::app::loading::display_name(&scan.path),
                typed: String::new(),
            });
            continue;
        }
        state.missing_scan = None;
        let title = format!(
            "Opening session {}",
            crate::app::loading::display_name(&dir)
        );
        spawn_job(&mut commands, title, move |p: &Progress| {
            let opened = open_session(&dir, p)?;
            let data = opened.data;
            let scan = data.scan.clone().ok_or_else(|| {
                CoreError::Invalid("the session names no scan: open the scan first".into())
            })?;
            let (study, source, scan_warning) =
                study_for(&scan, &dir, pointed.as_deref(), data.labels, p)?;
            let warning = match (scan_warning, opened.warning) {
                (Some(a), Some(b)) => Some(format!("{a}; {b}")),
                (a, b) => a.or(b),
            };
            Ok(SessionOpened {
                study,
                source,
                scan: Some(scan),
                history: History::from_snapshot(data.history, HistoryConfig::default()),
                view: data.view,
                opacity: data.opacity,
                surface_levels: data.surface_levels,
                soft_edges: data.soft_edges,
                dir: Some(dir),
                restored: None,
                warning,
            })
        });
    }
}

pub(super) fn start_restore(
    mut commands: Commands,
    mut requests: MessageReader<RestoreUnsaved>,
    mut state: ResMut<SessionState>,
    mut notices: ResMut<Notices>,
) {
    for req in requests.read() {
        state.unsaved.retain(|u| u.dir != req.dir);
        if !req.restore {
            if let Err(e) = stratum_core::session::journal::discard_unsaved(&req.dir) {
                notices.error(format!("The unsaved session could not be removed: {e}"));
            }
            continue;
        }
        let dir = req.dir.clone();
        spawn_job(
            &mut commands,
            "Restoring the unsaved session",
            move |p: &Progress| {
                let r = restore(&dir, HistoryConfig::default(), p)?;
                let scan = r.scan.clone().ok_or_else(|| {
                    CoreError::Invalid("the unsaved session names no scan".into())
                })?;
                let (study, source, warning) = study_for(&scan, &dir, None, r.labels, p)?;
                if r.ignored_bytes > 0 {
                    info!(
                        "autosave: ignored {} bytes of a torn last record",
                        r.ignored_bytes
                    );
                }
                Ok(SessionOpened {
                    study,
                    source,
                    scan: Some(scan),
                    history: r.history,
                    view: r.view,
                    opacity: r.opacity,
                    surface_levels: r.surface_levels,
                    soft_edges: r.soft_edges,
                    dir: None,
                    restored: Some(dir),
                    warning,
                })
            },
        );
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn finish_open(
    mut commands: Commands,
    mut done: MessageMutator<JobDone<SessionOpened>>,
    mut state: ResMut<SessionState>,
    mut history: ResMut<EditHistory>,
    mut notices: ResMut<Notices>,
    mut loaded: MessageWriter<StudyLoaded>,
) {
    for d in done.read() {
        let title = d.title.clone();
        let Some(s) = notices.take(&title, d.take()) else {
            continue;
        };
        if let Some(w) = &s.warning {
            notices.error(format!("{title}: {w}"));
        }
        let voxel_ml = s.study.volume.geometry.spacing.iter().product::<f64>() / 1000.0;
        let counts = s.study.labels.counts();
        let segments: Vec<_> = s
            .study
            .labels
            .segments
            .iter()
            .map(|t| {
                let n = counts.get(t.id as usize).copied().unwrap_or(0);
                (t.id, t.name.clone(), t.colour, n as f64 * voxel_ml)
            })
            .collect();
        // The old journal goes once this state has a journal of its own.
        if let Some(old) = history.core.take_journal() {
            drop(old);
        }
        state.path = s.dir.clone();
        state.scan = s.scan.clone();
        state.indexed_for = Some(Arc::as_ptr(&s.study.volume) as usize);
        commands.insert_resource(PendingSession {
            history: Some(s.history),
            view: s.view,
            opacity: s.opacity,
            segments: segments.iter().map(|s| s.0).collect(),
            age: 0,
            restored: s.restored.is_some(),
            camera_after: None,
        });
        if let Some(dir) = s.restored {
            state.path = None;
            // Restored: the new journal (started at the next edit or now)
            // replaces it, so the old folder goes.
            if let Err(e) = stratum_core::session::journal::discard_unsaved(&dir) {
                warn!("the restored autosave could not be removed: {e}");
            }
            notices.info("The unsaved session was restored");
        }
        commands.insert_resource(s.source);
        commands.insert_resource(*s.study);
        loaded.write(StudyLoaded {
            segments,
            levels: s.surface_levels,
            soft: s.soft_edges,
        });
    }
}

/// Puts a session's history, view and opacities back once its segment
/// entities exist (after the new study reset them), and its camera once
/// the first surfaces were framed.
#[allow(clippy::too_many_arguments)]
pub(super) fn apply_pending(
    mut commands: Commands,
    pending: Option<ResMut<PendingSession>>,
    mut segments: Query<(Entity, &mut Segment)>,
    mut history: ResMut<EditHistory>,
    mut state: ResMut<SessionState>,
    mut built: MessageReader<MeshesBuilt>,
    mut parts: ViewParts,
) {
    let Some(mut pending) = pending else {
        built.clear();
        return;
    };
    pending.age += 1;
    let mut ids: Vec<u16> = segments.iter().map(|(_, s)| s.id).collect();
    ids.sort_unstable();
    let mut want = pending.segments.clone();
    want.sort_unstable();
    let ready = pending.age > 3 && ids == want;
    if ready && let Some(h) = pending.history.take() {
        history.core = h;
        history.generation += 1;
        state.saved_generation = if pending.restored {
            0
        } else {
            history.generation
        };
        for (_, mut seg) in &mut segments {
            if let Some(o) = pending.opacity.get(&seg.id) {
                seg.opacity = *o;
            }
        }
        let ids: Vec<(Entity, u16)> = segments.iter().map(|(e, s)| (e, s.id)).collect();
        apply_view(&pending.view, &mut parts, &ids);
        apply_camera(&pending.view, &mut parts);
    }
    if pending.history.is_some() {
        built.clear();
        return;
    }
    if built.read().any(|b| b.first) {
        pending.camera_after = Some(3);
    }
    match pending.camera_after {
        Some(0) => {
            apply_camera(&pending.view, &mut parts);
            commands.remove_resource::<PendingSession>();
        }
        Some(n) => pending.camera_after = Some(n - 1),
        None => {
            // No surfaces to frame: the camera stays as applied.
            if segments.iter().all(|(_, s)| s.voxel_ml == 0.0) {
                commands.remove_resource::<PendingSession>();
            }
        }
    }
}
