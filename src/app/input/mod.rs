//! Input devices turned into actions (`crate::app::actions`): the desktop
//! mouse and keyboard here; the XR controllers in `crate::app::xr::input`.

pub mod desktop;
