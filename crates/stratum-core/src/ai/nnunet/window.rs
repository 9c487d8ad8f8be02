//! nnU-Net's sliding window: its Gaussian weights, window steps and mirror
//! combinations, and the loop that runs every fold's network over the
//! padded model grid and sums the windows as its predictor does.

use std::time::Instant;

use ndarray::{Array3, Zip, s};
use ort::session::Session;
use ort::value::TensorRef;
use rayon::prelude::*;

use super::spec::NnUnet;
use crate::ai::infer::{StageTimes, outlet};
use crate::ai::manifest::Manifest;
use crate::base::error::{CoreError, Result};
use crate::base::progress::Progress;

/// nnU-Net's `compute_gaussian` (sigma 1/8 of the patch, truncated at 4
/// sigma, peak 10), rounded to f16 as nnU-Net keeps it, zeros raised to
/// the smallest non-zero weight.
pub fn gaussian(patch: [usize; 3]) -> Array3<f32> {
    let axis = |n: usize| -> Vec<f64> {
        let sigma = n as f64 / 8.0;
        let radius = (4.0 * sigma + 0.5) as i64;
        let c = (n / 2) as i64;
        let k: Vec<f64> = (-radius..=radius)
            .map(|x| (-0.5 / (sigma * sigma) * (x * x) as f64).exp())
            .collect();
        let sum: f64 = k.iter().sum();
        (0..n as i64)
            .map(|i| {
                let d = i - c;
                if d.abs() <= radius {
                    k[(d + radius) as usize] / sum
                } else {
                    0.0
                }
            })
            .collect()
    };
    let (a, b, c) = (axis(patch[0]), axis(patch[1]), axis(patch[2]));
    let max = a[patch[0] / 2] * b[patch[1] / 2] * c[patch[2] / 2];
    let mut g = Array3::from_shape_fn((patch[0], patch[1], patch[2]), |(i, j, k)| {
        half::f16::from_f64(a[i] * b[j] * c[k] / (max / 10.0)).to_f32()
    });
    let min = g
        .iter()
        .copied()
        .filter(|&v| v > 0.0)
        .fold(f32::MAX, f32::min);
    g.mapv_inplace(|v| if v == 0.0 { min } else { v });
    g
}

/// nnU-Net's `compute_steps_for_sliding_window` along one axis.
pub fn steps(size: usize, tile: usize, step: f32) -> Vec<usize> {
    if size <= tile {
        return vec![0];
    }
    let target = tile as f64 * step as f64;
    let n = ((size - tile) as f64 / target).ceil() as usize + 1;
    let actual = (size - tile) as f64 / (n - 1) as f64;
    (0..n)
        .map(|i| (actual * i as f64).round_ties_even() as usize)
        .collect()
}

/// Every non-empty combination of the mirror axes (itertools.combinations
/// by size, as nnU-Net lists them), after the unmirrored pass.
fn mirror_sets(axes: &[usize]) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new()];
    for size in 1..=axes.len() {
        let mut idx: Vec<usize> = (0..size).collect();
        loop {
            out.push(idx.iter().map(|&i| axes[i]).collect());
            let mut i = size;
            while i > 0 && idx[i - 1] == axes.len() - size + i - 1 {
                i -= 1;
            }
            if i == 0 {
                break;
            }
            idx[i - 1] += 1;
            for j in i..size {
                idx[j] = idx[j - 1] + 1;
            }
        }
    }
    out
}

/// Copies `src` (`channels` x `p`) into `dst` flipped along `axes`.
fn flip_into(src: &[f32], dst: &mut [f32], p: [usize; 3], channels: usize, axes: &[usize]) {
    let f = [axes.contains(&0), axes.contains(&1), axes.contains(&2)];
    let n = p[0] * p[1] * p[2];
    for c in 0..channels {
        let (s, d) = (&src[c * n..][..n], &mut dst[c * n..][..n]);
        for i in 0..p[0] {
            let si = if f[0] { p[0] - 1 - i } else { i };
            for j in 0..p[1] {
                let sj = if f[1] { p[1] - 1 - j } else { j };
                let drow = &mut d[(i * p[1] + j) * p[2]..][..p[2]];
                let srow = &s[(si * p[1] + sj) * p[2]..][..p[2]];
                if f[2] {
                    drow.iter_mut()
                        .zip(srow.iter().rev())
                        .for_each(|(o, v)| *o = *v);
                } else {
                    drow.copy_from_slice(srow);
                }
            }
        }
    }
}

/// The Gaussian-weighted sliding window over the normalised model grid
/// (padded with 0 to at least the patch, as nnU-Net pads), fold after fold
/// as nnU-Net's predictor runs them: per window the mirrored passes
/// averaged, weighted and summed (in `spec.accumulate` precision), each
/// fold's sums divided by the weights, the folds averaged. Returns the
/// logits, one array per channel on `data`'s grid, and the window count.
pub(super) fn sliding_window(
    sessions: &mut [Session],
    m: &Manifest,
    spec: &NnUnet,
    data: &Array3<f32>,
    progress: &Progress,
    times: &mut StageTimes,
) -> Result<(Vec<Array3<f32>>, usize)> {
    let p = m.input.patch;
    let g = dims(data);
    let padded: [usize; 3] = std::array::from_fn(|k| g[k].max(p[k]));
    let below: [usize; 3] = std::array::from_fn(|k| (padded[k] - g[k]) / 2);
    let t = Instant::now();
    let mut img = Array3::<f32>::zeros((padded[0], padded[1], padded[2]));
    img.slice_mut(s![
        below[0]..below[0] + g[0],
        below[1]..below[1] + g[1],
        below[2]..below[2] + g[2]
    ])
    .assign(data);
    times.patches += t.elapsed();
    let st: Vec<Vec<usize>> = (0..3)
        .map(|k| steps(padded[k], p[k], spec.tile_step))
        .collect();
    let windows = st.iter().map(Vec::len).product::<usize>();
    let mirrors = mirror_sets(spec.active_mirror_axes());
    let folds = sessions.len();
    progress.begin(
        &format!(
            "running {} ({windows} windows x {folds} folds x {} mirrors)",
            m.name,
            mirrors.len()
        ),
        (windows * folds) as u64,
    );
    let channels = m.channels();
    let input_name = outlet(sessions[0].inputs(), m.input.name.as_deref(), "input")?
        .name()
        .to_string();
    let output_name = outlet(sessions[0].outputs(), m.output.name.as_deref(), "output")?
        .name()
        .to_string();
    let prec = spec.accumulate;
    let weight = gaussian(p);
    let np = p[0] * p[1] * p[2];
    let mut window = vec![0f32; np];
    let mut flipped = vec![0f32; np];
    let mut sum = vec![0f32; channels * np];
    let mut back = vec![0f32; channels * np];
    let shape = [1i64, 1, p[0] as i64, p[1] as i64, p[2] as i64];
    let expect = vec![1i64, channels as i64, p[0] as i64, p[1] as i64, p[2] as i64];
    let runs = mirrors.len() as f32;
    let inner = s![
        below[0]..below[0] + g[0],
        below[1]..below[1] + g[1],
        below[2]..below[2] + g[2]
    ];
    let mut total: Vec<Array3<f32>> = Vec::new();
    for session in sessions.iter_mut() {
        let mut acc: Vec<Array3<f32>> = (0..channels).map(|_| Array3::zeros(img.dim())).collect();
        let mut wsum = Array3::<f32>::zeros(img.dim());
        for &a in &st[0] {
            for &b in &st[1] {
                for &c in &st[2] {
                    progress.check()?;
                    let t = Instant::now();
                    let view = img.slice(s![a..a + p[0], b..b + p[1], c..c + p[2]]);
                    window
                        .iter_mut()
                        .zip(view.iter())
                        .for_each(|(o, v)| *o = *v);
                    times.patches += t.elapsed();
                    for (i, axes) in mirrors.iter().enumerate() {
                        let t = Instant::now();
                        let input = if axes.is_empty() {
                            &window
                        } else {
                            flip_into(&window, &mut flipped, p, 1, axes);
                            &flipped
                        };
                        let tensor =
                            TensorRef::from_array_view((shape, &input[..])).map_err(|e| {
                                CoreError::ModelRun {
                                    model: m.name.clone(),
                                    stage: "on its input",
                                    reason: e.to_string(),
                                }
                            })?;
                        let outputs = session
                            .run(ort::inputs![input_name.as_str() => tensor])
                            .map_err(|e| CoreError::ModelRun {
                                model: m.name.clone(),
                                stage: "on a window",
                                reason: e.to_string(),
                            })?;
                        let out = outputs.get(output_name.as_str()).ok_or_else(|| {
                            CoreError::ModelMismatch {
                                detail: format!("it has no output {output_name:?}"),
                            }
                        })?;
                        let (oshape, values) =
                            out.try_extract_tensor::<f32>()
                                .map_err(|e| CoreError::ModelRun {
                                    model: m.name.clone(),
                                    stage: "reading its output",
                                    reason: e.to_string(),
                                })?;
                        let d: Vec<i64> = oshape.iter().copied().collect();
                        if d != expect {
                            return Err(CoreError::ModelMismatch {
                                detail: format!(
                                    "its output has shape {d:?}; the manifest implies {expect:?}"
                                ),
                            });
                        }
                        times.run += t.elapsed();
                        let t = Instant::now();
                        // In nnU-Net's order: the plain pass, then each
                        // mirrored one added.
                        let src: &[f32] = if axes.is_empty() {
                            values
                        } else {
                            flip_into(values, &mut back, p, channels, axes);
                            &back
                        };
                        if i == 0 {
                            sum.copy_from_slice(src);
                        } else {
                            sum.iter_mut().zip(src).for_each(|(s, v)| *s += v);
                        }
                        times.stitch += t.elapsed();
                    }
                    let t = Instant::now();
                    let region = s![a..a + p[0], b..b + p[1], c..c + p[2]];
                    Zip::from(wsum.slice_mut(region))
                        .and(&weight)
                        .for_each(|s, &w| *s = prec.round(*s + w));
                    for (ch, acc) in acc.iter_mut().enumerate() {
                        let pc = ndarray::ArrayView3::from_shape(
                            (p[0], p[1], p[2]),
                            &sum[ch * np..][..np],
                        )
                        .map_err(|_| {
                            CoreError::Internal("a window's scores do not fill the patch")
                        })?;
                        Zip::from(acc.slice_mut(region))
                            .and(&weight)
                            .and(&pc)
                            .for_each(|s, &w, &v| {
                                let pred = if runs > 1.0 { v / runs } else { v };
                                *s = prec.round(*s + pred * w);
                            });
                    }
                    times.stitch += t.elapsed();
                    progress.advance(1);
                }
            }
        }
        let t = Instant::now();
        let w = wsum.slice(inner);
        let logits: Vec<Array3<f32>> = acc
            .into_par_iter()
            .map(|a| {
                let mut o = a.slice(inner).to_owned();
                Zip::from(&mut o)
                    .and(&w)
                    .for_each(|v, &w| *v = prec.round(*v / w));
                o
            })
            .collect();
        if total.is_empty() {
            total = logits;
        } else {
            for (t, l) in total.iter_mut().zip(&logits) {
                Zip::from(t)
                    .and(l)
                    .par_for_each(|t, &l| *t = prec.round(*t + l));
            }
        }
        times.stitch += t.elapsed();
    }
    if folds > 1 {
        let n = folds as f32;
        for t in total.iter_mut() {
            t.par_mapv_inplace(|v| prec.round(v / n));
        }
    }
    Ok((total, windows))
}

/// An array's three sizes as an array.
pub(super) fn dims(a: &Array3<f32>) -> [usize; 3] {
    let d = a.dim();
    [d.0, d.1, d.2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_match_nnunet_for_110_voxels_and_64_patch() {
        assert_eq!(steps(110, 64, 0.5), vec![0, 23, 46]);
        assert_eq!(steps(64, 64, 0.5), vec![0]);
    }

    #[test]
    fn mirror_sets_list_every_combination_once() {
        let m = mirror_sets(&[0, 1, 2]);
        assert_eq!(
            m,
            vec![
                vec![],
                vec![0],
                vec![1],
                vec![2],
                vec![0, 1],
                vec![0, 2],
                vec![1, 2],
                vec![0, 1, 2]
            ]
        );
    }

    #[test]
    fn gaussian_peaks_at_ten_in_the_centre() {
        let g = gaussian([8, 16, 16]);
        assert_eq!(g[(4, 8, 8)], 10.0);
        assert!(g.iter().all(|&v| v > 0.0));
    }
}
