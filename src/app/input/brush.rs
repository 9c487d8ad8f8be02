//! The 3D brush's mouse: with brushing on, the selected segment's voxel
//! under the cursor (marched through the label map, so it follows a stroke
//! as it changes the voxels) is where the ball sits, and a left drag that
//! starts on it is a stroke of [`BrushAction`]s.

use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use stratum_core::edit::pick_segment;

use crate::app::actions::{BrushAction, StrokePhase};
use crate::app::features::clip::{ClipSettings, NotClipped};
use crate::app::features::sculpt::BrushSettings;
use crate::app::state::segments::{Segment, ToolSettings};
use crate::app::state::space::{world_dir_to_lps, world_to_lps};
use crate::app::state::study::Study;
use crate::app::state::viewport::{BrushHover, OrbitCamera, ViewRect};

/// Desktop mouse in the 3D view with brushing on: the ball follows the
/// selected segment under the cursor; a left drag starting on it sculpts.
#[allow(clippy::too_many_arguments)]
pub(super) fn mouse_to_brush(
    buttons: Res<ButtonInput<MouseButton>>,
    rect: Res<ViewRect>,
    window: Query<&Window, With<PrimaryWindow>>,
    camera: Query<(&Camera, &GlobalTransform), With<OrbitCamera>>,
    settings: Res<BrushSettings>,
    tools: Res<ToolSettings>,
    segments: Query<(&Segment, Has<NotClipped>)>,
    study: Option<Res<Study>>,
    clip: Res<ClipSettings>,
    mut hover: ResMut<BrushHover>,
    mut actions: MessageWriter<BrushAction>,
) {
    let selected = tools.selected.and_then(|e| segments.get(e).ok());
    let (Some(study), Some((seg, whole)), true) = (study, selected, settings.active) else {
        hover.point = None;
        if hover.stroking {
            hover.stroking = false;
        }
        return;
    };
    let cursor = window.single().ok().and_then(|w| w.cursor_position());
    let inside = cursor.is_some_and(|c| rect.0.is_some_and(|r| r.contains(c)));
    let ray = cursor.filter(|_| inside).and_then(|c| {
        camera
            .single()
            .ok()
            .and_then(|(cam, at)| cam.viewport_to_world(at, c).ok())
    });
    let clips: Vec<_> = if whole {
        Vec::new()
    } else {
        clip.active().map(|(_, p)| *p).collect()
    };
    hover.point = ray.and_then(|ray| {
        let o = world_to_lps(ray.origin);
        let d = world_dir_to_lps(*ray.direction);
        pick_segment(
            study.doc.labels(),
            seg.id,
            o,
            [d.x as f64, d.y as f64, d.z as f64],
            &clips,
        )
    });
    let tool = settings.tool.in_3d();
    let send = |actions: &mut MessageWriter<BrushAction>, phase, point| {
        actions.write(BrushAction {
            phase,
            tool,
            point,
            plane: None,
        });
    };
    if buttons.just_pressed(MouseButton::Left)
        && let Some(p) = hover.point
    {
        hover.stroking = true;
        send(&mut actions, StrokePhase::Begin, p);
    } else if hover.stroking && buttons.pressed(MouseButton::Left) {
        if let Some(p) = hover.point {
            send(&mut actions, StrokePhase::Sample, p);
        }
    } else if hover.stroking {
        hover.stroking = false;
        let p = hover.point.unwrap_or_default();
        send(&mut actions, StrokePhase::End, p);
    }
}
