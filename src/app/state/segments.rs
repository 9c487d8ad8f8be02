//! The segments (one entity each under the patient space) and the tool
//! settings with the selected segment, read by most features and panels.

use bevy::prelude::*;
use stratum_core::segment::Preset;

/// One segment of the study.
#[derive(Component, Clone, Debug, PartialEq)]
pub struct Segment {
    pub id: u16,
    pub name: String,
    pub colour: [u8; 3],
    pub visible: bool,
    pub opacity: f32,
    /// Volume from the voxels (mL).
    pub voxel_ml: f64,
    /// Measurements of the built surface, once there is one.
    pub surface: Option<SurfaceStats>,
}

/// The intensity level a segment's surface lies at, on a segment made
/// from the scan's intensities (a threshold, a preset, region growing):
/// its surface is built from the scan at this level, within its voxels.
/// Label maps, models and paint have none and are meshed from their mask.
#[derive(Component, Clone, Copy, Debug, PartialEq)]
pub struct SurfaceLevel(pub f64);

/// A model's soft output around a segment it made: its surface is the
/// network's 0.5 level (`stratum_core::mesh::soft_surface`) rather than its
/// voxels' midpoints. Not saved with a session: a reopened model segment
/// is meshed from its mask.
#[derive(Component, Clone, Debug)]
pub struct SoftEdge(pub std::sync::Arc<stratum_core::mesh::SoftField>);

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SurfaceStats {
    pub volume_ml: f64,
    pub area_mm2: f64,
    pub triangles: usize,
    pub watertight: bool,
}

/// The settings of the tools panel.
#[derive(Resource, Debug)]
pub struct ToolSettings {
    /// Threshold window (HU for CT).
    pub lo: f64,
    pub hi: f64,
    /// Show the threshold live on the slice views.
    pub preview: bool,
    /// The next click on a slice places a region-growing seed.
    pub seed_mode: bool,
    /// The segment the island tools act on.
    pub selected: Option<Entity>,
    /// The preset last picked: "Add segment" makes a segment named and
    /// coloured after it, with its clean-up, at the window shown.
    pub preset: Option<Preset>,
    /// The level the preset found from the scan (shown beside the window),
    /// or `None` while it is being found or for presets that do not.
    pub found_level: Option<f64>,
    /// A level is being found in the background.
    pub finding_level: bool,
}

impl Default for ToolSettings {
    fn default() -> Self {
        ToolSettings {
            lo: 250.0,
            hi: 3071.0,
            preview: false,
            seed_mode: false,
            selected: None,
            preset: None,
            found_level: None,
            finding_level: false,
        }
    }
}
