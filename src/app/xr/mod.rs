//! The OpenXR headset mode (`stratum --xr`): the OpenXR plugins with the
//! desktop window kept as the spectator view, what to tell the user when
//! there is no loader, runtime or headset, the "Enter VR" / "Leave VR"
//! panel, and the parts: `input` (controller snapshots to actions, pure),
//! `egui_quad` (what the egui surfaces in VR share),
//! `rig` (actions, bindings, controller spaces, the table), `label` (the
//! readout beside the hand), `panel` (the panel in the world) and `pointer`
//! (its laser pointer, pure), `reslice` (a slice of the scan in place),
//! `ruler_labels` (ruler lengths in 3D), `avatar_labels` (live
//! participants' names over their heads), `trace` (`--xr-trace` diagnostics
//! and the left-eye screenshot).

pub mod avatar_labels;
pub mod brush_ball;
pub mod egui_quad;
pub mod haptics;
pub mod input;
pub mod label;
pub mod panel;
pub mod panel_shots;
pub mod pointer;
pub mod quad;
pub mod reslice;
pub mod rig;
pub mod ruler_labels;
pub mod share_panel;
pub mod surgery_panel;
pub mod trace;

use std::path::PathBuf;

use bevy::app::PluginGroupBuilder;
use bevy::prelude::*;
use bevy::render::pipelined_rendering::PipelinedRenderingPlugin;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use bevy_mod_openxr::features::handtracking::HandTrackingPlugin;
use bevy_mod_openxr::init::OxrInitPlugin;
use bevy_mod_openxr::poll_events::{OxrEventHandlerExt, OxrEventIn};
use bevy_mod_openxr::resources::OxrSessionConfig;
use bevy_mod_openxr::types::{AppInfo, OxrExtensions, Version};
use bevy_mod_xr::session::{XrCreateSessionMessage, XrRequestExitMessage, XrState};

use crate::app::state::viewport::ViewRect;

/// Bevy's default plugins with OpenXR: Vulkan through the OpenXR runtime,
/// no pipelined rendering (controller poses are read right before the
/// frame is drawn, as the crate's examples do), no hand tracking (the
/// controllers drive everything; tracked hands would cost 52 joint
/// locations a frame for nothing).
pub fn xr_default_plugins() -> PluginGroupBuilder {
    bevy_mod_openxr::add_xr_plugins(DefaultPlugins.build().disable::<PipelinedRenderingPlugin>())
        .disable::<HandTrackingPlugin>()
        .set(OxrInitPlugin {
            app_info: AppInfo {
                name: "Stratum".into(),
                version: Version(0, 1, 0),
            },
            exts: OxrExtensions::default(),
            ..default()
        })
}

/// Everything of the XR mode above the OpenXR plugins.
pub struct XrPlugin {
    pub trace: Option<PathBuf>,
    /// `--screenshot`: capture the left eye once the study is meshed.
    pub screenshot: bool,
    /// `--eye-size`: each eye's image size instead of the runtime's recommendation.
    pub eye_size: Option<(u32, u32)>,
}

impl Plugin for XrPlugin {
    fn build(&self, app: &mut App) {
        if let Some((w, h)) = self.eye_size {
            // Read when the session is created, after the plugins are built.
            app.insert_resource(OxrSessionConfig {
                resolutions: Some(vec![UVec2::new(w, h)]),
                ..default()
            });
        }
        app.init_resource::<XrStatus>()
            .add_systems(Update, (diagnose_once, track_state))
            .add_systems(EguiPrimaryContextPass, vr_panel)
            .add_oxr_event_handler(record_session_state);
        app.add_plugins((
            rig::RigPlugin,
            brush_ball::BrushBallPlugin,
            haptics::HapticsPlugin,
            label::HandLabelPlugin,
            panel::WorldPanelPlugin,
            reslice::ReslicePlugin,
            ruler_labels::RulerLabelPlugin,
            avatar_labels::AvatarLabelPlugin,
        ))
        .add_plugins(trace::TracePlugin {
            path: self.trace.clone(),
            screenshot: self.screenshot,
        });
    }
}

/// What the XR mode is doing, for the panel and the trace.
#[derive(Resource, Debug, Default, Clone)]
pub struct XrStatus {
    /// Why there is no headset view, in words a user can act on.
    pub unavailable: Option<String>,
    /// The OpenXR session state as the runtime last reported it (e.g. "FOCUSED").
    pub session_state: Option<String>,
    /// The user pressed "Leave VR" (the session is not restarted by itself).
    pub left: bool,
    /// The desktop panel's Enter / Leave VR button and its centre in the
    /// window (logical pixels), for the trace.
    pub desktop_button: Option<(&'static str, [f32; 2])>,
}

fn record_session_state(event: OxrEventIn, mut status: ResMut<XrStatus>) {
    if let openxr::Event::SessionStateChanged(e) = *event {
        let s = format!("{:?}", e.state());
        info!("OpenXR session state: {s}");
        status.session_state = Some(s);
    }
}

/// Once, when OpenXR could not start: find out why and say it in the log
/// and the panel. (The crate logs its own error; this one says what to do.)
fn diagnose_once(state: Option<Res<XrState>>, mut status: ResMut<XrStatus>, mut done: Local<bool>) {
    if *done {
        return;
    }
    let unavailable = state.is_none_or(|s| *s == XrState::Unavailable);
    if !unavailable {
        *done = true;
        return;
    }
    *done = true;
    let why = diagnose();
    warn!("VR is off: {why}");
    status.unavailable = Some(why);
}

/// Probes the OpenXR loader, runtime and headset the way the app would
/// start them, and returns what is missing and what to install.
pub fn diagnose() -> String {
    const RUNTIMES: &str = "SteamVR, Monado, Meta Quest Link / Air Link or Windows Mixed Reality";
    // SAFETY: loads the system's OpenXR loader library, as the XR plugins do.
    let entry = match unsafe { openxr::Entry::load() } {
        Ok(e) => e,
        Err(e) => {
            return format!(
                "No OpenXR loader was found ({e}). Install the OpenXR loader (Debian/Ubuntu: \
                 libopenxr-loader1 and libopenxr-dev) and an OpenXR runtime ({RUNTIMES}), \
                 then start Stratum with --xr again. The desktop view works as usual."
            );
        }
    };
    let runtime_hint = match std::env::var_os("XR_RUNTIME_JSON") {
        Some(p) => format!(
            " (XR_RUNTIME_JSON is set to {})",
            PathBuf::from(p).display()
        ),
        None => String::new(),
    };
    let no_runtime = |e: openxr::sys::Result| {
        format!(
            "No OpenXR runtime was found{runtime_hint} (OpenXR: {e}). Install and \
             start an OpenXR runtime ({RUNTIMES}) and make it the active one, then start \
             Stratum with --xr again. The desktop view works as usual."
        )
    };
    let exts = match entry.enumerate_extensions() {
        Ok(x) => x,
        Err(e) => return no_runtime(e),
    };
    if !exts.khr_vulkan_enable2 && !exts.khr_vulkan_enable {
        return "The OpenXR runtime offers no Vulkan rendering, which Stratum needs: update \
                the runtime or pick another one. The desktop view works as usual."
            .into();
    }
    let app = openxr::ApplicationInfo {
        application_name: "Stratum",
        application_version: 1,
        engine_name: "Bevy",
        engine_version: 19,
        api_version: openxr::Version::new(1, 0, 0),
    };
    let instance = match entry.create_instance(&app, &openxr::ExtensionSet::default(), &[]) {
        Ok(i) => i,
        Err(
            e @ (openxr::sys::Result::ERROR_RUNTIME_UNAVAILABLE
            | openxr::sys::Result::ERROR_RUNTIME_FAILURE),
        ) => return no_runtime(e),
        Err(e) => {
            return format!(
                "The OpenXR runtime{runtime_hint} did not start ({e}): restart it (and \
                 {RUNTIMES} if that is yours), then start Stratum with --xr again."
            );
        }
    };
    match instance.system(openxr::FormFactor::HEAD_MOUNTED_DISPLAY) {
        Err(openxr::sys::Result::ERROR_FORM_FACTOR_UNAVAILABLE) => {
            "No headset is connected (or it is asleep): connect it, wake it and start its \
             runtime, then start Stratum with --xr again."
                .into()
        }
        Err(e) => format!("The OpenXR runtime found no headset ({e})."),
        Ok(_) => "OpenXR is installed and a headset is there, but the session could not \
                  start on this graphics device: see the log above."
            .into(),
    }
}

/// Ending a session in the middle of use puts the anatomy back where the
/// desktop shows it; "Enter VR" creates a new session.
fn track_state(
    state: Option<Res<XrState>>,
    mut last: Local<Option<XrState>>,
    mut home: ResMut<crate::app::state::space::PoseHome>,
    mut pose: MessageWriter<crate::app::actions::PoseAction>,
) {
    let Some(state) = state else { return };
    if Some(*state) == *last {
        return;
    }
    let was_running = matches!(*last, Some(XrState::Running));
    *last = Some(*state);
    if was_running && *state != XrState::Running {
        info!("XR session ended: back to the desktop view");
        home.0 = crate::app::state::space::AnatomyPose::default();
        pose.write(crate::app::actions::PoseAction::Reset);
    }
}

fn vr_panel(
    mut contexts: EguiContexts,
    rect: Res<ViewRect>,
    state: Option<Res<XrState>>,
    mut status: ResMut<XrStatus>,
    readout: Res<rig::HandReadout>,
    mut create: MessageWriter<XrCreateSessionMessage>,
    mut exit: MessageWriter<XrRequestExitMessage>,
) -> Result {
    let ctx = contexts.ctx_mut()?;
    let Some(view) = rect.0 else { return Ok(()) };
    egui::Window::new("VR")
        .id(egui::Id::new("vr-panel"))
        .collapsible(true)
        .resizable(false)
        .default_width(280.0)
        .pivot(egui::Align2::RIGHT_TOP)
        .default_pos(egui::pos2(view.max.x - 8.0, view.min.y + 8.0))
        .show(ctx, |ui| {
            if let Some(why) = &status.unavailable {
                ui.colored_label(egui::Color32::from_rgb(235, 170, 50), why);
                return;
            }
            let state = state.as_deref().copied();
            ui.label(match state {
                Some(XrState::Running) => format!(
                    "In VR ({})",
                    status.session_state.as_deref().unwrap_or("running")
                ),
                Some(XrState::Available) => "Headset ready".to_string(),
                Some(s) => format!("Starting VR… ({s:?})"),
                None => "VR is off".to_string(),
            });
            // The button is drawn only in the states where it applies.
            let mut button = None;
            match state {
                Some(XrState::Available) => {
                    let r = ui.button("Enter VR");
                    if r.clicked() {
                        info!("Enter VR: creating an OpenXR session");
                        status.left = false;
                        create.write_default();
                    }
                    button = Some(("Enter VR", r.rect.center()));
                }
                Some(XrState::Idle | XrState::Ready | XrState::Running) => {
                    let r = ui.button("Leave VR");
                    if r.clicked() {
                        info!("Leave VR: asking the runtime to end the session");
                        status.left = true;
                        exit.write_default();
                    }
                    button = Some(("Leave VR", r.rect.center()));
                }
                _ => {}
            }
            let button = button.map(|(name, c)| (name, [c.x, c.y]));
            if status.desktop_button != button {
                status.desktop_button = button;
            }
            if matches!(state, Some(XrState::Running)) {
                ui.separator();
                ui.label(&readout.scale);
                if let Some(sel) = &readout.selected {
                    ui.label(sel);
                }
                if let Some(r) = &readout.ruler {
                    ui.label(r);
                }
                if readout.ruler_mode {
                    ui.label("Ruler mode: trigger twice to measure");
                }
            }
        });
    Ok(())
}
