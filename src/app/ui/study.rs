//! The Study panel: the open scan's facts and its checklist.

use bevy::prelude::*;
use bevy_egui::egui;
use stratum_core::checks::Status;

use crate::app::features::realign::RealignAction;
use crate::app::state::study::Study;

use super::{ERR, OK, WARN};

/// Draws the panel; a click on the checklist's Re-align or Undo button
/// comes back as what it asks for.
pub(super) fn study_panel(ui: &mut egui::Ui, study: Option<&Study>) -> Option<RealignAction> {
    ui.heading("Study");
    let Some(study) = study else {
        ui.label("Nothing open yet.");
        return None;
    };
    let v = &study.volume;
    let (nz, ny, nx) = v.dim();
    let g = &v.geometry;
    egui::Grid::new("study-grid").num_columns(2).show(ui, |ui| {
        ui.label("Modality");
        ui.label(&v.modality);
        ui.end_row();
        ui.label("Size");
        ui.label(format!("{nx} × {ny} × {nz} voxels"));
        ui.end_row();
        ui.label("Spacing");
        ui.label(format!(
            "{:.2} × {:.2} × {:.2} mm",
            g.spacing[0], g.spacing[1], g.spacing[2]
        ));
        ui.end_row();
        ui.label("Extent");
        ui.label(format!(
            "{:.0} × {:.0} × {:.0} mm",
            nx as f64 * g.spacing[0],
            ny as f64 * g.spacing[1],
            nz as f64 * g.spacing[2]
        ));
        ui.end_row();
        ui.label("Orientation");
        ui.label(g.orientation_code());
        ui.end_row();
        ui.label("Values");
        let (lo, hi) = (study.histogram.lo, study.histogram.hi);
        let unit = if v.is_ct() { " HU" } else { "" };
        ui.label(format!("{lo:.0} … {hi:.0}{unit}"));
        ui.end_row();
    });
    ui.add_space(8.0);
    ui.heading("Series check");
    let report = &study.report;
    if report.checks.is_empty() {
        ui.label("No checks for this source.");
    }
    let mut action = None;
    let mut last = None;
    for c in &report.checks {
        if last != Some(c.category) {
            ui.add_space(4.0);
            ui.strong(c.category.title());
            last = Some(c.category);
        }
        ui.horizontal_wrapped(|ui| {
            let (mark, colour) = match c.status {
                Status::Ok => ("✔", OK),
                Status::Warning => ("⚠", WARN),
                Status::Error => ("✖", ERR),
            };
            ui.colored_label(colour, mark);
            ui.label(&c.message);
        });
        if let Some(a) = super::realign::offer(ui, report, c) {
            action = Some(a);
        }
    }
    action
}
