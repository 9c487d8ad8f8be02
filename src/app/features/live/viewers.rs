//! What viewers send back while the study is shared live: where each points
//! (a marker with the viewer's name in the 3D view) and who raised a hand
//! (listed in the Share live panel).

use bevy::prelude::*;
use bevy_egui::{EguiContexts, egui};

use super::LiveShare;
use crate::app::state::space::AnatomyPose;
use crate::app::state::viewport::OrbitCamera;

const MARKER: egui::Color32 = egui::Color32::from_rgb(21, 101, 192);

/// The raised hands, under the count of followers.
pub(super) fn hands_ui(ui: &mut egui::Ui, host: &stratum_core::live::Host) {
    let hands = host.hands();
    if hands.is_empty() {
        return;
    }
    let names: Vec<&str> = hands.iter().map(|(_, n)| n.as_str()).collect();
    ui.colored_label(MARKER, format!("✋ Hands up: {}", names.join(", ")));
}

/// Each viewer's point: a sphere in the scene and the viewer's name beside it.
pub(super) fn viewer_markers(
    mut contexts: EguiContexts,
    live: Res<LiveShare>,
    pose: Res<AnatomyPose>,
    camera: Query<(&Camera, &GlobalTransform, &OrbitCamera)>,
    mut gizmos: Gizmos,
) -> Result {
    let Some(r) = live.running.as_ref() else {
        return Ok(());
    };
    let points = r.host.points();
    let Ok((camera, at, orbit)) = camera.single() else {
        return Ok(());
    };
    if points.is_empty() {
        return Ok(());
    }
    let ctx = contexts.ctx_mut()?.clone();
    let painter = ctx.layer_painter(egui::LayerId::new(
        egui::Order::Middle,
        egui::Id::new("live-viewer-points"),
    ));
    let radius = pose.world_length(orbit.distance * 0.01);
    for p in points {
        let world = pose.lps_to_world(p.point);
        gizmos.sphere(
            Isometry3d::from_translation(world),
            radius,
            Color::srgb(0.08, 0.4, 0.75),
        );
        // Viewport coordinates already count from the window's corner.
        if let Ok(v) = camera.world_to_viewport(at, world) {
            let pos = egui::pos2(v.x, v.y);
            painter.circle_filled(pos, 5.0, MARKER);
            let galley = painter.layout_no_wrap(
                p.name.clone(),
                egui::FontId::proportional(14.0),
                egui::Color32::WHITE,
            );
            let text = pos + egui::vec2(8.0, -galley.size().y / 2.0);
            painter.rect_filled(
                egui::Rect::from_min_size(text, galley.size()).expand(3.0),
                6.0,
                MARKER,
            );
            painter.galley(text, galley, egui::Color32::WHITE);
        }
    }
    Ok(())
}
