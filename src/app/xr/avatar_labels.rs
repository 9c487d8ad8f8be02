//! Participants' names in VR in a live session: a small label above each
//! other participant's head (see `features::avatars`), in their colour,
//! turned to the eyes. One egui context paints every name into one image
//! (a row each), each label a quad whose UVs pick its row, as the ruler
//! labels do.

use bevy::ecs::schedule::ScheduleLabel;
use bevy::mesh::VertexAttributeValues;
use bevy::prelude::*;
use bevy_egui::{EguiContext, PrimaryEguiContext, egui};
use bevy_mod_xr::session::XrState;

use super::egui_quad::{facing, quad_material, set_camera, set_visible, spawn_egui_target};
use super::rig::XrInput;
use crate::app::features::avatars::{AvatarPart, Part, RemoteAvatars, colour_of, display_name};

/// The egui pass that paints the names.
#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
pub struct AvatarLabelPass;

pub struct AvatarLabelPlugin;

impl Plugin for AvatarLabelPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, spawn_labels)
            .add_systems(Update, place_labels)
            .add_systems(AvatarLabelPass, paint_labels);
    }
}

/// Participants labelled at once (a class in one room is rarely more).
const ROWS: usize = 12;
const ROW_PX: (u32, u32) = (320, 64);
/// 10 cm by 2 cm: readable across a table.
const WIDTH_M: f32 = 0.10;

#[derive(Component)]
struct AvatarLabel(usize);

#[derive(Component)]
struct AvatarLabelCamera;

fn spawn_labels(
    mut commands: Commands,
    mut images: ResMut<Assets<Image>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    let image = spawn_egui_target(
        &mut commands,
        &mut images,
        (ROW_PX.0, ROW_PX.1 * ROWS as u32),
        -4,
        AvatarLabelPass,
        (Name::new("VR avatar labels"), AvatarLabelCamera),
    );
    let material = materials.add(quad_material(image));
    let h = WIDTH_M * ROW_PX.1 as f32 / ROW_PX.0 as f32;
    for row in 0..ROWS {
        let mut mesh = Mesh::from(Rectangle::new(WIDTH_M, h));
        if let Some(VertexAttributeValues::Float32x2(uvs)) =
            mesh.attribute_mut(Mesh::ATTRIBUTE_UV_0)
        {
            for uv in uvs.iter_mut() {
                uv[1] = (row as f32 + uv[1]) / ROWS as f32;
            }
        }
        commands.spawn((
            Name::new(format!("VR avatar label {}", row + 1)),
            AvatarLabel(row),
            Mesh3d(meshes.add(mesh)),
            MeshMaterial3d(material.clone()),
            Transform::default(),
            Visibility::Hidden,
        ));
    }
}

/// Each label over its participant's head (row `i` is the `i`-th avatar
/// of [`RemoteAvatars`]), hidden when the head is.
fn place_labels(
    state: Option<Res<XrState>>,
    avatars: Res<RemoteAvatars>,
    input: Res<XrInput>,
    heads: Query<(&AvatarPart, &Transform, &Visibility), Without<AvatarLabel>>,
    mut labels: Query<(&AvatarLabel, &mut Transform, &mut Visibility)>,
    mut camera: Query<&mut Camera, With<AvatarLabelCamera>>,
) {
    let running = state.is_some_and(|s| *s == XrState::Running);
    let shown = if running {
        avatars.0.len().min(ROWS)
    } else {
        0
    };
    set_camera(camera.single_mut().ok(), shown > 0);
    let eye = input.cur.head.translation;
    for (label, mut t, mut vis) in &mut labels {
        let head = (label.0 < shown)
            .then(|| {
                let from = avatars.0[label.0].from;
                heads.iter().find(|(p, _, v)| {
                    p.from == from && p.part == Part::Head && **v != Visibility::Hidden
                })
            })
            .flatten();
        set_visible(&mut vis, head.is_some());
        let Some((_, h, _)) = head else {
            continue;
        };
        let at = h.translation + Vec3::Y * (h.scale.y * 0.6 + 0.03);
        let next = facing(at, eye);
        if *t != next {
            *t = next;
        }
    }
}

fn paint_labels(
    mut ctx: Query<&mut EguiContext, (With<AvatarLabelCamera>, Without<PrimaryEguiContext>)>,
    avatars: Res<RemoteAvatars>,
) {
    let Ok(mut ctx) = ctx.single_mut() else {
        return;
    };
    let ctx = ctx.get_mut().clone();
    let painter = ctx.layer_painter(egui::LayerId::background());
    let (w, h) = (ROW_PX.0 as f32, ROW_PX.1 as f32);
    for (row, a) in avatars.0.iter().take(ROWS).enumerate() {
        let rect = egui::Rect::from_min_size(egui::pos2(0.0, row as f32 * h), egui::vec2(w, h))
            .shrink(3.0);
        let c = colour_of(a.from).to_srgba();
        let fill = egui::Color32::from_rgb(
            (c.red * 200.0) as u8,
            (c.green * 200.0) as u8,
            (c.blue * 200.0) as u8,
        );
        painter.rect_filled(rect, 14.0, fill);
        painter.text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            display_name(a),
            egui::FontId::proportional(36.0),
            egui::Color32::WHITE,
        );
    }
}
