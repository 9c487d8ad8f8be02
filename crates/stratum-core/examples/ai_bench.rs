//! Time per stage of a model run (bench/ai.sh), one JSON line per run:
//!
//!     cargo run --release -p stratum-core --example ai_bench -- SCAN MODEL [RUNS] [--out LABELS.nii.gz] [--modality MR]
//!
//! "overhead" is everything Stratum does around the ONNX Runtime calls
//! (resampling, pre-filters, normalisation, patch copies, stitching,
//! resampling back, post-processing); session loading is reported apart.
//! With --out the last run's label map is written (for the accuracy scripts).
//! --modality sets the scan's modality, which a NIfTI does not record (an MR
//! NIfTI reads as "OT"), so the manifest's normalisation for it applies.

use std::path::PathBuf;
use std::time::Instant;

use stratum_core::ai::{component_volumes_ml, find_model, models_dir, segment_with_model};
use stratum_core::base::progress::Progress;

/// Takes `--flag VALUE` out of the arguments.
fn take(args: &mut Vec<String>, flag: &str) -> anyhow::Result<Option<String>> {
    let Some(i) = args.iter().position(|a| a == flag) else {
        return Ok(None);
    };
    let v = args
        .get(i + 1)
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
    args.drain(i..i + 2);
    Ok(Some(v))
}

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let out = take(&mut args, "--out")?.map(PathBuf::from);
    let modality = take(&mut args, "--modality")?;
    let [scan, model, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: ai_bench SCAN MODEL [RUNS] [--out LABELS.nii.gz] [--modality MR]");
    };
    let runs: usize = rest.first().map(|r| r.parse()).transpose()?.unwrap_or(1);
    let progress = Progress::new();
    let mut opened = stratum_core::read::open::open_volume(
        &PathBuf::from(scan),
        &stratum_core::read::open::OpenOptions::new(),
        &progress,
    )?;
    if let Some(m) = modality {
        opened.volume.modality = m;
    }
    let model = find_model(&models_dir(), model)?;
    let threads = stratum_core::ai::runtime::inference_threads();
    let mut last = None;
    for run in 0..runs {
        let t = Instant::now();
        let seg = segment_with_model(&opened.volume, &model, &progress)?;
        let total = t.elapsed().as_secs_f64();
        let s = |d: std::time::Duration| d.as_secs_f64();
        let tm = &seg.times;
        let segments: Vec<_> = seg
            .labels
            .segments
            .iter()
            .map(|sg| {
                let mask = seg.labels.mask(sg.id);
                let pieces = component_volumes_ml(&mask);
                serde_json::json!({"name": sg.name, "ml": mask.volume_ml(), "pieces": pieces.len(),
                    "largest_pieces_ml": pieces.iter().take(10).collect::<Vec<_>>()})
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "model": model.manifest.name, "scan": scan, "run": run, "dim": opened.volume.dim(),
                "ort_threads": threads, "model_grid": seg.model_grid, "patches": seg.patches,
                "total_s": total, "load_s": s(tm.load), "run_s": s(tm.run), "overhead_s": s(tm.overhead()),
                "overhead_pct": 100.0 * s(tm.overhead()) / s(tm.run).max(1e-9),
                "resample_s": s(tm.resample), "normalise_s": s(tm.normalise), "patches_s": s(tm.patches),
                "stitch_s": s(tm.stitch), "back_s": s(tm.resample_back), "post_s": s(tm.postprocess),
                "segments": segments, "empty": seg.empty, "peak_rss_mb": peak_rss_mb(),
            })
        );
        last = Some(seg);
    }
    if let (Some(path), Some(seg)) = (out, last) {
        stratum_core::read::nifti::write_labels_nifti(&path, &seg.labels)?;
        eprintln!("wrote {}", path.display());
    }
    Ok(())
}

/// The process's peak resident memory so far (Linux VmHWM), in MB.
fn peak_rss_mb() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb: f64 = s
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb / 1024.0)
}
