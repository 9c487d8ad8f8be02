//! The Surface settings panel.

use bevy::prelude::*;
use bevy_egui::egui;

use crate::app::features::meshing::BuildMeshes;

use bevy::ecs::system::SystemParam;

use crate::app::features::export::ExportSettings;
use crate::app::features::meshing::SurfaceSettings;

/// The surface settings section.
#[derive(SystemParam)]
pub struct SurfaceUi<'w> {
    surface: ResMut<'w, SurfaceSettings>,
    build: MessageWriter<'w, BuildMeshes>,
    export: ResMut<'w, ExportSettings>,
}

pub(super) fn surface_panel(ui: &mut egui::Ui, p: &mut SurfaceUi) {
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
