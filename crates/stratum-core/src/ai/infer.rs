//! Whole-scan inference: resample the volume onto the model's grid,
//! normalise, run the network over overlapping patches with Gaussian
//! weighting of each patch's centre (as MONAI's `sliding_window_inference`),
//! stitch the probabilities, resample them back to the scan's grid, take the
//! labels and post-process them.

use std::time::{Duration, Instant};

use ndarray::{Array3, Axis, Zip};
use ort::session::Session;
use ort::value::{Outlet, TensorRef};
use rayon::prelude::*;

use super::grid::{ModelGrid, ScanTaps, taps};
use super::manifest::{Activation, Interpolation, Layout, Manifest};
use super::window::{edge_fill, fill_window, window_starts};
use crate::base::error::{CoreError, Result};
use crate::base::progress::Progress;
use crate::image::volume::Volume;
use crate::mesh::SoftField;
use crate::segment::LabelMap;

/// Wall time of each stage, for the benchmark and the log.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StageTimes {
    /// Opening the ONNX session.
    pub load: Duration,
    /// Volume onto the model grid (incl. anti-aliasing).
    pub resample: Duration,
    pub normalise: Duration,
    /// Cutting patches out and laying them out for the network.
    pub patches: Duration,
    /// ONNX Runtime itself.
    pub run: Duration,
    /// Activation, Gaussian weighting and accumulation of patch outputs.
    pub stitch: Duration,
    /// Probabilities back onto the scan's grid, and the labels.
    pub resample_back: Duration,
    pub postprocess: Duration,
}

impl StageTimes {
    /// Everything Stratum adds around the network run (session load excluded).
    pub fn overhead(&self) -> Duration {
        self.resample
            + self.normalise
            + self.patches
            + self.stitch
            + self.resample_back
            + self.postprocess
    }
}

/// The outcome of a model run on a scan.
#[derive(Clone, Debug)]
pub struct AiSegmentation {
    /// Labels on the scan's grid, one segment per manifest label found.
    pub labels: LabelMap,
    /// Each segment's soft edge (by segment id): its surface is the
    /// network's 0.5 level, not its voxels' midpoints.
    pub soft: std::collections::BTreeMap<u16, SoftField>,
    /// Manifest labels that came out empty.
    pub empty: Vec<String>,
    pub model_grid: [usize; 3],
    pub patches: usize,
    pub times: StageTimes,
}

/// 1D Gaussian blur along `axis` of a (z, y, x) array, edges clamped.
fn blur_axis(a: &mut Array3<f32>, axis: usize, sigma: f64) {
    let radius = (3.0 * sigma).ceil() as isize;
    if radius < 1 {
        return;
    }
    let mut kernel: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp() as f32)
        .collect();
    let sum: f32 = kernel.iter().sum();
    kernel.iter_mut().for_each(|k| *k /= sum);
    let n = a.len_of(Axis(axis));
    a.lanes_mut(Axis(axis))
        .into_iter()
        .par_bridge()
        .for_each(|mut lane| {
            let src: Vec<f32> = lane.to_vec();
            for i in 0..n {
                let mut acc = 0.0;
                for (j, k) in kernel.iter().enumerate() {
                    let s = (i as isize + j as isize - radius).clamp(0, n as isize - 1) as usize;
                    acc += k * src[s];
                }
                lane[i] = acc;
            }
        });
}

/// The scan on the model grid, (D, H, W). When the model grid is coarser
/// than the scan along an axis, the scan is first smoothed with a Gaussian of
/// sigma (scale - 1) / 2 voxels (scikit-image's anti-aliasing), so thin
/// bright structures do not alias.
#[tracing::instrument(level = "info", skip_all)]
pub fn resample_to_grid(volume: &Volume, grid: &ModelGrid) -> Array3<f32> {
    resample_array(volume.voxels.to_f32(), grid)
}

/// [`resample_to_grid`] of a (z, y, x) array already in f32.
pub fn resample_array(mut src: Array3<f32>, grid: &ModelGrid) -> Array3<f32> {
    if grid.interpolation == Interpolation::Nearest {
        let idx: Vec<Vec<usize>> = (0..3)
            .map(|k| {
                let n = grid.src_n[grid.src_axis[k]];
                (0..grid.shape[k])
                    .map(|i| {
                        let s = grid.to_src(k, i as f64).round();
                        s.clamp(0.0, (n - 1) as f64) as usize
                    })
                    .collect()
            })
            .collect();
        let mut out = Array3::<f32>::zeros((grid.shape[0], grid.shape[1], grid.shape[2]));
        out.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(d, mut plane)| {
                for ((h, w), v) in plane.indexed_iter_mut() {
                    let mut xyz = [0usize; 3];
                    xyz[grid.src_axis[0]] = idx[0][d];
                    xyz[grid.src_axis[1]] = idx[1][h];
                    xyz[grid.src_axis[2]] = idx[2][w];
                    *v = src[(xyz[2], xyz[1], xyz[0])];
                }
            });
        return out;
    }
    for k in 0..3 {
        if grid.scale[k] > 1.0 {
            // Source array axes are (z, y, x): source axis a lives at 2 - a.
            blur_axis(&mut src, 2 - grid.src_axis[k], (grid.scale[k] - 1.0) / 2.0);
        }
    }
    let t: Vec<Vec<(usize, usize, f32)>> = (0..3)
        .map(|k| {
            taps(
                (0..grid.shape[k]).map(|i| grid.to_src(k, i as f64)),
                grid.src_n[grid.src_axis[k]],
            )
        })
        .collect();
    let mut out = Array3::<f32>::zeros((grid.shape[0], grid.shape[1], grid.shape[2]));
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(d, mut plane)| {
            for ((h, w), v) in plane.indexed_iter_mut() {
                let idx = [t[0][d], t[1][h], t[2][w]];
                let mut acc = 0.0f32;
                for corner in 0..8 {
                    let mut xyz = [0usize; 3];
                    let mut wgt = 1.0f32;
                    for k in 0..3 {
                        let (i0, i1, f) = idx[k];
                        let up = corner >> k & 1 == 1;
                        xyz[grid.src_axis[k]] = if up { i1 } else { i0 };
                        wgt *= if up { f } else { 1.0 - f };
                    }
                    if wgt > 0.0 {
                        acc += wgt * src[(xyz[2], xyz[1], xyz[0])];
                    }
                }
                *v = acc;
            }
        });
    out
}

/// Gaussian importance of each patch voxel: sigma 1/8 of the patch size,
/// peak 1 at the centre (MONAI's `BlendMode.GAUSSIAN`).
fn importance(patch: [usize; 3]) -> Array3<f32> {
    let g = |n: usize| -> Vec<f32> {
        let sigma = 0.125 * n as f64;
        let c = (n as f64 - 1.0) / 2.0;
        (0..n)
            .map(|i| (-((i as f64 - c).powi(2)) / (2.0 * sigma * sigma)).exp() as f32)
            .collect()
    };
    let (a, b, c) = (g(patch[0]), g(patch[1]), g(patch[2]));
    Array3::from_shape_fn((patch[0], patch[1], patch[2]), |(i, j, k)| {
        (a[i] * b[j] * c[k]).max(1e-6)
    })
}

/// Sliding-window inference over a normalised model-grid array (D, H, W).
/// Returns one stitched probability map per output channel, on the same
/// grid. Progress advances one per patch; cancel is checked between patches.
#[tracing::instrument(level = "info", skip_all)]
pub fn sliding_window(
    session: &mut Session,
    m: &Manifest,
    input: &Array3<f32>,
    progress: &Progress,
    times: &mut StageTimes,
) -> Result<Vec<Array3<f32>>> {
    let g = input.dim();
    let g = [g.0, g.1, g.2];
    let p = m.input.patch;
    let q = m.output.patch.unwrap_or(p);
    let pad = m.input.pad_value;
    let fill = edge_fill(&m.input)?;
    let channels = m.channels();
    let starts: Vec<Vec<(i64, i64)>> = (0..3)
        .map(|k| window_starts(g[k], p[k], q[k], m.input.overlap))
        .collect();
    let total = starts.iter().map(|s| s.len()).product::<usize>();
    progress.begin(
        &format!("running {} ({} patches)", m.name, total),
        total as u64,
    );

    let input_name = outlet(session.inputs(), m.input.name.as_deref(), "input")?
        .name()
        .to_string();
    let output_name = outlet(session.outputs(), m.output.name.as_deref(), "output")?
        .name()
        .to_string();
    let shape: [i64; 5] = match m.input.layout {
        Layout::NCDHW => [1, 1, p[0] as i64, p[1] as i64, p[2] as i64],
        Layout::NDHWC => [1, p[0] as i64, p[1] as i64, p[2] as i64, 1],
    };
    let expect: Vec<i64> = match m.input.layout {
        Layout::NCDHW => vec![1, channels as i64, q[0] as i64, q[1] as i64, q[2] as i64],
        Layout::NDHWC => vec![1, q[0] as i64, q[1] as i64, q[2] as i64, channels as i64],
    };
    let weight = importance(q);
    let mut acc: Vec<Array3<f32>> = (0..channels).map(|_| Array3::zeros(input.dim())).collect();
    let mut wsum = Array3::<f32>::zeros(input.dim());
    let mut buf = vec![0f32; p[0] * p[1] * p[2]];
    let nq = q[0] * q[1] * q[2];
    let mut probs = vec![0f32; channels * nq];
    // The part [lo, hi) of a window starting at `s` (length `n`) that lies
    // inside the grid along axis k, as offsets into the window.
    let inside = |k: usize, s: i64, n: usize| -> (usize, usize) {
        let lo = (-s).clamp(0, n as i64) as usize;
        let hi = (g[k] as i64 - s).clamp(0, n as i64) as usize;
        (lo, hi.max(lo))
    };

    for &(i0, o0) in &starts[0] {
        for &(i1, o1) in &starts[1] {
            for &(i2, o2) in &starts[2] {
                progress.check()?;
                // Input window out of the grid, `pad` past its edges (or
                // the end slices repeated along z, `input.pad_z`). One
                // channel: both layouts share the D, H, W order.
                let t = Instant::now();
                fill_window(&mut buf, input, [i0, i1, i2], p, pad, fill);
                times.patches += t.elapsed();

                let t = Instant::now();
                let tensor = TensorRef::from_array_view((shape, &buf[..])).map_err(|e| {
                    CoreError::ModelRun {
                        model: m.name.clone(),
                        stage: "preparing a patch",
                        reason: e.to_string(),
                    }
                })?;
                let outputs = session
                    .run(ort::inputs![input_name.as_str() => tensor])
                    .map_err(|e| CoreError::ModelRun {
                        model: m.name.clone(),
                        stage: "on a patch",
                        reason: e.to_string(),
                    })?;
                let out =
                    outputs
                        .get(output_name.as_str())
                        .ok_or_else(|| CoreError::ManifestField {
                            field: "output.name",
                            why: format!(
                                "names an output the model does not have ({output_name:?})"
                            ),
                        })?;
                let (oshape, data) =
                    out.try_extract_tensor::<f32>()
                        .map_err(|e| CoreError::ModelRun {
                            model: m.name.clone(),
                            stage: "reading a patch's output",
                            reason: e.to_string(),
                        })?;
                let dims: Vec<i64> = oshape.iter().copied().collect();
                if dims != expect {
                    return Err(CoreError::ModelMismatch {
                        detail: format!(
                            "its output has shape {dims:?} but the manifest (fields `input.patch`, `output.patch`, `input.layout`, `output.labels`, `output.background_channel`) implies {expect:?}"
                        ),
                    });
                }
                // Channel-major copy of the output.
                match m.input.layout {
                    Layout::NCDHW => probs.copy_from_slice(&data[..channels * nq]),
                    Layout::NDHWC => {
                        for i in 0..nq {
                            for c in 0..channels {
                                probs[c * nq + i] = data[i * channels + c];
                            }
                        }
                    }
                }
                drop(outputs);
                times.run += t.elapsed();

                let t = Instant::now();
                activate(&mut probs, channels, m.output.activation);
                if total == 1 && (0..3).all(|k| q[k] == g[k]) && (o0, o1, o2) == (0, 0, 0) {
                    // One window whose output is exactly the grid (deepbet,
                    // deepbrain): the weighted average is the output itself.
                    times.stitch += t.elapsed();
                    progress.advance(1);
                    return Ok((0..channels)
                        .map(|c| {
                            Array3::from_shape_vec(
                                (q[0], q[1], q[2]),
                                probs[c * nq..][..nq].to_vec(),
                            )
                            .expect("patch shape")
                        })
                        .collect());
                }
                let (a0, b0) = inside(0, o0, q[0]);
                let (a1, b1) = inside(1, o1, q[1]);
                let (a2, b2) = inside(2, o2, q[2]);
                let at = |o: i64, a: usize| (o + a as i64) as usize;
                let region = ndarray::s![
                    at(o0, a0)..at(o0, b0),
                    at(o1, a1)..at(o1, b1),
                    at(o2, a2)..at(o2, b2)
                ];
                let part = ndarray::s![a0..b0, a1..b1, a2..b2];
                let wv = weight.slice(part);
                Zip::from(wsum.slice_mut(region))
                    .and(&wv)
                    .for_each(|a, &w| *a += w);
                for (c, a) in acc.iter_mut().enumerate() {
                    let pc =
                        ndarray::ArrayView3::from_shape((q[0], q[1], q[2]), &probs[c * nq..][..nq])
                            .expect("patch shape");
                    Zip::from(a.slice_mut(region))
                        .and(&wv)
                        .and(&pc.slice(part))
                        .for_each(|a, &w, &v| *a += w * v);
                }
                times.stitch += t.elapsed();
                progress.advance(1);
            }
        }
    }
    let t = Instant::now();
    for a in acc.iter_mut() {
        Zip::from(a)
            .and(&wsum)
            .par_for_each(|a, &w| *a /= w.max(1e-12));
    }
    times.stitch += t.elapsed();
    Ok(acc)
}

fn activate(probs: &mut [f32], channels: usize, act: Activation) {
    match act {
        Activation::None => {}
        Activation::Sigmoid => probs
            .iter_mut()
            .for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
        Activation::Softmax => {
            let n = probs.len() / channels;
            for i in 0..n {
                let max = (0..channels)
                    .map(|c| probs[c * n + i])
                    .fold(f32::MIN, f32::max);
                let mut sum = 0.0;
                for c in 0..channels {
                    let e = (probs[c * n + i] - max).exp();
                    probs[c * n + i] = e;
                    sum += e;
                }
                for c in 0..channels {
                    probs[c * n + i] /= sum;
                }
            }
        }
    }
}

/// Labels on the scan's grid from the stitched probabilities: each channel
/// is interpolated (trilinear) at the scan voxel, then the argmax (softmax
/// networks) or the most probable label above the threshold.
#[tracing::instrument(level = "info", skip_all)]
pub fn labels_on_scan(
    probs: &[Array3<f32>],
    grid: &ModelGrid,
    dim: (usize, usize, usize),
    m: &Manifest,
) -> Array3<u16> {
    let taps = ScanTaps::new(grid, dim);
    let bg = m.output.background_channel;
    let threshold = m.output.threshold;
    // Background and one label: interpolation is linear, so "label beats
    // background" at a voxel is "the interpolated difference is positive",
    // one channel to interpolate instead of two (exactly the same labels,
    // ties going to the background as in the argmax).
    let diff;
    let two = bg && probs.len() == 2;
    let probs = if two {
        diff = [&probs[1] - &probs[0]];
        &diff[..]
    } else {
        probs
    };
    let mut out = Array3::<u16>::zeros(dim);
    out.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(z, mut plane)| {
            let mut values = vec![0f32; probs.len()];
            for ((y, x), label) in plane.indexed_iter_mut() {
                let src = [x, y, z];
                for (c, pc) in probs.iter().enumerate() {
                    values[c] = taps.value(pc, src);
                }
                if two {
                    *label = u16::from(values[0] > 0.0);
                    continue;
                }
                let (best, p) = values
                    .iter()
                    .copied()
                    .enumerate()
                    .fold((0, f32::MIN), |b, (i, v)| if v > b.1 { (i, v) } else { b });
                *label = if bg {
                    best as u16
                } else if p >= threshold {
                    best as u16 + 1
                } else {
                    0
                };
            }
        });
    out
}

/// Checks the ONNX graph against the manifest before any work: rank,
/// channels and (when fixed) spatial size of the input.
pub fn check_session(session: &Session, m: &Manifest) -> Result<()> {
    let input = outlet(session.inputs(), m.input.name.as_deref(), "input")?;
    let Some(shape) = input.dtype().tensor_shape() else {
        return Err(CoreError::ModelMismatch {
            detail: "its input is not a tensor".into(),
        });
    };
    let dims: Vec<i64> = shape.iter().copied().collect();
    if dims.len() != 5 {
        return Err(CoreError::ModelMismatch {
            detail: format!(
                "its input has shape {dims:?}; Stratum runs 3D models with a 5D input (field `input.layout`)"
            ),
        });
    }
    let (c, spatial) = match m.input.layout {
        Layout::NCDHW => (dims[1], &dims[2..5]),
        Layout::NDHWC => (dims[4], &dims[1..4]),
    };
    if c != -1 && c != m.input.channels as i64 {
        return Err(CoreError::ModelMismatch {
            detail: format!(
                "its input has shape {dims:?}: {c} channels in layout {:?}, but field `input.channels` says {}",
                m.input.layout, m.input.channels
            ),
        });
    }
    for k in 0..3 {
        if spatial[k] != -1 && spatial[k] != m.input.patch[k] as i64 {
            return Err(CoreError::ModelMismatch {
                detail: format!(
                    "field `input.patch` is {:?} but the model's input shape is {dims:?} (layout {:?})",
                    m.input.patch, m.input.layout
                ),
            });
        }
    }
    Ok(())
}

/// The model's input or output (`what`) the manifest names, or its first
/// one when the manifest names none; a name the model lacks is an error
/// naming the manifest field and the names the model has.
pub(crate) fn outlet<'s>(
    outlets: &'s [Outlet],
    name: Option<&str>,
    what: &str,
) -> Result<&'s Outlet> {
    match name {
        Some(n) => outlets.iter().find(|o| o.name() == n).ok_or_else(|| {
            CoreError::ModelMismatch {
                detail: format!(
                    "field `{what}.name` names {n:?}, and the model has no such {what} (it has {:?})",
                    outlets.iter().map(|o| o.name()).collect::<Vec<_>>()
                ),
            }
        }),
        None => outlets
            .first()
            .ok_or_else(|| CoreError::ModelMismatch {
                detail: format!("the ONNX model has no {what}"),
            }),
    }
}
