//! Sessions in the app: File ▸ Save session / Open session (the core's
//! `name.stratum/` folders), `stratum <session>` reopening one, the autosave
//! journal every edit is appended to in the background, and the offer to
//! restore an unsaved session on the next start. The app's part is the
//! opaque `view` JSON (see `session_view`) and putting the study back.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bevy::prelude::*;
use stratum_core::edit::{History, HistoryConfig};
use stratum_core::session::journal::{
    Journal, JournalBase, Unsaved, default_autosave_root, find_unsaved, restore,
};
use stratum_core::session::{
    ScanLocation, ScanRef, SessionData, locate_scan, open_session, save_session, session_scan,
};
use stratum_core::{CoreError, Progress};

use crate::app::history::EditHistory;
use crate::app::jobs::{JobDone, JobPlugin, Notices, spawn_job};
use crate::app::loading::{Loaded, OpenRequest, Study, StudyLoaded, StudySource, load};
use crate::app::meshing::MeshesBuilt;
use crate::app::segmentation::{Segment, SurfaceLevel};
use crate::app::session_view::{ViewParts, apply_camera, apply_view, selected_id, view_json};

/// True for a session folder (it holds `session.json`).
pub fn is_session(path: &Path) -> bool {
    path.is_dir() && path.join("session.json").is_file()
}

/// Save the open study as a session folder (`name.stratum`).
#[derive(Message, Clone, Debug)]
pub struct SaveSession(pub PathBuf);

/// Open a session folder.
#[derive(Message, Clone, Debug)]
pub struct OpenSession(pub PathBuf);

/// Restore (true) or throw away (false) an unsaved session's journal.
#[derive(Message, Clone, Debug)]
pub struct RestoreUnsaved {
    pub dir: PathBuf,
    pub restore: bool,
}

/// Where autosave journals go; `None` turns autosave off. From
/// `STRATUM_AUTOSAVE_DIR` ("off" turns it off), else the user's data folder.
#[derive(Resource, Clone, Debug)]
pub struct AutosaveConfig {
    pub root: Option<PathBuf>,
}

impl Default for AutosaveConfig {
    fn default() -> Self {
        let root = match std::env::var_os("STRATUM_AUTOSAVE_DIR") {
            Some(v) if v == "off" => None,
            Some(v) => Some(PathBuf::from(v)),
            None => default_autosave_root(),
        };
        AutosaveConfig { root }
    }
}

/// Open a session whose scan moved, with the scan at `scan` (the user
/// pointed to it).
#[derive(Message, Clone, Debug)]
pub struct OpenSessionWithScan {
    pub session: PathBuf,
    pub scan: PathBuf,
}

/// A session asked for whose scan is neither where it was saved nor beside
/// the session: the app asks the user where it is now.
#[derive(Clone, Debug)]
pub struct MissingScan {
    pub session: PathBuf,
    /// The scan's file or folder name (never its full path: folder names
    /// can carry a patient's name).
    pub name: String,
    /// The path the user is typing.
    pub typed: String,
}

/// The session state of the open study.
#[derive(Resource, Default)]
pub struct SessionState {
    /// The session folder it was opened from or last saved to.
    pub path: Option<PathBuf>,
    /// History generation at the last save (unsaved edits when it differs).
    pub saved_generation: u64,
    /// The scan reference (its voxel hash takes a while: computed once per study).
    pub scan: Option<ScanRef>,
    /// Journals of unsaved sessions found at start, offered for restore.
    pub unsaved: Vec<Unsaved>,
    /// A session waiting for the user to say where its scan is now.
    pub missing_scan: Option<MissingScan>,
    /// The journal's view record, to write it only when it changes.
    last_view: Option<serde_json::Value>,
    view_check: u32,
    /// The volume (its address) whose scan reference is known or being computed.
    indexed_for: Option<usize>,
}

/// A session (or restored journal) with its study loaded.
pub struct SessionOpened {
    study: Box<Study>,
    source: StudySource,
    scan: Option<ScanRef>,
    history: History,
    view: serde_json::Value,
    opacity: BTreeMap<u16, f32>,
    /// Surface levels by segment id (none from a restored journal).
    surface_levels: BTreeMap<u16, f64>,
    /// The session folder (`None` for a restored journal).
    dir: Option<PathBuf>,
    /// The journal folder restored from (to discard once the new one runs).
    restored: Option<PathBuf>,
    warning: Option<String>,
}

/// The view, opacities and history of a session, put back once its
/// segment entities exist.
#[derive(Resource)]
struct PendingSession {
    history: Option<History>,
    view: serde_json::Value,
    opacity: BTreeMap<u16, f32>,
    segments: Vec<u16>,
    /// Frames since it was queued (the old study's entities go first).
    age: u32,
    /// Restored from a journal: unsaved, so autosave starts a new journal at once.
    restored: bool,
    /// Frames to wait after the first surfaces framed the camera.
    camera_after: Option<u32>,
}

struct ScanIndexed(ScanRef, usize);
struct Saved(PathBuf);

pub struct SessionPlugin;

impl Plugin for SessionPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(JobPlugin::<SessionOpened>::default())
            .add_plugins(JobPlugin::<ScanIndexed>::default())
            .add_plugins(JobPlugin::<Saved>::default())
            .add_message::<SaveSession>()
            .add_message::<OpenSession>()
            .add_message::<OpenSessionWithScan>()
            .add_message::<RestoreUnsaved>()
            .init_resource::<AutosaveConfig>()
            .init_resource::<SessionState>()
            .add_systems(Startup, find_unsaved_sessions)
            .add_systems(
                Update,
                (
                    index_scan_on_load,
                    finish_indexing,
                    start_save,
                    finish_save,
                    start_open,
                    start_restore,
                    finish_open,
                    apply_pending.after(crate::app::history::clear_on_load),
                    autosave,
                )
                    .chain(),
            );
    }
}

fn find_unsaved_sessions(config: Res<AutosaveConfig>, mut state: ResMut<SessionState>) {
    let Some(root) = &config.root else { return };
    match find_unsaved(root) {
        Ok(list) => state.unsaved = list,
        Err(e) => warn!("autosave folder unreadable: {e}"),
    }
}

/// A new study (not from a session) gets its scan reference computed in
/// the background: sessions and journals need it.
fn index_scan_on_load(
    mut commands: Commands,
    study: Option<Res<Study>>,
    source: Option<Res<StudySource>>,
    mut state: ResMut<SessionState>,
) {
    // Keyed on the volume itself: a load's message can arrive before the
    // new study resource is in place.
    let (Some(study), Some(source)) = (study, source) else {
        return;
    };
    let key = Arc::as_ptr(&study.volume) as usize;
    if state.indexed_for == Some(key) {
        return;
    }
    state.indexed_for = Some(key);
    state.path = None;
    state.saved_generation = 0;
    state.scan = None;
    let volume = study.volume.clone();
    let (path, series, subset) = (source.path.clone(), source.series.clone(), source.subset);
    spawn_job(&mut commands, "Indexing the scan", move |p: &Progress| {
        p.begin("hashing the voxels", 1);
        let mut r = ScanRef::new(&path, series, &volume);
        r.subset = subset;
        p.advance(1);
        Ok(ScanIndexed(r, key))
    });
}

fn finish_indexing(
    mut done: MessageMutator<JobDone<ScanIndexed>>,
    study: Option<Res<Study>>,
    mut state: ResMut<SessionState>,
    mut notices: ResMut<Notices>,
) {
    for d in done.read() {
        let title = d.title.clone();
        if let Some(ScanIndexed(r, key)) = notices.take(&title, d.take())
            && study
                .as_ref()
                .is_some_and(|s| Arc::as_ptr(&s.volume) as usize == key)
        {
            state.scan = Some(r);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn start_save(
    mut commands: Commands,
    mut requests: MessageReader<SaveSession>,
    study: Option<Res<Study>>,
    state: Res<SessionState>,
    history: Res<EditHistory>,
    segments: Query<&Segment>,
    levels: Query<(&Segment, &SurfaceLevel)>,
    parts: ViewParts,
    mut notices: ResMut<Notices>,
) {
    for SaveSession(dir) in requests.read() {
        let Some(study) = study.as_deref() else {
            notices.error("Open a study before saving a session");
            continue;
        };
        let Some(scan) = state.scan.clone() else {
            notices.error("The scan is still being indexed: save again in a moment");
            continue;
        };
        let snapshot = match history.core.snapshot() {
            Ok(s) => s,
            Err(e) => {
                notices.error(format!("The session could not be saved: {e}"));
                continue;
            }
        };
        let labels = study.labels.clone();
        let opacity = segments.iter().map(|s| (s.id, s.opacity)).collect();
        let surface_levels = levels.iter().map(|(s, l)| (s.id, l.0)).collect();
        let view = view_json(&parts, selected_id(&parts.tools, &segments));
        let dir = dir.clone();
        spawn_job(&mut commands, "Saving the session", move |_p: &Progress| {
            let data = SessionData {
                scan: Some(scan),
                labels: (*labels).clone(),
                opacity,
                surface_levels,
                view,
                history: snapshot,
            };
            save_session(&dir, &data, env!("CARGO_PKG_VERSION"))?;
            Ok(Saved(dir))
        });
    }
}

fn finish_save(
    mut done: MessageMutator<JobDone<Saved>>,
    mut state: ResMut<SessionState>,
    mut history: ResMut<EditHistory>,
    mut notices: ResMut<Notices>,
) {
    for d in done.read() {
        let title = d.title.clone();
        let Some(Saved(dir)) = notices.take(&title, d.take()) else {
            continue;
        };
        notices.info(format!(
            "Session saved: {}",
            crate::app::loading::display_name(&dir)
        ));
        state.path = Some(dir);
        state.saved_generation = history.generation;
        // Saved: the journal of unsaved edits is not needed any more; the
        // next edit starts a new one.
        if let Some(j) = history.core.take_journal()
            && let Err(e) = j.discard()
        {
            warn!("the old autosave could not be removed: {e}");
        }
    }
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

fn start_open(
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
            let (study, source, warning) =
                study_for(&scan, &dir, pointed.as_deref(), data.labels, p)?;
            Ok(SessionOpened {
                study,
                source,
                scan: Some(scan),
                history: History::from_snapshot(data.history, HistoryConfig::default()),
                view: data.view,
                opacity: data.opacity,
                surface_levels: data.surface_levels,
                dir: Some(dir),
                restored: None,
                warning,
            })
        });
    }
}

fn start_restore(
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
                    surface_levels: BTreeMap::new(),
                    dir: None,
                    restored: Some(dir),
                    warning,
                })
            },
        );
    }
}

#[allow(clippy::too_many_arguments)]
fn finish_open(
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
        });
    }
}

/// Puts a session's history, view and opacities back once its segment
/// entities exist (after the new study reset them), and its camera once
/// the first surfaces were framed.
#[allow(clippy::too_many_arguments)]
fn apply_pending(
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

/// Starts the journal at the first edit (its base is the state then,
/// history included) and records the view when it changes.
#[allow(clippy::too_many_arguments)]
fn autosave(
    config: Res<AutosaveConfig>,
    study: Option<Res<Study>>,
    mut history: ResMut<EditHistory>,
    mut state: ResMut<SessionState>,
    segments: Query<&Segment>,
    pending: Option<Res<PendingSession>>,
    parts: ViewParts,
    stroke: Res<crate::app::sculpt::StrokeState>,
) {
    let (Some(root), Some(study)) = (&config.root, study) else {
        return;
    };
    if pending.is_some() || stroke.is_active() {
        return;
    }
    let unsaved = history.generation != state.saved_generation && !history.core.is_empty();
    if history.core.journal().is_none() && unsaved {
        let Some(scan) = state.scan.clone() else {
            return;
        };
        let snapshot = match history.core.snapshot() {
            Ok(s) => s,
            Err(e) => {
                warn!("autosave not started: {e}");
                return;
            }
        };
        let base = JournalBase {
            scan: Some(scan),
            labels: (*study.labels).clone(),
            opacity: segments.iter().map(|s| (s.id, s.opacity)).collect(),
            view: view_json(&parts, selected_id(&parts.tools, &segments)),
            history: snapshot,
        };
        match Journal::start(root, base, env!("CARGO_PKG_VERSION")) {
            Ok(j) => history.core.attach_journal(j),
            Err(e) => warn!("autosave not started: {e}"),
        }
        return;
    }
    // The view is small but not free to compare: once a second or so.
    state.view_check += 1;
    if state.view_check < 60 {
        return;
    }
    state.view_check = 0;
    if let Some(j) = history.core.journal() {
        let view = view_json(&parts, selected_id(&parts.tools, &segments));
        if state.last_view.as_ref() != Some(&view) {
            let opacity = segments.iter().map(|s| (s.id, s.opacity)).collect();
            j.record_view(&view, &opacity);
            state.last_view = Some(view);
        }
    }
}
