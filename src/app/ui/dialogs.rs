//! The dialogs: open a scan, pick a series, export.

use std::path::PathBuf;

use bevy::prelude::*;
use bevy_egui::egui;
use stratum_core::export::Format;

use crate::app::features::export::{ExportRequest, ShareRequest};
use crate::app::features::loading::OpenRequest;

use super::DialogsUi;

pub(super) fn dialogs(ctx: &egui::Context, p: &mut DialogsUi) {
    open_dialog(ctx, p);
    series_dialog(ctx, p);
    super::too_large::too_large_dialog(ctx, p);
    export_dialog(ctx, p);
    share_dialog(ctx, p);
}

pub(super) fn open_dialog(ctx: &egui::Context, p: &mut DialogsUi) {
    if !p.open_dialog.open {
        return;
    }
    let mut keep_open = true;
    let mut request = None;
    egui::Window::new("Open a scan")
        .open(&mut keep_open)
        .default_width(520.0)
        .show(ctx, |ui| {
            ui.label("A DICOM folder (all series in it are found) or a .nii / .nii.gz file:");
            ui.add(
                egui::TextEdit::singleline(&mut p.open_dialog.path).desired_width(f32::INFINITY),
            );
            let dir = PathBuf::from(&p.open_dialog.path);
            let browse = if dir.is_dir() {
                dir.clone()
            } else {
                dir.parent()
                    .map(|d| d.to_path_buf())
                    .unwrap_or_else(|| "/".into())
            };
            ui.horizontal(|ui| {
                if ui.button("⬆ Up").clicked()
                    && let Some(parent) = browse.parent()
                {
                    p.open_dialog.path = parent.to_string_lossy().into_owned();
                }
                if ui.button("Open").clicked() {
                    request = Some(PathBuf::from(&p.open_dialog.path));
                }
            });
            egui::ScrollArea::vertical()
                .max_height(300.0)
                .show(ui, |ui| {
                    let mut entries: Vec<(bool, PathBuf)> = std::fs::read_dir(&browse)
                        .map(|rd| {
                            rd.flatten()
                                .map(|e| (e.path().is_dir(), e.path()))
                                .filter(|(_, p)| {
                                    !p.file_name()
                                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    entries.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                    for (is_dir, path) in entries.into_iter().take(500) {
                        let name = path
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        let label = if is_dir { format!("📁 {name}") } else { name };
                        let r = ui.selectable_label(
                            std::path::Path::new(&p.open_dialog.path) == path,
                            label,
                        );
                        if r.clicked() {
                            p.open_dialog.path = path.to_string_lossy().into_owned();
                        }
                        if r.double_clicked() {
                            request = Some(path);
                        }
                    }
                });
        });
    if let Some(path) = request {
        p.open.write(OpenRequest {
            path,
            series: None,
            labels: None,
            subset: Default::default(),
        });
        keep_open = false;
    }
    p.open_dialog.open = keep_open;
}

pub(super) fn series_dialog(ctx: &egui::Context, p: &mut DialogsUi) {
    let Some((path, list)) = p.series_choice.pending.clone() else {
        return;
    };
    let mut keep_open = true;
    let mut pick = None;
    egui::Window::new("Pick a series")
        .open(&mut keep_open)
        .default_width(480.0)
        .show(ctx, |ui| {
            ui.label(format!("{} series in this folder:", list.len()));
            egui::Grid::new("series").striped(true).show(ui, |ui| {
                for s in &list {
                    ui.label(&s.label);
                    ui.label(format!("{} slices", s.slices));
                    ui.label(&s.size);
                    if ui.button("Open").clicked() {
                        pick = Some(s.id.clone());
                    }
                    ui.end_row();
                }
            });
        });
    if let Some(id) = pick {
        p.open.write(OpenRequest {
            path,
            series: Some(id),
            labels: None,
            subset: Default::default(),
        });
        keep_open = false;
    }
    if !keep_open {
        p.series_choice.pending = None;
    }
}

pub(super) fn export_dialog(ctx: &egui::Context, p: &mut DialogsUi) {
    if !p.export.open {
        return;
    }
    let mut keep_open = true;
    let mut go = false;
    egui::Window::new("Export")
        .open(&mut keep_open)
        .default_width(460.0)
        .show(ctx, |ui| {
            ui.horizontal_wrapped(|ui| {
                ui.label("Format:");
                ui.radio_value(
                    &mut p.export.format,
                    Format::Obj,
                    "OBJ + MTL + PNG (textured)",
                );
                ui.radio_value(&mut p.export.format, Format::Stl, "STL (3D printing)");
                ui.radio_value(
                    &mut p.export.format,
                    Format::ThreeMf,
                    "3MF (colour printing)",
                );
                ui.radio_value(&mut p.export.format, Format::Glb, "GLB (viewers, AR)");
            });
            destination_fields(ui, &mut p.export);
            if matches!(p.export.format, Format::Obj | Format::Glb) {
                ui.checkbox(
                    &mut p.export.scan_texture,
                    "Texture with the scan (else flat segment colours)",
                );
                if p.export.scan_texture {
                    ui.checkbox(
                        &mut p.export.ambient_occlusion,
                        "Shade folds and gaps (ambient occlusion)",
                    );
                }
            }
            let mut keep = (1.0 - p.export.reduce) * 100.0;
            ui.add(egui::Slider::new(&mut keep, 5.0..=100.0).text("% triangles kept"));
            p.export.reduce = 1.0 - keep / 100.0;
            margin_note(ui, p, matches!(p.export.format, Format::Obj | Format::Glb));
            ui.label(format!("Writes {}", p.export.path().display()));
            ui.label(match p.export.format {
                Format::Glb => {
                    "Units: metres, +Y superior (glTF); the LPS placement is kept. No patient data is written."
                }
                _ => "Units: millimetres, DICOM patient (LPS) axes; no patient data is written.",
            });
            if ui.button("Export").clicked() {
                go = true;
            }
        });
    if go {
        p.export_now.write(ExportRequest);
        keep_open = false;
    }
    p.export.open = keep_open;
}

/// File ▸ Share: one HTML page a patient opens offline by double click
/// (rotate, zoom, tap a structure for its name and volume), with a title
/// and a note typed here; nothing else about the patient goes in.
pub(super) fn share_dialog(ctx: &egui::Context, p: &mut DialogsUi) {
    if !p.export.share_open {
        return;
    }
    let mut keep_open = true;
    let mut go = false;
    egui::Window::new("Share with the patient")
        .open(&mut keep_open)
        .default_width(460.0)
        .show(ctx, |ui| {
            ui.label(
                "One page that opens offline in any current browser, on a phone or a laptop: \
                 the structures in their colours, to turn and zoom, a tap shows a name and volume.",
            );
            ui.horizontal(|ui| {
                ui.label("Title:");
                ui.add(
                    egui::TextEdit::singleline(&mut p.export.share_title)
                        .hint_text("e.g. Your kidneys")
                        .desired_width(320.0),
                );
            });
            ui.label("Note:");
            ui.add(
                egui::TextEdit::multiline(&mut p.export.share_note)
                    .hint_text("A few words for the patient")
                    .desired_rows(3)
                    .desired_width(f32::INFINITY),
            );
            destination_fields(ui, &mut p.export);
            let mut keep = (1.0 - p.export.share_reduce) * 100.0;
            ui.add(egui::Slider::new(&mut keep, 2.0..=100.0).text("% triangles kept"));
            p.export.share_reduce = 1.0 - keep / 100.0;
            margin_note(ui, p, true);
            ui.label(format!("Writes {}", p.export.share_path().display()));
            ui.weak("No patient data is written; only what you type above.");
            if ui.button("Write the page").clicked() {
                go = true;
            }
        });
    if go {
        p.share_now.write(ShareRequest);
        keep_open = false;
    }
    p.export.share_open = keep_open;
}

/// Whether the margin map on screen goes into the file as colours.
fn margin_note(ui: &mut egui::Ui, p: &DialogsUi, coloured: bool) {
    let Some(m) = p.margins.as_ref().and_then(|m| m.shown.as_ref()) else {
        return;
    };
    let [near, far] = m.thresholds_mm;
    if coloured {
        ui.label(format!(
            "The margin map on screen is written as colours: red under {near} mm, yellow under {far} mm."
        ));
    } else {
        ui.weak("STL and 3MF carry no colour per point: the margin map is not written.");
    }
}

/// Where an export or share page goes, and which segments: both dialogs.
fn destination_fields(
    ui: &mut egui::Ui,
    export: &mut crate::app::features::export::ExportSettings,
) {
    ui.horizontal(|ui| {
        ui.label("Folder:");
        ui.add(egui::TextEdit::singleline(&mut export.folder).desired_width(300.0));
    });
    ui.horizontal(|ui| {
        ui.label("Name:");
        ui.add(egui::TextEdit::singleline(&mut export.name).desired_width(200.0));
    });
    ui.checkbox(&mut export.visible_only, "Only the visible segments");
}
