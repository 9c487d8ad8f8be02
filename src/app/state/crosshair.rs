//! The slice crosshair and how slices are shown: one point shared by the
//! three slice views, the 3D view, picks on the desktop and in VR, and the
//! slice in space. Read by several features, so it lives here (it imports
//! no feature); the slice views themselves are `features/slices`.

use bevy::prelude::*;
use stratum_core::image::view::{Plane, SliceLayout, Window, WindowPreset};
use stratum_core::image::volume::Geometry;

/// Where the crosshair is and how slices are shown.
#[derive(Resource, Debug)]
pub struct SliceState {
    /// Crosshair voxel (x, y, z).
    pub crosshair: [usize; 3],
    pub preset: WindowPreset,
    pub window: Window,
    /// Opacity of the segment colours over the image.
    pub overlay_opacity: f32,
    /// Draw the 3D surfaces' intersection with each slice.
    pub contours: bool,
    grid: Option<(Geometry, (usize, usize, usize))>,
}

impl Default for SliceState {
    fn default() -> Self {
        SliceState {
            crosshair: [0; 3],
            preset: WindowPreset::SoftTissue,
            window: WindowPreset::SoftTissue.window((0.0, 1.0)),
            overlay_opacity: 0.45,
            contours: true,
            grid: None,
        }
    }
}

impl SliceState {
    /// Moves the crosshair to the voxel nearest an LPS point (clamped to the grid).
    pub fn move_to_lps(&mut self, p: [f64; 3]) {
        let Some((g, (nz, ny, nx))) = self.grid else {
            return;
        };
        let i = g.lps_to_index(p);
        let n = [nx, ny, nz];
        for a in 0..3 {
            self.crosshair[a] = (i[a].round().max(0.0) as usize).min(n[a].saturating_sub(1));
        }
    }

    /// LPS position of the crosshair.
    pub fn crosshair_lps(&self) -> Option<[f64; 3]> {
        let (g, _) = self.grid?;
        let c = self.crosshair.map(|v| v as f64);
        Some(g.index_to_lps(c))
    }

    /// The grid of the open study.
    pub fn geometry(&self) -> Option<Geometry> {
        self.grid.map(|(g, _)| g)
    }

    pub fn layout(&self, plane: Plane) -> Option<SliceLayout> {
        let (g, dim) = self.grid?;
        Some(SliceLayout::new(plane, dim, &g))
    }

    /// Whether the crosshair is on a grid of `dim` (not yet, for the frame
    /// between a new study's arrival and its reset).
    pub fn fits(&self, dim: (usize, usize, usize)) -> bool {
        self.grid.is_some_and(|(_, d)| d == dim)
    }

    /// The open study's grid: where the crosshair can go.
    pub fn set_grid(&mut self, geometry: Geometry, dim: (usize, usize, usize)) {
        self.grid = Some((geometry, dim));
    }

    pub fn set_preset(&mut self, preset: WindowPreset, auto: (f64, f64)) {
        self.preset = preset;
        self.window = preset.window(auto);
    }
}
