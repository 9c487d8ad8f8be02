//! Share live: the open study presented to browsers on the network while
//! the user works. A button in the corner opens the panel: Start serves the
//! live page and its encrypted stream (stratum_core::live), shows the link
//! and the same as a QR code, how many follow, and Stop. The document's
//! edits reach followers through the host's observer; the camera and the
//! model's pose are sent as they change; what a presenter's browser asks
//! (visibility, opacity, undo) comes back as [`ApplyEdit`]s. Viewers'
//! points and raised hands are shown (`viewers`); edited surfaces go to
//! browsers as they are rebuilt (`surfaces`).

use std::sync::Mutex;
use std::sync::mpsc::Receiver;

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use bevy_mod_xr::session::XrState;
use stratum_core::document::Edit;
use stratum_core::export::ExportSegment;
use stratum_core::live::page::{browser_model, live_page};
use stratum_core::live::server::Server;
use stratum_core::live::{Event, Host, HostOptions};

use crate::app::features::clip::ClipSettings;
use crate::app::state::document::ApplyEdit;
use crate::app::state::segments::{Segment, SegmentSurface};
use crate::app::state::space::AnatomyPose;
use crate::app::state::study::{NewStudy, Study};
use crate::app::state::viewport::OrbitCamera;
use crate::app::xr::rig::XrInput;

mod avatars;
mod surfaces;
pub mod view;
mod viewers;

pub struct LivePlugin;

impl Plugin for LivePlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<LiveShare>()
            .add_message::<LiveAction>()
            .add_systems(
                EguiPrimaryContextPass,
                (live_panel, viewers::viewer_markers),
            )
            .add_systems(
                Update,
                (live_actions, live_sync, surfaces::send_surfaces).chain(),
            )
            .add_systems(Update, (avatars::show_avatars, avatars::send_avatar));
    }
}

/// Start or stop sharing: the desktop panel's buttons and the wrist
/// panel's send the same.
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LiveAction {
    Start,
    Stop,
}

/// The session, while one runs, and the panel's state.
#[derive(Resource, Default)]
pub struct LiveShare {
    running: Option<Running>,
    open: bool,
    error: Option<String>,
}

struct Running {
    host: Host,
    server: Server,
    edits: Mutex<Receiver<Edit>>,
    follow: String,
    present: String,
    qr: Option<egui::TextureHandle>,
    centre: [f64; 3],
    sent: Vec<Event>,
    last_send: f64,
}

impl LiveShare {
    /// How many follow, while a session runs.
    pub fn followers(&self) -> Option<usize> {
        self.running.as_ref().map(|r| r.host.followers())
    }

    /// The follower's and the presenter's links, while a session runs.
    pub fn links(&self) -> Option<(&str, &str)> {
        self.running
            .as_ref()
            .map(|r| (r.follow.as_str(), r.present.as_str()))
    }

    /// The host, while a session runs (its participants, raised hands).
    pub fn host(&self) -> Option<&Host> {
        self.running.as_ref().map(|r| &r.host)
    }

    /// Why the last start failed, if it did.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Opens the desktop's panel (its QR code for the room).
    pub fn show_panel(&mut self) {
        self.open = true;
    }

    fn stop(&mut self, study: Option<&mut Study>) {
        if let Some(r) = self.running.take() {
            match study {
                Some(s) => r.host.stop(&mut s.doc),
                None => r.host.end(),
            }
            r.server.stop();
        }
    }
}

/// Starts a session on the study: the browsers' model from the surfaces
/// built so far (visible segments), listening on every interface.
fn start(
    study: &mut Study,
    segments: &Query<(&Segment, Option<&SegmentSurface>)>,
) -> Result<Running, String> {
    let mut parts: Vec<(u16, ExportSegment<'_>, f64)> = segments
        .iter()
        .filter(|(s, _)| s.visible)
        .filter_map(|(s, surface)| {
            let mesh = surface?.0.as_ref();
            Some((
                s.id,
                ExportSegment {
                    name: &s.name,
                    colour: s.colour,
                    mesh,
                },
                s.voxel_ml,
            ))
        })
        .collect();
    parts.sort_by_key(|p| p.0);
    if parts.is_empty() {
        return Err("build the surfaces first: no visible segment has one".into());
    }
    let (model, scene) = browser_model(&parts).map_err(|e| e.to_string())?;
    let Event::Scene { centre_mm, .. } = &scene else {
        return Err("no scene".into());
    };
    let centre = *centre_mm;
    let host = Host::start(&mut study.doc, &HostOptions::default()).map_err(|e| e.to_string())?;
    host.set_model(&model, scene);
    let (server, edits) = Server::start(
        host.clone(),
        "0.0.0.0:0".parse().expect("an address"),
        live_page().map_err(|e| e.to_string())?,
    )
    .map_err(|e| e.to_string())?;
    let (follow, present) = server.links(Some(&server.network_base()));
    Ok(Running {
        host,
        server,
        edits: Mutex::new(edits),
        follow,
        present,
        qr: None,
        centre,
        sent: Vec::new(),
        last_send: 0.0,
    })
}

fn live_panel(
    mut contexts: EguiContexts,
    mut live: ResMut<LiveShare>,
    study: Option<Res<Study>>,
    mut actions: MessageWriter<LiveAction>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    let label = match live.followers() {
        Some(n) => format!("Sharing live · {n} following"),
        None => "Share live".to_string(),
    };
    egui::Area::new(egui::Id::new("share-live-button"))
        .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-8.0, -8.0))
        .show(&ctx, |ui| {
            if ui.button(label).clicked() {
                live.open = !live.open;
            }
        });
    if !live.open {
        return Ok(());
    }
    let mut open = true;
    let (mut start_now, mut stop_now) = (false, false);
    let live = &mut *live;
    egui::Window::new("Share live")
        .open(&mut open)
        .default_width(320.0)
        .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-8.0, -40.0))
        .show(&ctx, |ui| match &mut live.running {
            None => {
                ui.label(
                    "Others follow what you do here, live, in any browser: the view, \
                     visibility, edits. Everything is encrypted with a key that only the \
                     link holds; no patient name or ID is sent.",
                );
                if let Some(e) = &live.error {
                    ui.colored_label(egui::Color32::from_rgb(200, 60, 60), e);
                }
                let ready = study.is_some();
                if ui.add_enabled(ready, egui::Button::new("Start")).clicked() {
                    start_now = true;
                }
            }
            Some(r) => {
                ui.label(format!("{} following", r.host.followers()));
                viewers::hands_ui(ui, &r.host);
                ui.label("Link for others (phone, tablet, laptop on this network):");
                ui.horizontal(|ui| {
                    ui.add(egui::TextEdit::singleline(&mut r.follow.as_str()).desired_width(240.0));
                    if ui.button("Copy").clicked() {
                        ui.ctx().copy_text(r.follow.clone());
                    }
                });
                let qr = r.qr.get_or_insert_with(|| qr_texture(ui.ctx(), &r.follow));
                ui.image((qr.id(), egui::vec2(200.0, 200.0)));
                ui.collapsing("Presenter's link (drives the view)", |ui| {
                    ui.add(
                        egui::TextEdit::singleline(&mut r.present.as_str()).desired_width(280.0),
                    );
                });
                crate::app::features::live_people::participants_ui(ui, &r.host);
                if ui.button("Stop").clicked() {
                    stop_now = true;
                }
            }
        });
    if start_now {
        actions.write(LiveAction::Start);
    }
    if stop_now {
        actions.write(LiveAction::Stop);
    }
    live.open = open;
    Ok(())
}

/// What followers see of this app: its camera (in a headset, the head),
/// the model's pose, the clip planes.
#[derive(bevy::ecs::system::SystemParam)]
struct PresenterView<'w, 's> {
    camera: Query<'w, 's, &'static OrbitCamera>,
    pose: Res<'w, AnatomyPose>,
    clip: Res<'w, ClipSettings>,
    xr_state: Option<Res<'w, XrState>>,
    xr_input: Option<Res<'w, XrInput>>,
}

impl PresenterView<'_, '_> {
    /// The head's pose in the world, while a headset session tracks it.
    fn head(&self) -> Option<Transform> {
        let input = self.xr_input.as_deref()?;
        (self.xr_state.as_deref() == Some(&XrState::Running) && input.head_valid)
            .then_some(input.cur.head)
    }

    /// The view events now, about the browsers' model's `centre` (LPS mm).
    fn events(&self, centre: [f64; 3]) -> Vec<Event> {
        let mut events = Vec::new();
        let mut pose = *self.pose;
        if let Some(mut head) = self.head() {
            // The headset's room moved as one so that the anatomy's centre
            // stays where the browsers' model has it: the same picture,
            // and a follower who looks around freely orbits the model, not
            // the room's origin.
            let shift = view::room_shift(&pose, centre);
            pose.0.translation -= shift;
            head.translation -= shift;
            events.push(view::head_event(&head, &pose, centre));
        } else if let Ok(cam) = self.camera.single() {
            events.push(view::orbit_event(cam));
        }
        events.push(view::pose_event(&pose, centre));
        events.push(view::clip_event(&self.clip));
        events
    }
}

/// Starts and stops the session as the panels ask.
fn live_actions(
    mut actions: MessageReader<LiveAction>,
    mut live: ResMut<LiveShare>,
    mut study: Option<ResMut<Study>>,
    segments: Query<(&Segment, Option<&SegmentSurface>)>,
) {
    for a in actions.read() {
        match a {
            LiveAction::Start if live.running.is_none() => {
                let Some(s) = study.as_deref_mut() else {
                    live.error = Some("open a study first".into());
                    continue;
                };
                match start(s, &segments) {
                    Ok(r) => {
                        info!("live: sharing started");
                        live.running = Some(r);
                        live.error = None;
                    }
                    Err(e) => live.error = Some(e),
                }
            }
            LiveAction::Stop => live.stop(study.as_deref_mut()),
            LiveAction::Start => {}
        }
    }
}

/// The link as a QR code (dark modules on white, a quiet zone around).
fn qr_texture(ctx: &egui::Context, link: &str) -> egui::TextureHandle {
    let (w, dark) = match qrcode::QrCode::new(link.as_bytes()) {
        Ok(code) => (
            code.width(),
            code.to_colors()
                .into_iter()
                .map(|c| c == qrcode::Color::Dark)
                .collect(),
        ),
        Err(_) => (1, vec![false]),
    };
    let (q, scale) = (4, 4);
    let side = (w + 2 * q) * scale;
    let mut pixels = vec![egui::Color32::WHITE; side * side];
    for y in 0..w {
        for x in 0..w {
            if dark[y * w + x] {
                for dy in 0..scale {
                    for dx in 0..scale {
                        pixels[((y + q) * scale + dy) * side + (x + q) * scale + dx] =
                            egui::Color32::BLACK;
                    }
                }
            }
        }
    }
    let image = egui::ColorImage::new([side, side], pixels);
    ctx.load_texture("share-live-qr", image, egui::TextureOptions::NEAREST)
}

/// Sends the view as it changes (at most 30 times a second), applies what
/// a presenter's browser asked, and ends the session with its study. In a
/// headset the camera is the presenter's eyes.
fn live_sync(
    mut live: ResMut<LiveShare>,
    mut new_study: NewStudy,
    view: PresenterView,
    time: Res<Time<Real>>,
    mut apply: MessageWriter<ApplyEdit>,
) {
    if new_study.arrived().is_some() && live.running.is_some() {
        // The document it followed is gone.
        live.stop(None);
    }
    let Some(r) = live.running.as_mut() else {
        return;
    };
    if let Ok(rx) = r.edits.lock() {
        for edit in rx.try_iter() {
            apply.write(ApplyEdit(edit));
        }
    }
    let now = time.elapsed_secs_f64();
    if now - r.last_send < 1.0 / 30.0 {
        return;
    }
    let events = view.events(r.centre);
    for e in events {
        if !r.sent.contains(&e) {
            let _ = r.host.view(e.clone());
            r.sent.retain(|s| s.view_kind() != e.view_kind());
            r.sent.push(e);
            r.last_send = now;
        }
    }
}
