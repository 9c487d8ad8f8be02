//! Volume rendering: the scan itself in 3D, ray cast on the GPU (see
//! volume.wgsl) from a 16-bit copy of its values, through a transfer function
//! (presets and shift/width from the panel), cut by the clip planes and a crop
//! box, stopped by the opaque surfaces, in the desktop view and in both eyes
//! in XR. A study opened without segments shows it by default.

use bevy::asset::{RenderAssetUsages, embedded_asset};
use bevy::core_pipeline::prepass::DepthPrepass;
use bevy::image::ImageSampler;
use bevy::light::NotShadowCaster;
use bevy::mesh::{Indices, MeshVertexBufferLayoutRef, PrimitiveTopology};
use bevy::pbr::{MaterialPipeline, MaterialPipelineKey};
use bevy::prelude::*;
use bevy::render::render_resource::{
    AsBindGroup, CompareFunction, Extent3d, Face, RenderPipelineDescriptor, ShaderType,
    SpecializedMeshPipelineError, TextureDimension, TextureFormat,
};
use bevy::shader::ShaderRef;
use stratum_core::Progress;
use stratum_core::transfer::{
    BrickMap, RenderMode, TfPreset, TransferFunction, half_rgba, half_texels, half_values,
};
use stratum_core::view::texture_from_lps;

use crate::app::clip::{ClipSettings, MAX_PLANES, mat4_from_rows, world_plane};
use crate::app::jobs::{JobDone, JobPlugin, Notices, spawn_job};
use crate::app::loading::{Study, StudyLoaded};
use crate::app::space::{AnatomyPose, MM, PatientSpace};

/// Voxels per side of an empty-space brick.
pub const BRICK: usize = 8;
/// Entries of the transfer function's lookup table.
pub const LUT_SIZE: usize = 4096;

/// What the 3D view shows of the scan itself.
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct VolumeSettings {
    pub enabled: bool,
    pub preset: TfPreset,
    /// Shift (value units, HU for CT) and width (1 = the preset's) of the
    /// transfer function, as for a window.
    pub shift: f64,
    pub width: f64,
    /// Light from the gradient (off: flat colours, faster).
    pub shade: bool,
    /// Step along the ray, in voxels of the finest spacing: when the view
    /// is still, and while it moves (coarser, so turning stays fluid).
    pub still_step: f32,
    pub moving_step: f32,
    /// Crop box as fractions of the voxel grid along columns, rows, slices.
    pub crop_min: Vec3,
    pub crop_max: Vec3,
    /// The study's 1st..99th percentile range (where the MR presets sit).
    pub range: (f64, f64),
}

impl Default for VolumeSettings {
    fn default() -> Self {
        VolumeSettings {
            enabled: false,
            preset: TfPreset::CtBone,
            shift: 0.0,
            width: 1.0,
            shade: true,
            still_step: 0.5,
            moving_step: 1.5,
            crop_min: Vec3::ZERO,
            crop_max: Vec3::ONE,
            range: (-1000.0, 1500.0),
        }
    }
}

impl VolumeSettings {
    /// The transfer function in use.
    pub fn transfer(&self) -> TransferFunction {
        let mut tf =
            TransferFunction::preset(self.preset, self.range).shifted(self.shift, self.width);
        tf.shade = tf.shade && self.shade;
        tf
    }

    /// Turns the volume on with a preset (shift and width back to the preset's).
    pub fn show(&mut self, preset: TfPreset) {
        self.enabled = true;
        self.preset = preset;
        self.shift = 0.0;
        self.width = 1.0;
    }
}

/// The command line's `--render`: what the first study opens with.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq)]
pub enum RenderOnLoad {
    /// The volume when the study has no segments (and none are on their way).
    #[default]
    Auto,
    /// The volume, with this preset or the study's default.
    Volume(Option<TfPreset>),
    /// Surfaces only.
    Surfaces,
}

/// The volume box's entity and the GPU copies of the scan.
#[derive(Resource, Default)]
pub struct VolumeScene {
    pub entity: Option<Entity>,
    pub material: Option<Handle<VolumeMaterial>>,
    lut: Option<Handle<Image>>,
    occupancy: Option<Handle<Image>>,
    bricks: Option<BrickMap>,
    /// The volume uploaded (by address), the one being prepared, and the
    /// transfer function baked.
    uploaded: Option<usize>,
    pending: Option<usize>,
    baked: Option<TransferFunction>,
    /// Texture coordinates of LPS mm.
    tex_from_lps: Mat4,
    /// Value range the lookup table spans.
    lut_span: (f64, f64),
    /// Bytes uploaded to the GPU (scan, bricks, table).
    pub gpu_bytes: usize,
}

/// When the view last moved (s): the ray step is coarse until it rests.
#[derive(Resource, Default)]
struct ViewMotion {
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

/// Settings and what the first study opens with (no renderer needed).
pub struct VolumePlugin;

impl Plugin for VolumePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<VolumeSettings>()
            .init_resource::<RenderOnLoad>()
            .add_systems(Update, choose_on_load);
    }
}

/// The material, the GPU copies and the uniforms (needs the renderer).
pub struct VolumeRenderPlugin;

impl Plugin for VolumeRenderPlugin {
    fn build(&self, app: &mut App) {
        embedded_asset!(app, "volume.wgsl");
        app.add_plugins(MaterialPlugin::<VolumeMaterial>::default())
            .init_resource::<VolumeScene>()
            .init_resource::<ViewMotion>()
            .add_plugins(JobPlugin::<VolumeTexels>::default())
            .add_systems(
                Update,
                (
                    upload,
                    finish_upload,
                    bake_transfer,
                    update_uniforms,
                    depth_prepass_on_cameras,
                )
                    .chain()
                    .after(choose_on_load),
            );
    }
}

/// A new study: its range, and the volume on where nothing else will show.
fn choose_on_load(
    mut loaded: MessageReader<StudyLoaded>,
    study: Option<Res<Study>>,
    mut settings: ResMut<VolumeSettings>,
    mut on_load: ResMut<RenderOnLoad>,
    preset: Option<Res<crate::app::segmentation::PresetOnLoad>>,
    model: Option<Res<crate::app::ai::RunOnLoad>>,
    mut view: MessageWriter<crate::app::actions::ViewAction>,
) {
    let Some(msg) = loaded.read().last() else {
        return;
    };
    let Some(study) = study else { return };
    settings.range = study.auto_window;
    settings.crop_min = Vec3::ZERO;
    settings.crop_max = Vec3::ONE;
    let default = TfPreset::default_for(&study.volume);
    let surfaces_coming = preset.is_some_and(|p| p.0.is_some())
        || model.is_some_and(|m| m.0.is_some())
        || !msg.segments.is_empty();
    match std::mem::take(&mut *on_load) {
        RenderOnLoad::Volume(p) => settings.show(p.unwrap_or(default)),
        RenderOnLoad::Surfaces => settings.enabled = false,
        RenderOnLoad::Auto if !surfaces_coming => settings.show(default),
        RenderOnLoad::Auto => settings.enabled = false,
    }
    if !surfaces_coming {
        // Nothing else to frame: the view goes around the scan.
        view.write(crate::app::actions::ViewAction::Reset);
    }
}

/// The LPS corners of the voxel grid (outer faces of the edge voxels).
pub fn grid_corners(study: &Study) -> [[f64; 3]; 8] {
    let (nz, ny, nx) = study.volume.dim();
    let g = &study.volume.geometry;
    std::array::from_fn(|c| {
        let at = |bit: usize, n: usize| if c & bit == 0 { -0.5 } else { n as f64 - 0.5 };
        g.index_to_lps([at(1, nx), at(2, ny), at(4, nz)])
    })
}

/// The box mesh (LPS mm, outward faces) of the voxel grid.
fn box_mesh(corners: &[[f64; 3]; 8]) -> Mesh {
    let v: Vec<Vec3> = corners
        .iter()
        .map(|p| Vec3::new(p[0] as f32, p[1] as f32, p[2] as f32))
        .collect();
    let centre = v.iter().copied().sum::<Vec3>() / 8.0;
    // Each face by its corner bits, wound outward whatever the grid's handedness.
    let faces = [
        [0, 2, 6, 4],
        [1, 5, 7, 3],
        [0, 4, 5, 1],
        [2, 3, 7, 6],
        [0, 1, 3, 2],
        [4, 6, 7, 5],
    ];
    let mut indices = Vec::with_capacity(36);
    for f in faces {
        let n = (v[f[1]] - v[f[0]]).cross(v[f[2]] - v[f[0]]);
        let mid = (v[f[0]] + v[f[2]]) / 2.0;
        let tri = if n.dot(mid - centre) >= 0.0 {
            [f[0], f[1], f[2], f[0], f[2], f[3]]
        } else {
            [f[0], f[2], f[1], f[0], f[3], f[2]]
        };
        indices.extend(tri.iter().map(|&i| i as u32));
    }
    Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::RENDER_WORLD,
    )
    .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, v)
    .with_inserted_indices(Indices::U32(indices))
}

/// The scan's GPU copies, prepared in the background (a 512³ scan takes
/// seconds on two cores: not on the frame loop).
pub struct VolumeTexels {
    /// The volume they were made from (its address).
    key: usize,
    texels: Vec<u8>,
    bricks: BrickMap,
    /// Value range the lookup table spans.
    span: (f64, f64),
}

/// Starts preparing the scan (16-bit texels, empty-space bricks) when the
/// volume is first shown for a study, and keeps the box's visibility.
fn upload(
    mut commands: Commands,
    study: Option<Res<Study>>,
    settings: Res<VolumeSettings>,
    mut scene: ResMut<VolumeScene>,
    mut visibility: Query<&mut Visibility>,
) {
    let Some(study) = study else { return };
    let key = std::sync::Arc::as_ptr(&study.volume) as usize;
    if settings.enabled && scene.uploaded != Some(key) && scene.pending != Some(key) {
        scene.pending = Some(key);
        let volume = study.volume.clone();
        spawn_job(
            &mut commands,
            "Preparing the volume rendering",
            move |p: &Progress| {
                p.begin("16-bit copy of the scan", 2);
                let texels = half_texels(&volume);
                p.advance(1);
                p.check()?;
                let bricks = BrickMap::new(&volume, BRICK);
                p.advance(1);
                let (lo, hi) = volume.voxels.min_max();
                Ok(VolumeTexels {
                    key,
                    texels,
                    bricks,
                    span: (lo, hi.max(lo + 1.0)),
                })
            },
        );
    }
    if let Some(entity) = scene.entity
        && let Ok(mut vis) = visibility.get_mut(entity)
    {
        let want = if settings.enabled && scene.uploaded == Some(key) {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        };
        if *vis != want {
            *vis = want;
        }
    }
}

/// Puts the prepared copies on the GPU and the box under the patient root.
#[allow(clippy::too_many_arguments)]
fn finish_upload(
    mut commands: Commands,
    mut done: MessageMutator<JobDone<VolumeTexels>>,
    mut notices: ResMut<Notices>,
    study: Option<Res<Study>>,
    mut scene: ResMut<VolumeScene>,
    mut images: ResMut<Assets<Image>>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<VolumeMaterial>>,
    root: Query<Entity, With<PatientSpace>>,
) {
    for d in done.read() {
        let title = d.title.clone();
        let outcome = d.take();
        let Some(ready) = notices.take(&title, outcome) else {
            scene.pending = None;
            continue;
        };
        let (Some(study), Ok(root)) = (study.as_deref(), root.single()) else {
            continue;
        };
        // A study opened meanwhile: its own copy is on its way.
        if std::sync::Arc::as_ptr(&study.volume) as usize != ready.key {
            continue;
        }
        let volume = &study.volume;
        let (nz, ny, nx) = volume.dim();
        let mut image = Image::new(
            Extent3d {
                width: nx as u32,
                height: ny as u32,
                depth_or_array_layers: nz as u32,
            },
            TextureDimension::D3,
            ready.texels,
            TextureFormat::R16Float,
            RenderAssetUsages::RENDER_WORLD,
        );
        image.sampler = ImageSampler::linear();
        let [bx, by, bz] = ready.bricks.dims;
        let occupancy = Image::new(
            Extent3d {
                width: bx as u32,
                height: by as u32,
                depth_or_array_layers: bz as u32,
            },
            TextureDimension::D3,
            half_values(&vec![1.0; bx * by * bz]),
            TextureFormat::R16Float,
            RenderAssetUsages::RENDER_WORLD | RenderAssetUsages::MAIN_WORLD,
        );
        let mut lut = Image::new(
            Extent3d {
                width: LUT_SIZE as u32,
                height: 1,
                depth_or_array_layers: 1,
            },
            TextureDimension::D2,
            vec![0; LUT_SIZE * 8],
            TextureFormat::Rgba16Float,
            RenderAssetUsages::RENDER_WORLD | RenderAssetUsages::MAIN_WORLD,
        );
        lut.sampler = ImageSampler::linear();
        scene.gpu_bytes = nx * ny * nz * 2 + bx * by * bz * 2 + LUT_SIZE * 8;
        scene.lut_span = ready.span;
        scene.tex_from_lps = mat4_from_rows(texture_from_lps(&volume.geometry, volume.dim()));
        let material = VolumeMaterial {
            u: VolumeUniform::default(),
            scan: images.add(image),
            lut: images.add(lut),
            occupancy: images.add(occupancy),
        };
        scene.lut = Some(material.lut.clone());
        scene.occupancy = Some(material.occupancy.clone());
        scene.bricks = Some(ready.bricks);
        scene.baked = None;
        let handle = materials.add(material);
        scene.material = Some(handle.clone());
        let mesh = meshes.add(box_mesh(&grid_corners(study)));
        if let Some(old) = scene.entity.take() {
            commands.entity(old).despawn();
        }
        let entity = commands
            .spawn((
                Name::new("Volume rendering"),
                Mesh3d(mesh),
                MeshMaterial3d(handle),
                Transform::IDENTITY,
                // Hidden until `upload` sees it is current and wanted.
                Visibility::Hidden,
                NotShadowCaster,
                ChildOf(root),
            ))
            .id();
        scene.entity = Some(entity);
        scene.uploaded = Some(ready.key);
        scene.pending = None;
        info!(
            "volume rendering: {nx}x{ny}x{nz} voxels uploaded as 16-bit ({:.0} MB on the GPU)",
            scene.gpu_bytes as f64 / 1e6
        );
    }
}

/// Bakes the transfer function into the lookup table and the brick
/// occupancy when it changes.
fn bake_transfer(
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

/// The ray's frame, planes, crop box, step and mode, each frame the view,
/// the pose or the settings change.
#[allow(clippy::too_many_arguments)]
fn update_uniforms(
    time: Res<Time<Real>>,
    study: Option<Res<Study>>,
    settings: Res<VolumeSettings>,
    clip: Res<ClipSettings>,
    pose: Res<AnatomyPose>,
    scene: Res<VolumeScene>,
    cameras: Query<&GlobalTransform, With<Camera3d>>,
    mut motion: ResMut<ViewMotion>,
    mut materials: ResMut<Assets<VolumeMaterial>>,
    mut last: Local<Option<VolumeUniform>>,
) {
    let (Some(study), Some(handle)) = (study, scene.material.as_ref()) else {
        return;
    };
    if !settings.enabled {
        return;
    }
    let now = time.elapsed_secs_f64();
    let cams: Vec<GlobalTransform> = cameras.iter().copied().collect();
    if cams != motion.last_camera || pose.is_changed() {
        motion.last_move = now;
        motion.last_camera = cams;
    }
    let moving = now - motion.last_move < 0.3;
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
    let same = last.as_ref().is_some_and(|l| {
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
        *last = Some(u);
    }
}

/// Every 3D camera (the desktop view, both eyes) gets a depth prepass
/// while the volume is shown: the rays read where the surfaces are.
fn depth_prepass_on_cameras(
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
