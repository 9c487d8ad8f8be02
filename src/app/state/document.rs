//! The one way the app changes the segmentation: an [`Edit`] applied to the
//! study's document through [`DocEdit`], which sends the resulting
//! [`DocumentChanged`]. Sculpting, the segmentation tools, AI and the
//! history only produce edits; the segment entities, the surfaces, the
//! slice views and the autosave react to the changes.

use std::time::Instant;

use bevy::ecs::system::SystemParam;
use bevy::platform::collections::HashMap;
use bevy::prelude::*;
use stratum_core::document::{Change, Edit};

use super::jobs::Notices;
use super::study::Study;

/// Sent after every edit that changed the document (and after an undo or
/// a redo): what to refresh.
#[derive(Message, Clone, Debug)]
pub struct DocumentChanged {
    pub change: Change,
    /// An undo or a redo: segments that come back are not selected anew.
    pub from_history: bool,
    /// When the edit began to be applied (where a brush sample's time to
    /// its chunk meshes starts).
    pub applied: Instant,
}

/// Applies edits to the open study's document, reports a refused one to
/// the user (the document is then unchanged) and announces what changed.
#[derive(SystemParam)]
pub struct DocEdit<'w> {
    study: Option<ResMut<'w, Study>>,
    changed: MessageWriter<'w, DocumentChanged>,
    notices: ResMut<'w, Notices>,
}

impl DocEdit<'_> {
    /// Applies `edit`; `what` names it in an error ("Undo", "Add Bone").
    /// `None` when there is no study or the edit was refused.
    pub fn apply(&mut self, what: &str, edit: Edit) -> Option<Change> {
        let study = self.study.as_mut()?;
        let from_history = matches!(edit, Edit::Undo | Edit::Redo);
        let applied = Instant::now();
        match study.doc.apply(edit) {
            Ok(change) => {
                if !change.is_empty() {
                    self.changed.write(DocumentChanged {
                        change: change.clone(),
                        from_history,
                        applied,
                    });
                }
                Some(change)
            }
            Err(e) => {
                self.notices
                    .error(format!("{what} failed, nothing was changed: {e}"));
                None
            }
        }
    }

    /// The open study, if there is one.
    pub fn study(&self) -> Option<&Study> {
        self.study.as_deref()
    }

    pub fn notices(&mut self) -> &mut Notices {
        &mut self.notices
    }
}

/// Asks for an edit from a panel (a rename, a colour, visibility,
/// opacity): applied by the segments feature before it syncs the entities.
#[derive(Message, Clone, Debug)]
pub struct ApplyEdit(pub Edit);

/// Segment id to entity, kept by the segments feature: the one lookup
/// instead of a search through every segment entity.
#[derive(Resource, Default, Debug)]
pub struct SegmentIndex(pub HashMap<u16, Entity>);

impl SegmentIndex {
    pub fn get(&self, id: u16) -> Option<Entity> {
        self.0.get(&id).copied()
    }
}
