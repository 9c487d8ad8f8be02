//! The slice shown in space as a plane in patient space, pure: where a
//! stroke begun with the brush ball on it lands ([`QuadPlane::reach`]).
//! `reslice` keeps it up to date; the controller map (`input`) reads it.

use stratum_core::image::view::Plane;
use stratum_core::image::volume::{dot, sub};

/// The slice shown in space, in LPS mm: the plane it is a slice of, a
/// corner and its two edges (the quad is `corner + s u + t v` for s, t in
/// 0..=1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QuadPlane {
    pub plane: Plane,
    pub corner: [f64; 3],
    pub u: [f64; 3],
    pub v: [f64; 3],
}

/// A stroke begun with the ball this close to the slice in space (mm,
/// besides the ball's radius) is drawn on it.
pub const QUAD_REACH_MM: f64 = 2.0;

impl QuadPlane {
    fn normal(&self) -> [f64; 3] {
        let (u, v) = (self.u, self.v);
        let n = [
            u[1] * v[2] - u[2] * v[1],
            u[2] * v[0] - u[0] * v[2],
            u[0] * v[1] - u[1] * v[0],
        ];
        let len = dot(n, n).sqrt();
        if len > 0.0 { n.map(|c| c / len) } else { n }
    }

    /// `p` (LPS mm) moved square onto the plane, and how far it was from it.
    pub fn project(&self, p: [f64; 3]) -> ([f64; 3], f64) {
        let n = self.normal();
        let h = dot(sub(p, self.corner), n);
        (std::array::from_fn(|k| p[k] - h * n[k]), h.abs())
    }

    /// Whether a point on the plane lies on the quad.
    fn holds(&self, on_plane: [f64; 3]) -> bool {
        let d = sub(on_plane, self.corner);
        let inside = |e: [f64; 3]| {
            let l = dot(e, e);
            l > 0.0 && (0.0..=1.0).contains(&(dot(d, e) / l))
        };
        inside(self.u) && inside(self.v)
    }

    /// Where a stroke from `p` lands on the slice, if the ball of radius
    /// `radius_mm` at `p` reaches it.
    pub fn reach(&self, p: [f64; 3], radius_mm: f64) -> Option<[f64; 3]> {
        let (q, h) = self.project(p);
        (h <= radius_mm + QUAD_REACH_MM && self.holds(q)).then_some(q)
    }
}
