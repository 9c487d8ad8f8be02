//! The manifest section of a network imported from nnU-Net (`"nnunet"`):
//! what its predictor does beyond the common manifest fields, so Stratum
//! runs the network the way nnU-Net does (normalise on the scan's grid,
//! resample with its spline orders, its Gaussian sliding window, mirroring,
//! the average of the folds' logits).

use serde::{Deserialize, Serialize};

/// nnU-Net's inference settings of one network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NnUnet {
    /// The ONNX file of each fold, relative to the model folder (the first
    /// is also the manifest's `file`). Their logits are averaged, as
    /// nnU-Net's predictor averages its folds.
    pub folds: Vec<String>,
    /// Tensor axes (0 = D, 1 = H, 2 = W) the network may be mirrored along
    /// for test-time augmentation; empty when its trainer did not mirror.
    #[serde(default)]
    pub mirror_axes: Vec<usize>,
    /// Test-time mirroring on: the prediction is averaged over every
    /// combination of flips along `mirror_axes` (8 runs per window for three
    /// axes: better edges for 8 times the time).
    #[serde(default = "yes")]
    pub mirror: bool,
    /// Window step as a fraction of the patch (nnU-Net: 0.5).
    #[serde(default = "half")]
    pub tile_step: f32,
    /// How the scan is resampled onto the model grid (nnU-Net: cubic
    /// spline in plane, nearest across slices for anisotropic scans).
    pub resample_data: Resample,
    /// How the logits are resampled back onto the scan (nnU-Net: linear).
    pub resample_logits: Resample,
    /// Spacing ratio above which the through-plane axis is resampled on
    /// its own with `order_z` (nnU-Net: 3).
    #[serde(default = "three")]
    pub anisotropy_threshold: f64,
    /// nnU-Net's `force_separate_z` (None: decided by the spacing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_separate_z: Option<bool>,
    /// Z-score normalisation over the scan's non-zero region only (MR
    /// with a zeroed background), the rest left at 0.
    #[serde(default)]
    pub mask_for_norm: bool,
    /// Precision of the window sums and of the logits: "f16" as nnU-Net's
    /// predictor keeps them (its labels exactly, including its rounding
    /// where windows' Gaussian weights are tiny, at the scan's edges), or
    /// "f32".
    #[serde(default)]
    pub accumulate: Precision,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    F16,
    #[default]
    F32,
}

impl Precision {
    /// `v` rounded to this precision.
    #[inline]
    pub fn round(self, v: f32) -> f32 {
        match self {
            Precision::F16 => half::f16::from_f32(v).to_f32(),
            Precision::F32 => v,
        }
    }
}

/// Spline orders of a resampling: `order` in plane (or everywhere for an
/// isotropic grid), `order_z` across slices of an anisotropic one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resample {
    pub order: u8,
    #[serde(default)]
    pub order_z: u8,
}

fn yes() -> bool {
    true
}
fn half() -> f32 {
    0.5
}
fn three() -> f64 {
    3.0
}

impl NnUnet {
    /// Checks the values serde cannot; `at` prefixes the field names.
    pub fn validate(&self, at: &str, file: &str) -> std::result::Result<(), String> {
        if self.folds.is_empty() {
            return Err(format!("field `{at}folds` is empty"));
        }
        if self.folds[0] != file {
            return Err(format!(
                "field `{at}folds` must start with the network's `file` ({file:?})"
            ));
        }
        if let Some(f) = self
            .folds
            .iter()
            .find(|f| f.is_empty() || f.contains("..") || f.starts_with('/'))
        {
            return Err(format!(
                "field `{at}folds` entry {f:?} is not a file name inside the model folder"
            ));
        }
        if self.mirror_axes.iter().any(|&a| a > 2) {
            return Err(format!(
                "field `{at}mirror_axes` holds an axis past 2 (0 = D, 1 = H, 2 = W)"
            ));
        }
        if !(self.tile_step > 0.0 && self.tile_step <= 1.0) {
            return Err(format!("field `{at}tile_step` must lie in (0, 1]"));
        }
        if !(self.anisotropy_threshold > 1.0 && self.anisotropy_threshold.is_finite()) {
            return Err(format!(
                "field `{at}anisotropy_threshold` must be a finite number above 1"
            ));
        }
        for (name, r, orders) in [
            ("resample_data", self.resample_data, &[0u8, 1, 3][..]),
            ("resample_logits", self.resample_logits, &[0u8, 1][..]),
        ] {
            if !orders.contains(&r.order) || r.order_z > 1 {
                return Err(format!(
                    "field `{at}{name}` asks for spline order {} (across slices {}); Stratum resamples with orders {orders:?} (across slices 0 or 1)",
                    r.order, r.order_z
                ));
            }
        }
        Ok(())
    }

    /// The mirror axes in use (none when mirroring is off).
    pub fn active_mirror_axes(&self) -> &[usize] {
        if self.mirror { &self.mirror_axes } else { &[] }
    }
}
