//! The 3D brush's mouse: with brushing on, the selected segment's voxel
//! under the cursor (marched through the label map, so it follows a stroke
//! as it changes the voxels) is where the ball sits, and a left drag that
//! starts on it is a stroke of [`BrushAction`]s.

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use stratum_core::edit::pick_segment;

use super::ViewPointer;
use crate::app::actions::{BrushAction, StrokePhase};
use crate::app::features::clip::{ClipSettings, NotClipped};
use crate::app::features::sculpt::BrushSettings;
use crate::app::state::segments::{Segment, ToolSettings};
use crate::app::state::space::{world_dir_to_lps, world_to_lps};
use crate::app::state::study::Study;
use crate::app::state::viewport::BrushHover;

/// The segment the brush works on (the panel's selection) and whether it
/// is exempt from the clip planes, with the study it belongs to.
#[derive(SystemParam)]
pub struct BrushTarget<'w, 's> {
    tools: Res<'w, ToolSettings>,
    segments: Query<'w, 's, (&'static Segment, Has<NotClipped>)>,
    study: Option<Res<'w, Study>>,
}

impl BrushTarget<'_, '_> {
    /// The study, the selected segment, and whether it is exempt from the
    /// clip planes; none without a study or a selection.
    pub fn get(&self) -> Option<(&Study, &Segment, bool)> {
        let (seg, whole) = self
            .tools
            .selected
            .and_then(|e| self.segments.get(e).ok())?;
        Some((self.study.as_deref()?, seg, whole))
    }
}

/// Desktop mouse in the 3D view with brushing on: the ball follows the
/// selected segment under the cursor; a left drag starting on it sculpts.
pub(super) fn mouse_to_brush(
    buttons: Res<ButtonInput<MouseButton>>,
    pointer: ViewPointer,
    settings: Res<BrushSettings>,
    target: BrushTarget,
    clip: Res<ClipSettings>,
    mut hover: ResMut<BrushHover>,
    mut actions: MessageWriter<BrushAction>,
) {
    let (Some((study, seg, whole)), true) = (target.get(), settings.active) else {
        hover.point = None;
        if hover.stroking {
            hover.stroking = false;
        }
        return;
    };
    let ray = pointer.cursor_in_view().and_then(|c| pointer.ray(c));
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
