//! A slice of the scan in space: the axial, coronal or sagittal slice
//! through the slice crosshair, drawn as a textured quad in place inside
//! the anatomy (a child of the patient root, so it moves with the model),
//! switched and moved with the right thumbstick ([`ResliceAction`]). It
//! moves the crosshair itself, so the desktop slice views follow.

use bevy::asset::RenderAssetUsages;
use bevy::ecs::system::SystemParam;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use stratum_core::image::view::{Overlay, Plane, render_slice};

use super::input::ResliceAction;
use super::quad::QuadPlane;
use crate::app::state::crosshair::SliceState;
use crate::app::state::space::PatientSpace;
use crate::app::state::study::Study;

pub struct ReslicePlugin;

impl Plugin for ReslicePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<XrReslice>()
            .add_message::<ResliceAction>()
            .add_systems(Update, (apply_reslice_actions, update_quad).chain());
    }
}

/// Whether the slice is shown and which plane it is.
#[derive(Resource, Debug)]
pub struct XrReslice {
    pub on: bool,
    pub plane: Plane,
    /// What the quad shows now: plane, slice, window, study.
    shown: Option<(Plane, usize, i64, i64, usize)>,
    /// Where the quad is (LPS mm) while it is shown: a stroke begun on it
    /// paints in its slice.
    pub quad: Option<QuadPlane>,
}

impl Default for XrReslice {
    fn default() -> Self {
        XrReslice {
            on: false,
            plane: Plane::Axial,
            shown: None,
            quad: None,
        }
    }
}

#[derive(Component)]
struct ResliceQuad;

fn apply_reslice_actions(
    mut actions: MessageReader<ResliceAction>,
    mut reslice: ResMut<XrReslice>,
    mut slices: ResMut<SliceState>,
) {
    for a in actions.read() {
        match *a {
            ResliceAction::Toggle => reslice.on = !reslice.on,
            ResliceAction::NextPlane(d) => {
                let i = Plane::ALL
                    .iter()
                    .position(|p| *p == reslice.plane)
                    .unwrap_or(0) as i32;
                reslice.plane = Plane::ALL[(i + d).rem_euclid(3) as usize];
            }
            ResliceAction::Step(n) => {
                let Some(layout) = slices.layout(reslice.plane) else {
                    continue;
                };
                let axis = layout.slice_axis();
                let max = layout.depth.saturating_sub(1) as i64;
                let c = &mut slices.crosshair[axis];
                *c = (*c as i64 + n as i64).clamp(0, max) as usize;
            }
        }
    }
}

/// Where the quad's picture goes: its mesh, the slice's image and an
/// unlit material showing it.
#[derive(SystemParam)]
struct QuadAssets<'w> {
    meshes: ResMut<'w, Assets<Mesh>>,
    images: ResMut<'w, Assets<Image>>,
    materials: ResMut<'w, Assets<StandardMaterial>>,
}

fn update_quad(
    mut commands: Commands,
    mut reslice: ResMut<XrReslice>,
    slices: Res<SliceState>,
    study: Option<Res<Study>>,
    root: Query<Entity, With<PatientSpace>>,
    mut quad: Query<(Entity, &mut Visibility), With<ResliceQuad>>,
    mut assets: QuadAssets,
) {
    let (Some(study), true) = (study, reslice.on) else {
        reslice.quad = None;
        for (_, mut v) in &mut quad {
            *v = Visibility::Hidden;
        }
        return;
    };
    let Some(layout) = slices.layout(reslice.plane) else {
        return;
    };
    let slice = layout.from_index(slices.crosshair)[2];
    let w = slices.window;
    let key = (
        reslice.plane,
        slice,
        (w.center * 10.0).round() as i64,
        (w.width * 10.0).round() as i64,
        std::sync::Arc::as_ptr(&study.volume) as usize,
    );
    if reslice.shown == Some(key) && !quad.is_empty() {
        for (_, mut v) in &mut quad {
            *v = Visibility::Inherited;
        }
        return;
    }
    reslice.shown = Some(key);
    let rgba = render_slice(
        &study.volume,
        &layout,
        slice,
        w,
        &Overlay {
            labels: None,
            colours: &[],
            preview: None,
            preview_mask: None,
        },
    );
    let (pw, ph) = (layout.width, layout.height);
    let image = Image::new(
        Extent3d {
            width: pw as u32,
            height: ph as u32,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        rgba,
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::RENDER_WORLD,
    );
    // The quad through the corner pixels' centres, in LPS mm (the parent
    // maps them to the world), UVs on those centres.
    let g = study.volume.geometry;
    let corner = |col: usize, row: usize| -> [f32; 3] {
        let i = layout.to_index(col, row, slice);
        let p = g.index_to_lps([i[0] as f64, i[1] as f64, i[2] as f64]);
        [p[0] as f32, p[1] as f32, p[2] as f32]
    };
    let (r, b) = (pw.saturating_sub(1), ph.saturating_sub(1));
    let positions = vec![corner(0, 0), corner(r, 0), corner(0, b), corner(r, b)];
    let at = |col, row| {
        let i = layout.to_index(col, row, slice);
        g.index_to_lps([i[0] as f64, i[1] as f64, i[2] as f64])
    };
    let o = at(0, 0);
    let (pu, pv) = (at(r, 0), at(0, b));
    reslice.quad = Some(QuadPlane {
        plane: reslice.plane,
        corner: o,
        u: std::array::from_fn(|k| pu[k] - o[k]),
        v: std::array::from_fn(|k| pv[k] - o[k]),
    });
    let (u0, u1) = (0.5 / pw as f32, 1.0 - 0.5 / pw as f32);
    let (v0, v1) = (0.5 / ph as f32, 1.0 - 0.5 / ph as f32);
    let uvs = vec![[u0, v0], [u1, v0], [u0, v1], [u1, v1]];
    let n = {
        let [a, b, c] = [positions[0], positions[1], positions[2]].map(Vec3::from);
        (b - a).cross(c - a).normalize_or_zero().to_array()
    };
    let mesh = Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::default(),
    )
    .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, positions)
    .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, vec![n; 4])
    .with_inserted_attribute(Mesh::ATTRIBUTE_UV_0, uvs)
    .with_inserted_indices(Indices::U32(vec![0, 2, 1, 1, 2, 3]));
    for (e, _) in &quad {
        commands.entity(e).despawn();
    }
    let Ok(root) = root.single() else { return };
    commands.spawn((
        Name::new("VR reslice"),
        ResliceQuad,
        Mesh3d(assets.meshes.add(mesh)),
        MeshMaterial3d(assets.materials.add(StandardMaterial {
            base_color_texture: Some(assets.images.add(image)),
            unlit: true,
            double_sided: true,
            cull_mode: None,
            ..default()
        })),
        Transform::default(),
        Visibility::Inherited,
        ChildOf(root),
    ));
}
