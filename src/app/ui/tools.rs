//! The segmentation tools panel and its intensity histogram.

use bevy::prelude::*;
use bevy_egui::egui;
use stratum_core::segment::Preset;

use crate::app::actions::RulerAction;
use crate::app::features::segmentation::{SegmentCommand, ToolSpec};
use crate::app::state::segments::{EditArea, ModifyKind, ModifyTool};
use crate::app::state::study::Study;

use super::{RightPanel, WARN};

pub(super) fn tools_panel(ui: &mut egui::Ui, p: &mut RightPanel) {
    ui.heading("Tools");
    let Some(study) = p.study.as_deref() else {
        ui.label("Open a study to segment it.");
        return;
    };
    ui.label("Threshold presets:");
    ui.horizontal_wrapped(|ui| {
        for preset in Preset::ALL {
            let picked = p.tools.preset == Some(preset);
            let button = ui
                .selectable_label(picked, preset.name())
                .on_hover_text("Click again for a plain threshold");
            if button.clicked() && picked {
                p.tools.preset = None;
                p.tools.found_level = None;
            } else if button.clicked() {
                let (lo, hi) = preset.window(&study.volume);
                let t = &mut *p.tools;
                t.lo = lo;
                t.hi = hi;
                t.preview = true;
                t.preset = Some(preset);
                t.found_level = None;
                t.finding_level = false;
                if preset.finds_level(&study.volume) {
                    p.seg_commands.write(SegmentCommand::FindLevel(preset));
                }
            }
        }
    });
    histogram_plot(ui, study, p.tools.lo, p.tools.hi);
    // Wide enough for any preset's window: a window clamped to this scan's
    // range would no longer read as the preset's.
    let min = study.histogram.lo.min(p.tools.lo);
    let max = study.histogram.hi.max(p.tools.hi);
    ui.horizontal(|ui| {
        ui.label("from");
        ui.add(
            egui::DragValue::new(&mut p.tools.lo)
                .range(min..=max)
                .speed(5.0),
        );
        ui.label("to");
        ui.add(
            egui::DragValue::new(&mut p.tools.hi)
                .range(min..=max)
                .speed(5.0),
        );
        if study.volume.is_ct() {
            ui.label("HU");
        }
    });
    if p.tools.lo > p.tools.hi {
        let t = &mut *p.tools;
        std::mem::swap(&mut t.lo, &mut t.hi);
    }
    if let Some(preset) = p.tools.preset {
        ui.label(level_text(
            preset,
            p.tools.lo,
            p.tools.found_level,
            p.tools.finding_level,
        ));
    }
    ui.checkbox(&mut p.tools.preview, "Preview on the slices");
    ui.horizontal_wrapped(|ui| {
        let hover = match p.tools.preset {
            Some(pr) => format!(
                "A new segment \"{}\" of the voxels in the window, with the preset's clean-up",
                pr.name()
            ),
            None => "A new segment of every voxel in the window".into(),
        };
        if ui.button("Add segment").on_hover_text(hover).clicked() {
            let (lo, hi) = (p.tools.lo, p.tools.hi);
            p.seg_commands.write(match p.tools.preset {
                Some(preset) => SegmentCommand::Preset {
                    preset,
                    window: Some((lo, hi)),
                },
                None => SegmentCommand::Threshold {
                    name: format!("Threshold {lo:.0}..{hi:.0}"),
                    lo,
                    hi,
                },
            });
            p.tools.preview = false;
        }
        let seed = ui
            .selectable_label(p.tools.seed_mode, "Grow from a seed…")
            .on_hover_text("Then click a point of the structure on a slice: the connected voxels in the window become a segment");
        if seed.clicked() {
            p.tools.seed_mode = !p.tools.seed_mode;
        }
    });
    if p.tools.seed_mode {
        ui.colored_label(WARN, "Click inside the structure on a slice view.");
    }
    ui.horizontal(|ui| {
        let ruler = ui
            .selectable_label(p.rulers.placing, "📏 Ruler")
            .on_hover_text("Click two points on a surface or a slice: the distance in mm");
        if ruler.clicked() {
            p.ruler_actions.write(RulerAction::Place(!p.rulers.placing));
        }
        if !p.rulers.items.is_empty() {
            ui.label(format!(
                "{} rulers (see Measurements)",
                p.rulers.items.len()
            ));
        }
    });
    if p.rulers.placing {
        ui.colored_label(
            WARN,
            if p.rulers.first.is_some() {
                "Click the second point."
            } else {
                "Click the first point on a surface or a slice."
            },
        );
    }
    let selected = p
        .tools
        .selected
        .and_then(|e| p.segments.get(e).ok().map(|(_, s, _)| (e, s.name.clone())));
    ui.add_enabled_ui(selected.is_some(), |ui| {
        let label = match &selected {
            Some((_, n)) => format!("Keep the largest island of {n}"),
            None => "Keep the largest island (select a segment)".into(),
        };
        if ui.button(label).clicked()
            && let Some((e, _)) = selected
        {
            p.seg_commands.write(SegmentCommand::KeepLargest(e));
        }
    });
    modify_section(ui, p, selected);
}

/// The tools that change the selected segment: morphology, margin, fill
/// holes, islands, adding, intersecting or subtracting another segment and
/// masking by one, each with its parameters, a preview on the slices and
/// Apply (one undo step).
fn modify_section(ui: &mut egui::Ui, p: &mut RightPanel, selected: Option<(Entity, String)>) {
    let mut others: Vec<(Entity, u16, String)> = p
        .segments
        .iter()
        .filter(|(e, _, _)| Some(*e) != selected.as_ref().map(|s| s.0))
        .map(|(e, s, _)| (e, s.id, s.name.clone()))
        .collect();
    others.sort_by_key(|o| o.1);
    let mut island_mode = p.tools.island_mode;
    let t = &mut p.tools.modify;
    ui.horizontal(|ui| {
        ui.label("Change it:");
        egui::ComboBox::from_id_salt("modify-tool")
            .selected_text(t.kind.label())
            .show_ui(ui, |ui| {
                for k in ModifyKind::ALL {
                    ui.selectable_value(&mut t.kind, k, k.label());
                }
            });
    });
    ui.horizontal(|ui| match t.kind {
        ModifyKind::Morphology(_) => {
            ui.label("radius");
            ui.add(
                egui::DragValue::new(&mut t.radius_mm)
                    .range(0.1..=50.0)
                    .speed(0.1)
                    .suffix(" mm"),
            );
        }
        ModifyKind::Margin => {
            ui.label("grow by");
            ui.add(
                egui::DragValue::new(&mut t.margin_mm)
                    .range(-50.0..=50.0)
                    .speed(0.1)
                    .suffix(" mm"),
            )
            .on_hover_text("Negative: shrink");
        }
        ModifyKind::RemoveIslands => {
            ui.label("under");
            ui.add(
                egui::DragValue::new(&mut t.min_mm3)
                    .range(1.0..=1.0e6)
                    .speed(10.0)
                    .suffix(" mm³"),
            );
        }
        ModifyKind::FillHoles => {
            ui.checkbox(&mut t.per_slice, "slice by slice");
        }
        ModifyKind::KeepIsland => {
            let pick = ui
                .selectable_label(island_mode, "Pick the island…")
                .on_hover_text(
                    "Then click the island to keep on a slice: the segment's other islands go",
                );
            if pick.clicked() {
                island_mode = !island_mode;
            }
            if let Some([x, y, z]) = t.point {
                ui.label(format!("at voxel {x}, {y}, {z}"));
            }
        }
        ModifyKind::Logical(_) => {
            let name = t
                .other
                .and_then(|e| others.iter().find(|o| o.0 == e))
                .map_or("pick a segment".to_string(), |o| o.2.clone());
            egui::ComboBox::from_id_salt("modify-other")
                .selected_text(name)
                .show_ui(ui, |ui| {
                    for (e, _, n) in &others {
                        ui.selectable_value(&mut t.other, Some(*e), n);
                    }
                });
        }
    });
    edit_area(ui, t, &others);
    let tool = *t;
    p.tools.island_mode = island_mode && tool.kind == ModifyKind::KeepIsland;
    if p.tools.island_mode {
        ui.colored_label(WARN, "Click the island to keep on a slice view.");
    }
    let other = tool
        .other
        .and_then(|e| others.iter().find(|o| o.0 == e))
        .map(|o| o.1);
    let ready = selected.is_some()
        && (other.is_some() || !matches!(tool.kind, ModifyKind::Logical(_)))
        && (tool.point.is_some() || tool.kind != ModifyKind::KeepIsland);
    let spec = ToolSpec::Modify { tool, other };
    let on = selected.as_ref().map(|s| s.0);
    ui.add_enabled_ui(ready, |ui| {
        ui.horizontal(|ui| {
            let previewing =
                study_generation(p).is_some_and(|g| p.tools.current_preview(g).is_some());
            if ui
                .selectable_label(previewing, "Preview")
                .on_hover_text("Show the result on the slices before applying it")
                .clicked()
            {
                if previewing {
                    p.tools.shown = None;
                } else {
                    p.seg_commands.write(SegmentCommand::Preview {
                        tool: spec.clone(),
                        on,
                    });
                }
            }
            let label = match &selected {
                Some((_, n)) => format!("Apply to {n}"),
                None => "Apply (select a segment)".into(),
            };
            if ui.button(label).clicked() {
                p.seg_commands.write(SegmentCommand::Run { tool: spec, on });
            }
        });
    });
}

fn study_generation(p: &RightPanel) -> Option<u64> {
    p.study.as_deref().map(|s| s.doc.generation())
}

/// What the tools say about a preset's level: found from the scan, being
/// found, or set by hand.
pub fn level_text(preset: Preset, lo: f64, found: Option<f64>, finding: bool) -> String {
    let name = preset.name();
    match found {
        _ if finding => format!("{name}: finding the level from this scan…"),
        Some(l) if (l - lo).abs() < 0.5 => format!(
            "{name}: level {l:.0}, half-way between the tissues at its edge (found from this scan; change \"from\" to set your own)"
        ),
        Some(l) => format!("{name}: level {lo:.0}, set by hand (the scan's own is {l:.0})"),
        None => format!("{name}: level {lo:.0}"),
    }
}

/// The intensity histogram (log counts) with the threshold window shaded.
pub(super) fn histogram_plot(ui: &mut egui::Ui, study: &Study, lo: f64, hi: f64) {
    let h = &study.histogram;
    let (rect, _) =
        ui.allocate_exact_size(egui::vec2(ui.available_width(), 70.0), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, egui::Color32::from_gray(25));
    let max = h
        .counts
        .iter()
        .map(|&c| ((c + 1) as f32).ln())
        .fold(0.0f32, f32::max)
        .max(1.0);
    let n = h.counts.len().max(1) as f32;
    let x_of = |v: f64| rect.min.x + ((v - h.lo) / (h.hi - h.lo).max(1e-9)) as f32 * rect.width();
    let (x0, x1) = (x_of(lo).max(rect.min.x), x_of(hi).min(rect.max.x));
    if x1 > x0 {
        painter.rect_filled(
            egui::Rect::from_min_max(egui::pos2(x0, rect.min.y), egui::pos2(x1, rect.max.y)),
            0.0,
            egui::Color32::from_rgba_unmultiplied(255, 200, 40, 50),
        );
    }
    for (i, &c) in h.counts.iter().enumerate() {
        let x = rect.min.x + (i as f32 + 0.5) / n * rect.width();
        let t = ((c + 1) as f32).ln() / max;
        painter.line_segment(
            [
                egui::pos2(x, rect.max.y),
                egui::pos2(x, rect.max.y - t * rect.height()),
            ],
            egui::Stroke::new(1.0, egui::Color32::from_gray(170)),
        );
    }
}

/// Slicer's masking setting for the tools above: where they may change
/// voxels (everywhere, or only inside or outside another segment).
fn edit_area(ui: &mut egui::Ui, t: &mut ModifyTool, others: &[(Entity, u16, String)]) {
    // An area segment that was deleted no longer limits anything.
    if t.area
        .is_some_and(|a| !others.iter().any(|o| o.1 == a.segment))
    {
        t.area = None;
    }
    ui.horizontal(|ui| {
        ui.label("Only")
            .on_hover_text("Slicer's masking: the tool changes no voxel outside this area");
        let side = match t.area {
            None => "everywhere",
            Some(EditArea { inside: true, .. }) => "inside",
            Some(EditArea { inside: false, .. }) => "outside",
        };
        egui::ComboBox::from_id_salt("modify-area-side")
            .selected_text(side)
            .show_ui(ui, |ui| {
                if ui
                    .selectable_label(t.area.is_none(), "everywhere")
                    .clicked()
                {
                    t.area = None;
                }
                for (inside, word) in [(true, "inside"), (false, "outside")] {
                    let on = t.area.is_some_and(|a| a.inside == inside);
                    if ui.selectable_label(on, word).clicked()
                        && let Some(first) = others.first()
                    {
                        let segment = t.area.map_or(first.1, |a| a.segment);
                        t.area = Some(EditArea { segment, inside });
                    }
                }
            });
        if let Some(area) = &mut t.area {
            let name = others
                .iter()
                .find(|o| o.1 == area.segment)
                .map_or(String::new(), |o| o.2.clone());
            egui::ComboBox::from_id_salt("modify-area-segment")
                .selected_text(name)
                .show_ui(ui, |ui| {
                    for (_, id, n) in others {
                        ui.selectable_value(&mut area.segment, *id, n);
                    }
                });
        }
    });
}
