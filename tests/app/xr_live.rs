//! A presenter in a headset, followed live from a browser: the app on
//! Monado (remote driver, as `xr.rs`) starts Share live from its wrist
//! panel; headless Chromium opens the follower's link; the test turns the
//! controller that holds the model, in three steps of 30 degrees, and the
//! follower's model turns with it, step by step, seen from the presenter's
//! eyes. Each step's latency (the rig's send to the page having applied
//! the turned pose) is printed for BENCHMARKS.md.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::live::{Browser, KillOnDrop, browser};
use crate::xr::{Display, f, skip, v3};
use crate::xr_panel::{click, start_with_panel_up};
use crate::xr_remote::{Buttons, Hand, Pose, Quat};

/// The angle (degrees) between two unit quaternions (x, y, z, w).
fn angle_deg(a: [f64; 4], b: [f64; 4]) -> f64 {
    let dot: f64 = (0..4).map(|i| a[i] * b[i]).sum::<f64>().abs().min(1.0);
    2.0 * dot.acos().to_degrees()
}

fn quat(v: &Value) -> [f64; 4] {
    [0, 1, 2, 3].map(|i| v[i].as_f64().unwrap_or(f64::NAN))
}

/// A line of the browser script's standard output, within `timeout`.
fn line(rx: &mpsc::Receiver<String>, timeout: Duration, what: &str) -> Value {
    let line = rx.recv_timeout(timeout).unwrap_or_else(|_| {
        panic!("the browser script said nothing about {what} within {timeout:?}")
    });
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{what}: {e}: {line}"))
}

fn coloured(img: &image::RgbImage) -> usize {
    img.pixels()
        .filter(|p| {
            let (hi, lo) = (*p.0.iter().max().unwrap(), *p.0.iter().min().unwrap());
            hi as i32 - lo as i32 > 60
        })
        .count()
}

/// A copy of a screenshot in STRATUM_KEEP_SCREENSHOTS, when set.
fn keep(png: &Path) {
    if let Some(dir) = std::env::var_os("STRATUM_KEEP_SCREENSHOTS") {
        let name = png.file_name().unwrap().to_string_lossy();
        let _ = std::fs::copy(png, Path::new(&dir).join(format!("xr_live_{name}")));
    }
}

#[test]
fn a_browser_follows_a_presenter_in_a_headset_and_the_model_turns_as_the_grip_turns() {
    if skip() {
        return;
    }
    let Some(Browser {
        node,
        chromium,
        playwright: pw,
    }) = browser()
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let display = Display::start(1280, 800);
    let (mut app, mut rig) = start_with_panel_up(dir.path(), &display);
    app.wait_for(
        "a focused session with the demo meshed and the Share page's tab",
        Duration::from_secs(400),
        |v| {
            v["session_state"] == "FOCUSED"
                && v["on_table"] == true
                && v["panel"]["widgets"]["page share"].is_array()
                && f(v, &["segments_meshed"]) >= 3.0
        },
    );
    click(&mut app, &mut rig, "page share");
    app.wait_for("the Share page", Duration::from_secs(120), |v| {
        v["panel"]["widgets"]["share start"].is_array()
    });
    click(&mut app, &mut rig, "share start");
    let shared = app.wait_for("sharing, with a link", Duration::from_secs(180), |v| {
        v["live"]["follow"].is_string() || v["live"]["error"].is_string()
    });
    assert!(shared["live"]["error"].is_null(), "{}", shared["live"]);
    let follow = shared["live"]["follow"].as_str().unwrap().to_string();
    assert!(follow.contains("/#k="), "{follow}");
    // The wrist shows Stop now.
    app.wait_for("Stop on the wrist", Duration::from_secs(120), |v| {
        v["panel"]["widgets"]["share stop"].is_array()
    });

    let out = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/app/live/follow_vr.cjs");
    let mut child = KillOnDrop(
        Command::new(node)
            .arg(script)
            .arg(&follow)
            .arg(out.path())
            .env("PLAYWRIGHT_CORE", pw)
            .env("CHROMIUM", chromium)
            .env("HOME", out.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let mut to_script = child.0.stdin.take().unwrap();
    let from_script = child.0.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(from_script).lines().map_while(Result::ok) {
            if tx.send(l).is_err() {
                break;
            }
        }
    });
    let ready = line(&rx, Duration::from_secs(400), "the follower's page loading");
    assert_eq!(ready["ready"], true, "{ready}");
    eprintln!("the follower's page: {ready}");
    assert!(f(&ready, &["segments"]) >= 3.0, "{ready}");

    // The follower sees from the presenter's eyes: its camera is as far
    // from its target as the head is from the anatomy's centre.
    let now = app.wait_for("a trace line", Duration::from_secs(60), |_| true);
    let (head, centre) = (v3(&now["head"]), v3(&now["anatomy_centre"]));
    let d_head = (0..3)
        .map(|i| (head[i] - centre[i]).powi(2))
        .sum::<f64>()
        .sqrt();
    let d_page = f(&ready, &["camera", "distance_mm"]) / 1000.0;
    assert!(
        (d_page - d_head).abs() < 0.05 * d_head,
        "the page's camera is {d_page} m from its target, the head {d_head} m from the anatomy"
    );
    let start = quat(&now["pose"]["rotation"]);

    // Hold the model with the right hand (moved away from the panel), then
    // turn the hand about the vertical, 30 degrees a step.
    let at = Pose::at(0.2, 1.3, -0.5);
    let grab = Buttons {
        squeeze: 1.0,
        ..Buttons::default()
    };
    rig.set_hand(Hand::Right, at, Buttons::default());
    rig.send().unwrap();
    app.wait_for(
        "the hand away from the panel",
        Duration::from_secs(120),
        |v| (f(v, &["hands", "1", "grip", "0"]) - 0.2).abs() < 0.05,
    );
    rig.set_hand(Hand::Right, at, grab);
    rig.send().unwrap();
    app.wait_for("the squeeze", Duration::from_secs(120), |v| {
        f(v, &["hands", "1", "squeeze"]) > 0.9
    });
    let mut latencies = Vec::new();
    let mut last_png = out.path().join("start.png");
    for k in 1..=3 {
        let degrees = 30.0 * k as f64;
        let turn = Quat::from_axis_angle([0.0, 1.0, 0.0], (degrees as f32).to_radians());
        let sent = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
            * 1000.0;
        rig.set_hand(Hand::Right, at.rotated(turn), grab);
        rig.send().unwrap();
        writeln!(to_script, "turn {k} {degrees} {sent:.1}").unwrap();
        let turned = app.wait_for(
            &format!("the model turned {degrees} degrees"),
            Duration::from_secs(180),
            |v| (angle_deg(start, quat(&v["pose"]["rotation"])) - degrees).abs() < 1.0,
        );
        let seen = line(&rx, Duration::from_secs(300), &format!("turn {k}"));
        assert_eq!(f(&seen, &["step"]), k as f64, "{seen}");
        let page = f(&seen, &["angle"]);
        assert!(
            (page - degrees).abs() < 3.0,
            "turn {k}: the app turned {degrees} degrees, the page {page}"
        );
        // The follower's pose is the app's: the same turn from the start.
        let app_now = angle_deg(start, quat(&turned["pose"]["rotation"]));
        assert!((page - app_now).abs() < 3.0, "{page} {app_now}");
        // The rig's send to the app's frame with the turned model (the
        // runtime, the app's frame on software Vulkan), and to the page.
        latencies.push((f(&turned, &["unix_ms"]) - sent, f(&seen, &["latency_ms"])));
        // The picture changed with the turn and the anatomy stays in view.
        let png = out.path().join(format!("turn{k}.png"));
        keep(&last_png);
        keep(&png);
        let (before, after) = (
            image::open(&last_png).unwrap().to_rgb8(),
            image::open(&png).unwrap().to_rgb8(),
        );
        assert!(
            coloured(&after) > 5_000,
            "turn {k}: {} coloured pixels",
            coloured(&after)
        );
        let changed = before
            .pixels()
            .zip(after.pixels())
            .filter(|(a, b)| {
                a.0.iter()
                    .zip(b.0)
                    .any(|(x, y)| (*x as i32 - y as i32).abs() > 40)
            })
            .count();
        assert!(changed > 2_000, "turn {k}: {changed} pixels changed");
        last_png = png;
    }
    // What the presenter's wrist shows meanwhile (for a developer's eyes).
    keep(&dir.path().join("trace.panel.png"));
    keep(&out.path().join("page.png"));
    writeln!(to_script, "end").unwrap();
    let end = Instant::now() + Duration::from_secs(60);
    while child.0.try_wait().unwrap().is_none() {
        assert!(Instant::now() < end, "the browser script did not end");
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!(
        "VR presenter to browser follower, grip turn to (the app's frame, the page applied) in ms: {latencies:?}"
    );

    // Stop from the wrist (once the browser has gone and the page's list
    // of followers with it, so the button stays put): the link goes.
    app.wait_for("the browser gone", Duration::from_secs(120), |v| {
        v["live"]["following"] == 0
    });
    // The panel is drawn after the trace's frame: a later frame has it.
    for _ in 0..2 {
        app.wait_for("another frame", Duration::from_secs(60), |_| true);
    }
    click(&mut app, &mut rig, "share stop");
    app.wait_for("sharing stopped", Duration::from_secs(120), |v| {
        v["live"]["follow"].is_null() && v["panel"]["widgets"]["share start"].is_array()
    });
}
