//! The measurements behind the motion check: each slice's intensity
//! profiles along its rows and columns (one pass over the voxels), the 1D
//! shift between two profiles, and a small rigid in-plane registration of
//! two slices (Gauss-Newton on clamped intensities, coarse to fine).

use ndarray::Array3;
use rayon::prelude::*;

use crate::volume::{VoxelType, Voxels};

/// Intensities are clamped to a window (air to dense bone for CT) and
/// scaled to 0..=SCALE so the sums stay integers (exact, and vectorised).
pub const SCALE: f32 = 4095.0;

/// The intensity window used for registration: values below `lo` count as
/// background (0), above `hi` as `SCALE`.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub lo: f32,
    pub hi: f32,
}

impl Window {
    #[inline]
    fn level(&self) -> f32 {
        SCALE / (self.hi - self.lo).max(1e-6)
    }
}

/// The sums of one slice's clamped intensities down each column (`cols`,
/// one per x) and along each row (`rows`, one per `row_step` rows: large
/// slices are read every other row, which halves the memory read and still
/// places a shift to a few hundredths of a pixel).
#[derive(Clone, Debug, Default)]
pub struct Profiles {
    pub cols: Vec<f32>,
    pub rows: Vec<f32>,
    pub row_step: usize,
}

/// Profiles of every slice, in one parallel pass over the voxels. Their
/// unit does not matter (only shifts are read from them): 16-bit CT is
/// summed in HU above the window's floor, in integers, which vectorises.
pub fn profiles(voxels: &Voxels, w: Window) -> Vec<Profiles> {
    match voxels {
        Voxels::I16(a) => {
            let (lo, hi) = (w.lo.round() as i32, w.hi.round() as i32);
            profiles_with(a, move |row: &[i16], line: &mut [i32]| {
                for (l, v) in line.iter_mut().zip(row) {
                    *l = (*v as i32).clamp(lo, hi) - lo;
                }
            })
        }
        other => crate::with_voxels!(other, a => {
            let scale = w.level();
            profiles_with(a, move |row: &[_], line: &mut [i32]| {
                for (l, v) in line.iter_mut().zip(row) {
                    *l = ((VoxelType::to_f32(*v) - w.lo) * scale).clamp(0.0, SCALE) as i32;
                }
            })
        }),
    }
}

fn profiles_with<T: VoxelType>(
    a: &Array3<T>,
    level: impl Fn(&[T], &mut [i32]) + Sync,
) -> Vec<Profiles> {
    let (_, ny, nx) = a.dim();
    let row_step = if nx * ny >= 400 * 400 { 2 } else { 1 };
    a.outer_iter()
        .into_par_iter()
        .map(|slice| {
            let mut cols = vec![0i32; nx];
            let mut rows = Vec::with_capacity(ny / row_step + 1);
            let mut line = vec![0i32; nx];
            let mut copy: Vec<T> = Vec::new();
            for row in slice.outer_iter().step_by(row_step) {
                let r = match row.as_slice() {
                    Some(r) => r,
                    None => {
                        copy.clear();
                        copy.extend(row.iter().copied());
                        &copy
                    }
                };
                level(r, &mut line);
                for (c, l) in cols.iter_mut().zip(&line) {
                    *c += *l;
                }
                rows.push(line.iter().sum::<i32>() as f32);
            }
            Profiles {
                cols: cols.into_iter().map(|c| c as f32).collect(),
                rows,
                row_step,
            }
        })
        .collect()
}

/// Largest side registered at full detail: finer slices are averaged
/// over blocks first (a 512-pixel CT slice at 2 x 2), which keeps the
/// shift exact to a few hundredths of a millimetre and costs a quarter.
pub const WORK_SIDE: usize = 256;

/// One slice as clamped, scaled intensities, averaged over blocks so no
/// side exceeds [`WORK_SIDE`]; `px` is the slice's pixel size (mm).
pub fn slice_image<T: VoxelType>(a: &Array3<T>, z: usize, w: Window, px: [f64; 2]) -> Image {
    let scale = w.level();
    let slice = a.index_axis(ndarray::Axis(0), z);
    let (h, wd) = slice.dim();
    let f = h.max(wd).div_ceil(WORK_SIDE).max(1);
    let (oh, ow) = ((h / f).max(1), (wd / f).max(1));
    let mut data = vec![0f32; oh * ow];
    let norm = 1.0 / (f * f) as f32;
    for (y, row) in slice.outer_iter().enumerate().take(oh * f) {
        let out = &mut data[(y / f) * ow..(y / f + 1) * ow];
        for (x, v) in row.iter().enumerate().take(ow * f) {
            out[x / f] += ((v.to_f32() - w.lo) * scale).clamp(0.0, SCALE) * norm;
        }
    }
    Image {
        data,
        w: ow,
        h: oh,
        px: [px[0] * f as f64, px[1] * f as f64],
    }
}

/// An image and its halvings down to about 64 pixels across.
pub fn pyramid(base: Image) -> Vec<Image> {
    let mut levels = vec![base];
    while let Some(last) = levels.last() {
        if last.w.min(last.h) < 128 {
            break;
        }
        let next = last.half();
        levels.push(next);
    }
    levels
}

#[inline]
fn lerp1(p: &[f32], x: f64) -> Option<(f64, f64)> {
    if !(x >= 0.0 && x <= (p.len() - 1) as f64) {
        return None;
    }
    let i = (x.floor() as usize).min(p.len().saturating_sub(2));
    let f = x - i as f64;
    let (a, b) = (p[i] as f64, p[(i + 1).min(p.len() - 1)] as f64);
    Some((a + (b - a) * f, b - a))
}

/// The displacement `d` (in samples) of `q`'s content against `p`'s, so
/// that `q(x + d) ≈ p(x)`: an integer search on a 4x coarser copy within
/// `max` samples, then Gauss-Newton with linear interpolation.
pub fn shift_1d(p: &[f32], q: &[f32], max: usize) -> f64 {
    let n = p.len().min(q.len());
    if n < 8 {
        return 0.0;
    }
    let coarse = |v: &[f32]| -> Vec<f32> { v.chunks(4).map(|c| c.iter().sum()).collect() };
    let (pc, qc) = (coarse(&p[..n]), coarse(&q[..n]));
    let r = (max / 4 + 1).min(pc.len() / 2) as isize;
    let mut best = (f64::INFINITY, 0isize);
    for k in -r..=r {
        let (mut e, mut m) = (0.0f64, 0usize);
        for (x, &pv) in pc.iter().enumerate() {
            let xq = x as isize + k;
            if xq >= 0 && (xq as usize) < qc.len() {
                let d = (qc[xq as usize] - pv) as f64;
                e += d * d;
                m += 1;
            }
        }
        // The same overlap-normalised error for every k; ties keep the smallest |k|.
        let e = e / m.max(1) as f64;
        if e < best.0 - 1e-9 * e.abs() || (e <= best.0 && k.abs() < best.1.abs()) {
            best = (e, k);
        }
    }
    let mut d = (best.1 * 4) as f64;
    for _ in 0..20 {
        let (mut jr, mut jj) = (0.0f64, 0.0f64);
        for (x, &pv) in p[..n].iter().enumerate() {
            if let Some((qv, g)) = lerp1(&q[..n], x as f64 + d) {
                jr += g * (qv - pv as f64);
                jj += g * g;
            }
        }
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

/// A slice image with its size and pixel size (mm: along x, along y).
#[derive(Clone, Debug)]
pub struct Image {
    pub data: Vec<f32>,
    pub w: usize,
    pub h: usize,
    pub px: [f64; 2],
}

impl Image {
    /// Half the size, each pixel the mean of a 2 x 2 block.
    fn half(&self) -> Image {
        let (w, h) = (self.w / 2, self.h / 2);
        let mut data = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let i = 2 * y * self.w + 2 * x;
                data[y * w + x] = 0.25
                    * (self.data[i]
                        + self.data[i + 1]
                        + self.data[i + self.w]
                        + self.data[i + self.w + 1]);
            }
        }
        Image {
            data,
            w,
            h,
            px: [self.px[0] * 2.0, self.px[1] * 2.0],
        }
    }

    /// Bilinear value and gradient (per pixel) at a continuous pixel position.
    #[inline]
    fn sample(&self, x: f64, y: f64) -> Option<(f64, f64, f64)> {
        if !(x >= 0.0 && y >= 0.0 && x <= (self.w - 1) as f64 && y <= (self.h - 1) as f64) {
            return None;
        }
        let xi = (x.floor() as usize).min(self.w - 2);
        let yi = (y.floor() as usize).min(self.h - 2);
        let (fx, fy) = (x - xi as f64, y - yi as f64);
        let i = yi * self.w + xi;
        let (a, b) = (self.data[i] as f64, self.data[i + 1] as f64);
        let (c, d) = (
            self.data[i + self.w] as f64,
            self.data[i + self.w + 1] as f64,
        );
        let top = a + (b - a) * fx;
        let bottom = c + (d - c) * fx;
        let v = top + (bottom - top) * fy;
        let gx = (b - a) + ((d - c) - (b - a)) * fy;
        let gy = bottom - top;
        Some((v, gx, gy))
    }
}

/// A rigid in-plane motion: the moving slice's content is displaced by
/// `shift` (mm, along x then y) and turned by `angle` (radians, about
/// `centre`) against the fixed slice's.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Rigid {
    pub shift: [f64; 2],
    pub angle: f64,
    /// Root mean square difference (in 0..=SCALE units) before and after
    /// aligning, over the pixels that overlap.
    pub rms_before: f64,
    pub rms_after: f64,
}

/// Aligns `moving` to `fixed` (pyramids of the same size, see
/// [`pyramid`]): `moving(W(u)) ≈ fixed(u)` with `W(u) = R(angle)(u -
/// centre) + centre + shift`, in mm. `rotate: false` keeps the angle at 0.
/// Starts at `init` (mm) on the coarsest level.
pub fn register(
    fixed: &[Image],
    moving: &[Image],
    centre: [f64; 2],
    init: [f64; 2],
    rotate: bool,
) -> Rigid {
    let (Some(f), Some(m)) = (fixed.first(), moving.first()) else {
        return Rigid::default();
    };
    if !rotate {
        let mut t = init;
        for (f, m) in fixed.iter().zip(moving).rev() {
            t = shift_only(f, m, t);
        }
        return Rigid {
            shift: t,
            angle: 0.0,
            rms_before: shifted_rms(f, m, [0.0; 2]),
            rms_after: shifted_rms(f, m, t),
        };
    }
    // The turn is found on the coarser levels (a tenth of a degree needs
    // no finer pixels) and judged on the finest.
    let mut p = [init[0], init[1], 0.0];
    let skip = usize::from(fixed.len() > 1);
    for (f, m) in fixed.iter().zip(moving).skip(skip).rev() {
        p = gauss_newton(f, m, centre, p, rotate);
    }
    Rigid {
        shift: [p[0], p[1]],
        angle: p[2],
        rms_before: rms(f, m, centre, [0.0; 3]),
        rms_after: rms(f, m, centre, p),
    }
}

#[inline]
fn warp(u: f64, v: f64, centre: [f64; 2], p: [f64; 3]) -> (f64, f64) {
    let (s, c) = p[2].sin_cos();
    let (du, dv) = (u - centre[0], v - centre[1]);
    (
        c * du - s * dv + centre[0] + p[0],
        s * du + c * dv + centre[1] + p[1],
    )
}

fn rms(f: &Image, m: &Image, centre: [f64; 2], p: [f64; 3]) -> f64 {
    let (e, n) = (0..f.h)
        .into_par_iter()
        .map(|y| {
            let (mut e, mut n) = (0.0f64, 0usize);
            for x in 0..f.w {
                let (u, v) = (x as f64 * f.px[0], y as f64 * f.px[1]);
                let (wu, wv) = warp(u, v, centre, p);
                if let Some((mv, _, _)) = m.sample(wu / m.px[0], wv / m.px[1]) {
                    let d = mv - f.data[y * f.w + x] as f64;
                    e += d * d;
                    n += 1;
                }
            }
            (e, n)
        })
        .reduce(|| (0.0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    if n == 0 { 0.0 } else { (e / n as f64).sqrt() }
}

/// A pure shift samples every pixel at the same fraction: the rows of `f`
/// whose shifted pixels lie inside `m`, as (first x, end x, first y, end
/// y), the whole-pixel offset and the bilinear fractions.
fn overlap(f: &Image, t: [f64; 2]) -> ([usize; 4], [isize; 2], [f32; 2]) {
    let d = [t[0] / f.px[0], t[1] / f.px[1]];
    let i = [d[0].floor() as isize, d[1].floor() as isize];
    let frac = [(d[0] - i[0] as f64) as f32, (d[1] - i[1] as f64) as f32];
    // Inside for the 2 x 2 neighbourhood, and one pixel in for the gradient.
    let range = |n: usize, o: isize| {
        let lo = (1 - o).max(1) as usize;
        let hi = (n as isize - 2 - o).min(n as isize - 1).max(lo as isize) as usize;
        (lo, hi)
    };
    let (x0, x1) = range(f.w, i[0]);
    let (y0, y1) = range(f.h, i[1]);
    ([x0, x1, y0, y1], i, frac)
}

/// Sum over the overlap of `f(x)` and `m(x + t)` (bilinear): what `each`
/// makes of (x, y, fixed value, moving value), per row then added up.
fn over_shift<A: Send + Default + std::ops::Add<Output = A>>(
    f: &Image,
    m: &Image,
    t: [f64; 2],
    each: impl Fn(usize, usize, f32, f32) -> A + Sync,
) -> A {
    let ([x0, x1, y0, y1], i, [fx, fy]) = overlap(f, t);
    (y0..y1)
        .into_par_iter()
        .map(|y| {
            let my = (y as isize + i[1]) as usize;
            let (top, bottom) = (&m.data[my * m.w..], &m.data[(my + 1) * m.w..]);
            let mut acc = A::default();
            for x in x0..x1 {
                let mx = (x as isize + i[0]) as usize;
                let a = top[mx] + (top[mx + 1] - top[mx]) * fx;
                let b = bottom[mx] + (bottom[mx + 1] - bottom[mx]) * fx;
                acc = acc + each(x, y, f.data[y * f.w + x], a + (b - a) * fy);
            }
            acc
        })
        .reduce(A::default, |a, b| a + b)
}

/// Sums of a least-squares step: the normal matrix, the right side, the
/// squared error and the pixel count.
#[derive(Clone, Copy, Default)]
struct Sums([f64; 7], usize);

impl std::ops::Add for Sums {
    type Output = Sums;
    fn add(self, o: Sums) -> Sums {
        Sums(std::array::from_fn(|k| self.0[k] + o.0[k]), self.1 + o.1)
    }
}

/// Inverse-compositional Gauss-Newton for a shift: the fixed image's
/// gradient makes the normal matrix, so an iteration costs one bilinear
/// sample per pixel.
fn shift_only(f: &Image, m: &Image, mut t: [f64; 2]) -> [f64; 2] {
    let (sx, sy) = (0.5 / f.px[0] as f32, 0.5 / f.px[1] as f32);
    for _ in 0..MAX_ITERATIONS {
        let s = over_shift(f, m, t, |x, y, fv, mv| {
            let i = y * f.w + x;
            let gx = ((f.data[i + 1] - f.data[i - 1]) * sx) as f64;
            let gy = ((f.data[i + f.w] - f.data[i - f.w]) * sy) as f64;
            let r = (mv - fv) as f64;
            Sums([gx * gx, gx * gy, gy * gy, gx * r, gy * r, 0.0, 0.0], 1)
        });
        let [hxx, hxy, hyy, bx, by, ..] = s.0;
        let det = hxx * hyy - hxy * hxy;
        if s.1 == 0 || det.abs() <= 1e-12 * (hxx * hyy).abs().max(1e-300) {
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

fn shifted_rms(f: &Image, m: &Image, t: [f64; 2]) -> f64 {
    let s = over_shift(f, m, t, |_, _, fv, mv| {
        let d = (mv - fv) as f64;
        Sums([d * d, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], 1)
    });
    if s.1 == 0 {
        0.0
    } else {
        (s.0[0] / s.1 as f64).sqrt()
    }
}

/// Gauss-Newton steps per pyramid level: it converges in two or three
/// from a good start; a turn that noise keeps moving stops here.
const MAX_ITERATIONS: usize = 12;

fn gauss_newton(f: &Image, m: &Image, centre: [f64; 2], mut p: [f64; 3], rotate: bool) -> [f64; 3] {
    let np = if rotate { 3 } else { 2 };
    for _ in 0..MAX_ITERATIONS {
        let (h, b) = (0..f.h)
            .into_par_iter()
            .map(|y| {
                let mut h = [[0.0f64; 3]; 3];
                let mut b = [0.0f64; 3];
                let v = y as f64 * f.px[1];
                let (s, c) = p[2].sin_cos();
                for x in 0..f.w {
                    let u = x as f64 * f.px[0];
                    let (wu, wv) = warp(u, v, centre, p);
                    let Some((mv, gx, gy)) = m.sample(wu / m.px[0], wv / m.px[1]) else {
                        continue;
                    };
                    let r = mv - f.data[y * f.w + x] as f64;
                    // Gradient per mm, and the warp's derivative by the angle.
                    let (gu, gv) = (gx / m.px[0], gy / m.px[1]);
                    let (du, dv) = (u - centre[0], v - centre[1]);
                    let j = [gu, gv, gu * (-s * du - c * dv) + gv * (c * du - s * dv)];
                    for a in 0..3 {
                        b[a] += j[a] * r;
                        for k in 0..3 {
                            h[a][k] += j[a] * j[k];
                        }
                    }
                }
                (h, b)
            })
            .reduce(
                || ([[0.0; 3]; 3], [0.0; 3]),
                |(mut h1, mut b1), (h2, b2)| {
                    for a in 0..3 {
                        b1[a] += b2[a];
                        for k in 0..3 {
                            h1[a][k] += h2[a][k];
                        }
                    }
                    (h1, b1)
                },
            );
        let Some(step) = solve(&h, &b, np) else {
            break;
        };
        // Bounded steps: a flat image must not throw the estimate away.
        let limit = 2.0 * f.px[0].max(f.px[1]);
        p[0] -= step[0].clamp(-limit, limit);
        p[1] -= step[1].clamp(-limit, limit);
        if rotate {
            p[2] -= step[2].clamp(-0.05, 0.05);
        }
        // Converged: a thousandth of a pixel, a thousandth of a degree.
        if step[0].abs() + step[1].abs() < 1e-3 * f.px[0].min(f.px[1]) && step[2].abs() < 2e-5 {
            break;
        }
    }
    p
}

/// Solves the first `n` (2 or 3) equations of `h x = b`.
fn solve(h: &[[f64; 3]; 3], b: &[f64; 3], n: usize) -> Option<[f64; 3]> {
    if n == 2 {
        let det = h[0][0] * h[1][1] - h[0][1] * h[1][0];
        if det.abs() < 1e-12 * (h[0][0] * h[1][1]).abs().max(1e-300) {
            return None;
        }
        return Some([
            (b[0] * h[1][1] - b[1] * h[0][1]) / det,
            (h[0][0] * b[1] - h[1][0] * b[0]) / det,
            0.0,
        ]);
    }
    let inv = crate::volume::invert3(h)?;
    Some(std::array::from_fn(|r| {
        inv[r][0] * b[0] + inv[r][1] * b[1] + inv[r][2] * b[2]
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(w: usize, h: usize, cx: f64, cy: f64) -> Vec<f32> {
        (0..w * h)
            .map(|i| {
                let (x, y) = ((i % w) as f64, (i / w) as f64);
                let r2 = ((x - cx) / 20.0).powi(2) + ((y - cy) / 12.0).powi(2);
                let bone = ((x - cx - 6.0).powi(2) + (y - cy).powi(2) < 16.0) as i32 as f64;
                (1000.0 / (1.0 + (8.0 * (r2.sqrt() - 1.0)).exp()) + 2000.0 * bone) as f32
            })
            .collect()
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

    #[test]
    fn rigid_registration_finds_shift_and_angle() {
        let (w, h) = (96, 80);
        let f = Image {
            data: blob(w, h, 48.0, 40.0),
            w,
            h,
            px: [0.5, 0.5],
        };
        let m = Image {
            data: blob(w, h, 51.0, 38.5),
            ..f.clone()
        };
        let r = register(&pyramid(f), &pyramid(m), [24.0, 20.0], [0.0, 0.0], true);
        assert!((r.shift[0] - 1.5).abs() < 0.05, "{r:?}");
        assert!((r.shift[1] + 0.75).abs() < 0.05, "{r:?}");
        assert!(r.angle.abs() < 0.005, "{r:?}");
        assert!(r.rms_after < 0.1 * r.rms_before, "{r:?}");
    }
}
