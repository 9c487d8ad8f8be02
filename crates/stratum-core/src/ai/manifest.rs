//! A model's manifest (`models/<name>/manifest.json`): what the network
//! expects and what its outputs mean. Every field is checked when the model
//! is listed, and again against the ONNX file when a session opens, so a bad
//! manifest is an error that names the field, never a wrong segmentation.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use super::nnunet::spec::NnUnet;
pub use super::normalize::Normalize;
use crate::base::error::{CoreError, Result};

/// The manifest's name inside a model folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Everything Stratum needs to run a segmentation network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Short name, used on the command line (`--model NAME`).
    pub name: String,
    /// One line for the model picker.
    pub title: String,
    /// DICOM modality the model was trained on ("CT", "MR").
    pub modality: String,
    /// What it segments ("brain", "abdominal organs", ...).
    pub anatomy: String,
    /// Licence of the weights (SPDX identifier where there is one).
    pub licence: String,
    /// Where the weights come from and how they were converted.
    pub source: String,
    /// The ONNX file, relative to the model folder.
    #[serde(default = "default_file")]
    pub file: String,
    pub input: InputSpec,
    pub output: OutputSpec,
    #[serde(default)]
    pub postprocess: PostProcess,
    /// Networks that run after this one, each inside a box or mask that an
    /// earlier one found (deepbet: box finder, then brain; liver, then
    /// lesions inside the liver). Empty for a one-network model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<Stage>,
    /// Present for a network imported from nnU-Net: run as nnU-Net's own
    /// predictor does (its preprocessing, sliding window, mirroring, folds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nnunet: Option<NnUnet>,
}

/// A later network of a multi-stage model: its own ONNX file, input, output
/// and post-processing, run on the part of the scan `region` names, or on
/// the whole scan when it names none (the parts of a TotalSegmentator task,
/// merged into one label map, a later part's labels painted over earlier ones).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    pub input: InputSpec,
    pub output: OutputSpec,
    #[serde(default)]
    pub postprocess: PostProcess,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nnunet: Option<NnUnet>,
}

/// Where a later stage runs: inside the bounding box or the mask of a label
/// an earlier stage produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// Name of a label of an earlier stage.
    pub label: String,
    pub kind: RegionKind,
    /// Box: grown by this fraction of its size on each side (deepbet 0.1).
    #[serde(default)]
    pub margin: f64,
    /// Mask: grown by this many mm before use (the network sees the edge).
    #[serde(default)]
    pub dilate_mm: f64,
    /// Mask: the value the network sees outside the (grown) mask, after
    /// normalisation (pyliverlesionseg: -0.5). None leaves the scan as is.
    #[serde(default)]
    pub outside: Option<f32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionKind {
    /// The label's bounding box: the scan is cropped to it.
    Box,
    /// The label's mask: cropped to its box, voxels outside set to
    /// `outside`, and the result kept inside the mask.
    Mask,
}

fn default_file() -> String {
    "model.onnx".into()
}

/// The network's input tensor and the grid the volume is resampled onto.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    /// Input name in the ONNX graph; the first input when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Tensor layout: "NCDHW" (PyTorch, MONAI, nnU-Net) or "NDHWC" (TensorFlow).
    pub layout: Layout,
    /// Input channels (image sequences); Stratum feeds one volume, so 1.
    #[serde(default = "one_channel")]
    pub channels: usize,
    /// Patient direction of increasing index along the tensor's spatial axes
    /// D, H, W, as letters (R/L, A/P, S/I): "RAS" is nibabel's canonical
    /// array order, "LPS" DICOM's.
    pub orientation: String,
    /// The model grid: a fixed shape the whole scan is resized to, or a voxel
    /// spacing in mm (D, H, W order).
    pub grid: GridSpec,
    /// Patch size (D, H, W) of the sliding window.
    pub patch: [usize; 3],
    /// Fraction of a patch shared with its neighbour (0 <= overlap < 1).
    #[serde(default)]
    pub overlap: f32,
    pub normalize: Normalize,
    /// Normalisation for scans of another modality, by DICOM modality
    /// (pyliverlesionseg windows MR by its range: `{"MR": {"kind":
    /// "range", ...}}`); `normalize` applies to every other scan.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub normalize_for: BTreeMap<String, Normalize>,
    /// How the scan is sampled onto the grid: "linear" (with anti-aliasing,
    /// scikit-image's `resize`) or "nearest" (PyTorch's `nearest-exact`).
    #[serde(default)]
    pub interpolation: Interpolation,
    /// Steps before the model grid: resample to an isotropic spacing and
    /// median-filter there (pyliverlesionseg: 1.5 mm, median 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefilter: Option<Prefilter>,
    /// Crop the scan to the patient's body before anything else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<Crop>,
    /// Value a patch holds past the edge of the grid (after normalisation).
    #[serde(default)]
    pub pad_value: f32,
    /// Past the grid's ends along the patient's head-foot axis (S/I of
    /// `orientation`): "constant" (`pad_value`, the default) or "edge" (the
    /// first and last slice repeated, as the anatomy of a slab goes on past
    /// it; `pad_value` still fills around the body in-plane).
    #[serde(default, skip_serializing_if = "PadZ::is_constant")]
    pub pad_z: PadZ,
}

impl InputSpec {
    /// The normalisation for a scan of `modality`.
    pub fn normalize_for_modality(&self, modality: &str) -> &Normalize {
        self.normalize_for
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(modality))
            .map_or(&self.normalize, |(_, n)| n)
    }
}

/// How a window is filled past the grid's ends along z (field `pad_z`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum PadZ {
    #[default]
    Constant,
    Edge,
}

impl PadZ {
    fn is_constant(&self) -> bool {
        *self == PadZ::Constant
    }
}

impl TryFrom<String> for PadZ {
    type Error = String;
    fn try_from(s: String) -> std::result::Result<Self, String> {
        match s.as_str() {
            "constant" => Ok(PadZ::Constant),
            "edge" => Ok(PadZ::Edge),
            _ => Err(format!(
                "field `pad_z` is {s:?}; it must be \"constant\" (pad with `pad_value`) or \"edge\" (repeat the first and last slice)"
            )),
        }
    }
}

impl From<PadZ> for String {
    fn from(p: PadZ) -> String {
        match p {
            PadZ::Constant => "constant".into(),
            PadZ::Edge => "edge".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interpolation {
    #[default]
    Linear,
    Nearest,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prefilter {
    /// Isotropic voxel size (mm) of the intermediate grid.
    pub spacing: f64,
    /// Edge of the cubic median window in voxels (odd, at least 1; 1 = none).
    #[serde(default = "one_channel")]
    pub median: usize,
}

/// Crop-to-body: the bounding box of the largest connected region brighter
/// than `threshold` (CT: -150 HU separates the body from air and the table
/// foam), grown by `margin_mm`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crop {
    pub threshold: f64,
    #[serde(default)]
    pub margin_mm: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    NCDHW,
    NDHWC,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum GridSpec {
    /// Resize the scan's field of view to this many voxels (D, H, W).
    Shape([usize; 3]),
    /// Resample to this voxel size in mm (D, H, W).
    Spacing([f64; 3]),
}

fn one_channel() -> usize {
    1
}

/// What the output channels hold and how they become labels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Output name in the ONNX graph; the first output when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Applied to each patch's output before stitching.
    #[serde(default)]
    pub activation: Activation,
    /// True when channel 0 is the background class (softmax networks): the
    /// label is the argmax over all channels. False when every channel is one
    /// label's probability: the label is the most probable channel whose
    /// probability reaches `threshold`.
    #[serde(default)]
    pub background_channel: bool,
    #[serde(default = "half")]
    pub threshold: f32,
    /// One entry per foreground channel, in channel order.
    pub labels: Vec<LabelSpec>,
    /// Spatial size of the network's output when smaller than its input
    /// (U-Nets with valid convolutions or shrinking upsampling): the output
    /// covers the centre of the input patch. The input patch size when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<[usize; 3]>,
    /// False for a helper stage whose labels only drive a later stage (a
    /// box finder): they do not become segments.
    #[serde(default = "yes")]
    pub keep: bool,
}

fn yes() -> bool {
    true
}

fn half() -> f32 {
    0.5
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// The network already outputs probabilities.
    #[default]
    None,
    Sigmoid,
    Softmax,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabelSpec {
    pub name: String,
    /// sRGB 0..=255; a colour that reads as the anatomy when absent.
    #[serde(default)]
    pub colour: Option<[u8; 3]>,
    /// Surface opacity in the app (0..=1), opaque when absent: an organ
    /// drawn translucent shows what another stage found inside it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opacity: Option<f32>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostProcess {
    /// Keep each label's largest connected component.
    #[serde(default)]
    pub largest_component: bool,
    /// Fill enclosed holes in each label (3D).
    #[serde(default)]
    pub fill_holes: bool,
}

impl Manifest {
    /// Reads and checks `dir/manifest.json`.
    pub fn load(dir: &Path) -> Result<Manifest> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| CoreError::io(&path, e))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| CoreError::BadManifest {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        m.validate().map_err(|reason| CoreError::BadManifest {
            path: path.clone(),
            reason,
        })?;
        Ok(m)
    }

    /// Checks values serde cannot: names the field that is wrong.
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.name.trim().is_empty() {
            return Err("field `name` is empty".into());
        }
        if self.file.is_empty() {
            return Err("field `file` is empty".into());
        }
        validate_stage(&self.input, &self.output, "")?;
        if let Some(n) = &self.nnunet {
            n.validate("nnunet.", &self.file)?;
        }
        let mut known: Vec<&str> = self.output.labels.iter().map(|l| l.name.as_str()).collect();
        for (i, s) in self.stages.iter().enumerate() {
            let at = format!("stages[{i}].");
            if s.file.is_empty() {
                return Err(format!("field `{at}file` is empty"));
            }
            validate_stage(&s.input, &s.output, &at)?;
            if let Some(n) = &s.nnunet {
                n.validate(&format!("{at}nnunet."), &s.file)?;
            }
            let Some(r) = &s.region else {
                known.extend(s.output.labels.iter().map(|l| l.name.as_str()));
                continue;
            };
            if !known.contains(&r.label.as_str()) {
                return Err(format!(
                    "field `{at}region.label` is {:?}, which no earlier stage produces (they produce {known:?})",
                    r.label
                ));
            }
            if !(0.0..=2.0).contains(&r.margin) {
                return Err(format!(
                    "field `{at}region.margin` is {}; it must lie in 0..2 (a fraction of the box)",
                    r.margin
                ));
            }
            if !(0.0..=50.0).contains(&r.dilate_mm) {
                return Err(format!(
                    "field `{at}region.dilate_mm` is {}; it must lie in 0..50 mm",
                    r.dilate_mm
                ));
            }
            if r.kind == RegionKind::Box && (r.outside.is_some() || r.dilate_mm > 0.0) {
                return Err(format!(
                    "fields `{at}region.outside` and `dilate_mm` apply to kind \"mask\" only"
                ));
            }
            known.extend(s.output.labels.iter().map(|l| l.name.as_str()));
        }
        Ok(())
    }

    /// The labels that become segments (every stage's, helper stages'
    /// left out), in stage order.
    pub fn segment_labels(&self) -> Vec<&LabelSpec> {
        let first = self.output.keep.then_some(&self.output.labels);
        first
            .into_iter()
            .chain(
                self.stages
                    .iter()
                    .filter(|s| s.output.keep)
                    .map(|s| &s.output.labels),
            )
            .flatten()
            .collect()
    }

    /// Output channels the network must produce.
    pub fn channels(&self) -> usize {
        self.output.labels.len() + usize::from(self.output.background_channel)
    }

    /// The first network as a one-network manifest, then each later stage
    /// as one (name, title, modality and file taken over), for code that
    /// runs one network at a time.
    pub fn networks(&self) -> Vec<Manifest> {
        let first = Manifest {
            stages: Vec::new(),
            ..self.clone()
        };
        let mut out = vec![first];
        for s in &self.stages {
            out.push(Manifest {
                file: s.file.clone(),
                input: s.input.clone(),
                output: s.output.clone(),
                postprocess: s.postprocess.clone(),
                stages: Vec::new(),
                nnunet: s.nnunet.clone(),
                ..self.clone()
            });
        }
        out
    }
}

/// Checks one network's input and output; `at` prefixes field names
/// ("stages[0].") so the error names the field exactly.
fn validate_stage(
    input: &InputSpec,
    output: &OutputSpec,
    at: &str,
) -> std::result::Result<(), String> {
    if orientation_axes(&input.orientation).is_none() {
        return Err(format!(
            "field `{at}input.orientation` is {:?}; it needs one letter of R/L, one of A/P and one of S/I, e.g. \"RAS\"",
            input.orientation
        ));
    }
    if input.channels != 1 {
        return Err(format!(
            "field `{at}input.channels` is {}; Stratum feeds the model one volume (one channel) — models that need several sequences at once are not supported yet",
            input.channels
        ));
    }
    if input.patch.contains(&0) {
        return Err(format!("field `{at}input.patch` has a zero size"));
    }
    match &input.grid {
        GridSpec::Shape(s) if s.contains(&0) => {
            return Err(format!("field `{at}input.grid.shape` has a zero size"));
        }
        GridSpec::Spacing(s) if s.iter().any(|v| !(*v > 0.0 && v.is_finite())) => {
            return Err(format!(
                "field `{at}input.grid.spacing` needs three positive sizes in mm"
            ));
        }
        _ => {}
    }
    input.normalize.validate(&format!("{at}input.normalize"))?;
    for (modality, n) in &input.normalize_for {
        n.validate(&format!("{at}input.normalize_for.{modality}"))?;
    }
    if !(0.0..0.95).contains(&input.overlap) {
        return Err(format!(
            "field `{at}input.overlap` is {}; it must be at least 0 and below 0.95",
            input.overlap
        ));
    }
    if let Some(l) = output
        .labels
        .iter()
        .find(|l| l.opacity.is_some_and(|o| !(0.0..=1.0).contains(&o)))
    {
        return Err(format!(
            "field `{at}output.labels` entry {:?}: `opacity` must lie in 0..1",
            l.name
        ));
    }
    if output.labels.is_empty() {
        return Err(format!("field `{at}output.labels` is empty"));
    }
    if !(0.0..=1.0).contains(&output.threshold) {
        return Err(format!("field `{at}output.threshold` must lie in 0..1"));
    }
    if let Some(q) = output.patch
        && (q.contains(&0) || (0..3).any(|k| q[k] > input.patch[k]))
    {
        return Err(format!(
            "field `{at}output.patch` is {q:?}; it must be non-zero and no larger than `input.patch` {:?}",
            input.patch
        ));
    }
    if let Some(pf) = &input.prefilter
        && (!(pf.spacing > 0.0 && pf.spacing.is_finite()) || pf.median == 0 || pf.median % 2 == 0)
    {
        return Err(format!(
            "field `{at}input.prefilter` needs a positive `spacing` (mm) and an odd `median` window (1, 3, 5...)"
        ));
    }
    Ok(())
}

/// For each tensor axis (D, H, W): the LPS unit direction of increasing index.
pub fn orientation_axes(code: &str) -> Option<[[f64; 3]; 3]> {
    let chars: Vec<char> = code
        .trim()
        .chars()
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if chars.len() != 3 {
        return None;
    }
    let mut out = [[0.0; 3]; 3];
    let mut seen = [false; 3];
    for (i, c) in chars.iter().enumerate() {
        let (axis, sign) = match c {
            'L' => (0, 1.0),
            'R' => (0, -1.0),
            'P' => (1, 1.0),
            'A' => (1, -1.0),
            'S' => (2, 1.0),
            'I' => (2, -1.0),
            _ => return None,
        };
        if seen[axis] {
            return None;
        }
        seen[axis] = true;
        out[i][axis] = sign;
    }
    Some(out)
}
