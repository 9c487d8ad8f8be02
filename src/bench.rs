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

/// CPU seconds (user + system) this process has used so far.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the ")" that ends the command name: utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
    // Linux reports these in clock ticks of 1/100 s.
    field(11)
        .zip(field(12))
        .map(|(u, s)| (u + s) / 100.0)
        .unwrap_or(f64::NAN)
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
    let mut sha256 = String::new();
    let mut parallelism = f64::NAN;
    let mut best = f64::INFINITY;
    for _ in 0..runs.max(1) {
        let progress = Progress::new();
        reset_peak_rss();
        let before = rss_mb().0;
        let cpu0 = cpu_seconds();
        let t0 = Instant::now();
        let scan = scan(path, &progress)?;
        let series = scan.largest().ok_or_else(|| anyhow::anyhow!("no series"))?;
        let loaded = load_series(series, &progress)?;
        let dt = t0.elapsed().as_secs_f64();
        if dt < best {
            best = dt;
            parallelism = ((cpu_seconds() - cpu0) / dt * 100.0).round() / 100.0;
        }
        let (_, hwm) = rss_mb();
        voxels = loaded.volume.voxels.len();
        voxel_bytes = loaded.volume.voxel_bytes();
        sha256 = volume_sha256(&loaded.volume.voxels);
        times.push(dt);
        if hwm > peak {
            peak = hwm;
            base = before;
        }
        drop(loaded);
    }
    let (min_s, median_s) = stats(&times);
    // make_phantom.py writes the SHA-256 of the int16 HU volume beside the series.
    let reference = ["phantom.json", "../phantom.json"]
        .iter()
        .map(|f| path.join(f))
        .find(|p| p.exists())
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| find_sha(&v));
    // The dataset name peers.py uses: the phantom folder (parent of dicom/).
    let dataset = path
        .canonicalize()
        .ok()
        .map(|p| {
            if p.ends_with("dicom") {
                p.parent().map(Path::to_path_buf).unwrap_or(p)
            } else {
                p
            }
        })
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    println!(
        "{}",
        serde_json::json!({
            "kind": "result", "step": "load", "peer": "rust_app", "threads": threads,
            "dataset": dataset, "parallelism": parallelism,
            "impl": "stratum-core scan + load_series (dicom-rs, rayon)",
            "runs": times.len(), "min_s": min_s, "median_s": median_s, "times_s": times,
            "peak_rss_mb": peak, "base_rss_mb": base, "delta_rss_mb": peak - base,
            "mvox_per_s": voxels as f64 / min_s / 1e6,
            "voxel_mb": voxel_bytes as f64 / 1048576.0,
            "peak_over_voxel_bytes": peak * 1048576.0 / voxel_bytes as f64,
            "sha256": sha256,
            "matches_reference": reference.as_ref().map(|r| *r == sha256),
            "ok": reference.as_ref().is_none_or(|r| *r == sha256),
        })
    );
    Ok(ExitCode::SUCCESS)
}

/// SHA-256 of the voxels in volume order, little endian, as make_phantom.py hashes its HU volume.
fn volume_sha256(v: &stratum_core::Voxels) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    stratum_core::with_voxels!(v, a => {
        for x in a.iter() {
            h.update(x.to_le_bytes());
        }
    });
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn find_sha(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Object(m) => m.iter().find_map(|(k, v)| {
            if k == "hu_volume_sha256" {
                v.as_str().map(str::to_string)
            } else {
                find_sha(v)
            }
        }),
        _ => None,
    }
}
