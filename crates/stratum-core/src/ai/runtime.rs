//! The one ONNX Runtime environment of the process, loaded on first use from
//! the shared library (never linked): a missing or too-old runtime is an
//! error that says what to do, and everything else in Stratum keeps working.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;

use crate::base::error::{CoreError, Result};
use crate::base::install::{LookupEnv, locate_ort, ort_candidates};

/// The ONNX Runtime release the `api-31` bindings need.
pub use crate::base::install::ORT_VERSION;

/// The environment and the library it was loaded from; a failure is kept as
/// its message.
static ENV: OnceLock<std::result::Result<(Environment, PathBuf), String>> = OnceLock::new();

/// Where the runtime library is looked for, in order (see
/// [`crate::base::install::ort_candidates`]).
pub fn library_candidates() -> Vec<PathBuf> {
    ort_candidates(&LookupEnv::current())
        .into_iter()
        .map(|c| c.path)
        .collect()
}

/// What went wrong loading the runtime, kept for [`CoreError::NoRuntime`]
/// (which says what to do).
fn missing_runtime(detail: &str) -> String {
    detail.to_string()
}

/// The process-wide environment, created on first call. Only one may exist
/// per process, so it lives in a `OnceLock`; a failure is remembered too.
pub fn environment() -> Result<&'static Environment> {
    loaded().map(|(env, _)| env)
}

/// The library the runtime was loaded from (loading it on first call).
pub fn library() -> Result<&'static Path> {
    loaded().map(|(_, path)| path.as_path())
}

/// ONNX Runtime's own build line (`git-branch=rel-1.31.1, ...`) once loaded.
pub fn build_info() -> Option<&'static str> {
    loaded().ok().map(|_| ort::info())
}

fn loaded() -> Result<&'static (Environment, PathBuf)> {
    let env = ENV.get_or_init(|| {
        let path = match locate_ort(&LookupEnv::current()) {
            Ok(found) => found.path,
            Err(tried) => {
                let places: Vec<String> =
                    tried.iter().map(|c| c.path.display().to_string()).collect();
                return Err(missing_runtime(&format!(
                    "not found in {}",
                    places.join(", ")
                )));
            }
        };
        let builder = ort::init_from(&path)
            .map_err(|e| missing_runtime(&format!("{}: {e}", path.display())))?;
        let env = builder
            .with_name("stratum")
            .with_telemetry(false)
            .build()
            .map_err(|e| missing_runtime(&e.to_string()))?;
        Ok((env, path))
    });
    env.as_ref().map_err(|detail| CoreError::NoRuntime {
        detail: detail.clone(),
    })
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
    let err = |e: ort::Error| CoreError::ModelOpen {
        path: model.to_path_buf(),
        reason: e.to_string(),
    };
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
