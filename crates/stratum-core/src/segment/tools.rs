//! The segmentation tools. Each is one small type behind [`Tool`], with
//! the same hooks for every tool (the way 3D Slicer's Segment Editor
//! effects share theirs): what it makes ([`Tool::target`]: a new segment,
//! or the new voxels of the segment it reads), what it shows before it is
//! applied ([`Tool::preview`]) and its result ([`Tool::apply`] for the
//! mask, [`Tool::run`] with the surface level, colour and note a new
//! segment takes). A brush stroke is a tool too ([`Tool::stroke`]).
//! `document::tool_edits` turns any of them into the document's edits.

use ndarray::Zip;

use super::error::SegmentError;
use super::{
    Mask, component_at, dilate_mm, erode_mm, fill_holes_2d, fill_holes_3d, keep_largest,
    remove_small_islands,
};
use crate::base::error::Result;
use crate::base::progress::Progress;
use crate::edit::Brush;
use crate::image::volume::{Volume, VoxelType};
use crate::with_voxels;

/// Where a tool's result goes.
#[derive(Clone, Debug, PartialEq)]
pub enum ToolTarget {
    /// A new segment of this name (threshold, presets, region growing):
    /// the tool reads no segment.
    NewSegment(String),
    /// The voxels of the segment it reads (islands, morphology, margin,
    /// fill holes, logical operations, a brush stroke).
    Segment,
}

/// What a tool shows before it is applied.
#[derive(Clone, Debug, PartialEq)]
pub enum Preview {
    /// The voxels within an intensity window: cheap enough for the slice
    /// views to draw live as the window moves, without a job.
    Window { lo: f64, hi: f64 },
    /// The result, computed (in the background) as applying would.
    Mask(Mask),
}

/// A tool's full result.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolOutput {
    pub mask: Mask,
    /// A new segment made from the scan: its surface is built from the
    /// intensities at this level (sub-voxel), not from its voxels.
    pub level: Option<f64>,
    /// A new segment's colour, when the tool knows it (`None`: from its name).
    pub colour: Option<[u8; 3]>,
    /// What the tool found or left out, told to the user.
    pub note: Option<String>,
}

impl ToolOutput {
    pub fn mask(mask: Mask) -> Self {
        ToolOutput {
            mask,
            level: None,
            colour: None,
            note: None,
        }
    }
}

/// One segmentation effect.
pub trait Tool: Send + Sync {
    /// Short name for menus, history steps and logs.
    fn name(&self) -> String;
    /// Computes the new mask from the volume and the current mask (the
    /// segment it reads; empty for a tool that makes a new segment).
    fn apply(&self, volume: &Volume, mask: &Mask, progress: &Progress) -> Result<Mask>;
    /// A new segment (named) or the segment it reads.
    fn target(&self) -> ToolTarget {
        ToolTarget::Segment
    }
    /// [`apply`](Self::apply) with what a new segment takes besides its
    /// voxels; an empty result the tool cannot mean is an error here.
    fn run(&self, volume: &Volume, mask: &Mask, progress: &Progress) -> Result<ToolOutput> {
        Ok(ToolOutput::mask(self.apply(volume, mask, progress)?))
    }
    /// What to show before applying: by default the result itself.
    fn preview(&self, volume: &Volume, mask: &Mask, progress: &Progress) -> Result<Preview> {
        Ok(Preview::Mask(self.apply(volume, mask, progress)?))
    }
    /// A brush stroke (its brush and points, LPS mm) enters the document as
    /// its stroke edits, the same a drag sends live, so it respects the
    /// other segments and the intensity range the way a drag does.
    fn stroke(&self) -> Option<(Brush, &[[f64; 3]])> {
        None
    }
}

/// Voxels with lo <= value <= hi.
#[tracing::instrument(level = "info", skip_all)]
pub fn threshold_mask(volume: &Volume, lo: f64, hi: f64) -> Mask {
    let data = with_voxels!(&volume.voxels, a => {
        let (nz, ny, nx) = a.dim();
        let mut m = ndarray::Array3::from_shape_vec(a.dim(), crate::base::pages::zeroed::<u8>(nz * ny * nx))
            .expect("the volume's shape");
        Zip::from(&mut m).and(a).par_for_each(|m, v| {
            let v = v.to_f64();
            *m = (v >= lo && v <= hi) as u8;
        });
        m
    });
    Mask {
        data,
        geometry: volume.geometry,
    }
}

/// Threshold with an intensity window.
#[derive(Clone, Debug)]
pub struct Threshold {
    pub lo: f64,
    pub hi: f64,
}

impl Tool for Threshold {
    fn name(&self) -> String {
        format!("Threshold {}..{}", self.lo, self.hi)
    }
    fn apply(&self, volume: &Volume, _mask: &Mask, progress: &Progress) -> Result<Mask> {
        progress.begin("threshold", 1);
        let m = threshold_mask(volume, self.lo, self.hi);
        progress.advance(1);
        Ok(m)
    }
    fn target(&self) -> ToolTarget {
        ToolTarget::NewSegment(format!("Threshold {:.0}..{:.0}", self.lo, self.hi))
    }
    fn run(&self, volume: &Volume, mask: &Mask, progress: &Progress) -> Result<ToolOutput> {
        let m = self.apply(volume, mask, progress)?;
        if m.count() == 0 {
            return Err(SegmentError::EmptyWindow {
                lo: self.lo,
                hi: self.hi,
            }
            .into());
        }
        Ok(ToolOutput {
            level: Some(self.lo),
            ..ToolOutput::mask(m)
        })
    }
    fn preview(&self, _v: &Volume, _m: &Mask, _p: &Progress) -> Result<Preview> {
        Ok(Preview::Window {
            lo: self.lo,
            hi: self.hi,
        })
    }
}

/// Threshold presets: Hounsfield ranges for CT, intensity percentiles for MR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    Bone,
    SoftTissue,
    /// Air inside the body (lungs, airways, bowel gas).
    Lungs,
    /// The body's outer surface, filled.
    Skin,
    /// Contrast-enhanced vessels.
    ContrastVessels,
}

impl Preset {
    pub const ALL: [Preset; 5] = [
        Preset::Bone,
        Preset::SoftTissue,
        Preset::Lungs,
        Preset::Skin,
        Preset::ContrastVessels,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Preset::Bone => "Bone",
            Preset::SoftTissue => "Soft tissue",
            Preset::Lungs => "Lungs",
            Preset::Skin => "Skin",
            Preset::ContrastVessels => "Contrast vessels",
        }
    }

    pub fn parse(s: &str) -> Option<Preset> {
        match s.to_ascii_lowercase().replace(['-', '_', ' '], "").as_str() {
            "bone" => Some(Preset::Bone),
            "softtissue" | "soft" => Some(Preset::SoftTissue),
            "lungs" | "lung" | "air" => Some(Preset::Lungs),
            "skin" | "body" => Some(Preset::Skin),
            "vessels" | "contrastvessels" | "contrast" => Some(Preset::ContrastVessels),
            _ => None,
        }
    }

    /// The intensity window on this volume: HU for CT, percentiles otherwise.
    pub fn window(self, volume: &Volume) -> (f64, f64) {
        if volume.is_ct() {
            match self {
                Preset::Bone => (250.0, 3071.0),
                Preset::SoftTissue => (-100.0, 200.0),
                Preset::Lungs => (-1000.0, -400.0),
                Preset::Skin => (-300.0, 3071.0),
                Preset::ContrastVessels => (150.0, 500.0),
            }
        } else {
            let h = histogram(volume, 1024);
            let p = |q: f64| h.percentile(q);
            match self {
                Preset::Bone | Preset::ContrastVessels => (p(0.97), p(1.0)),
                Preset::SoftTissue => (p(0.60), p(0.97)),
                Preset::Lungs => (p(0.0), p(0.15)),
                Preset::Skin => (p(0.30), p(1.0)),
            }
        }
    }
}

/// A preset, with the clean-up each one needs (lungs: only air inside the
/// body; skin: the filled body surface; bone: at the level found from the
/// scan, without islands outside the body), see [`super::preset_segment`].
#[derive(Clone, Debug)]
pub struct PresetThreshold(pub Preset);

impl Tool for PresetThreshold {
    fn name(&self) -> String {
        self.0.name().to_string()
    }
    fn apply(&self, volume: &Volume, mask: &Mask, progress: &Progress) -> Result<Mask> {
        PresetTool::new(self.0).apply(volume, mask, progress)
    }
    fn target(&self) -> ToolTarget {
        PresetTool::new(self.0).target()
    }
    fn run(&self, volume: &Volume, mask: &Mask, progress: &Progress) -> Result<ToolOutput> {
        PresetTool::new(self.0).run(volume, mask, progress)
    }
}

/// A preset at a window of the user's (its level set by hand) or at its
/// own (`window: None`, with the level it finds): a new segment named and
/// coloured after the preset, with the preset's clean-up.
#[derive(Clone, Debug)]
pub struct PresetTool {
    pub preset: Preset,
    pub window: Option<(f64, f64)>,
}

impl PresetTool {
    pub fn new(preset: Preset) -> Self {
        PresetTool {
            preset,
            window: None,
        }
    }
}

impl Tool for PresetTool {
    fn name(&self) -> String {
        self.preset.name().to_string()
    }
    fn apply(&self, volume: &Volume, _mask: &Mask, progress: &Progress) -> Result<Mask> {
        Ok(super::preset_segment(volume, self.preset, self.window, progress)?.mask)
    }
    fn target(&self) -> ToolTarget {
        ToolTarget::NewSegment(self.preset.name().to_string())
    }
    fn run(&self, volume: &Volume, _mask: &Mask, progress: &Progress) -> Result<ToolOutput> {
        let seg = super::preset_segment(volume, self.preset, self.window, progress)?;
        let found = seg
            .found_level
            .map(|l| format!("level {l:.0} found half-way between the tissues at its edge"));
        let note = match (found, seg.note) {
            (Some(a), Some(n)) => Some(format!("{a}; {n}")),
            (a, n) => a.or(n),
        };
        Ok(ToolOutput {
            mask: seg.mask,
            level: Some(seg.lo),
            colour: Some(self.preset.colour()),
            note,
        })
    }
    /// The window it segments: the preset's clean-up shows when applied.
    fn preview(&self, volume: &Volume, _m: &Mask, _p: &Progress) -> Result<Preview> {
        let (lo, hi) = self.window.unwrap_or_else(|| self.preset.window(volume));
        Ok(Preview::Window { lo, hi })
    }
}

/// Region growing: the 6-connected voxels within [lo, hi] reachable from a seed.
#[derive(Clone, Debug)]
pub struct RegionGrow {
    /// (z, y, x)
    pub seed: (usize, usize, usize),
    pub lo: f64,
    pub hi: f64,
}

impl Tool for RegionGrow {
    fn name(&self) -> String {
        "Region grow".into()
    }
    fn apply(&self, volume: &Volume, _mask: &Mask, progress: &Progress) -> Result<Mask> {
        progress.begin("region growing", 1);
        let (z, y, x) = self.seed;
        let v = volume
            .voxels
            .get(z, y, x)
            .ok_or(SegmentError::SeedOutside)?;
        if v < self.lo || v > self.hi {
            return Err(SegmentError::SeedOutsideRange {
                value: v,
                lo: self.lo,
                hi: self.hi,
            }
            .into());
        }
        let m = component_at(&threshold_mask(volume, self.lo, self.hi), self.seed);
        progress.advance(1);
        Ok(m)
    }
    fn target(&self) -> ToolTarget {
        ToolTarget::NewSegment(format!("Region {:.0}..{:.0}", self.lo, self.hi))
    }
    fn run(&self, volume: &Volume, mask: &Mask, progress: &Progress) -> Result<ToolOutput> {
        Ok(ToolOutput {
            level: Some(self.lo),
            ..ToolOutput::mask(self.apply(volume, mask, progress)?)
        })
    }
}

/// Keeps the largest island.
pub struct KeepLargest;
impl Tool for KeepLargest {
    fn name(&self) -> String {
        "Keep largest island".into()
    }
    fn apply(&self, _v: &Volume, mask: &Mask, _p: &Progress) -> Result<Mask> {
        Ok(keep_largest(mask))
    }
}

/// Keeps the island that holds a voxel (z, y, x). A point outside the
/// segment is refused rather than emptying it.
pub struct KeepIslandAt(pub (usize, usize, usize));
impl Tool for KeepIslandAt {
    fn name(&self) -> String {
        "Keep selected island".into()
    }
    fn apply(&self, _v: &Volume, mask: &Mask, _p: &Progress) -> Result<Mask> {
        if mask.data.get(self.0).is_none_or(|v| *v == 0) {
            return Err(SegmentError::NotInSegment.into());
        }
        Ok(component_at(mask, self.0))
    }
}

/// Removes islands smaller than a volume.
pub struct RemoveSmallIslands {
    pub min_mm3: f64,
}
impl Tool for RemoveSmallIslands {
    fn name(&self) -> String {
        format!("Remove islands under {} mm³", self.min_mm3)
    }
    fn apply(&self, _v: &Volume, mask: &Mask, _p: &Progress) -> Result<Mask> {
        Ok(remove_small_islands(mask, self.min_mm3))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MorphOp {
    Dilate,
    Erode,
    /// Erode then dilate: removes thin protrusions.
    Open,
    /// Dilate then erode: closes small gaps.
    Close,
}

/// Morphology with a ball of radius given in mm.
pub struct Morphology {
    pub op: MorphOp,
    pub radius_mm: f64,
}
impl Tool for Morphology {
    fn name(&self) -> String {
        format!("{:?} {} mm", self.op, self.radius_mm)
    }
    fn apply(&self, _v: &Volume, mask: &Mask, progress: &Progress) -> Result<Mask> {
        progress.begin("morphology", 2);
        let r = self.radius_mm;
        let out = match self.op {
            MorphOp::Dilate => dilate_mm(mask, r),
            MorphOp::Erode => erode_mm(mask, r),
            MorphOp::Open => {
                let e = erode_mm(mask, r);
                progress.advance(1);
                progress.check()?;
                dilate_mm(&e, r)
            }
            MorphOp::Close => {
                let d = dilate_mm(mask, r);
                progress.advance(1);
                progress.check()?;
                erode_mm(&d, r)
            }
        };
        progress.set_done(2);
        Ok(out)
    }
}

/// Grows (positive) or shrinks (negative) the mask by a margin in mm.
pub struct Margin {
    pub mm: f64,
}
impl Tool for Margin {
    fn name(&self) -> String {
        format!("Margin {:+} mm", self.mm)
    }
    fn apply(&self, _v: &Volume, mask: &Mask, progress: &Progress) -> Result<Mask> {
        progress.begin("margin", 1);
        let out = if self.mm >= 0.0 {
            dilate_mm(mask, self.mm)
        } else {
            erode_mm(mask, -self.mm)
        };
        progress.advance(1);
        Ok(out)
    }
}

/// Fills holes, in 3D or slice by slice.
pub struct FillHoles {
    pub per_slice: bool,
}
impl Tool for FillHoles {
    fn name(&self) -> String {
        if self.per_slice {
            "Fill holes (per slice)".into()
        } else {
            "Fill holes".into()
        }
    }
    fn apply(&self, _v: &Volume, mask: &Mask, progress: &Progress) -> Result<Mask> {
        progress.begin("filling holes", 1);
        let out = if self.per_slice {
            fill_holes_2d(mask)
        } else {
            fill_holes_3d(mask)
        };
        progress.advance(1);
        Ok(out)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogicOp {
    Union,
    Intersect,
    Subtract,
}

/// Combines the current mask with another segment's mask.
pub struct Logical {
    pub op: LogicOp,
    pub other: Mask,
}
impl Tool for Logical {
    fn name(&self) -> String {
        format!("{:?}", self.op)
    }
    fn apply(&self, _v: &Volume, mask: &Mask, _p: &Progress) -> Result<Mask> {
        if self.other.dim() != mask.dim() {
            return Err(SegmentError::GridsDiffer.into());
        }
        let mut out = mask.clone();
        Zip::from(&mut out.data)
            .and(&self.other.data)
            .par_for_each(|o, b| {
                *o = match self.op {
                    LogicOp::Union => (*o | *b) & 1,
                    LogicOp::Intersect => *o & *b,
                    LogicOp::Subtract => *o & (1 - (*b & 1)),
                }
            });
        Ok(out)
    }
}

/// Slicer's masking setting ("editable area"): `tool` changes voxels only
/// inside (or only outside) `area`, another segment's mask; elsewhere the
/// segment stays as it was (a new segment stays empty there).
pub struct MaskBy {
    pub tool: Box<dyn Tool>,
    pub area: Mask,
    pub inside: bool,
}
impl MaskBy {
    /// `result` where the area lets the tool change voxels, `before` elsewhere.
    fn restrict(&self, before: &Mask, mut result: Mask) -> Result<Mask> {
        if self.area.dim() != before.dim() || result.dim() != before.dim() {
            return Err(SegmentError::GridsDiffer.into());
        }
        let inside = self.inside as u8;
        Zip::from(&mut result.data)
            .and(&before.data)
            .and(&self.area.data)
            .par_for_each(|r, b, a| {
                if (*a != 0) as u8 != inside {
                    *r = *b;
                }
            });
        Ok(result)
    }
}
impl Tool for MaskBy {
    fn name(&self) -> String {
        let side = if self.inside { "inside" } else { "outside" };
        format!("{} ({side} a segment only)", self.tool.name())
    }
    fn target(&self) -> ToolTarget {
        self.tool.target()
    }
    fn apply(&self, v: &Volume, mask: &Mask, p: &Progress) -> Result<Mask> {
        self.restrict(mask, self.tool.apply(v, mask, p)?)
    }
    fn run(&self, v: &Volume, mask: &Mask, p: &Progress) -> Result<ToolOutput> {
        let out = self.tool.run(v, mask, p)?;
        Ok(ToolOutput {
            mask: self.restrict(mask, out.mask)?,
            ..out
        })
    }
    fn preview(&self, v: &Volume, mask: &Mask, p: &Progress) -> Result<Preview> {
        let shown = match self.tool.preview(v, mask, p)? {
            Preview::Mask(m) => m,
            Preview::Window { lo, hi } => threshold_mask(v, lo, hi),
        };
        Ok(Preview::Mask(self.restrict(mask, shown)?))
    }
}

/// Intensity histogram for the threshold UI.
#[derive(Clone, Debug)]
pub struct Histogram {
    pub lo: f64,
    pub hi: f64,
    pub counts: Vec<u64>,
}

impl Histogram {
    pub fn bin_width(&self) -> f64 {
        (self.hi - self.lo) / self.counts.len().max(1) as f64
    }

    /// The value below which a fraction `q` of voxels lies.
    pub fn percentile(&self, q: f64) -> f64 {
        let total: u64 = self.counts.iter().sum();
        let target = (q.clamp(0.0, 1.0) * total as f64) as u64;
        let mut acc = 0;
        for (i, c) in self.counts.iter().enumerate() {
            acc += c;
            if acc >= target && *c > 0 {
                return self.lo + (i as f64 + 1.0) * self.bin_width();
            }
        }
        self.hi
    }
}

/// A histogram with `bins` bins over the volume's range.
#[tracing::instrument(level = "info", skip_all)]
pub fn histogram(volume: &Volume, bins: usize) -> Histogram {
    use rayon::prelude::*;
    let bins = bins.max(1);
    let (lo, hi) = volume.voxels.min_max();
    let width = ((hi - lo) / bins as f64).max(f64::MIN_POSITIVE);
    let counts = with_voxels!(&volume.voxels, a => {
        a.as_slice_memory_order().expect("contiguous").par_chunks(1 << 16).map(|c| {
            let mut h = vec![0u64; bins];
            for v in c {
                let v = v.to_f64();
                if v.is_finite() {
                    h[(((v - lo) / width) as usize).min(bins - 1)] += 1;
                }
            }
            h
        }).reduce(|| vec![0u64; bins], |mut a, b| { a.iter_mut().zip(b).for_each(|(x, y)| *x += y); a })
    });
    Histogram { lo, hi, counts }
}
