//! The three slice views at the bottom and the overlay over the 3D view (progress, notices).

use bevy::prelude::*;
use bevy_egui::egui;
use stratum_core::view::{Plane, WindowPreset};

use super::slice_view::{SliceEvent, SliceExtras, slice_view};
use crate::app::state::jobs::JobInfo;

use super::{ERR, OK, SlicesUi};

pub(super) fn slices_panel(ui: &mut egui::Ui, p: &mut SlicesUi) {
    let auto = p
        .study
        .as_deref()
        .map(|s| s.auto_window)
        .unwrap_or((0.0, 1.0));
    ui.horizontal_wrapped(|ui| {
        ui.label("Window:");
        for preset in WindowPreset::ALL {
            if ui
                .selectable_label(p.slices.preset == preset, preset.name())
                .clicked()
            {
                p.slices.set_preset(preset, auto);
            }
        }
        ui.separator();
        ui.add(
            egui::DragValue::new(&mut p.slices.window.center)
                .speed(2.0)
                .prefix("level "),
        );
        ui.add(
            egui::DragValue::new(&mut p.slices.window.width)
                .speed(4.0)
                .range(1.0..=100000.0)
                .prefix("width "),
        );
        ui.separator();
        ui.add(egui::Slider::new(&mut p.slices.overlay_opacity, 0.0..=1.0).text("overlay"));
        ui.checkbox(&mut p.slices.contours, "mesh contours")
            .on_hover_text(
                "Draw where each 3D surface cuts the slice: check the model against the scan",
            );
        if let Some(pos) = p.slices.crosshair_lps() {
            ui.separator();
            ui.label(format!(
                "L {:.1} P {:.1} S {:.1} mm",
                pos[0], pos[1], pos[2]
            ));
        }
    });
    let mut commands = Vec::new();
    let height = ui.available_height();
    let clips: Vec<_> = p.clip.active().map(|(i, c)| (i, *c)).collect();
    ui.columns(3, |cols| {
        let extras = SliceExtras {
            tools: &p.tools,
            clips: &clips,
            rulers: &p.rulers,
            brush: p.edit.brush_on_slices(),
        };
        for (ui, plane) in cols.iter_mut().zip(Plane::ALL) {
            slice_view(
                ui,
                plane,
                &mut p.slices,
                &p.textures,
                &extras,
                &mut commands,
                height,
            );
        }
    });
    for c in commands {
        match c {
            SliceEvent::Segment(c) => {
                p.seg_commands.write(c);
            }
            SliceEvent::Ruler(r) => {
                p.ruler_actions.write(r);
            }
            SliceEvent::Brush(b) => {
                p.edit.brush_actions.write(b);
            }
        }
    }
}

/// Over the 3D view: progress of running jobs with Cancel, and notices.
pub(super) fn view_overlay(ctx: &egui::Context, view: egui::Rect, p: &mut SlicesUi) {
    // Ruler lengths at their midpoints in the 3D view (the lines are gizmos).
    if let Ok((camera, at)) = p.camera3d.single()
        && !p.rulers.items.is_empty()
    {
        let painter = ctx.layer_painter(egui::LayerId::new(
            egui::Order::Middle,
            egui::Id::new("ruler-labels"),
        ));
        for r in &p.rulers.items {
            let mid = [
                (r.a[0] + r.b[0]) / 2.0,
                (r.a[1] + r.b[1]) / 2.0,
                (r.a[2] + r.b[2]) / 2.0,
            ];
            // Viewport coordinates already count from the window's corner.
            if let Ok(v) = camera.world_to_viewport(at, p.pose.lps_to_world(mid)) {
                let pos = egui::pos2(v.x, v.y);
                if view.contains(pos) {
                    let galley = painter.layout_no_wrap(
                        format!("{:.1} mm", r.length_mm()),
                        egui::FontId::proportional(14.0),
                        egui::Color32::from_rgb(255, 170, 70),
                    );
                    let at = pos + egui::vec2(-galley.size().x / 2.0, -galley.size().y - 6.0);
                    painter.rect_filled(
                        egui::Rect::from_min_size(at, galley.size()).expand(3.0),
                        3.0,
                        egui::Color32::from_black_alpha(170),
                    );
                    painter.galley(at, galley, egui::Color32::WHITE);
                }
            }
        }
    }
    let jobs: Vec<JobInfo> = p.jobs.iter().cloned().collect();
    if !jobs.is_empty() {
        egui::Area::new("jobs".into())
            .fixed_pos(egui::pos2(
                view.min.x + 12.0,
                view.max.y - 16.0 - 46.0 * jobs.len() as f32,
            ))
            .show(ctx, |ui| {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.set_width((view.width() - 48.0).clamp(200.0, 520.0));
                    for job in &jobs {
                        let pr = &job.progress;
                        ui.horizontal(|ui| {
                            ui.label(&job.title);
                            if ui.button("Cancel").clicked() {
                                pr.cancel();
                            }
                        });
                        let stage = pr.stage();
                        let text = if pr.total() > 0 {
                            format!("{stage} {}/{}", pr.done(), pr.total())
                        } else {
                            stage
                        };
                        ui.add(
                            egui::ProgressBar::new(pr.fraction())
                                .text(text)
                                .animate(true),
                        );
                    }
                });
            });
    }
    if p.study.is_none() && jobs.is_empty() {
        egui::Area::new("welcome".into())
            .fixed_pos(view.center() - egui::vec2(180.0, 40.0))
            .show(ctx, |ui| {
                ui.label("Open a DICOM folder or a NIfTI file (File ▸ Open),\ndrop one on this window, or open the demo study.");
            });
    }
    if !p.notices.items.is_empty() {
        let mut dismiss = None;
        egui::Area::new("notices".into())
            .fixed_pos(egui::pos2(view.min.x + 12.0, view.min.y + 12.0))
            .show(ctx, |ui| {
                ui.set_max_width((view.width() - 24.0).clamp(200.0, 600.0));
                for (i, n) in p.notices.items.iter().enumerate().rev().take(4) {
                    egui::Frame::popup(ui.style()).show(ui, |ui| {
                        ui.horizontal_wrapped(|ui| {
                            if n.error {
                                ui.colored_label(ERR, "✖");
                            } else {
                                ui.colored_label(OK, "ℹ");
                            }
                            ui.label(&n.text);
                            if ui.small_button("OK").clicked() {
                                dismiss = Some(i);
                            }
                        });
                    });
                }
            });
        if let Some(i) = dismiss {
            p.notices.items.remove(i);
        }
    }
}
