//! Autosave: where the journals go, the journal started at the first
//! unsaved edit and the view recorded in it as it changes, and the
//! unsaved sessions found at start (offered for restore).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use bevy::prelude::*;
use stratum_core::mesh::SoftField;
use stratum_core::session::journal::{Journal, JournalBase, default_autosave_root, find_unsaved};

use super::{PendingSession, SessionState};
use crate::app::history::EditHistory;
use crate::app::loading::Study;
use crate::app::segmentation::{Segment, SoftEdge, SurfaceLevel};
use crate::app::session_view::{ViewParts, selected_id, view_json};

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
#[allow(clippy::too_many_arguments)]
pub(super) fn autosave(
    config: Res<AutosaveConfig>,
    study: Option<Res<Study>>,
    mut history: ResMut<EditHistory>,
    mut state: ResMut<SessionState>,
    segments: Query<&Segment>,
    levels: Query<(&Segment, &SurfaceLevel)>,
    soft: Query<(&Segment, &SoftEdge)>,
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
    // A segment from a preset or threshold is meshed from the scan at its
    // level: the journal keeps the levels so a restored one looks the same.
    let surface_levels =
        || -> BTreeMap<u16, f64> { levels.iter().map(|(s, l)| (s.id, l.0)).collect() };
    // A model's segments are meshed from their soft edges: journaled too,
    // whenever the set changes (a model ran, a segment went).
    let soft_edges = || -> BTreeMap<u16, Arc<SoftField>> {
        soft.iter().map(|(s, f)| (s.id, f.0.clone())).collect()
    };
    let soft_key = |m: &BTreeMap<u16, Arc<SoftField>>| -> Vec<(u16, usize)> {
        m.iter()
            .map(|(id, f)| (*id, Arc::as_ptr(f) as usize))
            .collect()
    };
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
            surface_levels: surface_levels(),
            soft_edges: soft_edges(),
            view: view_json(&parts, selected_id(&parts.tools, &segments)),
            history: snapshot,
        };
        state.last_soft = soft_key(&base.soft_edges);
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
        let now = (
            view_json(&parts, selected_id(&parts.tools, &segments)),
            surface_levels(),
        );
        if state.last_view.as_ref() != Some(&now) {
            let opacity = segments.iter().map(|s| (s.id, s.opacity)).collect();
            j.record_view(&now.0, &opacity, &now.1);
            state.last_view = Some(now);
        }
        let fields = soft_edges();
        let key = soft_key(&fields);
        if key != state.last_soft {
            j.record_soft_edges(&fields);
            state.last_soft = key;
        }
    }
}
