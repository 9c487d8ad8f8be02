//! The brush in the headset on a real OpenXR runtime (Monado with its
//! remote driver): "Add" on the wrist panel, a trigger stroke through the
//! anatomy puts voxels into the selected segment (through the desktop's
//! stroke edits), and Undo on the panel gives the label map back bit for bit;
//! a flick of the left thumbstick redoes and undoes it. The ball meeting
//! the segment's surface sends the controller a haptic pulse. With the
//! slice in space shown, a stroke begun on it paints a disc in that slice.

use std::time::Duration;

use serde_json::Value;

use crate::xr::{Display, f, skip, v3};
use crate::xr_panel::{RIGHT_AT, click, start_with_panel_up};
use crate::xr_remote::{Buttons, Hand, Pose};

fn count(v: &Value, name: &str) -> u64 {
    v["doc"]["counts"][name].as_u64().unwrap_or(u64::MAX)
}

#[test]
fn a_trigger_stroke_paints_the_selected_segment_and_undo_on_the_wrist_panel_restores_it() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let display = Display::start(1280, 800);
    let (mut app, mut rig) = start_with_panel_up(dir.path(), &display);
    let ready = app.wait_for(
        "a focused session with the anatomy meshed and the brush on the panel",
        Duration::from_secs(400),
        |v| {
            v["session_state"] == "FOCUSED"
                && v["on_table"] == true
                && v["panel"]["widgets"]["brush add"].is_array()
                && v["doc"]["counts"].is_object()
                && v["visible"].as_array().is_some_and(|s| !s.is_empty())
        },
    );
    let name = ready["visible"][0].as_str().unwrap().to_string();
    click(&mut app, &mut rig, &format!("select {name}"));
    click(&mut app, &mut rig, "brush add");
    let before = app.wait_for("brushing on", Duration::from_secs(120), |v| {
        v["brush"]["active"] == true && v["brush"]["segment"] == name.as_str()
    });
    assert_eq!(before["brush"]["tool"], "Add");
    let (hash0, n0) = (before["doc"]["hash"].clone(), count(&before, &name));
    let steps0 = before["doc"]["steps"].clone();

    // Through the anatomy's centre, right to left, the controller pointing
    // ahead (its tip 4 cm ahead of it), the trigger held.
    let c = v3(&before["anatomy_centre"]);
    let at = |dx: f64| Pose::at((c[0] + dx) as f32, c[1] as f32, (c[2] + 0.04) as f32);
    let pull = Buttons {
        trigger: 1.0,
        ..Buttons::default()
    };
    rig.set_hand(Hand::Right, at(-0.04), Buttons::default());
    rig.send().unwrap();
    app.wait_for("the hand at the start", Duration::from_secs(120), |v| {
        (f(v, &["hands", "1", "grip", "0"]) - (c[0] - 0.04)).abs() < 1e-3
    });
    rig.set_hand(Hand::Right, at(-0.04), pull);
    rig.send().unwrap();
    app.wait_for("the stroke to begin", Duration::from_secs(120), |v| {
        v["brush"]["stroking"] == true
    });
    // 8 cm in STRATUM_XR_STROKE_STEPS samples (8 unless set: the VR
    // brush benchmark, bench/xr-stroke.sh, asks for more, finer ones).
    let steps: u32 = std::env::var("STRATUM_XR_STROKE_STEPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|&n| n >= 2)
        .unwrap_or(8);
    let began = app.seen;
    let mut update_ms = Vec::new();
    for k in 1..=steps {
        let dx = -0.04 + 0.08 * f64::from(k) / f64::from(steps);
        rig.set_hand(Hand::Right, at(dx), pull);
        rig.send().unwrap();
        let v = app.wait_for("the hand along the stroke", Duration::from_secs(120), |v| {
            (f(v, &["hands", "1", "grip", "0"]) - (c[0] + dx)).abs() < 1e-3
        });
        update_ms.push(f(&v, &["update_ms"]));
    }
    rig.set_hand(Hand::Right, at(0.04), Buttons::default());
    rig.send().unwrap();
    let painted = app.wait_for("the stroke's history step", Duration::from_secs(180), |v| {
        v["brush"]["stroking"] == false && v["doc"]["steps"] != steps0
    });
    let n1 = count(&painted, &name);
    assert!(n1 > n0, "{name}: {n0} -> {n1} voxels");
    assert_ne!(painted["doc"]["hash"], hash0);
    let step = painted["doc"]["steps"][0].as_str().unwrap_or_default();
    assert_eq!(step, format!("Add {name}"));
    // The stroke is a capsule 8 cm long of the brush's diameter at most
    // (the anatomy is life size on the table).
    let d = f(&painted, &["brush", "diameter_mm"]);
    let capsule_mm3 = std::f64::consts::PI * (d / 2.0).powi(2) * (80.0 + 2.0 * d / 3.0);
    let voxel_mm3 = f(&painted, &["doc", "voxel_mm3"]);
    assert!(
        (n1 - n0) as f64 * voxel_mm3 <= capsule_mm3 * 1.1,
        "{} voxels of {voxel_mm3} mm3 in a capsule of {capsule_mm3} mm3",
        n1 - n0
    );
    eprintln!("update_ms while stroking: {update_ms:?}");
    // Each sample of the stroke, timed from its edit to its chunk meshes:
    // every one remeshed a chunk at least (the surface follows the hand),
    // the first turned the surface into chunks.
    let samples: Vec<Value> = app
        .lines()
        .iter()
        .filter(|v| v["frame"].as_f64().is_some_and(|n| n > began))
        .flat_map(|v| {
            v["brush"]["samples"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    assert!(
        samples.len() as u32 >= steps / 2,
        "{} samples timed for {steps} steps",
        samples.len()
    );
    assert!(
        samples.iter().all(|s| s["chunks"].as_u64() >= Some(1)),
        "{samples:?}"
    );
    assert_eq!(samples[0]["first"], true, "{samples:?}");
    let mut wall: Vec<f64> = samples[1..].iter().map(|s| f(s, &["wall_ms"])).collect();
    wall.sort_by(f64::total_cmp);
    let pick = |q: usize| wall.get((wall.len() * q).div_ceil(100).saturating_sub(1));
    eprintln!(
        "brush sample to chunk meshes: {} samples after the first, p50 {:?} ms, p95 {:?} ms; the first {}; all {wall:?}",
        wall.len(),
        pick(50),
        pick(95),
        samples[0]
    );
    // The brush's touch: the ball (trigger released) 3 cm above the painted
    // capsule touches nothing; brought down to 6 mm above its axis it
    // reaches the capsule's surface, and the runtime takes a pulse.
    let above = |dy: f64| Pose::at(c[0] as f32, (c[1] + dy) as f32, (c[2] + 0.04) as f32);
    rig.set_hand(Hand::Right, above(0.03), Buttons::default());
    rig.send().unwrap();
    let clear = app.wait_for(
        "the ball 3 cm above the stroke, touching nothing",
        Duration::from_secs(120),
        |v| {
            (f(v, &["hands", "1", "grip", "1"]) - (c[1] + 0.03)).abs() < 1e-3
                && v["brush"]["touching"] == false
        },
    );
    let pulses0 = clear["brush"]["touch_pulses"].as_u64().unwrap();
    rig.set_hand(Hand::Right, above(0.006), Buttons::default());
    rig.send().unwrap();
    let touched = app.wait_for(
        "a pulse as the ball meets the painted surface",
        Duration::from_secs(120),
        |v| v["brush"]["touch_pulses"].as_u64().unwrap_or(0) > pulses0,
    );
    assert_eq!(touched["brush"]["touching"], true, "{}", touched["brush"]);
    assert!(
        touched["brush"]["touch_error"].is_null(),
        "{}",
        touched["brush"]
    );
    assert_eq!(
        touched["doc"]["hash"], painted["doc"]["hash"],
        "a touch paints nothing"
    );

    // Undo on the wrist panel: the label map as it was, bit for bit.
    rig.set_hand(
        Hand::Right,
        Pose::at(RIGHT_AT[0], RIGHT_AT[1], RIGHT_AT[2]),
        Buttons::default(),
    );
    rig.send().unwrap();
    click(&mut app, &mut rig, "undo");
    let undone = app.wait_for("the undo", Duration::from_secs(180), |v| {
        v["doc"]["hash"] == hash0
    });
    assert_eq!(count(&undone, &name), n0);
    assert_eq!(undone["doc"]["steps"], steps0);

    // The undo gesture: the left thumbstick flicked right redoes the
    // stroke, flicked left undoes it again, each once per flick.
    let left = Pose::at(0.0, 1.38, -0.45);
    let stick = |x: f32| Buttons {
        thumbstick: [x, 0.0],
        ..Buttons::default()
    };
    for (x, hash, what) in [
        (0.9, &painted["doc"]["hash"], "the redo by a flick right"),
        (-0.9, &hash0, "the undo by a flick left"),
    ] {
        rig.set_hand(Hand::Left, left, stick(x));
        rig.send().unwrap();
        app.wait_for(what, Duration::from_secs(180), |v| {
            v["doc"]["hash"] == *hash
        });
        rig.set_hand(Hand::Left, left, stick(0.0));
        rig.send().unwrap();
        app.wait_for(
            "the thumbstick back in the middle",
            Duration::from_secs(120),
            |v| f(v, &["hands", "0", "thumbstick", "0"]).abs() < 1e-3,
        );
    }
    let last = app.wait_for("a trace line", Duration::from_secs(60), |_| true);
    assert_eq!(last["doc"]["hash"], hash0, "one step per flick");

    // The slice in space (the panel's Scan slice): a stroke begun with the
    // ball on it paints the slice views' disc in that slice, Add as Paint.
    rig.set_hand(
        Hand::Right,
        Pose::at(RIGHT_AT[0], RIGHT_AT[1], RIGHT_AT[2]),
        Buttons::default(),
    );
    rig.send().unwrap();
    click(&mut app, &mut rig, "scan slice");
    let shown = app.wait_for("the slice in space", Duration::from_secs(120), |v| {
        v["reslice"]["centre"].is_array()
    });
    let (q, n) = (
        v3(&shown["reslice"]["centre"]),
        v3(&shown["reslice"]["normal"]),
    );
    // A direction in the slice's plane, across the hand's path.
    let cross = |a: [f64; 3], b: [f64; 3]| {
        [
            a[1] * b[2] - a[2] * b[1],
            a[2] * b[0] - a[0] * b[2],
            a[0] * b[1] - a[1] * b[0],
        ]
    };
    let mut along = cross(n, [0.0, 1.0, 0.0]);
    if along.iter().map(|c| c * c).sum::<f64>() < 0.01 {
        along = cross(n, [1.0, 0.0, 0.0]);
    }
    let l = along.iter().map(|c| c * c).sum::<f64>().sqrt();
    let along = along.map(|c| c / l);
    // The tip 4 cm ahead of the grip along -z: the grip 4 cm behind the
    // point on the slice.
    let tip_at = |s: f64| {
        let p: [f64; 3] = std::array::from_fn(|k| q[k] + along[k] * s);
        Pose::at(p[0] as f32, p[1] as f32, (p[2] + 0.04) as f32)
    };
    let (n2, steps2) = (count(&shown, &name), shown["doc"]["steps"].clone());
    rig.set_hand(Hand::Right, tip_at(-0.03), Buttons::default());
    rig.send().unwrap();
    // The right grip where `tip_at(s)` put it.
    let grip_at = |v: &Value, s: f64| {
        (0..3).all(|k| {
            let want = q[k] + along[k] * s + if k == 2 { 0.04 } else { 0.0 };
            (f(v, &["hands", "1", "grip", &k.to_string()]) - want).abs() < 1e-3
        })
    };
    app.wait_for("the hand at the slice", Duration::from_secs(120), |v| {
        grip_at(v, -0.03)
    });
    rig.set_hand(Hand::Right, tip_at(-0.03), pull);
    rig.send().unwrap();
    let begun = app.wait_for("a stroke on the slice", Duration::from_secs(120), |v| {
        v["brush"]["stroking"] == true
    });
    assert_eq!(begun["brush"]["on_slice"], true, "{}", begun["brush"]);
    for k in 1..=6 {
        let s = -0.03 + 0.01 * k as f64;
        rig.set_hand(Hand::Right, tip_at(s), pull);
        rig.send().unwrap();
        app.wait_for("the hand along the slice", Duration::from_secs(120), |v| {
            grip_at(v, s)
        });
    }
    rig.set_hand(Hand::Right, tip_at(0.03), Buttons::default());
    rig.send().unwrap();
    let disc = app.wait_for(
        "the slice stroke's history step",
        Duration::from_secs(180),
        |v| v["brush"]["stroking"] == false && v["doc"]["steps"] != steps2,
    );
    assert_eq!(
        disc["doc"]["steps"][0].as_str().unwrap_or_default(),
        format!("Paint {name}")
    );
    let n3 = count(&disc, &name);
    assert!(n3 > n2, "{name}: {n2} -> {n3} voxels");
    // One slice thick: at most the disc swept 6 cm (a band of the
    // diameter, two half discs) one voxel deep, far below the ball's
    // capsule over the same path.
    let d = f(&disc, &["brush", "diameter_mm"]);
    let sp = v3(&disc["doc"]["spacing"]);
    let thickest = sp.iter().copied().fold(0.0, f64::max);
    let band_mm3 = (d * 60.0 + std::f64::consts::PI * (d / 2.0).powi(2)) * thickest;
    let voxel_mm3 = f(&disc, &["doc", "voxel_mm3"]);
    assert!(
        (n3 - n2) as f64 * voxel_mm3 <= band_mm3 * 1.2,
        "{} voxels of {voxel_mm3} mm3 beyond a band of {band_mm3} mm3",
        n3 - n2
    );
}
