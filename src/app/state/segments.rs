//! The segments (one entity each under the patient space) and the tool
//! settings with the selected segment, read by most features and panels.

use bevy::prelude::*;

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
}

impl Default for ToolSettings {
    fn default() -> Self {
        ToolSettings {
            lo: 250.0,
            hi: 3071.0,
            preview: false,
            seed_mode: false,
            selected: None,
        }
    }
}
