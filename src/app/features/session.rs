//! Sessions in the app: File ▸ Save session / Open session (the core's
//! `name.stratum/` folders), `stratum <session>` reopening one, the autosave
//! journal every edit is appended to in the background, and the offer to
//! restore an unsaved session on the next start. The app's part is the
//! opaque `view` JSON (see `session_view`) and putting the study back.
//! This module holds the messages and the session state; `save`, `open`
//! and `autosave` the systems of each.

use std::path::PathBuf;
use std::sync::Arc;

use bevy::prelude::*;
use stratum_core::session::ScanRef;
use stratum_core::session::journal::{Journal, Unsaved};

use crate::app::state::jobs::JobPlugin;
use crate::app::state::study::Study;

pub mod autosave;
mod open;
mod save;

/// The key of the autosave journal among the document's observers.
pub(crate) const AUTOSAVE: &str = "autosave";

/// Save the open study as a session folder (`name.stratum`).
#[derive(Message, Clone, Debug)]
pub struct SaveSession(pub PathBuf);

/// Open a session folder.
#[derive(Message, Clone, Debug)]
pub struct OpenSession(pub PathBuf);

/// The open study's volume was replaced by the same scan opened another
/// way (slices re-aligned, or put back): the session keeps its folder,
/// its scan reference is computed again, and it counts as unsaved.
#[derive(Message, Clone, Copy, Debug, Default)]
pub struct ScanReplaced;

/// Restore (true) or throw away (false) an unsaved session's journal.
#[derive(Message, Clone, Debug)]
pub struct RestoreUnsaved {
    pub dir: PathBuf,
    pub restore: bool,
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
    /// The document's generation at the last save (unsaved edits when it
    /// differs).
    pub saved_generation: u64,
    /// The scan reference (its voxel hash takes a while: computed once per study).
    pub scan: Option<ScanRef>,
    /// Journals of unsaved sessions found at start, offered for restore.
    pub unsaved: Vec<Unsaved>,
    /// A session waiting for the user to say where its scan is now.
    pub missing_scan: Option<MissingScan>,
    /// The autosave journal of the open study (its document's observer),
    /// once there are unsaved edits.
    pub journal: Option<Arc<Journal>>,
    /// The journal's last view record, to write it only when it changes.
    last_view: Option<serde_json::Value>,
    view_check: u32,
    /// The volume (its address) whose scan reference is known or being computed.
    indexed_for: Option<usize>,
}

/// The view of a session, put back once its segment entities exist.
#[derive(Resource)]
struct PendingSession {
    view: serde_json::Value,
    segments: Vec<u16>,
    /// Frames since it was queued (the old study's entities go first).
    age: u32,
    /// The view went back on the segments.
    applied: bool,
    /// Frames to wait after the first surfaces framed the camera.
    camera_after: Option<u32>,
}

pub struct SessionPlugin;

impl Plugin for SessionPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(JobPlugin::<open::SessionOpened>::default())
            .add_plugins(JobPlugin::<save::ScanIndexed>::default())
            .add_plugins(JobPlugin::<save::Saved>::default())
            .add_message::<SaveSession>()
            .add_message::<OpenSession>()
            .add_message::<ScanReplaced>()
            .add_message::<OpenSessionWithScan>()
            .add_message::<RestoreUnsaved>()
            .init_resource::<autosave::AutosaveConfig>()
            .init_resource::<SessionState>()
            .add_systems(Startup, autosave::find_unsaved_sessions)
            .add_systems(
                Update,
                (
                    save::index_scan_on_load,
                    save::finish_indexing,
                    save::start_save,
                    save::finish_save,
                    open::open_requested_sessions,
                    open::start_open,
                    open::start_restore,
                    open::finish_open,
                    open::apply_pending,
                    autosave::autosave.run_if(resource_exists::<Study>),
                )
                    .chain(),
            );
    }
}
