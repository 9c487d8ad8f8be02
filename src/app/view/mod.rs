//! The desktop view: the orbit camera and the brush's drawing in 3D and on
//! the slices. (The XR rig is in `xr/rig.rs`.)

pub mod camera;
pub mod sculpt_view;
pub mod surgery_view;
