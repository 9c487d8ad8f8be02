//! The Segments list: colour, visibility, name and actions per segment.

use bevy::prelude::*;
use bevy_egui::egui;
use stratum_core::document::Edit;

use crate::app::features::clip::NotClipped;
use crate::app::features::segmentation::SegmentCommand;
use crate::app::state::document::ApplyEdit;
use crate::app::state::segments::Segment;

use super::RightPanel;

pub(super) fn segments_panel(ui: &mut egui::Ui, p: &mut RightPanel) {
    let mut rows: Vec<(Entity, Segment)> =
        p.segments.iter().map(|(e, s, _)| (e, s.clone())).collect();
    rows.sort_by_key(|(_, s)| s.id);
    if rows.is_empty() {
        ui.label("No segments yet: add one with the tools below.");
    }
    ui.horizontal(|ui| {
        if ui.small_button("Show all").clicked() {
            for (_, s) in rows.iter_mut() {
                s.visible = true;
            }
        }
        if ui.small_button("Hide all").clicked() {
            for (_, s) in rows.iter_mut() {
                s.visible = false;
            }
        }
    });
    let mut delete = None;
    for (e, seg) in rows.iter_mut() {
        let selected = p.tools.selected == Some(*e);
        ui.horizontal(|ui| {
            ui.color_edit_button_srgb(&mut seg.colour);
            ui.checkbox(&mut seg.visible, "");
            let name = egui::TextEdit::singleline(&mut seg.name).desired_width(110.0);
            let r = ui.add(name);
            if r.gained_focus() || r.clicked() {
                p.tools.selected = Some(*e);
            }
            let ml = match seg.surface {
                Some(s) => format!("{:.1} mL", s.volume_ml),
                None => format!("{:.1} mL*", seg.voxel_ml),
            };
            let flagged = p
                .measurements
                .checks
                .get(&seg.id)
                .is_some_and(|(_, v)| !v.flags.is_empty());
            let label = ui.selectable_label(selected, if flagged { format!("⚠ {ml}") } else { ml });
            if label.clicked() {
                p.tools.selected = if selected { None } else { Some(*e) };
            }
            label.on_hover_text(match seg.surface {
                Some(s) => format!(
                    "voxels {:.2} mL, surface {:.2} mL, area {:.0} cm², {} triangles{}",
                    seg.voxel_ml,
                    s.volume_ml,
                    s.area_mm2 / 100.0,
                    s.triangles,
                    if s.watertight {
                        ", watertight"
                    } else {
                        ", NOT watertight"
                    }
                ),
                None => "from the voxels; the 3D surface is not built yet".into(),
            });
        });
        if selected {
            let mut cut = !p.not_clipped.contains(*e);
            if ui
                .checkbox(&mut cut, "Cut by the clip planes")
                .on_hover_text("Off keeps this segment whole while the planes cut the others")
                .changed()
            {
                if cut {
                    p.commands.entity(*e).remove::<NotClipped>();
                } else {
                    p.commands.entity(*e).insert(NotClipped);
                }
            }
            ui.horizontal(|ui| {
                ui.add(egui::Slider::new(&mut seg.opacity, 0.0..=1.0).text("opacity"));
                if ui
                    .small_button("🗑 Delete")
                    .on_hover_text("Delete this segment")
                    .clicked()
                {
                    delete = Some(*e);
                }
            });
        }
    }
    // What changed becomes edits of the document; the entities follow it.
    for (e, seg) in rows {
        let Ok((_, current, _)) = p.segments.get(e) else {
            continue;
        };
        let id = seg.id;
        if seg.name != current.name {
            p.edits.write(ApplyEdit(Edit::rename(id, seg.name.clone())));
        }
        if seg.colour != current.colour {
            p.edits.write(ApplyEdit(Edit::recolour(id, seg.colour)));
        }
        if seg.visible != current.visible {
            p.edits.write(ApplyEdit(Edit::set_visible(id, seg.visible)));
        }
        if seg.opacity != current.opacity {
            p.edits.write(ApplyEdit(Edit::SetOpacity {
                id,
                opacity: seg.opacity,
            }));
        }
    }
    if let Some(e) = delete {
        p.seg_commands.write(SegmentCommand::Delete(e));
    }
}
