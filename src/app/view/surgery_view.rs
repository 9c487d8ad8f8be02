//! A curved cut as it is edited, in 3D: the points placed on the model and
//! the smooth surface through them as a grid, drawn over the anatomy like
//! the rulers (the surface runs through the organ it cuts).

use bevy::prelude::*;

use crate::app::actions::InputSet;
use crate::app::features::surgery_cut::{CutPoints, PATCH_STEPS};
use crate::app::state::space::AnatomyPose;
use crate::app::state::viewport::OrbitCamera;

pub struct SurgeryViewPlugin;

impl Plugin for SurgeryViewPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, draw_cut_surface.after(InputSet));
    }
}

fn draw_cut_surface(
    mut gizmos: Gizmos,
    points: Res<CutPoints>,
    orbit: Query<&OrbitCamera>,
    pose: Res<AnatomyPose>,
) {
    if points.points.is_empty() {
        return;
    }
    let dot = pose.world_length(orbit.single().map(|o| o.distance * 0.005).unwrap_or(0.002));
    let marker = Color::srgb(0.95, 0.2, 0.75);
    for p in &points.points {
        gizmos.sphere(
            Isometry3d::from_translation(pose.lps_to_world(*p)),
            dot,
            marker,
        );
    }
    let Some(patch) = &points.patch else {
        // Not a surface yet: the points joined in order.
        for w in points.points.windows(2) {
            gizmos.line(pose.lps_to_world(w[0]), pose.lps_to_world(w[1]), marker);
        }
        return;
    };
    let n = PATCH_STEPS + 1;
    let grid = Color::srgba(0.95, 0.2, 0.75, 0.75);
    let at = |i: usize, j: usize| pose.lps_to_world(patch[j * n + i]);
    for k in 0..n {
        gizmos.linestrip((0..n).map(|i| at(i, k)), grid);
        gizmos.linestrip((0..n).map(|j| at(k, j)), grid);
    }
}
