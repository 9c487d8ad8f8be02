//! The measurements behind the motion check: each slice's intensity
//! profiles along its rows and columns (one pass over the voxels, or one
//! slice at a time as the loader decodes them), the 1D
//! shift between two profiles, and a small rigid in-plane registration of
//! two slices (Gauss-Newton on clamped intensities, coarse to fine).

mod image;
mod profile_shift;
mod profiles;
mod shift;
mod turn;

use image::half_row;
pub use image::{coarse_pyramid, pyramid, slice_image};
pub use profile_shift::{coarse_1d, shift_1d, shift_1d_with};
pub use profiles::{Profiles, SliceSums, profiles, slice_profiles_i16, window_i16};
use shift::shift_only;
pub use turn::{register_turn, register_turn_coarse};

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
        let mut data = Vec::with_capacity(w * h);
        // Row by row, two of `self` to one, in a loop that vectorises.
        for pair in self.data.chunks_exact(2 * self.w.max(1)).take(h) {
            let (upper, lower) = pair.split_at(self.w);
            half_row(&mut data, upper, lower, w);
        }
        data.resize(w * h, 0.0);
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
        // Truncation is the floor here (both are at least 0), and unlike
        // f64::floor it needs no call into libm on baseline x86-64 (it was
        // a tenth of the registrations' time).
        let xi = (x as usize).min(self.w - 2);
        let yi = (y as usize).min(self.h - 2);
        let (fx, fy) = (x - xi as f64, y - yi as f64);
        let i = yi * self.w + xi;
        let (a, b) = (self.data[i] as f64, self.data[i + 1] as f64);
        let (c, d) = (
            self.data[i + self.w] as f64,
            self.data[i + self.w + 1] as f64,
        );
        Some((a, b, c, d, fx, fy))
    }

    /// Bilinear value at a continuous pixel position.
    #[inline]
    pub(super) fn value(&self, x: f64, y: f64) -> Option<f64> {
        let (a, b, c, d, fx, fy) = self.corners(x, y)?;
        let top = a + (b - a) * fx;
        let bottom = c + (d - c) * fx;
        Some(top + (bottom - top) * fy)
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

/// How far down the pyramid a pure shift is refined.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Detail {
    /// Down to the finest level.
    Full,
    /// Down to the level of [`COARSE_SIDE`] pixels; on to the finest only
    /// where the shift found there is at least `refine_mm` (a shift near
    /// zero samples the moving image near its own pixels, where the coarse
    /// level places it to a few hundredths of a millimetre).
    Coarse { refine_mm: f64 },
}

/// The side of the coarse level a shift stops at (see [`Detail::Coarse`]).
pub const COARSE_SIDE: usize = 128;

/// Aligns `moving` to `fixed` (pyramids of the same size, see [`image::pyramid`])
/// by a pure shift, `moving(u + shift) ≈ fixed(u)` in mm, starting at
/// `init` (mm) on the coarsest level and going as fine as `detail` says.
pub fn register_shift(
    fixed: &[Image],
    moving: &[Image],
    init: [f64; 2],
    detail: Detail,
) -> [f64; 2] {
    let levels = fixed.len().min(moving.len());
    if levels == 0 {
        return init;
    }
    // The finest level no larger than COARSE_SIDE (the coarsest if none is).
    let coarse = (0..levels)
        .find(|&l| fixed[l].w.max(fixed[l].h) <= COARSE_SIDE)
        .unwrap_or(levels - 1);
    let mut t = init;
    for l in (coarse..levels).rev() {
        t = shift_only(&fixed[l], &moving[l], t);
    }
    let refine = match detail {
        Detail::Full => true,
        Detail::Coarse { refine_mm } => t[0].hypot(t[1]) >= refine_mm,
    };
    if refine {
        for l in (0..coarse).rev() {
            t = shift_only(&fixed[l], &moving[l], t);
        }
    }
    t
}

/// Root mean square difference (in 0..=SCALE units) of two slices on
/// their finest level, over the pixels that overlap, once `moving` is
/// shifted back by `t` (mm).
pub fn shift_rms(fixed: &[Image], moving: &[Image], t: [f64; 2]) -> f64 {
    match (fixed.first(), moving.first()) {
        (Some(f), Some(m)) => shifted_rms(f, m, t),
        _ => 0.0,
    }
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

/// The squared error over an overlap and its pixel count.
#[derive(Clone, Copy, Default)]
struct Sums(f64, usize);

impl std::ops::Add for Sums {
    type Output = Sums;
    fn add(self, o: Sums) -> Sums {
        Sums(self.0 + o.0, self.1 + o.1)
    }
}

fn shifted_rms(f: &Image, m: &Image, t: [f64; 2]) -> f64 {
    let s = over_shift(f, m, t, |_, _, fv, mv| {
        let d = (mv - fv) as f64;
        Sums(d * d, 1)
    });
    if s.1 == 0 {
        0.0
    } else {
        (s.0 / s.1 as f64).sqrt()
    }
}

/// Gauss-Newton steps per pyramid level: it converges in two or three
/// from a good start; a turn that noise keeps moving stops here.
pub(super) const MAX_ITERATIONS: usize = 12;

/// The unit tests' inputs: xorshift64 from `state`, a u64 a call.
#[cfg(test)]
fn test_values(mut state: u64) -> impl FnMut() -> u64 {
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

#[cfg(test)]
mod tests {
    use super::image::pyramid;
    use super::*;

    /// A soft ellipse with a bright disc in it, centred at (cx, cy), at
    /// the continuous pixel position (x, y).
    fn blob_at(x: f64, y: f64, cx: f64, cy: f64) -> f32 {
        let r2 = ((x - cx) / 20.0).powi(2) + ((y - cy) / 12.0).powi(2);
        // A soft edge, as a scanner's: a hard-edged disc moved by
        // half a pixel is not the same disc resampled, which biased
        // the shift by 0.055 mm and failed this test.
        let d = ((x - cx - 6.0).powi(2) + (y - cy).powi(2)).sqrt() - 4.0;
        let bone = 1.0 / (1.0 + (2.0 * d).exp());
        (1000.0 / (1.0 + (8.0 * (r2.sqrt() - 1.0)).exp()) + 2000.0 * bone) as f32
    }

    fn blob(w: usize, h: usize, cx: f64, cy: f64) -> Vec<f32> {
        (0..w * h)
            .map(|i| blob_at((i % w) as f64, (i / w) as f64, cx, cy))
            .collect()
    }

    fn image(data: Vec<f32>, w: usize, h: usize, px: f64) -> Image {
        Image {
            data,
            w,
            h,
            px: [px, px],
        }
    }

    #[test]
    fn a_turn_and_a_shift_are_found_together() {
        // A slice as the check registers it: 256 pixels, the turn found
        // on the 128 and 64 pixel levels.
        let (w, h, px) = (256, 256, 0.5);
        let (cx, cy) = (120.0, 130.0);
        let centre = [cx * px, cy * px];
        for (deg, t) in [(3.0f64, [1.2, -0.7]), (-1.5, [-2.0, 0.4])] {
            let (s, c) = deg.to_radians().sin_cos();
            // moving(x) = fixed(R(-angle)(x - centre - t) + centre), so
            // that moving(W(u)) = fixed(u).
            let moving: Vec<f32> = (0..w * h)
                .map(|i| {
                    let (u, v) = (
                        (i % w) as f64 * px - centre[0] - t[0],
                        (i / w) as f64 * px - centre[1] - t[1],
                    );
                    let (x, y) = (
                        (c * u + s * v + centre[0]) / px,
                        (-s * u + c * v + centre[1]) / px,
                    );
                    blob_at(x, y, cx, cy)
                })
                .collect();
            let f = pyramid(image(blob(w, h, cx, cy), w, h, px));
            let m = pyramid(image(moving, w, h, px));
            let shift = register_shift(&f, &m, [0.0; 2], Detail::Full);
            let r = register_turn(&f, &m, centre, shift);
            // Found on the coarser levels (1 and 2 mm pixels here), where a
            // turn is placed to about a tenth of a degree (on the finest
            // level, closer): a turn is judged against a whole degree.
            assert!((r.angle.to_degrees() - deg).abs() < 0.15, "{deg}°: {r:?}");
            assert!((r.shift[0] - t[0]).abs() < 0.05, "{deg}°: {r:?}");
            assert!((r.shift[1] - t[1]).abs() < 0.05, "{deg}°: {r:?}");
            assert!(r.rms_after < 0.1 * r.rms_before, "{deg}°: {r:?}");
        }
    }

    #[test]
    fn a_small_shift_at_the_coarse_level_is_the_full_shift() {
        // 512-pixel slices at 0.7 mm, halved for registration: the coarse
        // level has 2.8 mm pixels.
        let (n, px) = (256, 1.4);
        let f = pyramid(image(blob(n, n, 128.0, 128.0), n, n, px));
        for t in [[0.0, 0.0], [0.1, -0.05], [-0.2, 0.12], [0.0, 0.24]] {
            let m = pyramid(image(
                blob(n, n, 128.0 + t[0] / px, 128.0 + t[1] / px),
                n,
                n,
                px,
            ));
            let full = register_shift(&f, &m, [0.0; 2], Detail::Full);
            let coarse = register_shift(&f, &m, [0.0; 2], Detail::Coarse { refine_mm: 0.25 });
            let err = (coarse[0] - full[0]).hypot(coarse[1] - full[1]);
            assert!(err < 0.02, "{t:?}: coarse {coarse:?}, full {full:?}");
            let truth = (full[0] - t[0]).hypot(full[1] - t[1]);
            assert!(truth < 0.02, "{t:?}: {full:?}");
        }
    }

    #[test]
    fn rigid_registration_finds_shift_and_angle() {
        let (w, h) = (96, 80);
        let f = image(blob(w, h, 48.0, 40.0), w, h, 0.5);
        let m = image(blob(w, h, 51.0, 38.5), w, h, 0.5);
        let (f, m) = (pyramid(f), pyramid(m));
        let s = register_shift(&f, &m, [0.0, 0.0], Detail::Full);
        let r = register_turn(&f, &m, [24.0, 20.0], s);
        assert!((r.shift[0] - 1.5).abs() < 0.05, "{r:?}");
        assert!((r.shift[1] + 0.75).abs() < 0.05, "{r:?}");
        assert!(r.angle.abs() < 0.005, "{r:?}");
        assert!(r.rms_after < 0.1 * r.rms_before, "{r:?}");
    }
}
