//! Benchmarks printed as JSON lines in the schema of shared/bench/peers.py
//! (peer "rust_app"), so `peers.py --table` shows Stratum beside the peers.
//! Engine-free, so it builds in release without Bevy (bench/load.sh and
//! bench/mesh.sh run it):
//!
//!     cargo run --release -p stratum-core --example peers_bench -- load DICOM_DIR [--runs N]
//!     cargo run --release -p stratum-core --example peers_bench -- mesh DICOM_DIR [--runs N] [--iso HU]
//!
//! `mesh` runs surface extraction from the mask and from the intensities,
//! smoothing, decimation, STL writing and the whole convert pipeline
//! (`--steps` picks some, as in peers.py).
//! Threads: RAYON_NUM_THREADS.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use stratum_core::Progress;
use stratum_core::dicom::{load_series, scan};

/// The steps to time (`--steps`, as peers.py); all when not given.
static STEPS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

fn main() -> anyhow::Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: peers_bench load|mesh DICOM_DIR [--runs N] [--iso HU] [--steps a,b]";
    let (Some(what), Some(path)) = (args.first(), args.get(1)) else {
        anyhow::bail!(usage);
    };
    let option = |name: &str, default: f64| -> anyhow::Result<f64> {
        match args.iter().position(|a| a == name) {
            Some(i) => Ok(args
                .get(i + 1)
                .ok_or_else(|| anyhow::anyhow!("{name} needs a value"))?
                .parse()?),
            None => Ok(default),
        }
    };
    let runs = option("--runs", 3.0)? as usize;
    if let Some(i) = args.iter().position(|a| a == "--steps") {
        let steps = args
            .get(i + 1)
            .ok_or_else(|| anyhow::anyhow!("--steps needs a value"))?;
        let _ = STEPS.set(steps.split(',').map(str::to_string).collect());
    }
    match what.as_str() {
        "load" => load(path.as_ref(), runs),
        "mesh" => mesh(path.as_ref(), runs, option("--iso", 300.0)?),
        _ => anyhow::bail!(usage),
    }
}

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

fn load(path: &Path, runs: usize) -> anyhow::Result<ExitCode> {
    // make_phantom.py writes the SHA-256 of the int16 HU volume beside the series.
    let reference = ["phantom.json", "../phantom.json"]
        .iter()
        .map(|f| path.join(f))
        .find(|p| p.exists())
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| find_sha(&v));
    measure(
        "load",
        "stratum-core scan + load_series (dicom-rs, rayon)",
        &dataset_name(path),
        runs,
        || {
            let progress = Progress::new();
            let scan = scan(path, &progress)?;
            let series = scan.largest().ok_or_else(|| anyhow::anyhow!("no series"))?;
            Ok(load_series(series, &progress)?.volume)
        },
        |volume| {
            let sha256 = volume_sha256(&volume.voxels);
            serde_json::json!({
                "mvox": volume.voxels.len() as f64 / 1e6,
                "voxel_mb": volume.voxel_bytes() as f64 / 1048576.0,
                "matches_reference": reference.as_ref().map(|r| *r == sha256),
                "ok": reference.as_ref().is_none_or(|r| *r == sha256),
                "sha256": sha256,
            })
        },
    )?;
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

/// Runs `work` `runs` times, resetting the RSS high-water mark before each,
/// and prints one peers.py result line with the metrics of the fastest run.
/// `describe` turns the result of the fastest run into metrics, after the
/// timing, so computing them (an area, a file size) is not counted.
fn measure<R>(
    step: &str,
    impl_: &str,
    dataset: &str,
    runs: usize,
    mut work: impl FnMut() -> anyhow::Result<R>,
    describe: impl Fn(&R) -> serde_json::Value,
) -> anyhow::Result<()> {
    if STEPS.get().is_some_and(|s| !s.iter().any(|s| s == step)) {
        return Ok(());
    }
    let mut times = Vec::new();
    let (mut best, mut peak, mut base, mut parallelism) = (f64::INFINITY, 0.0f64, 0.0f64, f64::NAN);
    let mut metrics = serde_json::Value::Null;
    for _ in 0..runs.max(1) {
        reset_peak_rss();
        let before = rss_mb().0;
        let cpu0 = cpu_seconds();
        let t0 = Instant::now();
        let r = work()?;
        let dt = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        let hwm = rss_mb().1;
        times.push(dt);
        if dt < best {
            best = dt;
            metrics = describe(&r);
            parallelism = (cpu / dt * 100.0).round() / 100.0;
        }
        if hwm > peak {
            peak = hwm;
            base = before;
        }
    }
    let (min_s, median_s) = stats(&times);
    let mut line = serde_json::json!({
        "kind": "result", "step": step, "peer": "rust_app", "threads": rayon::current_num_threads(),
        "impl": impl_, "dataset": dataset, "runs": times.len(), "min_s": min_s, "median_s": median_s,
        "times_s": times, "peak_rss_mb": peak, "base_rss_mb": base, "delta_rss_mb": peak - base,
        "parallelism": parallelism, "ok": true,
    });
    if let (Some(l), Some(m)) = (line.as_object_mut(), metrics.as_object()) {
        for (k, v) in m {
            // Amounts of work become throughputs of the fastest run.
            let rate = |name: &str| (name.to_string(), (v.as_f64().unwrap_or(0.0) / min_s).into());
            let (k, v) = match k.as_str() {
                "mvox" => rate("mvox_per_s"),
                "mtri_in" => rate("mtri_in_per_s"),
                "file_mb" => {
                    l.insert("file_mb".into(), v.clone());
                    rate("mb_per_s")
                }
                _ => (k.clone(), v.clone()),
            };
            l.insert(k, v);
        }
    }
    println!("{line}");
    Ok(())
}

/// The meshing steps of peers.py on a phantom: surface_mask, surface_iso,
/// smooth, decimate, write_stl, and the whole pipeline.
fn mesh(path: &Path, runs: usize, iso: f64) -> anyhow::Result<ExitCode> {
    use stratum_core::mesh::{SurfaceOptions, iso_surface, mask_surface, taubin_smooth};
    use stratum_core::segment::{keep_largest, threshold_mask};
    let p = Progress::new();
    let dataset = dataset_name(path);
    let scan = scan(path, &p)?;
    let series = scan.largest().ok_or_else(|| anyhow::anyhow!("no series"))?;
    let volume = load_series(series, &p)?.volume;
    let voxels = volume.voxels.len() as f64;
    let mask = keep_largest(&threshold_mask(&volume, iso, f64::INFINITY));
    let shape = |m: &stratum_core::mesh::SurfaceMesh| serde_json::json!({"triangles": m.triangle_count(), "vertices": m.positions.len(), "area_mm2": m.area_mm2()});
    let raw_opts = SurfaceOptions {
        presmooth_mm: None,
        smooth_iterations: 0,
        keep_ratio: 1.0,
    };
    let per_voxel = |m: &stratum_core::mesh::SurfaceMesh| {
        let mut v = shape(m);
        v["mvox"] = (voxels / 1e6).into();
        v
    };
    measure(
        "surface_mask",
        "marching cubes on the mask at 0.5 (parallel slabs), normals, LPS",
        &dataset,
        runs,
        || Ok(mask_surface(&mask, &raw_opts, &p)?),
        per_voxel,
    )?;
    measure(
        "surface_iso",
        "marching cubes on the intensities, normals, LPS",
        &dataset,
        runs,
        || Ok(iso_surface(&volume, iso, &p)?),
        per_voxel,
    )?;
    let surface = mask_surface(&mask, &raw_opts, &p)?;
    let tris = surface.triangle_count() as f64;
    let per_tri = |m: &stratum_core::mesh::SurfaceMesh| {
        let mut v = shape(m);
        v["mtri_in"] = (tris / 1e6).into();
        v
    };
    // 20 Laplacian passes (10 Taubin lambda/mu pairs) against 20 windowed-sinc iterations.
    measure(
        "smooth",
        "Taubin, 10 lambda/mu pairs = 20 passes",
        &dataset,
        runs,
        || {
            let mut m = surface.clone();
            taubin_smooth(&mut m, 10, 0.5, -0.53);
            Ok(m)
        },
        per_tri,
    )?;
    let mut smoothed = surface.clone();
    taubin_smooth(&mut smoothed, 10, 0.5, -0.53);
    let spacing = volume.geometry.spacing;
    let max_error = 0.5 * spacing[0].min(spacing[1]).min(spacing[2]) as f32;
    measure(
        "decimate",
        "meshopt simplify to 10% (error <= half a voxel), closed-mesh checks",
        &dataset,
        runs,
        || {
            let mut d = smoothed.clone();
            d.decimate(0.1, max_error);
            Ok(d)
        },
        |d| {
            let mut v = per_tri(d);
            v["kept_fraction"] = (d.triangle_count() as f64 / tris).into();
            v["watertight"] = d.topology().is_watertight().into();
            v
        },
    )?;
    let dir = tempfile_dir()?;
    let stl = dir.join("bench.stl");
    let mut with_normals = smoothed.clone();
    with_normals.compute_normals();
    measure(
        "write_stl",
        "stl_io binary STL, atomic write",
        &dataset,
        runs,
        || {
            stratum_core::export::export(
                &stl,
                &[stratum_core::export::ExportSegment {
                    name: "bone",
                    colour: [241, 214, 145],
                    mesh: &with_normals,
                }],
            )?;
            Ok(std::fs::metadata(&stl)?.len() as f64 / 1e6)
        },
        |mb| serde_json::json!({"triangles": with_normals.triangle_count(), "file_mb": mb}),
    )?;
    drop((volume, mask, surface, smoothed, with_normals));
    let out = dir.join("pipeline.stl");
    measure(
        "pipeline",
        "stratum convert: load, threshold, largest, mesh (0.6 mm blur), Taubin 10, reduce 0.9, STL",
        &dataset,
        runs,
        || {
            let opts = stratum_core::convert::ConvertOptions {
                source: stratum_core::convert::SegmentSource::Threshold(iso, 1e9),
                largest: true,
                reduce: 0.9,
                ..Default::default()
            };
            Ok(stratum_core::convert::convert(path, &out, &opts, &p)?.0)
        },
        |r| serde_json::json!({"triangles": r.iter().map(|s| s.triangles).sum::<usize>()}),
    )?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(ExitCode::SUCCESS)
}

fn tempfile_dir() -> anyhow::Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("stratum-bench-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

/// The dataset name peers.py uses: the phantom folder (parent of dicom/).
fn dataset_name(path: &Path) -> String {
    path.canonicalize()
        .ok()
        .map(|p| {
            if p.ends_with("dicom") {
                p.parent().map(Path::to_path_buf).unwrap_or(p)
            } else {
                p
            }
        })
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default()
}
