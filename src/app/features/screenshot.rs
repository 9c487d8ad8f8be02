//! `--screenshot PATH`: once the pipeline is idle (study loaded, surfaces
//! built, no job running), render a few more frames so pipelines finish
//! compiling, save the window (or, in VR, the left eye: see [`ShotTarget`])
//! to PATH and exit. Used by the CI smoke test and to make the README picture.

use std::path::PathBuf;

use bevy::camera::ManualTextureViewHandle;
use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};

use crate::app::features::loading::SeriesChoice;
use crate::app::state::jobs::{JobInfo, Notices};
use crate::app::state::segments::Segment;
use crate::app::state::segments::SegmentSurface;
use crate::app::state::space::AnatomyPose;
use crate::app::state::study::Study;
use crate::app::state::viewport::OrbitCamera;

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

/// Whether the pipeline has gone as far as it goes on its own: a study (or
/// an error, or a question for the user), every surface built, no job.
#[derive(SystemParam)]
struct Pipeline<'w, 's> {
    jobs: Query<'w, 's, &'static JobInfo>,
    study: Option<Res<'w, Study>>,
    segments: Query<'w, 's, (&'static Segment, Option<&'static SegmentSurface>)>,
    notices: Res<'w, Notices>,
    choice: Res<'w, SeriesChoice>,
}

impl Pipeline<'_, '_> {
    fn idle(&self) -> bool {
        let failed = self.notices.items.iter().any(|n| n.error);
        // An empty segment (added to paint into) has no surface to wait for.
        let meshes_ready = self
            .segments
            .iter()
            .all(|(seg, s)| s.is_some() || seg.voxel_ml == 0.0);
        // A question for the user (which series, which part of a study too
        // large for the memory) is as far as the pipeline goes on its own.
        let asking = self.choice.pending.is_some() || self.choice.too_large.is_some();
        self.jobs.is_empty() && (self.study.is_some() || failed || asking) && meshes_ready
    }
}

/// What the shot is taken of: the window (with the 3D view's camera and
/// the anatomy's pose, written beside it) or a headset eye.
#[derive(SystemParam)]
struct ShotView<'w, 's> {
    target: Res<'w, ShotTarget>,
    camera: Query<'w, 's, (&'static Camera, &'static GlobalTransform), With<OrbitCamera>>,
    pose: Res<'w, AnatomyPose>,
}

fn drive_screenshot(
    mut commands: Commands,
    plan: Res<ScreenshotPlan>,
    mut state: ResMut<ScreenshotProgress>,
    pipeline: Pipeline,
    view: ShotView,
    time: Res<Time<Real>>,
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
    let target = *view.target;
    let idle = pipeline.idle() && target != ShotTarget::Waiting;
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
        if target == ShotTarget::Window
            && let Ok((camera, at)) = view.camera.single()
        {
            write_view(&plan.path, camera, at, &view.pose);
        }
        let shot = match target {
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

/// Beside a window shot, `NAME.view.json`: the 3D view's projection, its
/// viewport in the image and the LPS-to-world map, so a check can find
/// where any patient point lands in the picture (no patient data in it).
fn write_view(png: &std::path::Path, camera: &Camera, at: &GlobalTransform, pose: &AnatomyPose) {
    let clip_from_world = camera.clip_from_view() * at.to_matrix().inverse();
    let viewport = camera
        .physical_viewport_rect()
        .map(|r| [r.min.x, r.min.y, r.width(), r.height()]);
    let json = serde_json::json!({
        "clip_from_world": clip_from_world.to_cols_array(),
        "world_from_lps": pose.patient_transform().to_matrix().to_cols_array(),
        "viewport": viewport,
    });
    let path = png.with_extension("view.json");
    if let Err(e) = stratum_core::atomic::write_bytes_atomic(&path, json.to_string().as_bytes()) {
        warn!("the view of the screenshot was not saved: {e}");
    }
}
