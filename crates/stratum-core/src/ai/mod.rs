//! AI segmentation: ONNX models run through ONNX Runtime (the `ort` crate,
//! library loaded at run time), each described by a manifest in
//! `models/<name>/`, over the whole scan with a sliding window; a model may
//! chain networks, each later one inside a box or mask an earlier one found;
//! nnU-Net models are imported (`nnunet`) and run as nnU-Net runs them.

pub mod catalog;
pub mod grid;
pub mod infer;
pub mod manifest;
pub mod nnunet;
pub mod normalize;
pub mod prefilter;
pub mod runtime;
pub mod soft;
pub mod stages;
pub mod window;

pub use catalog::{ModelInfo, find_model, list_models, models_dir};
pub use grid::ModelGrid;
pub use infer::{AiSegmentation, StageTimes};
pub use manifest::Manifest;
pub use stages::{component_volumes_ml, segment_with_model};
