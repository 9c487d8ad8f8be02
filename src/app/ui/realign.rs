//! The Study panel's offer to correct motion between slices: a button under
//! the checklist line, Re-align or Undo.

use bevy_egui::egui;
use stratum_core::checks::{Check, SeriesReport};

use crate::app::features::realign::RealignAction;

/// The button for checklist line `c`, and what it asks for when clicked.
pub(super) fn offer(ui: &mut egui::Ui, report: &SeriesReport, c: &Check) -> Option<RealignAction> {
    let motion = report.motion.as_ref()?;
    let first_motion_line = report.checks.iter().find(|k| k.name == "motion");
    let (label, hint, action) = match c.name {
        "motion_correction" => (
            "Undo re-alignment",
            "Put the slices back as they were loaded",
            RealignAction::Undo,
        ),
        // One button for all correctable findings, under the first line.
        "motion"
            if motion.applied.is_none()
                && motion.findings.iter().any(|f| f.correctable)
                && first_motion_line.is_some_and(|k| std::ptr::eq(k, c)) =>
        {
            (
                "Re-align these slices",
                "Move the shifted slices back in line with their neighbours (the files are not changed; Undo puts them back)",
                RealignAction::Apply,
            )
        }
        _ => return None,
    };
    ui.button(label)
        .on_hover_text(hint)
        .clicked()
        .then_some(action)
}
