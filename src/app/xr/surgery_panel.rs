//! The wrist panel's "Distances" page: rehearsing a resection in the
//! headset. Two segments picked with step buttons (a laser is poor at
//! combo boxes), their minimum distance, the margin map of the first to the
//! second, and a resection of the first along a clip plane, or along a
//! curved surface through points placed with the trigger on the model,
//! with the remnant's volume and share. It sends the desktop window's
//! `SurgeryAction`s and `CutPointAction`s and reads the same results, so
//! both show the same.

use bevy::prelude::*;
use bevy_egui::egui;

use crate::app::features::clip::ClipSettings;
use crate::app::features::margins::{MID, Margins, NEAR};
use crate::app::features::surgery::{Surgery, SurgeryAction};
use crate::app::features::surgery_cut::{CutPointAction, CutPoints};
use crate::app::state::segments::Segment;

/// The margin map's thresholds from the wrist panel (mm): the desktop
/// window's defaults, common safety margins in liver and kidney surgery.
pub const THRESHOLDS_MM: [f32; 2] = [5.0, 10.0];

/// The two segments the wrist panel has picked (ids), and what its
/// distance line reads (for the trace: a test compares it with the
/// desktop's figure).
#[derive(Resource, Debug, Default, Clone, PartialEq)]
pub struct XrSurgeryChoice {
    pub a: Option<u16>,
    pub b: Option<u16>,
    pub readout: Option<String>,
}

/// What the page reads and sends.
#[derive(bevy::ecs::system::SystemParam)]
pub struct PanelSurgery<'w> {
    choice: ResMut<'w, XrSurgeryChoice>,
    surgery: Res<'w, Surgery>,
    margins: Res<'w, Margins>,
    clip: Res<'w, ClipSettings>,
    points: Res<'w, CutPoints>,
    out: MessageWriter<'w, SurgeryAction>,
    point_out: MessageWriter<'w, CutPointAction>,
}

/// The segment after (`step` 1) or before (-1) `current` in `ids`, never
/// `other`; the first (or last) when nothing is picked yet.
pub fn step(ids: &[u16], current: Option<u16>, other: Option<u16>, step: isize) -> Option<u16> {
    let n = ids.len() as isize;
    if n == 0 {
        return None;
    }
    let mut i = match current.and_then(|c| ids.iter().position(|&id| id == c)) {
        Some(i) => i as isize,
        None if step > 0 => -1,
        None => n,
    };
    for _ in 0..n {
        i = (i + step).rem_euclid(n);
        let id = ids[i as usize];
        if Some(id) != other {
            return Some(id);
        }
    }
    current
}

/// The page: pickers, distance, margin map, resection.
pub fn surgery_section(
    ui: &mut egui::Ui,
    rows: &[(Entity, &Segment)],
    p: &mut PanelSurgery,
    note: &mut impl FnMut(&str, &egui::Response),
) {
    // The segments with a surface: there is nothing to measure on the others.
    let ids: Vec<u16> = rows
        .iter()
        .filter(|(_, s)| s.surface.is_some())
        .map(|(_, s)| s.id)
        .collect();
    let name = |id: Option<u16>| {
        id.and_then(|id| rows.iter().find(|(_, s)| s.id == id))
            .map_or("—".to_string(), |(_, s)| s.name.clone())
    };
    // Picked segments that are gone (an undo, another study) are picked
    // again.
    let mut choice = p.choice.clone();
    choice.a = choice.a.filter(|a| ids.contains(a));
    choice.b = choice.b.filter(|b| ids.contains(b));
    if choice.a.is_none() {
        choice.a = step(&ids, None, choice.b, 1);
    }
    if choice.b.is_none() {
        choice.b = step(&ids, None, choice.a, 1);
    }
    ui.label(egui::RichText::new("Distances & resection").strong());
    if ids.len() < 2 {
        ui.label(egui::RichText::new("Needs two segments with a 3D surface").weak());
    }
    for (key, label) in [("a", "From"), ("b", "To")] {
        ui.horizontal(|ui| {
            let (mine, other) = if key == "a" {
                (choice.a, choice.b)
            } else {
                (choice.b, choice.a)
            };
            let mut picked = mine;
            let r = ui.button("◀");
            note(&format!("surgery {key} prev"), &r);
            if r.clicked() {
                picked = step(&ids, mine, other, -1);
            }
            let r = ui.button("▶");
            note(&format!("surgery {key} next"), &r);
            if r.clicked() {
                picked = step(&ids, mine, other, 1);
            }
            ui.label(format!("{label}: {}", name(picked)));
            if key == "a" {
                choice.a = picked;
            } else {
                choice.b = picked;
            }
        });
    }
    let pair = match (choice.a, choice.b) {
        (Some(a), Some(b)) if a != b => Some((a, b)),
        _ => None,
    };
    let r = ui.add_enabled(pair.is_some(), egui::Button::new("Measure distance"));
    note("surgery measure", &r);
    if r.clicked()
        && let Some((a, b)) = pair
    {
        p.out.write(SurgeryAction::Distance { a, b });
    }
    // The desktop window's line, word for word.
    choice.readout = p.surgery.distance.as_ref().map(|d| {
        format!(
            "{} ↔ {}: {:.2} mm{}",
            d.a,
            d.b,
            d.closest.distance_mm,
            if d.closest.touching {
                " (touching)"
            } else {
                ""
            }
        )
    });
    if let Some(text) = &choice.readout {
        ui.label(egui::RichText::new(text).color(egui::Color32::from_rgb(255, 170, 70)));
    }
    margin_row(ui, pair, p, note);
    resection_rows(ui, choice.a, &name(choice.a), p, note);
    if *p.choice != choice {
        *p.choice = choice;
    }
}

/// The margin map of "from" to "to": on and off, its legend, and what it
/// found (or that it is being measured).
fn margin_row(
    ui: &mut egui::Ui,
    pair: Option<(u16, u16)>,
    p: &mut PanelSurgery,
    note: &mut impl FnMut(&str, &egui::Response),
) {
    let shown = p.margins.shown.as_ref();
    ui.horizontal(|ui| {
        let mut on = pair.is_some() && shown.map(|m| (m.a, m.b)) == pair;
        let was = on;
        let r = ui.add_enabled(pair.is_some(), egui::Button::selectable(on, "Margin map"));
        note("surgery margin", &r);
        if r.clicked() {
            on = !on;
        }
        let swatch = |ui: &mut egui::Ui, c: [u8; 3]| {
            let (rect, _) = ui.allocate_exact_size(egui::vec2(18.0, 18.0), egui::Sense::hover());
            ui.painter()
                .rect_filled(rect, 4.0, egui::Color32::from_rgb(c[0], c[1], c[2]));
        };
        swatch(ui, NEAR);
        ui.label(format!("<{:.0}", THRESHOLDS_MM[0]));
        swatch(ui, MID);
        ui.label(format!("<{:.0} mm", THRESHOLDS_MM[1]));
        if on != was {
            match (on, pair) {
                (true, Some((a, b))) => {
                    p.out.write(SurgeryAction::Margin {
                        a,
                        b,
                        thresholds_mm: THRESHOLDS_MM,
                    });
                }
                _ => {
                    p.out.write(SurgeryAction::HideMargin);
                }
            }
        }
    });
    let Some(m) = shown else { return };
    if p.margins.measuring {
        ui.label(egui::RichText::new("measuring margins…").weak());
    } else if let (Some(u), Some(min)) = (m.under_pct, m.min_mm) {
        ui.label(
            egui::RichText::new(format!(
                "{:.0}% under {} mm, {:.0}% under {} mm; nearest {:.1} mm",
                u[0], m.thresholds_mm[0], u[1], m.thresholds_mm[1], min
            ))
            .small(),
        );
    }
}

/// "Resect" the first segment along the first clip plane that is on, and
/// the last resection's remnant.
fn resection_rows(
    ui: &mut egui::Ui,
    organ: Option<u16>,
    organ_name: &str,
    p: &mut PanelSurgery,
    note: &mut impl FnMut(&str, &egui::Response),
) {
    let plane = p.clip.active().map(|(i, _)| i).next();
    match (plane, organ) {
        (Some(plane), Some(organ)) => {
            let r = ui.button(format!("Resect {organ_name} along plane {}", plane + 1));
            note("surgery resect", &r);
            if r.clicked() {
                p.out.write(SurgeryAction::Resect {
                    organ,
                    lesion: None,
                    plane,
                });
            }
        }
        _ => {
            ui.label(egui::RichText::new("Turn a clip plane on to resect along it").weak());
        }
    }
    curved_rows(ui, organ, organ_name, p, note);
    if let Some(r) = &p.surgery.resection {
        ui.label(
            egui::RichText::new(format!(
                "{} remnant {:.0} mL, {:.0}%",
                r.organ, r.remnant_ml, r.remnant_pct
            ))
            .color(egui::Color32::from_rgb(140, 220, 160)),
        );
    }
}

/// A curved cut: "Place cut points" makes the trigger on the model place
/// a point (the aim ray's hit, as a ruler end), the surface through them
/// is drawn as on the desktop, and the first segment is cut along it (the
/// smaller part away).
fn curved_rows(
    ui: &mut egui::Ui,
    organ: Option<u16>,
    organ_name: &str,
    p: &mut PanelSurgery,
    note: &mut impl FnMut(&str, &egui::Response),
) {
    let placing = p.points.placing;
    let n = p.points.points.len();
    ui.horizontal(|ui| {
        let r = ui.add(egui::Button::selectable(placing, "Place cut points"));
        note("surgery points", &r);
        if r.clicked() {
            p.point_out.write(CutPointAction::Place(!placing));
        }
        let r = ui.add_enabled(n > 0, egui::Button::new("Remove last"));
        note("surgery points remove", &r);
        if r.clicked() {
            p.point_out.write(CutPointAction::RemoveLast);
        }
        let r = ui.add_enabled(n > 0, egui::Button::new("Clear"));
        note("surgery points clear", &r);
        if r.clicked() {
            p.point_out.write(CutPointAction::Clear);
        }
    });
    let status = p.points.status("pull the trigger at the model");
    ui.label(egui::RichText::new(status).weak());
    if let (Some(organ), Some(_)) = (organ, &p.points.patch) {
        let r = ui.button(format!("Resect {organ_name} along the points"));
        note("surgery resect points", &r);
        if r.clicked() {
            p.out.write(SurgeryAction::ResectAlongPoints {
                organ,
                lesion: None,
                larger: false,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::step;

    #[test]
    fn stepping_skips_the_other_pick_and_wraps() {
        let ids = [1, 2, 5];
        assert_eq!(step(&ids, None, None, 1), Some(1));
        assert_eq!(step(&ids, None, Some(1), 1), Some(2));
        assert_eq!(step(&ids, Some(2), Some(5), 1), Some(1));
        assert_eq!(step(&ids, Some(1), None, -1), Some(5));
        assert_eq!(step(&ids, None, None, -1), Some(5));
        assert_eq!(step(&[3], Some(3), Some(3), 1), Some(3));
        assert_eq!(step(&[], None, None, 1), None);
    }
}
