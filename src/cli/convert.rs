//! `stratum convert`: its options (segment source, smoothing, reduction,
//! texture, report) and the run that prints each segment's figures and
//! writes the validation report.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{MotionArgs, SubsetArgs, with_progress};

#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// DICOM folder or file, or a .nii/.nii.gz file
    pub input: PathBuf,
    /// Output file: .stl (binary, for printing), .3mf (coloured objects, for
    /// multi-colour printing), .obj (+ .mtl + .png) or .glb (glTF: metres, +Y up);
    /// for the PACS: .seg.dcm (DICOM SEG), .stl.dcm or .obj.dcm (Encapsulated
    /// STL, OBJ + MTL), in the scan's study
    #[arg(short, long)]
    pub output: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Check every mesh against the scan's segment and write the report
    /// (JSON): Dice, surface distances, volume difference, watertightness,
    /// the smoothing and reduction used, and what failed
    #[arg(long, value_name = "JSON")]
    report: Option<PathBuf>,
}

/// How a scan becomes models: the options `convert` and `batch` share.
#[derive(clap::Args, Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ModelArgs {
    /// Threshold preset: bone, soft-tissue, lungs, skin, vessels
    #[arg(long, conflicts_with_all = ["threshold", "labels"])]
    pub preset: Option<String>,
    /// Intensity window LO:HI (Hounsfield units for CT)
    #[arg(long, value_parser = parse_window, conflicts_with = "labels")]
    pub threshold: Option<(f64, f64)>,
    /// Label map (NIfTI or DICOM SEG), one mesh per label
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Names of the labels: a TSV of id<TAB>name (e.g. TotalSegmentator's)
    #[arg(long, requires = "labels")]
    pub names: Option<PathBuf>,
    /// Smoothing passes (Taubin, volume-preserving); 0 keeps the raw surface
    #[arg(long, default_value_t = 10)]
    pub smooth: usize,
    /// Fraction of triangles to remove (0.9 keeps 10%)
    #[arg(long, default_value_t = 0.0)]
    pub reduce: f64,
    /// Keep only the largest island of each segment
    #[arg(long)]
    pub largest: bool,
    /// With .stl: one file per segment (OUT_<segment>.stl) instead of one merged file
    #[arg(long)]
    pub split: bool,
    /// Series to use when the folder holds several (default: the largest)
    #[arg(long)]
    pub series: Option<String>,
    #[command(flatten)]
    #[serde(with = "subset_serde")]
    pub subset: SubsetArgs,
    #[command(flatten)]
    #[serde(default)]
    pub motion: MotionArgs,
    /// Segment with an AI model (`stratum models` lists them), one mesh per label
    #[arg(long, conflicts_with_all = ["preset", "threshold", "labels"])]
    pub model: Option<String>,
    /// With .obj or .glb: flat segment colours instead of the scan texture
    #[arg(long)]
    pub flat: bool,
    /// The scan texture's intensity window LO:HI (default: soft tissue,
    /// -160:240 HU, for CT; the 1st to 99th percentile otherwise)
    #[arg(long, value_parser = parse_window, value_name = "LO:HI", conflicts_with = "flat")]
    pub texture_window: Option<(f64, f64)>,
    /// With the scan texture: also bake ambient occlusion into it (folds and
    /// the gaps between organs darker)
    #[arg(long, conflicts_with = "flat")]
    pub ao: bool,
    /// With .obj or .glb: colour segment A by its distance to segment B (the
    /// margin map: red under 5 mm, yellow under 10 mm), by name: A,B
    #[arg(long, value_name = "A,B")]
    #[serde(default)]
    pub margin: Option<String>,
    /// The margin map's thresholds in mm: red under the first, yellow
    /// under the second
    #[arg(
        long,
        value_name = "NEAR,FAR",
        default_value = "5,10",
        requires = "margin"
    )]
    #[serde(default = "default_margin_mm")]
    pub margin_mm: String,
}

fn default_margin_mm() -> String {
    "5,10".into()
}

/// `--margin A,B` with `--margin-mm NEAR,FAR` as the core takes them.
pub(super) fn margin_request(
    pair: Option<&str>,
    mm: &str,
) -> anyhow::Result<Option<stratum_core::convert::MarginRequest>> {
    let Some(pair) = pair else {
        return Ok(None);
    };
    let (a, b) = pair
        .split_once(',')
        .ok_or_else(|| anyhow::anyhow!("--margin takes two segments: A,B"))?;
    let t: Vec<f32> = mm
        .split(',')
        .map(|s| s.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .map_err(|_| anyhow::anyhow!("--margin-mm takes two distances in mm: NEAR,FAR"))?;
    let [near, far] = t[..] else {
        anyhow::bail!("--margin-mm takes two distances in mm: NEAR,FAR");
    };
    if !(near > 0.0 && near <= far && far.is_finite()) {
        anyhow::bail!(
            "--margin-mm {mm}: give two positive distances, the first not above the second (e.g. 5,10)"
        );
    }
    Ok(Some(stratum_core::convert::MarginRequest {
        thresholds_mm: [near, far],
        ..stratum_core::convert::MarginRequest::new(a, b)
    }))
}

impl ModelArgs {
    /// The core's options for these arguments (no validation report: the
    /// caller turns it on).
    pub fn options(&self) -> anyhow::Result<stratum_core::convert::ConvertOptions> {
        let source = match (&self.preset, self.threshold, &self.labels) {
            _ if self.model.is_some() => stratum_core::convert::SegmentSource::Model {
                name: self.model.clone().unwrap_or_default(),
            },
            (_, _, Some(path)) => stratum_core::convert::SegmentSource::Labels {
                path: path.clone(),
                names: self.names.clone(),
            },
            (_, Some((lo, hi)), _) => stratum_core::convert::SegmentSource::Threshold(lo, hi),
            (Some(p), _, _) => stratum_core::convert::SegmentSource::Preset(
                stratum_core::segment::Preset::parse(p).ok_or_else(|| {
                    anyhow::anyhow!(
                        "unknown preset {p:?}: use bone, soft-tissue, lungs, skin or vessels"
                    )
                })?,
            ),
            (None, None, None) => {
                stratum_core::convert::SegmentSource::Preset(stratum_core::segment::Preset::Bone)
            }
        };
        if !(0.0..1.0).contains(&self.reduce) {
            anyhow::bail!("--reduce takes a fraction from 0 (keep all) to below 1 (0.9 keeps 10%)");
        }
        let mut opts = stratum_core::convert::ConvertOptions {
            source,
            largest: self.largest,
            smooth_iterations: self.smooth,
            reduce: self.reduce,
            split: self.split,
            validate: false,
            scan_texture: !self.flat,
            texture_window: self.texture_window,
            ambient_occlusion: self.ao,
            margin: margin_request(self.margin.as_deref(), &self.margin_mm)?,
            ..Default::default()
        };
        opts.open.series = self.series.clone();
        opts.open.subset = self.subset.subset();
        opts.open.realign = self.motion.realign();
        Ok(opts)
    }
}

/// `SubsetArgs` (shared by every subcommand) as a plain pair in a batch's
/// saved options.
mod subset_serde {
    use super::SubsetArgs;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(a: &SubsetArgs, s: S) -> Result<S::Ok, S::Error> {
        (a.slices, a.downsample).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<SubsetArgs, D::Error> {
        let (slices, downsample) = <(Option<(usize, usize)>, Option<u32>)>::deserialize(d)?;
        Ok(SubsetArgs { slices, downsample })
    }
}

pub(super) fn convert_cmd(a: ConvertArgs) -> anyhow::Result<ExitCode> {
    // The scan's stages free large buffers one after another: they go back
    // to the system at once, so the peak is the largest stage, not a sum.
    stratum_core::base::memory::return_large_frees();
    let mut opts = a.model.options()?;
    opts.validate = a.report.is_some();
    convert(a.input, a.output, opts, a.report)
}

pub(super) fn parse_window(s: &str) -> Result<(f64, f64), String> {
    let (a, b) = s.split_once(':').ok_or("expected LO:HI, e.g. 300:3000")?;
    let lo: f64 = a
        .trim()
        .parse()
        .map_err(|_| format!("{a:?} is not a number"))?;
    let hi: f64 = b
        .trim()
        .parse()
        .map_err(|_| format!("{b:?} is not a number"))?;
    if lo > hi {
        return Err(format!("LO ({lo}) must not exceed HI ({hi})"));
    }
    Ok((lo, hi))
}

fn convert(
    input: PathBuf,
    output: PathBuf,
    opts: stratum_core::convert::ConvertOptions,
    report: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let (results, files) = with_progress(false, |p| {
        stratum_core::convert::convert(&input, &output, &opts, p)
    })?;
    println!(
        "{:<28} {:>12} {:>12} {:>12} {:>10}  closed",
        "segment", "voxels mL", "mesh mL", "area cm²", "triangles"
    );
    for r in &results {
        println!(
            "{:<28} {:>12.2} {:>12.2} {:>12.1} {:>10}  {}",
            r.name,
            r.voxel_volume_ml,
            r.mesh_volume_ml,
            r.area_mm2 / 100.0,
            r.triangles,
            if r.watertight { "yes" } else { "NO" }
        );
    }
    for f in files {
        println!("wrote {}", f.display());
    }
    if let Some(path) = report {
        let checks: Vec<_> = results
            .iter()
            .filter_map(|r| r.validation.clone())
            .collect();
        println!(
            "\n{:<28} {:>6} {:>9} {:>9} {:>9} {:>8}  check",
            "validation", "Dice", "mean mm", "p95 mm", "max mm", "vol %"
        );
        for v in &checks {
            println!(
                "{:<28} {:>6.3} {:>9.2} {:>9.2} {:>9.2} {:>+8.1}  {}",
                v.segment,
                v.dice,
                v.surface.mean_mm,
                v.surface.p95_mm,
                v.surface.max_mm,
                v.volume_diff_pct,
                if v.flags.is_empty() { "ok" } else { "FLAGGED" }
            );
            for f in &v.flags {
                println!("    {f}");
            }
        }
        let json = stratum_core::convert::report_json(&results);
        stratum_core::base::atomic::write_bytes_atomic(
            &path,
            serde_json::to_string_pretty(&json)?.as_bytes(),
        )?;
        println!("wrote {}", path.display());
        if checks.iter().any(|v| !v.flags.is_empty()) {
            return Ok(ExitCode::from(1));
        }
    }
    Ok(ExitCode::SUCCESS)
}
