//! A study too large for the memory budget is refused before loading, with
//! a message that says what it needs, what the limit is and what would fit,
//! and what it offers (a range of slices, a downsampled copy) then opens.

use std::process::Command;

use stratum_core::dicom::synth::{SynthOptions, write_series};

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
    assert!(s.contains("(--slices 1-9)"), "{s}");
    assert!(s.contains("(--downsample 2)"), "{s}");
    assert!(!out.exists());
    // What the refusal offers does fit, under the same limit.
    for extra in [["--slices", "6-14"], ["--downsample", "2"]] {
        let (ok, s) = stratum(&[&args[..], &extra[..]].concat(), "100K");
        assert!(ok, "{extra:?}: {s}");
        assert!(out.exists(), "{extra:?}");
        std::fs::remove_file(&out).unwrap();
    }
    let (ok, s) = stratum(&args, "64M");
    assert!(ok, "{s}");
    assert!(out.exists());
}

/// The app, under Xvfb, with a series over its memory limit: instead of an
/// error it asks which part to open (the log says what it offers, the
/// screenshot shows the dialog); opened with the `--downsample 3` it offers
/// under the same limit, the study loads. The app counts its textures (3
/// bytes a voxel) on top of the core's estimate, so it offers less than the CLI.
#[test]
fn the_app_offers_what_fits_of_a_study_too_large_for_its_memory() {
    if !crate::window::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let scan = dir.path().join("ct");
    write_series(&scan, &SynthOptions::default()).unwrap();
    let run = |name: &str, extra: &[&str]| {
        let shot = dir.path().join(name);
        let (_, log) = crate::window::run_app((1100, 800), dir.path(), |c| {
            c.arg(&scan)
                .arg("--screenshot")
                .arg(&shot)
                .args(["--size", "1000x700", "--render", "surfaces"])
                .args(extra)
                .env("STRATUM_MEMORY_LIMIT", "100K")
                .env("RUST_LOG", "info");
        });
        (image::open(&shot).expect("a screenshot").to_rgba8(), log)
    };
    let (img, log) = run("offer.png", &[]);
    assert!(
        log.contains("offering 5 of 20 slices, downsample Some(3)"),
        "{log}"
    );
    assert!(!log.contains("opened "), "{log}");
    if let Ok(keep) = std::env::var("STRATUM_KEEP_SCREENSHOT") {
        img.save(keep).unwrap();
    }
    let (_, log) = run("third.png", &["--downsample", "3"]);
    assert!(
        log.contains("opened ") && log.contains("(6, 16, 21) voxels"),
        "{log}"
    );
}
