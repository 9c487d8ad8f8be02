//! The editing panels: the brush (tool, diameter, 2D or sphere, intensity
//! range, overwrite, smoothing), the history (undo, redo, every step named
//! and listed), the session items of the File menu with their dialogs, the
//! offer to restore an unsaved session, and the Ctrl+Z / Ctrl+Shift+Z /
//! Ctrl+S shortcuts. Each part only sends messages or edits settings.

use std::path::PathBuf;

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy_egui::egui;

use stratum_core::edit::SliceAxis;

use crate::app::actions::{BrushAction, BrushTool, FileAction, HistoryAction};
use crate::app::features::sculpt::{AddEmptySegment, BrushSettings, FillBetweenSlices};
use crate::app::features::session::{
    OpenSession, OpenSessionWithScan, RestoreUnsaved, SaveSession, SessionState,
};
use crate::app::state::study::Study;

/// Which session dialog is open, and its path field: a resource, since the
/// File menu opens it and the windows pass draws it.
#[derive(Resource, Default)]
pub struct SessionDialog {
    save: bool,
    open: bool,
    path: String,
}

/// The Brush and History sections and the brush on the slice views.
#[derive(SystemParam)]
pub struct BrushUi<'w> {
    pub brush: ResMut<'w, BrushSettings>,
    pub brush_actions: MessageWriter<'w, BrushAction>,
    study: Option<Res<'w, Study>>,
    history_actions: MessageWriter<'w, HistoryAction>,
    add_empty: MessageWriter<'w, AddEmptySegment>,
    fill: MessageWriter<'w, FillBetweenSlices>,
}

/// The session items of the File menu, their dialogs and Ctrl+S.
#[derive(SystemParam)]
pub struct SessionUi<'w, 's> {
    file_actions: MessageReader<'w, 's, FileAction>,
    session: ResMut<'w, SessionState>,
    dialog: ResMut<'w, SessionDialog>,
    save: MessageWriter<'w, SaveSession>,
    open: MessageWriter<'w, OpenSession>,
    open_with_scan: MessageWriter<'w, OpenSessionWithScan>,
    restore: MessageWriter<'w, RestoreUnsaved>,
}

impl BrushUi<'_> {
    /// The brush when it paints on the slice views.
    pub fn brush_on_slices(&self) -> Option<&BrushSettings> {
        self.brush.active.then_some(&*self.brush)
    }

    /// The Brush and History sections of the tools panel (`selected`: the
    /// selected segment's name).
    pub fn panels(&mut self, ui: &mut egui::Ui, selected: Option<String>) {
        self.brush_panel(ui, selected);
        ui.separator();
        self.history_panel(ui);
    }

    fn brush_panel(&mut self, ui: &mut egui::Ui, selected: Option<String>) {
        ui.heading("Brush");
        let b = &mut *self.brush;
        ui.horizontal(|ui| {
            ui.checkbox(&mut b.active, "Brush on")
                .on_hover_text("Drag on a slice to paint, on the 3D surface to sculpt");
            for tool in [BrushTool::Paint, BrushTool::Erase, BrushTool::Smooth] {
                if ui.selectable_label(b.tool == tool, tool.name()).clicked() {
                    b.tool = tool;
                    b.active = true;
                }
            }
        });
        match &selected {
            Some(name) => ui.label(format!("Edits {name}. In 3D: paint adds, erase removes.")),
            None => ui.colored_label(
                egui::Color32::from_rgb(235, 170, 50),
                "Select a segment to edit, or add an empty one.",
            ),
        };
        if ui.small_button("New empty segment").clicked() {
            self.add_empty.write(AddEmptySegment);
        }
        let b = &mut *self.brush;
        ui.add(
            egui::Slider::new(&mut b.diameter_mm, 1.0..=80.0)
                .logarithmic(true)
                .text("diameter mm"),
        );
        ui.checkbox(&mut b.sphere, "Sphere (off: this slice only)");
        ui.horizontal(|ui| {
            ui.checkbox(&mut b.limit_range, "Only from");
            ui.add_enabled(
                b.limit_range,
                egui::DragValue::new(&mut b.range.0).speed(5.0),
            );
            ui.label("to");
            ui.add_enabled(
                b.limit_range,
                egui::DragValue::new(&mut b.range.1).speed(5.0),
            );
        });
        if b.range.0 > b.range.1 {
            b.range = (b.range.1, b.range.0);
        }
        ui.checkbox(&mut b.overwrite, "Paint over other segments");
        if b.tool == BrushTool::Smooth {
            ui.add(egui::Slider::new(&mut b.smooth_strength, 0.0..=1.0).text("strength"));
        }
        ui.horizontal(|ui| {
            ui.label("Fill between slices:")
                .on_hover_text("Paint a few slices, then interpolate the ones between them");
            for (label, axis) in [
                ("axial", SliceAxis::Axial),
                ("coronal", SliceAxis::Coronal),
                ("sagittal", SliceAxis::Sagittal),
            ] {
                if ui.small_button(label).clicked() {
                    self.fill.write(FillBetweenSlices(axis));
                }
            }
        });
    }

    fn history_panel(&mut self, ui: &mut egui::Ui) {
        ui.heading("History");
        let Some(study) = self.study.as_deref() else {
            ui.label("No study open.");
            return;
        };
        let h = study.doc.history();
        let busy = study.doc.stroking().is_some();
        ui.horizontal(|ui| {
            let undo = h.undo_name().map(|n| format!("↶ Undo {n}"));
            if ui
                .add_enabled(
                    !busy && undo.is_some(),
                    egui::Button::new(undo.unwrap_or_else(|| "↶ Undo".into())),
                )
                .on_hover_text("Ctrl+Z")
                .clicked()
            {
                self.history_actions.write(HistoryAction::Undo);
            }
            let redo = h.redo_name().map(|n| format!("↷ Redo {n}"));
            if ui
                .add_enabled(
                    !busy && redo.is_some(),
                    egui::Button::new(redo.unwrap_or_else(|| "↷ Redo".into())),
                )
                .on_hover_text("Ctrl+Shift+Z")
                .clicked()
            {
                self.history_actions.write(HistoryAction::Redo);
            }
        });
        if h.is_empty() {
            ui.label("No edits yet.");
            return;
        }
        egui::ScrollArea::vertical()
            .id_salt("history-list")
            .max_height(140.0)
            .show(ui, |ui| {
                for (i, step) in h.steps().enumerate() {
                    let text = format!(
                        "{}. {} ({} voxels{})",
                        i + 1,
                        step.name,
                        step.changed_voxels,
                        if step.on_disk { ", on disk" } else { "" }
                    );
                    if step.done {
                        ui.label(text);
                    } else {
                        ui.weak(text);
                    }
                }
            });
        ui.small(format!(
            "{:.1} KiB in memory, {:.1} KiB on disk",
            h.memory_bytes() as f64 / 1024.0,
            h.disk_bytes() as f64 / 1024.0
        ));
    }
}

impl SessionUi<'_, '_> {
    /// Save session… and Open session… in the File menu.
    pub fn file_menu(&mut self, ui: &mut egui::Ui) {
        if ui.button("Save session…").clicked() {
            self.dialog.save = true;
            self.dialog.path = self
                .session
                .path
                .as_ref()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_else(|| default_session_path().to_string_lossy().into_owned());
            ui.close();
        }
        if ui.button("Open session…").clicked() {
            self.dialog.open = true;
            if self.dialog.path.is_empty() {
                self.dialog.path = default_session_path().to_string_lossy().into_owned();
            }
            ui.close();
        }
    }

    /// The session dialogs, the restore offer and the keyboard shortcuts.
    pub fn dialogs_and_keys(&mut self, ctx: &egui::Context) {
        self.shortcuts(ctx);
        self.session_dialog(ctx);
        self.restore_dialog(ctx);
        self.missing_scan_dialog(ctx);
    }

    /// Ctrl+S (from `input/desktop.rs`): save to the session's folder, or
    /// ask where.
    fn shortcuts(&mut self, _ctx: &egui::Context) {
        let save = self
            .file_actions
            .read()
            .any(|a| *a == FileAction::SaveSession);
        if save {
            match &self.session.path {
                Some(p) => {
                    self.save.write(SaveSession(p.clone()));
                }
                None => {
                    self.dialog.save = true;
                    self.dialog.path = default_session_path().to_string_lossy().into_owned();
                }
            }
        }
    }

    fn session_dialog(&mut self, ctx: &egui::Context) {
        let d = &mut *self.dialog;
        if !d.save && !d.open {
            return;
        }
        let title = if d.save {
            "Save session"
        } else {
            "Open session"
        };
        let mut keep = true;
        let mut go = false;
        egui::Window::new(title)
            .open(&mut keep)
            .default_width(480.0)
            .show(ctx, |ui| {
                ui.label(
                    "A session folder (name.stratum): the labels, segments, view and undo \
                     history; the scan stays where it is and is referenced.",
                );
                ui.add(egui::TextEdit::singleline(&mut d.path).desired_width(f32::INFINITY));
                if ui.button(title).clicked() {
                    go = true;
                }
            });
        if go {
            let path = PathBuf::from(d.path.trim());
            if d.save {
                self.save.write(SaveSession(path));
            } else {
                self.open.write(OpenSession(path));
            }
            keep = false;
        }
        if !keep {
            d.save = false;
            d.open = false;
        }
    }

    /// A session's scan moved: the user says where it is now (the voxels
    /// are still checked against the session's hash and size).
    fn missing_scan_dialog(&mut self, ctx: &egui::Context) {
        let Some(m) = self.session.missing_scan.as_mut() else {
            return;
        };
        let mut keep = true;
        let mut go = false;
        egui::Window::new("Where is the scan now?")
            .open(&mut keep)
            .default_width(480.0)
            .show(ctx, |ui| {
                ui.label(format!(
                    "The session's scan ({}) is not where it was saved, nor beside the \
                     session. Type the folder or file where it is now:",
                    m.name
                ));
                ui.add(egui::TextEdit::singleline(&mut m.typed).desired_width(f32::INFINITY));
                go = ui.button("Open the session with this scan").clicked();
            });
        if go && !m.typed.trim().is_empty() {
            self.open_with_scan.write(OpenSessionWithScan {
                session: m.session.clone(),
                scan: PathBuf::from(m.typed.trim()),
            });
        }
        if !keep {
            self.session.missing_scan = None;
        }
    }

    fn restore_dialog(&mut self, ctx: &egui::Context) {
        let Some(u) = self.session.unsaved.first() else {
            return;
        };
        let dir = u.dir.clone();
        let when = u.created_unix;
        let scan = u
            .scan
            .as_ref()
            .map(|s| crate::app::features::loading::display_name(&s.path))
            .unwrap_or_else(|| "a scan".into());
        egui::Window::new("Restore the unsaved session?")
            .collapsible(false)
            .show(ctx, |ui| {
                ui.label(format!(
                    "Stratum closed with unsaved edits of {scan} (autosave started {}).",
                    format_age(when)
                ));
                ui.horizontal(|ui| {
                    if ui.button("Restore").clicked() {
                        self.restore.write(RestoreUnsaved {
                            dir: dir.clone(),
                            restore: true,
                        });
                    }
                    if ui.button("Discard").clicked() {
                        self.restore.write(RestoreUnsaved {
                            dir: dir.clone(),
                            restore: false,
                        });
                    }
                });
            });
    }
}

fn default_session_path() -> PathBuf {
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    home.join("study.stratum")
}

/// "5 min ago", "3 h ago", "2 days ago".
fn format_age(unix: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let s = now.saturating_sub(unix);
    match s {
        0..=119 => "just now".into(),
        120..=7199 => format!("{} min ago", s / 60),
        7200..=172_799 => format!("{} h ago", s / 3600),
        _ => format!("{} days ago", s / 86400),
    }
}
