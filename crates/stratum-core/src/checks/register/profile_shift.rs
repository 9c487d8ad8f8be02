//! The 1D shift between two profiles (see [`super::profiles`]): an
//! integer search on coarse copies, then Gauss-Newton with linear
//! interpolation, whose step sums run in four f64 lanes (one AVX2 vector
//! where the CPU has it).

/// One sample's terms of a Gauss-Newton step: the slope `b - a` and the
/// residual at fraction `fr` of the way from `a` to `b`, less `pv`.
#[inline(always)]
fn terms(a: f64, b: f64, pv: f64, fr: f64) -> (f64, f64) {
    let g = b - a;
    (g, a + g * fr - pv)
}

/// The lanes of [`step_sums`] over samples in whole groups of four (`p`,
/// `a`, `b` as long, a multiple of four): sample `i` adds slope times
/// residual and slope squared to lane `i % 4`.
#[inline(always)]
fn lane_sums(p: &[f32], a: &[f32], b: &[f32], fr: f64) -> ([f64; 4], [f64; 4]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { lane_sums_avx2(p, a, b, fr) };
    }
    lane_sums_any(p, a, b, fr)
}

/// [`lane_sums`] in plain Rust, a lane at a time.
fn lane_sums_any(p: &[f32], a: &[f32], b: &[f32], fr: f64) -> ([f64; 4], [f64; 4]) {
    let (mut jr, mut jj) = ([0.0f64; 4], [0.0f64; 4]);
    for ((pc, ac), bc) in p
        .chunks_exact(4)
        .zip(a.chunks_exact(4))
        .zip(b.chunks_exact(4))
    {
        for l in 0..4 {
            let (g, r) = terms(ac[l] as f64, bc[l] as f64, pc[l] as f64, fr);
            jr[l] += g * r;
            jj[l] += g * g;
        }
    }
    (jr, jj)
}

/// [`lane_sums_any`] on one vector of four f64: the same operations in
/// each lane, in the same order, unfused, so the same sums to the bit.
/// The compiler's own vectors of it came out half scalar (`b` is `a` one
/// sample on, which it tried to share), a chain of adds waiting on each
/// other, and were most of the profile shifts' time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn lane_sums_avx2(p: &[f32], a: &[f32], b: &[f32], fr: f64) -> ([f64; 4], [f64; 4]) {
    use std::arch::x86_64::*;
    let n = p.len().min(a.len()).min(b.len()) / 4 * 4;
    let frv = _mm256_set1_pd(fr);
    let (mut jr, mut jj) = (_mm256_setzero_pd(), _mm256_setzero_pd());
    let mut i = 0;
    while i < n {
        // SAFETY: i + 4 <= n, which none of the three slices is shorter than.
        let (av, bv, pv) = unsafe {
            (
                _mm256_cvtps_pd(_mm_loadu_ps(a.as_ptr().add(i))),
                _mm256_cvtps_pd(_mm_loadu_ps(b.as_ptr().add(i))),
                _mm256_cvtps_pd(_mm_loadu_ps(p.as_ptr().add(i))),
            )
        };
        let g = _mm256_sub_pd(bv, av);
        let r = _mm256_sub_pd(_mm256_add_pd(av, _mm256_mul_pd(g, frv)), pv);
        jr = _mm256_add_pd(jr, _mm256_mul_pd(g, r));
        jj = _mm256_add_pd(jj, _mm256_mul_pd(g, g));
        i += 4;
    }
    let (mut r, mut j) = ([0.0f64; 4], [0.0f64; 4]);
    // SAFETY: each array holds four f64, what an unaligned store writes.
    unsafe {
        _mm256_storeu_pd(r.as_mut_ptr(), jr);
        _mm256_storeu_pd(j.as_mut_ptr(), jj);
    }
    (r, j)
}

/// The sums of one Gauss-Newton step of [`shift_1d`] at `d`: with `q`
/// read (linearly) at `x + d` for each `x` where that lies inside `q`, the
/// sum of slope times residual and of slope squared. Every read has the
/// same fraction, so the loop needs no lookup of its own, and it keeps
/// four lanes of sums, which vectorise (one sum in order does not).
#[inline(always)]
fn step_sums(p: &[f32], q: &[f32], d: f64) -> (f64, f64) {
    let n = p.len().min(q.len());
    if n < 2 || !d.is_finite() {
        return (0.0, 0.0);
    }
    let k = d.floor();
    let fr = d - k;
    let (mut jr, mut jj) = ([0.0f64; 4], [0.0f64; 4]);
    // The x whose read has both neighbours inside: 0 <= x + k <= n - 2.
    let lo = (-k).max(0.0);
    let hi = (n as f64 - 2.0 - k).min(n as f64 - 1.0);
    if lo <= hi {
        let (lo, hi) = (lo as usize, hi as usize);
        let at = (lo as f64 + k) as usize;
        let m = hi + 1 - lo;
        let (ps, a, b) = (&p[lo..=hi], &q[at..at + m], &q[at + 1..at + 1 + m]);
        // Whole groups of four in the lanes, the rest in lane 0 in order.
        let whole = m / 4 * 4;
        (jr, jj) = lane_sums(&ps[..whole], &a[..whole], &b[..whole], fr);
        for ((&pv, &a), &b) in ps[whole..].iter().zip(&a[whole..]).zip(&b[whole..]) {
            let (g, r) = terms(a as f64, b as f64, pv as f64, fr);
            jr[0] += g * r;
            jj[0] += g * g;
        }
    }
    // A whole-sample shift also reads the last sample itself.
    let last = n as f64 - 1.0 - k;
    if fr == 0.0 && (0.0..n as f64).contains(&last) {
        let pv = p[last as usize];
        let (a, b) = (q[n - 2], q[n - 1]);
        // Read at fraction 1 of the last pair, as its neighbours are.
        let (a64, b64) = (a as f64, b as f64);
        let g = b64 - a64;
        let r = a64 + g - pv as f64;
        jr[0] += g * r;
        jj[0] += g * g;
    }
    (jr.iter().sum(), jj.iter().sum())
}

/// The displacement `d` (in samples) of `q`'s content against `p`'s, so
/// that `q(x + d) ≈ p(x)`: an integer search on a 4x coarser copy within
/// `max` samples, then Gauss-Newton with linear interpolation.
pub fn shift_1d(p: &[f32], q: &[f32], max: usize) -> f64 {
    let n = p.len().min(q.len());
    shift_1d_with(p, q, &coarse_1d(&p[..n]), &coarse_1d(&q[..n]), max)
}

/// The 4x coarser copy of a profile that [`shift_1d`] searches first:
/// each four samples added in order (a last shorter group likewise),
/// whole groups in a loop with no length to check per group.
pub fn coarse_1d(v: &[f32]) -> Vec<f32> {
    let groups = v.chunks_exact(4);
    let rest = groups.remainder();
    let mut out = Vec::with_capacity(v.len().div_ceil(4));
    out.extend(groups.map(|c| c[0] + c[1] + c[2] + c[3]));
    if !rest.is_empty() {
        out.push(rest.iter().sum());
    }
    out
}

/// [`shift_1d`] with the coarse copies of `p` and `q` (each as long as
/// the shorter of them), made once per profile where one is compared
/// with two neighbours.
pub fn shift_1d_with(p: &[f32], q: &[f32], pc: &[f32], qc: &[f32], max: usize) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { shift_1d_avx2(p, q, pc, qc, max) };
    }
    shift_1d_of(p, q, pc, qc, max)
}

/// [`shift_1d_of`] compiled for AVX2 (its four lanes of f64 sums in one
/// vector instead of two): the same arithmetic, no fused steps, so the
/// same shift.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn shift_1d_avx2(p: &[f32], q: &[f32], pc: &[f32], qc: &[f32], max: usize) -> f64 {
    shift_1d_of(p, q, pc, qc, max)
}

#[inline(always)]
fn shift_1d_of(p: &[f32], q: &[f32], pc: &[f32], qc: &[f32], max: usize) -> f64 {
    let n = p.len().min(q.len());
    if n < 8 {
        return 0.0;
    }
    let r = (max / 4 + 1).min(pc.len() / 2) as isize;
    let mut best = (f64::INFINITY, 0isize);
    for k in -r..=r {
        // The samples x of `pc` whose x + k lies in `qc`, summed in four
        // lanes (one sum in order waited on each add).
        let lo = (-k).max(0) as usize;
        let hi = (qc.len() as isize - k).clamp(0, pc.len() as isize) as usize;
        let m = hi.saturating_sub(lo);
        let mut lanes = [0.0f64; 4];
        if m > 0 {
            let at = (lo as isize + k) as usize;
            let (ps, qs) = (pc[lo..hi].chunks_exact(4), qc[at..at + m].chunks_exact(4));
            let tail = (ps.remainder(), qs.remainder());
            for (ps, qs) in ps.zip(qs) {
                for l in 0..4 {
                    let d = (qs[l] - ps[l]) as f64;
                    lanes[l] += d * d;
                }
            }
            for (&pv, &qv) in tail.0.iter().zip(tail.1) {
                let d = (qv - pv) as f64;
                lanes[0] += d * d;
            }
        }
        let e: f64 = lanes.iter().sum();
        // The same overlap-normalised error for every k; ties keep the smallest |k|.
        let e = e / m.max(1) as f64;
        if e < best.0 - 1e-9 * e.abs() || (e <= best.0 && k.abs() < best.1.abs()) {
            best = (e, k);
        }
    }
    let mut d = (best.1 * 4) as f64;
    for _ in 0..20 {
        let (jr, jj) = step_sums(&p[..n], &q[..n], d);
        if jj <= 0.0 {
            break;
        }
        let step = (-jr / jj).clamp(-2.0, 2.0);
        d += step;
        if step.abs() < 1e-4 {
            break;
        }
    }
    if d.abs() > max as f64 + 2.0 { 0.0 } else { d }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_reads_every_sample_inside_as_a_lookup_each_would() {
        // The sums of a lookup per sample (bounds, floor, interpolation),
        // at whole, fractional, negative and out-of-range shifts.
        let lookup = |p: &[f32], q: &[f32], d: f64| {
            let (mut jr, mut jj) = (0.0f64, 0.0f64);
            for (x, &pv) in p.iter().enumerate() {
                let at = x as f64 + d;
                if !(at >= 0.0 && at <= (q.len() - 1) as f64) {
                    continue;
                }
                let i = (at.floor() as usize).min(q.len() - 2);
                let (a, b) = (q[i] as f64, q[i + 1] as f64);
                jr += (b - a) * (a + (b - a) * (at - i as f64) - pv as f64);
                jj += (b - a) * (b - a);
            }
            (jr, jj)
        };
        let p: Vec<f32> = (0..37).map(|x| ((x * 7919) % 101) as f32).collect();
        let q: Vec<f32> = (0..37).map(|x| ((x * 104_729) % 97) as f32).collect();
        for d in [
            0.0, 3.0, -3.0, 0.25, -7.6, 12.5, 35.0, 36.0, -36.0, 36.5, -40.0, 1e9,
        ] {
            let (a, b) = (step_sums(&p, &q, d), lookup(&p, &q, d));
            assert!(
                (a.0 - b.0).abs() <= 1e-9 * b.0.abs().max(1.0),
                "{d}: {a:?} {b:?}"
            );
            assert!(
                (a.1 - b.1).abs() <= 1e-9 * b.1.abs().max(1.0),
                "{d}: {a:?} {b:?}"
            );
        }
    }

    #[test]
    fn the_vector_lanes_of_a_step_are_the_plain_ones_to_the_bit() {
        // Profile-like values (sums of thousands of levels), lengths of
        // whole groups, fractions across the cell and at its ends.
        let mut values = super::super::test_values(0x853c_49e6_748f_ea9b);
        let mut next = || (values() >> 40) as f32;
        for n in [4, 8, 64, 128, 512] {
            let p: Vec<f32> = (0..n).map(|_| next()).collect();
            let q: Vec<f32> = (0..n + 1).map(|_| next()).collect();
            for fr in [0.0, 1e-9, 0.25, 0.5, 0.731, 0.999_999] {
                let plain = lane_sums_any(&p, &q[..n], &q[1..], fr);
                let any = lane_sums(&p, &q[..n], &q[1..], fr);
                let bits = |v: ([f64; 4], [f64; 4])| (v.0.map(f64::to_bits), v.1.map(f64::to_bits));
                assert_eq!(bits(plain), bits(any), "{n} {fr}");
            }
        }
    }

    #[test]
    fn profile_shift_is_found_to_a_tenth_of_a_sample() {
        let p: Vec<f32> = (0..200)
            .map(|x| 100.0 / (1.0 + (-(x as f32 - 80.0) / 3.0).exp()))
            .collect();
        let q: Vec<f32> = (0..200)
            .map(|x| 100.0 / (1.0 + (-(x as f32 - 80.0 - 5.4) / 3.0).exp()))
            .collect();
        let d = shift_1d(&p, &q, 20);
        assert!((d - 5.4).abs() < 0.1, "{d}");
    }
}
