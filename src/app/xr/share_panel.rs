//! The wrist panel's "Share" page: a presenter in the headset starts and
//! stops sharing live, and sees who follows and whose hand is up. It sends
//! the desktop panel's `LiveAction`s; on Start the desktop's Share live
//! window opens too, so the link's QR code is on the room's screen for
//! the others to scan.

use bevy::prelude::*;
use bevy_egui::egui;

use crate::app::features::live::{LiveAction, LiveShare};

/// What the page reads and sends.
#[derive(bevy::ecs::system::SystemParam)]
pub struct PanelShare<'w> {
    live: ResMut<'w, LiveShare>,
    out: MessageWriter<'w, LiveAction>,
}

/// The page: Start, or who follows, the link and Stop.
pub fn share_section(
    ui: &mut egui::Ui,
    p: &mut PanelShare,
    note: &mut impl FnMut(&str, &egui::Response),
) {
    ui.label(egui::RichText::new("Share live").strong());
    let running = p.live.links().map(|(follow, _)| follow.to_string());
    let Some(follow) = running else {
        ui.label(
            egui::RichText::new(
                "Others follow what you see, live: in a browser or their own Stratum. \
                 Encrypted; no patient name or ID is sent.",
            )
            .weak(),
        );
        if let Some(e) = p.live.error() {
            ui.colored_label(egui::Color32::from_rgb(255, 120, 100), e);
        }
        let r = ui.button("▶ Start sharing");
        note("share start", &r);
        if r.clicked() {
            p.out.write(LiveAction::Start);
            p.live.show_panel();
        }
        return;
    };
    let following = p.live.followers().unwrap_or(0);
    ui.label(
        egui::RichText::new(format!(
            "{following} following · the link and its QR code are on the desktop screen"
        ))
        .color(egui::Color32::from_rgb(140, 220, 150)),
    );
    // The address without the key (the key is for the screen, not for a
    // wrist everyone around can read).
    let address = follow.split('#').next().unwrap_or_default().to_string();
    ui.label(egui::RichText::new(address).small().weak());
    if let Some(host) = p.live.host() {
        let (people, _) = host.participants();
        let names: Vec<String> = people
            .iter()
            .map(|person| match person.name.as_str() {
                "" => format!("{} {}", person.kind, person.id),
                name => name.to_string(),
            })
            .collect();
        if !names.is_empty() {
            let shown = names.iter().take(6).cloned().collect::<Vec<_>>().join(", ");
            let more = names.len().saturating_sub(6);
            ui.label(match more {
                0 => shown,
                n => format!("{shown} and {n} more"),
            });
        }
        for (_, name) in host.hands().iter().take(4) {
            ui.label(
                egui::RichText::new(format!("✋ {name} raised a hand"))
                    .color(egui::Color32::from_rgb(255, 210, 120)),
            );
        }
    }
    let r = ui.button(
        egui::RichText::new("■ Stop sharing").color(egui::Color32::from_rgb(255, 140, 120)),
    );
    note("share stop", &r);
    if r.clicked() {
        p.out.write(LiveAction::Stop);
    }
}
