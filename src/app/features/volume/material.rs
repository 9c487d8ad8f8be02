//! The ray-casting material (the uniform block of volume.wgsl) and what
//! feeds it: the transfer function baked into its lookup table and brick
//! occupancy, the uniforms each frame the view, pose or settings change,
//! and the depth prepass its rays read the surfaces from.

use bevy::core_pipeline::prepass::DepthPrepass;
use bevy::mesh::MeshVertexBufferLayoutRef;
use bevy::pbr::{MaterialPipeline, MaterialPipelineKey};
use bevy::prelude::*;
use bevy::render::render_resource::{
    AsBindGroup, CompareFunction, Face, RenderPipelineDescriptor, ShaderType,
    SpecializedMeshPipelineError,
};
use bevy::shader::ShaderRef;
use stratum_core::transfer::{RenderMode, half_rgba, half_values};

use super::{BRICK, LUT_SIZE, VolumeScene, VolumeSettings};
use crate::app::features::clip::{ClipSettings, MAX_PLANES, world_plane};
use crate::app::state::space::{AnatomyPose, MM};
use crate::app::state::study::Study;

/// When the view last moved (s): the ray step is coarse until it rests.
#[derive(Resource, Default)]
pub(super) struct ViewMotion {
    moving: bool,
    last_move: f64,
    last_camera: Vec<GlobalTransform>,
}

/// The uniform block of volume.wgsl.
#[derive(Clone, Copy, Debug, Default, ShaderType, Reflect)]
pub struct VolumeUniform {
    pub tex_from_world: Mat4,
    pub planes: [Vec4; MAX_PLANES],
    pub crop_min: Vec4,
    pub crop_max: Vec4,
    pub lut: Vec4,
    pub bricks: Vec4,
    pub grid: Vec4,
    pub flags: u32,
    pub max_steps: u32,
}

/// The ray-casting material on the volume's box.
#[derive(Asset, AsBindGroup, Reflect, Debug, Clone)]
pub struct VolumeMaterial {
    #[uniform(0)]
    pub u: VolumeUniform,
    #[texture(1, dimension = "3d")]
    #[sampler(2)]
    pub scan: Handle<Image>,
    #[texture(3)]
    #[sampler(4)]
    pub lut: Handle<Image>,
    #[texture(5, dimension = "3d", sample_type = "float", filterable = false)]
    pub occupancy: Handle<Image>,
}

impl Material for VolumeMaterial {
    fn fragment_shader() -> ShaderRef {
        "embedded://stratum/app/features/volume.wgsl".into()
    }

    fn alpha_mode(&self) -> AlphaMode {
        AlphaMode::Premultiplied
    }

    /// Drawn before every other transparent thing: a translucent organ
    /// inside the scan blends over the rendering rather than under it.
    fn depth_bias(&self) -> f32 {
        -1.0e4
    }

    fn enable_prepass() -> bool {
        false
    }

    fn enable_shadows() -> bool {
        false
    }

    fn specialize(
        _pipeline: &MaterialPipeline,
        descriptor: &mut RenderPipelineDescriptor,
        _layout: &MeshVertexBufferLayoutRef,
        _key: MaterialPipelineKey<Self>,
    ) -> Result<(), SpecializedMeshPipelineError> {
        // The box's far side: one fragment per pixel, also with the eye
        // inside the box; the ray itself finds where surfaces stop it.
        descriptor.primitive.cull_mode = Some(Face::Front);
        if let Some(depth) = descriptor.depth_stencil.as_mut() {
            depth.depth_compare = Some(CompareFunction::Always);
            depth.depth_write_enabled = Some(false);
        }
        Ok(())
    }
}

/// Bakes the transfer function into the lookup table and the brick
/// occupancy when it changes.
pub(super) fn bake_transfer(
    settings: Res<VolumeSettings>,
    mut scene: ResMut<VolumeScene>,
    mut images: ResMut<Assets<Image>>,
) {
    if !settings.enabled {
        return;
    }
    let tf = settings.transfer();
    if scene.baked.as_ref() == Some(&tf) {
        return;
    }
    let (Some(lut), Some(occ), Some(bricks)) = (
        scene.lut.clone(),
        scene.occupancy.clone(),
        scene.bricks.as_ref(),
    ) else {
        return;
    };
    let (lo, hi) = scene.lut_span;
    // Per brick: 1 where the function shows something, 0 where rays skip;
    // for MIP the brick's largest value (a ray skips what cannot beat its
    // brightest sample so far).
    let occupancy = if tf.mode == RenderMode::Mip {
        half_values(&bricks.max)
    } else {
        let occ: Vec<f32> = bricks
            .occupancy(&tf)
            .into_iter()
            .map(|o| if o > 0 { 1.0 } else { 0.0 })
            .collect();
        half_values(&occ)
    };
    if let Some(mut image) = images.get_mut(&occ) {
        image.data = Some(occupancy);
    }
    if let Some(mut image) = images.get_mut(&lut) {
        image.data = Some(half_rgba(&tf.bake(lo, hi, LUT_SIZE)));
    }
    scene.baked = Some(tf);
}

/// Notes when the view or the pose last moved: the rays step coarsely
/// while the camera moves and finely once it rests.
pub(super) fn track_view_motion(
    time: Res<Time<Real>>,
    pose: Res<AnatomyPose>,
    cameras: Query<&GlobalTransform, With<Camera3d>>,
    mut motion: ResMut<ViewMotion>,
) {
    let now = time.elapsed_secs_f64();
    let cams: Vec<GlobalTransform> = cameras.iter().copied().collect();
    if cams != motion.last_camera || pose.is_changed() {
        motion.last_move = now;
        motion.last_camera = cams;
    }
    motion.moving = now - motion.last_move < 0.3;
}

/// The ray's frame, planes, crop box, step and mode, each frame the view,
/// the pose or the settings change.
pub(super) fn update_uniforms(
    study: Res<Study>,
    settings: Res<VolumeSettings>,
    clip: Res<ClipSettings>,
    pose: Res<AnatomyPose>,
    scene: Res<VolumeScene>,
    motion: Res<ViewMotion>,
    mut materials: ResMut<Assets<VolumeMaterial>>,
) {
    let Some(handle) = scene.material.as_ref() else {
        return;
    };
    if !settings.enabled {
        return;
    }
    let moving = motion.moving;
    let s = study.volume.geometry.spacing;
    let voxel = s[0].min(s[1]).min(s[2]) as f32 * MM * pose.scale();
    let steps = if moving {
        settings.moving_step
    } else {
        settings.still_step
    }
    .clamp(0.1, 8.0);
    let tf = settings.transfer();
    let mut flags = 0u32;
    let mut planes = [Vec4::ZERO; MAX_PLANES];
    for (i, plane) in clip.active() {
        planes[i] = world_plane(&pose, plane);
        flags |= 1 << i;
    }
    if tf.mode == RenderMode::Mip {
        flags |= 8;
    }
    if tf.shade {
        flags |= 16;
    }
    let world_from_lps = pose.patient_transform().to_matrix();
    let (nz, ny, nx) = study.volume.dim();
    let (lo, hi) = scene.lut_span;
    // Texture coordinates of the crop box: texel centres are at (i + 0.5) / n,
    // the grid's outer faces at 0 and 1.
    let u = VolumeUniform {
        tex_from_world: scene.tex_from_lps * world_from_lps.inverse(),
        planes,
        crop_min: settings.crop_min.min(settings.crop_max).extend(0.0),
        crop_max: settings.crop_max.max(settings.crop_min).extend(0.0),
        // The table's texel centres: `lo` at 0.5 / N, `hi` at (N - 0.5) / N.
        lut: Vec4::new(
            (lo - (hi - lo) * 0.5 / (LUT_SIZE - 1) as f64) as f32,
            ((LUT_SIZE - 1) as f64 / LUT_SIZE as f64 / (hi - lo)) as f32,
            steps * voxel,
            voxel,
        ),
        bricks: Vec4::new(
            nx.div_ceil(BRICK) as f32,
            ny.div_ceil(BRICK) as f32,
            nz.div_ceil(BRICK) as f32,
            BRICK as f32,
        ),
        grid: Vec4::new(nx as f32, ny as f32, nz as f32, 0.0),
        flags,
        max_steps: (((nx * nx + ny * ny + nz * nz) as f32).sqrt() / steps.min(1.0) * 2.0) as u32
            + 64,
    };
    // Reading the material first leaves it unchanged (no re-upload) when
    // nothing the rays use moved.
    let same = materials.get(handle).is_some_and(|m| {
        let l = &m.u;
        l.tex_from_world == u.tex_from_world
            && l.planes == u.planes
            && l.crop_min == u.crop_min
            && l.crop_max == u.crop_max
            && l.lut == u.lut
            && l.flags == u.flags
    });
    if same {
        return;
    }
    if let Some(mut m) = materials.get_mut(handle) {
        m.u = u;
    }
}

/// Every 3D camera (the desktop view, both eyes) gets a depth prepass
/// while the volume is shown: the rays read where the surfaces are.
pub(super) fn depth_prepass_on_cameras(
    mut commands: Commands,
    settings: Res<VolumeSettings>,
    without: Query<Entity, (With<Camera3d>, Without<DepthPrepass>)>,
    with: Query<Entity, (With<Camera3d>, With<DepthPrepass>)>,
) {
    if settings.enabled {
        for e in &without {
            commands.entity(e).insert(DepthPrepass);
        }
    } else {
        for e in &with {
            commands.entity(e).remove::<DepthPrepass>();
        }
    }
}
