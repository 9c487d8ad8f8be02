//! The joined session's panels: File ▸ Join live session… (the link and
//! the name the others see) and, while joined, a bar saying who presents,
//! that the view follows them (a toggle), who holds the pen, and Leave.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};

use super::{JoinRequest, LiveJoin};

pub struct JoinPanelPlugin;

impl Plugin for JoinPanelPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(EguiPrimaryContextPass, join_panel);
    }
}

fn open_flag() -> egui::Id {
    egui::Id::new("join-live-open")
}

/// The menu's File ▸ Join live session….
pub fn open_dialog(ctx: &egui::Context) {
    ctx.data_mut(|d| d.insert_temp(open_flag(), true));
}

/// The dialog's fields.
#[derive(Default)]
struct Dialog {
    link: String,
    name: String,
}

fn join_panel(
    mut contexts: EguiContexts,
    mut join: ResMut<LiveJoin>,
    mut requests: MessageWriter<JoinRequest>,
    mut dialog: Local<Dialog>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    let mut open = ctx.data(|d| d.get_temp::<bool>(open_flag()).unwrap_or(false));
    if open {
        let mut join_now = false;
        egui::Window::new("Join live session")
            .open(&mut open)
            .collapsible(false)
            .default_width(380.0)
            .show(&ctx, |ui| {
                ui.label(
                    "Paste the link the presenter shares (the whole of it: the part after \
                     '#' is the key). You receive the scan and the segmentation, and follow \
                     every change live.",
                );
                ui.add(
                    egui::TextEdit::singleline(&mut dialog.link)
                        .hint_text("https://…/#k=…")
                        .desired_width(360.0),
                );
                ui.horizontal(|ui| {
                    ui.label("Your name for the others:");
                    ui.text_edit_singleline(&mut dialog.name);
                });
                let ok = dialog.link.contains("#k=");
                if ui.add_enabled(ok, egui::Button::new("Join")).clicked() {
                    join_now = true;
                }
            });
        if join_now {
            requests.write(JoinRequest {
                link: dialog.link.trim().to_string(),
                name: dialog.name.trim().to_string(),
            });
            open = false;
        }
        ctx.data_mut(|d| d.insert_temp(open_flag(), open));
    }
    let Some(status) = join.status() else {
        return Ok(());
    };
    let mut leave = false;
    let mut rejoin = None;
    let mut follow = join.follow;
    egui::Area::new(egui::Id::new("join-live-bar"))
        .anchor(egui::Align2::CENTER_BOTTOM, egui::vec2(0.0, -8.0))
        .show(&ctx, |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                ui.horizontal(|ui| {
                    let state = match (&status.ended, status.connected) {
                        _ if status.removed => "Removed from the live session".to_string(),
                        (Some(_), _) if status.reconnecting.is_some() => format!(
                            "Connection lost · joining again (attempt {})…",
                            status.reconnecting.unwrap_or(1)
                        ),
                        (Some(_), _) => "The live session ended".to_string(),
                        (None, false) => "Joining the live session…".to_string(),
                        (None, true) => format!(
                            "Live · {} presents · {} following",
                            status.presenter, status.viewers
                        ),
                    };
                    ui.label(state);
                    if status.ended.is_none() {
                        ui.checkbox(&mut follow, "Follow presenter");
                        ui.label(match (&status.pen, status.you_hold_pen) {
                            (_, true) => "You hold the pen: your edits are shared".to_string(),
                            (Some(who), _) => format!("{who} holds the pen"),
                            (None, false) => "View only".to_string(),
                        });
                    }
                    // A dropped connection: back with the same link (and
                    // the pen, if this Stratum held it).
                    if status.ended.is_some()
                        && !status.removed
                        && ui.button("Join again").clicked()
                    {
                        rejoin = join.rejoin_request();
                    }
                    if ui.button("Leave").clicked() {
                        leave = true;
                    }
                });
            });
        });
    if follow && !join.follow {
        join.follow_again();
    }
    join.follow = follow;
    if leave {
        join.leave();
    }
    if let Some(r) = rejoin {
        requests.write(r);
    }
    Ok(())
}
