//! Reading an nnU-Net trained-model folder: where it is, its JSON files,
//! its folds, a configuration with its inheritance resolved, and the
//! plan's resampling, each failure named with what to do.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::ImportError;
use super::spec::Resample;

pub(super) fn missing(path: &Path, what: &str, hint: &str) -> ImportError {
    ImportError::Missing {
        path: path.to_path_buf(),
        what: what.into(),
        hint: hint.into(),
    }
}

pub(super) fn unsupported(what: impl Into<String>, hint: impl Into<String>) -> ImportError {
    ImportError::Unsupported {
        what: what.into(),
        hint: hint.into(),
    }
}

/// The trained-model folder: `dir` itself, or its one subfolder holding
/// plans.json (a DatasetXXX folder with one trainer folder in it).
pub(super) fn model_folder(dir: &Path) -> Result<PathBuf, ImportError> {
    if !dir.is_dir() {
        return Err(missing(
            dir,
            "the folder",
            "give the nnU-Net trained-model folder (it holds plans.json, dataset.json and fold_0/ ...)",
        ));
    }
    if dir.join("plans.json").is_file() {
        return Ok(dir.to_path_buf());
    }
    let subs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| ImportError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("plans.json").is_file())
        .collect();
    match subs.len() {
        1 => Ok(subs[0].clone()),
        0 => Err(missing(
            dir,
            "plans.json",
            "give the nnU-Net trained-model folder (named like nnUNetTrainer__nnUNetPlans__3d_fullres)",
        )),
        _ => Err(ImportError::SeveralModels {
            dir: dir.to_path_buf(),
            names: subs
                .iter()
                .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

pub(super) fn read_json(path: &Path) -> Result<Value, ImportError> {
    if !path.is_file() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Err(missing(
            path.parent().unwrap_or(path),
            &name,
            "nnU-Net writes it beside the fold folders when it trains; copy the whole trained-model folder",
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| ImportError::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| ImportError::Damaged {
        path: path.to_path_buf(),
        reason: format!("it is not valid JSON ({e})"),
    })
}

/// The folds to convert: (name, checkpoint path); `folds` as asked (every
/// fold_N with the checkpoint when `None`), `ck` the checkpoint's file name.
pub(super) fn find_folds(
    dir: &Path,
    folds: &Option<Vec<String>>,
    ck: &str,
) -> Result<Vec<(String, PathBuf)>, ImportError> {
    let found: Vec<String> = {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .map_err(|e| ImportError::io(dir, e))?
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter_map(|n| n.strip_prefix("fold_").map(str::to_string))
            .collect();
        v.sort_by_key(|f| (f.parse::<u32>().unwrap_or(u32::MAX), f.clone()));
        v
    };
    let wanted: Vec<String> = match folds {
        Some(f) => f.clone(),
        None => found
            .iter()
            .filter(|f| *f != "all" && dir.join(format!("fold_{f}")).join(ck).is_file())
            .cloned()
            .collect(),
    };
    if wanted.is_empty() {
        let hint = if found.iter().any(|f| f == "all") {
            "only fold_all is there: pass --fold all".to_string()
        } else if found.is_empty() {
            "the folder has no fold_0/ ... folders: copy the whole trained-model folder".to_string()
        } else {
            format!(
                "none of the folds ({}) holds {ck}; pass --checkpoint best if the training did not finish",
                found.join(", ")
            )
        };
        return Err(missing(dir, &format!("a fold with {ck}"), &hint));
    }
    let mut out = Vec::new();
    for f in wanted {
        let path = dir.join(format!("fold_{f}")).join(ck);
        if !path.is_file() {
            return Err(missing(
                &dir.join(format!("fold_{f}")),
                ck,
                &format!(
                    "folds found: {}; pick others with --fold, or --checkpoint best",
                    if found.is_empty() {
                        "none".into()
                    } else {
                        found.join(", ")
                    }
                ),
            ));
        }
        out.push((f, path));
    }
    Ok(out)
}

/// The configuration with `inherits_from` resolved, as nnU-Net's
/// PlansManager does.
pub(super) fn configuration(plans: &Value, name: &str) -> Result<Value, ImportError> {
    let configs = plans
        .get("configurations")
        .and_then(Value::as_object)
        .ok_or_else(|| ImportError::Plans("plans.json has no `configurations`".into()))?;
    let mut chain = vec![name.to_string()];
    let mut cfg = configs.get(name).cloned().ok_or_else(|| {
        ImportError::Plans(format!(
            "the checkpoint was trained with configuration {name:?}, which plans.json lacks (it has {})",
            configs.keys().cloned().collect::<Vec<_>>().join(", ")
        ))
    })?;
    while let Some(parent) = cfg
        .get("inherits_from")
        .and_then(Value::as_str)
        .map(str::to_string)
    {
        if chain.contains(&parent) || chain.len() > 16 {
            return Err(ImportError::Plans(format!(
                "configuration {name:?} inherits from itself ({})",
                chain.join(" -> ")
            )));
        }
        chain.push(parent.clone());
        let mut base = configs.get(&parent).cloned().ok_or_else(|| {
            ImportError::Plans(format!("configuration {parent:?} (inherited) is missing"))
        })?;
        if let (Some(b), Some(c)) = (base.as_object_mut(), cfg.as_object()) {
            for (k, v) in c {
                if k != "inherits_from" {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        cfg = base;
    }
    Ok(cfg)
}

pub(super) fn f64s(v: Option<&Value>) -> Option<Vec<f64>> {
    v?.as_array()?.iter().map(Value::as_f64).collect()
}

pub(super) fn usizes(v: Option<&Value>) -> Option<Vec<usize>> {
    v?.as_array()?
        .iter()
        .map(|x| x.as_u64().map(|u| u as usize))
        .collect()
}

/// The plan's resampling function and its orders; other functions (the
/// torch resampler, no resampling) are refused by name.
pub(super) fn resampling(cfg: &Value, which: &str) -> Result<Resample, ImportError> {
    let f = cfg
        .get(format!("resampling_fn_{which}"))
        .and_then(Value::as_str)
        .unwrap_or("resample_data_or_seg_to_shape");
    if f != "resample_data_or_seg_to_shape" {
        return Err(unsupported(
            format!("the resampling function {f} (resampling_fn_{which})"),
            "Stratum reproduces nnU-Net's default, resample_data_or_seg_to_shape",
        ));
    }
    let kw = cfg
        .get(format!("resampling_fn_{which}_kwargs"))
        .cloned()
        .unwrap_or(Value::Null);
    let order = kw
        .get("order")
        .and_then(Value::as_u64)
        .unwrap_or(if which == "data" { 3 } else { 1 });
    let order_z = kw.get("order_z").and_then(Value::as_u64).unwrap_or(0);
    let ok_orders: &[u64] = if which == "data" { &[0, 1, 3] } else { &[0, 1] };
    if !ok_orders.contains(&order) || order_z > 1 {
        let what = if which == "data" {
            format!("resampling the scan with a spline of order {order} (across slices {order_z})")
        } else {
            format!(
                "resampling the probabilities back to the scan with a spline of order {order} (across slices {order_z})"
            )
        };
        return Err(unsupported(
            what,
            format!(
                "Stratum resamples {} with orders {ok_orders:?} (across slices 0 or 1), as nnU-Net v2's default plans do",
                if which == "data" {
                    "the scan"
                } else {
                    "the logits"
                }
            ),
        ));
    }
    Ok(Resample {
        order: order as u8,
        order_z: order_z as u8,
    })
}

pub(super) fn normalize_kind(cfg: &Value) -> Option<&str> {
    cfg.get("normalization_schemes")?
        .as_array()?
        .first()?
        .as_str()
}
