//! Stratum's engine-free pipeline: DICOM/NIfTI volumes, series checks,
//! anonymization, segmentation (incl. ONNX models), meshing, export.
//! Nothing here depends on a graphics engine. The rooms below follow the
//! pipeline: read, check, segment, mesh, plan, export and share, on a common
//! base.

// Geometry code indexes 3x3 matrices by row and column: index loops read
// like the maths they implement.
#![allow(clippy::needless_range_loop)]

/// AI segmentation: model catalog, ONNX runtime, inference, nnU-Net import.
pub mod ai;
/// Errors, progress, atomic writes, memory budget, tracing, installed data.
pub mod base;
/// Batch runs over many studies: discovery, records, summaries.
pub mod batch;
/// The series checklist, fitness for a task, motion, realignment.
pub mod checks;
/// `stratum convert`: scan to printable models in one call (load to export).
pub mod convert;
/// DICOM objects derived from a study: SEG, encapsulated STL / OBJ / MTL.
pub mod derived;
/// DICOM input: series discovery, headers, pixel decoding; a test series writer.
pub mod dicom;
/// The segmentation document: label map, segment table, history, `apply(Edit)`.
pub mod document;
/// Editing the label map by hand: brushes, the brick grid, the edit history.
pub mod edit;
/// Mesh exports: STL, 3MF, OBJ, glTF, the share page.
pub mod export;
/// The volume, its geometry, resampling, slice views, transfer functions.
pub mod image;
/// Live shared sessions: host, followers, viewers, avatars.
pub mod live;
/// Surface meshes of segments: extraction, smoothing, decimation.
pub mod mesh;
/// Hospital connection: DIMSE and DICOMweb find, retrieve, send; a cache.
pub mod pacs;
/// Surgical planning: measurements, distances, virtual resection.
pub mod planning;
/// De-identification before anything leaves the machine.
pub mod privacy;
/// From a path to a volume: the one open call, NIfTI in and out.
pub mod read;
/// Segmentation: label maps, thresholds, presets, morphology, components.
pub mod segment;
/// Saved sessions and the autosave journal.
pub mod session;
