//! The nnU-Net fixture both test binaries use: an nnU-Net v2 model folder
//! with random weights and nnU-Net's own predictions on two small scans,
//! made by tests/support/nnunet_fixture.py in the Python environment of
//! scripts/nnunet-env.sh (nnunetv2 + CPU PyTorch), once per fixture script
//! version, under the cargo target's tmp folder.
//!
//! `#[path]`-included beside `checks` (it uses `crate::checks`).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    let mut d = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    while !d.join("scripts/nnunet-env.sh").is_file() {
        if !d.pop() {
            break;
        }
    }
    d
}

/// The environment's python: `$STRATUM_NNUNET_PYTHON` (scripts/test.sh
/// sets it), else the one scripts/nnunet-env.sh already built.
fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("STRATUM_NNUNET_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let out = Command::new("bash")
        .arg(repo().join("scripts/nnunet-env.sh"))
        .arg("--cached")
        .output()
        .ok()?;
    let line = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()?
        .trim()
        .to_string();
    (out.status.success() && !line.is_empty()).then(|| PathBuf::from(line))
}

/// The fixture folder, or `None` after `checks::skip` (a failure under CI)
/// when nnU-Net's environment is not there. Panics when the script fails.
#[track_caller]
pub fn fixture() -> Option<PathBuf> {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let Some(python) = python() else {
        crate::checks::skip(
            "nnU-Net's own predictor (nnunetv2 with CPU PyTorch) is not installed, so the nnU-Net import is not compared with it",
            "scripts/nnunet-env.sh (about 4.5 minutes and 3 GB of downloads, cached)",
        );
        return None;
    };
    match DIR.get_or_init(|| make(&python)) {
        Ok(d) => Some(d.clone()),
        Err(e) => panic!("{e}"),
    }
}

fn make(python: &Path) -> Result<PathBuf, String> {
    let script = repo().join("tests/support/nnunet_fixture.py");
    let text = std::fs::read(&script).map_err(|e| format!("{}: {e}", script.display()))?;
    let hash = text.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    });
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let dest = root.join(format!("nnunet-fixture-{hash:016x}"));
    if dest.join("done").is_file() {
        return Ok(dest);
    }
    // Made in a folder of its own, renamed into place: two test binaries
    // racing both make one, the second rename loses and uses the first's.
    let work = root.join(format!("nnunet-fixture-{hash:016x}.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let mut child = Command::new(python)
        .arg(&script)
        .arg(&work)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    // The fixture takes about a minute; ten is a hang.
    let limit = Duration::from_secs(600);
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "tests/support/nnunet_fixture.py ran past {} s and was stopped",
                    limit.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(200)),
            Err(e) => return Err(e.to_string()),
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    if !out.status.success() || !work.join("done").is_file() {
        return Err(format!(
            "tests/support/nnunet_fixture.py failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    if std::fs::rename(&work, &dest).is_err() {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(dest)
}

/// The trained-model folder inside the fixture.
pub fn model(fixture: &Path) -> PathBuf {
    fixture.join("model/Dataset990_StratumTest/nnUNetTrainer__nnUNetPlans__3d_fullres")
}

/// A copy of `src` (a folder tree) at `dst`, for damaging.
pub fn copy_tree(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for e in std::fs::read_dir(src).unwrap() {
        let e = e.unwrap();
        let to = dst.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &to);
        } else {
            std::fs::copy(e.path(), &to).unwrap();
        }
    }
}
