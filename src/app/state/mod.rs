//! What several features read: the anatomy pose under one patient-space
//! root, and the background jobs with their notices. Imports no feature.

pub mod jobs;
pub mod space;
