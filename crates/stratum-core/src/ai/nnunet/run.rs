//! One nnU-Net network over a scan, step for step as nnU-Net's predictor:
//! the scan in the network's axis order, cropped to its non-zero box,
//! normalised there, resampled to the plan's spacing (cubic spline), the
//! Gaussian-weighted sliding window over it (mirrored, every fold), the
//! averaged logits resampled back (linear) and their argmax.

use std::path::Path;
use std::time::Instant;

use ndarray::{Array3, Axis, Zip, s};
use rayon::prelude::*;

use super::resample::{new_shape, resample, separate_axis, source_position};
use super::spec::{NnUnet, Precision};
use super::window::{dims, sliding_window};
use crate::ai::grid::ModelGrid;
use crate::ai::infer::{StageTimes, check_session};
use crate::ai::manifest::{GridSpec, Manifest, Normalize};
use crate::ai::runtime;
use crate::base::error::{CoreError, Result};
use crate::base::progress::Progress;
use crate::image::volume::Volume;
use crate::mesh::SoftField;
use crate::segment::{Mask, fill_holes_3d};

/// The outcome of one network: labels on the scan's grid, and the logits
/// they came from (for the soft edges of the labels kept).
pub struct NnUnetRun {
    pub labels: Array3<u16>,
    pub logits: Logits,
    /// The model grid's shape (D, H, W), before padding to the patch.
    pub grid: [usize; 3],
    pub patches: usize,
}

/// Averaged logits on the model grid, and how they map onto the scan.
pub struct Logits {
    /// One array per output channel (background first), (D, H, W).
    pub channels: Vec<Array3<f32>>,
    /// Scan axes of the tensor axes, and their flips.
    grid: ModelGrid,
    /// The non-zero crop, in tensor index space at the scan's resolution.
    crop: [(usize, usize); 3],
    /// Per tensor axis, per cropped-scan index: the logits' taps.
    taps: [Vec<(usize, usize, f32)>; 3],
    /// Precision the resampled logits are kept in (nnU-Net: its logits'
    /// dtype, f16).
    precision: Precision,
}

/// Runs network `m` (with its `nnunet` section) over `volume`; `dir` holds
/// its fold files. Returns labels 0..=foreground count on the scan's grid.
pub fn run_network(
    volume: &Volume,
    dir: &Path,
    m: &Manifest,
    progress: &Progress,
    times: &mut StageTimes,
) -> Result<NnUnetRun> {
    let spec = m.nnunet.as_ref().ok_or_else(|| CoreError::ManifestField {
        field: "nnunet",
        why: "is missing (the nnU-Net runner reads its plan from there)".into(),
    })?;
    progress.begin(
        &format!("loading model {}", m.name),
        spec.folds.len() as u64,
    );
    let t = Instant::now();
    let mut sessions = Vec::new();
    for f in &spec.folds {
        let s = runtime::open_session(&dir.join(f), runtime::inference_threads())?;
        check_session(&s, m)?;
        sessions.push(s);
        progress.advance(1);
        progress.check()?;
    }
    times.load += t.elapsed();

    progress.begin("preparing the scan as nnU-Net does", 1);
    let t = Instant::now();
    let grid = ModelGrid::new(&volume.geometry, volume.dim(), m)?;
    let GridSpec::Spacing(target) = m.input.grid else {
        return Err(CoreError::ManifestField {
            field: "input.grid.spacing",
            why: "is needed by an nnU-Net network (the plan's spacing)".into(),
        });
    };
    let spacing: [f64; 3] = std::array::from_fn(|k| volume.geometry.spacing[grid.src_axis[k]]);
    let full = in_tensor_order(volume, &grid);
    let crop = nonzero_box(&full);
    let mut data = full
        .slice(s![
            crop[0].0..crop[0].1,
            crop[1].0..crop[1].1,
            crop[2].0..crop[2].1
        ])
        .to_owned();
    let cropped = dims(&data);
    drop(full);
    times.resample += t.elapsed();
    let t = Instant::now();
    normalise(
        &mut data,
        m.input.normalize_for_modality(&volume.modality),
        spec,
    );
    times.normalise += t.elapsed();
    progress.check()?;
    let t = Instant::now();
    let shape = new_shape(cropped, spacing, target);
    let sep = separate_axis(
        spec.force_separate_z,
        spacing,
        target,
        spec.anisotropy_threshold,
    );
    let data = resample(
        &data,
        shape,
        spec.resample_data.order,
        sep,
        spec.resample_data.order_z,
    );
    times.resample += t.elapsed();
    progress.check()?;

    let (channels, patches) = sliding_window(&mut sessions, m, spec, &data, progress, times)?;
    drop(data);

    progress.begin("resampling labels to the scan", 1);
    let t = Instant::now();
    let sep_back = separate_axis(
        spec.force_separate_z,
        target,
        spacing,
        spec.anisotropy_threshold,
    );
    let taps = std::array::from_fn(|k| {
        let order = if sep_back == Some(k) {
            spec.resample_logits.order_z
        } else {
            spec.resample_logits.order
        };
        axis_taps(shape[k], cropped[k], order)
    });
    let logits = Logits {
        channels,
        grid,
        crop,
        taps,
        precision: spec.accumulate,
    };
    let labels = logits.labels(volume.dim());
    times.resample_back += t.elapsed();
    Ok(NnUnetRun {
        labels,
        logits,
        grid: shape,
        patches,
    })
}

/// Labels and softmax probabilities (background first) on the scan's grid,
/// as nnU-Net's `predict_single_npy_array` returns them: for checking the
/// import against nnU-Net itself.
pub fn predict(
    volume: &Volume,
    dir: &Path,
    m: &Manifest,
    progress: &Progress,
) -> Result<(Array3<u16>, Vec<Array3<f32>>, StageTimes)> {
    let mut times = StageTimes::default();
    let run = run_network(volume, dir, m, progress, &mut times)?;
    let probs = run.logits.probabilities(volume.dim());
    Ok((run.labels, probs, times))
}

/// The scan's voxels in the network's axis order (D, H, W) at the scan's
/// own resolution: a permutation and flips, no interpolation (what
/// nnU-Net's reader and `transpose_forward` give it).
fn in_tensor_order(volume: &Volume, grid: &ModelGrid) -> Array3<f32> {
    let src = volume.voxels.to_f32();
    let n: [usize; 3] = std::array::from_fn(|k| grid.src_n[grid.src_axis[k]]);
    let mut out = Array3::<f32>::zeros((n[0], n[1], n[2]));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(d, mut plane)| {
            for ((h, w), v) in plane.indexed_iter_mut() {
                let xyz = grid_to_scan(grid, [d, h, w]);
                *v = src[(xyz[2], xyz[1], xyz[0])];
            }
        });
    out
}

/// Scan index (x, y, z) of tensor index `t` at the scan's resolution.
#[inline]
fn grid_to_scan(grid: &ModelGrid, t: [usize; 3]) -> [usize; 3] {
    let mut xyz = [0usize; 3];
    for k in 0..3 {
        let a = grid.src_axis[k];
        xyz[a] = if grid.flip[k] {
            grid.src_n[a] - 1 - t[k]
        } else {
            t[k]
        };
    }
    xyz
}

/// nnU-Net's `crop_to_nonzero`: the box of the voxels that are not 0 (the
/// whole array when every voxel is).
fn nonzero_box(a: &Array3<f32>) -> [(usize, usize); 3] {
    let d = dims(a);
    let mut lo = d;
    let mut hi = [0usize; 3];
    for ((i, j, k), &v) in a.indexed_iter() {
        if v != 0.0 {
            let p = [i, j, k];
            for x in 0..3 {
                lo[x] = lo[x].min(p[x]);
                hi[x] = hi[x].max(p[x] + 1);
            }
        }
    }
    if hi.contains(&0) {
        return [(0, d[0]), (0, d[1]), (0, d[2])];
    }
    std::array::from_fn(|x| (lo[x], hi[x]))
}

/// nnU-Net's normalisation schemes (on the cropped scan, before resampling,
/// in f32 as nnU-Net computes them).
fn normalise(a: &mut Array3<f32>, n: &Normalize, spec: &NnUnet) {
    let stats = |it: &mut dyn Iterator<Item = f32>| {
        let (mut s, mut s2, mut c) = (0f64, 0f64, 0f64);
        for v in it {
            s += v as f64;
            s2 += (v as f64) * (v as f64);
            c += 1.0;
        }
        let mean = s / c.max(1.0);
        let var = (s2 / c.max(1.0) - mean * mean).max(0.0);
        (mean as f32, var.sqrt().max(1e-8) as f32)
    };
    match *n {
        Normalize::Ct { clip, mean, std } => {
            let (lo, hi, mean, std) = (
                clip[0] as f32,
                clip[1] as f32,
                mean as f32,
                std.max(1e-8) as f32,
            );
            a.par_mapv_inplace(|v| (v.clamp(lo, hi) - mean) / std);
        }
        Normalize::ZScore if spec.mask_for_norm => {
            let mask = fill_holes_3d(&Mask {
                data: a.mapv(|v| u8::from(v != 0.0)),
                geometry: crate::image::volume::Geometry::default(),
            });
            let (mean, std) = stats(
                &mut a
                    .iter()
                    .zip(mask.data.iter())
                    .filter(|(_, m)| **m != 0)
                    .map(|(v, _)| *v),
            );
            Zip::from(a).and(&mask.data).par_for_each(|v, &m| {
                if m != 0 {
                    *v = (*v - mean) / std;
                }
            });
        }
        Normalize::ZScore => {
            let (mean, std) = stats(&mut a.iter().copied());
            a.par_mapv_inplace(|v| (v - mean) / std);
        }
        Normalize::MinMax => {
            let lo = a.iter().copied().fold(f32::MAX, f32::min);
            a.par_mapv_inplace(|v| v - lo);
            let hi = a.iter().copied().fold(f32::MIN, f32::max).max(1e-8);
            a.par_mapv_inplace(|v| v / hi);
        }
        Normalize::Linear {
            scale,
            offset,
            low,
            high,
        } => {
            a.par_mapv_inplace(|v| (v as f64 * scale + offset).clamp(low, high) as f32);
        }
        // Refused at import; a hand-written manifest gets the scheme as the
        // rest of Stratum applies it.
        ref other => crate::ai::normalize::normalise(a, other, None),
    }
}

/// Per output index along an axis of `out` voxels, the (lower, upper,
/// upper weight) taps into `n` model voxels: linear (order 1) or nearest
/// (order 0), as nnU-Net resamples its logits back.
fn axis_taps(n: usize, out: usize, order: u8) -> Vec<(usize, usize, f32)> {
    (0..out)
        .map(|o| {
            let c = source_position(o, n, out);
            if order == 0 {
                let i = ((c + 0.5).floor() as usize).min(n - 1);
                (i, i, 0.0)
            } else {
                let i = c.floor() as usize;
                (i, (i + 1).min(n - 1), (c - i as f64) as f32)
            }
        })
        .collect()
}

impl Logits {
    /// The logits of every channel at tensor index `t` of the cropped scan.
    #[inline]
    fn at(&self, t: [usize; 3], out: &mut [f32]) {
        let ta = [self.taps[0][t[0]], self.taps[1][t[1]], self.taps[2][t[2]]];
        if ta.iter().all(|(_, _, f)| *f == 0.0) {
            // On a model voxel (no resampling along any axis).
            for (o, ch) in out.iter_mut().zip(&self.channels) {
                *o = ch[(ta[0].0, ta[1].0, ta[2].0)];
            }
            return;
        }
        let mut acc = [0f64; 64];
        let acc = &mut acc[..out.len().min(64)];
        acc.fill(0.0);
        for corner in 0..8 {
            let mut idx = [0usize; 3];
            let mut w = 1.0f64;
            for k in 0..3 {
                let (i0, i1, f) = ta[k];
                let up = corner >> k & 1 == 1;
                idx[k] = if up { i1 } else { i0 };
                w *= if up { f as f64 } else { 1.0 - f as f64 };
            }
            if w > 0.0 {
                for (o, ch) in acc.iter_mut().zip(&self.channels) {
                    *o += w * ch[(idx[0], idx[1], idx[2])] as f64;
                }
            }
        }
        for (i, o) in out.iter_mut().enumerate() {
            let v = match acc.get(i) {
                Some(v) => *v as f32,
                None => self.slow_channel(i, &ta),
            };
            *o = self.precision.round(v);
        }
    }

    /// Channel `c` at the taps `ta` (past the 64 channels `at` sums at once).
    fn slow_channel(&self, c: usize, ta: &[(usize, usize, f32); 3]) -> f32 {
        let mut v = 0f64;
        for corner in 0..8 {
            let mut idx = [0usize; 3];
            let mut w = 1.0f64;
            for k in 0..3 {
                let (i0, i1, f) = ta[k];
                let up = corner >> k & 1 == 1;
                idx[k] = if up { i1 } else { i0 };
                w *= if up { f as f64 } else { 1.0 - f as f64 };
            }
            if w > 0.0 {
                v += w * self.channels[c][(idx[0], idx[1], idx[2])] as f64;
            }
        }
        v as f32
    }

    /// Tensor index in the crop of scan voxel (x, y, z); None outside it.
    #[inline]
    fn tensor_index(&self, xyz: [usize; 3]) -> Option<[usize; 3]> {
        let g = &self.grid;
        let mut t = [0usize; 3];
        for k in 0..3 {
            let a = g.src_axis[k];
            let full = if g.flip[k] {
                g.src_n[a] - 1 - xyz[a]
            } else {
                xyz[a]
            };
            let (lo, hi) = self.crop[k];
            if full < lo || full >= hi {
                return None;
            }
            t[k] = full - lo;
        }
        Some(t)
    }

    /// The argmax label of every scan voxel (0 outside the crop), (z, y, x).
    pub fn labels(&self, dim: (usize, usize, usize)) -> Array3<u16> {
        let mut out = Array3::<u16>::zeros(dim);
        let c = self.channels.len();
        out.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(z, mut plane)| {
                let mut v = vec![0f32; c];
                for ((y, x), label) in plane.indexed_iter_mut() {
                    let Some(t) = self.tensor_index([x, y, z]) else {
                        continue;
                    };
                    self.at(t, &mut v);
                    *label = argmax(&v) as u16;
                }
            });
        out
    }

    /// Softmax probabilities of every channel on the scan's grid (z, y, x),
    /// as nnU-Net returns them (outside the crop: background 1).
    pub fn probabilities(&self, dim: (usize, usize, usize)) -> Vec<Array3<f32>> {
        let c = self.channels.len();
        let mut out: Vec<Array3<f32>> = (0..c)
            .map(|i| Array3::from_elem(dim, if i == 0 { 1.0 } else { 0.0 }))
            .collect();
        let mut v = vec![0f32; c];
        for z in 0..dim.0 {
            for y in 0..dim.1 {
                for x in 0..dim.2 {
                    let Some(t) = self.tensor_index([x, y, z]) else {
                        continue;
                    };
                    self.at(t, &mut v);
                    softmax(&mut v);
                    for (o, p) in out.iter_mut().zip(&v) {
                        o[(z, y, x)] = *p;
                    }
                }
            }
        }
        out
    }

    /// The soft edge of output label `label` (foreground index) around its
    /// `mask` (scan grid): 0.5 plus half the margin of its softmax
    /// probability over the strongest other channel, on the mask's edge.
    pub fn soft_field(&self, mask: &Mask, label: usize) -> Option<SoftField> {
        let own = label + 1;
        if own >= self.channels.len() {
            return None;
        }
        let c = self.channels.len();
        crate::ai::soft::soft_edge(mask, |xyz| {
            let mut v = vec![0f32; c];
            match self.tensor_index(xyz) {
                Some(t) => {
                    self.at(t, &mut v);
                    softmax(&mut v);
                }
                None => v[0] = 1.0,
            }
            let other = v
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != own)
                .map(|(_, p)| *p)
                .fold(f32::NEG_INFINITY, f32::max);
            v[own] - other
        })
    }
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold((0, f32::MIN), |b, (i, &x)| if x > b.1 { (i, x) } else { b })
        .0
}

fn softmax(v: &mut [f32]) {
    let max = v.iter().copied().fold(f32::MIN, f32::max);
    let mut sum = 0.0;
    for x in v.iter_mut() {
        *x = (*x - max).exp();
        sum += *x;
    }
    v.iter_mut().for_each(|x| *x /= sum);
}
