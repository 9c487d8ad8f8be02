//! Converting one study of a batch: inspect, anonymize when asked,
//! convert (the same work and outputs as `stratum convert`, with its
//! validation report), all in a temporary folder that becomes the study's
//! folder, with its record, in one rename.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::error::BatchError;
use super::record::{self, OutputFile, Record, SegmentRow, State};
use super::{Layout, Study, StudyKind};
use crate::base::error::Result;
use crate::base::progress::Progress;
use crate::checks::{SeriesReport, Status, check_nifti};
use crate::convert::{ConvertOptions, SegmentResult, convert_volume, report_json};
use crate::dicom::{Scan, Series, scan};
use crate::export::Format;
use crate::image::volume::Volume;
use crate::read::open::inspect_series_subset;

/// How every study of a batch is converted.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// As `convert` takes them; `validate` writes each study's report.json.
    pub convert: ConvertOptions,
    /// The model files' format (`model.stl`, `model.obj`, ...).
    pub format: Format,
    /// Write a de-identified copy of each DICOM series into the study's
    /// `dicom/` folder and convert from that copy.
    pub anonymize: bool,
}

/// What a study's conversion found on the way, kept for its record even
/// when a later step fails.
#[derive(Default)]
struct Found {
    checked: bool,
    check_warnings: usize,
    check_errors: usize,
    segments: Vec<SegmentRow>,
    anonymized_files: usize,
}

/// Converts `study` into its folder and records how it ended. The caller
/// holds the study's lock ([`record::try_lock`]). A study that cannot be
/// converted is recorded as failed with the reason (`Ok`); `Err` only when
/// the record itself cannot be written (a full or read-only disk).
pub fn run_study(
    layout: &Layout,
    study: &Study,
    opts: &RunOptions,
    attempt: &str,
    progress: &Progress,
) -> Result<Record> {
    crate::base::memory::reset_peak_rss();
    let start = Instant::now();
    record::remove_leftovers(layout, &study.key);
    record::journal(layout, &study.key, "start", attempt);
    let tmp = crate::base::atomic::temp_path(&layout.studies(), &study.key, "");
    crate::base::atomic::create_folder(&tmp)?;
    let mut found = Found::default();
    let mut log = String::new();
    let outcome = crate::base::guard::catch_panic(|| {
        convert_into(&tmp, study, opts, progress, &mut found, &mut log)
    })
    .unwrap_or_else(|panic| Err(BatchError::Panicked(panic).into()));
    let error = outcome
        .err()
        .map(|e| scrub(&e.to_string(), study, opts.anonymize));
    if let Some(e) = &error {
        // Half a model is no model: only the series checks stay.
        remove_all_but(&tmp, &["inspect.json"]);
        let _ = writeln!(log, "\nfailed: {e}");
    }
    let seconds = start.elapsed().as_secs_f64();
    let _ = writeln!(log, "time: {seconds:.1} s");
    crate::base::atomic::write_bytes_atomic(&tmp.join("log.txt"), log.as_bytes())?;
    let record = Record {
        key: study.key.clone(),
        state: if error.is_some() {
            State::Failed
        } else {
            State::Done
        },
        error,
        seconds,
        peak_memory_bytes: crate::base::memory::peak_rss(),
        checked: found.checked,
        check_warnings: found.check_warnings,
        check_errors: found.check_errors,
        segments: found.segments,
        files: list_files(&tmp),
        anonymized_files: found.anonymized_files,
        attempt: attempt.to_string(),
        finished_unix: record::now_unix(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    record::commit(layout, &tmp, &record)?;
    Ok(record)
}

fn convert_into(
    tmp: &Path,
    study: &Study,
    opts: &RunOptions,
    progress: &Progress,
    found: &mut Found,
    log: &mut String,
) -> Result<()> {
    let volume = open_study(tmp, study, opts, progress, found, log)?;
    let mut convert = opts.convert.clone();
    study.overrides.apply(&mut convert)?;
    let output = tmp.join(format!("model.{}", opts.format.extension()));
    let (results, _) = convert_volume(volume, &output, &convert, progress)?;
    if convert.validate {
        let json = serde_json::to_vec_pretty(&report_json(&results))
            .map_err(BatchError::serialize("write the report"))?;
        crate::base::atomic::write_bytes_atomic(&tmp.join("report.json"), &json)?;
    }
    found.segments = results.iter().map(segment_row).collect();
    log_segments(log, &results);
    Ok(())
}

/// Inspects the study (saving the series checks as inspect.json) and
/// loads its volume, from a de-identified copy when asked.
fn open_study(
    tmp: &Path,
    study: &Study,
    opts: &RunOptions,
    progress: &Progress,
    found: &mut Found,
    log: &mut String,
) -> Result<Volume> {
    let (report, volume) = match &study.kind {
        StudyKind::Unreadable { reason } => {
            return Err(BatchError::Unreadable(reason.clone()).into());
        }
        StudyKind::Nifti => {
            if opts.anonymize {
                let _ = writeln!(
                    log,
                    "anonymize: a NIfTI file carries no patient attributes; nothing to remove"
                );
            }
            let volume = crate::read::nifti::load_nifti(&study.path, progress)?;
            (check_nifti(&volume), Ok(volume))
        }
        StudyKind::Dicom {
            series_id,
            series_uid,
            ..
        } => {
            let all = scan(&study.path, progress)?;
            let series = pick(&all, series_id, series_uid)?;
            let copy: Scan;
            let series = if opts.anonymize {
                let dir = tmp.join("dicom");
                let done =
                    crate::privacy::anonymize::anonymize_series(&[series], &[], &dir, progress)?;
                found.anonymized_files = done.files_written;
                let _ = writeln!(
                    log,
                    "anonymize: {} files de-identified into dicom/",
                    done.files_written
                );
                copy = scan(&dir, progress)?;
                copy.largest().ok_or(BatchError::NoSeriesInCopy)?
            } else {
                series
            };
            inspect_series_subset(
                series,
                opts.convert.open.resample,
                &opts.convert.open.subset,
                progress,
            )
        }
    };
    found.checked = true;
    found.check_warnings = count(&report, Status::Warning);
    found.check_errors = count(&report, Status::Error);
    let _ = writeln!(log, "series checks: {}", report.label);
    for c in &report.checks {
        let mark = match c.status {
            Status::Ok => "ok  ",
            Status::Warning => "WARN",
            Status::Error => "ERR ",
        };
        let _ = writeln!(log, "  {mark} {:<13} {}", c.category.title(), c.message);
    }
    let json = serde_json::to_vec_pretty(&report)
        .map_err(BatchError::serialize("write the series checks"))?;
    crate::base::atomic::write_bytes_atomic(&tmp.join("inspect.json"), &json)?;
    volume
}

fn count(report: &SeriesReport, status: Status) -> usize {
    report.checks.iter().filter(|c| c.status == status).count()
}

/// The planned series in a fresh scan of its folder: by id, else by UID
/// when only one series has it (an id can change when the folder is
/// scanned alone rather than with the whole input).
fn pick<'a>(found: &'a Scan, id: &str, uid: &str) -> Result<&'a Series> {
    if let Some(s) = found.series.iter().find(|s| s.id == id) {
        return Ok(s);
    }
    let by_uid: Vec<&Series> = found
        .series
        .iter()
        .filter(|s| s.series_uid == uid)
        .collect();
    match by_uid.as_slice() {
        [one] => Ok(one),
        _ => Err(BatchError::SeriesGone.into()),
    }
}

fn segment_row(r: &SegmentResult) -> SegmentRow {
    SegmentRow {
        name: r.name.clone(),
        voxel_ml: r.voxel_volume_ml,
        mesh_ml: r.mesh_volume_ml,
        area_mm2: r.area_mm2,
        triangles: r.triangles,
        watertight: r.watertight,
        dice: r.validation.as_ref().map(|v| v.dice),
        p95_mm: r.validation.as_ref().map(|v| v.surface.p95_mm),
        flags: r
            .validation
            .as_ref()
            .map(|v| v.flags.clone())
            .unwrap_or_default(),
    }
}

fn log_segments(log: &mut String, results: &[SegmentResult]) {
    let _ = writeln!(
        log,
        "\n{:<28} {:>12} {:>12} {:>12} {:>10}  closed",
        "segment", "voxels mL", "mesh mL", "area cm²", "triangles"
    );
    for r in results {
        let _ = writeln!(
            log,
            "{:<28} {:>12.2} {:>12.2} {:>12.1} {:>10}  {}",
            r.name,
            r.voxel_volume_ml,
            r.mesh_volume_ml,
            r.area_mm2 / 100.0,
            r.triangles,
            if r.watertight { "yes" } else { "NO" }
        );
        if let Some(v) = &r.validation {
            for f in &v.flags {
                let _ = writeln!(log, "    check: {f}");
            }
        }
    }
}

/// An error message with the study's folder named as the batch names it:
/// by its place in the input, or by its key when the batch anonymizes
/// (folder names often carry patient names).
fn scrub(message: &str, study: &Study, anonymize: bool) -> String {
    let name = if anonymize {
        format!("study {}", study.key)
    } else {
        study.source.clone()
    };
    let path = study.path.to_string_lossy();
    if path.is_empty() {
        return message.to_string();
    }
    message.replace(path.as_ref(), &name)
}

fn remove_all_but(dir: &Path, keep: &[&str]) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if keep.contains(&name.as_str()) {
            continue;
        }
        let p = e.path();
        let _ = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
    }
}

/// Every file under `dir` with its size, names relative and `/`-separated.
fn list_files(dir: &Path) -> Vec<OutputFile> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .flatten()
    {
        if !e.file_type().is_file() {
            continue;
        }
        let rel: PathBuf = e.path().strip_prefix(dir).unwrap_or(e.path()).to_path_buf();
        let name = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        if name == record::RECORD {
            continue;
        }
        out.push(OutputFile {
            name,
            bytes: e.metadata().map(|m| m.len()).unwrap_or(0),
        });
    }
    out
}
