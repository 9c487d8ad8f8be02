//! The Debian package and the portable folder, used as a user would:
//! scripts/package.sh packages this test binary (the release build is
//! package.sh's own job), dpkg installs it into this machine, and the
//! installed `stratum` runs from another folder with the clone out of sight
//! (an empty folder mounted over it in a private mount namespace: nothing is
//! renamed, so a test that dies leaves the checkout as it was); then the
//! package is purged and must leave nothing behind.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use stratum_core::dicom::synth::{SynthOptions, write_series};

const INSTALLED: &str = "/usr/bin/stratum";
/// The Maintainer the test's packages carry: a stratum package with it is a
/// leftover of a killed test run, which the next run may replace.
const TEST_MAINTAINER: &str = "Stratum package test <package-test@stratum.invalid>";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `program` under `timeout`, so a hang fails the test instead of CI.
fn run(seconds: u32, program: &str, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg(seconds.to_string())
        .arg(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

/// Runs `program` from `cwd` with a clean environment (no ORT_DYLIB_PATH,
/// STRATUM_*, cargo's variables) and the clone hidden under an empty folder.
fn run_without_clone(cwd: &Path, program: &Path, args: &[&str]) -> Output {
    let empty = cwd.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let script = r#"mount --bind "$1" "$2" && cd "$3" && shift 3 && exec "$@""#;
    let mut c = Command::new("timeout");
    c.args([
        "600",
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
    ])
    .arg(script)
    .arg("sh")
    .arg(&empty)
    .arg(repo())
    .arg(cwd)
    .args(["env", "-i", "PATH=/usr/bin:/bin"])
    .arg(format!("HOME={}", cwd.display()))
    .arg(program)
    .args(args);
    c.output().expect("run unshare")
}

/// Holds a machine-wide lock while one test run installs, so two runs on
/// one machine (helpers sharing it) take turns. `flock` holds it for as
/// long as its stdin is open: a killed test releases it.
struct MachineLock(Child);

impl MachineLock {
    fn take() -> Self {
        let mut child = Command::new("flock")
            .args(["--exclusive", "--wait", "1200"])
            .arg(std::env::temp_dir().join("stratum-package-test.lock"))
            .args(["sh", "-c", "echo locked; exec cat >/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run flock");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(
            line.trim(),
            "locked",
            "flock did not take the lock in 20 min"
        );
        MachineLock(child)
    }
}

impl Drop for MachineLock {
    fn drop(&mut self) {
        drop(self.0.stdin.take());
        let _ = self.0.wait();
    }
}

/// Purges the package when the test ends, passed or failed.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = run(300, "dpkg", &["--purge", "stratum"]);
    }
}

/// The installed stratum package's Maintainer, if one is installed.
fn installed_maintainer() -> Option<String> {
    let o = run(
        60,
        "dpkg-query",
        &["-W", "-f=${Status}|${Maintainer}", "stratum"],
    );
    let t = String::from_utf8_lossy(&o.stdout).into_owned();
    let (status, maintainer) = t.split_once('|')?;
    status
        .ends_with(" installed")
        .then(|| maintainer.to_string())
}

fn is_root() -> bool {
    let o = run(10, "id", &["-u"]);
    String::from_utf8_lossy(&o.stdout).trim() == "0"
}

/// What a Debian user does: `apt install ./stratum_*.deb`, then runs it
/// from anywhere. Also the portable folder, unpacked elsewhere, runs.
#[test]
fn package_installs_runs_without_the_clone_and_uninstalls_cleanly() {
    let needs = [
        ("dpkg-deb", "building the package", "dpkg"),
        (
            "dpkg-shlibdeps",
            "the package's library dependencies",
            "dpkg-dev",
        ),
        ("zstd", "the portable folder", "zstd"),
        (
            "desktop-file-validate",
            "the desktop entry",
            "desktop-file-utils",
        ),
        (
            "update-mime-database",
            "the NIfTI MIME type",
            "shared-mime-info",
        ),
        ("unshare", "running with the clone hidden", "util-linux"),
        (
            "flock",
            "one install at a time on this machine",
            "util-linux",
        ),
    ];
    for (program, what, pkg) in needs {
        if crate::checks::program(program, what, &format!("apt-get install {pkg}")).is_none() {
            return;
        }
    }
    if !is_root() {
        crate::checks::skip(
            "installing a package and hiding the clone need root",
            "run the tests as root (CI does)",
        );
        return;
    }
    let _lock = MachineLock::take();
    if let Some(m) = installed_maintainer().filter(|m| m != TEST_MAINTAINER) {
        crate::checks::skip(
            &format!("a stratum package ({m}) is installed here; the test would replace it"),
            "dpkg --purge stratum",
        );
        return;
    }

    // Package this test binary, quickly compressed.
    let dir = tempfile::tempdir().unwrap();
    let dist = dir.path().join("dist");
    let o = Command::new("timeout")
        .args(["600", "scripts/package.sh", "--fast", "--binary"])
        .arg(env!("CARGO_BIN_EXE_stratum"))
        .arg("--out")
        .arg(&dist)
        .current_dir(repo())
        .env("STRATUM_MAINTAINER", TEST_MAINTAINER)
        .output()
        .unwrap();
    assert!(o.status.success(), "package.sh failed:\n{}", text(&o));
    let version = env!("CARGO_PKG_VERSION");
    let deb = std::fs::read_dir(&dist)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("a .deb in dist/");
    assert!(
        deb.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(&format!("stratum_{version}_")),
        "{deb:?}"
    );

    // What it declares: the run-time libraries and the OpenXR loader.
    let info = text(&run(60, "dpkg-deb", &["--field", deb.to_str().unwrap()]));
    let field = |name: &str| {
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .unwrap_or_else(|| panic!("no {name} in\n{info}"))
            .to_string()
    };
    let depends = field("Depends");
    for lib in ["libc6", "libvulkan1", "libx11-6", "libxkbcommon-x11-0"] {
        assert!(depends.contains(lib), "Depends lacks {lib}: {depends}");
    }
    assert!(field("Recommends").contains("libopenxr-loader1"), "{info}");

    let o = run(300, "dpkg", &["--install", deb.to_str().unwrap()]);
    let _installed = Installed;
    assert!(o.status.success(), "dpkg --install failed:\n{}", text(&o));

    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let installed = Path::new(INSTALLED);

    // It says where everything came from, none of it the clone.
    let o = run_without_clone(&work, installed, &["doctor"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains("Data folder       /usr/share/stratum (installed with the executable)"),
        "{t}"
    );
    assert!(
        t.contains("ONNX Runtime      1.31.1, /usr/lib/stratum/libonnxruntime.so.1.31.1"),
        "{t}"
    );
    assert!(!t.contains(&repo().display().to_string()), "{t}");

    let o = run_without_clone(&work, installed, &["models"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("models in /usr/share/stratum/models"), "{t}");
    for model in ["deepbet", "deepbrain", "liver"] {
        assert!(
            t.lines().any(|l| l.trim_start().starts_with(model)),
            "{model} not listed:\n{t}"
        );
    }
    assert!(t.contains("ONNX Runtime 1.31.1: loaded"), "{t}");

    // The demo study, shipped in the package, to printable organs.
    let demo = Path::new("/usr/share/stratum/assets/demo");
    let arg = |p: PathBuf| p.to_string_lossy().into_owned();
    let stl = work.join("organs.stl");
    let o = run_without_clone(
        &work,
        installed,
        &[
            "convert",
            &arg(demo.join("example_ct.nii.gz")),
            "-o",
            &arg(stl.clone()),
            "--labels",
            &arg(demo.join("example_seg_fast_force_split.nii.gz")),
            "--names",
            &arg(demo.join("labels_total_ct.tsv")),
            "--reduce",
            "0.5",
        ],
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.lines().any(|l| l.starts_with("liver ")), "{t}");
    let mesh = stl_io::read_stl(&mut std::fs::File::open(&stl).unwrap()).unwrap();
    assert!(mesh.faces.len() > 1000, "{} triangles", mesh.faces.len());

    // An AI model on ONNX Runtime from the package, on a small synthetic
    // scan: it runs and writes its map. deepbrain (one 128³ window, about
    // 5 s) rather than the liver (one 189x162x162 window, about a minute
    // on CI's two cores, too much for CI's time): both take the same path
    // through the packaged runtime; the liver's accuracy and speed are
    // bench/ai.sh's (BENCHMARKS.md).
    let ct = work.join("small_ct");
    let small = SynthOptions {
        phi: false,
        ..SynthOptions::default()
    };
    write_series(&ct, &small).unwrap();
    let labels = work.join("brain.nii.gz");
    let o = run_without_clone(
        &work,
        installed,
        &[
            "segment",
            &arg(ct),
            "--model",
            "deepbrain",
            "-o",
            &arg(labels.clone()),
        ],
    );
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    // The network ran (at least one window) and its map is on the scan's grid.
    let windows: usize = t
        .lines()
        .find(|l| l.starts_with("model grid "))
        .and_then(|l| l.split(" patches;").next())
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no window count in\n{t}"));
    assert!(windows >= 1, "{t}");
    let map = stratum_core::read::nifti::load_nifti(
        &labels,
        &stratum_core::base::progress::Progress::new(),
    )
    .unwrap_or_else(|e| panic!("the label map does not read back: {e}\n{t}"));
    assert_eq!(
        map.dim(),
        (small.slices, small.rows as usize, small.columns as usize),
        "{t}"
    );

    // The desktop entry, the MIME type and the icon.
    let o = run(
        60,
        "desktop-file-validate",
        &["/usr/share/applications/stratum.desktop"],
    );
    assert!(
        o.status.success() && text(&o).trim().is_empty(),
        "desktop-file-validate:\n{}",
        text(&o)
    );
    let mime = dir.path().join("mime");
    std::fs::create_dir_all(mime.join("packages")).unwrap();
    std::fs::copy(
        "/usr/share/mime/packages/stratum.xml",
        mime.join("packages/stratum.xml"),
    )
    .unwrap();
    let o = run(60, "update-mime-database", &[mime.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    let globs = std::fs::read_to_string(mime.join("globs2")).unwrap();
    assert!(globs.contains("application/x-nifti:*.nii.gz"), "{globs}");
    assert!(Path::new("/usr/share/icons/hicolor/scalable/apps/stratum.svg").is_file());

    // Uninstalled, nothing of it stays.
    let o = run(300, "dpkg", &["--purge", "stratum"]);
    assert!(o.status.success(), "{}", text(&o));
    for gone in [
        INSTALLED,
        "/usr/share/stratum",
        "/usr/lib/stratum",
        "/usr/share/applications/stratum.desktop",
        "/usr/share/mime/packages/stratum.xml",
        "/usr/share/doc/stratum",
    ] {
        assert!(!Path::new(gone).exists(), "{gone} is left after purge");
    }
    assert_eq!(installed_maintainer(), None);

    // The portable folder, unpacked elsewhere, finds its data beside itself.
    let tarball = std::fs::read_dir(&dist)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar.zst"))
        .expect("a .tar.zst in dist/");
    let unpacked = dir.path().join("portable");
    std::fs::create_dir_all(&unpacked).unwrap();
    let o = run(
        120,
        "tar",
        &[
            "--zstd",
            "-xf",
            tarball.to_str().unwrap(),
            "-C",
            unpacked.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let folder = std::fs::read_dir(&unpacked)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let o = run_without_clone(&work, &folder.join("stratum"), &["models"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains(&format!("models in {}", folder.join("models").display())),
        "{t}"
    );
    assert!(
        t.contains("liver") && t.contains("ONNX Runtime 1.31.1: loaded"),
        "{t}"
    );
}
