//! The trace file of STRATUM_TRACE: the pipeline's stages as Chrome
//! trace-event spans, readable while it is still being written.

use stratum_core::base::progress::Progress;
use stratum_core::base::trace::ChromeTrace;
use stratum_core::dicom::synth::{SynthOptions, write_series};
use stratum_core::dicom::{load_series, scan};
use stratum_core::mesh::{SurfaceOptions, mask_surface};
use stratum_core::segment::threshold_mask;
use tracing_subscriber::prelude::*;

/// The events of a trace file, read as Chrome does: the closing bracket may be missing.
fn events(path: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let body = text.trim_end().trim_end_matches(',');
    serde_json::from_str::<Vec<serde_json::Value>>(&format!("{body}]")).unwrap()
}

/// Set in the child process that writes the trace (see below).
const CHILD: &str = "STRATUM_TEST_TRACE_CHILD";

/// The traced work, in a process of its own (this test binary, run on
/// this one test): tracing caches per call site which subscribers want a
/// span, and other tests' threads registering the same call sites while a
/// scoped subscriber is being set up made spans go missing. Here the
/// trace is the process's global subscriber, as in `stratum`.
#[test]
fn traced_work_in_a_child_process() {
    let Some(dir) = std::env::var_os(CHILD) else {
        return; // only the child does the work
    };
    let dir = std::path::PathBuf::from(dir);
    let series_dir = dir.join("series");
    std::fs::create_dir(&series_dir).unwrap();
    write_series(&series_dir, &SynthOptions::default()).unwrap();
    tracing_subscriber::registry()
        .with(ChromeTrace::create(&dir.join("trace.json")).unwrap())
        .init();
    let p = Progress::new();
    let scan = scan(&series_dir, &p).unwrap();
    let volume = load_series(scan.largest().unwrap(), &p).unwrap().volume;
    let mask = threshold_mask(&volume, 0.0, f64::INFINITY);
    let opts = SurfaceOptions {
        keep_ratio: 0.5,
        ..Default::default()
    };
    mask_surface(&mask, &opts, &p).unwrap();
}

#[test]
fn a_load_and_mesh_leave_nested_stage_spans_in_the_trace_file() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "trace::traced_work_in_a_child_process",
            "--test-threads",
            "1",
        ])
        .env(CHILD, dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let file = dir.path().join("trace.json");
    let events = events(&file);
    let spans: Vec<&serde_json::Value> = events.iter().filter(|e| e["ph"] == "X").collect();
    let named = |n: &str| spans.iter().find(|e| e["name"] == n).copied();
    for stage in [
        "scan",
        "load_series",
        "threshold_mask",
        "mask_surface",
        "decimate",
        "topology",
        "compute_normals",
    ] {
        assert!(named(stage).is_some(), "no {stage} span in {events:#?}");
    }
    for s in &spans {
        assert!(
            s["dur"].as_f64().unwrap() >= 0.0 && s["ts"].as_f64().unwrap() >= 0.0,
            "{s}"
        );
        assert!(
            s["cat"].as_str().unwrap().starts_with("stratum_core"),
            "{s}"
        );
    }
    // decimate runs inside mask_surface, on the same thread: Chrome nests it there.
    let (outer, inner) = (named("mask_surface").unwrap(), named("decimate").unwrap());
    let end = |e: &serde_json::Value| e["ts"].as_f64().unwrap() + e["dur"].as_f64().unwrap();
    assert_eq!(outer["tid"], inner["tid"]);
    assert!(inner["ts"].as_f64() >= outer["ts"].as_f64() && end(inner) <= end(outer) + 1.0);
    // A span's fields are its arguments.
    assert!(inner["args"]["triangles"].as_u64().unwrap() > 0, "{inner}");
    // Every thread that wrote a span is named.
    for s in &spans {
        assert!(
            events
                .iter()
                .any(|e| e["ph"] == "M" && e["tid"] == s["tid"]),
            "thread {} has no name",
            s["tid"]
        );
    }
}

#[test]
fn a_trace_file_that_cannot_be_created_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    assert!(ChromeTrace::create(&dir.path().join("no/such/folder/trace.json")).is_err());
}
