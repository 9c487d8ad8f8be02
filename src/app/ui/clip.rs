//! The Clip planes section, drawn by the desktop's right-hand panel and
//! the VR wrist panel ([`clip_planes`]).

use bevy::prelude::*;
use bevy_egui::egui;

use crate::app::actions::{ClipAction, ClipKind};

use crate::app::features::clip::MAX_PLANES;

use bevy::ecs::system::SystemParam;

use super::segments::PanelSize;
use crate::app::features::clip::ClipSettings;
use crate::app::state::study::Study;

/// The clip planes section.
#[derive(SystemParam)]
pub struct ClipUi<'w> {
    study: Option<Res<'w, Study>>,
    clip: Res<'w, ClipSettings>,
    clip_actions: MessageWriter<'w, ClipAction>,
}

/// Clip planes: on/off, direction, position, tilt, flip; the cut faces show
/// the scan with the slice views' window.
pub(super) fn clip_panel(ui: &mut egui::Ui, p: &mut ClipUi) {
    // Half the diagonal of the scan: every plane position that cuts it.
    let reach = p.study.as_deref().map(|study| {
        let (nz, ny, nx) = study.volume.dim();
        let s = study.volume.geometry.spacing;
        0.5 * ((nx as f64 * s[0]).powi(2) + (ny as f64 * s[1]).powi(2) + (nz as f64 * s[2]).powi(2))
            .sqrt()
    });
    for a in clip_planes(ui, &p.clip, reach, PanelSize::Desktop, &mut |_, _| {}) {
        p.clip_actions.write(a);
    }
}

/// The clip planes section of both panels; returns the actions to send.
/// The desktop's has every control of a plane (`reach`: the offsets that
/// cut the scan, `None` before a study is open); the wrist's turns planes
/// on and off ("plane N" to `note`), the controllers move them.
pub fn clip_planes(
    ui: &mut egui::Ui,
    clip: &ClipSettings,
    reach: Option<f64>,
    size: PanelSize,
    note: &mut dyn FnMut(&str, &egui::Response),
) -> Vec<ClipAction> {
    let mut actions = Vec::new();
    if size == PanelSize::Wrist {
        ui.label(egui::RichText::new("Clip planes").strong());
        ui.horizontal(|ui| {
            for index in 0..MAX_PLANES {
                let mut on = clip.slots[index].enabled;
                let r = ui.toggle_value(&mut on, format!("Plane {}", index + 1));
                note(&format!("plane {}", index + 1), &r);
                if on != clip.slots[index].enabled {
                    actions.push(ClipAction::Enable { index, on });
                }
            }
        });
        return actions;
    }
    ui.heading("Clip planes");
    let Some(reach) = reach else {
        ui.label("Open a study to cut it.");
        return actions;
    };
    for index in 0..MAX_PLANES {
        let slot = clip.slots[index];
        ui.horizontal(|ui| {
            let mut on = slot.enabled;
            if ui.checkbox(&mut on, format!("{}", index + 1)).changed() {
                actions.push(ClipAction::Enable { index, on });
            }
            let mut kind = slot.kind;
            egui::ComboBox::from_id_salt(("clip-kind", index))
                .width(90.0)
                .selected_text(kind.name())
                .show_ui(ui, |ui| {
                    for k in ClipKind::ALL {
                        ui.selectable_value(&mut kind, k, k.name());
                    }
                });
            if kind != slot.kind {
                actions.push(ClipAction::Orient { index, kind });
            }
            if ui
                .small_button("Flip")
                .on_hover_text("Cut away the other side")
                .clicked()
            {
                actions.push(ClipAction::Flip { index });
            }
        });
        if slot.enabled {
            let mut offset = clip.offset(index);
            if ui
                .add(
                    egui::Slider::new(&mut offset, -reach..=reach)
                        .text("mm")
                        .fixed_decimals(0),
                )
                .changed()
            {
                actions.push(ClipAction::Offset { index, mm: offset });
            }
            ui.horizontal(|ui| {
                ui.label("tilt");
                for (label, pitch, yaw) in [
                    ("▲", -10.0, 0.0),
                    ("▼", 10.0, 0.0),
                    ("◀", 0.0, -10.0),
                    ("▶", 0.0, 10.0),
                ] {
                    if ui
                        .small_button(label)
                        .on_hover_text("Tilt the plane by 10°")
                        .clicked()
                    {
                        actions.push(ClipAction::Tilt { index, pitch, yaw });
                    }
                }
            });
        }
    }
    actions
}
