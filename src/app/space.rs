//! Patient space: all anatomy hangs under one root whose transform maps DICOM
//! LPS millimetres to Bevy metres (world X = patient Left, Y = Superior,
//! Z = Anterior; 1 mm = 0.001 m, life size in VR).

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

pub struct SpacePlugin;

impl Plugin for SpacePlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, spawn_patient_space);
    }
}

fn spawn_patient_space(mut commands: Commands) {
    commands.spawn((
        Name::new("PatientSpace"),
        PatientSpace,
        patient_transform(),
        Visibility::default(),
    ));
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
}
