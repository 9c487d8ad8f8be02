//! The panels (bevy_egui): menu bar, study and checklist on the left,
//! segments, tools and surface settings on the right, the three slice views
//! at the bottom, progress with Cancel over the 3D view, and the dialogs
//! (open, series choice, export). Every error reaches the user here.

use std::path::PathBuf;

use bevy::camera::CameraOutputMode;
use bevy::camera::visibility::RenderLayers;
use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy::render::render_resource::BlendState;
use bevy_egui::{
    EguiContexts, EguiGlobalSettings, EguiPrimaryContextPass, PrimaryEguiContext, egui,
};
use stratum_core::checks::Status;
use stratum_core::export::Format;
use stratum_core::segment::Preset;
use stratum_core::view::{Plane, WindowPreset};

use super::actions::{StandardView, ViewAction};
use super::ai::{AiModels, RunModel};
use super::camera::ViewRect;
use super::clip::{ClipAction, ClipKind, ClipSettings, MAX_PLANES, NotClipped};
use super::export::{ExportRequest, ExportSettings};
use super::jobs::{JobInfo, Notices};
use super::loading::{OpenRequest, SeriesChoice, Study};
use super::measurements::{Measurements, Row, RulerAction, Rulers, ValidateAll, to_csv};
use super::meshing::{BuildMeshes, SegmentSurface, SurfaceSettings};
use super::segmentation::{Segment, SegmentCommand, ToolSettings};
use super::slices::{
    SliceEvent, SliceExtras, SliceState, SliceTextures, overlay_colours, slice_view,
    update_contours, update_textures,
};

pub struct UiPlugin;

impl Plugin for UiPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<OpenDialog>()
            .add_systems(Startup, spawn_ui_camera)
            .add_systems(EguiPrimaryContextPass, ui_system);
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

#[derive(SystemParam)]
pub struct UiParams<'w, 's> {
    contexts: EguiContexts<'w, 's>,
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
    jobs: Query<'w, 's, &'static JobInfo>,
    notices: ResMut<'w, Notices>,
    tools: ResMut<'w, ToolSettings>,
    surface: ResMut<'w, SurfaceSettings>,
    slices: ResMut<'w, SliceState>,
    textures: ResMut<'w, SliceTextures>,
    export: ResMut<'w, ExportSettings>,
    open_dialog: ResMut<'w, OpenDialog>,
    series_choice: ResMut<'w, SeriesChoice>,
    view_rect: ResMut<'w, ViewRect>,
    seg_commands: MessageWriter<'w, SegmentCommand>,
    models: ResMut<'w, AiModels>,
    clip: Res<'w, ClipSettings>,
    measurements: ResMut<'w, Measurements>,
    validate_all: MessageWriter<'w, ValidateAll>,
    rulers: Res<'w, Rulers>,
    ruler_actions: MessageWriter<'w, RulerAction>,
    camera3d: Query<
        'w,
        's,
        (&'static Camera, &'static GlobalTransform),
        With<super::camera::OrbitCamera>,
    >,
    clip_actions: MessageWriter<'w, ClipAction>,
    pose: Res<'w, super::space::AnatomyPose>,
    not_clipped: Query<'w, 's, (), With<NotClipped>>,
    commands: Commands<'w, 's>,
    run_model: MessageWriter<'w, RunModel>,
    view_actions: MessageWriter<'w, ViewAction>,
    build: MessageWriter<'w, BuildMeshes>,
    open: MessageWriter<'w, OpenRequest>,
    export_now: MessageWriter<'w, ExportRequest>,
    exit: MessageWriter<'w, AppExit>,
    edit: super::edit_ui::EditUi<'w, 's>,
}

const OK: egui::Color32 = egui::Color32::from_rgb(90, 190, 110);
const WARN: egui::Color32 = egui::Color32::from_rgb(235, 170, 50);
const ERR: egui::Color32 = egui::Color32::from_rgb(230, 80, 70);

fn ui_system(mut p: UiParams) -> Result {
    let ctx = p.contexts.ctx_mut()?.clone();
    // Slice textures first, so the views below draw this frame's images.
    if let Some(study) = p.study.as_deref() {
        let colours = overlay_colours(
            p.segments.iter().map(|(_, s, _)| s),
            p.slices.overlay_opacity,
        );
        let preview = p
            .tools
            .preview
            .then_some((p.tools.lo, p.tools.hi, [255, 200, 40]));
        update_textures(&ctx, study, &p.slices, &colours, preview, &mut p.textures);
        if p.slices.contours {
            let surfaces: Vec<(&Segment, &SegmentSurface)> = p
                .segments
                .iter()
                .filter_map(|(_, s, m)| m.map(|m| (s, m)))
                .collect();
            update_contours(&p.slices, &surfaces, &mut p.textures);
        }
    }
    let mut root = egui::Ui::new(
        ctx.clone(),
        "root".into(),
        egui::UiBuilder::new()
            .layer_id(egui::LayerId::background())
            .max_rect(ctx.viewport_rect()),
    );
    menu_bar(&mut root, &mut p);
    egui::Panel::left("study")
        .resizable(true)
        .default_size(300.0)
        .show(&mut root, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| study_panel(ui, &p));
        });
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
                    tools_panel(ui, &mut p);
                    ui.separator();
                    let selected = p
                        .tools
                        .selected
                        .and_then(|e| p.segments.get(e).ok().map(|(_, s, _)| s.name.clone()));
                    p.edit.panels(ui, selected);
                    ui.separator();
                    ai_panel(ui, &mut p);
                    ui.separator();
                    clip_panel(ui, &mut p);
                    ui.separator();
                    surface_panel(ui, &mut p);
                });
        });
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
    view_overlay(&ctx, view, &mut p);
    dialogs(&ctx, &mut p);
    p.edit.dialogs_and_keys(&ctx);
    Ok(())
}

fn menu_bar(root: &mut egui::Ui, p: &mut UiParams) {
    egui::Panel::top("menu").show(root, |ui| {
        ui.horizontal(|ui| {
            ui.menu_button("File", |ui| {
                if ui.button("Open…").clicked() {
                    p.open_dialog.open = true;
                    ui.close();
                }
                if ui.button("Open the demo study").clicked() {
                    match super::demo::open_request() {
                        Ok(request) => {
                            p.open.write(request);
                        }
                        Err(e) => p
                            .notices
                            .error(format!("The demo study could not be written: {e}")),
                    }
                    ui.close();
                }
                if ui.button("Export…").clicked() {
                    p.export.open = true;
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
            ui.menu_button("View", |ui| {
                if ui.button("Reset view (Home)").clicked() {
                    p.view_actions.write(ViewAction::Reset);
                    ui.close();
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

fn study_panel(ui: &mut egui::Ui, p: &UiParams) {
    ui.heading("Study");
    let Some(study) = p.study.as_deref() else {
        ui.label("Nothing open yet.");
        return;
    };
    let v = &study.volume;
    let (nz, ny, nx) = v.dim();
    let g = &v.geometry;
    egui::Grid::new("study-grid").num_columns(2).show(ui, |ui| {
        ui.label("Modality");
        ui.label(&v.modality);
        ui.end_row();
        ui.label("Size");
        ui.label(format!("{nx} × {ny} × {nz} voxels"));
        ui.end_row();
        ui.label("Spacing");
        ui.label(format!(
            "{:.2} × {:.2} × {:.2} mm",
            g.spacing[0], g.spacing[1], g.spacing[2]
        ));
        ui.end_row();
        ui.label("Extent");
        ui.label(format!(
            "{:.0} × {:.0} × {:.0} mm",
            nx as f64 * g.spacing[0],
            ny as f64 * g.spacing[1],
            nz as f64 * g.spacing[2]
        ));
        ui.end_row();
        ui.label("Orientation");
        ui.label(g.orientation_code());
        ui.end_row();
        ui.label("Values");
        let (lo, hi) = (study.histogram.lo, study.histogram.hi);
        let unit = if v.is_ct() { " HU" } else { "" };
        ui.label(format!("{lo:.0} … {hi:.0}{unit}"));
        ui.end_row();
    });
    ui.add_space(8.0);
    ui.heading("Series check");
    let report = &study.report;
    if report.checks.is_empty() {
        ui.label("No checks for this source.");
    }
    let mut last = None;
    for c in &report.checks {
        if last != Some(c.category) {
            ui.add_space(4.0);
            ui.strong(c.category.title());
            last = Some(c.category);
        }
        ui.horizontal_wrapped(|ui| {
            let (mark, colour) = match c.status {
                Status::Ok => ("✔", OK),
                Status::Warning => ("⚠", WARN),
                Status::Error => ("✖", ERR),
            };
            ui.colored_label(colour, mark);
            ui.label(&c.message);
        });
    }
}

fn segments_panel(ui: &mut egui::Ui, p: &mut UiParams) {
    let mut rows: Vec<(Entity, Segment)> =
        p.segments.iter().map(|(e, s, _)| (e, s.clone())).collect();
    rows.sort_by_key(|(_, s)| s.id);
    if rows.is_empty() {
        ui.label("No segments yet: add one with the tools below.");
    }
    ui.horizontal(|ui| {
        if ui.small_button("Show all").clicked() {
            for (_, s) in rows.iter_mut() {
                s.visible = true;
            }
        }
        if ui.small_button("Hide all").clicked() {
            for (_, s) in rows.iter_mut() {
                s.visible = false;
            }
        }
    });
    let mut delete = None;
    for (e, seg) in rows.iter_mut() {
        let selected = p.tools.selected == Some(*e);
        ui.horizontal(|ui| {
            ui.color_edit_button_srgb(&mut seg.colour);
            ui.checkbox(&mut seg.visible, "");
            let name = egui::TextEdit::singleline(&mut seg.name).desired_width(110.0);
            let r = ui.add(name);
            if r.gained_focus() || r.clicked() {
                p.tools.selected = Some(*e);
            }
            let ml = match seg.surface {
                Some(s) => format!("{:.1} mL", s.volume_ml),
                None => format!("{:.1} mL*", seg.voxel_ml),
            };
            let flagged = p
                .measurements
                .checks
                .get(&seg.id)
                .is_some_and(|(_, v)| !v.flags.is_empty());
            let label = ui.selectable_label(selected, if flagged { format!("⚠ {ml}") } else { ml });
            if label.clicked() {
                p.tools.selected = if selected { None } else { Some(*e) };
            }
            label.on_hover_text(match seg.surface {
                Some(s) => format!(
                    "voxels {:.2} mL, surface {:.2} mL, area {:.0} cm², {} triangles{}",
                    seg.voxel_ml,
                    s.volume_ml,
                    s.area_mm2 / 100.0,
                    s.triangles,
                    if s.watertight {
                        ", watertight"
                    } else {
                        ", NOT watertight"
                    }
                ),
                None => "from the voxels; the 3D surface is not built yet".into(),
            });
        });
        if selected {
            let mut cut = !p.not_clipped.contains(*e);
            if ui
                .checkbox(&mut cut, "Cut by the clip planes")
                .on_hover_text("Off keeps this segment whole while the planes cut the others")
                .changed()
            {
                if cut {
                    p.commands.entity(*e).remove::<NotClipped>();
                } else {
                    p.commands.entity(*e).insert(NotClipped);
                }
            }
            ui.horizontal(|ui| {
                ui.add(egui::Slider::new(&mut seg.opacity, 0.0..=1.0).text("opacity"));
                if ui
                    .small_button("🗑 Delete")
                    .on_hover_text("Delete this segment")
                    .clicked()
                {
                    delete = Some(*e);
                }
            });
        }
    }
    for (e, seg) in rows {
        if let Ok((_, mut current, _)) = p.segments.get_mut(e)
            && *current != seg
        {
            *current = seg;
        }
    }
    if let Some(e) = delete {
        p.seg_commands.write(SegmentCommand::Delete(e));
    }
}

fn tools_panel(ui: &mut egui::Ui, p: &mut UiParams) {
    ui.heading("Tools");
    let Some(study) = p.study.as_deref() else {
        ui.label("Open a study to segment it.");
        return;
    };
    ui.label("Threshold presets:");
    ui.horizontal_wrapped(|ui| {
        for preset in Preset::ALL {
            if ui.button(preset.name()).clicked() {
                let (lo, hi) = preset.window(&study.volume);
                p.tools.lo = lo;
                p.tools.hi = hi;
                p.tools.preview = true;
            }
        }
    });
    histogram_plot(ui, study, p.tools.lo, p.tools.hi);
    let (min, max) = (study.histogram.lo, study.histogram.hi);
    ui.horizontal(|ui| {
        ui.label("from");
        ui.add(
            egui::DragValue::new(&mut p.tools.lo)
                .range(min..=max)
                .speed(5.0),
        );
        ui.label("to");
        ui.add(
            egui::DragValue::new(&mut p.tools.hi)
                .range(min..=max)
                .speed(5.0),
        );
        if study.volume.is_ct() {
            ui.label("HU");
        }
    });
    if p.tools.lo > p.tools.hi {
        let t = &mut *p.tools;
        std::mem::swap(&mut t.lo, &mut t.hi);
    }
    ui.checkbox(&mut p.tools.preview, "Preview on the slices");
    ui.horizontal_wrapped(|ui| {
        if ui
            .button("Add segment")
            .on_hover_text("A new segment of every voxel in the window")
            .clicked()
        {
            let name = Preset::ALL
                .iter()
                .find(|pr| pr.window(&study.volume) == (p.tools.lo, p.tools.hi))
                .map(|pr| pr.name().to_string())
                .unwrap_or_else(|| format!("Threshold {:.0}..{:.0}", p.tools.lo, p.tools.hi));
            p.seg_commands.write(SegmentCommand::Threshold {
                name,
                lo: p.tools.lo,
                hi: p.tools.hi,
            });
            p.tools.preview = false;
        }
        let seed = ui
            .selectable_label(p.tools.seed_mode, "Grow from a seed…")
            .on_hover_text("Then click a point of the structure on a slice: the connected voxels in the window become a segment");
        if seed.clicked() {
            p.tools.seed_mode = !p.tools.seed_mode;
        }
    });
    if p.tools.seed_mode {
        ui.colored_label(WARN, "Click inside the structure on a slice view.");
    }
    ui.horizontal(|ui| {
        let ruler = ui
            .selectable_label(p.rulers.placing, "📏 Ruler")
            .on_hover_text("Click two points on a surface or a slice: the distance in mm");
        if ruler.clicked() {
            p.ruler_actions.write(RulerAction::Place(!p.rulers.placing));
        }
        if !p.rulers.items.is_empty() {
            ui.label(format!(
                "{} rulers (see Measurements)",
                p.rulers.items.len()
            ));
        }
    });
    if p.rulers.placing {
        ui.colored_label(
            WARN,
            if p.rulers.first.is_some() {
                "Click the second point."
            } else {
                "Click the first point on a surface or a slice."
            },
        );
    }
    let selected = p
        .tools
        .selected
        .and_then(|e| p.segments.get(e).ok().map(|(_, s, _)| (e, s.name.clone())));
    ui.add_enabled_ui(selected.is_some(), |ui| {
        let label = match &selected {
            Some((_, n)) => format!("Keep the largest island of {n}"),
            None => "Keep the largest island (select a segment)".into(),
        };
        if ui.button(label).clicked()
            && let Some((e, _)) = selected
        {
            p.seg_commands.write(SegmentCommand::KeepLargest(e));
        }
    });
}

/// The measurements table: per segment volumes, area, extent and the check
/// against the scan (Dice, distances, volume difference, closed), with the
/// flagged rows marked; copyable as CSV.
fn measurements_window(ctx: &egui::Context, p: &mut UiParams) {
    if !p.measurements.open {
        return;
    }
    let mut rows: Vec<(u16, Row)> = p
        .segments
        .iter()
        .map(|(_, s, m)| {
            let mesh = m.map(|m| m.0.clone());
            (
                s.id,
                Row {
                    name: s.name.clone(),
                    voxel_ml: s.voxel_ml,
                    mesh_ml: s.surface.map(|x| x.volume_ml),
                    area_cm2: s.surface.map(|x| x.area_mm2 / 100.0),
                    extent_mm: mesh
                        .and_then(|m| m.bounds())
                        .map(|(lo, hi)| [hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]]),
                    check: p.measurements.current(s.id, m).cloned(),
                },
            )
        })
        .collect();
    rows.sort_by_key(|r| r.0);
    let rows: Vec<Row> = rows.into_iter().map(|(_, r)| r).collect();
    let mut open = true;
    let running = p
        .jobs
        .iter()
        .any(|j| j.title.starts_with("Checking the surfaces"));
    egui::Window::new("Measurements")
        .open(&mut open)
        .default_size([760.0, 420.0])
        .show(ctx, |ui| {
            ui.horizontal(|ui| {
                if ui
                    .add_enabled(!running, egui::Button::new("Check against the scan"))
                    .on_hover_text(
                        "Voxelise each surface and compare it with the segment: Dice, \
                         surface distances (mean, 95th percentile, max), volume difference",
                    )
                    .clicked()
                {
                    p.validate_all.write(ValidateAll);
                }
                if ui.button("Copy CSV").clicked() {
                    ui.ctx().copy_text(to_csv(&rows));
                    p.notices.info("Measurements copied as CSV");
                }
                ui.label("Flag: p95 distance over one voxel diagonal, Dice < 0.90, volume off by > 5%, or not closed.");
            });
            if !p.rulers.items.is_empty() {
                ui.separator();
                ui.strong("Rulers");
                let mut delete = None;
                for (i, r) in p.rulers.items.iter().enumerate() {
                    ui.horizontal(|ui| {
                        ui.label(format!(
                            "{}: {:.1} mm  (L {:.0} P {:.0} S {:.0} → L {:.0} P {:.0} S {:.0})",
                            i + 1,
                            r.length_mm(),
                            r.a[0],
                            r.a[1],
                            r.a[2],
                            r.b[0],
                            r.b[1],
                            r.b[2]
                        ));
                        if ui.small_button("Delete").clicked() {
                            delete = Some(i);
                        }
                    });
                }
                if let Some(i) = delete {
                    p.ruler_actions.write(RulerAction::Delete(i));
                }
            }
            ui.separator();
            egui::ScrollArea::both().show(ui, |ui| {
                egui::Grid::new("measurements")
                    .striped(true)
                    .num_columns(12)
                    .show(ui, |ui| {
                        for h in [
                            "segment", "check", "voxels mL", "mesh mL", "Δ vol %", "area cm²",
                            "extent mm (x·y·z)", "Dice", "mean mm", "p95 mm", "max mm", "closed",
                        ] {
                            ui.strong(h);
                        }
                        ui.end_row();
                        let na = || "–".to_string();
                        for r in &rows {
                            let c = r.check.as_ref();
                            ui.label(&r.name);
                            match c {
                                Some(c) if c.flags.is_empty() => {
                                    ui.colored_label(OK, "✔ ok");
                                }
                                Some(c) => {
                                    ui.colored_label(WARN, "⚠ flagged")
                                        .on_hover_text(c.flags.join("\n"));
                                }
                                None => {
                                    ui.label("not checked");
                                }
                            }
                            ui.label(format!("{:.1}", r.voxel_ml));
                            ui.label(r.mesh_ml.map(|v| format!("{v:.1}")).unwrap_or_else(na));
                            ui.label(
                                r.mesh_ml
                                    .filter(|_| r.voxel_ml > 0.0)
                                    .map(|m| format!("{:+.1}", 100.0 * (m - r.voxel_ml) / r.voxel_ml))
                                    .unwrap_or_else(na),
                            );
                            ui.label(r.area_cm2.map(|v| format!("{v:.0}")).unwrap_or_else(na));
                            ui.label(
                                r.extent_mm
                                    .map(|e| format!("{:.0} × {:.0} × {:.0}", e[0], e[1], e[2]))
                                    .unwrap_or_else(na),
                            );
                            ui.label(c.map(|c| format!("{:.3}", c.dice)).unwrap_or_else(na));
                            ui.label(c.map(|c| format!("{:.2}", c.surface.mean_mm)).unwrap_or_else(na));
                            ui.label(c.map(|c| format!("{:.2}", c.surface.p95_mm)).unwrap_or_else(na));
                            ui.label(c.map(|c| format!("{:.2}", c.surface.max_mm)).unwrap_or_else(na));
                            ui.label(c.map(|c| if c.watertight { "yes" } else { "NO" }.to_string()).unwrap_or_else(na));
                            ui.end_row();
                        }
                    });
            });
        });
    if !open {
        p.measurements.open = false;
    }
}

/// Clip planes: on/off, direction, position, tilt, flip; the cut faces show
/// the scan with the slice views' window.
fn clip_panel(ui: &mut egui::Ui, p: &mut UiParams) {
    ui.heading("Clip planes");
    let Some(study) = p.study.as_deref() else {
        ui.label("Open a study to cut it.");
        return;
    };
    // Half the diagonal of the scan: every plane position that cuts it.
    let (nz, ny, nx) = study.volume.dim();
    let s = study.volume.geometry.spacing;
    let reach = 0.5
        * ((nx as f64 * s[0]).powi(2) + (ny as f64 * s[1]).powi(2) + (nz as f64 * s[2]).powi(2))
            .sqrt();
    let mut actions = Vec::new();
    for index in 0..MAX_PLANES {
        let slot = p.clip.slots[index];
        ui.horizontal(|ui| {
            let mut on = slot.enabled;
            if ui.checkbox(&mut on, format!("{}", index + 1)).changed() {
                actions.push(ClipAction::Enable { index, on });
            }
            let mut kind = slot.kind;
            egui::ComboBox::from_id_salt(("clip-kind", index))
                .width(90.0)
                .selected_text(kind.name())
                .show_ui(ui, |ui| {
                    for k in ClipKind::ALL {
                        ui.selectable_value(&mut kind, k, k.name());
                    }
                });
            if kind != slot.kind {
                actions.push(ClipAction::Orient { index, kind });
            }
            if ui
                .small_button("Flip")
                .on_hover_text("Cut away the other side")
                .clicked()
            {
                actions.push(ClipAction::Flip { index });
            }
        });
        if slot.enabled {
            let mut offset = p.clip.offset(index);
            if ui
                .add(
                    egui::Slider::new(&mut offset, -reach..=reach)
                        .text("mm")
                        .fixed_decimals(0),
                )
                .changed()
            {
                actions.push(ClipAction::Offset { index, mm: offset });
            }
            ui.horizontal(|ui| {
                ui.label("tilt");
                for (label, pitch, yaw) in [
                    ("▲", -10.0, 0.0),
                    ("▼", 10.0, 0.0),
                    ("◀", 0.0, -10.0),
                    ("▶", 0.0, 10.0),
                ] {
                    if ui
                        .small_button(label)
                        .on_hover_text("Tilt the plane by 10°")
                        .clicked()
                    {
                        actions.push(ClipAction::Tilt { index, pitch, yaw });
                    }
                }
            });
        }
    }
    for a in actions {
        p.clip_actions.write(a);
    }
}

/// AI segmentation: pick a model, read what it is for, run it.
fn ai_panel(ui: &mut egui::Ui, p: &mut UiParams) {
    ui.heading("AI segmentation");
    let models = &mut *p.models;
    if models.models.is_empty() {
        ui.label(format!(
            "No models in {}. A model is a folder with model.onnx and manifest.json.",
            models.dir.display()
        ));
    } else {
        let current = models.selected.min(models.models.len() - 1);
        egui::ComboBox::from_id_salt("ai-model")
            .width(ui.available_width() - 8.0)
            .selected_text(models.models[current].manifest.title.clone())
            .show_ui(ui, |ui| {
                for (i, m) in models.models.iter().enumerate() {
                    ui.selectable_value(&mut models.selected, i, &m.manifest.title);
                }
            });
        let m = &models.models[models.selected.min(models.models.len() - 1)].manifest;
        ui.small(format!(
            "{} · {} · licence {} · {}",
            m.modality,
            m.anatomy,
            m.licence,
            m.output
                .labels
                .iter()
                .map(|l| l.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .on_hover_text(&m.source);
        if let Some(study) = p.study.as_deref()
            && !study.volume.modality.eq_ignore_ascii_case(&m.modality)
            && study.volume.modality != "OT"
        {
            ui.colored_label(
                WARN,
                format!(
                    "Trained on {}, this study is {}: expect a poor result.",
                    m.modality, study.volume.modality
                ),
            );
        }
        let running = p.jobs.iter().any(|j| j.title.starts_with("AI: "));
        ui.horizontal(|ui| {
            let can_run = p.study.is_some() && models.runtime.is_ok() && !running;
            let run = ui.add_enabled(can_run, egui::Button::new("Run"));
            let run = match (&models.runtime, running) {
                (Err(e), _) => run.on_disabled_hover_text(e),
                (_, true) => run.on_disabled_hover_text("A model is running (see the jobs)"),
                _ => run.on_hover_text(
                    "Segment the whole scan in the background; the labels become segments",
                ),
            };
            if run.clicked() {
                p.run_model.write(RunModel(models.selected));
            }
            if ui.button("Rescan folder").clicked() {
                models.refresh();
            }
        });
        if let Err(e) = &models.runtime {
            ui.colored_label(ERR, e);
        }
    }
    for problem in &models.problems {
        ui.colored_label(ERR, problem);
    }
}

/// The intensity histogram (log counts) with the threshold window shaded.
fn histogram_plot(ui: &mut egui::Ui, study: &Study, lo: f64, hi: f64) {
    let h = &study.histogram;
    let (rect, _) =
        ui.allocate_exact_size(egui::vec2(ui.available_width(), 70.0), egui::Sense::hover());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, egui::Color32::from_gray(25));
    let max = h
        .counts
        .iter()
        .map(|&c| ((c + 1) as f32).ln())
        .fold(0.0f32, f32::max)
        .max(1.0);
    let n = h.counts.len().max(1) as f32;
    let x_of = |v: f64| rect.min.x + ((v - h.lo) / (h.hi - h.lo).max(1e-9)) as f32 * rect.width();
    let (x0, x1) = (x_of(lo).max(rect.min.x), x_of(hi).min(rect.max.x));
    if x1 > x0 {
        painter.rect_filled(
            egui::Rect::from_min_max(egui::pos2(x0, rect.min.y), egui::pos2(x1, rect.max.y)),
            0.0,
            egui::Color32::from_rgba_unmultiplied(255, 200, 40, 50),
        );
    }
    for (i, &c) in h.counts.iter().enumerate() {
        let x = rect.min.x + (i as f32 + 0.5) / n * rect.width();
        let t = ((c + 1) as f32).ln() / max;
        painter.line_segment(
            [
                egui::pos2(x, rect.max.y),
                egui::pos2(x, rect.max.y - t * rect.height()),
            ],
            egui::Stroke::new(1.0, egui::Color32::from_gray(170)),
        );
    }
}

fn surface_panel(ui: &mut egui::Ui, p: &mut UiParams) {
    ui.heading("3D surface");
    ui.checkbox(
        &mut p.surface.smooth_surface,
        "Smooth surface (off: raw voxel steps)",
    );
    ui.add(egui::Slider::new(&mut p.surface.smooth_iterations, 0..=40).text("smoothing passes"));
    let mut keep = (1.0 - p.surface.reduce) * 100.0;
    ui.add(egui::Slider::new(&mut keep, 5.0..=100.0).text("% triangles kept"));
    p.surface.reduce = 1.0 - keep / 100.0;
    ui.horizontal(|ui| {
        if ui
            .button("Build 3D")
            .on_hover_text("Rebuild every segment's surface with these settings")
            .clicked()
        {
            p.build.write(BuildMeshes { ids: Vec::new() });
        }
        if ui.button("Export…").clicked() {
            p.export.open = true;
        }
    });
}

fn slices_panel(ui: &mut egui::Ui, p: &mut UiParams) {
    let auto = p
        .study
        .as_deref()
        .map(|s| s.auto_window)
        .unwrap_or((0.0, 1.0));
    ui.horizontal_wrapped(|ui| {
        ui.label("Window:");
        for preset in WindowPreset::ALL {
            if ui
                .selectable_label(p.slices.preset == preset, preset.name())
                .clicked()
            {
                p.slices.set_preset(preset, auto);
            }
        }
        ui.separator();
        ui.add(
            egui::DragValue::new(&mut p.slices.window.center)
                .speed(2.0)
                .prefix("level "),
        );
        ui.add(
            egui::DragValue::new(&mut p.slices.window.width)
                .speed(4.0)
                .range(1.0..=100000.0)
                .prefix("width "),
        );
        ui.separator();
        ui.add(egui::Slider::new(&mut p.slices.overlay_opacity, 0.0..=1.0).text("overlay"));
        ui.checkbox(&mut p.slices.contours, "mesh contours")
            .on_hover_text(
                "Draw where each 3D surface cuts the slice: check the model against the scan",
            );
        if let Some(pos) = p.slices.crosshair_lps() {
            ui.separator();
            ui.label(format!(
                "L {:.1} P {:.1} S {:.1} mm",
                pos[0], pos[1], pos[2]
            ));
        }
    });
    let mut commands = Vec::new();
    let height = ui.available_height();
    let clips: Vec<_> = p.clip.active().map(|(i, c)| (i, *c)).collect();
    ui.columns(3, |cols| {
        let extras = SliceExtras {
            clips: &clips,
            rulers: &p.rulers,
            brush: p.edit.brush_on_slices(),
        };
        for (ui, plane) in cols.iter_mut().zip(Plane::ALL) {
            slice_view(
                ui,
                plane,
                &mut p.slices,
                &p.textures,
                &p.tools,
                &extras,
                &mut commands,
                height,
            );
        }
    });
    for c in commands {
        match c {
            SliceEvent::Segment(c) => {
                p.seg_commands.write(c);
            }
            SliceEvent::Ruler(r) => {
                p.ruler_actions.write(r);
            }
            SliceEvent::Brush(b) => {
                p.edit.brush_actions.write(b);
            }
        }
    }
}

/// Over the 3D view: progress of running jobs with Cancel, and notices.
fn view_overlay(ctx: &egui::Context, view: egui::Rect, p: &mut UiParams) {
    // Ruler lengths at their midpoints in the 3D view (the lines are gizmos).
    if let Ok((camera, at)) = p.camera3d.single()
        && !p.rulers.items.is_empty()
    {
        let painter = ctx.layer_painter(egui::LayerId::new(
            egui::Order::Middle,
            egui::Id::new("ruler-labels"),
        ));
        for r in &p.rulers.items {
            let mid = [
                (r.a[0] + r.b[0]) / 2.0,
                (r.a[1] + r.b[1]) / 2.0,
                (r.a[2] + r.b[2]) / 2.0,
            ];
            // Viewport coordinates already count from the window's corner.
            if let Ok(v) = camera.world_to_viewport(at, p.pose.lps_to_world(mid)) {
                let pos = egui::pos2(v.x, v.y);
                if view.contains(pos) {
                    let galley = painter.layout_no_wrap(
                        format!("{:.1} mm", r.length_mm()),
                        egui::FontId::proportional(14.0),
                        egui::Color32::from_rgb(255, 170, 70),
                    );
                    let at = pos + egui::vec2(-galley.size().x / 2.0, -galley.size().y - 6.0);
                    painter.rect_filled(
                        egui::Rect::from_min_size(at, galley.size()).expand(3.0),
                        3.0,
                        egui::Color32::from_black_alpha(170),
                    );
                    painter.galley(at, galley, egui::Color32::WHITE);
                }
            }
        }
    }
    let jobs: Vec<JobInfo> = p.jobs.iter().cloned().collect();
    if !jobs.is_empty() {
        egui::Area::new("jobs".into())
            .fixed_pos(egui::pos2(
                view.min.x + 12.0,
                view.max.y - 16.0 - 46.0 * jobs.len() as f32,
            ))
            .show(ctx, |ui| {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.set_width((view.width() - 48.0).clamp(200.0, 520.0));
                    for job in &jobs {
                        let pr = &job.progress;
                        ui.horizontal(|ui| {
                            ui.label(&job.title);
                            if ui.button("Cancel").clicked() {
                                pr.cancel();
                            }
                        });
                        let stage = pr.stage();
                        let text = if pr.total() > 0 {
                            format!("{stage} {}/{}", pr.done(), pr.total())
                        } else {
                            stage
                        };
                        ui.add(
                            egui::ProgressBar::new(pr.fraction())
                                .text(text)
                                .animate(true),
                        );
                    }
                });
            });
    }
    if p.study.is_none() && jobs.is_empty() {
        egui::Area::new("welcome".into())
            .fixed_pos(view.center() - egui::vec2(180.0, 40.0))
            .show(ctx, |ui| {
                ui.label("Open a DICOM folder or a NIfTI file (File ▸ Open),\ndrop one on this window, or open the demo study.");
            });
    }
    if !p.notices.items.is_empty() {
        let mut dismiss = None;
        egui::Area::new("notices".into())
            .fixed_pos(egui::pos2(view.min.x + 12.0, view.min.y + 12.0))
            .show(ctx, |ui| {
                ui.set_max_width((view.width() - 24.0).clamp(200.0, 600.0));
                for (i, n) in p.notices.items.iter().enumerate().rev().take(4) {
                    egui::Frame::popup(ui.style()).show(ui, |ui| {
                        ui.horizontal_wrapped(|ui| {
                            if n.error {
                                ui.colored_label(ERR, "✖");
                            } else {
                                ui.colored_label(OK, "ℹ");
                            }
                            ui.label(&n.text);
                            if ui.small_button("OK").clicked() {
                                dismiss = Some(i);
                            }
                        });
                    });
                }
            });
        if let Some(i) = dismiss {
            p.notices.items.remove(i);
        }
    }
}

fn dialogs(ctx: &egui::Context, p: &mut UiParams) {
    measurements_window(ctx, p);
    open_dialog(ctx, p);
    series_dialog(ctx, p);
    export_dialog(ctx, p);
}

fn open_dialog(ctx: &egui::Context, p: &mut UiParams) {
    if !p.open_dialog.open {
        return;
    }
    let mut keep_open = true;
    let mut request = None;
    egui::Window::new("Open a scan")
        .open(&mut keep_open)
        .default_width(520.0)
        .show(ctx, |ui| {
            ui.label("A DICOM folder (all series in it are found) or a .nii / .nii.gz file:");
            ui.add(
                egui::TextEdit::singleline(&mut p.open_dialog.path).desired_width(f32::INFINITY),
            );
            let dir = PathBuf::from(&p.open_dialog.path);
            let browse = if dir.is_dir() {
                dir.clone()
            } else {
                dir.parent()
                    .map(|d| d.to_path_buf())
                    .unwrap_or_else(|| "/".into())
            };
            ui.horizontal(|ui| {
                if ui.button("⬆ Up").clicked()
                    && let Some(parent) = browse.parent()
                {
                    p.open_dialog.path = parent.to_string_lossy().into_owned();
                }
                if ui.button("Open").clicked() {
                    request = Some(PathBuf::from(&p.open_dialog.path));
                }
            });
            egui::ScrollArea::vertical()
                .max_height(300.0)
                .show(ui, |ui| {
                    let mut entries: Vec<(bool, PathBuf)> = std::fs::read_dir(&browse)
                        .map(|rd| {
                            rd.flatten()
                                .map(|e| (e.path().is_dir(), e.path()))
                                .filter(|(_, p)| {
                                    !p.file_name()
                                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    entries.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
                    for (is_dir, path) in entries.into_iter().take(500) {
                        let name = path
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        let label = if is_dir { format!("📁 {name}") } else { name };
                        let r = ui.selectable_label(
                            std::path::Path::new(&p.open_dialog.path) == path,
                            label,
                        );
                        if r.clicked() {
                            p.open_dialog.path = path.to_string_lossy().into_owned();
                        }
                        if r.double_clicked() {
                            request = Some(path);
                        }
                    }
                });
        });
    if let Some(path) = request {
        p.open.write(OpenRequest {
            path,
            series: None,
            labels: None,
        });
        keep_open = false;
    }
    p.open_dialog.open = keep_open;
}

fn series_dialog(ctx: &egui::Context, p: &mut UiParams) {
    let Some((path, list)) = p.series_choice.pending.clone() else {
        return;
    };
    let mut keep_open = true;
    let mut pick = None;
    egui::Window::new("Pick a series")
        .open(&mut keep_open)
        .default_width(480.0)
        .show(ctx, |ui| {
            ui.label(format!("{} series in this folder:", list.len()));
            egui::Grid::new("series").striped(true).show(ui, |ui| {
                for s in &list {
                    ui.label(&s.label);
                    ui.label(format!("{} slices", s.slices));
                    ui.label(&s.size);
                    if ui.button("Open").clicked() {
                        pick = Some(s.id.clone());
                    }
                    ui.end_row();
                }
            });
        });
    if let Some(id) = pick {
        p.open.write(OpenRequest {
            path,
            series: Some(id),
            labels: None,
        });
        keep_open = false;
    }
    if !keep_open {
        p.series_choice.pending = None;
    }
}

fn export_dialog(ctx: &egui::Context, p: &mut UiParams) {
    if !p.export.open {
        return;
    }
    let mut keep_open = true;
    let mut go = false;
    egui::Window::new("Export")
        .open(&mut keep_open)
        .default_width(460.0)
        .show(ctx, |ui| {
            ui.horizontal(|ui| {
                ui.label("Format:");
                ui.radio_value(
                    &mut p.export.format,
                    Format::Obj,
                    "OBJ + MTL + PNG (textured)",
                );
                ui.radio_value(&mut p.export.format, Format::Stl, "STL (3D printing)");
                ui.radio_value(&mut p.export.format, Format::Glb, "GLB");
            });
            ui.horizontal(|ui| {
                ui.label("Folder:");
                ui.add(egui::TextEdit::singleline(&mut p.export.folder).desired_width(300.0));
            });
            ui.horizontal(|ui| {
                ui.label("Name:");
                ui.add(egui::TextEdit::singleline(&mut p.export.name).desired_width(200.0));
            });
            ui.checkbox(&mut p.export.visible_only, "Only the visible segments");
            let mut keep = (1.0 - p.export.reduce) * 100.0;
            ui.add(egui::Slider::new(&mut keep, 5.0..=100.0).text("% triangles kept"));
            p.export.reduce = 1.0 - keep / 100.0;
            ui.label(format!("Writes {}", p.export.path().display()));
            ui.label("Units: millimetres, DICOM patient (LPS) axes; no patient data is written.");
            if ui.button("Export").clicked() {
                go = true;
            }
        });
    if go {
        p.export_now.write(ExportRequest);
        keep_open = false;
    }
    p.export.open = keep_open;
}
