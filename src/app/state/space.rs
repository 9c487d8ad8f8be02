//! Patient space: all anatomy hangs under one root whose transform is the
//! anatomy pose after the map from DICOM LPS millimetres to Bevy metres
//! (model X = patient Left, Y = Superior, Z = Anterior; 1 mm = 0.001 m, life
//! size in VR). The pose is one resource that the desktop camera and the XR
//! rig both read, and that only [`PoseAction`]s change.

use crate::app::actions::PoseAction;
use bevy::prelude::*;

/// The root entity of everything placed in patient coordinates.
#[derive(Component)]
pub struct PatientSpace;

/// Metres per millimetre.
pub const MM: f32 = 0.001;

/// The rotation from LPS axes to world axes (a proper rotation: windings keep).
pub fn lps_rotation() -> Quat {
    Quat::from_mat3(&Mat3::from_cols(Vec3::X, Vec3::NEG_Z, Vec3::Y))
}

pub fn patient_transform() -> Transform {
    Transform {
        translation: Vec3::ZERO,
        rotation: lps_rotation(),
        scale: Vec3::splat(MM),
    }
}

/// World position (m) of an LPS point (mm).
pub fn lps_to_world(p: [f64; 3]) -> Vec3 {
    lps_rotation() * Vec3::new(p[0] as f32, p[1] as f32, p[2] as f32) * MM
}

/// LPS point (mm) of a world position (m).
pub fn world_to_lps(v: Vec3) -> [f64; 3] {
    let p = lps_rotation().inverse() * (v / MM);
    [p.x as f64, p.y as f64, p.z as f64]
}

/// LPS direction of a world direction.
pub fn world_dir_to_lps(v: Vec3) -> Vec3 {
    lps_rotation().inverse() * v
}

/// Where the anatomy is in the world: a rotation, a translation and a
/// uniform scale applied after the LPS-to-model map. Identity on the
/// desktop (the model frame is the world); on a table in XR.
#[derive(Resource, Clone, Copy, Debug, PartialEq)]
pub struct AnatomyPose(pub Transform);

impl Default for AnatomyPose {
    fn default() -> Self {
        AnatomyPose(Transform::IDENTITY)
    }
}

impl AnatomyPose {
    /// The transform of the [`PatientSpace`] root: pose ∘ LPS→model.
    pub fn patient_transform(&self) -> Transform {
        self.0.mul_transform(patient_transform())
    }

    /// Uniform scale of the anatomy (1 = life size).
    pub fn scale(&self) -> f32 {
        self.0.scale.x
    }

    /// World position (m) of an LPS point (mm).
    pub fn lps_to_world(&self, p: [f64; 3]) -> Vec3 {
        self.0.transform_point(lps_to_world(p))
    }

    /// LPS point (mm) of a world position (m).
    pub fn world_to_lps(&self, v: Vec3) -> [f64; 3] {
        world_to_lps(self.model_from_world(v))
    }

    /// Model-frame position (the world at the identity pose) of a world position.
    pub fn model_from_world(&self, v: Vec3) -> Vec3 {
        let t = &self.0;
        t.rotation.inverse() * (v - t.translation) / t.scale.x.max(1e-9)
    }

    /// World direction of an LPS direction (unit length in, unit length out).
    pub fn lps_dir_to_world(&self, d: Vec3) -> Vec3 {
        (self.0.rotation * lps_rotation() * d).normalize_or_zero()
    }

    /// LPS direction of a world direction.
    pub fn world_dir_to_lps(&self, v: Vec3) -> Vec3 {
        world_dir_to_lps(self.0.rotation.inverse() * v)
    }

    /// World metres per model metre, applied to lengths such as gizmo sizes.
    pub fn world_length(&self, model_m: f32) -> f32 {
        model_m * self.scale()
    }
}

/// The pose [`PoseAction::Reset`] returns to (the XR rig sets it to the table).
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq)]
pub struct PoseHome(pub AnatomyPose);

pub struct SpacePlugin;

impl Plugin for SpacePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<AnatomyPose>()
            .init_resource::<PoseHome>()
            .add_message::<PoseAction>()
            .add_systems(Startup, spawn_patient_space)
            .add_systems(Update, (apply_pose_actions, place_patient_space).chain());
    }
}

fn spawn_patient_space(mut commands: Commands, pose: Res<AnatomyPose>) {
    commands.spawn((
        Name::new("PatientSpace"),
        PatientSpace,
        pose.patient_transform(),
        Visibility::default(),
    ));
}

/// Scales outside this range make the anatomy vanish or fill the room.
pub const SCALE_RANGE: (f32, f32) = (0.05, 20.0);

fn apply_pose_actions(
    mut actions: MessageReader<PoseAction>,
    mut pose: ResMut<AnatomyPose>,
    home: Res<PoseHome>,
) {
    for action in actions.read() {
        let next = match *action {
            PoseAction::Apply(delta) => {
                let mut t = delta.mul_transform(pose.0);
                // Keep the scale uniform and in range whatever the input.
                let s = t.scale.x.clamp(SCALE_RANGE.0, SCALE_RANGE.1);
                t.scale = Vec3::splat(s);
                t.rotation = t.rotation.normalize();
                AnatomyPose(t)
            }
            PoseAction::Reset => home.0,
        };
        if next != *pose {
            *pose = next;
        }
    }
}

fn place_patient_space(
    pose: Res<AnatomyPose>,
    mut root: Query<&mut Transform, With<PatientSpace>>,
) {
    if !pose.is_changed() {
        return;
    }
    for mut t in &mut root {
        *t = pose.patient_transform();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lps_maps_to_left_superior_anterior_world_axes() {
        let l = lps_to_world([1000.0, 0.0, 0.0]);
        let p = lps_to_world([0.0, 1000.0, 0.0]);
        let s = lps_to_world([0.0, 0.0, 1000.0]);
        assert!(l.abs_diff_eq(Vec3::X, 1e-6), "{l}");
        assert!(p.abs_diff_eq(Vec3::NEG_Z, 1e-6), "{p}");
        assert!(s.abs_diff_eq(Vec3::Y, 1e-6), "{s}");
        let back = world_to_lps(Vec3::new(0.1, 0.2, 0.3));
        assert!((back[0] - 100.0).abs() < 1e-3 && (back[1] + 300.0).abs() < 1e-3);
        // The transform applied to a child mesh does the same.
        let t = patient_transform();
        assert!(
            t.transform_point(Vec3::new(0.0, 0.0, 1000.0))
                .abs_diff_eq(Vec3::Y, 1e-6)
        );
    }

    #[test]
    fn a_posed_anatomy_maps_points_both_ways() {
        let pose = AnatomyPose(Transform {
            translation: Vec3::new(0.2, 1.0, -0.5),
            rotation: Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2),
            scale: Vec3::splat(2.0),
        });
        let p = [10.0, -20.0, 30.0];
        let w = pose.lps_to_world(p);
        // The patient root's transform does the same to a child vertex.
        let via_root = pose
            .patient_transform()
            .transform_point(Vec3::new(10.0, -20.0, 30.0));
        assert!(w.abs_diff_eq(via_root, 1e-5), "{w} vs {via_root}");
        let back = pose.world_to_lps(w);
        for i in 0..3 {
            assert!((back[i] - p[i]).abs() < 1e-3, "{back:?}");
        }
        // Superior points toward -Z (away from a user facing -Z) on the table.
        let s = pose.lps_dir_to_world(Vec3::Z);
        assert!(s.abs_diff_eq(Vec3::NEG_Z, 1e-5), "{s}");
    }
}
