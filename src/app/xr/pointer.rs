//! The laser pointer of the world panel, as pure functions: where a
//! controller's aim ray meets a panel quad (in the panel's pixels), and the
//! egui pointer events a trigger makes there. No runtime, no ECS: `panel`
//! feeds these with the rig's snapshots, and the tests with scripted rays.

use bevy::prelude::*;
use bevy_egui::egui;

use super::input::TRIGGER_AT;

/// A trigger that has pressed lets go below this (a little under the press
/// level, so a trigger resting near it does not click twice).
pub const RELEASE_AT: f32 = TRIGGER_AT - 0.15;

/// Where a panel hangs in the world and how many pixels its image has.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PanelQuad {
    /// The quad's centre and its turn: the face looks along +Z (toward
    /// the user), +X is the image's right, +Y its top.
    pub transform: Transform,
    /// Width and height in metres.
    pub size_m: Vec2,
    /// Width and height of the image in egui points (the context's pixels).
    pub pixels: Vec2,
}

impl PanelQuad {
    /// Where `ray` meets the quad's plane from the front, in panel pixels
    /// (x right, y down from the top-left corner), and how far along the ray;
    /// `None` when it misses the plane, comes from behind, or points away.
    /// Points off the quad are returned too (a held click drags on);
    /// [`PanelQuad::contains`] says whether one is on it.
    pub fn hit_plane(&self, ray: Ray3d) -> Option<(Vec2, f32)> {
        let normal = self.transform.rotation * Vec3::Z;
        let facing = ray.direction.dot(normal);
        if facing > -1e-4 {
            return None;
        }
        let t = (self.transform.translation - ray.origin).dot(normal) / facing;
        if t <= 0.0 {
            return None;
        }
        let local = self.transform.rotation.inverse()
            * (ray.origin + *ray.direction * t - self.transform.translation);
        let uv = Vec2::new(local.x / self.size_m.x + 0.5, 0.5 - local.y / self.size_m.y);
        Some((uv * self.pixels, t))
    }

    /// Where `ray` meets the quad itself (pixels, distance), if it does.
    pub fn hit(&self, ray: Ray3d) -> Option<(Vec2, f32)> {
        self.hit_plane(ray).filter(|(px, _)| self.contains(*px))
    }

    pub fn contains(&self, px: Vec2) -> bool {
        px.x >= 0.0 && px.y >= 0.0 && px.x <= self.pixels.x && px.y <= self.pixels.y
    }

    /// The world point of a panel pixel (the inverse of [`PanelQuad::hit_plane`]).
    pub fn world_point(&self, px: Vec2) -> Vec3 {
        let uv = px / self.pixels;
        let local = Vec3::new(
            (uv.x - 0.5) * self.size_m.x,
            (0.5 - uv.y) * self.size_m.y,
            0.0,
        );
        self.transform.translation + self.transform.rotation * local
    }
}

/// What one hand's pointer is doing on a panel across frames.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LaserPointer {
    /// The trigger went down on the panel and has not let go yet.
    pub pressed: bool,
    /// The last position sent to egui, while the ray is on the panel (or a
    /// press drags on).
    pub at: Option<Vec2>,
    /// The trigger was down last frame (wherever the ray was).
    pub down: bool,
}

impl LaserPointer {
    /// The ray is on the panel now, or holds a press that began there: the
    /// trigger belongs to the panel, not to picking.
    pub fn owns_trigger(&self) -> bool {
        self.pressed || self.at.is_some()
    }

    /// One frame: `plane` is where the ray meets the panel's plane (from
    /// [`PanelQuad::hit_plane`]) and `on_quad` whether that point is on it;
    /// `trigger` the hand's trigger (0..1). Returns the egui events to send
    /// the panel's context, in order.
    pub fn update(&mut self, plane: Option<Vec2>, on_quad: bool, trigger: f32) -> Vec<egui::Event> {
        let mut out = Vec::new();
        // Off the quad, a press keeps dragging along the plane; without one
        // the pointer leaves.
        let pos = match plane {
            Some(p) if on_quad || self.pressed => Some(p),
            _ => None,
        };
        match pos {
            Some(p) => {
                if self.at != Some(p) {
                    out.push(egui::Event::PointerMoved(egui::pos2(p.x, p.y)));
                }
                self.at = Some(p);
            }
            None if self.pressed => {}
            None => {
                if self.at.take().is_some() {
                    out.push(egui::Event::PointerGone);
                }
            }
        }
        let button = |pos: Vec2, pressed: bool| egui::Event::PointerButton {
            pos: egui::pos2(pos.x, pos.y),
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        };
        // The trigger's own state, with hysteresis.
        let was_down = self.down;
        self.down = if was_down {
            trigger >= RELEASE_AT
        } else {
            trigger >= TRIGGER_AT
        };
        // A press counts only where it starts on the quad (a trigger pulled
        // elsewhere and swept onto the panel does not click).
        if self.down && !was_down && on_quad {
            if let Some(p) = self.at {
                self.pressed = true;
                out.push(button(p, true));
            }
        } else if self.pressed && !self.down {
            self.pressed = false;
            if let Some(p) = self.at {
                out.push(button(p, false));
            }
            if !on_quad {
                self.at = None;
                out.push(egui::Event::PointerGone);
            }
        }
        out
    }
}
