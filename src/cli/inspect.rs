//! `stratum inspect`: the series of a DICOM folder (or a NIfTI volume)
//! with the checks of each, as text or JSON.

use std::path::PathBuf;
use std::process::ExitCode;

use stratum_core::checks::realign::Realign;
use stratum_core::checks::{SeriesReport, Status};
use stratum_core::dicom::{Scan, scan};
use stratum_core::image::volume::Volume;
use stratum_core::read::open::{OpenOptions, inspect_series_with, open_volume};

use super::with_progress;

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

pub(super) fn inspect(
    path: PathBuf,
    series: Option<String>,
    json: bool,
    resample: bool,
    subset: stratum_core::dicom::Subset,
    realign: Realign,
) -> anyhow::Result<ExitCode> {
    if stratum_core::read::nifti::is_nifti_path(&path) {
        if !subset.is_whole() {
            anyhow::bail!(
                "--slices and --downsample open part of a DICOM series; a NIfTI file is read whole"
            );
        }
        let opts = OpenOptions {
            realign,
            ..OpenOptions::new()
        };
        let opened = with_progress(json, |p| open_volume(&path, &opts, p))?;
        let v = &opened.volume;
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "kind": "nifti",
                    "volume": volume_json(v),
                    "report": opened.report,
                }))?
            );
        } else {
            println!("NIfTI volume: {}", describe_volume(v));
            print_report(&opened.report);
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
        let (report, volume) = with_progress(json, |p| {
            inspect_series_with(s, resample, &subset, &realign, p)
        });
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
