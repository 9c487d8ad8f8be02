//! Saving a session: the open study's scan reference (its voxel hash),
//! computed once per study in the background, and File ▸ Save session
//! writing the `name.stratum/` folder.

use std::path::PathBuf;
use std::sync::Arc;

use bevy::prelude::*;
use stratum_core::base::progress::Progress;
use stratum_core::session::{ScanRef, SessionData, save_session};

use super::{AUTOSAVE, SaveSession, ScanReplaced, SessionState};
use crate::app::features::loading::display_name;
use crate::app::features::session_view::{ViewParts, selected_id, view_json};
use crate::app::state::jobs::{JobDone, Notices, spawn_job};
use crate::app::state::segments::Segment;
use crate::app::state::study::{Study, StudySource};

pub(super) struct ScanIndexed(ScanRef, usize);
/// A saved session: its folder and the document's generation saved.
pub(super) struct Saved(PathBuf, u64);

/// A new study (not from a session) gets its scan reference computed in
/// the background: sessions and journals need it. So does the same study
/// whose volume was replaced ([`ScanReplaced`]), keeping its session folder.
pub(super) fn index_scan_on_load(
    mut commands: Commands,
    study: Option<ResMut<Study>>,
    source: Option<Res<StudySource>>,
    mut state: ResMut<SessionState>,
    mut replaced: MessageReader<ScanReplaced>,
) {
    let same_study = replaced.read().last().is_some();
    // Keyed on the volume itself: a load's message can arrive before the
    // new study resource is in place.
    let (Some(mut study), Some(source)) = (study, source) else {
        return;
    };
    let key = Arc::as_ptr(&study.volume) as usize;
    if state.indexed_for == Some(key) {
        return;
    }
    state.indexed_for = Some(key);
    state.scan = None;
    if same_study {
        // The journal's base names the scan as it was: a new one starts
        // with the new reference, and this one goes.
        study.doc.unobserve(AUTOSAVE);
        if let Some(j) = state.journal.take()
            && let Ok(j) = Arc::try_unwrap(j)
            && let Err(e) = j.discard()
        {
            warn!("the old autosave could not be removed: {e}");
        }
        state.saved_generation = u64::MAX;
    } else {
        state.path = None;
        state.saved_generation = study.doc.generation();
        // The old study's journal goes with it (kept on disk: it was unsaved).
        state.journal = None;
    }
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

pub(super) fn start_save(
    mut commands: Commands,
    mut requests: MessageReader<SaveSession>,
    study: Option<ResMut<Study>>,
    state: Res<SessionState>,
    segments: Query<&Segment>,
    parts: ViewParts,
    mut notices: ResMut<Notices>,
) {
    let Some(mut study) = study else {
        for _ in requests.read() {
            notices.error("Open a study before saving a session");
        }
        return;
    };
    for SaveSession(dir) in requests.read() {
        let Some(scan) = state.scan.clone() else {
            notices.error("The scan is still being indexed: save again in a moment");
            continue;
        };
        // The document as it is now (a pending rename sealed into it).
        let document = match study.doc.state() {
            Ok(d) => d,
            Err(e) => {
                notices.error(format!("The session could not be saved: {e}"));
                continue;
            }
        };
        let generation = study.doc.generation();
        let view = view_json(&parts, selected_id(&parts.tools, &segments));
        let dir = dir.clone();
        spawn_job(&mut commands, "Saving the session", move |_p: &Progress| {
            let data = SessionData {
                scan: Some(scan),
                document,
                view,
            };
            save_session(&dir, &data, env!("CARGO_PKG_VERSION"))?;
            Ok(Saved(dir, generation))
        });
    }
}

pub(super) fn finish_save(
    mut done: MessageMutator<JobDone<Saved>>,
    mut state: ResMut<SessionState>,
    mut study: Option<ResMut<Study>>,
    mut notices: ResMut<Notices>,
) {
    for d in done.read() {
        let title = d.title.clone();
        let Some(Saved(dir, generation)) = notices.take(&title, d.take()) else {
            continue;
        };
        notices.info(format!("Session saved: {}", display_name(&dir)));
        state.path = Some(dir);
        state.saved_generation = generation;
        // Saved: the journal of unsaved edits is not needed any more; the
        // next edit starts a new one.
        if let Some(study) = study.as_mut() {
            drop(study.doc.unobserve(super::AUTOSAVE));
        }
        if let Some(j) = state.journal.take() {
            match Arc::try_unwrap(j) {
                Ok(j) => {
                    if let Err(e) = j.discard() {
                        warn!("the old autosave could not be removed: {e}");
                    }
                }
                Err(_) => warn!("the old autosave is still in use and stays on disk"),
            }
        }
    }
}
