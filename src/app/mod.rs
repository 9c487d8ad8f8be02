//! The desktop app: Bevy + egui, one plugin per capability. Pipeline work
//! (load, segment, mesh, export) runs as background tasks calling
//! `stratum-core`; the frame loop only polls them.

pub mod actions;
pub mod features;
pub mod input;
pub mod state;
pub mod ui;
pub mod view;
pub mod xr;

use std::path::PathBuf;

use bevy::app::PluginGroupBuilder;
use bevy::log::LogPlugin;
use bevy::prelude::*;
use bevy::window::WindowResolution;
use bevy_egui::EguiPlugin;

use features::loading::OpenRequest;
use features::{
    ai, clip, demo, export, history, loading, measurements, meshing, realign, remesh, screenshot,
    sculpt, segmentation, segments, session, slices, volume,
};
use state::{jobs, space};
use view::{camera, sculpt_view, surgery_view};

/// The pipeline plugins: everything that works without a window or a GPU
/// (the headless tests build an app from these and `MinimalPlugins`).
pub struct PipelinePlugins;

impl PluginGroup for PipelinePlugins {
    fn build(self) -> PluginGroupBuilder {
        PluginGroupBuilder::start::<Self>()
            .add(jobs::JobsPlugin)
            .add(actions::ActionsPlugin)
            .add(space::SpacePlugin)
            .add(loading::LoadingPlugin)
            .add(segments::SegmentsPlugin)
            .add(segmentation::SegmentationPlugin)
            .add(ai::AiPlugin)
            .add(meshing::MeshingPlugin)
            .add(clip::ClipPlugin)
            .add(measurements::MeasurementsPlugin)
            .add(measurements::RulersPlugin)
            .add(slices::SlicesPlugin)
            .add(export::ExportPlugin)
            .add(history::HistoryPlugin)
            .add(sculpt::SculptPlugin)
            .add(remesh::RemeshPlugin)
            .add(session::SessionPlugin)
            .add(volume::VolumePlugin)
            .add(features::pacs::PacsPlugin)
            .add(features::dicom_export::DicomExportPlugin)
            .add(realign::RealignPlugin)
            .add(features::surgery::SurgeryPlugin)
            .add(features::surgery_cut::SurgeryCutPlugin)
            .add(features::margins::MarginsPlugin)
            .add(features::join::JoinPlugin)
            .add(features::avatars::AvatarsPlugin)
    }
}

/// The view plugins: camera, panels (need rendering and egui).
pub struct ViewPlugins;

impl PluginGroup for ViewPlugins {
    fn build(self) -> PluginGroupBuilder {
        PluginGroupBuilder::start::<Self>()
            .add(input::InputPlugin)
            .add(clip::ClipRenderPlugin)
            .add(volume::VolumeRenderPlugin)
            .add(camera::CameraPlugin)
            .add(sculpt_view::SculptViewPlugin)
            .add(surgery_view::SurgeryViewPlugin)
            .add(ui::UiPlugin)
            .add(ui::pacs::PacsUiPlugin)
            .add(ui::surgery::SurgeryPanelPlugin)
            .add(features::live::LivePlugin)
            .add(features::join::panel::JoinPanelPlugin)
            .add(features::avatars::AvatarLabelsPlugin)
    }
}

/// How the app was started.
#[derive(Clone, Debug, Default)]
pub struct GuiOptions {
    /// A DICOM folder/file or NIfTI file; the demo study when `None`.
    pub input: Option<PathBuf>,
    pub series: Option<String>,
    /// Part of the DICOM series (`--slices`, `--downsample`).
    pub subset: stratum_core::dicom::Subset,
    /// An AI model to run once the study has loaded.
    pub model: Option<String>,
    /// A label map (and its names) to open with `input`.
    pub labels: Option<(PathBuf, Option<PathBuf>)>,
    /// Start with the 3D view turning.
    pub turntable: bool,
    /// Clip planes to start with (at most three), each this far (mm) from
    /// the study centre along its normal.
    pub clip: Vec<(crate::app::actions::ClipKind, f64)>,
    /// Rulers to start with (LPS mm end points).
    pub rulers: Vec<([f64; 3], [f64; 3])>,
    /// `--margin A,B`: segment A coloured by its distance to B on load.
    pub margin: Option<(String, String)>,
    /// `--cut-point`: points of a curved cut to start with (LPS mm).
    pub cut_points: Vec<[f64; 3]>,
    /// `--margin-shell NAME[:MM]`: the safety margin around a segment,
    /// shown once the study has it.
    pub margin_shell: Option<(String, f64)>,
    pub screenshot: Option<PathBuf>,
    pub width: u32,
    pub height: u32,
    /// A threshold preset to segment with once the study has loaded.
    pub preset: Option<stratum_core::segment::Preset>,
    /// What the 3D view starts with (volume rendering, surfaces).
    pub render: volume::RenderOnLoad,
    /// Start with an OpenXR session (the window stays as the spectator view).
    pub xr: bool,
    /// With `xr`: JSON lines of the session's state, one per frame.
    pub xr_trace: Option<PathBuf>,
    /// With `xr`: the size of each eye's image instead of the runtime's recommendation.
    pub eye_size: Option<(u32, u32)>,
    /// Join a live session instead of opening a study (`stratum join`).
    pub join: features::join::JoinOnStart,
}

/// Runs the desktop app until its window closes.
pub fn run(opts: GuiOptions) -> AppExit {
    // Before Bevy's threads start: one malloc arena per core, so what the
    // jobs' threads free is reused by the renderer's (memory::cap_arenas).
    stratum_core::base::memory::cap_arenas();
    // Beyond the core's scan, label map and meshes, the app keeps an 8-bit
    // slice texture (1 byte a voxel) and, for volume rendering, a 16-bit
    // copy (2): host memory on software renderers and unified-memory
    // laptops, so the refusal before loading counts them.
    stratum_core::base::memory::reserve_per_voxel(3);
    let request = match &opts.input {
        // A joined session brings its own study.
        _ if opts.join.request.is_some() => None,
        Some(path) => Some(OpenRequest {
            path: path.clone(),
            series: opts.series.clone(),
            labels: opts.labels.clone(),
            subset: opts.subset,
        }),
        None => match demo::open_request() {
            Ok(request) => Some(request),
            Err(e) => {
                eprintln!("error: the demo study could not be opened: {e}");
                return AppExit::error();
            }
        },
    };
    let window = WindowPlugin {
        primary_window: Some(Window {
            // No file or patient name in the title: it shows in task bars and screenshots.
            title: "Stratum".into(),
            resolution: WindowResolution::new(opts.width.max(640), opts.height.max(480)),
            // In VR the runtime paces the frames; the window must not wait too.
            present_mode: if opts.xr {
                bevy::window::PresentMode::AutoNoVsync
            } else {
                default()
            },
            ..default()
        }),
        ..default()
    };
    let log = LogPlugin {
        filter: "warn,stratum=info,wgpu=error,naga=warn,bevy_mod_openxr=info".into(),
        // STRATUM_TRACE=FILE: the core's stage spans (the app's jobs) to a Chrome trace file.
        custom_layer: |_| {
            stratum_core::base::trace::ChromeTrace::from_env().map(|t| Box::new(t) as _)
        },
        ..default()
    };
    let mut app = App::new();
    if opts.xr {
        // OpenXR creates the Vulkan device, so its plugins replace the
        // renderer's setup; the window stays as the spectator view.
        app.add_plugins(xr::xr_default_plugins().set(window).set(log));
    } else {
        app.add_plugins(DefaultPlugins.set(window).set(log));
    }
    app.add_plugins(EguiPlugin::default())
        .add_plugins(PipelinePlugins)
        .add_plugins(ViewPlugins)
        .insert_resource(ai::RunOnLoad(opts.model.clone()))
        .insert_resource(segmentation::PresetOnLoad(opts.preset))
        .insert_resource(opts.render)
        .insert_resource(camera::Turntable(opts.turntable))
        .insert_resource(features::margins::MarginOnLoad(opts.margin.clone()))
        .insert_resource(features::surgery_cut::MarginShellOnLoad(
            opts.margin_shell.clone(),
        ))
        .add_systems(Startup, {
            let points = opts.cut_points.clone();
            move |mut actions: MessageWriter<features::surgery_cut::CutPointAction>| {
                for p in &points {
                    actions.write(features::surgery_cut::CutPointAction::Point(*p));
                }
            }
        })
        .add_systems(Startup, {
            let rulers = opts.rulers.clone();
            move |mut actions: MessageWriter<crate::app::actions::RulerAction>| {
                for (a, b) in &rulers {
                    actions.write(crate::app::actions::RulerAction::Point(*a));
                    actions.write(crate::app::actions::RulerAction::Point(*b));
                }
            }
        })
        .add_systems(Startup, {
            let kinds = opts.clip.clone();
            move |mut actions: MessageWriter<crate::app::actions::ClipAction>| {
                for (index, (kind, _)) in kinds.iter().take(clip::MAX_PLANES).enumerate() {
                    actions.write(crate::app::actions::ClipAction::Orient { index, kind: *kind });
                }
            }
        })
        .add_systems(Update, {
            // The offsets once the first study is open (its centre known).
            let kinds = opts.clip.clone();
            move |study: Option<Res<crate::app::state::study::Study>>,
                  mut done: Local<bool>,
                  mut actions: MessageWriter<crate::app::actions::ClipAction>| {
                if *done || study.is_none() {
                    return;
                }
                *done = true;
                for (index, (_, mm)) in kinds.iter().take(clip::MAX_PLANES).enumerate() {
                    if *mm != 0.0 {
                        actions.write(crate::app::actions::ClipAction::Offset { index, mm: *mm });
                    }
                }
            }
        })
        .insert_resource(opts.join.clone())
        .add_systems(Startup, move |mut open: MessageWriter<OpenRequest>| {
            if let Some(r) = &request {
                open.write(r.clone());
            }
        });
    if opts.xr {
        app.add_plugins(xr::XrPlugin {
            trace: opts.xr_trace.clone(),
            screenshot: opts.screenshot.is_some(),
            eye_size: opts.eye_size,
        });
    }
    if let Some(path) = opts.screenshot {
        app.add_plugins(screenshot::ScreenshotPlugin(screenshot::ScreenshotPlan {
            path,
            // In VR the shot waits for the eye to have drawn the placed
            // anatomy already (see xr::trace), and frames come at the
            // runtime's pace: fewer settle frames.
            settle_frames: if opts.xr { 6 } else { 20 },
            timeout_s: 600.0,
        }));
    }
    app.run()
}
