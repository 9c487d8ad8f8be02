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

use stratum_core::base::progress::Progress;
use stratum_core::dicom::{load_series, scan};

/// The steps to time (`--steps`, as peers.py); all when not given.
static STEPS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();

fn main() -> anyhow::Result<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage =
        "usage: peers_bench load|mesh|convert-bone DICOM_DIR [--runs N] [--iso HU] [--steps a,b]";
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
    // STRATUM_TRACE=FILE: every stage's span in a Chrome trace (the profile of BENCHMARKS.md).
    if let Some(trace) = stratum_core::base::trace::ChromeTrace::from_env() {
        use tracing_subscriber::prelude::*;
        tracing_subscriber::registry().with(trace).init();
    }
    if let Some(i) = args.iter().position(|a| a == "--steps") {
        let steps = args
            .get(i + 1)
            .ok_or_else(|| anyhow::anyhow!("--steps needs a value"))?;
        let _ = STEPS.set(steps.split(',').map(str::to_string).collect());
    }
    match what.as_str() {
        "load" => load(path.as_ref(), runs),
        "mesh" => mesh(path.as_ref(), runs, option("--iso", 300.0)?),
        "convert-bone" => convert_bone(path.as_ref(), None),
        // The demo study's pipeline (its organs from the label map, meshed
        // and exported textured), e.g. for a trace: LABELS NAMES.tsv after the scan.
        "convert-labels" => convert_bone(
            path.as_ref(),
            Some((
                args.get(2)
                    .ok_or_else(|| anyhow::anyhow!("convert-labels SCAN LABELS NAMES"))?
                    .into(),
                args.get(3).map(Into::into),
            )),
        ),
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

/// CPU seconds (user + system) this process has used so far, to the microsecond.
fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one rusage into the buffer it is given,
    // which is zeroed and of that type; on failure it is left zeroed.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
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
    floors_of_load(path, runs)?;
    Ok(ExitCode::SUCCESS)
}

/// The physical floor of loading, on as many threads: every file of the
/// series read from the page cache into a buffer each thread reuses (what
/// `cat` of the files does), and a memcpy of the voxels into a fresh buffer
/// (the pages a volume must fault in and fill).
fn floors_of_load(path: &Path, runs: usize) -> anyhow::Result<()> {
    use rayon::prelude::*;
    use std::io::Read;
    let dataset = dataset_name(path);
    let p = Progress::new();
    let scan = scan(path, &p)?;
    let series = scan.largest().ok_or_else(|| anyhow::anyhow!("no series"))?;
    let files: Vec<std::path::PathBuf> = series.files.iter().map(|h| h.path.clone()).collect();
    let bytes: u64 = files
        .iter()
        .map(|f| std::fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    let volume = load_series(series, &p)?.volume;
    let voxels = volume.voxels.len() as f64;
    measure_as(
        "floor_read",
        "load",
        "read every file of the series from the page cache (cat), a buffer per thread",
        &dataset,
        runs,
        || {
            files.par_iter().try_for_each_init(Vec::new, |buf, f| {
                buf.clear();
                std::fs::File::open(f)?.read_to_end(buf)?;
                Ok::<_, std::io::Error>(())
            })?;
            Ok(())
        },
        |_| serde_json::json!({"file_mb": bytes as f64 / 1048576.0, "mvox": voxels / 1e6}),
    )?;
    let src: Vec<u8> = vec![1; volume.voxel_bytes() as usize];
    measure_as(
        "floor_memcpy",
        "load",
        "memcpy of the voxel bytes into a fresh buffer (2 MiB pages, as the volume)",
        &dataset,
        runs,
        || {
            let mut dst: Vec<u8> = stratum_core::base::pages::zeroed(src.len());
            let chunk = src.len().div_ceil(rayon::current_num_threads()).max(1);
            dst.par_chunks_mut(chunk)
                .zip(src.par_chunks(chunk))
                .for_each(|(d, s)| d.copy_from_slice(s));
            Ok(dst.len())
        },
        |_| serde_json::json!({"mvox": voxels / 1e6}),
    )
}

/// SHA-256 of the voxels in volume order, little endian, as make_phantom.py hashes its HU volume.
fn volume_sha256(v: &stratum_core::image::volume::Voxels) -> String {
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
    work: impl FnMut() -> anyhow::Result<R>,
    describe: impl Fn(&R) -> serde_json::Value,
) -> anyhow::Result<()> {
    measure_as("rust_app", step, impl_, dataset, runs, work, describe)
}

/// [`measure`] under another peer name: the physical floors ("floor_*").
fn measure_as<R>(
    peer: &str,
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
    // The least CPU time of a run: on a machine shared with other work the
    // wall time waits for the CPU, this does not (threads' CPU added up).
    let mut least_cpu = f64::INFINITY;
    let mut metrics = serde_json::Value::Null;
    for _ in 0..runs.max(1) {
        reset_peak_rss();
        let before = rss_mb().0;
        let cpu0 = cpu_seconds();
        let t0 = Instant::now();
        let r = work()?;
        let dt = t0.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        least_cpu = least_cpu.min(cpu);
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
        "kind": "result", "step": step, "peer": peer, "threads": rayon::current_num_threads(),
        "impl": impl_, "dataset": dataset, "runs": times.len(), "min_s": min_s, "median_s": median_s,
        "times_s": times, "peak_rss_mb": peak, "base_rss_mb": base, "delta_rss_mb": peak - base,
        "parallelism": parallelism, "cpu_s": least_cpu, "ok": true,
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
    // The floor beside the STL write, when that step ran.
    let stl_bytes = std::fs::read(&stl).unwrap_or_default();
    let floor = dir.join("floor.stl");
    if !stl_bytes.is_empty() {
        measure_as(
            "floor_write",
            "write_stl",
            "the STL's bytes written from memory to a file in the same folder",
            &dataset,
            runs,
            || {
                std::fs::write(&floor, &stl_bytes)?;
                Ok(stl_bytes.len() as f64 / 1e6)
            },
            |mb| serde_json::json!({"file_mb": mb}),
        )?;
    }
    drop((volume, mask, surface, smoothed, with_normals, stl_bytes));
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

/// `stratum convert DICOM_DIR -o bone.stl --preset bone` (the same core
/// call, the CLI's defaults), once in this fresh process: its peak RSS
/// (VmHWM, the whole process) against the scan's voxel bytes.
fn convert_bone(
    path: &Path,
    labels: Option<(std::path::PathBuf, Option<std::path::PathBuf>)>,
) -> anyhow::Result<ExitCode> {
    // As `stratum convert` does before it starts.
    stratum_core::base::memory::return_large_frees();
    let dir = tempfile_dir()?;
    let (out, source) = match labels {
        None => (
            dir.join("bone.stl"),
            stratum_core::convert::SegmentSource::Preset(stratum_core::segment::Preset::Bone),
        ),
        Some((path, names)) => (
            dir.join("demo.obj"),
            stratum_core::convert::SegmentSource::Labels { path, names },
        ),
    };
    let opts = stratum_core::convert::ConvertOptions {
        source,
        ..Default::default()
    };
    let t0 = Instant::now();
    let (results, _) = stratum_core::convert::convert(path, &out, &opts, &Progress::new())?;
    let seconds = t0.elapsed().as_secs_f64();
    let peak = rss_mb().1;
    let scan_opened =
        stratum_core::read::open::open_volume(path, &Default::default(), &Progress::new())?;
    let voxel_mb = scan_opened.volume.voxel_bytes() as f64 / 1048576.0;
    println!(
        "{}",
        serde_json::json!({
            "kind": "convert", "segments": results.len(), "dataset": dataset_name(path), "threads": rayon::current_num_threads(),
            "seconds": seconds, "peak_rss_mb": peak, "voxel_mb": voxel_mb, "peak_over_voxels": peak / voxel_mb,
            "triangles": results.iter().map(|r| r.triangles).sum::<usize>(),
            "closed": results.iter().all(|r| r.watertight),
        })
    );
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
