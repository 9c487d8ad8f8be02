//! nnU-Net's resampling (`resample_data_or_seg_to_shape`): scikit-image's
//! `resize` (SciPy's `zoom` on the grid's pixel centres, edge mode, no
//! anti-aliasing, clipped to the input's range) with spline order 0, 1 or
//! 3, and for anisotropic grids in-plane first, then nearest (or linear)
//! across slices. Done one axis at a time: the spline's tensor-product
//! weights make that the same sum SciPy takes at each voxel.

use ndarray::{Array3, Axis};
use rayon::prelude::*;

/// SciPy's zoom pads a cubic spline's input by this many edge voxels before
/// the prefilter (`_prepad_for_spline_filter`), so its boundary matches.
const PREPAD: usize = 12;

/// nnU-Net's `compute_new_shape`: `round(spacing / target * size)`, with
/// Python's rounding of halves to even.
pub fn new_shape(shape: [usize; 3], spacing: [f64; 3], target: [f64; 3]) -> [usize; 3] {
    std::array::from_fn(|k| {
        ((spacing[k] / target[k] * shape[k] as f64).round_ties_even() as usize).max(1)
    })
}

/// The axes whose spacing is the largest (`get_lowres_axis`).
fn lowres_axes(spacing: [f64; 3]) -> Vec<usize> {
    let max = spacing.iter().copied().fold(f64::MIN, f64::max);
    (0..3).filter(|&k| max / spacing[k] == 1.0).collect()
}

fn anisotropic(spacing: [f64; 3], threshold: f64) -> bool {
    let max = spacing.iter().copied().fold(f64::MIN, f64::max);
    let min = spacing.iter().copied().fold(f64::MAX, f64::min);
    max / min > threshold
}

/// nnU-Net's `determine_do_sep_z_and_axis`: the axis resampled on its own
/// (the coarse one of an anisotropic grid), if any.
pub fn separate_axis(
    force: Option<bool>,
    current: [f64; 3],
    new: [f64; 3],
    threshold: f64,
) -> Option<usize> {
    let axes = match force {
        Some(true) => lowres_axes(current),
        Some(false) => return None,
        None if anisotropic(current, threshold) => lowres_axes(current),
        None if anisotropic(new, threshold) => lowres_axes(new),
        None => return None,
    };
    // Two or three equally coarse axes: no single slice axis.
    (axes.len() == 1).then(|| axes[0])
}

/// `src` resampled to `shape` as nnU-Net resamples image data (and logits):
/// unchanged when the shape is the same; else spline `order` over every
/// axis, or with `separate = Some(a)` over the other two axes slice by
/// slice (each slice clipped to its own range) and then `order_z` along `a`.
pub fn resample(
    src: &Array3<f32>,
    shape: [usize; 3],
    order: u8,
    separate: Option<usize>,
    order_z: u8,
) -> Array3<f32> {
    let d = src.dim();
    let from = [d.0, d.1, d.2];
    if from == shape {
        return src.clone();
    }
    match separate {
        None => {
            let (lo, hi) = range(src.iter());
            let mut out = src.clone();
            for k in 0..3 {
                out = zoom_axis(&out, k, shape[k], order);
            }
            if order > 1 {
                out.par_mapv_inplace(|v| v.clamp(lo, hi));
            }
            out
        }
        Some(a) => {
            let mut out = src.clone();
            for k in (0..3).filter(|&k| k != a) {
                out = zoom_axis(&out, k, shape[k], order);
            }
            if order > 1 {
                // scikit-image clips each 2D slice to that slice's range.
                let ranges: Vec<(f32, f32)> =
                    src.axis_iter(Axis(a)).map(|s| range(s.iter())).collect();
                out.axis_iter_mut(Axis(a))
                    .into_par_iter()
                    .zip(ranges)
                    .for_each(|(mut s, (lo, hi))| s.mapv_inplace(|v| v.clamp(lo, hi)));
            }
            if from[a] != shape[a] {
                out = zoom_axis(&out, a, shape[a], order_z);
            }
            out
        }
    }
}

fn range<'a>(it: impl Iterator<Item = &'a f32>) -> (f32, f32) {
    it.fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)))
}

/// Where output voxel `o` of `out` samples an axis of `n` voxels (pixel
/// centres aligned), clamped to the axis as SciPy's `nearest` mode does.
pub fn source_position(o: usize, n: usize, out: usize) -> f64 {
    let zoom = n as f64 / out as f64;
    ((o as f64 + 0.5) * zoom - 0.5).clamp(0.0, (n - 1) as f64)
}

/// Resamples along one axis with spline `order` (0, 1 or 3).
pub fn zoom_axis(src: &Array3<f32>, axis: usize, out_n: usize, order: u8) -> Array3<f32> {
    let d = src.dim();
    let n = [d.0, d.1, d.2][axis];
    if n == out_n {
        return src.clone();
    }
    let mut shape = [d.0, d.1, d.2];
    shape[axis] = out_n;
    let mut out = Array3::<f32>::zeros((shape[0], shape[1], shape[2]));
    let plan = LinePlan::new(n, out_n, order);
    // Lanes along `axis`, in matching order in both arrays.
    let src_lanes: Vec<_> = src.lanes(Axis(axis)).into_iter().collect();
    out.lanes_mut(Axis(axis))
        .into_iter()
        .zip(src_lanes)
        .par_bridge()
        .for_each_init(
            || (Vec::new(), Vec::new()),
            |(line, coef), (mut o, s)| {
                line.clear();
                line.extend(s.iter().map(|&v| v as f64));
                plan.apply(line, coef, |i, v| o[i] = v as f32);
            },
        );
    out
}

/// The taps of one axis's resampling, computed once for all its lines.
struct LinePlan {
    order: u8,
    n: usize,
    /// Per output voxel: first input index (into the padded line for order
    /// 3) and the weights.
    taps: Vec<(usize, [f64; 4])>,
}

impl LinePlan {
    fn new(n: usize, out_n: usize, order: u8) -> Self {
        let taps = (0..out_n)
            .map(|o| {
                let c = source_position(o, n, out_n);
                match order {
                    0 => (
                        (c + 0.5).floor().min((n - 1) as f64) as usize,
                        [1.0, 0.0, 0.0, 0.0],
                    ),
                    1 => {
                        let i = c.floor();
                        let t = c - i;
                        (i as usize, [1.0 - t, t, 0.0, 0.0])
                    }
                    _ => {
                        let c = c + PREPAD as f64;
                        let start = c.floor() as usize - 1;
                        (start, cubic_weights(c))
                    }
                }
            })
            .collect();
        LinePlan { order, n, taps }
    }

    fn apply(&self, line: &[f64], coef: &mut Vec<f64>, mut put: impl FnMut(usize, f64)) {
        match self.order {
            0 => {
                for (o, (i, _)) in self.taps.iter().enumerate() {
                    put(o, line[*i]);
                }
            }
            1 => {
                let last = self.n - 1;
                for (o, (i, w)) in self.taps.iter().enumerate() {
                    let v = w[0] * line[*i] + w[1] * line[(*i + 1).min(last)];
                    put(o, v);
                }
            }
            _ => {
                coef.clear();
                let (first, last) = (line[0], line[self.n - 1]);
                coef.extend(std::iter::repeat_n(first, PREPAD));
                coef.extend_from_slice(line);
                coef.extend(std::iter::repeat_n(last, PREPAD));
                cubic_prefilter(coef);
                for (o, (s, w)) in self.taps.iter().enumerate() {
                    let v = w[0] * coef[*s]
                        + w[1] * coef[s + 1]
                        + w[2] * coef[s + 2]
                        + w[3] * coef[s + 3];
                    put(o, v);
                }
            }
        }
    }
}

/// Cubic B-spline weights of the four taps around `x` (SciPy's
/// `get_spline_interpolation_weights`, order 3).
fn cubic_weights(x: f64) -> [f64; 4] {
    let x = x - x.floor();
    let (y, z) = (x, 1.0 - x);
    let w1 = (y * y * (y - 2.0) * 3.0 + 4.0) / 6.0;
    let w2 = (z * z * (z - 2.0) * 3.0 + 4.0) / 6.0;
    let w0 = z * z * z / 6.0;
    [w0, w1, w2, 1.0 - w0 - w1 - w2]
}

/// The cubic B-spline interpolation coefficients of a line, in place:
/// SciPy's `spline_filter1d` with mirror boundaries (its choice for the
/// `nearest` mode, applied to the pre-padded line).
fn cubic_prefilter(c: &mut [f64]) {
    let n = c.len();
    if n < 2 {
        return;
    }
    let z = 3f64.sqrt() - 2.0;
    let gain = (1.0 - z) * (1.0 - 1.0 / z);
    c.iter_mut().for_each(|v| *v *= gain);
    // Causal initialisation (mirror).
    let z_n_1 = z.powi(n as i32 - 1);
    let mut c0 = c[0] + z_n_1 * c[n - 1];
    let mut z_i = z;
    for i in 1..n - 1 {
        c0 += z_i * (c[i] + z_n_1 * c[n - 1 - i]);
        z_i *= z;
    }
    c[0] = c0 / (1.0 - z_n_1 * z_n_1);
    for i in 1..n {
        c[i] += z * c[i - 1];
    }
    // Anti-causal initialisation (mirror).
    c[n - 1] = (z * c[n - 2] + c[n - 1]) * z / (z * z - 1.0);
    for i in (0..n - 1).rev() {
        c[i] = z * (c[i + 1] - c[i]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cubic_spline_reproduces_its_samples() {
        // Evaluated at its own sample points the interpolating spline gives
        // the samples back, edges included (the pre-padding).
        let line: Vec<f64> = (0..9).map(|i| ((i * 7) % 5) as f64).collect();
        let plan = LinePlan::new(9, 9, 3);
        let mut out = vec![0.0; 9];
        plan.apply(&line, &mut Vec::new(), |i, v| out[i] = v);
        for (a, b) in out.iter().zip(&line) {
            assert!((a - b).abs() < 1e-9, "{out:?}");
        }
        // Halving then doubling a smooth ramp stays near it.
        let src = Array3::from_shape_fn((1, 1, 16), |(_, _, i)| i as f32);
        let down = zoom_axis(&src, 2, 8, 3);
        assert!((down[(0, 0, 3)] - 6.5).abs() < 1e-3, "{down:?}");
    }

    #[test]
    fn halves_round_to_even_as_python_does() {
        assert_eq!(
            new_shape([3, 5, 7], [1.5, 1.0, 1.0], [1.0, 2.0, 2.0]),
            [4, 2, 4]
        );
    }

    #[test]
    fn the_coarse_axis_of_an_anisotropic_grid_is_separate() {
        assert_eq!(
            separate_axis(None, [5.0, 0.8, 0.8], [1.5, 1.5, 1.5], 3.0),
            Some(0)
        );
        assert_eq!(
            separate_axis(None, [1.0, 1.0, 1.0], [1.5, 1.5, 1.5], 3.0),
            None
        );
        assert_eq!(
            separate_axis(None, [0.5, 2.0, 2.0], [1.0, 1.0, 1.0], 3.0),
            None
        );
    }
}
