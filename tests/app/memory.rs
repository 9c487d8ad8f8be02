//! A study too large for the memory budget is refused before loading, with
//! a message that says what it needs, what the limit is and what would fit.

use std::process::Command;

use stratum_core::synth::{SynthOptions, write_series};

fn stratum(args: &[&str], limit: &str) -> (bool, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_stratum"))
        .args(args)
        .env("STRATUM_MEMORY_LIMIT", limit)
        .output()
        .expect("run stratum");
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[test]
fn a_study_over_the_memory_limit_is_refused_with_what_would_fit() {
    let dir = tempfile::tempdir().unwrap();
    let scan = dir.path().join("ct");
    // 64 x 48 x 20 i16: 120 KiB of voxels, about 210 KiB with labels and meshes.
    write_series(&scan, &SynthOptions::default()).unwrap();
    let out = dir.path().join("bone.stl");
    let args = [
        "convert",
        scan.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--threshold",
        "150:3000",
    ];
    let (ok, s) = stratum(&args, "100K");
    assert!(!ok, "{s}");
    assert!(
        s.contains("the series (64 x 48 x 20 voxels) needs about"),
        "{s}"
    );
    assert!(s.contains("STRATUM_MEMORY_LIMIT sets is 100 KiB"), "{s}");
    assert!(s.contains("about 9 slices of this size would fit"), "{s}");
    assert!(!out.exists());
    let (ok, s) = stratum(&args, "64M");
    assert!(ok, "{s}");
    assert!(out.exists());
}
