//! Intensity normalisation of the model grid: the schemes the shipped
//! networks were trained with (fixed CT windows, percentile and min/max
//! windows for MR, z-scores), as a manifest names them.

use ndarray::Array3;
use serde::{Deserialize, Serialize};

/// Intensity normalisation, applied on the model grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Normalize {
    /// x / max(x) (deepbrain).
    Max,
    /// (x - min) / (max - min).
    MinMax,
    /// (x - mean) / std over the whole grid.
    ZScore,
    /// Clip to the `low` and `high` percentiles, scale to 0..1, z-score,
    /// then `scale * x + shift` (MR; deepbet uses scale 0.226, shift 0.449).
    PercentileZScore {
        low: f64,
        high: f64,
        #[serde(default = "one")]
        scale: f64,
        #[serde(default)]
        shift: f64,
    },
    /// Clip to `clip` (HU), then (x - mean) / std with the training set's
    /// statistics (nnU-Net's CT scheme).
    Ct { clip: [f64; 2], mean: f64, std: f64 },
    /// clamp(x * scale + offset, low, high): fixed CT windows
    /// (pyliverlesionseg: clip(HU / 1000, -0.2, 0.2) * 2.5 is scale 0.0025,
    /// low -0.5, high 0.5).
    Linear {
        scale: f64,
        #[serde(default)]
        offset: f64,
        low: f64,
        high: f64,
    },
    /// Clip to min .. min + `top` * (max - min) of the grid, scale that to
    /// 0..1, add `offset` (pyliverlesionseg's MR liver windowing: top 0.8,
    /// offset -0.5).
    Range {
        #[serde(default = "one")]
        top: f64,
        #[serde(default)]
        offset: f64,
    },
    /// Centre on the median of the voxels inside the stage's region mask
    /// (the whole grid without one), scaled so the region's minimum and
    /// maximum both land within -0.5..0.5, then clamped to `low`..`high`
    /// (pyliverlesionseg's MR lesion input, centred on the liver).
    RegionMedian { low: f64, high: f64 },
}

fn one() -> f64 {
    1.0
}

impl Normalize {
    /// Checks the values serde cannot; `field` names the manifest field.
    pub fn validate(&self, field: &str) -> std::result::Result<(), String> {
        let ok = match *self {
            Normalize::PercentileZScore { low, high, .. } => {
                0.0 <= low && low < high && high <= 100.0
            }
            Normalize::Ct { clip, std, .. } => clip[0] < clip[1] && std > 0.0,
            Normalize::Linear {
                scale, low, high, ..
            } => scale.is_finite() && scale != 0.0 && low < high,
            Normalize::Range { top, offset } => top > 0.0 && top <= 1.0 && offset.is_finite(),
            Normalize::RegionMedian { low, high } => low < high,
            Normalize::Max | Normalize::MinMax | Normalize::ZScore => true,
        };
        if ok {
            return Ok(());
        }
        let need = match self {
            Normalize::PercentileZScore { .. } => "0 <= low < high <= 100",
            Normalize::Ct { .. } => "clip[0] < clip[1] and std > 0",
            Normalize::Linear { .. } => "a non-zero `scale` and low < high",
            Normalize::Range { .. } => "0 < top <= 1 and a finite offset",
            _ => "low < high",
        };
        Err(format!("field `{field}` needs {need}"))
    }
}

/// Normalises the model-grid intensities in place. `region` is the stage's
/// mask on the same grid, for [`Normalize::RegionMedian`]'s statistics.
#[tracing::instrument(level = "info", skip_all)]
pub fn normalise(a: &mut Array3<f32>, n: &Normalize, region: Option<&Array3<bool>>) {
    let len = a.len().max(1) as f64;
    let mean_std = |a: &Array3<f32>| {
        let mean = a.iter().map(|&v| v as f64).sum::<f64>() / len;
        let var = a.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / len;
        (mean, var.sqrt().max(1e-8))
    };
    match *n {
        Normalize::Max => {
            let m = a.iter().copied().fold(f32::MIN, f32::max);
            if m > 0.0 {
                a.par_mapv_inplace(|v| v / m);
            }
        }
        Normalize::MinMax => {
            let (lo, hi) = a
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            let r = (hi - lo).max(1e-8);
            a.par_mapv_inplace(|v| (v - lo) / r);
        }
        Normalize::ZScore => {
            let (mean, std) = mean_std(a);
            a.par_mapv_inplace(|v| ((v as f64 - mean) / std) as f32);
        }
        Normalize::PercentileZScore {
            low,
            high,
            scale,
            shift,
        } => {
            // Percentiles from at most ~4 M evenly strided samples.
            let step = (a.len() / 4_000_000).max(1);
            let mut s: Vec<f32> = a.iter().step_by(step).copied().collect();
            let at = |s: &mut Vec<f32>, q: f64| {
                let i = ((q / 100.0) * (s.len() - 1) as f64).round() as usize;
                *s.select_nth_unstable_by(i, |x, y| x.total_cmp(y)).1
            };
            let lo = at(&mut s, low);
            let hi = at(&mut s, high);
            let r = (hi - lo).max(1e-8);
            a.par_mapv_inplace(|v| ((v - lo) / r).clamp(0.0, 1.0));
            let (mean, std) = mean_std(a);
            a.par_mapv_inplace(|v| (scale * (v as f64 - mean) / std + shift) as f32);
        }
        Normalize::Ct { clip, mean, std } => {
            a.par_mapv_inplace(|v| ((v as f64).clamp(clip[0], clip[1]) - mean) as f32 / std as f32);
        }
        Normalize::Linear {
            scale,
            offset,
            low,
            high,
        } => {
            a.par_mapv_inplace(|v| (v as f64 * scale + offset).clamp(low, high) as f32);
        }
        Normalize::Range { top, offset } => {
            let (lo, max) = a
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            let hi = lo + (top as f32) * (max - lo);
            let r = (hi - lo).max(1e-8);
            a.par_mapv_inplace(|v| (v.clamp(lo, hi) - lo) / r + offset as f32);
        }
        Normalize::RegionMedian { low, high } => {
            let mut s: Vec<f32> = match region {
                Some(r) => a
                    .iter()
                    .zip(r.iter())
                    .filter(|(_, i)| **i)
                    .map(|(v, _)| *v)
                    .collect(),
                None => a.iter().copied().collect(),
            };
            if s.is_empty() {
                // No voxel in the region: nothing to centre on; the stage
                // sets everything outside the region anyway.
                return;
            }
            let (lo, hi) = s
                .iter()
                .fold((f32::MAX, f32::MIN), |(l, h), &v| (l.min(v), h.max(v)));
            let mid = s.len() / 2;
            let median = *s.select_nth_unstable_by(mid, |x, y| x.total_cmp(y)).1;
            let span = (median - lo).abs().max((hi - median).abs()).max(1e-8);
            let ratio = 0.5 / span;
            let (low, high) = (low as f32, high as f32);
            a.par_mapv_inplace(|v| ((v - median) * ratio).clamp(low, high));
        }
    }
}
