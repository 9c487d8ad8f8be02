//! The Volume rendering panel: volume and surfaces on/off, the transfer
//! function's preset and its curve over the study's histogram (drag it:
//! left/right shifts, up/down narrows or widens, as a window), shading,
//! the ray step (quality) and the crop box.

use bevy::prelude::*;
use bevy_egui::egui;
use stratum_core::image::transfer::TfPreset;

use bevy::ecs::system::SystemParam;

use crate::app::features::meshing::SurfacesShown;
use crate::app::features::volume::{VolumeScene, VolumeSettings};
use crate::app::state::study::Study;

/// The volume rendering section.
#[derive(SystemParam)]
pub struct VolumeUi<'w> {
    study: Option<Res<'w, Study>>,
    volume: ResMut<'w, VolumeSettings>,
    volume_scene: Option<Res<'w, VolumeScene>>,
    surfaces_shown: ResMut<'w, SurfacesShown>,
}

pub(super) fn volume_panel(ui: &mut egui::Ui, p: &mut VolumeUi) {
    ui.heading("Volume rendering");
    let Some(study) = p.study.as_deref() else {
        ui.label("Open a study to see it in 3D.");
        return;
    };
    let names = axis_names(study);
    let histogram = study.histogram.clone();
    ui.horizontal(|ui| {
        let mut on = p.volume.enabled;
        if ui
            .checkbox(&mut on, "Volume")
            .on_hover_text("The scan itself in 3D, from its intensities")
            .changed()
        {
            p.volume.enabled = on;
        }
        let mut shown = p.surfaces_shown.0;
        if ui
            .checkbox(&mut shown, "Surfaces")
            .on_hover_text("The segment surfaces (each keeps its own visibility)")
            .changed()
        {
            p.surfaces_shown.0 = shown;
        }
    });
    if !p.volume.enabled {
        return;
    }
    let mut preset = p.volume.preset;
    egui::ComboBox::from_id_salt("volume-preset")
        .selected_text(preset.label())
        .show_ui(ui, |ui| {
            for t in TfPreset::ALL {
                ui.selectable_value(&mut preset, t, t.label());
            }
        });
    if preset != p.volume.preset {
        p.volume.show(preset);
    }
    transfer_plot(ui, p, &histogram);
    ui.horizontal(|ui| {
        ui.label(format!(
            "Shift {:+.0} · width ×{:.2}",
            p.volume.shift, p.volume.width
        ));
        if ui.small_button("Reset").clicked() {
            p.volume.shift = 0.0;
            p.volume.width = 1.0;
        }
    });
    let mut shade = p.volume.shade;
    if ui
        .checkbox(&mut shade, "Shaded")
        .on_hover_text("Light the volume from its gradient (off: flat colours, faster)")
        .changed()
    {
        p.volume.shade = shade;
    }
    let mut still = p.volume.still_step;
    let mut moving = p.volume.moving_step;
    ui.add(
        egui::Slider::new(&mut still, 0.25..=2.0)
            .text("step at rest (voxels)")
            .fixed_decimals(2),
    )
    .on_hover_text("Smaller is finer and slower");
    ui.add(
        egui::Slider::new(&mut moving, 0.5..=4.0)
            .text("step while moving")
            .fixed_decimals(2),
    )
    .on_hover_text("Used while the view turns, so it stays fluid");
    if still != p.volume.still_step || moving != p.volume.moving_step {
        p.volume.still_step = still;
        p.volume.moving_step = moving;
    }
    egui::CollapsingHeader::new("Crop box")
        .id_salt("volume-crop")
        .show(ui, |ui| {
            let (mut lo, mut hi) = (p.volume.crop_min, p.volume.crop_max);
            for axis in 0..3 {
                ui.label(names[axis]);
                ui.add(egui::Slider::new(&mut lo[axis], 0.0..=1.0).text("from"));
                ui.add(egui::Slider::new(&mut hi[axis], 0.0..=1.0).text("to"));
            }
            if ui.small_button("Whole scan").clicked() {
                lo = bevy::math::Vec3::ZERO;
                hi = bevy::math::Vec3::ONE;
            }
            if lo != p.volume.crop_min || hi != p.volume.crop_max {
                p.volume.crop_min = lo;
                p.volume.crop_max = hi;
            }
        });
    if let Some(scene) = p.volume_scene.as_deref()
        && scene.gpu_bytes > 0
    {
        ui.weak(format!(
            "{:.0} MB on the GPU (16-bit scan)",
            scene.gpu_bytes as f64 / 1e6
        ));
    }
}

/// What each index axis of the grid runs along, in words (for the crop box).
fn axis_names(study: &crate::app::state::study::Study) -> [&'static str; 3] {
    let d = study.volume.geometry.direction;
    std::array::from_fn(|axis| {
        let v = d[axis];
        let main = (0..3)
            .max_by(|&a, &b| v[a].abs().total_cmp(&v[b].abs()))
            .unwrap_or(0);
        ["Right – left", "Front – back", "Feet – head"][main]
    })
}

/// The transfer function over the histogram: opacity as a curve, colour as
/// a strip; a drag moves it (horizontal: shift, vertical: width).
fn transfer_plot(ui: &mut egui::Ui, p: &mut VolumeUi, h: &stratum_core::segment::Histogram) {
    let (rect, response) =
        ui.allocate_exact_size(egui::vec2(ui.available_width(), 90.0), egui::Sense::drag());
    let painter = ui.painter_at(rect);
    painter.rect_filled(rect, 2.0, egui::Color32::from_gray(25));
    let (lo, hi) = (h.lo, h.hi.max(h.lo + 1.0));
    let max = h
        .counts
        .iter()
        .map(|&c| ((c + 1) as f32).ln())
        .fold(0.0f32, f32::max)
        .max(1.0);
    let n = h.counts.len().max(1) as f32;
    let strip = 10.0;
    let plot_bottom = rect.max.y - strip;
    for (i, &c) in h.counts.iter().enumerate() {
        let x = rect.min.x + (i as f32 + 0.5) / n * rect.width();
        let t = ((c + 1) as f32).ln() / max;
        painter.line_segment(
            [
                egui::pos2(x, plot_bottom),
                egui::pos2(x, plot_bottom - t * (plot_bottom - rect.min.y)),
            ],
            egui::Stroke::new(1.0, egui::Color32::from_gray(90)),
        );
    }
    let tf = p.volume.transfer();
    let columns = rect.width().max(2.0) as usize;
    let mut curve = Vec::with_capacity(columns);
    for i in 0..columns {
        let v = lo + (hi - lo) * i as f64 / (columns - 1) as f64;
        let [r, g, b, a] = tf.sample(v);
        let x = rect.min.x + i as f32;
        // Opacity per step is small for soft tissue: a square root shows it.
        let y = plot_bottom - a.clamp(0.0, 1.0).sqrt() * (plot_bottom - rect.min.y - 2.0);
        curve.push(egui::pos2(x, y));
        let srgb = |c: f32| (c.clamp(0.0, 1.0).powf(1.0 / 2.2) * 255.0) as u8;
        painter.line_segment(
            [egui::pos2(x, plot_bottom), egui::pos2(x, rect.max.y)],
            egui::Stroke::new(
                1.0,
                egui::Color32::from_rgb(
                    srgb(r * a.max(0.15)),
                    srgb(g * a.max(0.15)),
                    srgb(b * a.max(0.15)),
                ),
            ),
        );
    }
    painter.add(egui::Shape::line(
        curve,
        egui::Stroke::new(1.5, egui::Color32::from_rgb(255, 200, 40)),
    ));
    let response = response.on_hover_text(
        "Drag left/right to shift, up/down to narrow or widen the transfer function",
    );
    if response.dragged() {
        let d = response.drag_delta();
        let per_px = (hi - lo) / rect.width().max(1.0) as f64;
        p.volume.shift += d.x as f64 * per_px;
        p.volume.width = (p.volume.width * (-(d.y as f64) * 0.01).exp()).clamp(0.05, 20.0);
    }
}
