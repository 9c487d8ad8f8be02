//! The installed models: the folders under the models directory that hold a
//! valid manifest and its ONNX file, found by name for the CLI and listed
//! (with the reason for each that fails) for the app's model picker.

use std::path::{Path, PathBuf};

use super::manifest::{MANIFEST_FILE, Manifest};
use crate::base::error::{CoreError, Result};

/// A model folder with a valid manifest.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    pub dir: PathBuf,
    pub manifest: Manifest,
}

impl ModelInfo {
    pub fn onnx_path(&self) -> PathBuf {
        self.dir.join(&self.manifest.file)
    }
}

/// The models under `dir`: one folder per model with a manifest. Folders
/// whose manifest fails to load come back as errors (so the app can say
/// which and why) instead of hiding the others.
pub fn list_models(dir: &Path) -> Vec<std::result::Result<ModelInfo, String>> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut dirs: Vec<PathBuf> = entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join(MANIFEST_FILE).is_file())
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|d| match Manifest::load(&d) {
            Ok(manifest) => {
                let info = ModelInfo { dir: d, manifest };
                if info.onnx_path().is_file() {
                    Ok(info)
                } else {
                    Err(format!(
                        "{}: the model file {} named in field `file` is missing",
                        info.dir.display(),
                        info.manifest.file
                    ))
                }
            }
            Err(e) => Err(e.to_string()),
        })
        .collect()
}

/// The folder holding the models: `$STRATUM_MODELS`, else `models/` in
/// Stratum's data folder ([`crate::base::install::data_dir`]). Without a data
/// folder, where a portable folder would have it (beside the executable), so
/// messages name a real place.
pub fn models_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("STRATUM_MODELS").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    match crate::base::install::data_dir() {
        Ok(data) => data.models(),
        Err(_) => std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join(crate::base::install::MODELS)))
            .unwrap_or_else(|| PathBuf::from(crate::base::install::MODELS)),
    }
}

/// Finds a model by name in `dir`.
pub fn find_model(dir: &Path, name: &str) -> Result<ModelInfo> {
    if !dir.is_dir() {
        let why = match crate::base::install::data_dir() {
            _ if std::env::var_os("STRATUM_MODELS").is_some() => {
                "STRATUM_MODELS points there: set it to the folder that holds the models, or \
                 unset it"
                    .to_string()
            }
            Err(e) => e.to_string(),
            Ok(data) => format!(
                "Stratum's data folder {} has no models: reinstall Stratum",
                data.path.display()
            ),
        };
        return Err(CoreError::NoModelsFolder {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            why,
        });
    }
    let mut known = Vec::new();
    for m in list_models(dir) {
        match m {
            Ok(info) if info.manifest.name == name => return Ok(info),
            Ok(info) => known.push(info.manifest.name),
            Err(e) if e.contains(&format!("{}{}", std::path::MAIN_SEPARATOR, name)) => {
                return Err(CoreError::ModelUnreadable {
                    name: name.to_string(),
                    reason: e,
                });
            }
            Err(_) => {}
        }
    }
    Err(CoreError::NoSuchModel {
        name: name.to_string(),
        dir: dir.to_path_buf(),
        installed: if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        },
    })
}
