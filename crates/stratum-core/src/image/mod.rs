//! The image and its geometry: the volume on its grid, resampling onto a
//! regular grid, slice views for display and volume rendering's transfer
//! functions.

pub mod resample;
pub mod transfer;
pub mod view;
pub mod volume;
