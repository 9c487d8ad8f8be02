//! Surgical planning on segments and meshes: measurements, distances between
//! structures, virtual resection.

pub mod distance;
pub mod measure;
pub mod resect;
pub mod shell;
