//! The windowed tests' harness: an X server of the test's own on a display
//! number Xvfb picks (`-displayfd`, none hard-coded), free loopback ports,
//! and every external process run under a timeout that ends the test with a
//! clear failure instead of hanging CI.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) const LAVAPIPE: &str = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json";

/// How long an app run under Xvfb may take before the test fails (the
/// slowest, the XR sessions, take a few minutes on a busy 2-core machine).
pub(crate) const APP_TIMEOUT: Duration = Duration::from_secs(600);

/// Whether the windowed tests can run here: Xvfb and Mesa's lavapipe are
/// installed (else a skip, which fails under CI), and the developer did not
/// turn them off with STRATUM_SKIP_GUI_TESTS (which also fails under CI).
pub(crate) fn available() -> bool {
    if std::env::var_os("STRATUM_SKIP_GUI_TESTS").is_some() {
        crate::checks::skip(
            "STRATUM_SKIP_GUI_TESTS is set, so the windowed app is not run",
            "unset STRATUM_SKIP_GUI_TESTS",
        );
        return false;
    }
    if crate::checks::find_program("Xvfb").is_none() || !Path::new(LAVAPIPE).exists() {
        crate::checks::skip(
            "Xvfb or Mesa's lavapipe is missing, so the windowed app is not run",
            "scripts/setup.sh app (apt-get install xvfb mesa-vulkan-drivers)",
        );
        return false;
    }
    true
}

/// An X server of the test's own, killed on drop.
pub(crate) struct Display {
    xvfb: Child,
    /// `:N`, for DISPLAY.
    pub(crate) name: String,
}

impl Display {
    /// Starts Xvfb with a `width`x`height` screen on a display number it
    /// picks itself, and waits until it says it is ready (it writes the
    /// number only once it accepts connections).
    pub(crate) fn start(width: u32, height: u32) -> Display {
        let mut xvfb = Command::new("Xvfb")
            .args(["-displayfd", "1", "-nolisten", "tcp", "-screen", "0"])
            .arg(format!("{width}x{height}x24"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start Xvfb");
        let stdout = xvfb.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let number = line.trim().parse::<u32>().ok();
        let Some(number) = number else {
            let _ = xvfb.kill();
            let mut err = String::new();
            if let Some(mut e) = xvfb.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            let _ = xvfb.wait();
            panic!("Xvfb did not start within 30 s (it printed {line:?}):\n{err}");
        };
        // Its log goes nowhere from now on (a full pipe would block it).
        drop(xvfb.stderr.take());
        assert!(
            xvfb.try_wait().ok().flatten().is_none(),
            "Xvfb :{number} exited right after starting"
        );
        Display {
            xvfb,
            name: format!(":{number}"),
        }
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        let _ = self.xvfb.kill();
        let _ = self.xvfb.wait();
    }
}

/// A loopback TCP port nobody listens on now (the OS picks it).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Waits for `child` at most `timeout`; kills it and fails the test
/// (naming `what`) when it runs longer.
pub(crate) fn wait_or_kill(child: &mut Child, timeout: Duration, what: &str) -> ExitStatus {
    let end = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status,
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{what} did not finish within {timeout:?}: killed");
            }
            Err(e) => panic!("waiting for {what}: {e}"),
        }
    }
}

/// Runs `cmd` to the end, capturing its output, under `timeout`.
pub(crate) fn output_within(cmd: &mut Command, timeout: Duration, what: &str) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what} ({cmd:?}): {e}"));
    wait_with_output_within(child, timeout, what)
}

/// `Child::wait_with_output` under `timeout` (stdout and stderr piped).
pub(crate) fn wait_with_output_within(mut child: Child, timeout: Duration, what: &str) -> Output {
    // Read both pipes while waiting, so a chatty child never blocks on them.
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let o = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let e = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let status = wait_or_kill(&mut child, timeout, what);
    Output {
        status,
        stdout: o.join().unwrap_or_default(),
        stderr: e.join().unwrap_or_default(),
    }
}

/// The app binary on `display` with software Vulkan, autosave off (a
/// journal another run left would put its Restore dialog over the view)
/// and its temporary files in `tmp`.
pub(crate) fn app_command(display: &Display, tmp: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stratum"));
    c.env("DISPLAY", &display.name)
        .env("WGPU_BACKEND", "vulkan")
        .env("TMPDIR", tmp)
        .env("STRATUM_AUTOSAVE_DIR", "off");
    c
}

/// Runs the app (`args`) on a display of its own of `screen` size, to the
/// end, under [`APP_TIMEOUT`]; returns its output and its log (stdout +
/// stderr), having asserted it succeeded.
pub(crate) fn run_app(
    screen: (u32, u32),
    tmp: &Path,
    configure: impl FnOnce(&mut Command),
) -> (Output, String) {
    let display = Display::start(screen.0, screen.1);
    let mut cmd = app_command(&display, tmp);
    configure(&mut cmd);
    let out = output_within(&mut cmd, APP_TIMEOUT, "the app");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the app failed:\n{log}");
    (out, log)
}
