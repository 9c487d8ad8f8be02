//! The brush's touch felt in the hand: while brushing is on, a short pulse
//! of the right controller each time the brush ball comes to reach the
//! selected segment's surface (from outside or from inside; once per touch,
//! not every frame it stays there). The touch is read from the label map
//! (`stratum_core::edit::ball_touches_surface`), so it follows a stroke's
//! voxels before the surface is rebuilt.

use bevy::prelude::*;
use bevy_mod_openxr::session::OxrSession;
use stratum_core::edit::ball_touches_surface;

use super::input::{Hand, brush_tip};
use super::rig::XrInput;
use super::rig::controllers::XrActions;
use crate::app::features::sculpt::BrushSettings;
use crate::app::input::brush::BrushTarget;
use crate::app::state::space::AnatomyPose;

/// How a touch feels: short and light, as a fingertip meets a surface.
const PULSE_NS: i64 = 25_000_000;
const PULSE_AMPLITUDE: f32 = 0.5;

/// The brush ball's touch, for the pulse and the trace.
#[derive(Resource, Default, Debug, Clone)]
pub struct BrushTouch {
    /// The ball reaches the selected segment's surface now.
    pub touching: bool,
    /// Pulses the runtime accepted this session.
    pub pulses: u64,
    /// The runtime's answer when a pulse was refused.
    pub error: Option<String>,
}

pub struct HapticsPlugin;

impl Plugin for HapticsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<BrushTouch>()
            .add_systems(Update, pulse_on_touch);
    }
}

fn pulse_on_touch(
    input: Res<XrInput>,
    settings: Res<BrushSettings>,
    target: BrushTarget,
    pose: Res<AnatomyPose>,
    actions: Option<Res<XrActions>>,
    session: Option<Res<OxrSession>>,
    mut touch: ResMut<BrushTouch>,
) {
    let hand = input.cur.hand(Hand::Right);
    let now = match (
        settings.active && hand.tracked && input.frames > 0,
        target.get(),
    ) {
        (true, Some((study, seg, _))) => ball_touches_surface(
            study.doc.labels(),
            seg.id,
            pose.world_to_lps(brush_tip(&hand.aim)),
            settings.diameter_mm / 2.0,
        ),
        _ => false,
    };
    let began = now && !touch.touching;
    if touch.touching != now {
        touch.touching = now;
    }
    let (true, Some(a), Some(session)) = (began, actions, session) else {
        return;
    };
    let pulse = openxr::HapticVibration::new()
        .amplitude(PULSE_AMPLITUDE)
        .duration(openxr::Duration::from_nanos(PULSE_NS))
        .frequency(openxr::FREQUENCY_UNSPECIFIED);
    match a
        .haptic
        .apply_feedback(&session, a.hands[Hand::Right as usize], &pulse)
    {
        Ok(()) => touch.pulses += 1,
        Err(e) => {
            let text = format!("the controller's pulse was refused: {e}");
            if touch.error.as_deref() != Some(&text) {
                warn!("{text}");
                touch.error = Some(text);
            }
        }
    }
}
