//! The panels (bevy_egui): menu bar, study and checklist on the left,
//! segments, tools and surface settings on the right, the three slice views
//! at the bottom, progress with Cancel over the 3D view, and the dialogs
//! (open, series choice, export). Every error reaches the user here.

mod ai;
pub mod clip;
mod dialogs;
pub mod edit;
mod measurements;
pub mod pacs;
mod realign;
pub mod segments;
mod slice_view;
mod slices;
mod study;
mod surface;
pub mod surgery;
mod too_large;
mod tools;
mod volume;

use self::ai::ai_panel;
use self::clip::clip_panel;
use self::dialogs::dialogs;
use self::segments::segments_panel;
use self::slices::{slices_panel, view_overlay};
use self::study::study_panel;
use self::surface::surface_panel;
use self::tools::tools_panel;
use self::volume::volume_panel;

use bevy::camera::CameraOutputMode;
use bevy::camera::visibility::RenderLayers;
use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy::render::render_resource::BlendState;
use bevy_egui::{
    EguiContexts, EguiGlobalSettings, EguiPrimaryContextPass, PrimaryEguiContext, egui,
};

use self::slice_view::{SliceTextures, overlay_colours, update_contours, update_textures};
use crate::app::actions::RulerAction;
use crate::app::actions::{StandardView, ViewAction};
use crate::app::features::clip::{ClipSettings, NotClipped};
use crate::app::features::export::{ExportRequest, ExportSettings};
use crate::app::features::loading::{OpenRequest, SeriesChoice};
use crate::app::features::measurements::{Measurements, Rulers};
use crate::app::features::segmentation::SegmentCommand;
use crate::app::state::crosshair::SliceState;
use crate::app::state::jobs::{JobInfo, Notices};
use crate::app::state::segments::SegmentSurface;
use crate::app::state::segments::{Segment, ToolSettings};
use crate::app::state::study::Study;
use crate::app::state::viewport::ViewRect;

pub struct UiPlugin;

impl Plugin for UiPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<OpenDialog>()
            .init_resource::<SliceTextures>()
            .init_resource::<UiLayout>()
            .init_resource::<edit::SessionDialog>()
            .add_systems(Startup, spawn_ui_camera)
            // Each panel its own system; the order is the layout's (menu,
            // left, right, bottom, the rest is the 3D view), then windows.
            .add_systems(
                EguiPrimaryContextPass,
                (
                    menu_system,
                    study_system,
                    right_panel_system,
                    slice_view::mark_touched_slices,
                    slices_system,
                    dialogs_system,
                )
                    .chain(),
            );
    }
}

/// The panels get their own camera over the whole window (drawn after the
/// 3D view, which only covers the area the panels leave free).
fn spawn_ui_camera(mut commands: Commands, mut settings: ResMut<EguiGlobalSettings>) {
    settings.auto_create_primary_context = false;
    commands.spawn((
        Name::new("UI"),
        PrimaryEguiContext,
        Camera2d,
        RenderLayers::none(),
        Camera {
            order: 1,
            output_mode: CameraOutputMode::Write {
                blend_state: Some(BlendState::ALPHA_BLENDING),
                clear_color: ClearColorConfig::None,
            },
            clear_color: ClearColorConfig::Custom(Color::NONE),
            ..default()
        },
    ));
}

/// File ▸ Open: a path field and a small folder browser.
#[derive(Resource, Debug)]
pub struct OpenDialog {
    pub open: bool,
    pub path: String,
}

impl Default for OpenDialog {
    fn default() -> Self {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/".into());
        OpenDialog {
            open: false,
            path: home,
        }
    }
}

/// What the panels drawn so far have left of the window: each panel system
/// lays its panel out in it, the 3D view gets the rest.
#[derive(Resource, Default)]
pub struct UiLayout {
    free: Option<egui::Rect>,
}

impl UiLayout {
    /// A root `Ui` over the space left (the whole window for the first).
    fn region(&self, ctx: &egui::Context, id: &'static str) -> egui::Ui {
        egui::Ui::new(
            ctx.clone(),
            id.into(),
            egui::UiBuilder::new()
                .layer_id(egui::LayerId::background())
                .max_rect(self.free.unwrap_or_else(|| ctx.viewport_rect())),
        )
    }

    fn keep_rest(&mut self, ui: &egui::Ui) {
        self.free = Some(ui.available_rect_before_wrap());
    }
}

/// The menu bar.
#[derive(SystemParam)]
pub struct MenuUi<'w, 's> {
    study: Option<Res<'w, Study>>,
    open_dialog: ResMut<'w, OpenDialog>,
    notices: ResMut<'w, Notices>,
    open: MessageWriter<'w, OpenRequest>,
    export: ResMut<'w, ExportSettings>,
    measurements: ResMut<'w, Measurements>,
    surgery: ResMut<'w, surgery::SurgeryChoice>,
    view_actions: MessageWriter<'w, ViewAction>,
    turntable: ResMut<'w, crate::app::view::camera::Turntable>,
    exit: MessageWriter<'w, AppExit>,
    edit: edit::SessionUi<'w, 's>,
}

/// The right-hand panel: the segment list and the tool sections below it.
#[derive(SystemParam)]
pub struct RightPanel<'w, 's> {
    study: Option<Res<'w, Study>>,
    segments: Query<
        'w,
        's,
        (
            Entity,
            &'static mut Segment,
            Option<&'static SegmentSurface>,
        ),
    >,
    tools: ResMut<'w, ToolSettings>,
    measurements: Res<'w, Measurements>,
    not_clipped: Query<'w, 's, (), With<NotClipped>>,
    commands: Commands<'w, 's>,
    edits: MessageWriter<'w, crate::app::state::document::ApplyEdit>,
    seg_commands: MessageWriter<'w, SegmentCommand>,
    rulers: Res<'w, Rulers>,
    ruler_actions: MessageWriter<'w, RulerAction>,
    brush: edit::BrushUi<'w>,
    volume: volume::VolumeUi<'w>,
    ai: ai::AiUi<'w, 's>,
    clip: clip::ClipUi<'w>,
    surface: surface::SurfaceUi<'w>,
}

/// The slice views at the bottom and what is drawn over the 3D view.
#[derive(SystemParam)]
pub struct SlicesUi<'w, 's> {
    study: Option<Res<'w, Study>>,
    segments: Query<'w, 's, (&'static Segment, Option<&'static SegmentSurface>)>,
    slices: ResMut<'w, SliceState>,
    textures: ResMut<'w, SliceTextures>,
    tools: ResMut<'w, ToolSettings>,
    seg_commands: MessageWriter<'w, SegmentCommand>,
    camera3d: Query<
        'w,
        's,
        (&'static Camera, &'static GlobalTransform),
        With<crate::app::state::viewport::OrbitCamera>,
    >,
    clip: Res<'w, ClipSettings>,
    pose: Res<'w, crate::app::state::space::AnatomyPose>,
    rulers: Res<'w, Rulers>,
    ruler_actions: MessageWriter<'w, RulerAction>,
    notices: ResMut<'w, Notices>,
    jobs: Query<'w, 's, &'static JobInfo>,
    edit: edit::BrushUi<'w>,
    view_rect: ResMut<'w, ViewRect>,
}

/// The windows over everything: open, series, export, share, measurements,
/// the session dialogs.
#[derive(SystemParam)]
pub struct DialogsUi<'w, 's> {
    export: ResMut<'w, ExportSettings>,
    export_now: MessageWriter<'w, ExportRequest>,
    share_now: MessageWriter<'w, crate::app::features::export::ShareRequest>,
    open: MessageWriter<'w, OpenRequest>,
    open_dialog: ResMut<'w, OpenDialog>,
    series_choice: ResMut<'w, SeriesChoice>,
    edit: edit::SessionUi<'w, 's>,
    margins: Option<Res<'w, crate::app::features::margins::Margins>>,
}

const OK: egui::Color32 = egui::Color32::from_rgb(90, 190, 110);
const WARN: egui::Color32 = egui::Color32::from_rgb(235, 170, 50);
const ERR: egui::Color32 = egui::Color32::from_rgb(230, 80, 70);

fn menu_system(mut contexts: EguiContexts, mut layout: ResMut<UiLayout>, mut p: MenuUi) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    // The first panel of the frame starts from the whole window.
    layout.free = None;
    let mut root = layout.region(&ctx, "root-menu");
    menu_bar(&mut root, &mut p);
    layout.keep_rest(&root);
    Ok(())
}

fn study_system(
    mut contexts: EguiContexts,
    mut layout: ResMut<UiLayout>,
    study: Option<Res<Study>>,
    mut realign: MessageWriter<crate::app::features::realign::RealignAction>,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    let mut root = layout.region(&ctx, "root-study");
    egui::Panel::left("study")
        .resizable(true)
        .default_size(300.0)
        .show(&mut root, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                if let Some(a) = study_panel(ui, study.as_deref()) {
                    realign.write(a);
                }
            });
        });
    layout.keep_rest(&root);
    Ok(())
}

fn right_panel_system(
    mut contexts: EguiContexts,
    mut layout: ResMut<UiLayout>,
    mut p: RightPanel,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    let mut root = layout.region(&ctx, "root-right");
    egui::Panel::right("segments")
        .resizable(true)
        .default_size(330.0)
        .show(&mut root, |ui| {
            // The list scrolls on its own so the tools stay in sight with
            // a hundred organs loaded.
            let list_height = (ui.available_height() * 0.42).max(120.0);
            ui.heading("Segments");
            egui::ScrollArea::vertical()
                .id_salt("segment-list")
                .max_height(list_height)
                .show(ui, |ui| segments_panel(ui, &mut p));
            ui.separator();
            egui::ScrollArea::vertical()
                .id_salt("tools")
                .show(ui, |ui| {
                    // First: a study without segments shows only its volume.
                    volume_panel(ui, &mut p.volume);
                    ui.separator();
                    tools_panel(ui, &mut p);
                    ui.separator();
                    let selected = p
                        .tools
                        .selected
                        .and_then(|e| p.segments.get(e).ok().map(|(_, s, _)| s.name.clone()));
                    p.brush.panels(ui, selected);
                    ui.separator();
                    ai_panel(ui, &mut p.ai);
                    ui.separator();
                    clip_panel(ui, &mut p.clip);
                    ui.separator();
                    surface_panel(ui, &mut p.surface);
                });
        });
    layout.keep_rest(&root);
    Ok(())
}

fn slices_system(
    mut contexts: EguiContexts,
    mut layout: ResMut<UiLayout>,
    mut p: SlicesUi,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    // Slice textures first, so the views below draw this frame's images.
    if let Some(study) = p.study.as_deref() {
        let colours = overlay_colours(p.segments.iter().map(|(s, _)| s), p.slices.overlay_opacity);
        let preview = p
            .tools
            .preview
            .then_some((p.tools.lo, p.tools.hi, [255, 200, 40]));
        let shown = p.tools.current_preview(study.doc.generation());
        update_textures(
            &ctx,
            study,
            &p.slices,
            &colours,
            preview,
            shown,
            &mut p.textures,
        );
        if p.slices.contours {
            let surfaces: Vec<(&Segment, &SegmentSurface)> = p
                .segments
                .iter()
                .filter_map(|(s, m)| m.map(|m| (s, m)))
                .collect();
            update_contours(&p.slices, &surfaces, &mut p.textures);
        }
    }
    let mut root = layout.region(&ctx, "root-slices");
    // A fixed share of the window: the slice views fill whatever they get,
    // and a panel sized by its content would collapse before a study opens.
    let slices_height = (ctx.viewport_rect().height() * 0.36).max(200.0);
    egui::Panel::bottom("slices")
        .exact_size(slices_height)
        .show(&mut root, |ui| slices_panel(ui, &mut p));
    // What is left is the 3D view.
    let view = root.available_rect_before_wrap();
    p.view_rect.0 = Some(bevy::math::Rect::new(
        view.min.x, view.min.y, view.max.x, view.max.y,
    ));
    layout.keep_rest(&root);
    view_overlay(&ctx, view, &mut p);
    Ok(())
}

fn dialogs_system(
    mut contexts: EguiContexts,
    mut measurements: measurements::MeasurementsUi,
    mut p: DialogsUi,
) -> Result {
    let ctx = contexts.ctx_mut()?.clone();
    measurements::measurements_window(&ctx, &mut measurements);
    dialogs(&ctx, &mut p);
    p.edit.dialogs_and_keys(&ctx);
    Ok(())
}

fn menu_bar(root: &mut egui::Ui, p: &mut MenuUi) {
    egui::Panel::top("menu").show(root, |ui| {
        ui.horizontal(|ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open…").clicked() {
                    p.open_dialog.open = true;
                    ui.close();
                }
                if ui.button("Open from PACS…").clicked() {
                    pacs::open_pacs(ui.ctx());
                    ui.close();
                }
                if ui.button("Join live session…").clicked() {
                    crate::app::features::join::panel::open_dialog(ui.ctx());
                    ui.close();
                }
                if ui.button("Open the demo study").clicked() {
                    match crate::app::features::demo::open_request() {
                        Ok(request) => {
                            p.open.write(request);
                        }
                        Err(e) => p
                            .notices
                            .error(format!("The demo study could not be opened: {e}")),
                    }
                    ui.close();
                }
                if ui.button("Export…").clicked() {
                    p.export.open = true;
                    ui.close();
                }
                if ui
                    .button("Export DICOM (SEG, STL) / send to PACS…")
                    .clicked()
                {
                    pacs::open_dicom_export(ui.ctx());
                    ui.close();
                }
                if ui
                    .button("Share with the patient…")
                    .on_hover_text("One page that opens offline in a browser")
                    .clicked()
                {
                    p.export.share_open = true;
                    ui.close();
                }
                ui.separator();
                p.edit.file_menu(ui);
                ui.separator();
                if ui.button("Quit").clicked() {
                    p.exit.write(AppExit::Success);
                }
            });
            if ui
                .button("Measurements")
                .on_hover_text("Volumes, areas, extents, and each surface checked against the scan")
                .clicked()
            {
                p.measurements.open = !p.measurements.open;
            }
            if ui
                .button("Distances")
                .on_hover_text(
                    "The minimum distance between two segments, the margin map, and a \
                     virtual resection with the remnant's volume",
                )
                .clicked()
            {
                p.surgery.open = !p.surgery.open;
            }
            ui.menu_button("View", |ui| {
                if ui.button("Reset view (Home)").clicked() {
                    p.view_actions.write(ViewAction::Reset);
                    ui.close();
                }
                let mut turning = p.turntable.0;
                if ui.checkbox(&mut turning, "Turntable").changed() {
                    p.turntable.0 = turning;
                }
                for v in StandardView::ALL {
                    if ui.button(v.name()).clicked() {
                        p.view_actions.write(ViewAction::Standard(v));
                        ui.close();
                    }
                }
            });
            ui.separator();
            for v in [
                StandardView::Anterior,
                StandardView::Left,
                StandardView::Superior,
            ] {
                if ui.small_button(v.name()).clicked() {
                    p.view_actions.write(ViewAction::Standard(v));
                }
            }
            if ui.small_button("Reset").clicked() {
                p.view_actions.write(ViewAction::Reset);
            }
            ui.separator();
            match p.study.as_deref() {
                Some(s) => ui.label(format!("{} · {}", s.title, s.volume.modality)),
                None => ui
                    .label("No study open: File ▸ Open, or drop a DICOM folder or NIfTI file here"),
            };
        });
    });
}
