//! The desktop 3D view's state that input, views and panels share: the
//! orbit camera's parameters, the part of the window the panels leave to
//! the 3D view, and what the 3D brush is over.

use bevy::prelude::*;

use super::space::AnatomyPose;

/// The orbit camera: looks at `focus` from `distance` metres at `yaw`/`pitch`.
#[derive(Component, Clone, Debug)]
pub struct OrbitCamera {
    pub focus: Vec3,
    pub yaw: f32,
    pub pitch: f32,
    pub distance: f32,
}

impl Default for OrbitCamera {
    fn default() -> Self {
        OrbitCamera {
            focus: Vec3::ZERO,
            yaw: 0.0,
            pitch: 0.0,
            distance: 0.8,
        }
    }
}

impl OrbitCamera {
    /// The camera in the model frame (the world at the identity pose).
    pub fn transform(&self) -> Transform {
        let rot = Quat::from_euler(EulerRot::YXZ, self.yaw, self.pitch, 0.0);
        Transform::from_translation(self.focus + rot * Vec3::new(0.0, 0.0, self.distance))
            .with_rotation(rot)
    }

    /// The camera in the world: the model-frame camera carried by the pose
    /// (positions scaled with the anatomy, the camera itself unscaled).
    pub fn world_transform(&self, pose: &AnatomyPose) -> Transform {
        let t = self.transform();
        Transform::from_translation(pose.0.transform_point(t.translation))
            .with_rotation(pose.0.rotation * t.rotation)
    }
}

/// The part of the window (logical pixels) left to the 3D view by the panels.
#[derive(Resource, Clone, Copy, Debug, Default)]
pub struct ViewRect(pub Option<Rect>);

/// The point of the selected segment under the cursor in the 3D view, and
/// whether a stroke dragged there is in progress (the camera then leaves
/// the left button alone).
#[derive(Resource, Default, Debug)]
pub struct BrushHover {
    pub point: Option<[f64; 3]>,
    pub stroking: bool,
}
