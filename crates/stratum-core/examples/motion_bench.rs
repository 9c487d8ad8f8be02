//! The motion check's cost against the load it follows, measured in the
//! same process on the same series (issue 30: goal under 10% of the load):
//!
//!     cargo run --release -p stratum-core --example motion_bench -- DICOM_DIR [--runs N]
//!
//! Prints one line per step (min and median of N runs) and the ratio of the
//! minima. Threads: RAYON_NUM_THREADS.

use std::path::PathBuf;
use std::time::Instant;

use stratum_core::Progress;
use stratum_core::checks::motion::detect_motion;
use stratum_core::dicom::{load_series, scan};

fn stats(mut t: Vec<f64>) -> (f64, f64) {
    t.sort_by(f64::total_cmp);
    (t[0], t[t.len() / 2])
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(path) = args.first().map(PathBuf::from) else {
        anyhow::bail!("usage: motion_bench DICOM_DIR [--runs N]");
    };
    let runs = match args.iter().position(|a| a == "--runs") {
        Some(i) => args
            .get(i + 1)
            .ok_or_else(|| anyhow::anyhow!("--runs needs a value"))?
            .parse()?,
        None => 5usize,
    };
    let mut load_times = Vec::new();
    let mut motion_times = Vec::new();
    let mut findings = 0;
    let mut examined = 0;
    let mut dims = (0, 0, 0);
    for _ in 0..runs {
        let progress = Progress::new();
        let t = Instant::now();
        let s = scan(&path, &progress)?;
        let series = s.largest().ok_or_else(|| anyhow::anyhow!("no series"))?;
        let loaded = load_series(series, &progress)?;
        load_times.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        let m = detect_motion(&loaded.volume, Some(&loaded.positions), &progress)?;
        motion_times.push(t.elapsed().as_secs_f64());
        findings = m.findings.len();
        examined = m.examined;
        dims = loaded.volume.dim();
    }
    let (lmin, lmed) = stats(load_times);
    let (mmin, mmed) = stats(motion_times);
    let threads = rayon::current_num_threads();
    println!(
        "{}x{}x{} voxels, {threads} threads, {runs} runs",
        dims.2, dims.1, dims.0
    );
    println!("load (scan + load_series): min {lmin:.3} s, median {lmed:.3} s");
    println!(
        "motion check:              min {mmin:.3} s, median {mmed:.3} s ({examined} jumps examined in 2D, {findings} findings)"
    );
    println!("motion / load: {:.1}%", 100.0 * mmin / lmin);
    Ok(())
}
