//! The motion check's cost against the load it follows (issue 30: goal
//! under 10% of the load), measured in the same process on the same series:
//!
//!     cargo run --release -p stratum-core --example motion_bench -- DICOM_DIR [--runs N]
//!
//! Each run loads the series twice, in turn: plainly (scan + decode), and
//! as opening a study does, with the check (its profiles taken while the
//! slices are decoded, then the check itself). The check's cost is the
//! difference of the minima. Threads: RAYON_NUM_THREADS; `STRATUM_TRACE=FILE`
//! writes the stages' spans to a Chrome trace.

use std::path::PathBuf;
use std::time::Instant;

use stratum_core::base::progress::Progress;
use stratum_core::checks::motion::{DecodeProfiles, detect_motion_with};
use stratum_core::dicom::{SliceVisitor, Subset, load_series, load_series_visiting, scan};

/// CPU seconds of the process so far, all threads: on a shared machine
/// the wall time waits for a core, CPU time does not.
fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes one rusage into the buffer it is given,
    // which is zeroed (a valid rusage) before.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 * 1e-6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

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
    if let Some(trace) = stratum_core::base::trace::ChromeTrace::from_env() {
        use tracing_subscriber::prelude::*;
        tracing_subscriber::registry().with(trace).init();
    }
    let (mut plain, mut checked, mut check_only) = (Vec::new(), Vec::new(), Vec::new());
    let (mut plain_cpu, mut checked_cpu, mut check_cpu) = (Vec::new(), Vec::new(), Vec::new());
    let (mut findings, mut examined, mut dims) = (0, 0, (0, 0, 0));
    for _ in 0..runs {
        let progress = Progress::new();
        let (t, c) = (Instant::now(), cpu_seconds());
        let s = scan(&path, &progress)?;
        let series = s.largest().ok_or_else(|| anyhow::anyhow!("no series"))?;
        let loaded = load_series(series, &progress)?;
        plain.push(t.elapsed().as_secs_f64());
        plain_cpu.push(cpu_seconds() - c);
        dims = loaded.volume.dim();
        drop(loaded);

        let (t, c) = (Instant::now(), cpu_seconds());
        let s = scan(&path, &progress)?;
        let series = s.largest().ok_or_else(|| anyhow::anyhow!("no series"))?;
        let early = DecodeProfiles::for_modality(&series.modality);
        let visit = early.as_ref().map(|e| e as &dyn SliceVisitor<i16>);
        let loaded = load_series_visiting(series, &Subset::default(), visit, &progress)?;
        let (t_check, c_check) = (Instant::now(), cpu_seconds());
        let m = detect_motion_with(&loaded.volume, Some(&loaded.positions), early, &progress)?;
        check_only.push(t_check.elapsed().as_secs_f64());
        check_cpu.push(cpu_seconds() - c_check);
        checked.push(t.elapsed().as_secs_f64());
        checked_cpu.push(cpu_seconds() - c);
        findings = m.findings.len();
        examined = m.examined;
    }
    let threads = rayon::current_num_threads();
    println!(
        "{}x{}x{} voxels, {threads} threads, {runs} runs; min and median, wall s / CPU s",
        dims.2, dims.1, dims.0
    );
    let line = |what: &str, wall: Vec<f64>, cpu: Vec<f64>| {
        let ((w, wm), (c, cm)) = (stats(wall), stats(cpu));
        println!("{what:<34} min {w:.3} / {c:.3}, median {wm:.3} / {cm:.3}");
        (w, c)
    };
    let (pw, pc) = line("load (scan + decode):", plain, plain_cpu);
    let (cw, cc) = line("load with the motion check:", checked, checked_cpu);
    let (ow, oc) = line("  the check after decoding:", check_only, check_cpu);
    println!("({examined} jumps examined in 2D, {findings} findings)");
    println!(
        "motion check / load: wall {:.1}% (difference of the minima), {:.1}% (the part after decoding); CPU {:.1}%, {:.1}%",
        100.0 * (cw - pw) / pw,
        100.0 * ow / pw,
        100.0 * (cc - pc) / pc,
        100.0 * oc / pc
    );
    Ok(())
}
