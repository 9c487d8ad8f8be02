//! AI segmentation in the app: the models found in the models folder, a
//! background job that runs one over the open study (progress per patch,
//! cancel between patches), and its labels added as segments with the
//! manifest's names and colours, then meshed.

use std::path::PathBuf;
use std::sync::Arc;

use bevy::prelude::*;
use stratum_core::Progress;
use stratum_core::ai::{
    AiSegmentation, ModelInfo, component_volumes_ml, list_models, models_dir, runtime,
};
use stratum_core::edit::bricks::BrickGrid;

use crate::app::history::{EditHistory, record_edit};
use crate::app::jobs::{JobDone, JobPlugin, Notices, spawn_job};
use crate::app::loading::{Study, StudyLoaded};
use crate::app::meshing::BuildMeshes;
use crate::app::segmentation::{Segment, SoftEdge, ToolSettings, add_new_segment};
use crate::app::space::PatientSpace;

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

#[allow(clippy::too_many_arguments)]
fn apply_results(
    mut commands: Commands,
    mut done: MessageMutator<JobDone<ModelResult>>,
    study: Option<ResMut<Study>>,
    root: Query<Entity, With<PatientSpace>>,
    existing: Query<&Segment>,
    mut notices: ResMut<Notices>,
    mut tools: ResMut<ToolSettings>,
    mut build: MessageWriter<BuildMeshes>,
    mut history: ResMut<EditHistory>,
) {
    let Some(mut study) = study else {
        done.clear();
        return;
    };
    for d in done.read() {
        let title = d.title.clone();
        let Some(ModelResult {
            model,
            seg,
            opacity,
        }) = notices.take(&title, d.take())
        else {
            continue;
        };
        if seg.labels.dim() != study.volume.dim() {
            notices.error(format!("{title}: the result does not fit the open study"));
            continue;
        }
        let Ok(root) = root.single() else { continue };
        let mut ids = Vec::new();
        let mut summary = Vec::new();
        let full = BrickGrid::new(seg.labels.dim()).full();
        let step = format!("AI {model}");
        let selected = record_edit(
            &mut history,
            &mut notices,
            &mut study,
            &step,
            full,
            |labels| {
                let mut selected = None;
                for s in &seg.labels.segments {
                    let mask = seg.labels.mask(s.id);
                    let ml = mask.volume_ml();
                    // Names stay unique when a model runs twice.
                    let taken = |n: &str| existing.iter().any(|e| e.name == n);
                    let mut name = s.name.clone();
                    let mut k = 2;
                    while taken(&name) {
                        name = format!("{} ({k})", s.name);
                        k += 1;
                    }
                    let (id, e) =
                        add_new_segment(&mut commands, root, labels, &name, Some(s.colour), &mask);
                    // Its surface is the network's 0.5 level, not the mask's.
                    if let Some(field) = seg.soft.get(&s.id) {
                        commands.entity(e).insert(SoftEdge(Arc::new(field.clone())));
                    }
                    if let Some((_, o)) = opacity.iter().find(|(n, _)| *n == s.name) {
                        commands.entity(e).insert(Segment {
                            id,
                            name: name.clone(),
                            colour: s.colour,
                            visible: true,
                            opacity: *o,
                            voxel_ml: ml,
                            surface: None,
                        });
                    }
                    selected = Some(e);
                    summary.push(describe(&name, &mask));
                    ids.push(id);
                }
                selected
            },
        );
        if selected.is_some() {
            tools.selected = selected;
        }
        let t = &seg.times;
        notices.info(format!(
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
            notices.info(format!("{model} found no {}", seg.empty.join(", ")));
        }
        if !ids.is_empty() {
            build.write(BuildMeshes { ids });
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
