//! Autosave: where the journals go, the journal started at the first
//! unsaved edit (then the document's observer: it receives every step and
//! every change of the segments' properties) and the view recorded in it as
//! it changes, and the unsaved sessions found at start (offered for
//! restore).

use std::path::PathBuf;
use std::sync::Arc;

use bevy::prelude::*;
use stratum_core::session::SessionData;
use stratum_core::session::journal::{Journal, default_autosave_root, find_unsaved};

use super::{AUTOSAVE, PendingSession, SessionState};
use crate::app::features::session_view::{ViewParts, selected_id, view_json};
use crate::app::state::segments::Segment;
use crate::app::state::study::Study;

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

pub(super) fn find_unsaved_sessions(config: Res<AutosaveConfig>, mut state: ResMut<SessionState>) {
    let Some(root) = &config.root else { return };
    match find_unsaved(root) {
        Ok(list) => state.unsaved = list,
        Err(e) => warn!("autosave folder unreadable: {e}"),
    }
}

/// Starts the journal at the first edit (its base is the state then,
/// history included) and records the view when it changes.
pub(super) fn autosave(
    config: Res<AutosaveConfig>,
    mut study: ResMut<Study>,
    mut state: ResMut<SessionState>,
    segments: Query<&Segment>,
    pending: Option<Res<PendingSession>>,
    parts: ViewParts,
) {
    let Some(root) = &config.root else {
        return;
    };
    if pending.is_some() || study.doc.stroking().is_some() {
        return;
    }
    let unsaved =
        study.doc.generation() != state.saved_generation && !study.doc.history().is_empty();
    if state.journal.is_none() && unsaved {
        let Some(scan) = state.scan.clone() else {
            return;
        };
        let document = match study.doc.state() {
            Ok(s) => s,
            Err(e) => {
                warn!("autosave not started: {e}");
                return;
            }
        };
        let base = SessionData {
            scan: Some(scan),
            document,
            view: view_json(&parts, selected_id(&parts.tools, &segments)),
        };
        match Journal::start(root, base, env!("CARGO_PKG_VERSION")) {
            Ok(j) => {
                let j = Arc::new(j);
                study.doc.observe(AUTOSAVE, j.observer());
                state.journal = Some(j);
            }
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
    if let Some(j) = state.journal.clone() {
        let now = view_json(&parts, selected_id(&parts.tools, &segments));
        if state.last_view.as_ref() != Some(&now) {
            j.record_view(&now);
            state.last_view = Some(now);
        }
    }
}
