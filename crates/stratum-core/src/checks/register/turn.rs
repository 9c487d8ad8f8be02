//! The turn between two slices: inverse-compositional Gauss-Newton for a
//! shift and a turn, whose fixed image's normal matrix is made once per
//! level, so an iteration costs the pixel's gradient (a few subtractions),
//! one bilinear sample and three sums per pixel that has a gradient.

use super::{Image, MAX_ITERATIONS, Rigid};
use crate::image::volume::invert3;

/// Aligns `moving` to `fixed` (pyramids of the same size, see
/// [`super::image::pyramid`]) by a shift and a turn: `moving(W(u)) ≈ fixed(u)`
/// with `W(u) = R(angle)(u - centre) + centre + shift`, in mm. Starts at
/// the shift `init` (mm; the pair's pure shift, which the turn then
/// needs only a few steps from) and no turn.
pub fn register_turn(fixed: &[Image], moving: &[Image], centre: [f64; 2], init: [f64; 2]) -> Rigid {
    // The turn is found on the coarser levels (a tenth of a degree needs
    // no finer pixels) and judged on the finest.
    turn_from(
        fixed,
        moving,
        centre,
        init,
        usize::from(fixed.len() > 1),
        FINE,
    )
}

/// [`register_turn`] on a pyramid's coarse levels only (see
/// [`super::coarse_pyramid`]): the turn found on all of them, the finest
/// of them included, and judged there; to a hundredth of a pixel and a
/// twentieth of a degree (`COARSE`), which is what telling a turn from
/// none needs (a turn is judged against a whole degree): on a noisy slice
/// the tighter bound of [`register_turn`] keeps it stepping to the last
/// iteration.
pub fn register_turn_coarse(
    fixed: &[Image],
    moving: &[Image],
    centre: [f64; 2],
    init: [f64; 2],
) -> Rigid {
    turn_from(fixed, moving, centre, init, 0, COARSE)
}

/// When a level's Gauss-Newton stops: the last step's shift under
/// `pixels` of a pixel (x and y added) and its turn under `radians`.
#[derive(Clone, Copy)]
struct Converged {
    pixels: f64,
    radians: f64,
}

/// A thousandth of a pixel, a hundredth of a degree (a tighter bound
/// only kept noisy slices iterating).
const FINE: Converged = Converged {
    pixels: 1e-3,
    radians: 1.7e-4,
};
/// A hundredth of a pixel, a twentieth of a degree (see
/// [`register_turn_coarse`]).
const COARSE: Converged = Converged {
    pixels: 1e-2,
    radians: 8.7e-4,
};

fn turn_from(
    fixed: &[Image],
    moving: &[Image],
    centre: [f64; 2],
    init: [f64; 2],
    skip: usize,
    stop: Converged,
) -> Rigid {
    let (Some(f), Some(m)) = (fixed.first(), moving.first()) else {
        return Rigid::default();
    };
    let mut p = [init[0], init[1], 0.0];
    for (f, m) in fixed.iter().zip(moving).skip(skip).rev() {
        p = turn_level(f, m, centre, p, stop);
    }
    Rigid {
        shift: [p[0], p[1]],
        angle: p[2],
        rms_before: rms_still(f, m),
        rms_after: rms(f, m, centre, p),
    }
}

/// `W(u)` for the parameters `p`, whose turn's sine and cosine `(s, c)`
/// the caller takes once (per pixel they were most of a registration's time).
#[inline]
fn warp(u: f64, v: f64, centre: [f64; 2], p: [f64; 3], (s, c): (f64, f64)) -> (f64, f64) {
    let (du, dv) = (u - centre[0], v - centre[1]);
    (
        c * du - s * dv + centre[0] + p[0],
        s * du + c * dv + centre[1] + p[1],
    )
}

/// Where row `y` of `f` lands in `m` (pixels of `m`) under `p`: the warp
/// is affine along a row, so its start and its step per pixel.
#[inline]
fn row_warp(
    f: &Image,
    m: &Image,
    y: usize,
    centre: [f64; 2],
    p: [f64; 3],
    (s, c): (f64, f64),
) -> [f64; 4] {
    let (u0, v0) = warp(0.0, y as f64 * f.px[1], centre, p, (s, c));
    [
        u0 / m.px[0],
        v0 / m.px[1],
        c * f.px[0] / m.px[0],
        s * f.px[0] / m.px[1],
    ]
}

fn rms(f: &Image, m: &Image, centre: [f64; 2], p: [f64; 3]) -> f64 {
    let sc = p[2].sin_cos();
    let (e, n) = (0..f.h)
        .map(|y| {
            let [bu, bv, su, sv] = row_warp(f, m, y, centre, p, sc);
            let (mut e, mut n) = (0.0f64, 0usize);
            for x in 0..f.w {
                let xf = x as f64;
                if let Some(mv) = m.value(bu + su * xf, bv + sv * xf) {
                    let d = mv - f.data[y * f.w + x] as f64;
                    e += d * d;
                    n += 1;
                }
            }
            (e, n)
        })
        .fold((0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    if n == 0 { 0.0 } else { (e / n as f64).sqrt() }
}

/// [`rms`] at no motion: each pixel is sampled where it lies, so it is the
/// plain difference of the two images, without a bilinear lookup each.
fn rms_still(f: &Image, m: &Image) -> f64 {
    if (f.w, f.h) != (m.w, m.h) {
        return rms(f, m, [0.0; 2], [0.0; 3]);
    }
    let (e, n) = f
        .data
        .chunks_exact(f.w.max(1))
        .zip(m.data.chunks_exact(m.w.max(1)))
        .map(|(a, b)| {
            let e: f64 = a
                .iter()
                .zip(b)
                .map(|(&a, &b)| {
                    let d = b as f64 - a as f64;
                    d * d
                })
                .sum();
            (e, a.len())
        })
        .fold((0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    if n == 0 { 0.0 } else { (e / n as f64).sqrt() }
}

/// The fixed image's steepest-descent rows, read in place: a pixel's
/// gradient (per mm) times the warp's derivative at no motion, by the
/// shift along x, along y, and by the turn; `None` for a flat pixel (as
/// the air around the body), which adds nothing to either side of the
/// normal equations. Made again at each step rather than kept in a list
/// (a 128-pixel level's list was a third of a megabyte of new pages for
/// each turn, and a few subtractions a pixel cost less than reading it).
struct Steepest<'a> {
    f: &'a Image,
    /// The gradient's factors along x and y (half a pixel's inverse).
    s: [f32; 2],
    /// Each column's distance from the centre along x (mm).
    du: Vec<f32>,
    centre_y: f64,
}

impl<'a> Steepest<'a> {
    fn new(f: &'a Image, centre: [f64; 2]) -> Steepest<'a> {
        Steepest {
            f,
            s: [0.5 / f.px[0] as f32, 0.5 / f.px[1] as f32],
            du: (0..f.w)
                .map(|x| (x as f64 * f.px[0] - centre[0]) as f32)
                .collect(),
            centre_y: centre[1],
        }
    }

    /// Row `y`'s distance from the centre along y (mm).
    #[inline]
    fn dv(&self, y: usize) -> f32 {
        (y as f64 * self.f.px[1] - self.centre_y) as f32
    }

    /// The steepest-descent row of pixel (x, y), inside the border.
    #[inline(always)]
    fn at(&self, x: usize, y: usize, dv: f32) -> Option<[f32; 3]> {
        let (d, w) = (&self.f.data, self.f.w);
        let i = y * w + x;
        let gu = (d[i + 1] - d[i - 1]) * self.s[0];
        let gv = (d[i + w] - d[i - w]) * self.s[1];
        if gu == 0.0 && gv == 0.0 {
            return None;
        }
        Some([gu, gv, gv * self.du[x] - gu * dv])
    }

    /// The inverse of the normal matrix, which the inverse-compositional
    /// form keeps for every step; `None` for an image with no structure.
    fn inverse_normal(&self) -> Option<[[f64; 3]; 3]> {
        let f = self.f;
        let mut h = [[0.0f64; 3]; 3];
        for y in 1..f.h.saturating_sub(1) {
            let dv = self.dv(y);
            for x in 1..f.w.saturating_sub(1) {
                let Some(sd) = self.at(x, y, dv) else {
                    continue;
                };
                for (r, row) in h.iter_mut().enumerate() {
                    for (c, v) in row.iter_mut().enumerate() {
                        *v += sd[r] as f64 * sd[c] as f64;
                    }
                }
            }
        }
        invert3(&h)
    }
}

/// Inverse-compositional Gauss-Newton on one level: each step `d` solves
/// the fixed image's normal equations against the current residual, and
/// the warp becomes `W(p) ∘ W(d)⁻¹`: the turn less d's, the shift less
/// d's shift turned by the new angle. It stops where the residual is
/// orthogonal to the steepest-descent rows, the same optimum as the
/// forward form's once the slices align.
fn turn_level(
    f: &Image,
    m: &Image,
    centre: [f64; 2],
    mut p: [f64; 3],
    stop: Converged,
) -> [f64; 3] {
    let steepest = Steepest::new(f, centre);
    let Some(inv) = steepest.inverse_normal() else {
        return p;
    };
    for _ in 0..MAX_ITERATIONS {
        let sc = p[2].sin_cos();
        let (mut b, mut n) = ([0.0f64; 3], 0usize);
        for y in 1..f.h.saturating_sub(1) {
            let [bu, bv, su, sv] = row_warp(f, m, y, centre, p, sc);
            let dv = steepest.dv(y);
            for x in 1..f.w.saturating_sub(1) {
                let Some(sd) = steepest.at(x, y, dv) else {
                    continue;
                };
                let xf = x as f64;
                let Some(mv) = m.value(bu + su * xf, bv + sv * xf) else {
                    continue;
                };
                let r = mv - f.data[y * f.w + x] as f64;
                b[0] += sd[0] as f64 * r;
                b[1] += sd[1] as f64 * r;
                b[2] += sd[2] as f64 * r;
                n += 1;
            }
        }
        if n == 0 {
            break;
        }
        let d: [f64; 3] =
            std::array::from_fn(|r| inv[r][0] * b[0] + inv[r][1] * b[1] + inv[r][2] * b[2]);
        // Bounded steps: a flat image must not throw the estimate away.
        let limit = 2.0 * f.px[0].max(f.px[1]);
        let (dx, dy) = (d[0].clamp(-limit, limit), d[1].clamp(-limit, limit));
        let da = d[2].clamp(-0.05, 0.05);
        p[2] -= da;
        let (s, c) = p[2].sin_cos();
        p[0] -= c * dx - s * dy;
        p[1] -= s * dx + c * dy;
        // Converged (see `FINE`: a turn is judged against a whole degree).
        if d[0].abs() + d[1].abs() < stop.pixels * f.px[0].min(f.px[1]) && d[2].abs() < stop.radians
        {
            break;
        }
    }
    p
}
