//! Helpers the fuzz targets share: a scratch folder per process, and the
//! split of one fuzz input into several files.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Separator between the files of a multi-file input (also in the
/// dictionaries, so the fuzzer learns to insert it).
pub const FILE_SEPARATOR: &[u8] = b"--STRATUM-FUZZ-FILE--";

/// A scratch folder for this process, removed with it (libFuzzer runs one
/// input at a time per process, so targets reuse fixed names inside it).
pub fn scratch() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        // /dev/shm keeps the per-input writes off the disk when it exists.
        let base = Path::new("/dev/shm");
        if base.is_dir() {
            tempfile::Builder::new()
                .prefix("stratum-fuzz")
                .tempdir_in(base)
        } else {
            tempfile::tempdir()
        }
        .expect("a scratch folder")
    })
    .path()
}

/// Writes `bytes` to `name` inside the scratch folder and returns its path.
pub fn write_scratch(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch().join(name);
    std::fs::write(&path, bytes).expect("scratch write");
    path
}

/// Splits `data` at each [`FILE_SEPARATOR`] into at most `max` parts (the
/// last part keeps any further separators).
pub fn split_files(data: &[u8], max: usize) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while parts.len() + 1 < max {
        match rest
            .windows(FILE_SEPARATOR.len())
            .position(|w| w == FILE_SEPARATOR)
        {
            Some(i) => {
                parts.push(&rest[..i]);
                rest = &rest[i + FILE_SEPARATOR.len()..];
            }
            None => break,
        }
    }
    parts.push(rest);
    parts
}

/// Empties (or creates) a folder of the scratch area.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = scratch().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// Memory budget the targets run under: the loaders must refuse anything
/// larger before allocating it (libFuzzer's -malloc_limit_mb, set to 2048
/// by scripts/fuzz.sh, turns a bigger allocation into a crash report).
/// Small enough that what it lets through stays well inside the 10 s an
/// input may take: under the sanitizer a resample fills about 4 M voxels
/// a second on one core, and 64 MiB holds a grid of at most about 18 M
/// (768 MiB let a damaged folder's grid of 77 M voxels through, 20 s).
pub const FUZZ_MEMORY_LIMIT: &str = "64M";

/// Called once before the first input (no other thread runs yet).
///
/// libfuzzer-sys installs a panic hook that aborts before unwinding; it is
/// replaced by one that only prints, so a panic the core catches at a codec
/// boundary ([`stratum_core::base::guard`]) is the handled error it is in the app,
/// while any other panic still unwinds to libfuzzer-sys, which aborts and
/// reports the input as a crash.
pub fn init() {
    std::panic::set_hook(Box::new(|info| eprintln!("panic: {info}")));
    if std::env::var_os(stratum_core::base::memory::MEMORY_LIMIT_ENV).is_none() {
        // SAFETY: libFuzzer calls the init block once, before any input, when
        // the process has no other threads.
        unsafe { std::env::set_var(stratum_core::base::memory::MEMORY_LIMIT_ENV, FUZZ_MEMORY_LIMIT) };
    }
}
