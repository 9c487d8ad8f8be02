//! The readout beside the right hand in VR: an egui context drawn into a
//! small image (its own camera) and shown on a quad above the controller,
//! turned to the eyes: the scale (1:1 marked), the picked segment's name
//! and volume, ruler mode.

use bevy::asset::RenderAssetUsages;
use bevy::camera::RenderTarget;
use bevy::camera::visibility::RenderLayers;
use bevy::ecs::schedule::ScheduleLabel;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat, TextureUsages};
use bevy_egui::{EguiContext, EguiSchedule, PrimaryEguiContext, egui};
use bevy_mod_xr::session::XrState;

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
    let mut image = Image::new_fill(
        Extent3d {
            width: SIZE.0,
            height: SIZE.1,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        &[0, 0, 0, 0],
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::all(),
    );
    image.texture_descriptor.usage |= TextureUsages::RENDER_ATTACHMENT;
    let image = images.add(image);
    commands.spawn((
        Name::new("VR hand label"),
        LabelCamera,
        Camera2d,
        Camera {
            order: -1,
            is_active: false,
            clear_color: ClearColorConfig::Custom(Color::NONE),
            ..default()
        },
        RenderTarget::Image(image.clone().into()),
        RenderLayers::none(),
        EguiSchedule::new(HandLabelPass),
    ));
    let h = WIDTH_M * SIZE.1 as f32 / SIZE.0 as f32;
    commands.spawn((
        Name::new("VR hand label quad"),
        LabelQuad,
        Mesh3d(meshes.add(Rectangle::new(WIDTH_M, h))),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color_texture: Some(image),
            alpha_mode: AlphaMode::Blend,
            unlit: true,
            double_sided: true,
            cull_mode: None,
            ..default()
        })),
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
    if let Ok(mut cam) = camera.single_mut()
        && cam.is_active != show
    {
        cam.is_active = show;
    }
    let Ok((mut t, mut vis)) = quad.single_mut() else {
        return;
    };
    let want = if show {
        Visibility::Inherited
    } else {
        Visibility::Hidden
    };
    if *vis != want {
        *vis = want;
    }
    if !show {
        return;
    }
    // 8 cm above the grip, its face turned to the head.
    let at = hand.grip.translation + Vec3::Y * 0.08;
    let to_eye = input.cur.head.translation - at;
    *t = Transform::from_translation(at);
    if to_eye.length() > 1e-3 {
        t.look_to(-to_eye, Vec3::Y);
    }
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
