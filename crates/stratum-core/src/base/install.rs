//! Where Stratum's data is found at run time: the data folder (AI models, the
//! demo study, the share page's scripts) and the ONNX Runtime library, looked
//! up beside the executable (a portable folder), in the install prefix and the
//! standard data folders (a package), then in the source tree (development),
//! so one binary runs from a package, a folder or a checkout alike.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::base::error::{CoreError, Result};

/// The AI models, one folder each (relative to the data folder).
pub const MODELS: &str = "models";
/// The demo study (relative to the data folder).
pub const DEMO: &str = "assets/demo";
/// The share page's vendored scripts (relative to the data folder).
pub const SHARE: &str = "assets/share";

/// The demo study's files in [`DEMO`]: the CT, its organ label map and the
/// label names.
pub const DEMO_CT: &str = "example_ct.nii.gz";
pub const DEMO_LABELS: &str = "example_seg_fast_force_split.nii.gz";
pub const DEMO_NAMES: &str = "labels_total_ct.tsv";

/// The share page's scripts in [`SHARE`].
pub const MODEL_VIEWER_JS: &str = "model-viewer.min.js";
pub const MESHOPT_DECODER_JS: &str = "meshopt_decoder.cjs";
/// AES-GCM for the live page where the browser withholds WebCrypto (plain
/// HTTP on a LAN address): @noble/ciphers, bundled.
pub const NOBLE_CIPHERS_JS: &str = "noble-ciphers-aes.js";

/// The ONNX Runtime release the `api-31` bindings need.
pub const ORT_VERSION: &str = "1.31.1";

/// The ONNX Runtime library's file name on this platform.
#[cfg(target_os = "windows")]
pub const ORT_LIBRARY: &str = "onnxruntime.dll";
#[cfg(target_os = "macos")]
pub const ORT_LIBRARY: &str = "libonnxruntime.1.31.1.dylib";
#[cfg(not(any(target_os = "windows", target_os = "macos")))]
pub const ORT_LIBRARY: &str = "libonnxruntime.so.1.31.1";

/// Why a place was looked at, in the order they are tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `$STRATUM_DATA` or `$ORT_DYLIB_PATH`: when set, the only place.
    Override,
    /// Beside the executable: a portable folder.
    BesideExe,
    /// `<exe>/../share/stratum` or `<exe>/../lib/stratum`: the prefix the
    /// executable is installed in (a package: /usr; or /usr/local, /opt/...).
    Prefix,
    /// The standard folders: `$XDG_DATA_HOME`, `$XDG_DATA_DIRS` (by default
    /// /usr/local/share, /usr/share); /usr/lib/stratum for the runtime.
    Standard,
    /// The source tree the binary was built from (development).
    SourceTree,
}

impl Origin {
    /// How the origin reads in `stratum doctor`.
    pub fn describe(self) -> &'static str {
        match self {
            Origin::Override => "set by the environment",
            Origin::BesideExe => "beside the executable: a portable folder",
            Origin::Prefix => "installed with the executable",
            Origin::Standard => "standard data folder",
            Origin::SourceTree => "the source tree: a development build",
        }
    }
}

/// One place looked at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    pub path: PathBuf,
    pub origin: Origin,
}

/// What the lookup reads from the process, gathered once so the order can be
/// tested with made-up values.
#[derive(Clone, Debug, Default)]
pub struct LookupEnv {
    /// `$STRATUM_DATA`.
    pub stratum_data: Option<PathBuf>,
    /// `$ORT_DYLIB_PATH`.
    pub ort_dylib_path: Option<PathBuf>,
    /// The running executable (symlinks resolved where the OS does).
    pub exe: Option<PathBuf>,
    /// `$XDG_DATA_HOME`, else `$HOME/.local/share`.
    pub xdg_data_home: Option<PathBuf>,
    /// `$XDG_DATA_DIRS` (`:`-separated), else /usr/local/share:/usr/share.
    pub xdg_data_dirs: Option<OsString>,
    /// The source tree; `None` where it is gone.
    pub source_tree: Option<PathBuf>,
    /// The executable runs from cargo's build folder: a development build,
    /// which prefers its source tree to an installed copy.
    pub dev_build: bool,
}

impl LookupEnv {
    /// This process's environment.
    pub fn current() -> Self {
        let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        let home_share = var("HOME").map(|h| PathBuf::from(h).join(".local/share"));
        let exe = std::env::current_exe().ok();
        // Cargo's profile folder (target/debug, target/release) holds its
        // `.fingerprint/`; test binaries run from its `deps/`.
        let dev_build = exe.as_deref().is_some_and(|e| {
            e.ancestors()
                .skip(1)
                .take(2)
                .any(|d| d.join(".fingerprint").is_dir())
        });
        LookupEnv {
            stratum_data: var("STRATUM_DATA").map(PathBuf::from),
            ort_dylib_path: var("ORT_DYLIB_PATH").map(PathBuf::from),
            exe,
            xdg_data_home: var("XDG_DATA_HOME").map(PathBuf::from).or(home_share),
            xdg_data_dirs: var("XDG_DATA_DIRS"),
            source_tree: source_tree(),
            dev_build,
        }
    }

    /// The source tree where it comes before the standard folders (a
    /// development build) and where it comes last.
    fn source_first(&self) -> Option<&Path> {
        self.source_tree.as_deref().filter(|_| self.dev_build)
    }

    fn source_last(&self) -> Option<&Path> {
        self.source_tree.as_deref().filter(|_| !self.dev_build)
    }

    fn exe_dir(&self) -> Option<&Path> {
        self.exe.as_deref().and_then(Path::parent)
    }
}

/// The checkout this binary was compiled from, if it is still there: the
/// one compile-time path, used last, for `cargo run` and the tests.
fn source_tree() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).ancestors().nth(2)?;
    root.join("Cargo.toml")
        .is_file()
        .then(|| root.to_path_buf())
}

/// Where a data folder is looked for, in order: beside the executable, the
/// install prefix, the standard folders, the source tree (a development
/// build, run from cargo's build folder, takes its source tree before the
/// standard folders, so an installed package does not shadow the checkout).
/// `$STRATUM_DATA`, when set, is the only place (a wrong value is reported,
/// not papered over).
pub fn data_candidates(env: &LookupEnv) -> Vec<Candidate> {
    let c = |path: PathBuf, origin| Candidate { path, origin };
    if let Some(d) = &env.stratum_data {
        return vec![c(d.clone(), Origin::Override)];
    }
    let mut out = Vec::new();
    if let Some(dir) = env.exe_dir() {
        out.push(c(dir.to_path_buf(), Origin::BesideExe));
        if let Some(prefix) = dir.parent() {
            out.push(c(prefix.join("share/stratum"), Origin::Prefix));
        }
    }
    if let Some(src) = env.source_first() {
        out.push(c(src.to_path_buf(), Origin::SourceTree));
    }
    for dir in standard_data_dirs(env) {
        out.push(c(dir.join("stratum"), Origin::Standard));
    }
    if let Some(src) = env.source_last() {
        out.push(c(src.to_path_buf(), Origin::SourceTree));
    }
    dedup(out)
}

/// XDG's data folders, the user's first (/usr/share is among the system's
/// unless `$XDG_DATA_DIRS` leaves it out; a package is found from the
/// executable either way). Not on Windows, where a program's data is beside it.
#[cfg(unix)]
fn standard_data_dirs(env: &LookupEnv) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = env.xdg_data_home.iter().cloned().collect();
    let system = env
        .xdg_data_dirs
        .clone()
        .unwrap_or_else(|| OsString::from("/usr/local/share:/usr/share"));
    // The XDG spec ignores relative entries.
    dirs.extend(std::env::split_paths(&system).filter(|p| p.is_absolute()));
    dirs
}

#[cfg(not(unix))]
fn standard_data_dirs(_env: &LookupEnv) -> Vec<PathBuf> {
    Vec::new()
}

fn dedup(list: Vec<Candidate>) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for c in list {
        if !out.iter().any(|o| o.path == c.path) {
            out.push(c);
        }
    }
    out
}

/// A folder that holds Stratum's data: `models/` or `assets/` in it (a bare
/// `bin/` or a build's `target/debug/` holds neither).
pub fn is_data_folder(dir: &Path) -> bool {
    dir.join(MODELS).is_dir() || dir.join("assets").is_dir()
}

/// The data folder found, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataDir {
    pub path: PathBuf,
    pub origin: Origin,
}

impl DataDir {
    pub fn models(&self) -> PathBuf {
        self.path.join(MODELS)
    }

    pub fn demo(&self) -> PathBuf {
        self.path.join(DEMO)
    }

    pub fn share(&self) -> PathBuf {
        self.path.join(SHARE)
    }

    /// The files a complete data folder holds that this one lacks (relative
    /// paths), for `stratum doctor`.
    pub fn missing(&self) -> Vec<String> {
        let mut need: Vec<String> = [DEMO_CT, DEMO_LABELS, DEMO_NAMES]
            .iter()
            .map(|f| format!("{DEMO}/{f}"))
            .collect();
        need.extend(
            [MODEL_VIEWER_JS, MESHOPT_DECODER_JS, NOBLE_CIPHERS_JS]
                .iter()
                .map(|f| format!("{SHARE}/{f}")),
        );
        need.push(MODELS.to_string());
        need.into_iter()
            .filter(|rel| !self.path.join(rel).exists())
            .collect()
    }

    /// A file of the data folder, or an error naming it and what to do.
    pub fn file(&self, rel: &str) -> Result<PathBuf> {
        let p = self.path.join(rel);
        if p.is_file() {
            Ok(p)
        } else {
            Err(CoreError::MissingData {
                file: rel.to_string(),
                folder: self.path.clone(),
                origin: self.origin.describe(),
            })
        }
    }
}

/// No data folder anywhere: the places tried, for the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoData {
    pub tried: Vec<Candidate>,
}

impl std::fmt::Display for NoData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let places: Vec<String> = self
            .tried
            .iter()
            .map(|c| c.path.display().to_string())
            .collect();
        if let [only] = self.tried.as_slice()
            && only.origin == Origin::Override
        {
            return write!(
                f,
                "STRATUM_DATA is set to {}, which holds no models/ or assets/ folder: point it at \
                 Stratum's data folder, or unset it",
                only.path.display()
            );
        }
        write!(
            f,
            "Stratum's data folder (models, demo study, share-page scripts) was not found; looked \
             in {}: reinstall Stratum, keep the models/ and assets/ folders beside the stratum \
             executable, or set STRATUM_DATA to the folder that holds them",
            places.join(", ")
        )
    }
}

/// The first data folder among [`data_candidates`].
pub fn locate_data(env: &LookupEnv) -> std::result::Result<DataDir, NoData> {
    let tried = data_candidates(env);
    tried
        .iter()
        .find(|c| is_data_folder(&c.path))
        .map(|c| DataDir {
            path: c.path.clone(),
            origin: c.origin,
        })
        .ok_or(NoData { tried })
}

static DATA: OnceLock<std::result::Result<DataDir, NoData>> = OnceLock::new();

/// This process's data folder, looked up once.
pub fn data_dir() -> Result<&'static DataDir> {
    DATA.get_or_init(|| locate_data(&LookupEnv::current()))
        .as_ref()
        .map_err(|e| CoreError::NoDataFolder(e.clone()))
}

/// A file of this process's data folder (`assets/demo/...`), or an error
/// that says what is missing and what to do.
pub fn data_file(rel: &str) -> Result<PathBuf> {
    data_dir()?.file(rel)
}

/// The demo study in the data folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DemoStudy {
    pub ct: PathBuf,
    pub labels: PathBuf,
    pub names: PathBuf,
}

/// The demo study's files, each checked to be there.
pub fn demo_study() -> Result<DemoStudy> {
    let f = |name: &str| data_file(&format!("{DEMO}/{name}"));
    Ok(DemoStudy {
        ct: f(DEMO_CT)?,
        labels: f(DEMO_LABELS)?,
        names: f(DEMO_NAMES)?,
    })
}

/// Where the ONNX Runtime library is looked for, in order: `$ORT_DYLIB_PATH`
/// alone when set; beside the executable (and its `lib/`); the install
/// prefix's `lib/stratum/`; /usr/lib/stratum; the source tree's `.ort/`
/// (where scripts/fetch-onnxruntime.sh puts it; before /usr/lib/stratum for
/// a development build, as in [`data_candidates`]).
pub fn ort_candidates(env: &LookupEnv) -> Vec<Candidate> {
    let c = |path: PathBuf, origin| Candidate { path, origin };
    if let Some(p) = &env.ort_dylib_path {
        return vec![c(p.clone(), Origin::Override)];
    }
    let mut out = Vec::new();
    if let Some(dir) = env.exe_dir() {
        out.push(c(dir.join(ORT_LIBRARY), Origin::BesideExe));
        out.push(c(dir.join("lib").join(ORT_LIBRARY), Origin::BesideExe));
        if let Some(prefix) = dir.parent() {
            out.push(c(
                prefix.join("lib/stratum").join(ORT_LIBRARY),
                Origin::Prefix,
            ));
        }
    }
    let fetched = |src: &Path| c(src.join(".ort").join(ORT_LIBRARY), Origin::SourceTree);
    out.extend(env.source_first().map(fetched));
    if cfg!(unix) {
        out.push(c(
            Path::new("/usr/lib/stratum").join(ORT_LIBRARY),
            Origin::Standard,
        ));
    }
    out.extend(env.source_last().map(fetched));
    dedup(out)
}

/// The first ONNX Runtime library among [`ort_candidates`] that exists.
pub fn locate_ort(env: &LookupEnv) -> std::result::Result<Candidate, Vec<Candidate>> {
    let tried = ort_candidates(env);
    tried
        .iter()
        .find(|c| c.path.is_file())
        .cloned()
        .ok_or(tried)
}
