//! The "Distances & resection" window: pick two segments and measure the
//! minimum distance between their surfaces (drawn as a ruler), or cut a
//! segment along a clip plane, a smooth surface through points placed on
//! the model, or a safety margin around a lesion (drawn as a shell), and
//! read the remnant's volume and share.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use crate::app::features::clip::ClipSettings;
use crate::app::features::margins::{MID, Margins, NEAR};
use crate::app::features::surgery::{Surgery, SurgeryAction};
use crate::app::features::surgery_cut::{
    CutPointAction, CutPoints, MarginShell, MarginShellAction,
};
use crate::app::state::segments::Segment;
use crate::app::state::viewport::ViewRect;

pub struct SurgeryPanelPlugin;

impl Plugin for SurgeryPanelPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SurgeryChoice>()
            .add_systems(EguiPrimaryContextPass, surgery_window);
    }
}

/// What the window has picked (segment ids; the clip plane's index; the
/// margin map's thresholds).
#[derive(Resource, Debug)]
pub struct SurgeryChoice {
    /// The window is shown (the menu bar's Distances button, or `--margin`).
    pub open: bool,
    pub a: Option<u16>,
    pub b: Option<u16>,
    pub organ: Option<u16>,
    pub lesion: Option<u16>,
    pub plane: usize,
    pub thresholds_mm: [f32; 2],
    /// What the resection cuts along.
    pub cut: CutKind,
    /// The safety margin around the lesion (mm).
    pub margin_mm: f64,
    /// A curved cut takes the larger part away instead of the smaller.
    pub larger: bool,
    /// The window has taken up a cut the command line started with.
    seeded: bool,
}

/// What a virtual resection cuts along.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum CutKind {
    #[default]
    Plane,
    /// A smooth surface through points placed on the model.
    Surface,
    /// A safety margin around the lesion.
    Margin,
}

impl Default for SurgeryChoice {
    fn default() -> Self {
        SurgeryChoice {
            open: false,
            a: None,
            b: None,
            organ: None,
            lesion: None,
            plane: 0,
            // Common safety margins in liver and kidney surgery.
            thresholds_mm: [5.0, 10.0],
            cut: CutKind::Plane,
            margin_mm: 10.0,
            larger: false,
            seeded: false,
        }
    }
}

/// What the resection part of the window reads and sends besides the
/// segments and the surgery's results.
#[derive(bevy::ecs::system::SystemParam)]
struct CutParams<'w> {
    clip: Res<'w, ClipSettings>,
    points: Res<'w, CutPoints>,
    shell: Res<'w, MarginShell>,
    point_out: MessageWriter<'w, CutPointAction>,
    shell_out: MessageWriter<'w, MarginShellAction>,
    /// The 3D view's part of the window, where the window opens.
    view: Res<'w, ViewRect>,
}

fn surgery_window(
    mut contexts: EguiContexts,
    segments: Query<&Segment>,
    surgery: Res<Surgery>,
    margins: Res<Margins>,
    mut cut: CutParams,
    mut choice: ResMut<SurgeryChoice>,
    mut out: MessageWriter<SurgeryAction>,
) -> Result {
    let mut rows: Vec<(u16, String)> = segments.iter().map(|s| (s.id, s.name.clone())).collect();
    if rows.is_empty() {
        return Ok(());
    }
    rows.sort();
    if let Some(m) = &margins.shown
        && (choice.a, choice.b) == (None, None)
    {
        // A margin map from the command line: its pair in the pickers,
        // the window open on it.
        choice.a = Some(m.a);
        choice.b = Some(m.b);
        choice.open = true;
    }
    // A curved cut's points or a margin's shell from the command line: the
    // window open on them.
    if !choice.seeded {
        if let Some((lesion, mm)) = cut.shell.shown {
            choice.lesion = Some(lesion);
            choice.margin_mm = mm;
            choice.cut = CutKind::Margin;
            choice.open = true;
            choice.seeded = true;
        } else if cut.points.patch.is_some() {
            choice.cut = CutKind::Surface;
            choice.open = true;
            choice.seeded = true;
        }
    }
    if !choice.open {
        return Ok(());
    }
    let mut open = true;
    let ctx = contexts.ctx_mut()?;
    let name = |id: Option<u16>| {
        id.and_then(|id| rows.iter().find(|r| r.0 == id))
            .map_or("—".to_string(), |r| r.1.clone())
    };
    let pick = |ui: &mut egui::Ui, label: &str, v: &mut Option<u16>, none: bool| {
        egui::ComboBox::from_label(label)
            .selected_text(name(*v))
            .show_ui(ui, |ui| {
                if none {
                    ui.selectable_value(v, None, "—");
                }
                for (id, n) in &rows {
                    ui.selectable_value(v, Some(*id), n);
                }
            });
    };
    // Shown only while asked for (a window always there, even collapsed,
    // sat over the VR panel's Enter VR button in a small window).
    egui::Window::new("Distances & resection")
        .open(&mut open)
        // At the 3D view's right edge: the anatomy stays in sight while
        // points are placed on it.
        .default_pos(cut.view.0.map_or([260.0, 80.0], |r| {
            [(r.max.x - 370.0).max(r.min.x), r.min.y + 8.0]
        }))
        .show(ctx, |ui| {
            ui.label(egui::RichText::new("Minimum distance").strong());
            pick(ui, "from", &mut choice.a, false);
            pick(ui, "to", &mut choice.b, false);
            let ready = matches!((choice.a, choice.b), (Some(a), Some(b)) if a != b);
            if ui
                .add_enabled(ready, egui::Button::new("Measure"))
                .clicked()
                && let (Some(a), Some(b)) = (choice.a, choice.b)
            {
                out.write(SurgeryAction::Distance { a, b });
            }
            if let Some(d) = &surgery.distance {
                ui.label(format!(
                    "{} ↔ {}: {:.2} mm{}",
                    d.a,
                    d.b,
                    d.closest.distance_mm,
                    if d.closest.touching {
                        " (touching)"
                    } else {
                        ""
                    }
                ));
                ui.label(egui::RichText::new(format!("measured in {:.0} ms", d.ms)).weak());
            }
            margin_controls(ui, &mut choice, &margins, ready, &rows, &mut out);
            ui.separator();
            ui.label(egui::RichText::new("Virtual resection").strong());
            pick(ui, "organ", &mut choice.organ, false);
            pick(ui, "lesion (optional)", &mut choice.lesion, true);
            ui.horizontal(|ui| {
                ui.label("cut along");
                ui.radio_value(&mut choice.cut, CutKind::Plane, "a clip plane");
                ui.radio_value(&mut choice.cut, CutKind::Surface, "a curved surface");
                ui.radio_value(&mut choice.cut, CutKind::Margin, "a margin");
            });
            match choice.cut {
                CutKind::Plane => plane_cut(ui, &mut choice, &cut.clip, &mut out),
                CutKind::Surface => surface_cut(ui, &mut choice, &mut cut, &mut out),
                CutKind::Margin => margin_cut(ui, &mut choice, &mut cut, &mut out),
            }
            if let Some(r) = &surgery.resection {
                ui.label(format!(
                    "{} remnant {:.0} mL, {:.0}%",
                    r.organ, r.remnant_ml, r.remnant_pct
                ));
                ui.label(egui::RichText::new(&r.summary).weak());
            }
        });
    if !open {
        choice.open = false;
    }
    Ok(())
}

/// Colour "from" by its distance to "to": the thresholds, Show / Hide, the
/// legend and the shares of the surface under each.
fn margin_controls(
    ui: &mut egui::Ui,
    choice: &mut SurgeryChoice,
    margins: &Margins,
    ready: bool,
    rows: &[(u16, String)],
    out: &mut MessageWriter<SurgeryAction>,
) {
    let swatch =
        |c: [u8; 3]| egui::RichText::new("■").color(egui::Color32::from_rgb(c[0], c[1], c[2]));
    ui.horizontal(|ui| {
        ui.label("Margin map:");
        ui.label(swatch(NEAR));
        ui.label("under");
        ui.add(
            egui::DragValue::new(&mut choice.thresholds_mm[0])
                .range(0.0..=100.0)
                .speed(0.1)
                .suffix(" mm"),
        );
        ui.label(swatch(MID));
        ui.label("under");
        ui.add(
            egui::DragValue::new(&mut choice.thresholds_mm[1])
                .range(0.0..=100.0)
                .speed(0.1)
                .suffix(" mm"),
        );
    });
    ui.horizontal(|ui| {
        if ui
            .add_enabled(ready, egui::Button::new("Colour “from” by margin"))
            .on_hover_text("Colours the first segment's surface by its distance to the second")
            .clicked()
            && let (Some(a), Some(b)) = (choice.a, choice.b)
        {
            out.write(SurgeryAction::Margin {
                a,
                b,
                thresholds_mm: choice.thresholds_mm,
            });
        }
        if margins.shown.is_some() && ui.button("Own colour").clicked() {
            out.write(SurgeryAction::HideMargin);
        }
    });
    if let Some(m) = &margins.shown {
        let name = |id: u16| {
            rows.iter()
                .find(|r| r.0 == id)
                .map_or("?", |r| r.1.as_str())
        };
        if let (Some(u), Some(min)) = (m.under_pct, m.min_mm) {
            // While a newer measurement runs, the last one's figures stay
            // (greyed): the colours on screen are still the last one's.
            let text = format!(
                "{} to {}: {:.1}% of the surface under {} mm, {:.1}% under {} mm (nearest {:.1} mm)",
                name(m.a),
                name(m.b),
                u[0],
                m.thresholds_mm[0],
                u[1],
                m.thresholds_mm[1],
                min
            );
            if margins.measuring {
                ui.label(egui::RichText::new(text).weak());
            } else {
                ui.label(text);
            }
        }
        if margins.measuring {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(
                    egui::RichText::new(
                        "measuring… (in the background, once both surfaces are built)",
                    )
                    .weak(),
                );
            });
        }
    }
}

fn plane_cut(
    ui: &mut egui::Ui,
    choice: &mut SurgeryChoice,
    clip: &ClipSettings,
    out: &mut MessageWriter<SurgeryAction>,
) {
    let planes: Vec<usize> = clip.active().map(|(i, _)| i).collect();
    if planes.is_empty() {
        ui.label(egui::RichText::new("Turn a clip plane on and place it where to cut").weak());
        return;
    }
    if !planes.contains(&choice.plane) {
        choice.plane = planes[0];
    }
    ui.horizontal(|ui| {
        for i in &planes {
            ui.radio_value(&mut choice.plane, *i, format!("Plane {}", i + 1));
        }
    });
    if ui
        .add_enabled(
            choice.organ.is_some(),
            egui::Button::new("Resect along this plane"),
        )
        .clicked()
        && let Some(organ) = choice.organ
    {
        out.write(SurgeryAction::Resect {
            organ,
            lesion: choice.lesion.filter(|l| *l != organ),
            plane: choice.plane,
        });
    }
}

/// Points placed with clicks on the model, the surface through them drawn
/// in 3D as they come; which part goes.
fn surface_cut(
    ui: &mut egui::Ui,
    choice: &mut SurgeryChoice,
    cut: &mut CutParams,
    out: &mut MessageWriter<SurgeryAction>,
) {
    let placing = cut.points.placing;
    let n = cut.points.points.len();
    ui.horizontal(|ui| {
        let label = if placing {
            "Stop placing"
        } else {
            "Place points"
        };
        if ui
            .selectable_label(placing, label)
            .on_hover_text("Click on the model where the cut should run (3 points or more)")
            .clicked()
        {
            cut.point_out.write(CutPointAction::Place(!placing));
        }
        if ui
            .add_enabled(n > 0, egui::Button::new("Remove last"))
            .clicked()
        {
            cut.point_out.write(CutPointAction::RemoveLast);
        }
        if ui.add_enabled(n > 0, egui::Button::new("Clear")).clicked() {
            cut.point_out.write(CutPointAction::Clear);
        }
    });
    let status = cut.points.status("click on the model");
    ui.label(egui::RichText::new(status).weak());
    ui.horizontal(|ui| {
        ui.label("cut away");
        ui.radio_value(&mut choice.larger, false, "the smaller part");
        ui.radio_value(&mut choice.larger, true, "the larger part");
    });
    let ready = choice.organ.is_some() && cut.points.patch.is_some();
    if ui
        .add_enabled(ready, egui::Button::new("Resect along this surface"))
        .clicked()
        && let Some(organ) = choice.organ
    {
        out.write(SurgeryAction::ResectAlongPoints {
            organ,
            lesion: choice.lesion.filter(|l| *l != organ),
            larger: choice.larger,
        });
    }
}

/// A safety margin around the lesion: shown as a shell, cut away from the
/// organ.
fn margin_cut(
    ui: &mut egui::Ui,
    choice: &mut SurgeryChoice,
    cut: &mut CutParams,
    out: &mut MessageWriter<SurgeryAction>,
) {
    let Some(lesion) = choice.lesion.filter(|l| Some(*l) != choice.organ) else {
        ui.label(egui::RichText::new("Pick the lesion (and the organ to cut)").weak());
        return;
    };
    let mut changed = false;
    ui.horizontal(|ui| {
        ui.label("margin");
        changed = ui
            .add(
                egui::DragValue::new(&mut choice.margin_mm)
                    .range(0.0..=50.0)
                    .speed(0.1)
                    .suffix(" mm"),
            )
            .changed();
    });
    let shown = cut.shell.shown.is_some_and(|(l, _)| l == lesion);
    ui.horizontal(|ui| {
        if !shown && ui.button("Show the margin").clicked() {
            cut.shell_out.write(MarginShellAction::Show {
                lesion,
                mm: choice.margin_mm,
            });
        }
        if shown && ui.button("Hide the margin").clicked() {
            cut.shell_out.write(MarginShellAction::Hide);
        }
        if ui
            .add_enabled(
                choice.organ.is_some(),
                egui::Button::new("Resect the margin"),
            )
            .on_hover_text("Cuts away the organ within the margin around the lesion")
            .clicked()
            && let Some(organ) = choice.organ
        {
            out.write(SurgeryAction::ResectMargin {
                organ,
                lesion,
                mm: choice.margin_mm,
            });
        }
    });
    // The shell follows the margin as it is dragged.
    if shown && changed {
        cut.shell_out.write(MarginShellAction::Show {
            lesion,
            mm: choice.margin_mm,
        });
    }
    if let Some((_, mm)) = cut.shell.shown.filter(|(l, _)| *l == lesion) {
        ui.label(
            egui::RichText::new(format!(
                "shell {mm:.1} mm around the lesion: {:.1} mL inside it",
                cut.shell.volume_ml
            ))
            .weak(),
        );
    }
}
