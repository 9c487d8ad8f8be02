//! nnU-Net v2 models in Stratum: `import` turns a trained-model folder
//! (plans.json, dataset.json, fold_*/checkpoint_*.pth) into a Stratum
//! model folder (one ONNX file per fold, written without Python, and a
//! manifest with an `nnunet` section); `run` then predicts as nnU-Net's own
//! predictor does, through ONNX Runtime.

pub mod checkpoint;
mod folder;
pub mod import;
pub mod names;
pub mod network;
pub mod onnx;
mod pickle;
pub mod resample;
pub mod run;
pub mod spec;
pub mod window;

use std::path::{Path, PathBuf};

pub use import::{CheckpointKind, ImportOptions, ImportReport, import_nnunet};
pub use spec::{NnUnet, Precision, Resample};

/// Why a folder could not be imported: each names the file or the nnU-Net
/// feature, and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {what} is missing; {hint}")]
    Missing {
        path: PathBuf,
        what: String,
        hint: String,
    },
    #[error("{path} is damaged: {reason}")]
    Damaged { path: PathBuf, reason: String },
    #[error("{what} is not supported yet: {hint}")]
    Unsupported { what: String, hint: String },
    #[error("the plans do not describe the network: {0}")]
    Plans(String),
    #[error("the checkpoint does not fit the plans: {0}")]
    Weights(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no nnU-Net folder given")]
    NoFolder,
    #[error("{} holds several trained models ({names}); give the one to import", .dir.display())]
    SeveralModels { dir: PathBuf, names: String },
    #[error(
        "the model name {0:?} must be letters, digits, '-', '_' or '.' (it names a folder); pass --name"
    )]
    BadName(String),
    #[error("--orientation {0:?} needs one letter of R/L, one of A/P and one of S/I (e.g. SAR)")]
    BadOrientation(String),
    #[error("{} already exists: remove it, or import under another --name", .0.display())]
    Exists(PathBuf),
    /// The manifest the import made fails its own checks (a bug here, or a
    /// plan this importer misread).
    #[error("the manifest written would be invalid: {0}")]
    BadManifest(String),
    #[error("the import was cancelled")]
    Cancelled,
}

impl ImportError {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        ImportError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<ImportError> for crate::base::error::CoreError {
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Cancelled => crate::base::error::CoreError::Cancelled,
            e => crate::base::error::CoreError::NnUnetImport(e),
        }
    }
}
