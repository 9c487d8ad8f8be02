//! The Measurements window: per-segment figures and the check against the scan.

use bevy::prelude::*;
use bevy_egui::egui;

use crate::app::actions::RulerAction;

use crate::app::features::measurements::{Row, ValidateAll, to_csv};

use bevy::ecs::system::SystemParam;

use crate::app::features::measurements::{Measurements, Rulers};
use crate::app::state::jobs::{JobInfo, Notices};
use crate::app::state::segments::{Segment, SegmentSurface};

use super::{OK, WARN};

/// The Measurements window: volumes, areas, extents, checks and rulers.
#[derive(SystemParam)]
pub struct MeasurementsUi<'w, 's> {
    segments: Query<'w, 's, (Entity, &'static Segment, Option<&'static SegmentSurface>)>,
    jobs: Query<'w, 's, &'static JobInfo>,
    measurements: ResMut<'w, Measurements>,
    notices: ResMut<'w, Notices>,
    rulers: Res<'w, Rulers>,
    ruler_actions: MessageWriter<'w, RulerAction>,
    validate_all: MessageWriter<'w, ValidateAll>,
}

/// The measurements table: per segment volumes, area, extent and the check
/// against the scan (Dice, distances, volume difference, closed), with the
/// flagged rows marked; copyable as CSV.
pub(super) fn measurements_window(ctx: &egui::Context, p: &mut MeasurementsUi) {
    if !p.measurements.open {
        return;
    }
    let mut rows: Vec<(u16, Row)> = p
        .segments
        .iter()
        .map(|(_, s, m)| {
            let mesh = m.map(|m| m.0.clone());
            (
                s.id,
                Row {
                    name: s.name.clone(),
                    voxel_ml: s.voxel_ml,
                    mesh_ml: s.surface.map(|x| x.volume_ml),
                    area_cm2: s.surface.map(|x| x.area_mm2 / 100.0),
                    extent_mm: mesh
                        .and_then(|m| m.bounds())
                        .map(|(lo, hi)| [hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]]),
                    check: p.measurements.current(s.id, m).cloned(),
                },
            )
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    let rows: Vec<Row> = rows.into_iter().map(|(_, r)| r).collect();
    let mut open = true;
    let running = p
        .jobs
        .iter()
        .any(|j| j.title.starts_with("Checking the surfaces"));
    egui::Window::new("Measurements")
        .open(&mut open)
        .default_size([760.0, 420.0])
        .show(ctx, |ui| {
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(!running, egui::Button::new("Check against the scan"))
                    .on_hover_text(
                        "Voxelise each surface and compare it with the segment: Dice, \
                         surface distances (mean, 95th percentile, max), volume difference",
                    )
                    .clicked()
                {
                    p.validate_all.write(ValidateAll);
                }
                if ui.button("Copy CSV").clicked() {
                    ui.ctx().copy_text(to_csv(&rows));
                    p.notices.info("Measurements copied as CSV");
                }
                ui.label("Flag: p95 distance over one voxel diagonal, Dice < 0.90, volume off by > 5%, or not closed.");
            });
            if !p.rulers.items.is_empty() {
                ui.separator();
                ui.strong("Rulers");
                let mut delete = None;
                for (i, r) in p.rulers.items.iter().enumerate() {
                    ui.horizontal(|ui| {
                        ui.label(format!(
                            "{}: {:.1} mm  (L {:.0} P {:.0} S {:.0} → L {:.0} P {:.0} S {:.0})",
                            i + 1,
                            r.length_mm(),
                            r.a[0],
                            r.a[1],
                            r.a[2],
                            r.b[0],
                            r.b[1],
                            r.b[2]
                        ));
                        if ui.small_button("Delete").clicked() {
                            delete = Some(i);
                        }
                    });
                }
                if let Some(i) = delete {
                    p.ruler_actions.write(RulerAction::Delete(i));
                }
            }
            ui.separator();
            egui::ScrollArea::both().show(ui, |ui| {
                egui::Grid::new("measurements")
                    .striped(true)
                    .num_columns(12)
                    .show(ui, |ui| {
                        for h in [
                            "segment", "check", "voxels mL", "mesh mL", "Δ vol %", "area cm²",
                            "extent mm (x·y·z)", "Dice", "mean mm", "p95 mm", "max mm", "closed",
                        ] {
                            ui.strong(h);
                        }
                        ui.end_row();
                        let na = || "–".to_string();
                        for r in &rows {
                            let c = r.check.as_ref();
                            ui.label(&r.name);
                            match c {
                                Some(c) if c.flags.is_empty() => {
                                    ui.colored_label(OK, "✔ ok");
                                }
                                Some(c) => {
                                    ui.colored_label(WARN, "⚠ flagged")
                                        .on_hover_text(c.flags.join("\n"));
                                }
                                None => {
                                    ui.label("not checked");
                                }
                            }
                            ui.label(format!("{:.1}", r.voxel_ml));
                            ui.label(r.mesh_ml.map(|v| format!("{v:.1}")).unwrap_or_else(na));
                            ui.label(
                                r.mesh_ml
                                    .filter(|_| r.voxel_ml > 0.0)
                                    .map(|m| format!("{:+.1}", 100.0 * (m - r.voxel_ml) / r.voxel_ml))
                                    .unwrap_or_else(na),
                            );
                            ui.label(r.area_cm2.map(|v| format!("{v:.0}")).unwrap_or_else(na));
                            ui.label(
                                r.extent_mm
                                    .map(|e| format!("{:.0} × {:.0} × {:.0}", e[0], e[1], e[2]))
                                    .unwrap_or_else(na),
                            );
                            ui.label(c.map(|c| format!("{:.3}", c.dice)).unwrap_or_else(na));
                            ui.label(c.map(|c| format!("{:.2}", c.surface.mean_mm)).unwrap_or_else(na));
                            ui.label(c.map(|c| format!("{:.2}", c.surface.p95_mm)).unwrap_or_else(na));
                            ui.label(c.map(|c| format!("{:.2}", c.surface.max_mm)).unwrap_or_else(na));
                            ui.label(c.map(|c| if c.watertight { "yes" } else { "NO" }.to_string()).unwrap_or_else(na));
                            ui.end_row();
                        }
                    });
            });
        });
    if !open {
        p.measurements.open = false;
    }
}
