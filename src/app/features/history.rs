//! Undo and redo: a [`HistoryAction`] (Ctrl+Z, Ctrl+Shift+Z, the History
//! buttons; an XR gesture can send the same) becomes the document's undo or
//! redo edit. The steps themselves are the document's (one history for
//! brush strokes, tools, AI results and segment-table changes); what an
//! undo changed reaches the segments, surfaces and views as any edit does.

use bevy::prelude::*;
use stratum_core::document::Edit;

use crate::app::actions::HistoryAction;
use crate::app::state::document::DocEdit;

pub struct HistoryPlugin;

impl Plugin for HistoryPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<HistoryAction>()
            .add_systems(Update, undo_redo);
    }
}

fn undo_redo(mut actions: MessageReader<HistoryAction>, mut doc: DocEdit) {
    for action in actions.read() {
        let (what, edit) = match action {
            HistoryAction::Undo => ("Undo", Edit::Undo),
            HistoryAction::Redo => ("Redo", Edit::Redo),
        };
        if let Some(change) = doc.apply(what, edit)
            && let Some(step) = change.step
        {
            info!("{what}: {step}");
        }
    }
}
