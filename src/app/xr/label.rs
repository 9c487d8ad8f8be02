//! The readout beside the right hand in VR: an egui context drawn into a
//! small image (its own camera) and shown on a quad above the controller,
//! turned to the eyes: the scale (1:1 marked), the picked segment's name
//! and volume, ruler mode.

use bevy::ecs::schedule::ScheduleLabel;
use bevy::prelude::*;
use bevy_egui::{EguiContext, PrimaryEguiContext, egui};
use bevy_mod_xr::session::XrState;

use super::egui_quad::{facing, quad_material, set_camera, set_visible, spawn_egui_target};
use super::input::Hand;
use super::rig::{HandReadout, XrInput};

/// The egui pass of the hand label's context.
#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
pub struct HandLabelPass;

pub struct HandLabelPlugin;

impl Plugin for HandLabelPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, spawn_label)
            .add_systems(Update, place_label)
            .add_systems(HandLabelPass, draw_label);
    }
}

#[derive(Component)]
struct LabelQuad;

#[derive(Component)]
struct LabelCamera;

const SIZE: (u32, u32) = (512, 200);
/// The quad's width in metres (16 cm: readable at arm's length).
const WIDTH_M: f32 = 0.16;

fn spawn_label(
    mut commands: Commands,
    mut images: ResMut<Assets<Image>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    let image = spawn_egui_target(
        &mut commands,
        &mut images,
        SIZE,
        -1,
        HandLabelPass,
        (Name::new("VR hand label"), LabelCamera),
    );
    let h = WIDTH_M * SIZE.1 as f32 / SIZE.0 as f32;
    commands.spawn((
        Name::new("VR hand label quad"),
        LabelQuad,
        Mesh3d(meshes.add(Rectangle::new(WIDTH_M, h))),
        MeshMaterial3d(materials.add(quad_material(image))),
        Transform::default(),
        Visibility::Hidden,
    ));
}

fn place_label(
    state: Option<Res<XrState>>,
    input: Res<XrInput>,
    mut quad: Query<(&mut Transform, &mut Visibility), With<LabelQuad>>,
    mut camera: Query<&mut Camera, With<LabelCamera>>,
) {
    let hand = input.cur.hand(Hand::Right);
    let show = state.is_some_and(|s| *s == XrState::Running) && hand.tracked;
    let Ok((mut t, mut vis)) = quad.single_mut() else {
        return;
    };
    set_camera(camera.single_mut().ok(), show);
    set_visible(&mut vis, show);
    if !show {
        return;
    }
    // 8 cm above the grip, its face turned to the head.
    *t = facing(
        hand.grip.translation + Vec3::Y * 0.08,
        input.cur.head.translation,
    );
}

fn draw_label(
    mut ctx: Query<&mut EguiContext, (With<LabelCamera>, Without<PrimaryEguiContext>)>,
    readout: Res<HandReadout>,
) {
    let Ok(mut ctx) = ctx.single_mut() else {
        return;
    };
    let ctx = ctx.get_mut().clone();
    let mut root = egui::Ui::new(
        ctx.clone(),
        "hand-label".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    );
    egui::CentralPanel::no_frame()
        .frame(
            egui::Frame::NONE
                .fill(egui::Color32::from_black_alpha(190))
                .corner_radius(12.0)
                .inner_margin(12.0),
        )
        .show(&mut root, |ui| {
            let big = egui::FontId::proportional(30.0);
            ui.label(
                egui::RichText::new(&readout.scale)
                    .font(big.clone())
                    .color(egui::Color32::WHITE),
            );
            if let Some(sel) = &readout.selected {
                ui.label(
                    egui::RichText::new(sel)
                        .font(big)
                        .color(egui::Color32::from_rgb(255, 210, 120)),
                );
            }
            if let Some(r) = &readout.ruler {
                ui.label(
                    egui::RichText::new(r)
                        .size(26.0)
                        .color(egui::Color32::from_rgb(255, 170, 70)),
                );
            }
            if readout.ruler_mode {
                ui.label(
                    egui::RichText::new("Ruler: trigger twice")
                        .size(24.0)
                        .color(egui::Color32::from_rgb(255, 150, 60)),
                );
            }
        });
}
