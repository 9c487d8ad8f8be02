//! Stratum's engine-free pipeline: DICOM/NIfTI volumes, series checks,
//! anonymization, segmentation (incl. ONNX models), meshing, export.
//! Nothing here depends on a graphics engine.

// Geometry code indexes 3x3 matrices by row and column: index loops read
// like the maths they implement.
#![allow(clippy::needless_range_loop)]

pub mod ai;
pub mod anonymize;
pub mod atomic;
pub mod batch;
pub mod checks;
pub mod convert;
pub mod derived;
pub mod dicom;
pub mod distance;
pub mod document;
pub mod edit;
pub mod error;
pub mod export;
pub mod guard;
pub mod install;
pub mod live;
pub mod measure;
pub mod memory;
pub mod mesh;
pub mod nifti_io;
pub mod open;
pub mod pacs;
pub mod pages;
pub mod progress;
pub mod resample;
pub mod resect;
pub mod segment;
pub mod session;
pub mod synth;
pub mod trace;
pub mod transfer;
pub mod view;
pub mod volume;

pub use error::{CoreError, Result};
pub use open::{OpenOptions, Opened, open_volume};
pub use progress::Progress;
pub use volume::{Geometry, Volume, Voxels};
