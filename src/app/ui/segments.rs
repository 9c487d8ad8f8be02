//! The Segments list: colour, visibility, name and actions per segment.
//! One list for both panels: the desktop's right-hand panel and the VR
//! wrist panel (smaller: fewer, larger targets for a laser pointer) draw
//! it with [`segment_list`] and apply what it returns.

use bevy::prelude::*;
use bevy_egui::egui;
use stratum_core::document::Edit;

use crate::app::features::clip::NotClipped;
use crate::app::features::segmentation::SegmentCommand;
use crate::app::state::document::ApplyEdit;
use crate::app::state::segments::Segment;

use super::RightPanel;

/// Which panel draws a shared section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PanelSize {
    /// The desktop's: every control.
    Desktop,
    /// The VR wrist panel's: a laser at arm's length aims at fewer, larger
    /// targets (visibility, colour, the name to select, opacity).
    Wrist,
}

/// What the user did in the list.
#[derive(Clone, Debug, PartialEq)]
pub enum ListAction {
    /// A table or display edit of the document.
    Edit(Edit),
    Select(Option<Entity>),
    Delete(Entity),
    /// Whether the clip planes cut this segment.
    Cut(Entity, bool),
}

/// Per segment, what the list shows beside its row: a measurement check
/// flagged it; the clip planes cut it.
#[derive(Clone, Copy, Debug, Default)]
pub struct RowState {
    pub flagged: bool,
    pub cut: bool,
}

/// The segment rows (sorted by id), the selected one's controls below it.
/// `note` receives each control a remote pointer can aim at, by name
/// ("visible Liver", "select Liver", "opacity Liver").
pub fn segment_list(
    ui: &mut egui::Ui,
    mut rows: Vec<(Entity, Segment)>,
    selected: Option<Entity>,
    size: PanelSize,
    state: &dyn Fn(Entity, &Segment) -> RowState,
    note: &mut dyn FnMut(&str, &egui::Response),
) -> Vec<ListAction> {
    rows.sort_by_key(|(_, s)| s.id);
    let before = rows.clone();
    let mut out = Vec::new();
    match size {
        PanelSize::Desktop if rows.is_empty() => {
            ui.label("No segments yet: add one with the tools below.");
        }
        PanelSize::Wrist if rows.is_empty() => {
            ui.label(egui::RichText::new("No segments yet").weak());
        }
        _ => {}
    }
    if size == PanelSize::Desktop {
        ui.horizontal(|ui| {
            for (label, on) in [("Show all", true), ("Hide all", false)] {
                if ui.small_button(label).clicked() {
                    rows.iter_mut().for_each(|(_, s)| s.visible = on);
                }
            }
        });
    }
    for (e, seg) in rows.iter_mut() {
        let is_selected = selected == Some(*e);
        let row = state(*e, seg);
        ui.horizontal(|ui| match size {
            PanelSize::Desktop => {
                ui.color_edit_button_srgb(&mut seg.colour);
                ui.checkbox(&mut seg.visible, "");
                let name = egui::TextEdit::singleline(&mut seg.name).desired_width(110.0);
                let r = ui.add(name);
                if r.gained_focus() || r.clicked() {
                    out.push(ListAction::Select(Some(*e)));
                }
                let ml = match seg.surface {
                    Some(s) => format!("{:.1} mL", s.volume_ml),
                    None => format!("{:.1} mL*", seg.voxel_ml),
                };
                let label = ui.selectable_label(
                    is_selected,
                    if row.flagged { format!("⚠ {ml}") } else { ml },
                );
                if label.clicked() {
                    out.push(ListAction::Select((!is_selected).then_some(*e)));
                }
                label.on_hover_text(volumes_text(seg));
            }
            PanelSize::Wrist => {
                let r = ui.checkbox(&mut seg.visible, "");
                note(&format!("visible {}", seg.name), &r);
                let [r8, g8, b8] = seg.colour;
                let (rect, _) =
                    ui.allocate_exact_size(egui::vec2(18.0, 18.0), egui::Sense::hover());
                ui.painter()
                    .rect_filled(rect, 4.0, egui::Color32::from_rgb(r8, g8, b8));
                let r = ui.selectable_label(is_selected, &seg.name);
                note(&format!("select {}", seg.name), &r);
                if r.clicked() {
                    out.push(ListAction::Select((!is_selected).then_some(*e)));
                }
            }
        });
        if !is_selected {
            continue;
        }
        if size == PanelSize::Wrist {
            let r = ui.add(egui::Slider::new(&mut seg.opacity, 0.0..=1.0).text("opacity"));
            note(&format!("opacity {}", seg.name), &r);
            continue;
        }
        let mut cut = row.cut;
        if ui
            .checkbox(&mut cut, "Cut by the clip planes")
            .on_hover_text("Off keeps this segment whole while the planes cut the others")
            .changed()
        {
            out.push(ListAction::Cut(*e, cut));
        }
        ui.horizontal(|ui| {
            ui.add(egui::Slider::new(&mut seg.opacity, 0.0..=1.0).text("opacity"));
            if ui
                .small_button("🗑 Delete")
                .on_hover_text("Delete this segment")
                .clicked()
            {
                out.push(ListAction::Delete(*e));
            }
        });
    }
    // What changed becomes edits of the document; the entities follow it.
    for ((_, seg), (_, current)) in rows.iter().zip(&before) {
        let id = seg.id;
        if seg.name != current.name {
            out.push(ListAction::Edit(Edit::rename(id, seg.name.clone())));
        }
        if seg.colour != current.colour {
            out.push(ListAction::Edit(Edit::recolour(id, seg.colour)));
        }
        if seg.visible != current.visible {
            out.push(ListAction::Edit(Edit::set_visible(id, seg.visible)));
        }
        if seg.opacity != current.opacity {
            out.push(ListAction::Edit(Edit::SetOpacity {
                id,
                opacity: seg.opacity,
            }));
        }
    }
    out
}

fn volumes_text(seg: &Segment) -> String {
    match seg.surface {
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
    }
}

pub(super) fn segments_panel(ui: &mut egui::Ui, p: &mut RightPanel) {
    let rows: Vec<(Entity, Segment)> = p.segments.iter().map(|(e, s, _)| (e, s.clone())).collect();
    let state = |e: Entity, s: &Segment| RowState {
        flagged: p
            .measurements
            .checks
            .get(&s.id)
            .is_some_and(|(_, v)| !v.flags.is_empty()),
        cut: !p.not_clipped.contains(e),
    };
    let actions = segment_list(
        ui,
        rows,
        p.tools.selected,
        PanelSize::Desktop,
        &state,
        &mut |_, _| {},
    );
    for a in actions {
        match a {
            ListAction::Edit(edit) => {
                p.edits.write(ApplyEdit(edit));
            }
            ListAction::Select(e) => p.tools.selected = e,
            ListAction::Delete(e) => {
                p.seg_commands.write(SegmentCommand::Delete(e));
            }
            ListAction::Cut(e, true) => {
                p.commands.entity(e).remove::<NotClipped>();
            }
            ListAction::Cut(e, false) => {
                p.commands.entity(e).insert(NotClipped);
            }
        }
    }
}
