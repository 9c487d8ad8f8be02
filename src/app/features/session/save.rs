//! Saving a session: the open study's scan reference (its voxel hash),
//! computed once per study in the background, and File ▸ Save session
//! writing the `name.stratum/` folder.

use std::path::PathBuf;
use std::sync::Arc;

use bevy::prelude::*;
use stratum_core::Progress;
use stratum_core::session::{ScanRef, SessionData, save_session};

use super::{SaveSession, SessionState};
use crate::app::history::EditHistory;
use crate::app::jobs::{JobDone, Notices, spawn_job};
use crate::app::loading::{Study, StudySource};
use crate::app::segmentation::{Segment, SoftEdge, SurfaceLevel};
use crate::app::session_view::{ViewParts, selected_id, view_json};

pub(super) struct ScanIndexed(ScanRef, usize);
pub(super) struct Saved(PathBuf);

/// A new study (not from a session) gets its scan reference computed in
/// the background: sessions and journals need it.
pub(super) fn index_scan_on_load(
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
    let realign = study.report.motion.as_ref().and_then(|m| m.applied.clone());
    spawn_job(&mut commands, "Indexing the scan", move |p: &Progress| {
        p.begin("hashing the voxels", 1);
        let mut r = ScanRef::new(&path, series, &volume);
        r.subset = subset;
        r.realign = realign;
        p.advance(1);
        Ok(ScanIndexed(r, key))
    });
}

pub(super) fn finish_indexing(
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
pub(super) fn start_save(
    mut commands: Commands,
    mut requests: MessageReader<SaveSession>,
    study: Option<Res<Study>>,
    state: Res<SessionState>,
    history: Res<EditHistory>,
    segments: Query<&Segment>,
    levels: Query<(&Segment, &SurfaceLevel)>,
    soft: Query<(&Segment, &SoftEdge)>,
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
        let soft_edges = soft.iter().map(|(s, f)| (s.id, f.0.clone())).collect();
        let view = view_json(&parts, selected_id(&parts.tools, &segments));
        let dir = dir.clone();
        spawn_job(&mut commands, "Saving the session", move |_p: &Progress| {
            let data = SessionData {
                scan: Some(scan),
                labels: (*labels).clone(),
                opacity,
                surface_levels,
                soft_edges,
                view,
                history: snapshot,
            };
            save_session(&dir, &data, env!("CARGO_PKG_VERSION"))?;
            Ok(Saved(dir))
        });
    }
}

pub(super) fn finish_save(
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
