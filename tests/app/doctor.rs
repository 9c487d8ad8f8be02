//! `stratum doctor` and `stratum --version`: what was found and what is
//! missing, in plain words, with exit code 0 whatever is missing.

use std::path::Path;
use std::process::{Command, Output};

fn stratum(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stratum"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run stratum")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// No ONNX Runtime, no OpenXR runtime, no Vulkan driver: the variables
/// point the lookups at places that do not exist.
const NOTHING: &[(&str, &str)] = &[
    ("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.31.1"),
    ("XR_RUNTIME_JSON", "/nonexistent/active_runtime.json"),
    ("VK_ICD_FILENAMES", "/nonexistent/icd.json"),
    ("VK_DRIVER_FILES", "/nonexistent/icd.json"),
    ("WGPU_BACKEND", "vulkan"),
];

#[test]
fn doctor_without_ai_runtime_vr_runtime_or_gpu_says_each_and_exits_0() {
    let o = stratum(&["doctor"], NOTHING);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let line = |label: &str| {
        t.lines()
            .find(|l| l.starts_with(label))
            .unwrap_or_else(|| panic!("no {label} line in\n{t}"))
            .to_string()
    };
    assert!(line("ONNX Runtime").contains("not found"), "{t}");
    assert!(line("OpenXR runtime").contains("none found"), "{t}");
    assert!(line("GPU adapter").contains("none found"), "{t}");
    let missing = &t[t.find("Missing:").unwrap_or_else(|| panic!("{t}"))..];
    for says in [
        "ONNX Runtime: AI segmentation is off; everything else works",
        "OpenXR runtime: VR is off; the desktop works",
        "GPU adapter: the desktop app and VR cannot start; the command line works",
    ] {
        assert!(missing.contains(says), "{says:?} not in\n{t}");
    }
    // The data folder is still found (this is a development build).
    assert!(line("Data folder").contains("source tree"), "{t}");
    assert!(t.contains("deepbet, deepbrain, liver"), "{t}");
}

#[test]
fn version_names_what_it_found_and_what_is_missing() {
    let o = stratum(&["--version"], NOTHING);
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    assert!(
        t.starts_with(&format!("stratum {}\n", env!("CARGO_PKG_VERSION"))),
        "{t}"
    );
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        t.contains(&format!("Data folder:    {}", repo.display())),
        "{t}"
    );
    assert!(
        t.contains("missing: ONNX Runtime, OpenXR runtime, GPU adapter"),
        "{t}"
    );

    // Everything there: the runtime this checkout fetched, a runtime
    // manifest (read, not started), Mesa's software Vulkan.
    let lavapipe = Path::new("/usr/share/vulkan/icd.d/lvp_icd.x86_64.json");
    if !lavapipe.is_file() {
        crate::checks::skip(
            "Mesa's software Vulkan (lavapipe) is not installed, so the GPU line is not checked",
            "apt-get install mesa-vulkan-drivers",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("runtime.json");
    std::fs::write(
        &manifest,
        r#"{"file_format_version": "1.0.0",
            "runtime": {"name": "Bench runtime", "library_path": "./libbench.so"}}"#,
    )
    .unwrap();
    let o = stratum(
        &["--version"],
        &[
            ("XR_RUNTIME_JSON", manifest.to_str().unwrap()),
            ("VK_ICD_FILENAMES", lavapipe.to_str().unwrap()),
            ("WGPU_BACKEND", "vulkan"),
        ],
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(0), "{t}");
    let ort = repo.join(".ort/libonnxruntime.so.1.31.1");
    assert!(
        t.contains(&format!("ONNX Runtime:   1.31.1, {}", ort.display())),
        "{t}"
    );
    assert!(
        t.contains(&format!(
            "OpenXR runtime: Bench runtime ({})",
            manifest.display()
        )),
        "{t}"
    );
    assert!(
        t.contains("GPU adapter:    llvmpipe") && t.contains("software rendering on the CPU"),
        "{t}"
    );
    assert!(!t.contains("missing:"), "{t}");
}
