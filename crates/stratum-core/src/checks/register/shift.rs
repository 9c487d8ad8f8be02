//! The pure shift between two slices on one pyramid level: Gauss-Newton
//! whose normal matrix (the fixed image's gradients) is kept while the
//! pixels that overlap stay the same, so a step is one bilinear sample
//! and two sums per pixel, made a row at a time in loops that vectorise
//! (five sums in order per pixel were most of a jump's registration).

use super::{Image, MAX_ITERATIONS, overlap};

/// Lanes of the sums: pixels `x` with the same `x % LANES` add to the same
/// lane, which lets the loop run on vectors (one sum in order does not).
const LANES: usize = 4;

/// Adds `a[k] * b[k]` for every k to the lanes `s` (in f64): k to lane
/// `k % LANES` for whole groups of LANES, the rest to lane 0 in order.
#[inline(always)]
fn dot_lanes(s: &mut [f64; LANES], a: &[f32], b: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { dot_lanes_avx2(s, a, b) };
    }
    dot_lanes_any(s, a, b)
}

/// [`dot_lanes_any`] on one vector of four f64: the same operations in
/// each lane, in the same order, unfused, so the same sums to the bit
/// (the compiler's own vectors of it were partly scalar adds in a chain).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_lanes_avx2(s: &mut [f64; LANES], a: &[f32], b: &[f32]) {
    use std::arch::x86_64::*;
    // One vector holds the lanes.
    const _: () = assert!(LANES == 4);
    let n = a.len().min(b.len());
    let whole = n / LANES * LANES;
    // SAFETY: `s` holds four f64, what an unaligned load reads.
    let mut acc = unsafe { _mm256_loadu_pd(s.as_ptr()) };
    let mut i = 0;
    while i < whole {
        // SAFETY: i + 4 <= whole <= the length of both slices.
        let (av, bv) = unsafe {
            (
                _mm256_cvtps_pd(_mm_loadu_ps(a.as_ptr().add(i))),
                _mm256_cvtps_pd(_mm_loadu_ps(b.as_ptr().add(i))),
            )
        };
        acc = _mm256_add_pd(acc, _mm256_mul_pd(av, bv));
        i += LANES;
    }
    // SAFETY: as the load above.
    unsafe { _mm256_storeu_pd(s.as_mut_ptr(), acc) };
    for (&a, &b) in a[whole..n].iter().zip(&b[whole..n]) {
        s[0] += a as f64 * b as f64;
    }
}

/// [`dot_lanes`] in plain Rust, a lane at a time.
#[inline(always)]
fn dot_lanes_any(s: &mut [f64; LANES], a: &[f32], b: &[f32]) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vector_lanes_of_a_dot_are_the_plain_ones_to_the_bit() {
        // Gradients and residuals as a level has them (signed, a few
        // thousand at most), lengths with and without a rest, lanes that
        // already hold sums.
        let mut values = super::super::test_values(0x2545_f491_4f6c_dd1d);
        let mut next = || ((values() >> 40) as f32 / 4096.0 - 2048.0) * 1.37;
        for n in [0, 1, 3, 4, 7, 64, 125, 128, 255] {
            let a: Vec<f32> = (0..n).map(|_| next()).collect();
            let b: Vec<f32> = (0..n).map(|_| next()).collect();
            let start = [1.5, -2.25, 1e6, 0.0];
            let (mut plain, mut any) = (start, start);
            dot_lanes_any(&mut plain, &a, &b);
            dot_lanes(&mut any, &a, &b);
            assert_eq!(plain.map(f64::to_bits), any.map(f64::to_bits), "{n}");
        }
    }
}
