//! The panel in the world: an egui context drawn into an image on a quad
//! above the left wrist (or left floating where the user pinned it), clicked
//! with the right controller's laser pointer. It holds what a user needs
//! without taking the headset off: the segments (visibility, opacity, the
//! selected one's volume), the brush (off, add, remove, smooth; its size),
//! undo and redo with the last steps (or, on its Distances page, the
//! distance, margin map and resection: `surgery_panel`), the clip planes
//! on and off, ruler mode, the slice in space, reset, and Leave VR. It
//! changes the same state and sends the same messages as the desktop panels.

use std::collections::BTreeMap;

use bevy::ecs::schedule::ScheduleLabel;
use bevy::prelude::*;
use bevy_egui::input::EguiInputEvent;
use bevy_egui::{EguiContext, PrimaryEguiContext, egui};
use bevy_mod_xr::session::{XrRequestExitMessage, XrState};

use super::XrStatus;
use super::egui_quad::{facing, quad_material, set_camera, set_visible, spawn_egui_target};
use super::input::{Hand, ResliceAction};
use super::pointer::{LaserPointer, PanelQuad};
use super::reslice::XrReslice;
use super::rig::{HandReadout, RigSet, XrInput};
use super::share_panel::{PanelShare, share_section};
use super::surgery_panel::{PanelSurgery, XrSurgeryChoice, surgery_section};
use crate::app::actions::ClipAction;
use crate::app::actions::RulerAction;
use crate::app::features::clip::ClipSettings;
use crate::app::features::measurements::Rulers;

use crate::app::actions::PoseAction;
use crate::app::actions::{BrushTool, HistoryAction};
use crate::app::features::sculpt::BrushSettings;
use crate::app::state::document::ApplyEdit;
use crate::app::state::segments::{Segment, ToolSettings};
use crate::app::state::study::Study;
use crate::app::ui::clip::clip_planes;
use crate::app::ui::segments::{ListAction, PanelSize, RowState, segment_list};

/// The egui pass of the world panel's context.
#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
pub struct WorldPanelPass;

pub struct WorldPanelPlugin;

impl Plugin for WorldPanelPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<WorldPanel>()
            .init_resource::<XrSurgeryChoice>()
            .add_systems(Startup, spawn_panel)
            .add_systems(
                PreUpdate,
                point_at_panel
                    .after(RigSet::Read)
                    .before(RigSet::Map)
                    .run_if(bevy_mod_openxr::openxr_session_running),
            )
            .add_systems(Update, show_panel)
            .add_systems(WorldPanelPass, draw_panel);
    }
}

/// The image's size in egui points (= pixels: the context is not zoomed).
pub const PIXELS: (u32, u32) = (560, 860);
/// The quad's width in metres: 22 cm, about 2.5 pixels per millimetre,
/// which a current headset resolves at arm's length.
pub const WIDTH_M: f32 = 0.22;
/// Where the panel hangs from the left controller's grip, in the grip's
/// frame: 6 cm above it and 12 cm back toward the wrist.
const WRIST_OFFSET: Vec3 = Vec3::new(0.0, 0.06, 0.12);

/// Where the panel is, what the pointer does on it, and the centres of its
/// named controls (panel pixels; the trace writes them, so a test can aim
/// at a button as a user would).
#[derive(Resource, Debug, Clone)]
pub struct WorldPanel {
    /// Shown at all (left Y hides and shows it).
    pub shown: bool,
    /// Left floating here instead of following the wrist.
    pub pinned: Option<Transform>,
    pub quad: PanelQuad,
    /// The right hand's laser pointer.
    pub pointer: LaserPointer,
    /// Where the pointer's ray meets the panel (world), for drawing it.
    pub hit_world: Option<Vec3>,
    pub widgets: BTreeMap<String, [f32; 2]>,
    /// Placed this session (the quad follows a tracked left hand).
    pub placed: bool,
    /// What the middle of the panel shows.
    pub page: PanelPage,
}

/// The wrist panel's pages: they share the top (selection) and the bottom
/// (clip planes, ruler, volume, reset, Leave VR).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PanelPage {
    /// The structures and the brush.
    #[default]
    Model,
    /// Distances, the margin map and the resection (`surgery_panel`).
    Distances,
    /// Share live (`share_panel`).
    Share,
}

impl Default for WorldPanel {
    fn default() -> Self {
        WorldPanel {
            shown: true,
            pinned: None,
            quad: PanelQuad {
                transform: Transform::default(),
                size_m: Vec2::new(WIDTH_M, WIDTH_M * PIXELS.1 as f32 / PIXELS.0 as f32),
                pixels: Vec2::new(PIXELS.0 as f32, PIXELS.1 as f32),
            },
            pointer: LaserPointer::default(),
            hit_world: None,
            widgets: BTreeMap::new(),
            placed: false,
            page: PanelPage::Model,
        }
    }
}

impl WorldPanel {
    /// In view this frame: shown, placed, and either pinned or on a tracked wrist.
    pub fn visible(&self) -> bool {
        self.shown && self.placed
    }
}

#[derive(Component)]
struct PanelQuadMesh;

#[derive(Component)]
pub struct PanelCamera;

/// The image the panel is drawn into (the trace saves it for a look).
#[derive(Resource, Clone)]
pub struct PanelImage(pub Handle<Image>);

fn spawn_panel(
    mut commands: Commands,
    mut images: ResMut<Assets<Image>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
    panel: Res<WorldPanel>,
) {
    let image = spawn_egui_target(
        &mut commands,
        &mut images,
        PIXELS,
        -2,
        WorldPanelPass,
        (Name::new("VR world panel"), PanelCamera),
    );
    commands.insert_resource(PanelImage(image.clone()));
    commands.spawn((
        Name::new("VR world panel quad"),
        PanelQuadMesh,
        Mesh3d(meshes.add(Rectangle::new(panel.quad.size_m.x, panel.quad.size_m.y))),
        MeshMaterial3d(materials.add(quad_material(image))),
        Transform::default(),
        Visibility::Hidden,
    ));
}

/// The panel's pose for a left grip and a head: above the wrist, its face
/// turned to the eyes with the world's up kept up (readable however the
/// wrist turns).
pub fn wrist_pose(grip: &Transform, head: &Transform) -> Transform {
    facing(
        grip.translation + grip.rotation * WRIST_OFFSET,
        head.translation,
    )
}

/// Before the gestures are mapped: put the panel where it belongs this
/// frame, follow the right aim ray on it and send egui what the pointer
/// does. Runs in `PreUpdate` between the rig's reading and mapping, so the
/// mapper knows whether the trigger is the panel's.
pub fn point_at_panel(
    state: Option<Res<XrState>>,
    input: Res<XrInput>,
    mut panel: ResMut<WorldPanel>,
    camera: Query<Entity, With<PanelCamera>>,
    mut events: MessageWriter<EguiInputEvent>,
) {
    let running = state.is_some_and(|s| *s == XrState::Running);
    let left = input.cur.hand(Hand::Left);
    let p = &mut *panel;
    // Y on the left controller hides and shows the panel.
    if left.secondary && !input.prev.hand(Hand::Left).secondary {
        p.shown = !p.shown;
    }
    if let Some(pinned) = p.pinned {
        p.quad.transform = pinned;
        p.placed = running;
    } else if running && left.tracked {
        p.quad.transform = wrist_pose(&left.grip, &input.cur.head);
        p.placed = true;
    } else {
        p.placed = false;
    }
    let right = input.cur.hand(Hand::Right);
    let ray = (p.visible() && right.tracked)
        .then(|| right.aim_ray())
        .flatten();
    let plane = ray.and_then(|r| p.quad.hit_plane(r));
    let on_quad = plane.is_some_and(|(px, _)| p.quad.contains(px));
    let px = plane.map(|(px, _)| px);
    p.hit_world = match (plane, ray) {
        (Some((_, t)), Some(r)) if on_quad || p.pointer.pressed => Some(r.get_point(t)),
        _ => None,
    };
    let trigger = if right.tracked { right.trigger } else { 0.0 };
    let out = p.pointer.update(px, on_quad, trigger);
    let Ok(context) = camera.single() else { return };
    for event in out {
        events.write(EguiInputEvent { context, event });
    }
}

fn show_panel(
    panel: Res<WorldPanel>,
    mut quad: Query<(&mut Transform, &mut Visibility), With<PanelQuadMesh>>,
    mut camera: Query<&mut Camera, With<PanelCamera>>,
    mut gizmos: Gizmos,
    input: Res<XrInput>,
) {
    let show = panel.visible();
    let Ok((mut t, mut vis)) = quad.single_mut() else {
        return;
    };
    set_camera(camera.single_mut().ok(), show);
    set_visible(&mut vis, show);
    if show && *t != panel.quad.transform {
        *t = panel.quad.transform;
    }
    // The laser: from the right controller to where it meets the panel, with a dot.
    if let Some(hit) = panel.hit_world {
        let from = input.cur.hand(Hand::Right).aim.translation;
        let colour = if panel.pointer.pressed {
            Color::srgb(0.4, 1.0, 0.6)
        } else {
            Color::srgb(0.5, 0.85, 1.0)
        };
        gizmos.line(from, hit, colour);
        gizmos.sphere(Isometry3d::from_translation(hit), 0.004, colour);
    }
}

/// Bigger text and targets than on the desktop: a laser pointer at arm's
/// length is less precise than a mouse.
fn vr_style(style: &mut egui::Style) {
    use egui::{FontId, TextStyle};
    style.text_styles = [
        (TextStyle::Heading, FontId::proportional(30.0)),
        (TextStyle::Body, FontId::proportional(22.0)),
        (TextStyle::Button, FontId::proportional(22.0)),
        (TextStyle::Small, FontId::proportional(17.0)),
        (TextStyle::Monospace, FontId::monospace(20.0)),
    ]
    .into();
    style.spacing.item_spacing = egui::vec2(10.0, 10.0);
    style.spacing.button_padding = egui::vec2(14.0, 8.0);
    style.spacing.interact_size = egui::vec2(44.0, 38.0);
    style.spacing.icon_width = 28.0;
    style.spacing.icon_width_inner = 16.0;
    style.spacing.slider_width = 190.0;
    style.visuals.window_fill = egui::Color32::from_rgb(24, 26, 30);
    style.visuals.panel_fill = style.visuals.window_fill;
}

#[allow(clippy::too_many_arguments)]
fn draw_panel(
    mut ctx: Query<&mut EguiContext, (With<PanelCamera>, Without<PrimaryEguiContext>)>,
    mut panel: ResMut<WorldPanel>,
    segments: Query<(Entity, &Segment)>,
    mut tools: ResMut<ToolSettings>,
    clip: Res<ClipSettings>,
    mut volume: ResMut<crate::app::features::volume::VolumeSettings>,
    rulers: Res<Rulers>,
    reslice: Res<XrReslice>,
    readout: Res<HandReadout>,
    mut status: ResMut<XrStatus>,
    mut styled: Local<bool>,
    mut out: PanelOutputs,
    mut brush: PanelBrush,
    mut surgery: PanelSurgery,
    mut share: PanelShare,
) {
    let Ok(mut ctx) = ctx.single_mut() else {
        return;
    };
    let ctx = ctx.get_mut().clone();
    if !*styled {
        ctx.all_styles_mut(vr_style);
        // A trigger pull is not a mouse click: a hand at arm's length
        // trembles a few pixels, and a frame in a slow runtime can take
        // longer than egui's 0.8 s for a click (the release would then be
        // a long press and click nothing).
        ctx.options_mut(|o| {
            o.input_options.max_click_dist = 16.0;
            o.input_options.max_click_duration = 30.0;
        });
        *styled = true;
    }
    let mut widgets = BTreeMap::new();
    // Only controls in view: rows scrolled out of the list are not there to aim at.
    // (The interactive part of a control is its rectangle clipped to the view.)
    let mut note = |name: &str, r: &egui::Response| {
        let v = r.interact_rect;
        if v.width() > 4.0 && v.height() > 4.0 {
            let c = v.center();
            widgets.insert(name.to_string(), [c.x, c.y]);
        }
    };
    let mut rows: Vec<(Entity, &Segment)> = segments.iter().collect();
    rows.sort_by_key(|(_, s)| s.id);
    let mut pin = None;
    let mut page = panel.page;
    let mut root = egui::Ui::new(
        ctx.clone(),
        "world-panel".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    );
    egui::CentralPanel::no_frame()
        .frame(
            egui::Frame::NONE
                // Opaque: blended in linear light, even 8% of the bright
                // anatomy behind shows through a dark panel.
                .fill(egui::Color32::from_rgb(24, 26, 30))
                .corner_radius(16.0)
                .inner_margin(16.0),
        )
        .show(&mut root, |ui| {
            ui.horizontal(|ui| {
                ui.heading("Stratum");
                ui.label(egui::RichText::new(&readout.scale).weak());
            });
            match &readout.selected {
                Some(sel) => {
                    ui.label(egui::RichText::new(sel).color(egui::Color32::from_rgb(255, 210, 120)))
                }
                None => ui.label(egui::RichText::new("Trigger on a structure to select it").weak()),
            };
            ui.separator();
            ui.horizontal(|ui| {
                for (p, label) in [
                    (PanelPage::Model, "Model"),
                    (PanelPage::Distances, "Distances"),
                    (PanelPage::Share, "Share"),
                ] {
                    let r = ui.selectable_label(page == p, label);
                    note(&format!("page {}", label.to_lowercase()), &r);
                    if r.clicked() {
                        page = p;
                    }
                }
            });
            if page == PanelPage::Distances {
                surgery_section(ui, &rows, &mut surgery, &mut note);
            } else if page == PanelPage::Share {
                share_section(ui, &mut share, &mut note);
            } else {
                ui.label(egui::RichText::new("Structures").strong());
                egui::ScrollArea::vertical()
                    // 50 px less than before the page tabs, so Leave VR stays on the panel.
                    .max_height(195.0)
                    .auto_shrink([false, true])
                    .show(ui, |ui| {
                        let rows = rows.iter().map(|(e, s)| (*e, (*s).clone())).collect();
                        let actions = segment_list(
                            ui,
                            rows,
                            tools.selected,
                            PanelSize::Wrist,
                            &|_, _| RowState::default(),
                            &mut note,
                        );
                        for a in actions {
                            match a {
                                ListAction::Edit(edit) => {
                                    out.edits.write(ApplyEdit(edit));
                                }
                                ListAction::Select(e) => tools.selected = e,
                                // Not on the wrist's list.
                                ListAction::Delete(_) | ListAction::Cut(..) => {}
                            }
                        }
                    });
                ui.separator();
                brush_section(ui, &mut brush, &mut note);
            }
            ui.separator();
            for a in clip_planes(ui, &clip, None, PanelSize::Wrist, &mut note) {
                out.clip.write(a);
            }
            ui.horizontal(|ui| {
                let mut ruler = rulers.placing;
                let r = ui.toggle_value(&mut ruler, "📏 Ruler");
                note("ruler", &r);
                if ruler != rulers.placing {
                    out.ruler.write(RulerAction::Place(ruler));
                }
                let mut slice = reslice.on;
                let r = ui.toggle_value(&mut slice, "Scan slice");
                note("scan slice", &r);
                if slice != reslice.on {
                    out.reslice.write(ResliceAction::Toggle);
                }
            });
            ui.horizontal(|ui| {
                let mut on = volume.enabled;
                let r = ui.toggle_value(&mut on, "Volume");
                note("volume", &r);
                if on != volume.enabled {
                    volume.enabled = on;
                }
                if volume.enabled {
                    // One button steps through the presets: a laser is
                    // poor at combo boxes.
                    let r = ui
                        .button(format!("{} ▸", volume.preset.label()))
                        .on_hover_text("Next preset");
                    note("volume preset", &r);
                    if r.clicked() {
                        use stratum_core::image::transfer::TfPreset;
                        let i = TfPreset::ALL
                            .iter()
                            .position(|p| *p == volume.preset)
                            .unwrap_or(0);
                        volume.show(TfPreset::ALL[(i + 1) % TfPreset::ALL.len()]);
                    }
                }
            });
            if let Some(r) = &readout.ruler {
                ui.label(egui::RichText::new(r).color(egui::Color32::from_rgb(255, 170, 70)));
            }
            ui.separator();
            ui.horizontal(|ui| {
                let r = ui.button("⟲ Reset model");
                note("reset", &r);
                if r.clicked() {
                    out.pose.write(PoseAction::Reset);
                }
                let pinned = panel.pinned.is_some();
                let r = ui.button(if pinned { "Back to wrist" } else { "Pin here" });
                note("pin", &r);
                if r.clicked() {
                    pin = Some(!pinned);
                }
            });
            let r = ui.button(
                egui::RichText::new("Leave VR").color(egui::Color32::from_rgb(255, 140, 120)),
            );
            note("leave vr", &r);
            if r.clicked() {
                status.left = true;
                out.exit.write_default();
            }
        });
    match pin {
        Some(true) => panel.pinned = Some(panel.quad.transform),
        Some(false) => panel.pinned = None,
        None => {}
    }
    if panel.page != page {
        panel.page = page;
    }
    if panel.widgets != widgets {
        panel.widgets = widgets;
    }
}

/// The messages the panel sends.
#[derive(bevy::ecs::system::SystemParam)]
struct PanelOutputs<'w> {
    clip: MessageWriter<'w, ClipAction>,
    ruler: MessageWriter<'w, RulerAction>,
    reslice: MessageWriter<'w, ResliceAction>,
    pose: MessageWriter<'w, PoseAction>,
    exit: MessageWriter<'w, XrRequestExitMessage>,
    edits: MessageWriter<'w, ApplyEdit>,
}

/// What the panel's brush section reads and changes.
#[derive(bevy::ecs::system::SystemParam)]
struct PanelBrush<'w> {
    settings: ResMut<'w, BrushSettings>,
    history: MessageWriter<'w, HistoryAction>,
    study: Option<Res<'w, Study>>,
}

/// The brush (off, add, remove, smooth; its size), undo and redo, and the
/// last steps: the same settings and messages as the desktop's Brush and
/// History panels.
fn brush_section(
    ui: &mut egui::Ui,
    brush: &mut PanelBrush,
    note: &mut impl FnMut(&str, &egui::Response),
) {
    ui.horizontal(|ui| {
        ui.label(egui::RichText::new("Brush").strong());
        let current = brush.settings.active.then(|| brush.settings.tool.in_3d());
        for (name, tool) in [
            ("Off", None),
            ("Add", Some(BrushTool::Add)),
            ("Remove", Some(BrushTool::Remove)),
            ("Smooth", Some(BrushTool::Smooth)),
        ] {
            let r = ui.selectable_label(current == tool, name);
            note(&format!("brush {}", name.to_lowercase()), &r);
            if r.clicked() && current != tool {
                match tool {
                    Some(t) => {
                        brush.settings.active = true;
                        brush.settings.tool = t;
                    }
                    None => brush.settings.active = false,
                }
            }
        }
    });
    ui.horizontal(|ui| {
        let r = ui.button("−");
        note("brush smaller", &r);
        if r.clicked() {
            brush.settings.diameter_mm = (brush.settings.diameter_mm - 2.0).max(1.0);
        }
        ui.label(format!("{:.0} mm", brush.settings.diameter_mm));
        let r = ui.button("+");
        note("brush larger", &r);
        if r.clicked() {
            brush.settings.diameter_mm = (brush.settings.diameter_mm + 2.0).min(80.0);
        }
        let (can_undo, can_redo) = brush.study.as_ref().map_or((false, false), |s| {
            (s.doc.history().can_undo(), s.doc.history().can_redo())
        });
        let r = ui.add_enabled(can_undo, egui::Button::new("↶ Undo"));
        note("undo", &r);
        if r.clicked() {
            brush.history.write(HistoryAction::Undo);
        }
        let r = ui.add_enabled(can_redo, egui::Button::new("↷ Redo"));
        note("redo", &r);
        if r.clicked() {
            brush.history.write(HistoryAction::Redo);
        }
    });
    let last: Vec<String> = brush
        .study
        .as_ref()
        .map(|s| {
            let done: Vec<String> = s
                .doc
                .steps()
                .filter(|st| st.done)
                .map(|st| st.name.to_string())
                .collect();
            done.into_iter().rev().take(3).collect()
        })
        .unwrap_or_default();
    ui.label(
        egui::RichText::new(if last.is_empty() {
            "Nothing to undo".to_string()
        } else {
            last.join(" · ")
        })
        .small()
        .weak(),
    );
}
