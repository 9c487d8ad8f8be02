//! The measurements behind the motion check: each slice's intensity
//! profiles along its rows and columns (one pass over the voxels, or one
//! slice at a time as the loader decodes them), the 1D
//! shift between two profiles, and a small rigid in-plane registration of
//! two slices (Gauss-Newton on clamped intensities, coarse to fine).

use ndarray::Array3;

mod profiles;

use crate::volume::VoxelType;
use profiles::contiguous;
pub use profiles::{Profiles, profiles, shift_1d, slice_profiles_i16, window_i16};

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
    let mut copy: Vec<T> = Vec::new();
    let mut line = vec![0f32; wd];
    for (y, row) in slice.outer_iter().enumerate().take(oh * f) {
        let out = &mut data[(y / f) * ow..(y / f + 1) * ow];
        // The row's levels first (a loop that vectorises), then the blocks.
        for (l, v) in line.iter_mut().zip(contiguous(row, &mut copy)) {
            *l = ((v.to_f32() - w.lo) * scale).clamp(0.0, SCALE) * norm;
        }
        for (o, block) in out.iter_mut().zip(line.chunks_exact(f)) {
            *o += block.iter().sum::<f32>();
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

    /// The four pixels around a continuous pixel position and the position
    /// within them: `(a, b, c, d, fx, fy)`, a and b on the upper row;
    /// `None` outside the image.
    #[inline]
    fn corners(&self, x: f64, y: f64) -> Option<(f64, f64, f64, f64, f64, f64)> {
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
        Some((a, b, c, d, fx, fy))
    }

    /// Bilinear value at a continuous pixel position (as [`Image::sample`]).
    #[inline]
    fn value(&self, x: f64, y: f64) -> Option<f64> {
        let (a, b, c, d, fx, fy) = self.corners(x, y)?;
        let top = a + (b - a) * fx;
        let bottom = c + (d - c) * fx;
        Some(top + (bottom - top) * fy)
    }

    /// Bilinear value and gradient (per pixel) at a continuous pixel position.
    #[inline]
    fn sample(&self, x: f64, y: f64) -> Option<(f64, f64, f64)> {
        let (a, b, c, d, fx, fy) = self.corners(x, y)?;
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
        .fold(A::default(), |a, b| a + b)
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
        let (s, c) = p[2].sin_cos();
        // The normal matrix is symmetric: its six distinct sums, then b.
        let sums = (0..f.h)
            .map(|y| {
                let mut a = [0.0f64; 9];
                let v = y as f64 * f.px[1];
                let [bu, bv, su, sv] = row_warp(f, m, y, centre, p, (s, c));
                for x in 0..f.w {
                    let xf = x as f64;
                    let Some((mv, gx, gy)) = m.sample(bu + su * xf, bv + sv * xf) else {
                        continue;
                    };
                    let u = xf * f.px[0];
                    let r = mv - f.data[y * f.w + x] as f64;
                    // Gradient per mm, and the warp's derivative by the angle.
                    let (gu, gv) = (gx / m.px[0], gy / m.px[1]);
                    let (du, dv) = (u - centre[0], v - centre[1]);
                    let j = [gu, gv, gu * (-s * du - c * dv) + gv * (c * du - s * dv)];
                    a[0] += j[0] * j[0];
                    a[1] += j[0] * j[1];
                    a[2] += j[0] * j[2];
                    a[3] += j[1] * j[1];
                    a[4] += j[1] * j[2];
                    a[5] += j[2] * j[2];
                    a[6] += j[0] * r;
                    a[7] += j[1] * r;
                    a[8] += j[2] * r;
                }
                a
            })
            .fold([0.0f64; 9], |x, y| std::array::from_fn(|k| x[k] + y[k]));
        let h = [
            [sums[0], sums[1], sums[2]],
            [sums[1], sums[3], sums[4]],
            [sums[2], sums[4], sums[5]],
        ];
        let b = [sums[6], sums[7], sums[8]];
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
        // Converged: a thousandth of a pixel, a hundredth of a degree (a
        // turn is judged against a whole degree; a tighter bound only kept
        // noisy slices iterating).
        if step[0].abs() + step[1].abs() < 1e-3 * f.px[0].min(f.px[1]) && step[2].abs() < 1.7e-4 {
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
                // A soft edge, as a scanner's: a hard-edged disc moved by
                // half a pixel is not the same disc resampled, which biased
                // the shift by 0.055 mm and failed this test.
                let d = ((x - cx - 6.0).powi(2) + (y - cy).powi(2)).sqrt() - 4.0;
                let bone = 1.0 / (1.0 + (2.0 * d).exp());
                (1000.0 / (1.0 + (8.0 * (r2.sqrt() - 1.0)).exp()) + 2000.0 * bone) as f32
            })
            .collect()
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
