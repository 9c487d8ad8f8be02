//! The turn between two slices: inverse-compositional Gauss-Newton for a
//! shift and a turn, whose fixed image's gradients, steepest-descent rows
//! and normal matrix are made once per level, so an iteration costs one
//! bilinear sample and three sums per pixel that has a gradient.

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

/// A pixel of the fixed image with a gradient, and its steepest-descent
/// row: the gradient (per mm) times the warp's derivative at no motion,
/// by the shift along x, along y, and by the turn.
struct Pixel {
    x: u32,
    y: u32,
    sd: [f32; 3],
}

/// The pixels of `f` that move the fit (a flat pixel, as the air around
/// the body, adds nothing to either side of the normal equations) and the
/// inverse of the normal matrix, which the inverse-compositional form
/// keeps for every step; `None` for an image with no structure.
fn steepest(f: &Image, centre: [f64; 2]) -> Option<(Vec<Pixel>, [[f64; 3]; 3])> {
    let (sx, sy) = (0.5 / f.px[0] as f32, 0.5 / f.px[1] as f32);
    let mut pixels = Vec::new();
    let mut h = [[0.0f64; 3]; 3];
    for y in 1..f.h.saturating_sub(1) {
        let dv = (y as f64 * f.px[1] - centre[1]) as f32;
        for x in 1..f.w.saturating_sub(1) {
            let i = y * f.w + x;
            let gu = (f.data[i + 1] - f.data[i - 1]) * sx;
            let gv = (f.data[i + f.w] - f.data[i - f.w]) * sy;
            if gu == 0.0 && gv == 0.0 {
                continue;
            }
            let du = (x as f64 * f.px[0] - centre[0]) as f32;
            let sd = [gu, gv, gv * du - gu * dv];
            for (r, row) in h.iter_mut().enumerate() {
                for (c, v) in row.iter_mut().enumerate() {
                    *v += sd[r] as f64 * sd[c] as f64;
                }
            }
            pixels.push(Pixel {
                x: x as u32,
                y: y as u32,
                sd,
            });
        }
    }
    Some((pixels, invert3(&h)?))
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
    let Some((pixels, inv)) = steepest(f, centre) else {
        return p;
    };
    let mut rows = vec![[0.0f64; 4]; f.h];
    for _ in 0..MAX_ITERATIONS {
        let sc = p[2].sin_cos();
        for (y, r) in rows.iter_mut().enumerate() {
            *r = row_warp(f, m, y, centre, p, sc);
        }
        let (mut b, mut n) = ([0.0f64; 3], 0usize);
        for q in &pixels {
            let [bu, bv, su, sv] = rows[q.y as usize];
            let xf = q.x as f64;
            let Some(mv) = m.value(bu + su * xf, bv + sv * xf) else {
                continue;
            };
            let r = mv - f.data[q.y as usize * f.w + q.x as usize] as f64;
            b[0] += q.sd[0] as f64 * r;
            b[1] += q.sd[1] as f64 * r;
            b[2] += q.sd[2] as f64 * r;
            n += 1;
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
