//! One plugin per feature: each reads the shared state and the actions and
//! writes its own resources and entities.

pub mod ai;
pub mod avatars;
pub mod clip;
pub mod demo;
pub mod dicom_export;
pub mod export;
pub mod history;
pub mod join;
pub mod live;
pub mod live_people;
pub mod loading;
pub mod margins;
pub mod measurements;
pub mod meshing;
pub mod pacs;
pub mod realign;
pub mod remesh;
pub mod screenshot;
pub mod sculpt;
pub mod segmentation;
pub mod segments;
pub mod session;
pub mod session_view;
pub mod slices;
pub mod surgery;
pub mod surgery_cut;
pub mod volume;
