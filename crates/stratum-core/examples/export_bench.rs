//! Size and write time of each export format for the demo's organs (the
//! embedded CT and its label map, meshed as `stratum convert --reduce 0.8`
//! does), printed as a Markdown table for BENCHMARKS.md:
//!
//!     cargo run --release -p stratum-core --example export_bench [-- --runs N]
//!
//! Times only the writer (meshes built once, before): the median of N runs.
//! Threads: RAYON_NUM_THREADS.

use std::path::PathBuf;
use std::time::Instant;

use stratum_core::base::progress::Progress;
use stratum_core::convert::{
    ConvertOptions, SegmentResult, SegmentSource, build_meshes, segments_for,
};
use stratum_core::export::{ExportOptions, ExportSegment, ScanTexture, export_with};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs: usize = match args.iter().position(|a| a == "--runs") {
        Some(i) => args
            .get(i + 1)
            .ok_or_else(|| anyhow::anyhow!("--runs needs a value"))?
            .parse()?,
        None => 5,
    };
    let demo = stratum_core::base::install::demo_study()?;
    let progress = Progress::new();
    let opened = stratum_core::read::open::open_volume(
        &demo.ct,
        &stratum_core::read::open::OpenOptions::new(),
        &progress,
    )?;
    let opts = ConvertOptions {
        source: SegmentSource::Labels {
            path: demo.labels,
            names: Some(demo.names),
        },
        reduce: 0.8,
        ..Default::default()
    };
    let masks = segments_for(&opened.volume, &opts, &progress)?;
    // A label map: meshed from its masks, no scan needed.
    let results = build_meshes(&masks, None, &opts, &progress)?;
    let parts: Vec<ExportSegment<'_>> = results.iter().map(SegmentResult::part).collect();
    let triangles: usize = results.iter().map(|r| r.triangles).sum();
    println!(
        "{} organs, {triangles} triangles; median of {runs} runs, threads: {}\n",
        parts.len(),
        rayon::current_num_threads()
    );
    println!("| format | files | size | write time |");
    println!("|---|---|---|---|");
    let dir = tempfile::tempdir()?;
    let scan = ExportOptions {
        scan: Some(ScanTexture::new(&opened.volume)),
        ..Default::default()
    };
    let flat = ExportOptions::default();
    for (file, label, o) in [
        ("organs.stl", "STL (binary, merged)", &flat),
        ("organs.3mf", "3MF (one object per organ)", &flat),
        ("organs.obj", "OBJ + MTL + PNG, scan texture", &scan),
        ("flat.obj", "OBJ + MTL + PNG, flat colours", &flat),
        ("organs.glb", "GLB, scan texture", &scan),
        ("flat.glb", "GLB, flat colours", &flat),
    ] {
        let path = dir.path().join(file);
        let mut times = Vec::new();
        let mut files: Vec<PathBuf> = Vec::new();
        for _ in 0..runs.max(1) {
            let t = Instant::now();
            files = export_with(&path, &parts, o)?;
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let bytes: u64 = files
            .iter()
            .map(|f| std::fs::metadata(f).map(|m| m.len()).unwrap_or(0))
            .sum();
        println!(
            "| {label} | {} | {:.2} MB | {:.0} ms |",
            files.len(),
            bytes as f64 / 1e6,
            times[times.len() / 2] * 1000.0
        );
    }
    Ok(())
}
