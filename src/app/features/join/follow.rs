//! Following the presenter's view while "Follow presenter" is on: the
//! camera, the anatomy's pose and the clip planes where the presenter has
//! them.

use bevy::prelude::*;
use stratum_core::live::Event;

use super::LiveJoin;
use crate::app::actions::{ClipAction, ClipKind};
use crate::app::features::clip::{ClipSettings, MAX_PLANES};
use crate::app::state::space::{AnatomyPose, lps_to_world};
use crate::app::state::viewport::OrbitCamera;

/// Puts the camera, the anatomy and the clip planes where the presenter
/// has them.
pub(super) fn follow_presenter(
    mut join: ResMut<LiveJoin>,
    mut cameras: Query<&mut OrbitCamera>,
    mut pose: ResMut<AnatomyPose>,
    clip: Res<ClipSettings>,
    mut clip_actions: MessageWriter<ClipAction>,
) {
    let follow = join.follow;
    let Some(s) = join.session.as_mut() else {
        return;
    };
    if !follow || !s.view_fresh || !s.has_document {
        return;
    }
    s.view_fresh = false;
    if let Some(Event::Camera {
        target,
        azimuth_deg,
        polar_deg,
        distance_mm,
        ..
    }) = s.follower.view.get("camera")
    {
        for mut cam in &mut cameras {
            cam.focus = lps_to_world(*target);
            cam.yaw = azimuth_deg.to_radians() as f32;
            cam.pitch = (polar_deg - 90.0).to_radians() as f32;
            cam.distance = (*distance_mm / 1000.0).max(0.01) as f32;
        }
    }
    if let Some(Event::Pose {
        rotation,
        translation,
        scale,
    }) = s.follower.view.get("pose")
    {
        // The inverse of the Share live panel's mapping (world axes X, Y, Z
        // are LPS x, z, -y), the turn about the anatomy's centre taken out
        // of the translation.
        let r = rotation.map(|v| v as f32);
        let lps = Quat::from_xyzw(r[0], r[1], r[2], r[3]).normalize();
        let c = Vec3::new(s.centre[0] as f32, s.centre[1] as f32, s.centre[2] as f32);
        let rc = lps * c * *scale as f32;
        let t0 = [
            translation[0] - (rc.x - c.x) as f64,
            translation[1] - (rc.y - c.y) as f64,
            translation[2] - (rc.z - c.z) as f64,
        ];
        pose.0.rotation = Quat::from_xyzw(r[0], r[2], -r[1], r[3]).normalize();
        pose.0.translation = lps_to_world(t0);
        pose.0.scale = Vec3::splat(*scale as f32);
    }
    if let Some(Event::Clip { planes }) = s.follower.view.get("clip") {
        clip_actions.write_batch(follow_clip(&clip, planes));
    }
}

/// The clip actions that make this app's planes the presenter's: each
/// plane into the slot of its kind where that is free (so the panel still
/// reads axial, coronal, sagittal), the others into the free slots, and the
/// slots left over turned off.
fn follow_clip(clip: &ClipSettings, planes: &[stratum_core::live::ClipPlane]) -> Vec<ClipAction> {
    let planes: Vec<_> = planes
        .iter()
        .filter_map(|p| p.to_view())
        .take(MAX_PLANES)
        .collect();
    let mut slot_of: Vec<Option<usize>> = vec![None; planes.len()];
    let mut used = [false; MAX_PLANES];
    for (i, p) in planes.iter().enumerate() {
        let kind = ClipKind::of_normal(p.normal);
        if let Some(j) = (0..MAX_PLANES).find(|&j| !used[j] && clip.slots[j].kind == kind) {
            used[j] = true;
            slot_of[i] = Some(j);
        }
    }
    for slot in slot_of.iter_mut().filter(|s| s.is_none()) {
        if let Some(j) = (0..MAX_PLANES).find(|&j| !used[j]) {
            used[j] = true;
            *slot = Some(j);
        }
    }
    let mut actions: Vec<ClipAction> = planes
        .iter()
        .zip(&slot_of)
        .filter_map(|(p, j)| j.map(|index| ClipAction::Set { index, plane: *p }))
        .collect();
    actions.extend(
        (0..MAX_PLANES)
            .filter(|&j| !used[j] && clip.slots[j].enabled)
            .map(|index| ClipAction::Enable { index, on: false }),
    );
    actions
}
