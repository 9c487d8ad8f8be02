//! The pure shift between two slices on one pyramid level: Gauss-Newton
//! whose normal matrix (the fixed image's gradients) is kept while the
//! pixels that overlap stay the same, so a step is one bilinear sample
//! and two sums per pixel, made a row at a time in loops that vectorise
//! (five sums in order per pixel were most of a jump's registration).

use super::{Image, MAX_ITERATIONS, overlap};

/// Lanes of the sums: pixels `x` with the same `x % LANES` add to the same
/// lane, which lets the loop run on vectors (one sum in order does not).
const LANES: usize = 4;

/// Adds `a[k] * b[k]` for every k to the lanes `s` (in f64).
#[inline(always)]
fn dot_lanes(s: &mut [f64; LANES], a: &[f32], b: &[f32]) {
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail = (ca.remainder(), cb.remainder());
    for (ca, cb) in ca.zip(cb) {
        for l in 0..LANES {
            s[l] += ca[l] as f64 * cb[l] as f64;
        }
    }
    for (&a, &b) in tail.0.iter().zip(tail.1) {
        s[0] += a as f64 * b as f64;
    }
}

/// One step's sums over the overlap at `t`: the right side (gx·r and
/// gy·r, r the moving image read bilinearly at the shifted pixel less the
/// fixed one) and, with `normal`, the normal matrix (gx², gx·gy, gy²);
/// and the overlap (first x, end x, first y, end y). Each row's residuals
/// and gradients are made first, in loops of f32 that vectorise, then
/// summed in f64 lanes.
#[inline(always)]
fn step_sums(
    f: &Image,
    m: &Image,
    t: [f64; 2],
    normal: bool,
    rows: &mut [Vec<f32>; 3],
) -> ([f64; 5], [usize; 4]) {
    let (rect, i, [fx, fy]) = overlap(f, t);
    let [x0, x1, y0, y1] = rect;
    let n = x1.saturating_sub(x0);
    let (sx, sy) = (0.5 / f.px[0] as f32, 0.5 / f.px[1] as f32);
    let mut s = [[0.0f64; LANES]; 5];
    let [r, gx, gy] = rows;
    for v in [&mut *r, &mut *gx, &mut *gy] {
        v.resize(n, 0.0);
    }
    for y in y0..y1 {
        let my = (y as isize + i[1]) as usize;
        let mx = (x0 as isize + i[0]) as usize;
        let top = &m.data[my * m.w + mx..my * m.w + mx + n + 1];
        let bottom = &m.data[(my + 1) * m.w + mx..(my + 1) * m.w + mx + n + 1];
        let at = y * f.w + x0;
        let fv = &f.data[at..at + n];
        for (k, r) in r.iter_mut().enumerate() {
            let a = top[k] + (top[k + 1] - top[k]) * fx;
            let b = bottom[k] + (bottom[k + 1] - bottom[k]) * fx;
            *r = a + (b - a) * fy - fv[k];
        }
        let (left, right) = (&f.data[at - 1..at - 1 + n], &f.data[at + 1..at + 1 + n]);
        for ((g, &a), &b) in gx.iter_mut().zip(left).zip(right) {
            *g = (b - a) * sx;
        }
        let (up, down) = (
            &f.data[at - f.w..at - f.w + n],
            &f.data[at + f.w..at + f.w + n],
        );
        for ((g, &a), &b) in gy.iter_mut().zip(up).zip(down) {
            *g = (b - a) * sy;
        }
        dot_lanes(&mut s[0], gx, r);
        dot_lanes(&mut s[1], gy, r);
        if normal {
            dot_lanes(&mut s[2], gx, gx);
            dot_lanes(&mut s[3], gx, gy);
            dot_lanes(&mut s[4], gy, gy);
        }
    }
    (s.map(|l| l.iter().sum()), rect)
}

/// Inverse-compositional Gauss-Newton for a shift on one level: the fixed
/// image's gradients make the normal matrix, so a step costs one bilinear
/// sample per pixel.
pub(super) fn shift_only(f: &Image, m: &Image, t: [f64; 2]) -> [f64; 2] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { shift_only_avx2(f, m, t) };
    }
    shift_steps(f, m, t)
}

/// [`shift_steps`] compiled for AVX2 (four f64 lanes to a vector instead
/// of two): the same arithmetic, no fused steps, so the same shift.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn shift_only_avx2(f: &Image, m: &Image, t: [f64; 2]) -> [f64; 2] {
    shift_steps(f, m, t)
}

#[inline(always)]
fn shift_steps(f: &Image, m: &Image, mut t: [f64; 2]) -> [f64; 2] {
    let mut rows = [Vec::new(), Vec::new(), Vec::new()];
    // The normal matrix of the last overlap: it changes only when the
    // shift crosses a whole pixel.
    let mut kept: Option<([usize; 4], [f64; 3])> = None;
    for _ in 0..MAX_ITERATIONS {
        let known = kept.filter(|(r, _)| *r == overlap(f, t).0);
        let (sums, rect) = step_sums(f, m, t, known.is_none(), &mut rows);
        let [x0, x1, y0, y1] = rect;
        if x1 <= x0 || y1 <= y0 {
            break;
        }
        let [bx, by] = [sums[0], sums[1]];
        let [hxx, hxy, hyy] = match known {
            Some((_, h)) => h,
            None => {
                let h = [sums[2], sums[3], sums[4]];
                kept = Some((rect, h));
                h
            }
        };
        let det = hxx * hyy - hxy * hxy;
        if det.abs() <= 1e-12 * (hxx * hyy).abs().max(1e-300) {
            break;
        }
        let d = [(bx * hyy - by * hxy) / det, (hxx * by - hxy * bx) / det];
        let limit = 2.0 * f.px[0].max(f.px[1]);
        t[0] -= d[0].clamp(-limit, limit);
        t[1] -= d[1].clamp(-limit, limit);
        if d[0].abs() + d[1].abs() < 1e-3 * f.px[0].min(f.px[1]) {
            break;
        }
    }
    t
}
