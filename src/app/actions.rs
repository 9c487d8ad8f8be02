//! Named input actions. Mouse and keyboard (and later the XR controllers)
//! are translated into these; the camera, picking and slice systems only
//! ever read actions, so every input device drives the same features.

use bevy::prelude::*;

/// Standard anatomical views.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StandardView {
    Anterior,
    Posterior,
    Left,
    Right,
    Superior,
    Inferior,
}

impl StandardView {
    pub const ALL: [StandardView; 6] = [
        StandardView::Anterior,
        StandardView::Posterior,
        StandardView::Left,
        StandardView::Right,
        StandardView::Superior,
        StandardView::Inferior,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StandardView::Anterior => "Anterior",
            StandardView::Posterior => "Posterior",
            StandardView::Left => "Left lateral",
            StandardView::Right => "Right lateral",
            StandardView::Superior => "Superior",
            StandardView::Inferior => "Inferior",
        }
    }

    /// Camera yaw and pitch (radians) of the view.
    pub fn angles(self) -> (f32, f32) {
        use std::f32::consts::{FRAC_PI_2, PI};
        let top = FRAC_PI_2 - 1e-3;
        match self {
            StandardView::Anterior => (0.0, 0.0),
            StandardView::Posterior => (PI, 0.0),
            StandardView::Left => (FRAC_PI_2, 0.0),
            StandardView::Right => (-FRAC_PI_2, 0.0),
            StandardView::Superior => (0.0, -top),
            StandardView::Inferior => (0.0, top),
        }
    }
}

/// What the user wants done to the view.
#[derive(Message, Clone, Copy, Debug, PartialEq)]
pub enum ViewAction {
    /// Rotate the model around the focus: yaw and pitch deltas (radians).
    Orbit(Vec2),
    /// Move the focus across the view, in fractions of the view height.
    Pan(Vec2),
    /// Multiply the camera distance (below 1 zooms in).
    Zoom(f32),
    /// Pick the anatomy under a ray (world space); `centre` also makes the
    /// picked point the centre of rotation.
    Pick {
        ray: Ray3d,
        centre: bool,
    },
    /// Frame all visible anatomy from the front.
    Reset,
    Standard(StandardView),
}

pub struct ActionsPlugin;

impl Plugin for ActionsPlugin {
    fn build(&self, app: &mut App) {
        app.add_message::<ViewAction>();
    }
}
