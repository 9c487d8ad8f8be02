//! The joined app's side of avatars: the others' (the presenter's among
//! them) go to [`RemoteAvatars`] for the scene; this app's own head and
//! hands (the headset's, or the desktop camera as the head) go to the host
//! at most 20 times a second, only when they moved.

use bevy::prelude::*;
use bevy_mod_xr::session::XrState;
use stratum_core::live::{Avatar, AvatarPose};

use super::LiveJoin;
use crate::app::features::avatars::{RemoteAvatars, SEND_EVERY_S, moved, own_avatar};
use crate::app::state::space::AnatomyPose;
use crate::app::state::viewport::OrbitCamera;
use crate::app::xr::rig::XrInput;

pub struct JoinAvatarsPlugin;

impl Plugin for JoinAvatarsPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(
            Update,
            (show_avatars, send_avatar).after(super::follow::follow_presenter),
        );
    }
}

/// The others' avatars while joined; none once the session ended or was
/// left (the host's side fills the same list while this app presents).
fn show_avatars(join: Res<LiveJoin>, mut remote: ResMut<RemoteAvatars>, mut had: Local<bool>) {
    let list: Vec<Avatar> = match join.session.as_ref() {
        Some(s) if s.ended.is_none() => s
            .follower
            .avatars
            .values()
            .filter(|a| Some(a.from) != s.follower.me)
            .cloned()
            .collect(),
        _ if *had => Vec::new(),
        _ => return,
    };
    *had = !list.is_empty();
    if remote.0 != list {
        remote.0 = list;
    }
}

/// What was sent last: when, on which connection (this app's number), what.
#[derive(Default)]
struct Sent {
    at: f64,
    me: Option<u64>,
    poses: [Option<AvatarPose>; 3],
}

fn send_avatar(
    mut join: ResMut<LiveJoin>,
    pose: Res<AnatomyPose>,
    xr_state: Option<Res<XrState>>,
    xr: Option<Res<XrInput>>,
    camera: Query<&GlobalTransform, With<OrbitCamera>>,
    time: Res<Time<Real>>,
    mut sent: Local<Sent>,
) {
    let Some(s) = join.session.as_mut() else {
        return;
    };
    let now = time.elapsed_secs_f64();
    if s.ended.is_some() || !s.has_document || now - sent.at < SEND_EVERY_S {
        return;
    }
    let Some(sender) = s.sender.clone() else {
        return;
    };
    let xr = xr_state.as_deref().zip(xr.as_deref());
    let poses = own_avatar(&pose, xr, camera.iter().next());
    // A new connection (joined again) is told even if nothing moved.
    let fresh = sent.me != s.follower.me;
    if !fresh && !moved(&sent.poses, &poses) {
        return;
    }
    if fresh && poses.iter().all(Option::is_none) {
        sent.me = s.follower.me;
        return;
    }
    let [head, left, right] = poses;
    let frame = s.follower.avatar(head, left, right);
    if let Err(e) = sender.send(&frame) {
        warn!("live: {e}");
    }
    *sent = Sent {
        at: now,
        me: s.follower.me,
        poses,
    };
}
