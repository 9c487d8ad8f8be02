//! Ruler lengths in VR: each ruler's length in mm on a small label at its
//! midpoint, turned to the eyes. One egui context paints every label into
//! one image (a row per ruler); each label is a quad whose UVs pick its row,
//! so eight rulers cost one small render pass, not eight.

use bevy::ecs::schedule::ScheduleLabel;
use bevy::mesh::{MeshVertexBufferLayoutRef, VertexAttributeValues};
use bevy::pbr::{
    ExtendedMaterial, MaterialExtension, MaterialExtensionKey, MaterialExtensionPipeline,
};
use bevy::prelude::*;
use bevy::render::render_resource::{
    AsBindGroup, CompareFunction, RenderPipelineDescriptor, SpecializedMeshPipelineError,
};
use bevy_egui::{EguiContext, PrimaryEguiContext, egui};
use bevy_mod_xr::session::XrState;

use super::egui_quad::{facing, quad_material, set_camera, set_visible, spawn_egui_target};
use super::rig::XrInput;
use crate::app::features::measurements::Rulers;
use crate::app::state::space::AnatomyPose;

/// The egui pass that paints the labels.
#[derive(ScheduleLabel, Clone, Debug, PartialEq, Eq, Hash)]
pub struct RulerLabelPass;

pub struct RulerLabelPlugin;

impl Plugin for RulerLabelPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(MaterialPlugin::<LabelMaterial>::default())
            .add_systems(Startup, spawn_labels)
            .add_systems(Update, place_labels)
            .add_systems(RulerLabelPass, paint_labels);
    }
}

/// Rulers labelled at once (the first ones placed; the desktop panel lists all).
pub const ROWS: usize = 8;
const ROW_PX: (u32, u32) = (320, 64);
/// A label is 9 cm by 1.8 cm, whatever the model's scale: readable at arm's length.
const WIDTH_M: f32 = 0.09;
/// Above the ruler's midpoint, so the label does not hide the line.
const LIFT_M: f32 = 0.012;

#[derive(Component)]
struct RulerLabel(usize);

/// The labels' material: the unlit texture, drawn over whatever is in
/// front (as the ruler lines are), so a length never hides inside the body.
type LabelMaterial = ExtendedMaterial<StandardMaterial, OnTop>;

#[derive(Asset, AsBindGroup, Reflect, Debug, Clone, Default)]
pub struct OnTop {}

impl MaterialExtension for OnTop {
    fn specialize(
        _pipeline: &MaterialExtensionPipeline,
        descriptor: &mut RenderPipelineDescriptor,
        _layout: &MeshVertexBufferLayoutRef,
        _key: MaterialExtensionKey<Self>,
    ) -> Result<(), SpecializedMeshPipelineError> {
        if let Some(depth) = descriptor.depth_stencil.as_mut() {
            depth.depth_compare = Some(CompareFunction::Always);
            depth.depth_write_enabled = Some(false);
        }
        Ok(())
    }
}

#[derive(Component)]
struct RulerLabelCamera;

fn spawn_labels(
    mut commands: Commands,
    mut images: ResMut<Assets<Image>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<LabelMaterial>>,
) {
    let image = spawn_egui_target(
        &mut commands,
        &mut images,
        (ROW_PX.0, ROW_PX.1 * ROWS as u32),
        -3,
        RulerLabelPass,
        (Name::new("VR ruler labels"), RulerLabelCamera),
    );
    let material = materials.add(ExtendedMaterial {
        base: quad_material(image),
        extension: OnTop {},
    });
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
            Name::new(format!("VR ruler label {}", row + 1)),
            RulerLabel(row),
            Mesh3d(meshes.add(mesh)),
            MeshMaterial3d(material.clone()),
            Transform::default(),
            Visibility::Hidden,
        ));
    }
}

fn place_labels(
    state: Option<Res<XrState>>,
    rulers: Res<Rulers>,
    pose: Res<AnatomyPose>,
    input: Res<XrInput>,
    mut labels: Query<(&RulerLabel, &mut Transform, &mut Visibility)>,
    mut camera: Query<&mut Camera, With<RulerLabelCamera>>,
) {
    let running = state.is_some_and(|s| *s == XrState::Running);
    let shown = if running {
        rulers.items.len().min(ROWS)
    } else {
        0
    };
    set_camera(camera.single_mut().ok(), shown > 0);
    let eye = input.cur.head.translation;
    for (label, mut t, mut vis) in &mut labels {
        set_visible(&mut vis, label.0 < shown);
        if label.0 >= shown {
            continue;
        }
        let r = &rulers.items[label.0];
        let at =
            label_point(eye, pose.lps_to_world(r.a), pose.lps_to_world(r.b)) + Vec3::Y * LIFT_M;
        let next = facing(at, eye);
        if *t != next {
            *t = next;
        }
    }
}

/// Where a ruler's label goes, seen from `eye`: over the ruler's midpoint,
/// but pulled toward the eye to just in front of the ruler's nearer end, so
/// that it stands out of the anatomy (and sorts before it) rather than
/// floating inside a body the ruler crosses.
pub fn label_point(eye: Vec3, a: Vec3, b: Vec3) -> Vec3 {
    let mid = (a + b) / 2.0;
    let Some(dir) = (mid - eye).try_normalize() else {
        return mid;
    };
    let near = eye.distance(a).min(eye.distance(b)) - 0.01;
    eye + dir * near.max(0.05)
}

fn paint_labels(
    mut ctx: Query<&mut EguiContext, (With<RulerLabelCamera>, Without<PrimaryEguiContext>)>,
    rulers: Res<Rulers>,
) {
    let Ok(mut ctx) = ctx.single_mut() else {
        return;
    };
    let ctx = ctx.get_mut().clone();
    let painter = ctx.layer_painter(egui::LayerId::background());
    let (w, h) = (ROW_PX.0 as f32, ROW_PX.1 as f32);
    for (row, r) in rulers.items.iter().take(ROWS).enumerate() {
        let rect = egui::Rect::from_min_size(egui::pos2(0.0, row as f32 * h), egui::vec2(w, h))
            .shrink(3.0);
        painter.rect_filled(rect, 12.0, egui::Color32::from_black_alpha(200));
        painter.text(
            rect.center(),
            egui::Align2::CENTER_CENTER,
            format!("{:.1} mm", r.length_mm()),
            egui::FontId::proportional(40.0),
            egui::Color32::from_rgb(255, 170, 70),
        );
    }
}
