//! What several features read: the study, the segments and tool settings,
//! the slice crosshair, the anatomy pose under one patient-space root, and
//! the background jobs with their notices. Imports no feature.

pub mod crosshair;
pub mod document;
pub mod jobs;
pub mod segments;
pub mod space;
pub mod study;
pub mod viewport;
