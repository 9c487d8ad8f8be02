//! What a test does when a tool it checks with is missing (a program, a
//! Python module, a permission): under CI (`CI=true` or
//! `STRATUM_REQUIRE_CHECKERS=1`, which `.ci/run` sets) it fails, naming what
//! is missing and how to install it; elsewhere it skips, visibly: a SKIP
//! line, and a line in `$STRATUM_SKIP_LOG` that `scripts/test.sh` lists and
//! counts as skipped (not passed) at the end of the run.
//!
//! Shared by both test binaries (`#[path]`-included by tests/app and the
//! core's tests/core), so the rule is written once.

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;

/// True where a missing checker must fail the test (CI).
pub fn required() -> bool {
    let set = |k: &str| {
        std::env::var(k)
            .map(|v| !v.is_empty() && v != "0" && !v.eq_ignore_ascii_case("false"))
            .unwrap_or(false)
    };
    set("CI") || set("STRATUM_REQUIRE_CHECKERS")
}

/// The check `what` cannot run here: fails under CI, else records a skip.
/// The caller returns right after (the test checked nothing).
#[track_caller]
pub fn skip(what: &str, install: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    let line = format!("{test}: {what} (install: {install})");
    if required() {
        panic!("cannot check under CI: {line}");
    }
    eprintln!("SKIP: {line}");
    if let Some(log) = std::env::var_os("STRATUM_SKIP_LOG") {
        // One short line per skip; append is atomic enough for lines this size.
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// `program`'s path on PATH, or `None` after [`skip`] (which fails under CI).
#[track_caller]
pub fn program(program: &str, checks: &str, install: &str) -> Option<PathBuf> {
    let found = find_program(program);
    if found.is_none() {
        skip(
            &format!("{program} is not installed, so {checks} is not checked"),
            install,
        );
    }
    found
}

/// `program`'s path on PATH (no skip).
pub fn find_program(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// Whether `python3` imports every module, or `false` after [`skip`].
#[track_caller]
pub fn python_modules(modules: &[&str], checks: &str, install: &str) -> bool {
    let Some(python) = find_program("python3") else {
        skip(
            &format!("python3 is not installed, so {checks} is not checked"),
            install,
        );
        return false;
    };
    let code = modules
        .iter()
        .map(|m| format!("import {m}"))
        .collect::<Vec<_>>()
        .join("; ");
    let ok = std::process::Command::new(python)
        .args(["-c", &code])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        skip(
            &format!(
                "the Python module(s) {} cannot be imported, so {checks} is not checked",
                modules.join(", ")
            ),
            install,
        );
    }
    ok
}
