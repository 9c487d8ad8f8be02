//! From a path to a checked volume: the one open call the app and the CLI
//! use, and NIfTI input and output (DICOM reading has its own room,
//! [`crate::dicom`]).

pub mod nifti;
pub mod open;
