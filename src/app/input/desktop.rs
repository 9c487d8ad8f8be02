//! Desktop input: the mouse and the view keys turned into [`ViewAction`]s
//! and [`ClipAction`](crate::app::actions::ClipAction)s, the editing
//! shortcuts into [`HistoryAction`]s and [`FileAction`]s, nothing else. The
//! 3D brush's mouse is `brush.rs`; the XR controllers' input is in
//! `xr/input.rs`.

use bevy::ecs::system::SystemParam;
use bevy::input::mouse::{AccumulatedMouseMotion, AccumulatedMouseScroll, MouseScrollUnit};
use bevy::prelude::*;

use super::ViewPointer;
use crate::app::actions::{ClipAction, FileAction, HistoryAction, StandardView, ViewAction};
use crate::app::features::clip::ClipSettings;
use crate::app::state::viewport::{BrushHover, OrbitCamera};

/// The desktop mouse and keyboard as they are this frame.
#[derive(SystemParam)]
pub struct DesktopMouse<'w> {
    buttons: Res<'w, ButtonInput<MouseButton>>,
    keys: Res<'w, ButtonInput<KeyCode>>,
    motion: Res<'w, AccumulatedMouseMotion>,
    scroll: Res<'w, AccumulatedMouseScroll>,
    time: Res<'w, Time>,
}

/// What a Ctrl+drag works on: the focused clip plane, moved by a distance
/// that scales with the camera's.
#[derive(SystemParam)]
pub struct PlaneDrag<'w, 's> {
    clip: Res<'w, ClipSettings>,
    orbit: Query<'w, 's, &'static OrbitCamera>,
    actions: MessageWriter<'w, ClipAction>,
}

/// A drag under way (where it started, whether it moved) and when the
/// last click was (for a double click).
#[derive(Default)]
pub struct Drag {
    from: Option<(Vec2, bool)>,
    last_click: Option<f64>,
}

/// Desktop mouse: left drag orbits, right or middle drag (or shift+left)
/// pans, the wheel zooms, a click picks, a double click also recentres.
/// With Ctrl held, a drag works the focused clip plane instead: left drag
/// moves it along its normal, right drag tilts it.
pub fn mouse_to_actions(
    mouse: DesktopMouse,
    pointer: ViewPointer,
    mut state: Local<Drag>,
    mut actions: MessageWriter<ViewAction>,
    mut plane: PlaneDrag,
    brush: Option<Res<BrushHover>>,
) {
    let Some(view) = pointer.view() else {
        return;
    };
    let Drag {
        from: drag,
        last_click,
    } = &mut *state;
    // A brush stroke in the 3D view owns the mouse until it ends.
    if brush.is_some_and(|b| b.stroking) {
        *drag = None;
        return;
    }
    let (buttons, keys) = (&mouse.buttons, &mouse.keys);
    let cursor = pointer.cursor();
    let inside = cursor.is_some_and(|c| view.contains(c));
    let shift = keys.pressed(KeyCode::ShiftLeft) || keys.pressed(KeyCode::ShiftRight);
    let any_pressed = [MouseButton::Left, MouseButton::Right, MouseButton::Middle]
        .iter()
        .any(|b| buttons.just_pressed(*b));
    if any_pressed && inside {
        *drag = Some((cursor.unwrap_or_default(), false));
    }
    let held = [MouseButton::Left, MouseButton::Right, MouseButton::Middle]
        .iter()
        .any(|b| buttons.pressed(*b));
    if let Some((start, moved)) = drag.as_mut() {
        let d = mouse.motion.delta;
        if let Some(c) = cursor
            && c.distance(*start) > 3.0
        {
            *moved = true;
        }
        let ctrl = keys.pressed(KeyCode::ControlLeft) || keys.pressed(KeyCode::ControlRight);
        let focus = plane.clip.focus;
        let plane_on = plane.clip.slots.get(focus).is_some_and(|s| s.enabled);
        if *moved && d != Vec2::ZERO && ctrl && plane_on {
            let h = view.height().max(1.0);
            if buttons.pressed(MouseButton::Left) {
                // One view height of drag moves the plane across most of the view.
                let mm = plane.orbit.single().map(|o| o.distance).unwrap_or(0.5) as f64 * 1000.0;
                plane.actions.write(ClipAction::Move {
                    index: focus,
                    mm: -(d.y / h) as f64 * mm * 0.8,
                });
            } else if buttons.pressed(MouseButton::Right) {
                plane.actions.write(ClipAction::Tilt {
                    index: focus,
                    pitch: (d.y / h) as f64 * 90.0,
                    yaw: (d.x / h) as f64 * 90.0,
                });
            }
        } else if *moved && d != Vec2::ZERO {
            let h = view.height().max(1.0);
            if buttons.pressed(MouseButton::Right)
                || buttons.pressed(MouseButton::Middle)
                || (shift && buttons.pressed(MouseButton::Left))
            {
                actions.write(ViewAction::Pan(d / h));
            } else if buttons.pressed(MouseButton::Left) {
                actions.write(ViewAction::Orbit(-d * std::f32::consts::PI / h));
            }
        }
        if buttons.just_released(MouseButton::Left) && !*moved {
            let now = mouse.time.elapsed_secs_f64();
            let double = last_click.is_some_and(|t| now - t < 0.4);
            *last_click = Some(now);
            if let Some(ray) = cursor.and_then(|c| pointer.ray(c)) {
                actions.write(ViewAction::Pick {
                    ray,
                    centre: double,
                });
            }
        }
        if !held {
            *drag = None;
        }
    }
    let scroll = &mouse.scroll;
    if inside && scroll.delta.y != 0.0 {
        let lines = match scroll.unit {
            MouseScrollUnit::Line => scroll.delta.y,
            MouseScrollUnit::Pixel => scroll.delta.y / 40.0,
        };
        actions.write(ViewAction::Zoom(0.9f32.powf(lines)));
    }
}

/// The view keys: the numpad's standard views (1 front, 3 side, 7 top, as
/// in Blender) and Home to reset; not with Ctrl held.
pub fn keys_to_views(keys: Res<ButtonInput<KeyCode>>, mut actions: MessageWriter<ViewAction>) {
    if keys.pressed(KeyCode::ControlLeft) {
        return;
    }
    let map = [
        (KeyCode::Numpad1, StandardView::Anterior),
        (KeyCode::Numpad3, StandardView::Left),
        (KeyCode::Numpad7, StandardView::Superior),
    ];
    for (k, v) in map {
        if keys.just_pressed(k) {
            actions.write(ViewAction::Standard(v));
        }
    }
    if keys.just_pressed(KeyCode::Home) {
        actions.write(ViewAction::Reset);
    }
}

/// Ctrl+Z undoes, Ctrl+Shift+Z (or Ctrl+Y) redoes, Ctrl+S saves the
/// session; not while a text field has the keys (it has its own undo).
pub fn shortcuts(
    keys: Res<ButtonInput<KeyCode>>,
    egui: Option<Res<bevy_egui::input::EguiWantsInput>>,
    mut history: MessageWriter<HistoryAction>,
    mut file: MessageWriter<FileAction>,
) {
    if egui.is_some_and(|e| e.wants_any_keyboard_input()) {
        return;
    }
    let command = keys.any_pressed([
        KeyCode::ControlLeft,
        KeyCode::ControlRight,
        KeyCode::SuperLeft,
        KeyCode::SuperRight,
    ]);
    if !command {
        return;
    }
    let shift = keys.any_pressed([KeyCode::ShiftLeft, KeyCode::ShiftRight]);
    if keys.just_pressed(KeyCode::KeyZ) {
        history.write(if shift {
            HistoryAction::Redo
        } else {
            HistoryAction::Undo
        });
    }
    if keys.just_pressed(KeyCode::KeyY) {
        history.write(HistoryAction::Redo);
    }
    if keys.just_pressed(KeyCode::KeyS) {
        file.write(FileAction::SaveSession);
    }
}
