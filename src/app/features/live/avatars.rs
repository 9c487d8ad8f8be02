//! The presenter's side of avatars: the participants' heads and hands
//! (from the host) go to [`RemoteAvatars`] for the scene; the presenter's
//! own (the headset's, or the desktop camera as the head) go to everyone
//! at most 20 times a second, only when they moved.

use bevy::prelude::*;
use bevy_mod_xr::session::XrState;
use stratum_core::live::{Avatar, AvatarPose};

use super::LiveShare;
use crate::app::features::avatars::{RemoteAvatars, SEND_EVERY_S, moved, own_avatar};
use crate::app::state::space::AnatomyPose;
use crate::app::state::viewport::OrbitCamera;
use crate::app::xr::rig::XrInput;

/// The participants' avatars while a session runs.
pub(super) fn show_avatars(
    live: Res<LiveShare>,
    mut remote: ResMut<RemoteAvatars>,
    mut had: Local<bool>,
) {
    let list: Vec<Avatar> = match live.running.as_ref() {
        Some(r) => r
            .host
            .avatars()
            .into_iter()
            .filter(|a| a.from != stratum_core::live::avatars::PRESENTER)
            .collect(),
        None if *had => Vec::new(),
        None => return,
    };
    *had = !list.is_empty();
    if remote.0 != list {
        remote.0 = list;
    }
}

/// The presenter's own head and hands, for everyone.
pub(super) fn send_avatar(
    live: Res<LiveShare>,
    pose: Res<AnatomyPose>,
    xr_state: Option<Res<XrState>>,
    xr: Option<Res<XrInput>>,
    camera: Query<&GlobalTransform, With<OrbitCamera>>,
    time: Res<Time<Real>>,
    mut sent: Local<(f64, [Option<AvatarPose>; 3])>,
) {
    let Some(r) = live.running.as_ref() else {
        *sent = Default::default();
        return;
    };
    let now = time.elapsed_secs_f64();
    if now - sent.0 < SEND_EVERY_S {
        return;
    }
    let xr = xr_state.as_deref().zip(xr.as_deref());
    let poses = own_avatar(&pose, xr, camera.iter().next());
    if !moved(&sent.1, &poses) {
        return;
    }
    let [head, left, right] = poses;
    if let Err(e) = r.host.presenter_avatar(head, left, right) {
        warn!("live: {e}");
    }
    *sent = (now, poses);
}
