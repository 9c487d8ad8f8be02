//! The AI segmentation panel.

use bevy::prelude::*;
use bevy_egui::egui;

use bevy::ecs::system::SystemParam;

use crate::app::features::ai::{AiModels, RunModel};
use crate::app::state::jobs::JobInfo;
use crate::app::state::study::Study;

use super::{ERR, WARN};

/// The AI section: the models found and running one.
#[derive(SystemParam)]
pub struct AiUi<'w, 's> {
    study: Option<Res<'w, Study>>,
    models: ResMut<'w, AiModels>,
    run_model: MessageWriter<'w, RunModel>,
    jobs: Query<'w, 's, &'static JobInfo>,
}

/// AI segmentation: pick a model, read what it is for, run it.
pub(super) fn ai_panel(ui: &mut egui::Ui, p: &mut AiUi) {
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
            m.segment_labels()
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
