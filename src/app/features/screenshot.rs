//! `--screenshot PATH`: once the pipeline is idle (study loaded, surfaces
//! built, no job running), render a few more frames so pipelines finish
//! compiling, save the window (or, in VR, the left eye: see [`ShotTarget`])
//! to PATH and exit. Used by the CI smoke test and to make the README picture.

use std::path::PathBuf;

use bevy::camera::ManualTextureViewHandle;
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};

use crate::app::jobs::{JobInfo, Notices};
use crate::app::loading::Study;
use crate::app::meshing::SegmentSurface;
use crate::app::segmentation::Segment;

#[derive(Resource, Clone, Debug)]
pub struct ScreenshotPlan {
    pub path: PathBuf,
    /// Frames to render after the pipeline is idle.
    pub settle_frames: u32,
    /// Give up (and exit with an error) after this many seconds.
    pub timeout_s: f64,
}

/// What the screenshot shows. The XR mode sets it: `Waiting` until it
/// knows whether a headset view comes, then the left eye's swapchain image
/// (a manual texture view) or the window.
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ShotTarget {
    #[default]
    Window,
    Waiting,
    TextureView(u32),
}

#[derive(Resource, Default, Debug)]
struct ScreenshotProgress {
    idle_frames: u32,
    requested: bool,
    captured: bool,
    after_capture: u32,
    /// When the pipeline went idle (s), to report the frame time of the settle frames.
    idle_since: Option<f64>,
}

pub struct ScreenshotPlugin(pub ScreenshotPlan);

impl Plugin for ScreenshotPlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(self.0.clone())
            .init_resource::<ScreenshotProgress>()
            .init_resource::<ShotTarget>()
            .add_systems(Last, drive_screenshot);
    }
}

#[allow(clippy::too_many_arguments)]
fn drive_screenshot(
    mut commands: Commands,
    plan: Res<ScreenshotPlan>,
    mut state: ResMut<ScreenshotProgress>,
    jobs: Query<&JobInfo>,
    study: Option<Res<Study>>,
    segments: Query<(&Segment, Option<&SegmentSurface>)>,
    notices: Res<Notices>,
    time: Res<Time<Real>>,
    target: Res<ShotTarget>,
    mut exit: MessageWriter<AppExit>,
) {
    if state.captured {
        state.after_capture += 1;
        if state.after_capture > 2 {
            info!("screenshot saved to {}", plan.path.display());
            exit.write(AppExit::Success);
        }
        return;
    }
    if time.elapsed_secs_f64() > plan.timeout_s {
        error!(
            "screenshot: the pipeline did not finish within {} s",
            plan.timeout_s
        );
        exit.write(AppExit::error());
        return;
    }
    if state.requested {
        return;
    }
    let failed = notices.items.iter().any(|n| n.error);
    // An empty segment (added to paint into) has no surface to wait for.
    let meshes_ready = segments
        .iter()
        .all(|(seg, s)| s.is_some() || seg.voxel_ml == 0.0);
    let idle = jobs.is_empty()
        && (study.is_some() || failed)
        && meshes_ready
        && *target != ShotTarget::Waiting;
    state.idle_frames = if idle { state.idle_frames + 1 } else { 0 };
    let now = time.elapsed_secs_f64();
    if state.idle_frames == 1 {
        info!("pipeline idle after {now:.1} s");
        state.idle_since = Some(now);
    }
    if state.idle_frames >= plan.settle_frames {
        state.requested = true;
        if let Some(t0) = state.idle_since {
            let frames = plan.settle_frames.saturating_sub(1).max(1);
            info!(
                "{frames} frames in {:.2} s: {:.0} ms per frame",
                now - t0,
                (now - t0) * 1000.0 / frames as f64
            );
        }
        let shot = match *target {
            ShotTarget::TextureView(id) => {
                info!("screenshot of the headset's left eye");
                Screenshot::texture_view(ManualTextureViewHandle(id))
            }
            _ => Screenshot::primary_window(),
        };
        commands
            .spawn(shot)
            .observe(save_to_disk(plan.path.clone()))
            .observe(
                |_: On<ScreenshotCaptured>, mut s: ResMut<ScreenshotProgress>| {
                    s.captured = true;
                },
            );
    }
}
