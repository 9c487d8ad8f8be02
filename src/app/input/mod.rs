//! Input devices turned into actions (`crate::app::actions`): the desktop
//! mouse and keyboard here (the 3D view, the 3D brush, the shortcuts); the
//! XR controllers in `crate::app::xr::input`. Nothing here changes the
//! study: it only writes actions.

pub mod brush;
pub mod desktop;

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;

use crate::app::actions::InputSet;
use crate::app::state::viewport::{BrushHover, OrbitCamera, ViewRect};

/// The 3D view under the desktop mouse: its rectangle in the window, the
/// cursor, and the camera that turns a cursor position into a ray.
#[derive(SystemParam)]
pub struct ViewPointer<'w, 's> {
    rect: Res<'w, ViewRect>,
    window: Query<'w, 's, &'static Window, With<PrimaryWindow>>,
    camera: Query<'w, 's, (&'static Camera, &'static GlobalTransform), With<OrbitCamera>>,
}

impl ViewPointer<'_, '_> {
    /// The 3D view's rectangle, while there is a window to show it.
    pub fn view(&self) -> Option<Rect> {
        self.window.single().ok().and(self.rect.0)
    }

    /// The cursor in the window (logical pixels), if it is over it.
    pub fn cursor(&self) -> Option<Vec2> {
        self.window.single().ok()?.cursor_position()
    }

    /// The cursor, only where it is over the 3D view.
    pub fn cursor_in_view(&self) -> Option<Vec2> {
        let view = self.view()?;
        self.cursor().filter(|c| view.contains(*c))
    }

    /// The ray from the 3D view's camera through a cursor position.
    pub fn ray(&self, cursor: Vec2) -> Option<Ray3d> {
        let (camera, at) = self.camera.single().ok()?;
        camera.viewport_to_world(at, cursor).ok()
    }
}

/// The desktop's input systems, before everything that reads actions.
pub struct InputPlugin;

impl Plugin for InputPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<BrushHover>().add_systems(
            Update,
            (
                brush::mouse_to_brush,
                desktop::mouse_to_actions,
                desktop::keys_to_views,
                desktop::shortcuts,
            )
                .chain()
                .in_set(InputSet),
        );
    }
}
