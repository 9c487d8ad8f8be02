//! `stratum doctor` and `stratum --version`: which data folder, ONNX Runtime,
//! OpenXR runtime and GPU this installation found, and what is missing and
//! what to do about it, in plain words (what a support person asks first).
//! A missing part is reported, never an error: the command exits 0.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use stratum_core::base::install::{self, DataDir, LookupEnv};

/// One part of the installation: a line for `--version`, the details for
/// `doctor`, and, when it is missing, what that costs and what to do.
struct Part {
    label: &'static str,
    summary: String,
    details: Vec<String>,
    missing: Option<String>,
}

/// `stratum --version`: the version and one line per part. The OpenXR
/// runtime is read from its manifest only (starting it can start SteamVR).
pub fn version() -> ExitCode {
    let parts = [data(), ort(), xr(false), gpu(false)];
    println!("stratum {}", env!("CARGO_PKG_VERSION"));
    for p in &parts {
        println!("{:<16}{}", format!("{}:", p.label), p.summary);
    }
    let missing: Vec<&str> = parts
        .iter()
        .filter(|p| p.missing.is_some())
        .map(|p| p.label)
        .collect();
    if !missing.is_empty() {
        println!(
            "missing: {} (`stratum doctor` says what that means and what to do)",
            missing.join(", ")
        );
    }
    ExitCode::SUCCESS
}

/// `stratum doctor`: every part with the places looked at, then what is
/// missing. Exit code 0 whatever is missing.
pub(super) fn doctor_cmd() -> anyhow::Result<ExitCode> {
    println!(
        "Stratum {} ({} {})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    if let Ok(exe) = std::env::current_exe() {
        println!("  executable      {}", exe.display());
    }
    let parts = [data(), ort(), xr(true), gpu(true)];
    for p in &parts {
        println!();
        println!("{:<18}{}", p.label, p.summary);
        for d in &p.details {
            println!("  {d}");
        }
    }
    println!();
    let missing: Vec<&Part> = parts.iter().filter(|p| p.missing.is_some()).collect();
    if missing.is_empty() {
        println!("Nothing is missing.");
    } else {
        println!("Missing:");
        for p in missing {
            println!(
                "- {}: {}",
                p.label,
                p.missing.as_deref().unwrap_or_default()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn data() -> Part {
    let env = LookupEnv::current();
    let found = install::locate_data(&env);
    let looked: Vec<String> = install::data_candidates(&env)
        .iter()
        .map(|c| {
            let state = if found.as_ref().is_ok_and(|d| d.path == c.path) {
                "used"
            } else if install::is_data_folder(&c.path) {
                "data, not used"
            } else {
                "nothing"
            };
            format!("{} ({state})", c.path.display())
        })
        .collect();
    match found {
        Ok(dir) => data_found(&dir, looked),
        Err(e) => Part {
            label: "Data folder",
            summary: "not found".into(),
            details: vec![format!("looked in: {}", looked.join(", "))],
            missing: Some(format!("no AI models, no demo study, no share pages. {e}")),
        },
    }
}

fn data_found(dir: &DataDir, looked: Vec<String>) -> Part {
    let models_dir = stratum_core::ai::models_dir();
    let models: Vec<String> = stratum_core::ai::list_models(&models_dir)
        .into_iter()
        .map(|m| match m {
            Ok(info) => info.manifest.name,
            Err(e) => format!("(not usable: {e})"),
        })
        .collect();
    let absent = dir.missing();
    let mut details = vec![
        format!(
            "models          {} (in {})",
            if models.is_empty() {
                "none".to_string()
            } else {
                models.join(", ")
            },
            models_dir.display()
        ),
        format!(
            "demo study      {}",
            if absent.iter().any(|a| a.starts_with(install::DEMO)) {
                "missing"
            } else {
                "found"
            }
        ),
        format!(
            "share page      {}",
            if absent.iter().any(|a| a.starts_with(install::SHARE)) {
                "missing"
            } else {
                "found"
            }
        ),
    ];
    details.push(format!("looked in: {}", looked.join(", ")));
    let mut lacks = absent.clone();
    if models.is_empty() && !lacks.iter().any(|a| a == install::MODELS) {
        lacks.push(format!("{} (no model in it)", install::MODELS));
    }
    Part {
        label: "Data folder",
        summary: format!("{} ({})", dir.path.display(), dir.origin.describe()),
        details,
        missing: (!lacks.is_empty()).then(|| {
            format!(
                "{} lacks {}: reinstall Stratum, or set STRATUM_DATA to a complete data folder",
                dir.path.display(),
                lacks.join(", ")
            )
        }),
    }
}

fn ort() -> Part {
    let env = LookupEnv::current();
    let looked: Vec<String> = install::ort_candidates(&env)
        .iter()
        .map(|c| c.path.display().to_string())
        .collect();
    let details = vec![format!("looked in: {}", looked.join(", "))];
    match install::locate_ort(&env) {
        Err(_) => Part {
            label: "ONNX Runtime",
            summary: "not found".into(),
            details,
            missing: Some(format!(
                "AI segmentation is off; everything else works. Reinstall Stratum (its package \
                 and folder ship ONNX Runtime), put {} beside the stratum executable or set \
                 ORT_DYLIB_PATH to it; from source, run scripts/fetch-onnxruntime.sh",
                install::ORT_LIBRARY
            )),
        },
        Ok(found) => match stratum_core::ai::runtime::library() {
            Ok(path) => {
                let version = stratum_core::ai::runtime::build_info()
                    .and_then(|info| info.split("git-branch=rel-").nth(1))
                    .and_then(|v| v.split([',', ' ']).next())
                    .unwrap_or(install::ORT_VERSION);
                Part {
                    label: "ONNX Runtime",
                    summary: format!(
                        "{version}, {} ({})",
                        path.display(),
                        found.origin.describe()
                    ),
                    details,
                    missing: None,
                }
            }
            Err(e) => Part {
                label: "ONNX Runtime",
                summary: format!("{} does not load", found.path.display()),
                details,
                missing: Some(format!(
                    "AI segmentation is off; everything else works. {e}"
                )),
            },
        },
    }
}

/// The active OpenXR runtime's manifest, as the loader finds it, or why
/// there is none.
fn xr_manifest() -> Result<(PathBuf, &'static str), String> {
    if let Some(p) = std::env::var_os("XR_RUNTIME_JSON").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok((p, "XR_RUNTIME_JSON"))
        } else {
            Err(format!(
                "XR_RUNTIME_JSON is set to {}, which does not exist",
                p.display()
            ))
        };
    }
    manifest_in_config_dirs()
}

/// Linux and the BSDs: `openxr/1/active_runtime[.<arch>].json` in
/// `$XDG_CONFIG_HOME`, `$XDG_CONFIG_DIRS`, /etc (the loader's order).
#[cfg(all(unix, not(target_os = "macos"), not(target_os = "android")))]
fn manifest_in_config_dirs() -> Result<(PathBuf, &'static str), String> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let mut dirs: Vec<PathBuf> = var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config")))
        .into_iter()
        .collect();
    dirs.extend(std::env::split_paths(
        &var("XDG_CONFIG_DIRS").unwrap_or_else(|| "/etc/xdg".into()),
    ));
    dirs.push(PathBuf::from("/etc"));
    // The loader's XR_ARCH_ABI names.
    let arch = match std::env::consts::ARCH {
        "x86" => Some("i686"),
        "x86_64" => Some("x86_64"),
        "aarch64" => Some("aarch64"),
        _ => None,
    };
    let names: Vec<String> = arch
        .map(|a| format!("active_runtime.{a}.json"))
        .into_iter()
        .chain(["active_runtime.json".to_string()])
        .collect();
    for d in &dirs {
        for n in &names {
            let p = d.join("openxr/1").join(n);
            if p.is_file() {
                return Ok((p, "active runtime"));
            }
        }
    }
    let looked: Vec<String> = dirs
        .iter()
        .map(|d| d.join("openxr/1").display().to_string())
        .collect();
    Err(format!("no active_runtime.json in {}", looked.join(", ")))
}

/// Windows keeps the active runtime in the registry
/// (HKLM\SOFTWARE\Khronos\OpenXR\1\ActiveRuntime); macOS has none.
#[cfg(not(all(unix, not(target_os = "macos"), not(target_os = "android"))))]
fn manifest_in_config_dirs() -> Result<(PathBuf, &'static str), String> {
    Err("the active runtime is not read from files on this system; the loader is asked".into())
}

/// The runtime's name and library from its manifest (both optional in
/// practice; `name` is in the spec since OpenXR 1.0.18).
fn read_manifest(path: &Path) -> (Option<String>, Option<String>) {
    let Ok(text) = std::fs::read_to_string(path) else {
        return (None, None);
    };
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return (None, None);
    };
    let field = |k: &str| json["runtime"][k].as_str().map(str::to_string);
    (field("name"), field("library_path"))
}

/// Where the active runtime is a file the loader reads (Linux, the BSDs),
/// no file means no runtime; elsewhere only the loader knows.
const RUNTIME_IN_FILES: bool = cfg!(all(
    unix,
    not(target_os = "macos"),
    not(target_os = "android")
));

fn xr(start: bool) -> Part {
    let no_vr = "VR is off; the desktop works. Install an OpenXR runtime (SteamVR, Monado, \
                 Meta Quest Link or Windows Mixed Reality), make it the active one and start it";
    let manifest = xr_manifest();
    let mut details = Vec::new();
    let name = match &manifest {
        Ok((path, how)) => {
            let (name, lib) = read_manifest(path);
            details.push(format!("manifest        {} ({how})", path.display()));
            if let Some(lib) = lib {
                details.push(format!("library         {lib}"));
            }
            name.unwrap_or_else(|| "a runtime".into())
        }
        Err(_) => String::new(),
    };
    let part = |summary: String, details: Vec<String>, missing: Option<String>| Part {
        label: "OpenXR runtime",
        summary,
        details,
        missing,
    };
    match &manifest {
        Err(why) if RUNTIME_IN_FILES || !start => {
            if start {
                details.push(format!("loader          {}", loader_state()));
            }
            return part(format!("none found ({why})"), details, Some(no_vr.into()));
        }
        Ok((path, _)) if !start => {
            return part(format!("{name} ({})", path.display()), details, None);
        }
        _ => {}
    }
    let (summary, missing) = match run_with_timeout(Duration::from_secs(20), probe_xr) {
        None => (
            format!("{name}: did not answer within 20 s"),
            Some("the OpenXR runtime hangs: restart it".to_string()),
        ),
        Some(Err(XrProbe::NoLoader(e))) => (
            format!("{name} is configured, but the OpenXR loader is missing"),
            Some(format!(
                "VR is off; the desktop works. The OpenXR loader library is missing ({e}): \
                 install it (Debian/Ubuntu: libopenxr-loader1; the Stratum package links it)"
            )),
        ),
        Some(Err(XrProbe::NoRuntime(e))) => (
            if manifest.is_ok() {
                format!("{name} is configured but did not start ({e})")
            } else {
                format!("none found ({e})")
            },
            Some(no_vr.into()),
        ),
        Some(Ok(found)) => {
            details.push(format!(
                "Vulkan          {}",
                if found.vulkan {
                    "offered"
                } else {
                    "NOT offered (Stratum needs it)"
                }
            ));
            let headset = match &found.headset {
                Some(name) => format!("headset {name}"),
                None => "no headset connected".into(),
            };
            (
                format!("{}, {headset}", found.runtime),
                (!found.vulkan).then(|| {
                    "the OpenXR runtime offers no Vulkan rendering, which Stratum needs: update \
                     it or pick another one"
                        .to_string()
                }),
            )
        }
    };
    part(summary, details, missing)
}

/// Whether the OpenXR loader library opens (without starting a runtime).
fn loader_state() -> String {
    // SAFETY: loads the system's OpenXR loader library, as the XR plugins do.
    match unsafe { openxr::Entry::load() } {
        Ok(_) => "found".into(),
        Err(e) => format!(
            "libopenxr_loader.so does not open ({e}): install the OpenXR loader (Debian/Ubuntu: \
             libopenxr-loader1, and libopenxr-dev for a build from source)"
        ),
    }
}

enum XrProbe {
    NoLoader(String),
    NoRuntime(String),
}

struct XrFound {
    runtime: String,
    vulkan: bool,
    headset: Option<String>,
}

/// Starts the runtime through the loader, as the app's VR mode does, and
/// asks for a headset.
fn probe_xr() -> Result<XrFound, XrProbe> {
    // SAFETY: loads the system's OpenXR loader library, as the XR plugins do.
    let entry = unsafe { openxr::Entry::load() }.map_err(|e| XrProbe::NoLoader(e.to_string()))?;
    let exts = entry
        .enumerate_extensions()
        .map_err(|e| XrProbe::NoRuntime(e.to_string()))?;
    let app = openxr::ApplicationInfo {
        application_name: "Stratum doctor",
        application_version: 1,
        engine_name: "Bevy",
        engine_version: 19,
        api_version: openxr::Version::new(1, 0, 0),
    };
    let instance = entry
        .create_instance(&app, &openxr::ExtensionSet::default(), &[])
        .map_err(|e| XrProbe::NoRuntime(e.to_string()))?;
    let runtime = match instance.properties() {
        Ok(p) => {
            let v = p.runtime_version;
            format!(
                "{} {}.{}.{}",
                p.runtime_name,
                v.major(),
                v.minor(),
                v.patch()
            )
        }
        Err(e) => format!("a runtime ({e})"),
    };
    let headset = instance
        .system(openxr::FormFactor::HEAD_MOUNTED_DISPLAY)
        .ok()
        .map(|system| {
            instance
                .system_properties(system)
                .map(|p| p.system_name)
                .unwrap_or_else(|_| "connected".into())
        });
    Ok(XrFound {
        runtime,
        vulkan: exts.khr_vulkan_enable2 || exts.khr_vulkan_enable,
        headset,
    })
}

fn gpu(all: bool) -> Part {
    let found = run_with_timeout(Duration::from_secs(30), probe_gpu);
    let Some((adapters, chosen)) = found else {
        return Part {
            label: "GPU adapter",
            summary: "the graphics driver did not answer within 30 s".into(),
            details: Vec::new(),
            missing: Some("the graphics driver hangs: update or reinstall it".into()),
        };
    };
    let Some(chosen) = chosen.or_else(|| adapters.first().cloned()) else {
        return Part {
            label: "GPU adapter",
            summary: "none found".into(),
            details: vec![
                "no Vulkan (or GL) device: the graphics driver is missing or cannot start".into(),
            ],
            missing: Some(
                "the desktop app and VR cannot start; the command line works. Install the \
                 GPU's Vulkan driver (Debian/Ubuntu: mesa-vulkan-drivers, which also renders \
                 in software without a GPU; NVIDIA: its driver package)"
                    .into(),
            ),
        };
    };
    let details = if all {
        adapters
            .iter()
            .map(|a| {
                let used = if a.name == chosen.name && a.backend == chosen.backend {
                    " <- the app uses this one"
                } else {
                    ""
                };
                format!("{}{used}", describe_adapter(a))
            })
            .collect()
    } else {
        Vec::new()
    };
    Part {
        label: "GPU adapter",
        summary: describe_adapter(&chosen),
        details,
        missing: None,
    }
}

fn describe_adapter(a: &wgpu::AdapterInfo) -> String {
    let kind = match a.device_type {
        wgpu::DeviceType::DiscreteGpu => "dedicated GPU",
        wgpu::DeviceType::IntegratedGpu => "integrated GPU",
        wgpu::DeviceType::VirtualGpu => "virtual GPU",
        wgpu::DeviceType::Cpu => "software rendering on the CPU: works, slowly",
        wgpu::DeviceType::Other => "GPU",
    };
    let driver = [a.driver.as_str(), a.driver_info.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    if driver.is_empty() {
        format!("{} ({:?}, {kind})", a.name, a.backend)
    } else {
        format!("{} ({:?}, {kind}; driver {driver})", a.name, a.backend)
    }
}

/// Every adapter wgpu sees with the app's backends (`WGPU_BACKEND` is
/// honoured, as Bevy does) and the one Bevy's default settings would pick.
fn probe_gpu() -> (Vec<wgpu::AdapterInfo>, Option<wgpu::AdapterInfo>) {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapters: Vec<wgpu::AdapterInfo> =
        bevy::tasks::block_on(instance.enumerate_adapters(wgpu::Backends::all()))
            .iter()
            .map(|a| a.get_info())
            .collect();
    let options = wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::from_env()
            .unwrap_or(wgpu::PowerPreference::HighPerformance),
        force_fallback_adapter: false,
        compatible_surface: None,
    };
    let chosen = bevy::tasks::block_on(instance.request_adapter(&options))
        .ok()
        .map(|a| a.get_info());
    (adapters, chosen)
}

/// Runs a probe that talks to a driver or a runtime on its own thread, so
/// one that hangs is reported instead of hanging the command.
fn run_with_timeout<T: Send + 'static>(
    limit: Duration,
    probe: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(probe());
    });
    rx.recv_timeout(limit).ok()
}
