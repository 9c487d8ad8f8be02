//! What the user sees of the controllers and reads beside them: each
//! tracked hand and its laser drawn as gizmos, and the readout words (the
//! scale, the picked segment, the last ruler) for the panel and the trace.

use bevy::prelude::*;
use bevy_mod_xr::session::XrState;

use super::{HandReadout, XrInput};
use crate::app::features::measurements::Rulers;
use crate::app::state::segments::{Segment, ToolSettings};
use crate::app::state::space::AnatomyPose;
use crate::app::xr::input::{Hand, HandSnapshot};
use crate::app::xr::panel::WorldPanel;

pub(super) fn draw_hands(
    mut gizmos: Gizmos,
    state: Option<Res<XrState>>,
    input: Res<XrInput>,
    rulers: Res<Rulers>,
    panel: Res<WorldPanel>,
) {
    if !state.is_some_and(|s| *s == XrState::Running) {
        return;
    }
    for (i, h) in input.cur.hands.iter().enumerate() {
        if !h.tracked {
            continue;
        }
        // On the panel the laser is drawn to the point it touches instead.
        let ray = !(i == Hand::Right as usize && panel.hit_world.is_some());
        draw_hand(&mut gizmos, h, rulers.placing, ray);
    }
}

fn draw_hand(gizmos: &mut Gizmos, h: &HandSnapshot, ruler_mode: bool, ray: bool) {
    let grab = if h.grabbing() {
        Color::srgb(0.3, 1.0, 0.5)
    } else {
        Color::srgb(0.85, 0.85, 0.9)
    };
    gizmos.sphere(
        Isometry3d::new(h.grip.translation, h.grip.rotation),
        0.02,
        grab,
    );
    if !ray {
        return;
    }
    let ray = if ruler_mode {
        Color::srgb(1.0, 0.55, 0.15)
    } else if h.trigger > 0.3 {
        Color::srgb(1.0, 1.0, 0.4)
    } else {
        Color::srgba(1.0, 1.0, 1.0, 0.6)
    };
    let o = h.aim.translation;
    gizmos.line(o, o + h.aim.rotation * Vec3::NEG_Z * 0.8, ray);
}

pub(super) fn update_readout(
    pose: Res<AnatomyPose>,
    tools: Res<ToolSettings>,
    segments: Query<&Segment>,
    rulers: Res<Rulers>,
    mut readout: ResMut<HandReadout>,
) {
    if !(pose.is_changed() || tools.is_changed() || rulers.is_changed()) {
        return;
    }
    let s = pose.scale();
    readout.scale = if s == 1.0 {
        "Scale 1:1 (life size)".to_string()
    } else {
        format!("Scale {s:.2}×")
    };
    readout.selected = tools
        .selected
        .and_then(|e| segments.get(e).ok())
        .map(|seg| {
            let ml = seg.surface.map(|s| s.volume_ml).unwrap_or(seg.voxel_ml);
            format!("{}: {ml:.1} mL", seg.name)
        });
    readout.ruler_mode = rulers.placing;
    readout.ruler = rulers
        .items
        .last()
        .map(|r| format!("Ruler {:.1} mm", r.length_mm()));
}
