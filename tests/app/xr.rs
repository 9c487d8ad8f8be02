//! `stratum --xr` end to end on a real OpenXR runtime: Monado (built by
//! scripts/xr-runtime.sh) with its null compositor and remote driver, on
//! Mesa's software Vulkan under Xvfb. The test plays the headset and the
//! controllers over TCP (xr_remote.rs) and reads the app's `--xr-trace`.
//! Also the fallback: no runtime, the desktop goes on and says so.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::xr_remote::{Buttons, Hand, Pose, Quat, RemoteRig};

pub(crate) use crate::window::{Display, LAVAPIPE};

pub(crate) fn skip() -> bool {
    !crate::window::available()
}

/// The Monado manifest: STRATUM_XR_RUNTIME_JSON (scripts/test.sh sets it),
/// else what scripts/xr-runtime.sh builds or finds in its cache.
pub(crate) fn runtime_manifest() -> PathBuf {
    if let Some(p) = std::env::var_os("STRATUM_XR_RUNTIME_JSON") {
        return PathBuf::from(p);
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/xr-runtime.sh");
    let out = Command::new("bash")
        .arg(&script)
        .stderr(Stdio::inherit())
        .output()
        .expect("run scripts/xr-runtime.sh");
    assert!(out.status.success(), "scripts/xr-runtime.sh failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let last = text
        .lines()
        .last()
        .expect("a manifest path")
        .trim()
        .to_string();
    assert!(Path::new(&last).exists(), "no manifest at {last}");
    PathBuf::from(last)
}

/// The environment for the app on Monado, with its remote driver on `port`.
pub(crate) fn xr_command(
    dir: &Path,
    display: &Display,
    port: u16,
    manifest: Option<&Path>,
) -> Command {
    let config = dir.join("xdg/monado");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(
        config.join("config_v0.json"),
        format!(r#"{{"remote":{{"version":0,"port":{port},"view_count":2}}}}"#),
    )
    .unwrap();
    let mut c = Command::new(env!("CARGO_BIN_EXE_stratum"));
    // A journal another run left would put its Restore dialog over the view.
    c.env("STRATUM_AUTOSAVE_DIR", "off");
    c.env("DISPLAY", &display.name)
        .env("WGPU_BACKEND", "vulkan")
        .env("VK_ICD_FILENAMES", LAVAPIPE)
        .env("XRT_COMPOSITOR_NULL", "1")
        .env("P_OVERRIDE_ACTIVE_CONFIG", "remote")
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env("TMPDIR", dir)
        .env(
            "XR_RUNTIME_JSON",
            manifest
                .map(Path::to_path_buf)
                .unwrap_or_else(|| dir.join("no-runtime.json")),
        );
    c
}

pub(crate) struct RunningApp {
    pub(crate) child: Child,
    pub(crate) trace: PathBuf,
    pub(crate) log: PathBuf,
    /// The frame of the last line a wait returned: later waits look only
    /// at newer frames.
    pub(crate) seen: f64,
}

impl RunningApp {
    pub(crate) fn lines(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.trace)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    fn last(&self) -> Option<Value> {
        self.lines().pop()
    }

    /// Waits for a trace line that passes `f` and returns it.
    pub(crate) fn wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        f: impl Fn(&Value) -> bool,
    ) -> Value {
        match self.try_wait_for(what, timeout, f) {
            Some(v) => v,
            None => panic!(
                "timed out waiting for {what}; last trace line: {}\n{}",
                self.last().map(|v| v.to_string()).unwrap_or_default(),
                self.log_text()
            ),
        }
    }

    /// [`RunningApp::wait_for`] that gives `None` at the timeout (for a
    /// step the test may repeat, e.g. a click the app missed).
    pub(crate) fn try_wait_for(
        &mut self,
        what: &str,
        timeout: Duration,
        f: impl Fn(&Value) -> bool,
    ) -> Option<Value> {
        let end = Instant::now() + timeout;
        loop {
            let seen = self.seen;
            if let Some(v) = self
                .lines()
                .into_iter()
                .find(|v| v["frame"].as_f64().is_some_and(|n| n > seen) && f(v))
            {
                self.seen = v["frame"].as_f64().unwrap_or(seen);
                return Some(v);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "the app exited ({status}) before {what}:\n{}",
                    self.log_text()
                );
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn log_text(&self) -> String {
        let s = std::fs::read_to_string(&self.log).unwrap_or_default();
        let n = s.len().saturating_sub(6000);
        let start = (n..s.len())
            .find(|i| s.is_char_boundary(*i))
            .unwrap_or(s.len());
        s[start..].to_string()
    }
}

impl Drop for RunningApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn f(v: &Value, path: &[&str]) -> f64 {
    let mut x = v;
    for p in path {
        x = match p.parse::<usize>() {
            Ok(i) => &x[i],
            Err(_) => &x[*p],
        };
    }
    x.as_f64().unwrap_or(f64::NAN)
}

pub(crate) fn v3(v: &Value) -> [f64; 3] {
    [0, 1, 2].map(|i| v[i].as_f64().unwrap_or(f64::NAN))
}

/// `stratum --xr --xr-trace` on Monado with its remote driver on `port`,
/// logging into `dir`, and the rig connected to it.
pub(crate) fn start_traced(dir: &Path, display: &Display, port: u16) -> (RunningApp, RemoteRig) {
    let manifest = runtime_manifest();
    let trace = dir.join("trace.jsonl");
    let log = dir.join("app.log");
    let child = xr_command(dir, display, port, Some(&manifest))
        .args(["--xr", "--size", "640x480", "--xr-trace"])
        .arg(&trace)
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::fs::File::create(dir.join("app.err")).unwrap())
        .spawn()
        .expect("start stratum");
    let app = RunningApp {
        child,
        trace,
        log,
        seen: 0.0,
    };
    let rig = RemoteRig::connect_to(
        format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_secs(240),
    )
    .expect("the app's runtime listens for the remote rig");
    (app, rig)
}

#[test]
fn headset_session_grab_and_hand_held_plane_on_monado() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let display = Display::start(1280, 800);
    let (mut app, mut rig) = start_traced(dir.path(), &display, crate::window::free_port());
    let head = Pose::at(0.0, 1.6, 0.0);
    let left_home = Pose::at(-0.2, 1.3, -0.5);
    let right_home = Pose::at(0.2, 1.3, -0.5);
    rig.set_head(head);
    rig.set_hand(Hand::Left, left_home, Buttons::default());
    rig.set_hand(Hand::Right, right_home, Buttons::default());
    rig.send().unwrap();

    // The session is focused, both eyes get frames, the organs lie on the table.
    let ready = app.wait_for(
        "a focused session with the anatomy on the table",
        Duration::from_secs(400),
        |v| {
            v["session_state"] == "FOCUSED"
                && v["on_table"] == true
                && f(v, &["eye_frames", "0"]) > 3.0
                && f(v, &["eye_frames", "1"]) > 3.0
        },
    );
    assert_eq!(ready["xr_state"], "Running");
    let size = &ready["view_size"];
    assert!(f(size, &["0"]) > 0.0, "{ready}");
    let t0 = v3(&ready["pose"]["translation"]);
    // On the table: the anatomy's centre is in front of the user, below the eyes.
    let c = v3(&ready["anatomy_centre"]);
    assert!(c[1] > 0.9 && c[1] < 1.4 && c[2] < -0.2, "{ready}");

    // Grip with the right hand, then move it 10 cm right and 5 cm up.
    let grab = Buttons {
        squeeze: 1.0,
        ..Buttons::default()
    };
    rig.set_hand(Hand::Right, right_home, grab);
    rig.send().unwrap();
    app.wait_for("the squeeze", Duration::from_secs(180), |v| {
        f(v, &["hands", "1", "squeeze"]) > 0.9
    });
    let moved = Pose::at(0.3, 1.35, -0.5);
    rig.set_hand(Hand::Right, moved, grab);
    rig.send().unwrap();
    let after = app.wait_for(
        "the model to follow the hand",
        Duration::from_secs(180),
        |v| {
            (f(v, &["hands", "1", "grip", "0"]) - 0.3).abs() < 1e-3
                && (f(v, &["pose", "translation", "0"]) - t0[0] - 0.1).abs() < 0.003
        },
    );
    let t1 = v3(&after["pose"]["translation"]);
    assert!((t1[0] - t0[0] - 0.1).abs() < 0.003, "{t0:?} -> {t1:?}");
    assert!((t1[1] - t0[1] - 0.05).abs() < 0.003, "{t0:?} -> {t1:?}");
    assert!((t1[2] - t0[2]).abs() < 0.003, "{t0:?} -> {t1:?}");
    assert!((f(&after, &["pose", "scale"]) - 1.0).abs() < 1e-6);
    // Let go; moving the hand back leaves the model where it is.
    rig.set_hand(Hand::Right, moved, Buttons::default());
    rig.send().unwrap();
    app.wait_for("the release", Duration::from_secs(180), |v| {
        f(v, &["hands", "1", "squeeze"]) < 0.1
    });
    rig.set_hand(Hand::Right, right_home, Buttons::default());
    rig.send().unwrap();
    let rest = app.wait_for("the hand back home", Duration::from_secs(180), |v| {
        (f(v, &["hands", "1", "grip", "0"]) - 0.2).abs() < 1e-3
    });
    assert!(
        (f(&rest, &["pose", "translation", "0"]) - t1[0]).abs() < 1e-4,
        "{rest}"
    );

    // A hand-held plane: the left controller points -Z, 10 cm behind the
    // anatomy's centre (the plane is 5 cm ahead of it), then right A.
    let c = v3(&rest["anatomy_centre"]);
    let left_at = Pose::at(c[0] as f32, c[1] as f32, c[2] as f32 + 0.05);
    rig.set_hand(Hand::Left, left_at, Buttons::default());
    rig.set_hand(
        Hand::Right,
        right_home,
        Buttons {
            a: true,
            ..Buttons::default()
        },
    );
    rig.send().unwrap();
    let cut = app.wait_for(
        "a hand-held plane that cuts a segment",
        Duration::from_secs(180),
        |v| {
            v["planes"].as_array().is_some_and(|p| {
                p.iter().any(|p| {
                    p["held"] == true && p["cuts"].as_array().is_some_and(|c| !c.is_empty())
                })
            })
        },
    );
    let plane = &cut["planes"][0];
    let p0 = v3(&plane["point_lps"]);
    rig.set_hand(Hand::Right, right_home, Buttons::default());
    rig.send().unwrap();
    // It follows the left hand: 4 cm toward the user moves it 40 mm (in
    // whatever LPS direction the table pose turns world +Z into).
    let left_back = Pose::at(c[0] as f32, c[1] as f32, c[2] as f32 + 0.09);
    rig.set_hand(Hand::Left, left_back, Buttons::default());
    rig.send().unwrap();
    let followed = app.wait_for(
        "the plane to follow the hand",
        Duration::from_secs(180),
        |v| {
            let p = v3(&v["planes"][0]["point_lps"]);
            let d =
                ((p[0] - p0[0]).powi(2) + (p[1] - p0[1]).powi(2) + (p[2] - p0[2]).powi(2)).sqrt();
            (d - 40.0).abs() < 1.0
        },
    );
    assert_eq!(followed["planes"][0]["held"], true);
    // A second press leaves it there.
    rig.set_hand(
        Hand::Right,
        right_home,
        Buttons {
            a: true,
            ..Buttons::default()
        },
    );
    rig.send().unwrap();
    let fixed = app.wait_for("the plane left in place", Duration::from_secs(180), |v| {
        v["planes"][0]["held"] == false && v["planes"].as_array().is_some_and(|p| p.len() == 1)
    });
    rig.set_hand(Hand::Right, right_home, Buttons::default());
    rig.set_hand(Hand::Left, left_home, Buttons::default());
    rig.send().unwrap();
    let later = app.wait_for("a few more frames", Duration::from_secs(180), |v| {
        f(v, &["frame"]) > f(&fixed, &["frame"]) + 5.0
    });
    assert_eq!(
        later["planes"][0]["point_lps"],
        fixed["planes"][0]["point_lps"]
    );
    assert!(
        later["planes"][0]["cuts"]
            .as_array()
            .is_some_and(|c| !c.is_empty()),
        "{later}"
    );
    eprintln!(
        "xr: view {} ; eye frames {} ; update {} ms ; frame {} ms ; cuts {}",
        later["view_size"],
        later["eye_frames"],
        later["update_ms"],
        later["frame_ms"],
        later["planes"][0]["cuts"]
    );
}

fn coloured(p: &image::Rgba<u8>) -> bool {
    let [r, g, b, _] = p.0;
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    max > 60 && max - min > 45
}

#[test]
fn left_eye_screenshot_shows_the_anatomy() {
    if skip() {
        return;
    }
    let manifest = runtime_manifest();
    let dir = tempfile::tempdir().unwrap();
    let display = Display::start(1280, 800);
    let port = crate::window::free_port();
    let shot = dir.path().join("eye.png");
    let child = xr_command(dir.path(), &display, port, Some(&manifest))
        .args(["--xr", "--size", "640x480", "--screenshot"])
        .arg(&shot)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run stratum");
    // The user looks down at the table, 40 degrees (the anatomy lies 45 cm
    // ahead and about 50 cm below the eyes).
    let mut rig = RemoteRig::connect_to(
        format!("127.0.0.1:{port}").parse().unwrap(),
        Duration::from_secs(240),
    )
    .expect("the app's runtime listens for the remote rig");
    let down = Quat::from_axis_angle([1.0, 0.0, 0.0], -40f32.to_radians());
    rig.set_head(Pose::at(0.0, 1.6, 0.0).rotated(down));
    rig.set_hand(Hand::Left, Pose::at(-0.2, 1.3, -0.5), Buttons::default());
    rig.set_hand(Hand::Right, Pose::at(0.2, 1.3, -0.5), Buttons::default());
    rig.send().unwrap();
    let out = crate::window::wait_with_output_within(child, crate::window::APP_TIMEOUT, "the app");
    drop(rig);
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the app failed:\n{log}");
    assert!(log.contains("left eye"), "{log}");
    let img = image::open(&shot).expect("a screenshot").to_rgba8();
    if let Ok(keep) = std::env::var("STRATUM_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, Path::new(&keep).with_file_name("xr-left-eye.png")).unwrap();
    }
    // The null compositor's eye size, not the window's.
    assert_ne!(img.dimensions(), (640, 480), "{log}");
    let n = img.pixels().filter(|p| coloured(p)).count();
    let share = n as f64 / (img.width() * img.height()) as f64;
    assert!(
        share > 0.03,
        "only {:.2}% coloured pixels in the left eye",
        share * 100.0
    );
}

#[test]
fn without_a_runtime_the_desktop_goes_on_and_says_so() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let display = Display::start(1280, 800);
    let shot = dir.path().join("desk.png");
    let out = crate::window::output_within(
        xr_command(dir.path(), &display, crate::window::free_port(), None)
            .args(["--xr", "--size", "640x480", "--screenshot"])
            .arg(&shot),
        crate::window::APP_TIMEOUT,
        "the app",
    );
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the app failed:\n{log}");
    assert_eq!(
        log.matches("No OpenXR runtime was found").count(),
        1,
        "{log}"
    );
    let img = image::open(&shot).expect("a screenshot").to_rgba8();
    assert_eq!(img.dimensions(), (640, 480));
    // The desktop view shows the organs.
    let n = img.pixels().filter(|p| coloured(p)).count();
    assert!(n as f64 / (640.0 * 480.0) > 0.02, "{n} coloured pixels");
}
