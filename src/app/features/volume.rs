//! Volume rendering: the scan itself in 3D, ray cast on the GPU (see
//! volume.wgsl) from a 16-bit copy of its values, through a transfer function
//! (presets and shift/width from the panel), cut by the clip planes and a crop
//! box, stopped by the opaque surfaces, in the desktop view and in both eyes
//! in XR. A study opened without segments shows it by default.
//! This module holds the settings, the scene resource and the plugins;
//! `upload` the scan's GPU copies, `material` the ray caster's inputs.

use bevy::asset::embedded_asset;
use bevy::prelude::*;
use stratum_core::transfer::{BrickMap, TfPreset, TransferFunction};

use crate::app::state::jobs::JobPlugin;
use crate::app::state::study::NewStudy;
use crate::app::state::study::Study;

pub mod material;
pub mod upload;

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
    pub material: Option<Handle<material::VolumeMaterial>>,
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
        app.add_plugins(MaterialPlugin::<material::VolumeMaterial>::default())
            .init_resource::<VolumeScene>()
            .init_resource::<material::ViewMotion>()
            .add_plugins(JobPlugin::<upload::VolumeTexels>::default())
            .add_systems(
                Update,
                (
                    upload::upload.run_if(resource_exists::<Study>),
                    upload::finish_upload,
                    material::bake_transfer,
                    material::track_view_motion,
                    material::update_uniforms.run_if(resource_exists::<Study>),
                    material::depth_prepass_on_cameras,
                )
                    .chain()
                    .after(choose_on_load),
            );
    }
}

/// A new study: its range, and the volume on where nothing else will show.
fn choose_on_load(
    mut new: NewStudy,
    mut settings: ResMut<VolumeSettings>,
    mut on_load: ResMut<RenderOnLoad>,
    preset: Option<Res<crate::app::features::segmentation::PresetOnLoad>>,
    model: Option<Res<crate::app::features::ai::RunOnLoad>>,
    mut view: MessageWriter<crate::app::actions::ViewAction>,
) {
    let Some(study) = new.arrived() else {
        return;
    };
    settings.range = study.auto_window;
    settings.crop_min = Vec3::ZERO;
    settings.crop_max = Vec3::ONE;
    let default = TfPreset::default_for(&study.volume);
    let surfaces_coming = preset.is_some_and(|p| p.0.is_some())
        || model.is_some_and(|m| m.0.is_some())
        || !study.doc.segments().is_empty();
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
