//! Benchmarks printed as JSON lines in the schema of shared/bench/peers.py,
//! so `peers.py --table` shows Stratum beside the peers.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use stratum_core::Progress;
use stratum_core::dicom::{load_series, scan};

/// Resets the kernel's RSS high-water mark for this process.
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// (current RSS, peak RSS) in MB from /proc/self/status.
fn rss_mb() -> (f64, f64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn stats(times: &[f64]) -> (f64, f64) {
    let mut t = times.to_vec();
    t.sort_by(f64::total_cmp);
    (t[0], t[t.len() / 2])
}

pub fn load(path: &Path, runs: usize) -> anyhow::Result<ExitCode> {
    let threads = rayon::current_num_threads();
    let mut times = Vec::new();
    let mut peak = 0.0f64;
    let mut base = 0.0f64;
    let mut voxels = 0usize;
    let mut voxel_bytes = 0usize;
    for _ in 0..runs.max(1) {
        let progress = Progress::new();
        reset_peak_rss();
        let before = rss_mb().0;
        let t0 = Instant::now();
        let scan = scan(path, &progress)?;
        let series = scan.largest().ok_or_else(|| anyhow::anyhow!("no series"))?;
        let loaded = load_series(series, &progress)?;
        let dt = t0.elapsed().as_secs_f64();
        let (_, hwm) = rss_mb();
        voxels = loaded.volume.voxels.len();
        voxel_bytes = loaded.volume.voxel_bytes();
        times.push(dt);
        if hwm > peak {
            peak = hwm;
            base = before;
        }
        drop(loaded);
    }
    let (min_s, median_s) = stats(&times);
    println!(
        "{}",
        serde_json::json!({
            "kind": "result", "step": "load", "peer": "rust_app", "threads": threads,
            "impl": "stratum-core scan + load_series (dicom-rs, rayon)",
            "runs": times.len(), "min_s": min_s, "median_s": median_s, "times_s": times,
            "peak_rss_mb": peak, "base_rss_mb": base, "delta_rss_mb": peak - base,
            "mvox_per_s": voxels as f64 / min_s / 1e6,
            "voxel_mb": voxel_bytes as f64 / 1048576.0,
            "peak_over_voxel_bytes": peak * 1048576.0 / voxel_bytes as f64,
            "ok": true,
        })
    );
    Ok(ExitCode::SUCCESS)
}
