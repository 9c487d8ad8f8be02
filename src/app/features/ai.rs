//! AI segmentation in the app: the models found in the models folder, a
//! background job that runs one over the open study (progress per patch,
//! cancel between patches), and its labels added to the document as one
//! edit: segments with the manifest's names, colours and opacities, each
//! meshed from the network's soft output.

use std::path::PathBuf;
use std::sync::Arc;

use bevy::prelude::*;
use stratum_core::ai::{
    AiSegmentation, ModelInfo, component_volumes_ml, list_models, models_dir, runtime,
};
use stratum_core::base::progress::Progress;
use stratum_core::document::{Edit, ModelSegment};

use crate::app::state::document::DocEdit;
use crate::app::state::jobs::{JobDone, JobPlugin, Notices, spawn_job};
use crate::app::state::study::{Study, StudyLoaded};

/// The installed models and the state of ONNX Runtime.
#[derive(Resource, Debug)]
pub struct AiModels {
    pub dir: PathBuf,
    /// Usable models, and the folders whose manifest or model is wrong.
    pub models: Vec<ModelInfo>,
    pub problems: Vec<String>,
    pub selected: usize,
    /// Why AI segmentation cannot run here (no ONNX Runtime), if so.
    pub runtime: Result<(), String>,
}

impl Default for AiModels {
    fn default() -> Self {
        let mut m = AiModels {
            dir: models_dir(),
            models: Vec::new(),
            problems: Vec::new(),
            selected: 0,
            runtime: Ok(()),
        };
        m.refresh();
        m
    }
}

impl AiModels {
    /// Lists the models folder again (a user may have dropped one in).
    pub fn refresh(&mut self) {
        self.models.clear();
        self.problems.clear();
        for m in list_models(&self.dir) {
            match m {
                Ok(info) => self.models.push(info),
                Err(e) => self.problems.push(e),
            }
        }
        self.selected = self.selected.min(self.models.len().saturating_sub(1));
        self.runtime = if self.models.is_empty() {
            Ok(())
        } else {
            runtime::available()
        };
    }
}

/// Run model `index` of [`AiModels`] over the open study.
#[derive(Message, Clone, Debug)]
pub struct RunModel(pub usize);

/// A model to run once, as soon as the first study has loaded
/// (`stratum FOLDER --model NAME`).
#[derive(Resource, Debug, Default)]
pub struct RunOnLoad(pub Option<String>);

/// A finished model run.
pub struct ModelResult {
    pub model: String,
    pub seg: AiSegmentation,
    /// The manifest's surface opacity per label name (translucent liver).
    pub opacity: Vec<(String, f32)>,
}

pub struct AiPlugin;

impl Plugin for AiPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(JobPlugin::<ModelResult>::default())
            .add_message::<RunModel>()
            .init_resource::<AiModels>()
            .init_resource::<RunOnLoad>()
            .add_systems(Update, (run_on_load, run_models, apply_results).chain());
    }
}

fn run_on_load(
    mut loaded: MessageReader<StudyLoaded>,
    mut pending: ResMut<RunOnLoad>,
    models: Res<AiModels>,
    mut run: MessageWriter<RunModel>,
    mut notices: ResMut<Notices>,
) {
    if loaded.read().last().is_none() {
        return;
    }
    let Some(name) = pending.0.take() else { return };
    match models.models.iter().position(|m| m.manifest.name == name) {
        Some(i) => {
            run.write(RunModel(i));
        }
        None => notices.error(format!(
            "no model named {name:?} in {}; installed: {}",
            models.dir.display(),
            models
                .models
                .iter()
                .map(|m| m.manifest.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

fn run_models(
    mut commands: Commands,
    mut requests: MessageReader<RunModel>,
    models: Res<AiModels>,
    study: Option<Res<Study>>,
    mut notices: ResMut<Notices>,
) {
    for RunModel(i) in requests.read() {
        let Some(study) = study.as_deref() else {
            notices.error("Open a study before running a model");
            continue;
        };
        let Some(model) = models.models.get(*i).cloned() else {
            continue;
        };
        if let Err(e) = &models.runtime {
            notices.error(e.clone());
            continue;
        }
        let volume = study.volume.clone();
        let title = format!("AI: {}", model.manifest.title);
        spawn_job(&mut commands, title, move |p: &Progress| {
            let seg = stratum_core::ai::segment_with_model(&volume, &model, p)?;
            let opacity = model
                .manifest
                .segment_labels()
                .iter()
                .filter_map(|l| Some((l.name.clone(), l.opacity?)))
                .collect();
            Ok(ModelResult {
                model: model.manifest.name.clone(),
                seg,
                opacity,
            })
        });
    }
}

/// A model's labels become one edit: a segment each, named, coloured and
/// as translucent as its manifest says, its surface the network's 0.5
/// level.
fn apply_results(mut done: MessageMutator<JobDone<ModelResult>>, mut doc: DocEdit) {
    for d in done.read() {
        let title = d.title.clone();
        let Some(ModelResult {
            model,
            mut seg,
            opacity,
        }) = doc.notices().take(&title, d.take())
        else {
            continue;
        };
        let mut summary = Vec::new();
        let segments: Vec<ModelSegment> = seg
            .labels
            .segments
            .iter()
            .map(|s| {
                let mask = seg.labels.mask(s.id);
                summary.push(describe(&s.name, &mask));
                ModelSegment {
                    name: s.name.clone(),
                    colour: s.colour,
                    opacity: opacity
                        .iter()
                        .find(|(n, _)| *n == s.name)
                        .map_or(1.0, |(_, o)| *o),
                    mask: Arc::new(mask),
                    soft: seg.soft.remove(&s.id).map(Arc::new),
                }
            })
            .collect();
        let edit = Edit::Model {
            step: format!("AI {model}"),
            segments,
        };
        if doc.apply(&title, edit).is_none() {
            continue;
        }
        let t = &seg.times;
        doc.notices().info(format!(
            "{model}: {} ({} patch{}, network {:.1} s, everything else {:.1} s)",
            if summary.is_empty() {
                "found nothing".to_string()
            } else {
                summary.join(", ")
            },
            seg.patches,
            if seg.patches == 1 { "" } else { "es" },
            t.run.as_secs_f64(),
            t.overhead().as_secs_f64(),
        ));
        if !seg.empty.is_empty() {
            doc.notices()
                .info(format!("{model} found no {}", seg.empty.join(", ")));
        }
    }
}

/// "liver 1620 mL", or for a segment in several pieces (lesions) their
/// count and sizes: "liver lesion: 3 pieces, 12.4 + 2.1 + 0.3 mL".
pub fn describe(name: &str, mask: &stratum_core::segment::Mask) -> String {
    let pieces = component_volumes_ml(mask);
    if pieces.len() <= 1 {
        return format!("{name} {:.0} mL", mask.volume_ml());
    }
    let shown: Vec<String> = pieces.iter().take(5).map(|v| format!("{v:.1}")).collect();
    format!(
        "{name}: {} pieces, {}{} mL",
        pieces.len(),
        shown.join(" + "),
        if pieces.len() > 5 { " + ..." } else { "" }
    )
}
