//! Opening a session: a session folder or an unsaved session's journal,
//! loaded with its scan in the background (the scan found where it was,
//! beside the session, or where the user points) into a study whose
//! document is the session's (labels, segment table with recipes and
//! opacities, history); its view is put back once the segment entities
//! exist, and its camera once the first surfaces are framed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bevy::prelude::*;
use stratum_core::document::{Document, DocumentState};
use stratum_core::edit::HistoryConfig;
use stratum_core::session::journal::restore;
use stratum_core::session::{ScanLocation, ScanRef, locate_scan, open_session, session_scan};
use stratum_core::{base::error::CoreError, base::progress::Progress};

use super::{
    MissingScan, OpenSession, OpenSessionWithScan, PendingSession, RestoreUnsaved, SessionState,
};
use crate::app::features::loading::{Loaded, OpenRequest, display_name, load};
use crate::app::features::meshing::MeshesBuilt;
use crate::app::features::session_view::{ViewParts, apply_camera, apply_view};
use crate::app::state::document::SegmentIndex;
use crate::app::state::jobs::{JobDone, Notices, spawn_job};
use crate::app::state::segments::Segment;
use crate::app::state::study::{Study, StudyLoaded, StudySource};

/// A session (or restored journal) with its study loaded.
pub struct SessionOpened {
    study: Box<Study>,
    source: StudySource,
    scan: Option<ScanRef>,
    view: serde_json::Value,
    /// The session folder (`None` for a restored journal).
    dir: Option<PathBuf>,
    /// The journal folder restored from (to discard once the new one runs).
    restored: Option<PathBuf>,
    warning: Option<String>,
}

/// Loads the scan a session or journal points to, checks its voxels, and
/// gives the study with the session's document.
fn study_for(
    scan: &ScanRef,
    session_dir: &Path,
    pointed: Option<&Path>,
    document: DocumentState,
    progress: &Progress,
) -> Result<(Box<Study>, StudySource, Option<String>), CoreError> {
    let located = match pointed {
        Some(p) => ScanLocation::Found(p.to_path_buf()),
        None => locate_scan(scan, session_dir),
    };
    let path = match located {
        ScanLocation::Found(p) | ScanLocation::Moved(p) => p,
        ScanLocation::Missing => {
            return Err(CoreError::SessionScanMissing {
                name: display_name(&scan.path),
            });
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
            return Err(CoreError::SessionScanAmbiguous);
        }
        Loaded::TooLarge(t) => {
            return Err(CoreError::TooLarge {
                what: "the session's scan".into(),
                needed: t.needed,
                limit: t.limit,
                hint: "close other programs, or open the scan alone and choose a range of slices"
                    .into(),
                offer: Some(t.offer),
            });
        }
    };
    if study.volume.dim() != document.labels.dim() {
        return Err(CoreError::SessionScanMismatch {
            name: display_name(&path),
            found: study.volume.dim(),
            expected: document.labels.dim(),
        });
    }
    let warning = (!scan.matches(&study.volume)).then(|| {
        "the scan's voxels changed since the session was saved: check the labels still fit"
            .to_string()
    });
    study.doc = Document::from_state(
        Some(study.volume.clone()),
        document,
        HistoryConfig::default(),
    )?;
    Ok((study, source, warning))
}

/// A session folder asked for as a study (File ▸ Open, a drop, the command
/// line) opens as a session.
pub(super) fn open_requested_sessions(
    mut requests: MessageReader<OpenRequest>,
    mut open: MessageWriter<OpenSession>,
) {
    for req in requests.read() {
        if stratum_core::session::is_session_folder(&req.path) {
            open.write(OpenSession(req.path.clone()));
        }
    }
}

pub(super) fn start_open(
    mut commands: Commands,
    mut requests: MessageReader<OpenSession>,
    mut pointed_to: MessageReader<OpenSessionWithScan>,
    running: Query<&crate::app::state::jobs::JobInfo>,
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
                name: display_name(&scan.path),
                typed: String::new(),
            });
            continue;
        }
        state.missing_scan = None;
        let title = format!("Opening session {}", display_name(&dir));
        spawn_job(&mut commands, title, move |p: &Progress| {
            let opened = open_session(&dir, p)?;
            let data = opened.data;
            let scan = data
                .scan
                .clone()
                .ok_or(CoreError::SessionNoScan { unsaved: false })?;
            let (study, source, scan_warning) =
                study_for(&scan, &dir, pointed.as_deref(), data.document, p)?;
            let warning = match (scan_warning, opened.warning) {
                (Some(a), Some(b)) => Some(format!("{a}; {b}")),
                (a, b) => a.or(b),
            };
            Ok(SessionOpened {
                study,
                source,
                scan: Some(scan),
                view: data.view,
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
                let scan = r
                    .data
                    .scan
                    .clone()
                    .ok_or(CoreError::SessionNoScan { unsaved: true })?;
                let (study, source, warning) = study_for(&scan, &dir, None, r.data.document, p)?;
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
                    view: r.data.view,
                    dir: None,
                    restored: Some(dir),
                    warning,
                })
            },
        );
    }
}

pub(super) fn finish_open(
    mut commands: Commands,
    mut done: MessageMutator<JobDone<SessionOpened>>,
    mut state: ResMut<SessionState>,
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
        // The old study's journal goes with it (kept on disk if unsaved).
        state.journal = None;
        state.path = s.dir.clone();
        state.scan = s.scan.clone();
        state.indexed_for = Some(Arc::as_ptr(&s.study.volume) as usize);
        state.saved_generation = if s.restored.is_some() {
            // Restored: unsaved, so autosave starts a new journal at once.
            u64::MAX
        } else {
            s.study.doc.generation()
        };
        commands.insert_resource(PendingSession {
            view: s.view,
            segments: s.study.doc.segments().iter().map(|t| t.id).collect(),
            age: 0,
            applied: false,
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
        loaded.write(StudyLoaded);
    }
}

/// Puts a session's view back once its segment entities exist (after the
/// new study replaced them), and its camera once the first surfaces were
/// framed.
pub(super) fn apply_pending(
    mut commands: Commands,
    pending: Option<ResMut<PendingSession>>,
    segments: Query<&Segment>,
    index: Res<SegmentIndex>,
    mut built: MessageReader<MeshesBuilt>,
    mut parts: ViewParts,
) {
    let Some(mut pending) = pending else {
        built.clear();
        return;
    };
    pending.age += 1;
    let mut ids: Vec<u16> = index.0.keys().copied().collect();
    ids.sort_unstable();
    let mut want = pending.segments.clone();
    want.sort_unstable();
    if !pending.applied {
        if !(pending.age > 3 && ids == want) {
            built.clear();
            return;
        }
        pending.applied = true;
        let ids: Vec<(Entity, u16)> = index.0.iter().map(|(id, e)| (*e, *id)).collect();
        apply_view(&pending.view, &mut parts, &ids);
        apply_camera(&pending.view, &mut parts);
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
            if segments.iter().all(|s| s.voxel_ml == 0.0) {
                commands.remove_resource::<PendingSession>();
            }
        }
    }
}
