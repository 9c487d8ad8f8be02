//! Input devices turned into actions (`crate::app::actions`): the desktop
//! mouse and keyboard here (the 3D view, the 3D brush, the shortcuts); the
//! XR controllers in `crate::app::xr::input`. Nothing here changes the
//! study: it only writes actions.

pub mod brush;
pub mod desktop;

use bevy::prelude::*;

use crate::app::actions::InputSet;
use crate::app::state::viewport::BrushHover;

/// The desktop's input systems, before everything that reads actions.
pub struct InputPlugin;

impl Plugin for InputPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<BrushHover>().add_systems(
            Update,
            (
                brush::mouse_to_brush,
                desktop::mouse_to_actions,
                desktop::shortcuts,
            )
                .chain()
                .in_set(InputSet),
        );
    }
}
