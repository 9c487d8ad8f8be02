//! `stratum models import-nnunet`: reads nnU-Net trained-model folders,
//! refuses what Stratum cannot run the way nnU-Net does (naming it), and
//! writes a model folder: one ONNX file per fold and the manifest. Several
//! folders (TotalSegmentator's task parts) become one model whose parts run
//! in turn over the whole scan.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ImportError;
use super::checkpoint::{Checkpoint, read_checkpoint};
use super::folder::{
    configuration, f64s, find_folds, model_folder, normalize_kind, read_json, resampling,
    unsupported, usizes,
};
use super::names::english;
use super::network::{Arch, build_onnx};
use super::spec::{NnUnet, Precision};
use crate::ai::manifest::{
    Activation, GridSpec, InputSpec, Interpolation, LabelSpec, Layout, MANIFEST_FILE, Manifest,
    Normalize, OutputSpec, PadZ, PostProcess, Stage, orientation_axes,
};
use crate::base::progress::Progress;
use crate::segment::segment_colour;

/// Which checkpoint of each fold.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CheckpointKind {
    #[default]
    Final,
    Best,
}

impl CheckpointKind {
    pub(super) fn file(self) -> &'static str {
        match self {
            CheckpointKind::Final => "checkpoint_final.pth",
            CheckpointKind::Best => "checkpoint_best.pth",
        }
    }
}

#[derive(Clone, Debug)]
pub struct ImportOptions {
    /// The model's name (its folder under the models folder).
    pub name: Option<String>,
    /// Folds to convert ("0", "1", ..., or "all" for nnU-Net's fold_all);
    /// every fold_N with the checkpoint when `None`, as nnU-Net's predictor.
    pub folds: Option<Vec<String>>,
    pub checkpoint: CheckpointKind,
    /// Test-time mirroring (where the trainer allows it).
    pub mirror: bool,
    /// Patient direction of the network's array axes as nnU-Net reads the
    /// training images, before `transpose_forward` (default "SAR": a
    /// RAS-canonical NIfTI through SimpleITK, as TotalSegmentator feeds it).
    pub orientation: Option<String>,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            name: None,
            folds: None,
            checkpoint: CheckpointKind::Final,
            mirror: true,
            orientation: None,
        }
    }
}

/// What was written.
#[derive(Clone, Debug)]
pub struct ImportReport {
    pub dir: PathBuf,
    pub manifest: Manifest,
    /// Things the user should know (assumptions, parts, folds).
    pub notes: Vec<String>,
}

/// The array order nnU-Net's SimpleITK reader gives a RAS-canonical NIfTI.
const DEFAULT_ORIENTATION: &str = "SAR";

/// One converted network.
struct Part {
    manifest: Manifest,
    files: Vec<(String, Vec<u8>)>,
}

/// Imports `folders` (one nnU-Net trained-model folder per part) into a new
/// folder under `models_dir`.
pub fn import_nnunet(
    folders: &[PathBuf],
    models_dir: &Path,
    opts: &ImportOptions,
    progress: &Progress,
) -> Result<ImportReport, ImportError> {
    if folders.is_empty() {
        return Err(ImportError::NoFolder);
    }
    let mut notes = Vec::new();
    let mut parts = Vec::new();
    for (i, f) in folders.iter().enumerate() {
        let prefix = if folders.len() > 1 {
            format!("part{}_", i + 1)
        } else {
            String::new()
        };
        parts.push(convert_part(f, &prefix, opts, progress, &mut notes)?);
    }
    let name = match &opts.name {
        Some(n) => n.clone(),
        None => default_name(&parts[0].manifest.name, folders.len() > 1),
    };
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
        || name.starts_with('.')
    {
        return Err(ImportError::BadName(name));
    }
    let mut first = parts.remove(0);
    let mut manifest = first.manifest.clone();
    manifest.name = name.clone();
    if !parts.is_empty() {
        manifest.title = format!(
            "{} ({} parts, {} structures)",
            manifest.title,
            parts.len() + 1,
            manifest.output.labels.len()
                + parts
                    .iter()
                    .map(|p| p.manifest.output.labels.len())
                    .sum::<usize>()
        );
    }
    let mut files = std::mem::take(&mut first.files);
    for p in parts {
        let m = p.manifest;
        manifest.stages.push(Stage {
            file: m.file,
            region: None,
            input: m.input,
            output: m.output,
            postprocess: m.postprocess,
            nnunet: m.nnunet,
        });
        files.extend(p.files);
    }
    if !parts_labels_fit(&manifest) {
        return Err(ImportError::Unsupported {
            what: "more than 255 structures in one model".into(),
            hint: "import fewer parts at a time".into(),
        });
    }
    manifest.validate().map_err(ImportError::BadManifest)?;
    let dir = write_model(models_dir, &name, &manifest, &files)?;
    Ok(ImportReport {
        dir,
        manifest,
        notes,
    })
}

fn parts_labels_fit(m: &Manifest) -> bool {
    m.segment_labels().len() <= 255
}

/// "Dataset291_TotalSegmentator_part1_organs_1559subj" -> "totalsegmentator-part1-organs-1559subj"
/// (the parts of a task: "totalsegmentator").
fn default_name(dataset: &str, several: bool) -> String {
    let mut s = dataset.to_string();
    if let Some(rest) = s.strip_prefix("Dataset")
        && let Some((id, tail)) = rest.split_once('_')
        && id.chars().all(|c| c.is_ascii_digit())
    {
        s = tail.to_string();
    }
    if several && let Some(i) = s.to_ascii_lowercase().find("_part") {
        s.truncate(i);
    }
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect::<String>()
        .trim_matches('-')
        .to_string()
}

/// Converts one trained-model folder.
fn convert_part(
    folder: &Path,
    prefix: &str,
    opts: &ImportOptions,
    progress: &Progress,
    notes: &mut Vec<String>,
) -> Result<Part, ImportError> {
    let dir = model_folder(folder)?;
    let dataset = read_json(&dir.join("dataset.json"))?;
    let plans = read_json(&dir.join("plans.json"))?;
    let folds = find_folds(&dir, &opts.folds, opts.checkpoint.file())?;

    // Labels: consecutive integers from background 0; regions refused.
    let labels = dataset
        .get("labels")
        .and_then(Value::as_object)
        .ok_or_else(|| ImportError::Plans("dataset.json has no `labels`".into()))?;
    if dataset
        .get("regions_class_order")
        .is_some_and(|v| !v.is_null())
        || labels.values().any(Value::is_array)
    {
        return Err(unsupported(
            "region-based training (labels that are unions of others, with regions_class_order)",
            "Stratum imports networks whose outputs are one class each (softmax)",
        ));
    }
    let mut by_value: BTreeMap<u64, String> = BTreeMap::new();
    for (name, v) in labels {
        if name == "ignore" {
            continue;
        }
        let Some(v) = v.as_u64() else {
            return Err(ImportError::Plans(format!(
                "label {name:?} has no integer value"
            )));
        };
        by_value.insert(v, name.clone());
    }
    if by_value.keys().copied().ne(0..by_value.len() as u64) {
        return Err(ImportError::Plans(
            "dataset.json's labels are not 0, 1, 2, ... (nnU-Net needs them consecutive)".into(),
        ));
    }
    let classes = by_value.len();
    if classes < 2 {
        return Err(ImportError::Plans(
            "dataset.json names no foreground label".into(),
        ));
    }
    let channels = dataset
        .get("channel_names")
        .or_else(|| dataset.get("modality"))
        .and_then(Value::as_object)
        .ok_or_else(|| ImportError::Plans("dataset.json has no `channel_names`".into()))?;
    if channels.len() != 1 {
        return Err(unsupported(
            format!(
                "a network with {} input channels ({})",
                channels.len(),
                channels
                    .values()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "Stratum feeds a network one scan (one channel)",
        ));
    }
    let channel = channels
        .values()
        .next()
        .and_then(Value::as_str)
        .unwrap_or("");

    // The checkpoints (progress per fold: they are the slow part).
    let mut checkpoints: Vec<(String, Checkpoint)> = Vec::new();
    progress.begin("reading the checkpoints", folds.len() as u64);
    for (f, path) in &folds {
        if progress.is_cancelled() {
            return Err(ImportError::Cancelled);
        }
        checkpoints.push((f.clone(), read_checkpoint(path)?));
        progress.advance(1);
    }
    let first = &checkpoints[0].1;
    let folder_cfg = dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.rsplit("__").next())
        .map(str::to_string);
    let cfg_name = first.configuration.clone().or(folder_cfg).ok_or_else(|| {
        ImportError::Plans("the checkpoint does not say its configuration".into())
    })?;
    let cfg = configuration(&plans, &cfg_name)?;
    if cfg.get("previous_stage").is_some_and(|v| !v.is_null()) {
        return Err(unsupported(
            format!(
                "the cascade configuration {cfg_name} (it takes the 3d_lowres segmentation as a second input)"
            ),
            "import the 3d_fullres or 3d_lowres configuration instead",
        ));
    }
    let preprocessor = cfg
        .get("preprocessor_name")
        .and_then(Value::as_str)
        .unwrap_or("DefaultPreprocessor");
    if preprocessor != "DefaultPreprocessor" {
        return Err(unsupported(
            format!("the preprocessor {preprocessor}"),
            "Stratum reproduces nnU-Net's DefaultPreprocessor",
        ));
    }
    if let Some(lm) = plans.get("label_manager").and_then(Value::as_str)
        && lm != "LabelManager"
    {
        return Err(unsupported(
            format!("the label manager {lm}"),
            "Stratum reproduces nnU-Net's LabelManager (softmax, argmax)",
        ));
    }
    let patch = usizes(cfg.get("patch_size")).unwrap_or_default();
    if patch.len() != 3 {
        return Err(unsupported(
            format!("the {}D configuration {cfg_name}", patch.len()),
            "Stratum runs 3D networks: import the 3d_fullres (or 3d_lowres) configuration",
        ));
    }
    let patch_t = [patch[0], patch[1], patch[2]];
    if patch_t.iter().any(|&p| !(1..=1024).contains(&p)) {
        return Err(ImportError::Plans(format!(
            "configuration {cfg_name} has patch size {patch_t:?}"
        )));
    }
    let spacing = f64s(cfg.get("spacing"))
        .filter(|s| s.len() == 3 && s.iter().all(|v| *v > 0.0 && v.is_finite()))
        .ok_or_else(|| {
            ImportError::Plans(format!("configuration {cfg_name} has no 3D `spacing`"))
        })?;
    let arch = Arch::from_plans(&cfg)?;
    let div = arch.divisor();
    if (0..3).any(|k| !patch_t[k].is_multiple_of(div[k])) {
        return Err(ImportError::Plans(format!(
            "patch {patch_t:?} is not divisible by the network's strides {div:?}"
        )));
    }
    let transpose = usizes(plans.get("transpose_forward")).unwrap_or_else(|| vec![0, 1, 2]);
    let mut sorted = transpose.clone();
    sorted.sort_unstable();
    if sorted != [0, 1, 2] {
        return Err(ImportError::Plans(
            "`transpose_forward` is not a permutation of 0, 1, 2".into(),
        ));
    }
    let base = opts
        .orientation
        .clone()
        .unwrap_or_else(|| DEFAULT_ORIENTATION.to_string())
        .to_ascii_uppercase();
    if orientation_axes(&base).is_none() {
        return Err(ImportError::BadOrientation(base));
    }
    let letters: Vec<char> = base.chars().collect();
    let orientation: String = transpose.iter().map(|&i| letters[i]).collect();

    // Normalisation.
    let schemes = cfg
        .get("normalization_schemes")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .unwrap_or("ZScoreNormalization");
    let mask_for_norm = cfg
        .get("use_mask_for_norm")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let props = plans
        .get("foreground_intensity_properties_per_channel")
        .or_else(|| plans.get("foreground_intensity_properties_by_modality"))
        .and_then(|p| p.get("0"));
    let prop = |k: &str| props.and_then(|p| p.get(k)).and_then(Value::as_f64);
    let normalize = match schemes {
        "CTNormalization" => {
            let (Some(lo), Some(hi), Some(mean), Some(std)) = (
                prop("percentile_00_5"),
                prop("percentile_99_5"),
                prop("mean"),
                prop("std"),
            ) else {
                return Err(ImportError::Plans(
                    "CT normalisation needs foreground_intensity_properties_per_channel.0 (percentile_00_5, percentile_99_5, mean, std)".into(),
                ));
            };
            Normalize::Ct {
                clip: [lo, hi],
                mean,
                std: std.max(1e-8),
            }
        }
        "ZScoreNormalization" => Normalize::ZScore,
        "RescaleTo01Normalization" => Normalize::MinMax,
        "RGBTo01Normalization" => Normalize::Linear {
            scale: 1.0 / 255.0,
            offset: 0.0,
            low: 0.0,
            high: 1.0,
        },
        "NoNormalization" => Normalize::Linear {
            scale: 1.0,
            offset: 0.0,
            low: -3.0e38,
            high: 3.0e38,
        },
        other => {
            return Err(unsupported(
                format!("the normalisation {other}"),
                "Stratum reproduces nnU-Net's CT, z-score, 0-1 rescale, RGB and no normalisation",
            ));
        }
    };
    let modality = match channel.to_ascii_uppercase().as_str() {
        "CT" => "CT",
        "PET" | "PT" => "PT",
        _ => "MR",
    };
    let resample_data = resampling(&cfg, "data")?;
    let resample_logits = resampling(&cfg, "probabilities")?;
    let force_separate_z = cfg
        .get("resampling_fn_data_kwargs")
        .and_then(|k| k.get("force_separate_z"))
        .and_then(Value::as_bool);

    // Mirroring: the trainer's allowed axes (all folds agree in practice).
    let mirror_axes = first.mirror_axes.clone().unwrap_or_default();
    if first.mirror_axes.is_none() {
        notes.push(format!(
            "{}: the trainer {} does not mirror, so test-time mirroring is off",
            dir_label(&dir),
            first.trainer
        ));
    }

    // The ONNX files.
    let dataset_name = plans
        .get("dataset_name")
        .and_then(Value::as_str)
        .unwrap_or("nnU-Net dataset")
        .to_string();
    let plans_name = plans
        .get("plans_name")
        .and_then(Value::as_str)
        .unwrap_or("nnUNetPlans");
    let mut files = Vec::new();
    progress.begin("building the ONNX networks", checkpoints.len() as u64);
    for (f, ck) in &checkpoints {
        if progress.is_cancelled() {
            return Err(ImportError::Cancelled);
        }
        let doc = format!(
            "nnU-Net v2 {dataset_name}, {}, {plans_name}, {cfg_name}, fold {f}; converted by Stratum",
            ck.trainer
        );
        let bytes = build_onnx(
            &arch,
            &ck.weights,
            classes,
            patch_t,
            &doc,
            &[
                ("nnunet_fold", f.clone()),
                ("nnunet_trainer", ck.trainer.clone()),
            ],
        )
        .map_err(|e| match e {
            ImportError::Weights(m) => ImportError::Weights(format!(
                "fold {f} ({}): {m}",
                dir.join(format!("fold_{f}"))
                    .join(opts.checkpoint.file())
                    .display()
            )),
            e => e,
        })?;
        files.push((format!("{prefix}fold_{f}.onnx"), bytes));
        progress.advance(1);
    }

    let label_specs: Vec<LabelSpec> = by_value
        .iter()
        .skip(1)
        .map(|(v, raw)| {
            let name = english(raw);
            let colour = segment_colour(&name, *v as u16);
            LabelSpec {
                name,
                colour: Some(colour),
                opacity: None,
            }
        })
        .collect();
    let title = dataset
        .get("name")
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .unwrap_or(&dataset_name)
        .to_string();
    let names: Vec<&str> = label_specs.iter().map(|l| l.name.as_str()).collect();
    let anatomy = if names.len() <= 4 {
        names.join(", ")
    } else {
        format!("{} structures: {}, ...", names.len(), names[..4].join(", "))
    };
    let licence = dataset
        .get("licence")
        .or_else(|| dataset.get("license"))
        .and_then(Value::as_str)
        .unwrap_or("see the model's source")
        .to_string();
    let trained = dataset
        .get("numTraining")
        .and_then(Value::as_u64)
        .map(|n| format!(", trained on {n} cases"))
        .unwrap_or_default();
    let fold_list = checkpoints
        .iter()
        .map(|(f, _)| f.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let source = format!(
        "nnU-Net v2 model {dataset_name} ({} / {plans_name} / {cfg_name}, fold{} {fold_list}, {}{trained}), converted to ONNX by `stratum models import-nnunet` from {}",
        first.trainer,
        if checkpoints.len() > 1 { "s" } else { "" },
        opts.checkpoint.file(),
        dir_label(&dir),
    );
    let fold_files: Vec<String> = files.iter().map(|(n, _)| n.clone()).collect();
    let manifest = Manifest {
        name: dataset_name.clone(),
        title: format!("{title} (nnU-Net {cfg_name})"),
        modality: modality.into(),
        anatomy,
        licence,
        source,
        file: fold_files[0].clone(),
        input: InputSpec {
            name: Some("input".into()),
            layout: Layout::NCDHW,
            channels: 1,
            orientation,
            grid: GridSpec::Spacing([spacing[0], spacing[1], spacing[2]]),
            patch: patch_t,
            overlap: 0.5,
            normalize,
            normalize_for: Default::default(),
            interpolation: Interpolation::Linear,
            prefilter: None,
            crop: None,
            pad_value: 0.0,
            pad_z: PadZ::Constant,
        },
        output: OutputSpec {
            name: Some("logits".into()),
            activation: Activation::Softmax,
            background_channel: true,
            threshold: 0.5,
            labels: label_specs,
            patch: None,
            keep: true,
        },
        postprocess: PostProcess::default(),
        stages: Vec::new(),
        nnunet: Some(NnUnet {
            folds: fold_files,
            mirror_axes,
            mirror: opts.mirror,
            tile_step: 0.5,
            resample_data,
            resample_logits,
            anisotropy_threshold: 3.0,
            force_separate_z,
            mask_for_norm: mask_for_norm
                && matches!(normalize_kind(&cfg), Some("ZScoreNormalization")),
            accumulate: Precision::F16,
        }),
    };
    if opts.orientation.is_none() {
        notes.push(format!(
            "{}: nnU-Net does not record how its training scans were oriented; assumed {DEFAULT_ORIENTATION} (a RAS-canonical NIfTI read by SimpleITK, as TotalSegmentator prepares scans); if left and right come out swapped, import again with --orientation",
            dir_label(&dir)
        ));
    }
    Ok(Part { manifest, files })
}

/// The last two components of a folder, for messages and the manifest
/// (no home folder or user name).
fn dir_label(dir: &Path) -> String {
    let parts: Vec<String> = dir
        .components()
        .rev()
        .take(2)
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.into_iter().rev().collect::<Vec<_>>().join("/")
}

/// Writes the model into `models_dir/name`: a temporary folder beside it,
/// renamed into place once complete.
fn write_model(
    models_dir: &Path,
    name: &str,
    manifest: &Manifest,
    files: &[(String, Vec<u8>)],
) -> Result<PathBuf, ImportError> {
    let dest = models_dir.join(name);
    if dest.exists() {
        return Err(ImportError::Exists(dest));
    }
    std::fs::create_dir_all(models_dir).map_err(|e| ImportError::io(models_dir, e))?;
    let tmp = models_dir.join(format!(".{name}.import-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| ImportError::io(&tmp, e))?;
    let result = (|| {
        for (n, bytes) in files {
            std::fs::write(tmp.join(n), bytes).map_err(|e| ImportError::io(&tmp.join(n), e))?;
        }
        let json = serde_json::to_string_pretty(manifest)
            .map_err(|e| ImportError::BadManifest(e.to_string()))?;
        std::fs::write(tmp.join(MANIFEST_FILE), json + "\n")
            .map_err(|e| ImportError::io(&tmp.join(MANIFEST_FILE), e))?;
        std::fs::rename(&tmp, &dest).map_err(|e| ImportError::io(&dest, e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result.map(|_| dest)
}
