//! The one ONNX Runtime environment of the process, loaded on first use from
//! the shared library (never linked): a missing or too-old runtime is an
//! error that says what to do, and everything else in Stratum keeps working.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

use crate::error::{CoreError, Result};

/// The ONNX Runtime release the `api-31` bindings need.
pub const ORT_VERSION: &str = "1.31.1";
const LIB_NAME: &str = "libonnxruntime.so.1.31.1";

static ENV: OnceLock<std::result::Result<Environment, String>> = OnceLock::new();

/// Where the runtime library is looked for, in order: `$ORT_DYLIB_PATH`,
/// beside the executable, `.ort/` in the working directory, and `.ort/` in the
/// source tree (where scripts/fetch-onnxruntime.sh puts it).
pub fn library_candidates() -> Vec<PathBuf> {
    let mut c = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        c.push(PathBuf::from(p));
    }
    if let Ok(exe) = std::env::current_exe()
        && let Some(dir) = exe.parent()
    {
        c.push(dir.join(LIB_NAME));
    }
    c.push(Path::new(".ort").join(LIB_NAME));
    c.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../.ort")
            .join(LIB_NAME),
    );
    c
}

fn missing_runtime(detail: &str) -> String {
    format!(
        "AI segmentation needs ONNX Runtime {ORT_VERSION}+ ({detail}): run scripts/fetch-onnxruntime.sh, \
         or set ORT_DYLIB_PATH to its libonnxruntime.so; everything else works without it"
    )
}

/// The process-wide environment, created on first call. Only one may exist
/// per process, so it lives in a `OnceLock`; a failure is remembered too.
pub fn environment() -> Result<&'static Environment> {
    let env = ENV.get_or_init(|| {
        let Some(path) = library_candidates().into_iter().find(|p| p.is_file()) else {
            return Err(missing_runtime("library not found"));
        };
        let builder = ort::init_from(&path)
            .map_err(|e| missing_runtime(&format!("{}: {e}", path.display())))?;
        builder
            .with_name("stratum")
            .with_telemetry(false)
            .build()
            .map_err(|e| missing_runtime(&e.to_string()))
    });
    env.as_ref().map_err(|e| CoreError::Invalid(e.clone()))
}

/// True when the runtime loads (for the UI: grey out "Run" otherwise).
pub fn available() -> std::result::Result<(), String> {
    environment().map(|_| ()).map_err(|e| e.to_string())
}

/// Threads for one inference: all cores but one, so the UI and the rest of
/// the pipeline stay responsive (at least one).
pub fn inference_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .saturating_sub(1)
        .max(1)
}

/// Opens an ONNX model with spinning threads off (they would burn a core
/// while the UI waits) and full graph optimisation.
#[tracing::instrument(level = "info", skip_all)]
pub fn open_session(model: &Path, threads: usize) -> Result<Session> {
    let env = environment()?;
    let err = |e: ort::Error| CoreError::Invalid(format!("{}: {e}", model.display()));
    let mut builder = Session::builder(env)
        .map_err(err)?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| err(e.into()))?
        .with_intra_threads(threads.max(1))
        .map_err(|e| err(e.into()))?
        .with_intra_op_spinning(false)
        .map_err(|e| err(e.into()))?;
    builder.commit_from_file(model).map_err(err)
}
