//! AI segmentation: ONNX models run through ONNX Runtime (the `ort` crate,
//! library loaded at run time), each described by a manifest in
//! `models/<name>/`, over the whole scan with a sliding window.

pub mod infer;
pub mod manifest;
pub mod runtime;

pub use infer::{AiSegmentation, ModelGrid, StageTimes, segment_with_model};
pub use manifest::{Manifest, ModelInfo, find_model, list_models, models_dir};
