//! What followers see of the presenter's view: the camera (the desktop's
//! orbit camera, or in a headset the presenter's own eyes), the model's
//! pose (a headset's scale included) and the clip planes, as the
//! protocol's events.

use bevy::prelude::*;
use stratum_core::live::Event;

use crate::app::features::clip::ClipSettings;
use crate::app::state::space::{AnatomyPose, lps_to_world, world_to_lps};
use crate::app::state::viewport::OrbitCamera;

/// The vertical field of view a follower gets of a headset presenter: a
/// screen's, narrower than the headset's 90-100 degrees, so the anatomy
/// fills a browser as it fills the presenter's view.
pub const HEADSET_FOV_DEG: f64 = 60.0;

/// The desktop's orbit camera as the protocol's camera.
pub fn orbit_event(cam: &OrbitCamera) -> Event {
    Event::Camera {
        target: world_to_lps(cam.focus),
        azimuth_deg: cam.yaw.to_degrees() as f64,
        polar_deg: 90.0 + cam.pitch.to_degrees() as f64,
        distance_mm: cam.distance as f64 * 1000.0,
        fov_deg: 45.0,
    }
}

/// A headset presenter's eyes as the protocol's camera: an orbit whose eye
/// is the head and whose target is the anatomy's centre (`centre`, LPS
/// mm, posed by `pose`). Followers see the model from where the presenter
/// stands, turned, moved and scaled by the presenter's hands, and kept in
/// the middle of their screen (a head's every glance would shake a screen,
/// and lose the model when the presenter looks at the wrist panel).
pub fn head_event(head: &Transform, pose: &AnatomyPose, centre: [f64; 3]) -> Event {
    let eye = head.translation;
    let target = pose.0.transform_point(lps_to_world(centre));
    let back = eye - target;
    let distance = back.length().max(0.01);
    let back = back / distance;
    // The eye from the target, in world axes (X = patient's left, Y =
    // superior, Z = anterior): azimuth about Y from +Z, polar from +Y.
    Event::Camera {
        target: world_to_lps(target),
        azimuth_deg: (back.x as f64).atan2(back.z as f64).to_degrees(),
        polar_deg: (back.y as f64).clamp(-1.0, 1.0).acos().to_degrees(),
        distance_mm: distance as f64 * 1000.0,
        fov_deg: HEADSET_FOV_DEG,
    }
}

/// How far the posed anatomy's centre (`centre`, LPS mm) lies from where
/// it is at the identity pose, in the world (m).
pub fn room_shift(pose: &AnatomyPose, centre: [f64; 3]) -> Vec3 {
    let c = lps_to_world(centre);
    pose.0.transform_point(c) - c
}

/// The clip planes that cut, as followers apply them.
pub fn clip_event(clip: &ClipSettings) -> Event {
    Event::Clip {
        planes: clip
            .slots
            .iter()
            .filter(|s| s.enabled)
            .map(|s| stratum_core::live::ClipPlane::from_view(&s.plane))
            .collect(),
    }
}

/// The app's pose (a world transform; the world is LPS turned to +Y up, in
/// metres) as the protocol's: a uniform scale and a rotation in LPS about
/// the anatomy's centre, then a translation in millimetres.
pub fn pose_event(pose: &AnatomyPose, centre: [f64; 3]) -> Event {
    let q = pose.0.rotation;
    // World (X, Y, Z) = LPS (x, z, -y): a rotation's axis maps back the same way.
    let rotation = [q.x as f64, -(q.z as f64), q.y as f64, q.w as f64];
    // A headset scales uniformly; the mean guards against float drift.
    let s = pose.0.scale;
    let scale = ((s.x + s.y + s.z) / 3.0) as f64;
    // x' = s R x + t0 (LPS) = s R (x - c) + c + t, so t = t0 + s R c - c.
    let t0 = world_to_lps(pose.0.translation);
    let c = Vec3::new(centre[0] as f32, centre[1] as f32, centre[2] as f32);
    let rl = Quat::from_xyzw(
        rotation[0] as f32,
        rotation[1] as f32,
        rotation[2] as f32,
        rotation[3] as f32,
    );
    let rc = rl * c * scale as f32;
    Event::Pose {
        rotation,
        translation: [
            t0[0] + (rc.x - c.x) as f64,
            t0[1] + (rc.y - c.y) as f64,
            t0[2] + (rc.z - c.z) as f64,
        ],
        scale: (scale * 1e6).round() / 1e6,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The protocol's pose applied to an LPS point, as the live page does.
    fn apply(e: &Event, centre: [f64; 3], p: [f64; 3]) -> [f64; 3] {
        let Event::Pose {
            rotation,
            translation,
            scale,
        } = e
        else {
            panic!("{e:?}")
        };
        let q = Quat::from_xyzw(
            rotation[0] as f32,
            rotation[1] as f32,
            rotation[2] as f32,
            rotation[3] as f32,
        );
        let d = Vec3::new(
            (p[0] - centre[0]) as f32,
            (p[1] - centre[1]) as f32,
            (p[2] - centre[2]) as f32,
        );
        let r = q * d * *scale as f32;
        [0, 1, 2].map(|i| r[i] as f64 + centre[i] + translation[i])
    }

    #[test]
    fn a_scaled_turned_moved_pose_puts_points_where_the_app_draws_them() {
        let pose = AnatomyPose(Transform {
            translation: Vec3::new(0.1, 1.2, -0.5),
            rotation: Quat::from_rotation_x(-1.2) * Quat::from_rotation_y(0.7),
            scale: Vec3::splat(1.5),
        });
        let centre = [12.0, -30.0, 80.0];
        let e = pose_event(&pose, centre);
        for p in [[0.0, 0.0, 0.0], [12.0, -30.0, 80.0], [50.0, 20.0, -40.0]] {
            let app = world_to_lps(pose.0.transform_point(lps_to_world(p)));
            let page = apply(&e, centre, p);
            for i in 0..3 {
                assert!((app[i] - page[i]).abs() < 0.05, "{p:?}: {app:?} {page:?}");
            }
        }
    }

    #[test]
    fn a_head_looking_at_the_anatomy_gives_an_orbit_whose_eye_is_the_head() {
        let pose = AnatomyPose(Transform::from_xyz(0.0, 1.0, -0.6));
        let centre = [0.0, 0.0, 0.0];
        let head =
            Transform::from_xyz(0.0, 1.6, 0.0).looking_at(Vec3::new(0.0, 1.0, -0.6), Vec3::Y);
        let Event::Camera {
            target,
            azimuth_deg,
            polar_deg,
            distance_mm,
            ..
        } = head_event(&head, &pose, centre)
        else {
            panic!()
        };
        // The target is the anatomy's centre.
        let at = world_to_lps(Vec3::new(0.0, 1.0, -0.6));
        for i in 0..3 {
            assert!((target[i] - at[i]).abs() < 0.5, "{target:?} {at:?}");
        }
        // Seen from the front (+Z in the world: anterior) and from above.
        assert!(azimuth_deg.abs() < 0.1, "{azimuth_deg}");
        let expect = (0.6f64).atan2(0.6).to_degrees();
        assert!((polar_deg - expect).abs() < 0.1, "{polar_deg} {expect}");
        assert!((distance_mm - 848.5).abs() < 1.0, "{distance_mm}");
        // The eye back from the target along the orbit is the head.
        let (az, po, d) = (
            azimuth_deg.to_radians(),
            polar_deg.to_radians(),
            distance_mm / 1000.0,
        );
        let t = lps_to_world(target);
        let eye = [
            t.x as f64 + d * po.sin() * az.sin(),
            t.y as f64 + d * po.cos(),
            t.z as f64 + d * po.sin() * az.cos(),
        ];
        for (i, h) in [0.0, 1.6, 0.0].iter().enumerate() {
            assert!((eye[i] - h).abs() < 1e-3, "{eye:?}");
        }
    }
}
