//! Subcommands and their terminal output.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use stratum_core::checks::{SeriesReport, Status};
use stratum_core::dicom::{Scan, scan};
use stratum_core::open::inspect_series_subset;
use stratum_core::{Progress, Volume};

mod segment;
mod share;

#[derive(Parser, Debug)]
#[command(
    name = "stratum",
    version,
    about = "CT/MR scans to 3D anatomy: check, segment, mesh, inspect, export",
    long_about = "CT/MR scans to 3D anatomy: check, segment, mesh, inspect, export.\n\n\
        Without a subcommand, opens the desktop app on PATH (a DICOM folder or a \
        NIfTI file), or on the embedded demo study when no PATH is given.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub gui: GuiArgs,
}

/// Options of the desktop app.
#[derive(clap::Args, Debug, Default)]
pub struct GuiArgs {
    /// DICOM folder or file, or a .nii/.nii.gz file (the demo study when omitted)
    pub path: Option<PathBuf>,
    /// Open this series of the folder (id or SeriesInstanceUID, or its number)
    #[arg(long)]
    pub series: Option<String>,
    #[command(flatten)]
    pub subset: SubsetArgs,
    /// Run this AI model (`stratum models` lists them) once the study has loaded
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Open a label map (NIfTI, e.g. from TotalSegmentator) with the scan:
    /// each label becomes a segment
    #[arg(long, value_name = "NIFTI")]
    pub labels: Option<PathBuf>,
    /// With --labels: the label names (TSV of value and name)
    #[arg(long, value_name = "TSV", requires = "labels")]
    pub names: Option<PathBuf>,
    /// Turn the 3D view slowly about the patient's long axis (a turntable,
    /// for a demonstration; View ▸ Turntable)
    #[arg(long)]
    pub turntable: bool,
    /// Start with a clip plane through the study centre: axial (cuts the top
    /// away), coronal (the front), sagittal (the left) or oblique; up to three
    #[arg(long, value_name = "PLANE", value_parser = parse_clip)]
    pub clip: Vec<stratum::app::clip::ClipKind>,
    /// Start with a ruler between two LPS points in mm, "L,P,S:L,P,S"
    #[arg(long, value_name = "A:B", value_parser = parse_ruler)]
    pub ruler: Vec<([f64; 3], [f64; 3])>,
    /// Once the study is loaded and its surfaces built, save the window as a
    /// PNG here and exit (for checks and documentation)
    #[arg(long, value_name = "PNG")]
    pub screenshot: Option<PathBuf>,
    /// Segment with this threshold preset as soon as the scan has loaded:
    /// bone, soft-tissue, lungs, skin or vessels
    #[arg(long, value_name = "NAME", value_parser = parse_preset)]
    pub preset: Option<stratum_core::segment::Preset>,
    /// What the 3D view starts with: `volume` (the scan rendered as a volume,
    /// with the study's default preset), `volume:PRESET` (ct-bone,
    /// ct-soft-tissue, ct-angio, ct-lung, ct-skin, mr-default or mip), or
    /// `surfaces` (segment surfaces only). Default: the volume when the study
    /// has no segments
    #[arg(long, value_name = "MODE", value_parser = parse_render)]
    pub render: Option<stratum::app::volume::RenderOnLoad>,
    /// Start in the OpenXR headset (the window stays as the spectator view);
    /// without a runtime or headset the desktop app says what is missing
    #[arg(long)]
    pub xr: bool,
    /// With --xr: write the XR session's state as JSON lines to this file
    /// (session state, frames per eye, anatomy pose, hands, clip planes, frame times)
    #[arg(long, value_name = "FILE", requires = "xr")]
    pub xr_trace: Option<PathBuf>,
    /// With --xr: render each eye at WIDTHxHEIGHT instead of the size the
    /// runtime recommends (sharper, or lighter on a slow GPU; up to the
    /// runtime's maximum)
    #[arg(long, value_name = "WxH", requires = "xr", value_parser = parse_size)]
    pub eye_size: Option<(u32, u32)>,
    /// Window size in logical pixels, WIDTHxHEIGHT
    #[arg(long, default_value = "1600x1000", value_parser = parse_size)]
    pub size: (u32, u32),
}

/// Part of a DICOM series, for a study too large for the memory (the
/// refusal says which values fit).
#[derive(clap::Args, Debug, Default, Clone)]
pub struct SubsetArgs {
    /// Open only slices A-B of the DICOM series (1-based, inclusive, in
    /// stack order)
    #[arg(long, value_name = "A-B", value_parser = stratum_core::dicom::Subset::parse_range)]
    pub slices: Option<(usize, usize)>,
    /// Open a copy averaged over N x N x N voxels (2: half the resolution,
    /// an eighth of the memory)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=8))]
    pub downsample: Option<u32>,
}

impl SubsetArgs {
    pub fn subset(&self) -> stratum_core::dicom::Subset {
        stratum_core::dicom::Subset {
            slices: self.slices,
            downsample: self.downsample.unwrap_or(1),
        }
    }
}

fn parse_clip(s: &str) -> Result<stratum::app::clip::ClipKind, String> {
    stratum::app::clip::ClipKind::parse(s)
        .ok_or_else(|| format!("{s:?}: use axial, coronal, sagittal or oblique"))
}

fn parse_render(s: &str) -> Result<stratum::app::volume::RenderOnLoad, String> {
    use stratum::app::volume::RenderOnLoad;
    match s.split_once(':') {
        None if s == "volume" => Ok(RenderOnLoad::Volume(None)),
        None if s == "surfaces" => Ok(RenderOnLoad::Surfaces),
        Some(("volume", preset)) => stratum_core::transfer::TfPreset::parse(preset)
            .map(|p| RenderOnLoad::Volume(Some(p)))
            .map_err(|e| e.to_string()),
        _ => Err(format!(
            "{s:?}: use volume, volume:PRESET (ct-bone, ct-soft-tissue, ct-angio, ct-lung, ct-skin, mr-default, mip) or surfaces"
        )),
    }
}

fn parse_preset(s: &str) -> Result<stratum_core::segment::Preset, String> {
    stratum_core::segment::Preset::parse(s)
        .ok_or_else(|| format!("{s:?}: use bone, soft-tissue, lungs, skin or vessels"))
}

fn parse_ruler(s: &str) -> Result<([f64; 3], [f64; 3]), String> {
    let point = |p: &str| -> Result<[f64; 3], String> {
        let v: Vec<f64> = p
            .split(',')
            .map(|x| {
                x.trim()
                    .parse::<f64>()
                    .map_err(|_| format!("{x:?} is not a number"))
            })
            .collect::<Result<_, _>>()?;
        v.try_into()
            .map_err(|_| format!("{p:?}: a point is three numbers L,P,S"))
    };
    let (a, b) = s.split_once(':').ok_or("expected L,P,S:L,P,S")?;
    Ok((point(a)?, point(b)?))
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("expected WIDTHxHEIGHT, got {s}"))?;
    let n = |v: &str| {
        v.trim()
            .parse::<u32>()
            .map_err(|_| format!("not a size: {s}"))
    };
    Ok((n(w)?, n(h)?))
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the series in a DICOM folder (or a NIfTI file) and check them:
    /// completeness, spacing, tilt, metal artifacts, identifying data.
    /// Exit code 1 when a check found an error.
    Inspect {
        /// DICOM folder or file, or a .nii/.nii.gz file
        path: PathBuf,
        /// Check only this series (id or SeriesInstanceUID from the list, or its number)
        #[arg(long)]
        series: Option<String>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        subset: SubsetArgs,
        /// Do not resample tilted or unevenly spaced stacks (reported either way)
        #[arg(long)]
        no_resample: bool,
    },
    /// Write a de-identified copy of a DICOM folder (PS3.15 Basic Application
    /// Level Confidentiality Profile). The input is never modified.
    Anonymize {
        /// DICOM folder or file to read
        input: PathBuf,
        /// Folder to write the anonymized files into (created if needed)
        output: PathBuf,
    },
    /// Segment a scan and write printable/textured models:
    /// load, threshold or labels, largest island, mesh, smooth, reduce, export.
    Convert(ConvertArgs),
    /// Write a patient-education page: one self-contained HTML file that
    /// opens offline, the structures in colour, tap for a name and volume
    Share(share::ShareArgs),
    /// Segment a scan with an AI model and write the label map (NIfTI)
    Segment {
        /// DICOM folder or file, or a .nii/.nii.gz file
        input: PathBuf,
        /// Model name (`stratum models` lists them)
        #[arg(long)]
        model: String,
        /// Label map to write (.nii.gz or .nii), on the scan's grid
        #[arg(short, long)]
        output: PathBuf,
        /// Series to use when the folder holds several (default: the largest)
        #[arg(long)]
        series: Option<String>,
        #[command(flatten)]
        subset: SubsetArgs,
    },
    /// List the AI models installed in the models folder
    Models,
}

#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    /// DICOM folder or file, or a .nii/.nii.gz file
    pub input: PathBuf,
    /// Output file: .stl (binary, for printing), .3mf (coloured objects, for
    /// multi-colour printing), .obj (+ .mtl + .png) or .glb (glTF: metres, +Y up)
    #[arg(short, long)]
    pub output: PathBuf,
    /// Threshold preset: bone, soft-tissue, lungs, skin, vessels
    #[arg(long, conflicts_with_all = ["threshold", "labels"])]
    preset: Option<String>,
    /// Intensity window LO:HI (Hounsfield units for CT)
    #[arg(long, value_parser = parse_window, conflicts_with = "labels")]
    threshold: Option<(f64, f64)>,
    /// Label map (NIfTI), one mesh per label
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Names of the labels: a TSV of id<TAB>name (e.g. TotalSegmentator's)
    #[arg(long, requires = "labels")]
    names: Option<PathBuf>,
    /// Smoothing passes (Taubin, volume-preserving); 0 keeps the raw surface
    #[arg(long, default_value_t = 10)]
    smooth: usize,
    /// Fraction of triangles to remove (0.9 keeps 10%)
    #[arg(long, default_value_t = 0.0)]
    reduce: f64,
    /// Keep only the largest island of each segment
    #[arg(long)]
    largest: bool,
    /// With .stl: one file per segment (OUT_<segment>.stl) instead of one merged file
    #[arg(long)]
    split: bool,
    /// Series to use when the folder holds several (default: the largest)
    #[arg(long)]
    series: Option<String>,
    #[command(flatten)]
    subset: SubsetArgs,
    /// Segment with an AI model (`stratum models` lists them), one mesh per label
    #[arg(long, conflicts_with_all = ["preset", "threshold", "labels"])]
    model: Option<String>,
    /// Check every mesh against the scan's segment and write the report
    /// (JSON): Dice, surface distances, volume difference, watertightness,
    /// the smoothing and reduction used, and what failed
    #[arg(long, value_name = "JSON")]
    report: Option<PathBuf>,
    /// With .obj or .glb: flat segment colours instead of the scan texture
    #[arg(long)]
    flat: bool,
    /// The scan texture's intensity window LO:HI (default: soft tissue,
    /// -160:240 HU, for CT; the 1st to 99th percentile otherwise)
    #[arg(long, value_parser = parse_window, value_name = "LO:HI", conflicts_with = "flat")]
    texture_window: Option<(f64, f64)>,
    /// With the scan texture: also bake ambient occlusion into it (folds and
    /// the gaps between organs darker)
    #[arg(long, conflicts_with = "flat")]
    ao: bool,
}

pub fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Inspect {
            path,
            series,
            json,
            no_resample,
            subset,
        } => inspect(path, series, json, !no_resample, subset.subset()),
        Command::Anonymize { input, output } => anonymize(input, output),
        Command::Convert(args) => convert_cmd(args),
        Command::Share(args) => share::share_cmd(args),
        Command::Segment {
            input,
            model,
            output,
            series,
            subset,
        } => segment::segment_cmd(input, model, output, series, subset.subset()),
        Command::Models => segment::models_cmd(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs `work` while a terminal progress bar follows its [`Progress`].
pub fn with_progress<T: Send>(quiet: bool, work: impl FnOnce(&Progress) -> T + Send) -> T {
    let progress = Progress::new();
    if quiet || !console_is_tty() {
        return work(&progress);
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:30} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                bar.set_message(progress.stage());
                bar.set_length(progress.total());
                bar.set_position(progress.done());
                std::thread::sleep(Duration::from_millis(80));
            }
            bar.finish_and_clear();
        });
        let out = work(&progress);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        out
    })
}

fn console_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}

fn mark(s: Status) -> &'static str {
    match s {
        Status::Ok => "ok  ",
        Status::Warning => "WARN",
        Status::Error => "ERR ",
    }
}

fn describe_volume(v: &Volume) -> String {
    let (z, y, x) = v.dim();
    let s = v.geometry.spacing;
    let (lo, hi) = v.voxels.min_max();
    format!(
        "{x}x{y}x{z} voxels of {:.3}x{:.3}x{:.3} mm, {} ({}), values {lo}..{hi}, axes {}",
        s[0],
        s[1],
        s[2],
        v.voxels.type_name(),
        v.modality,
        v.geometry.orientation_code()
    )
}

fn print_scan(scan: &Scan) {
    println!(
        "{} series in {} ({} non-DICOM files ignored{})",
        scan.series.len(),
        scan.root.display(),
        scan.ignored,
        if scan.skipped.is_empty() {
            String::new()
        } else {
            format!(
                ", {} DICOM files without an image skipped",
                scan.skipped.len()
            )
        }
    );
    for (i, s) in scan.series.iter().enumerate() {
        println!(
            "  {:>2}. {}  {} images, {}x{}  [{}]",
            i + 1,
            s.label(),
            s.slices.len(),
            s.columns,
            s.rows,
            s.id
        );
    }
}

fn print_report(r: &SeriesReport) {
    println!("\nSeries {}  [{}]", r.label, r.series_id);
    for c in &r.checks {
        println!(
            "  {} {:<13} {}",
            mark(c.status),
            c.category.title(),
            c.message
        );
    }
}

fn inspect(
    path: PathBuf,
    series: Option<String>,
    json: bool,
    resample: bool,
    subset: stratum_core::dicom::Subset,
) -> anyhow::Result<ExitCode> {
    if stratum_core::nifti_io::is_nifti_path(&path) {
        if !subset.is_whole() {
            anyhow::bail!(
                "--slices and --downsample open part of a DICOM series; a NIfTI file is read whole"
            );
        }
        let v = with_progress(json, |p| stratum_core::nifti_io::load_nifti(&path, p))?;
        if json {
            println!(
                "{}",
                serde_json::json!({"kind": "nifti", "volume": volume_json(&v)})
            );
        } else {
            println!("NIfTI volume: {}", describe_volume(&v));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let scan = with_progress(json, |p| scan(&path, p))?;
    let chosen: Vec<_> = match &series {
        Some(key) => vec![scan.find(key)?],
        None => scan.series.iter().collect(),
    };
    if !json {
        print_scan(&scan);
    }
    let mut any_error = false;
    let mut out = Vec::new();
    for s in chosen {
        let (report, volume) =
            with_progress(json, |p| inspect_series_subset(s, resample, &subset, p));
        any_error |= report.has_errors();
        if json {
            out.push(serde_json::json!({
                "report": report,
                "volume": volume.as_ref().ok().map(volume_json),
                "error": volume.as_ref().err().map(|e| e.to_string()),
            }));
        } else {
            print_report(&report);
            match &volume {
                Ok(v) => println!("  volume: {}", describe_volume(v)),
                Err(e) => println!("  volume: not loaded: {e}"),
            }
        }
    }
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "root": scan.root,
                "ignored_files": scan.ignored,
                "skipped": scan.skipped.iter().map(|(p, why)| serde_json::json!({"file": p, "reason": why})).collect::<Vec<_>>(),
                "series": scan.series.iter().map(|s| serde_json::json!({
                    "id": s.id, "label": s.label(), "images": s.slices.len(),
                    "rows": s.rows, "columns": s.columns, "modality": s.modality,
                })).collect::<Vec<_>>(),
                "reports": out,
            }))?
        );
    }
    Ok(if any_error {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn volume_json(v: &Volume) -> serde_json::Value {
    let (z, y, x) = v.dim();
    serde_json::json!({
        "size": [x, y, z],
        "spacing_mm": v.geometry.spacing,
        "origin_lps_mm": v.geometry.origin,
        "direction": v.geometry.direction,
        "type": v.voxels.type_name(),
        "modality": v.modality,
    })
}

fn convert_cmd(a: ConvertArgs) -> anyhow::Result<ExitCode> {
    let ConvertArgs {
        input,
        output,
        preset,
        threshold,
        labels,
        names,
        smooth,
        reduce,
        largest,
        split,
        series,
        subset,
        model,
        report,
        flat,
        texture_window,
        ao,
    } = a;

    let source = match (preset, threshold, labels) {
        _ if model.is_some() => stratum_core::convert::SegmentSource::Model {
            name: model.unwrap_or_default(),
        },
        (_, _, Some(path)) => stratum_core::convert::SegmentSource::Labels { path, names },
        (_, Some((lo, hi)), _) => stratum_core::convert::SegmentSource::Threshold(lo, hi),
        (Some(p), _, _) => stratum_core::convert::SegmentSource::Preset(
            stratum_core::segment::Preset::parse(&p).ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown preset {p:?}: use bone, soft-tissue, lungs, skin or vessels"
                )
            })?,
        ),
        (None, None, None) => {
            stratum_core::convert::SegmentSource::Preset(stratum_core::segment::Preset::Bone)
        }
    };
    if !(0.0..1.0).contains(&reduce) {
        anyhow::bail!("--reduce takes a fraction from 0 (keep all) to below 1 (0.9 keeps 10%)");
    }
    let mut opts = stratum_core::convert::ConvertOptions {
        source,
        largest,
        smooth_iterations: smooth,
        reduce,
        split,
        validate: report.is_some(),
        scan_texture: !flat,
        texture_window,
        ambient_occlusion: ao,
        ..Default::default()
    };
    opts.open.series = series;
    opts.open.subset = subset.subset();
    convert(input, output, opts, report)
}

fn parse_window(s: &str) -> Result<(f64, f64), String> {
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
        let json = serde_json::json!({
            "units": "mm, mL; surface distances both ways between mesh vertices and the mask boundary",
            "segments": checks,
        });
        stratum_core::atomic::write_bytes_atomic(
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

fn anonymize(input: PathBuf, output: PathBuf) -> anyhow::Result<ExitCode> {
    let summary = with_progress(false, |p| {
        stratum_core::anonymize::anonymize(&input, &output, p)
    })?;
    println!(
        "{} files anonymized into {} ({} UIDs remapped, {} non-DICOM files not copied)",
        summary.files_written,
        output.display(),
        summary.uids_remapped,
        summary.ignored
    );
    Ok(ExitCode::SUCCESS)
}
