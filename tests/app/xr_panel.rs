//! The panel in the world on a real OpenXR runtime (Monado with its remote
//! driver): the right controller's laser clicks a clip plane on, then Leave
//! VR; the desktop's Enter VR (clicked with xdotool, as a user would) starts
//! a new session with the anatomy back on the table.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::xr::{Display, RunningApp, f, skip, start_traced, v3};
use crate::xr_remote::{Buttons, Hand, Pose, Quat, RemoteRig};

/// Where the right controller stands while it points at the panel.
pub(crate) const RIGHT_AT: [f32; 3] = [0.25, 1.25, -0.2];

/// The turn that points a controller's -Z (its aim) from `from` at `to`.
pub(crate) fn aim(from: [f32; 3], to: [f64; 3]) -> Quat {
    let d = [0, 1, 2].map(|i| to[i] as f32 - from[i]);
    let n = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
    let d = d.map(|c| c / n);
    // axis = -Z x d, angle = acos(-Z . d)
    let axis = [d[1], -d[0], 0.0];
    let s = (axis[0] * axis[0] + axis[1] * axis[1]).sqrt();
    if s < 1e-6 {
        return Quat::IDENTITY;
    }
    Quat::from_axis_angle(axis, s.atan2(-d[2]))
}

fn widget(v: &Value, name: &str) -> [f64; 3] {
    let w = &v["panel"]["widgets"][name];
    assert!(w.is_array(), "no {name:?} on the panel: {}", v["panel"]);
    v3(w)
}

/// Points the right laser at a control of the panel and pulls the trigger
/// once; returns the first trace line after the release.
pub(crate) fn click(app: &mut RunningApp, rig: &mut RemoteRig, name: &str) -> Value {
    let now = app.wait_for("a trace line", Duration::from_secs(120), |_| true);
    let at = widget(&now, name);
    let pose = Pose::at(RIGHT_AT[0], RIGHT_AT[1], RIGHT_AT[2]).rotated(aim(RIGHT_AT, at));
    rig.set_hand(Hand::Right, pose, Buttons::default());
    rig.send().unwrap();
    app.wait_for(
        &format!("the laser on {name:?}"),
        Duration::from_secs(120),
        |v| {
            v["panel"]["pointer"].is_array()
                && v["hands"][1]["trigger"].as_f64() == Some(0.0)
                && (f(v, &["hands", "1", "aim_forward", "2"]) - at_forward(at)[2]).abs() < 1e-3
        },
    );
    let pull = Buttons {
        trigger: 1.0,
        ..Buttons::default()
    };
    rig.set_hand(Hand::Right, pose, pull);
    rig.send().unwrap();
    app.wait_for("the press on the panel", Duration::from_secs(120), |v| {
        v["panel"]["pressed"] == true
    });
    rig.set_hand(Hand::Right, pose, Buttons::default());
    rig.send().unwrap();
    app.wait_for("the release", Duration::from_secs(120), |v| {
        v["panel"]["pressed"] == false && v["hands"][1]["trigger"].as_f64() == Some(0.0)
    })
}

/// The app in VR on its own port, the head at standing height, the left
/// hand held up in front of the chest (the wrist panel hangs above it) and
/// the right hand at [`RIGHT_AT`], ready to point at the panel.
pub(crate) fn start_with_panel_up(dir: &Path, display: &Display) -> (RunningApp, RemoteRig) {
    let (app, mut rig) = start_traced(dir, display, crate::window::free_port());
    rig.set_head(Pose::at(0.0, 1.6, 0.0));
    rig.set_hand(Hand::Left, Pose::at(0.0, 1.38, -0.45), Buttons::default());
    rig.set_hand(
        Hand::Right,
        Pose::at(RIGHT_AT[0], RIGHT_AT[1], RIGHT_AT[2]),
        Buttons::default(),
    );
    rig.send().unwrap();
    (app, rig)
}

/// The unit direction from the right controller to `at`.
fn at_forward(at: [f64; 3]) -> [f64; 3] {
    let d = [0, 1, 2].map(|i| at[i] - RIGHT_AT[i] as f64);
    let n = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
    d.map(|c| c / n)
}

/// What is left once the panel has left VR: the app on the desktop, its
/// rig and display (kept alive), and the trace line after it.
struct LeftVr {
    app: RunningApp,
    _rig: RemoteRig,
    display: Display,
    _dir: tempfile::TempDir,
    desk: Value,
    frames: Value,
}

/// Plane 1 on from the wrist panel (the trigger picks nothing in the
/// scene), then Leave VR from it: the session ends, the desktop goes on.
fn leave_vr_from_the_panel() -> LeftVr {
    let dir = tempfile::tempdir().unwrap();
    // Display and port of its own: the XR tests run in parallel.
    let display = Display::start(1280, 800);
    let (mut app, mut rig) = start_with_panel_up(dir.path(), &display);
    let ready = app.wait_for(
        "a focused session with the panel on the wrist",
        Duration::from_secs(400),
        |v| {
            v["session_state"] == "FOCUSED"
                && v["on_table"] == true
                && v["panel"]["visible"] == true
                && v["panel"]["widgets"]["plane 1"].is_array()
        },
    );
    // Above the left hand, facing the eyes.
    let c = v3(&ready["panel"]["centre"]);
    assert!(
        c[1] > 1.38 && (c[2] + 0.45).abs() < 0.2,
        "{}",
        ready["panel"]
    );
    assert!(
        f(&ready, &["panel", "normal", "2"]) > 0.5,
        "{}",
        ready["panel"]
    );
    assert_eq!(ready["planes"].as_array().map(Vec::len), Some(0));

    // Plane 1 on, from the panel; the trigger picked nothing in the scene.
    let first = f(&ready, &["frame"]);
    let after = click(&mut app, &mut rig, "plane 1");
    let on = app.wait_for("plane 1 on", Duration::from_secs(120), |v| {
        v["planes"].as_array().is_some_and(|p| p.len() == 1)
    });
    assert_eq!(on["planes"][0]["index"], 0);
    let picks: Vec<_> = app
        .lines()
        .into_iter()
        .filter(|v| f(v, &["frame"]) > first)
        .flat_map(|v| v["actions"].as_array().cloned().unwrap_or_default())
        .filter(|a| a.as_str().is_some_and(|a| a.contains("Pick")))
        .collect();
    assert!(
        picks.is_empty(),
        "the panel's trigger also picked: {picks:?}"
    );
    assert_eq!(after["xr_state"], "Running");

    // Leave VR from the panel: the session ends, the desktop goes on.
    click(&mut app, &mut rig, "leave vr");
    let left = app.wait_for("the session to end", Duration::from_secs(180), |v| {
        v["xr_state"] == "Available"
            && v["desktop_button"]["label"] == "Enter VR"
            && v["panel"]["visible"] == false
    });
    let frames = left["eye_frames"].clone();
    let desk = app.wait_for("the desktop going on", Duration::from_secs(120), |v| {
        f(v, &["frame"]) > f(&left, &["frame"]) + 5.0
    });
    assert_eq!(desk["eye_frames"], frames, "eyes drawn after Leave VR");
    LeftVr {
        app,
        _rig: rig,
        display,
        _dir: dir,
        desk,
        frames,
    }
}

#[test]
fn the_world_panel_clicks_and_leaves_vr_and_the_desktop_enters_it_again() {
    if skip() {
        return;
    }
    if crate::checks::program(
        "xdotool",
        "clicking Enter VR in the window",
        "scripts/setup.sh, or apt-get install xdotool",
    )
    .is_none()
    {
        return;
    }
    let LeftVr {
        mut app,
        _rig: _keep_rig,
        display,
        _dir: _keep_dir,
        desk,
        frames,
    } = leave_vr_from_the_panel();
    // Enter VR on the desktop panel, clicked in the window.
    let at = v3(&desk["desktop_button"]["at"]);
    let out = crate::window::output_within(
        Command::new("xdotool").env("DISPLAY", &display.name).args([
            "search",
            "--sync",
            "--name",
            "^Stratum$",
        ]),
        Duration::from_secs(60),
        "xdotool search --sync",
    );
    let window = String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(!window.is_empty(), "no Stratum window: {out:?}");
    let (x, y) = (at[0].round().to_string(), at[1].round().to_string());
    // On a loaded machine a frame can take seconds, and a click that comes
    // and goes within one may be missed: click again (at most three times)
    // until the app says a session is starting.
    let mut starting = None;
    for _ in 0..3 {
        let clicked = crate::window::output_within(
            Command::new("xdotool")
                .env("DISPLAY", &display.name)
                .args(["mousemove", "--window", &window, &x, &y])
                .args([
                    "sleep",
                    "0.3",
                    "mousedown",
                    "1",
                    "sleep",
                    "0.3",
                    "mouseup",
                    "1",
                ]),
            Duration::from_secs(60),
            "xdotool click",
        );
        assert!(clicked.status.success(), "{clicked:?}");
        starting = app.try_wait_for("a session starting", Duration::from_secs(120), |v| {
            v["xr_state"] != "Available" || v["desktop_button"]["label"] != "Enter VR"
        });
        if starting.is_some() {
            break;
        }
    }
    assert!(
        starting.is_some(),
        "three clicks on Enter VR at ({x}, {y}) started no session:\n{}",
        app.log_text()
    );
    let again = app.wait_for(
        "a new focused session with the anatomy on the table",
        Duration::from_secs(300),
        |v| {
            v["session_state"] == "FOCUSED"
                && v["xr_state"] == "Running"
                && v["on_table"] == true
                && f(v, &["eye_frames", "0"]) > f(&frames, &["0"]) + 3.0
        },
    );
    assert_eq!(again["desktop_button"]["label"], "Leave VR");
    // The plane set in the first session is still there.
    assert_eq!(again["planes"].as_array().map(Vec::len), Some(1));
}
