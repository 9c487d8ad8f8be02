//! Clip planes: up to three planes cut the surfaces (per segment on or off),
//! and where a plane opens a surface, the cut face shows the scan resliced
//! on the plane with the slice views' window, tinted by the segment colour
//! (see clip.wgsl). Planes change only through [`ClipAction`] messages, so
//! the XR mode can drive them from a controller as the panel does.

use bevy::asset::{RenderAssetUsages, embedded_asset};
use bevy::ecs::system::SystemParam;
use bevy::image::ImageSampler;
use bevy::pbr::{ExtendedMaterial, MaterialExtension};
use bevy::prelude::*;
use bevy::render::render_resource::{
    AsBindGroup, Extent3d, Face, ShaderType, TextureDimension, TextureFormat,
};
use bevy::shader::ShaderRef;
use stratum_core::image::view::{ClipPlane, texture_from_lps, windowed_texels};

use crate::app::actions::{ClipAction, ClipKind};
use crate::app::state::crosshair::SliceState;
use crate::app::state::segments::Segment;
use crate::app::state::space::{AnatomyPose, MM, lps_rotation};
use crate::app::state::study::Study;

/// The material of every segment surface.
pub type SegmentMaterial = ExtendedMaterial<StandardMaterial, ClipExtension>;

/// How many planes can cut at once.
pub const MAX_PLANES: usize = 3;

/// One of the clip planes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipSlot {
    pub enabled: bool,
    pub kind: ClipKind,
    pub plane: ClipPlane,
}

/// The clip planes and how the cut faces look.
#[derive(Resource, Clone, Debug)]
pub struct ClipSettings {
    pub slots: [ClipSlot; MAX_PLANES],
    /// How much of the segment colour tints the scan on a cut face (0..1).
    pub tint: f32,
    /// Centre of the study (LPS mm): where planes are placed by default.
    pub centre: [f64; 3],
    /// The plane a Ctrl+drag in the 3D view moves: the last one touched.
    pub focus: usize,
}

impl Default for ClipSettings {
    fn default() -> Self {
        let slot = |kind: ClipKind| ClipSlot {
            enabled: false,
            kind,
            plane: ClipPlane::new(kind.normal(), [0.0; 3]),
        };
        ClipSettings {
            slots: [
                slot(ClipKind::Coronal),
                slot(ClipKind::Axial),
                slot(ClipKind::Sagittal),
            ],
            tint: 0.3,
            centre: [0.0; 3],
            focus: 0,
        }
    }
}

impl ClipSettings {
    /// The active planes (index, plane).
    pub fn active(&self) -> impl Iterator<Item = (usize, &ClipPlane)> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.enabled)
            .map(|(i, s)| (i, &s.plane))
    }

    /// Signed offset (mm) of plane `i` from the study centre along its normal.
    pub fn offset(&self, i: usize) -> f64 {
        -self.slots[i].plane.distance(self.centre)
    }
}

/// Segments the planes leave whole (e.g. keep the kidney whole while the
/// skin and bones are cut).
#[derive(Component, Clone, Copy, Debug)]
pub struct NotClipped;

/// The uniform block of clip.wgsl.
#[derive(Clone, Copy, Debug, Default, ShaderType, Reflect)]
pub struct ClipUniform {
    pub planes: [Vec4; MAX_PLANES],
    pub tex_from_world: Mat4,
    pub colour: Vec4,
    pub mask: u32,
}

/// The clip part of a segment material (bindings 100-102).
#[derive(Asset, AsBindGroup, Reflect, Debug, Clone, Default)]
pub struct ClipExtension {
    #[uniform(100)]
    pub clip: ClipUniform,
    #[texture(101, dimension = "3d")]
    #[sampler(102)]
    pub scan: Option<Handle<Image>>,
}

impl MaterialExtension for ClipExtension {
    fn fragment_shader() -> ShaderRef {
        "embedded://stratum/app/features/clip.wgsl".into()
    }

    /// Used where a plane cuts the segment (the material is then alpha
    /// masked, which is what makes Bevy run a prepass fragment shader).
    fn prepass_fragment_shader() -> ShaderRef {
        "embedded://stratum/app/features/clip_prepass.wgsl".into()
    }
}

/// The alpha mode of a segment surface: blended when translucent; masked
/// (never below the cutoff) when a plane cuts it, so that the depth prepass
/// discards what the planes cut away too; opaque otherwise.
pub fn segment_alpha_mode(opacity: f32, clipped: bool) -> AlphaMode {
    if opacity < 0.999 {
        AlphaMode::Blend
    } else if clipped {
        AlphaMode::Mask(0.0)
    } else {
        AlphaMode::Opaque
    }
}

/// The scan as a 3D texture (8-bit, through the slice views' window).
#[derive(Resource, Default)]
pub struct ScanTexture {
    pub image: Option<Handle<Image>>,
    /// Texture coordinates of model-frame positions (the world at the
    /// identity pose); the pose is applied when the uniforms are written.
    pub tex_from_model: Mat4,
    key: Option<(usize, i64, i64)>,
}

/// The parts that need no renderer: settings, actions, the scan texture and
/// the material uniforms (the headless tests run these).
pub struct ClipPlugin;

impl Plugin for ClipPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ClipSettings>()
            .init_resource::<ScanTexture>()
            .add_message::<ClipAction>()
            .add_systems(
                Update,
                (
                    centre_on_study.run_if(resource_exists::<Study>),
                    apply_actions,
                    update_scan_texture.run_if(resource_exists::<Study>),
                    update_clip_uniforms,
                    update_overlay_clip,
                )
                    .chain(),
            );
    }
}

/// The material and its shader (needs the renderer).
pub struct ClipRenderPlugin;

impl Plugin for ClipRenderPlugin {
    fn build(&self, app: &mut App) {
        embedded_asset!(app, "clip.wgsl");
        embedded_asset!(app, "clip_prepass.wgsl");
        app.add_plugins(MaterialPlugin::<SegmentMaterial>::default());
    }
}

/// A new study: planes go back through its centre (and off).
fn centre_on_study(study: Res<Study>, mut clip: ResMut<ClipSettings>) {
    if !study.is_changed() {
        return;
    }
    let (nz, ny, nx) = study.volume.dim();
    let centre = study.volume.geometry.index_to_lps([
        (nx as f64 - 1.0) / 2.0,
        (ny as f64 - 1.0) / 2.0,
        (nz as f64 - 1.0) / 2.0,
    ]);
    if centre != clip.centre {
        clip.centre = centre;
        for slot in clip.slots.iter_mut() {
            slot.plane = ClipPlane::new(slot.plane.normal, centre);
        }
    }
}

fn apply_actions(mut actions: MessageReader<ClipAction>, mut clip: ResMut<ClipSettings>) {
    for action in actions.read() {
        let centre = clip.centre;
        if let Some(index) = action.index()
            && index < MAX_PLANES
        {
            clip.focus = index;
        }
        match *action {
            ClipAction::Move { index, mm } if index < MAX_PLANES => {
                let p = clip.slots[index].plane;
                let point = [
                    p.point[0] + mm * p.normal[0],
                    p.point[1] + mm * p.normal[1],
                    p.point[2] + mm * p.normal[2],
                ];
                clip.slots[index].plane = ClipPlane::new(p.normal, point);
            }
            ClipAction::Enable { index, on } if index < MAX_PLANES => {
                clip.slots[index].enabled = on;
            }
            ClipAction::Orient { index, kind } if index < MAX_PLANES => {
                let slot = &mut clip.slots[index];
                slot.kind = kind;
                slot.plane = ClipPlane::new(kind.normal(), centre);
                slot.enabled = true;
            }
            ClipAction::Offset { index, mm } if index < MAX_PLANES => {
                let n = clip.slots[index].plane.normal;
                let point = [
                    centre[0] + mm * n[0],
                    centre[1] + mm * n[1],
                    centre[2] + mm * n[2],
                ];
                clip.slots[index].plane = ClipPlane::new(n, point);
            }
            ClipAction::Tilt { index, pitch, yaw } if index < MAX_PLANES => {
                let offset = clip.offset(index);
                let n = clip.slots[index].plane.normal;
                let v = Quat::from_rotation_z(yaw.to_radians() as f32)
                    * Quat::from_rotation_x(pitch.to_radians() as f32)
                    * Vec3::new(n[0] as f32, n[1] as f32, n[2] as f32);
                let n = [v.x as f64, v.y as f64, v.z as f64];
                let slot = &mut clip.slots[index];
                slot.kind = ClipKind::Oblique;
                slot.plane = ClipPlane::new(n, centre);
                let n = slot.plane.normal;
                slot.plane.point = [
                    centre[0] + offset * n[0],
                    centre[1] + offset * n[1],
                    centre[2] + offset * n[2],
                ];
            }
            ClipAction::Flip { index } if index < MAX_PLANES => {
                let p = clip.slots[index].plane;
                clip.slots[index].plane = ClipPlane::new(p.normal.map(|v| -v), p.point);
            }
            ClipAction::Set { index, plane } if index < MAX_PLANES => {
                let slot = &mut clip.slots[index];
                slot.kind = ClipKind::of_normal(plane.normal);
                slot.plane = plane;
                slot.enabled = true;
            }
            _ => {}
        }
    }
}

/// Re-uploads the scan texture when the study or the window changes.
fn update_scan_texture(
    study: Res<Study>,
    slices: Res<SliceState>,
    clip: Res<ClipSettings>,
    mut scan: ResMut<ScanTexture>,
    mut images: ResMut<Assets<Image>>,
) {
    // Nothing to show until a plane cuts.
    if clip.active().next().is_none() {
        return;
    }
    let w = slices.window;
    let key = (
        std::sync::Arc::as_ptr(&study.volume) as usize,
        (w.center * 10.0).round() as i64,
        (w.width * 10.0).round() as i64,
    );
    if scan.key == Some(key) {
        return;
    }
    let (lo, hi) = (w.center - w.width / 2.0, w.center + w.width / 2.0);
    let texels = windowed_texels(&study.volume, lo, hi);
    let (nz, ny, nx) = study.volume.dim();
    let mut image = Image::new(
        Extent3d {
            width: nx as u32,
            height: ny as u32,
            depth_or_array_layers: nz as u32,
        },
        TextureDimension::D3,
        texels,
        TextureFormat::R8Unorm,
        RenderAssetUsages::RENDER_WORLD,
    );
    image.sampler = ImageSampler::linear();
    match &scan.image {
        Some(h) => {
            let _ = images.insert(h.id(), image);
        }
        None => scan.image = Some(images.add(image)),
    }
    // model frame (m) -> LPS (mm) -> texture.
    let t = texture_from_lps(&study.volume.geometry, study.volume.dim());
    let tex_from_lps = mat4_from_rows(t);
    let lps_from_model =
        Mat4::from_scale(Vec3::splat(1.0 / MM)) * Mat4::from_quat(lps_rotation().inverse());
    scan.tex_from_model = tex_from_lps * lps_from_model;
    scan.key = Some(key);
}

/// A row-major 4x4 matrix of the core (e.g. `texture_from_lps`) as a Mat4.
pub fn mat4_from_rows(t: [[f64; 4]; 4]) -> Mat4 {
    Mat4::from_cols_array_2d(&std::array::from_fn(|c| {
        std::array::from_fn(|r| t[r][c] as f32)
    }))
}

/// The world-space plane (normal, offset) of an LPS clip plane.
pub fn world_plane(pose: &AnatomyPose, p: &ClipPlane) -> Vec4 {
    let n = pose.lps_dir_to_world(Vec3::new(
        p.normal[0] as f32,
        p.normal[1] as f32,
        p.normal[2] as f32,
    ));
    let q = pose.lps_to_world(p.point);
    n.extend(n.dot(q))
}

type SegmentParts = (
    Ref<'static, Segment>,
    Ref<'static, MeshMaterial3d<SegmentMaterial>>,
    Has<NotClipped>,
);

/// Whether a segment was exempted from the cut, or let back into it, since
/// the last frame.
#[derive(SystemParam)]
struct ExemptionsChanged<'w, 's> {
    removed: RemovedComponents<'w, 's, NotClipped>,
    added: Query<'w, 's, (), Added<NotClipped>>,
}

impl ExemptionsChanged<'_, '_> {
    fn any(&mut self) -> bool {
        self.removed.read().count() > 0 || !self.added.is_empty()
    }
}

/// The active planes in the world, and the mask of the slots they are in.
fn world_planes(clip: &ClipSettings, pose: &AnatomyPose) -> ([Vec4; MAX_PLANES], u8) {
    let mut planes = [Vec4::ZERO; MAX_PLANES];
    for (i, plane) in clip.active() {
        planes[i] = world_plane(pose, plane);
    }
    (planes, clip.active().fold(0, |m, (i, _)| m | 1 << i))
}

/// A see-through surface drawn with the segments' material that is not a
/// segment (the safety-margin shell): every active plane cuts it, and
/// where a plane opens it no cut face is drawn, so what lies inside it
/// stays in view.
#[derive(Component, Clone, Copy, Debug)]
pub struct ClippedOverlay;

/// The mask bit that leaves the cut face out (clip.wgsl).
pub const NO_CUT_FACE: u32 = 1 << 3;

/// Puts the planes into each overlay's material.
fn update_overlay_clip(
    clip: Res<ClipSettings>,
    pose: Res<AnatomyPose>,
    overlays: Query<Ref<MeshMaterial3d<SegmentMaterial>>, With<ClippedOverlay>>,
    mut materials: ResMut<Assets<SegmentMaterial>>,
) {
    let force = clip.is_changed() || pose.is_changed();
    let (planes, mask) = world_planes(&clip, &pose);
    for handle in &overlays {
        if !force && !handle.is_changed() {
            continue;
        }
        let Some(mut m) = materials.get_mut(&handle.0) else {
            continue;
        };
        m.extension.clip.planes = planes;
        m.extension.clip.mask = if mask == 0 {
            0
        } else {
            u32::from(mask) | NO_CUT_FACE
        };
    }
}

/// Puts the planes, the scan and each segment's colour into its material.
fn update_clip_uniforms(
    clip: Res<ClipSettings>,
    scan: Res<ScanTexture>,
    pose: Res<AnatomyPose>,
    segments: Query<SegmentParts>,
    mut exemptions: ExemptionsChanged,
    mut materials: ResMut<Assets<SegmentMaterial>>,
    mut last_mask: Local<u8>,
) {
    let any_removed = exemptions.any();
    // The shader cuts in world space: a moved anatomy moves its planes
    // (and, without a plane, nothing in the uniform depends on the pose).
    let posed = pose.is_changed() && clip.active().next().is_some();
    let global = clip.is_changed() || scan.is_changed() || any_removed || posed;
    let (planes, mask) = world_planes(&clip, &pose);
    let tex_from_world = scan.tex_from_model * pose.0.compute_affine().inverse();
    let force = global || mask != *last_mask;
    *last_mask = mask;
    for (seg, handle, exempt) in &segments {
        if !force && !seg.is_changed() && !handle.is_changed() {
            continue;
        }
        let seg_mask = if exempt { 0 } else { mask as u32 };
        let Some(mut m) = materials.get_mut(&handle.0) else {
            continue;
        };
        let [r, g, b] = seg.colour;
        let colour = Color::srgb_u8(r, g, b).to_linear();
        m.extension.clip = ClipUniform {
            planes,
            tex_from_world,
            colour: Vec4::new(colour.red, colour.green, colour.blue, clip.tint),
            mask: seg_mask,
        };
        m.extension.scan = scan.image.clone();
        // The inside shows through a cut: draw back faces then.
        m.base.cull_mode = if seg_mask != 0 {
            None
        } else {
            Some(Face::Back)
        };
        m.base.double_sided = seg_mask != 0;
        m.base.alpha_mode = segment_alpha_mode(seg.opacity, seg_mask != 0);
    }
}
