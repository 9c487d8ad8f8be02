//! Rehearsing a resection from the wrist panel on a real OpenXR runtime
//! (Monado with its remote driver): the Distances page picks two segments
//! of the demo with its step buttons, measures their minimum distance (the
//! desktop window's line, the same figure as `stratum measure`) and turns
//! the margin map of the first to the second on and off; then turns clip
//! plane 1 on and resects the first segment along it ("Resect From along
//! plane 1"), whose parts' volumes are the desktop resection's; undone,
//! the same cut is made along a surface through points placed with the
//! trigger on the model.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use stratum::app::features::margins::{MID, NEAR};
use stratum_core::image::volume::{cross, dot, norm, normalize, sub};

use crate::xr::{Display, RunningApp, f, skip, v3};
use crate::xr_panel::{aim, click, start_with_panel_up};
use crate::xr_remote::{Buttons, Hand, Pose, RemoteRig};

/// The names of the pair the panel has picked.
fn pair(v: &Value) -> (String, String) {
    let p = &v["surgery"]["pair"];
    let s = |i: usize| p[i].as_str().unwrap_or_default().to_string();
    (s(0), s(1))
}

/// `stratum measure` on the demo: the distance between labels `a` and `b`.
fn measured_by_the_cli(a: u64, b: u64) -> f64 {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let out = Command::new(env!("CARGO_BIN_EXE_stratum"))
        .arg("measure")
        .arg(demo.join("example_ct.nii.gz"))
        .arg("--labels")
        .arg(demo.join("example_seg_fast_force_split.nii.gz"))
        .arg("--names")
        .arg(demo.join("labels_total_ct.tsv"))
        .args(["--distance", &format!("{a},{b}")])
        .output()
        .expect("run stratum measure");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    text.lines()
        .next()
        .and_then(|l| l.split(": ").nth(1))
        .and_then(|s| s.split(" mm").next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no distance in {text:?}"))
}

/// `stratum measure --resect` on the demo (the desktop's resection: the
/// same core function on the same label map): the remnant (mL, % of the
/// organ) and the part resected (mL) of label `organ` along a plane.
fn resected_by_the_cli(organ: u64, point: &Value, normal: &Value) -> [f64; 3] {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let v = |x: &Value, k: usize| x[k].as_f64().expect("a plane in the trace");
    let plane = format!(
        "{},{},{},{},{},{}",
        v(point, 0),
        v(point, 1),
        v(point, 2),
        v(normal, 0),
        v(normal, 1),
        v(normal, 2)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_stratum"))
        .arg("measure")
        .arg(demo.join("example_ct.nii.gz"))
        .arg("--labels")
        .arg(demo.join("example_seg_fast_force_split.nii.gz"))
        .arg("--names")
        .arg(demo.join("labels_total_ct.tsv"))
        .args(["--resect", &organ.to_string(), "--plane", &plane])
        .output()
        .expect("run stratum measure");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}");
    // "liver: remnant 612.0 mL, 38.0% of 1610.5 mL (resected 998.5 mL)"
    let line = text.lines().next().unwrap_or_default();
    let number = |after: &str| -> f64 {
        line.split(after)
            .nth(1)
            .and_then(|s| s.split([' ', '%']).next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no {after:?} in {line:?}"))
    };
    [number("remnant "), number("mL, "), number("(resected ")]
}

#[test]
fn the_wrist_panel_measures_the_distance_and_shows_the_margin_map_of_the_pair_it_picks() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let display = Display::start(1280, 800);
    let (mut app, mut rig) = start_with_panel_up(dir.path(), &display);
    app.wait_for(
        "a focused session with the demo meshed and the panel's pages",
        Duration::from_secs(400),
        |v| {
            v["session_state"] == "FOCUSED"
                && v["on_table"] == true
                && v["panel"]["widgets"]["page distances"].is_array()
                && f(v, &["segments_meshed"]) >= 3.0
        },
    );
    click(&mut app, &mut rig, "page distances");
    let page = app.wait_for("the Distances page", Duration::from_secs(120), |v| {
        v["surgery"]["page"] == "Distances"
            && v["panel"]["widgets"]["surgery b next"].is_array()
            && v["surgery"]["pair"][1].is_string()
    });
    // The first two segments to start with; "To" steps to the next one.
    let (a, b0) = pair(&page);
    assert_ne!(a, b0);
    click(&mut app, &mut rig, "surgery b next");
    let stepped = app.wait_for("To on the next segment", Duration::from_secs(120), |v| {
        pair(v).1 != b0
    });
    let (a1, b) = pair(&stepped);
    assert_eq!(a1, a, "stepping To changed From");
    assert_ne!(b, a);
    let ids = [0, 1].map(|i| stepped["surgery"]["pair_ids"][i].as_u64().unwrap());

    // The distance: the desktop window's line on the panel, a ruler of the
    // same length, and the figure `stratum measure` gives for the labels.
    click(&mut app, &mut rig, "surgery measure");
    let measured = app.wait_for("the distance", Duration::from_secs(180), |v| {
        v["surgery"]["distance"]["a"] == a.as_str() && v["surgery"]["distance"]["b"] == b.as_str()
    });
    let mm = f(&measured, &["surgery", "distance", "mm"]);
    let readout = measured["surgery"]["readout"].as_str().unwrap_or_default();
    assert!(
        readout.starts_with(&format!("{a} ↔ {b}: {mm:.2} mm")),
        "the panel reads {readout:?}, the distance is {mm}"
    );
    let rulers: Vec<f64> = measured["rulers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    assert!(
        rulers.iter().any(|r| (r - mm).abs() < 0.01),
        "no ruler of {mm} mm: {rulers:?}"
    );
    // The CLI measures the full-resolution surfaces, the app its reduced
    // ones (half the triangles): within half a voxel (1.5 mm) of each other.
    let cli = measured_by_the_cli(ids[0], ids[1]);
    assert!(
        (cli - mm).abs() <= 1.5,
        "the panel says {mm} mm, stratum measure {cli} mm"
    );

    // The margin map of From to To, measured in the background, then off.
    click(&mut app, &mut rig, "surgery margin");
    let shown = app.wait_for("the margin map", Duration::from_secs(240), |v| {
        let m = &v["surgery"]["margin"];
        m["a"] == a.as_str()
            && m["b"] == b.as_str()
            && m["measuring"] == false
            && m["under_pct"].is_array()
            && v["surgery"]["coloured"] == serde_json::json!([a])
    });
    let m = &shown["surgery"]["margin"];
    assert_eq!(m["thresholds_mm"], serde_json::json!([5.0, 10.0]));
    // The nearest vertex of the map is no nearer than the minimum distance
    // (the map measures A's vertices; the minimum may lie inside a face).
    let min = f(m, &["min_mm"]);
    assert!(min >= mm - 1e-3, "margin map nearest {min} < distance {mm}");
    assert!(
        f(&shown, &["surgery", "margin_measured"]) <= 2.0,
        "{}",
        shown["surgery"]
    );
    // The panel's picture once it has shown the map for a while (the trace
    // saves it beside itself): the legend's red and yellow swatches.
    let shots = shown["panel_shots"].as_u64().unwrap_or(0);
    app.wait_for("a picture of the panel", Duration::from_secs(180), |v| {
        v["panel_shots"].as_u64() > Some(shots)
    });
    // Saved within the frame that counted it.
    app.wait_for("a trace line", Duration::from_secs(60), |_| true);
    let png = dir.path().join("trace.panel.png");
    let img = image::open(&png).expect("the panel's picture").to_rgba8();
    if let Ok(keep) = std::env::var("STRATUM_KEEP_SCREENSHOT") {
        std::fs::copy(
            &png,
            Path::new(&keep).with_file_name("xr-panel-distances.png"),
        )
        .unwrap();
    }
    let near = |c: [u8; 3]| {
        img.pixels()
            .filter(|p| (0..3).all(|k| (i32::from(p[k]) - i32::from(c[k])).abs() < 24))
            .count()
    };
    assert!(
        near(NEAR) >= 100 && near(MID) >= 100,
        "the legend is not on the panel's picture: {} red, {} yellow pixels",
        near(NEAR),
        near(MID)
    );

    click(&mut app, &mut rig, "surgery margin");
    app.wait_for("the margin map off", Duration::from_secs(120), |v| {
        v["surgery"]["margin"].is_null()
            && v["surgery"]["coloured"]
                .as_array()
                .is_some_and(|c| c.is_empty())
    });

    // Resect From along clip plane 1 from the panel. Plane 1 on (through the
    // study's centre); From stepped on to a segment the plane cuts.
    click(&mut app, &mut rig, "plane 1");
    let mut v = app.wait_for(
        "plane 1 on and the resect button",
        Duration::from_secs(120),
        |v| {
            v["planes"].as_array().is_some_and(|p| p.len() == 1)
                && v["panel"]["widgets"]["surgery resect"].is_array()
        },
    );
    let cut_by_plane = |v: &Value| {
        let from = pair(v).0;
        v["planes"][0]["cuts"]
            .as_array()
            .is_some_and(|c| c.iter().any(|n| n == from.as_str()))
    };
    for _ in 0..30 {
        if cut_by_plane(&v) {
            break;
        }
        let from = pair(&v).0;
        click(&mut app, &mut rig, "surgery a next");
        v = app.wait_for("From on the next segment", Duration::from_secs(120), |w| {
            pair(w).0 != from && w["panel"]["widgets"]["surgery resect"].is_array()
        });
    }
    assert!(
        cut_by_plane(&v),
        "plane 1 cuts none of the segments: {}",
        v["planes"]
    );
    let organ = pair(&v).0;
    let organ_id = v["surgery"]["pair_ids"][0].as_u64().unwrap();
    let (point, normal) = (
        v["planes"][0]["point_lps"].clone(),
        v["planes"][0]["normal_lps"].clone(),
    );
    let hash_before = v["doc"]["hash"].clone();
    click(&mut app, &mut rig, "surgery resect");
    let cut = app.wait_for("the resection", Duration::from_secs(180), |v| {
        v["surgery"]["resection"]["organ"] == organ.as_str()
    });
    let remnant = f(&cut, &["surgery", "resection", "remnant_ml"]);
    let pct = f(&cut, &["surgery", "resection", "remnant_pct"]);
    let resected = remnant / (pct / 100.0) - remnant;
    // The CLI prints one decimal.
    let [cli_remnant, cli_pct, cli_resected] = resected_by_the_cli(organ_id, &point, &normal);
    assert!(
        (remnant - cli_remnant).abs() <= 0.051
            && (pct - cli_pct).abs() <= 0.051
            && (resected - cli_resected).abs() <= 0.11,
        "the panel's resection of {organ}: remnant {remnant} mL ({pct}%), resected {resected} mL; \
         the desktop's: {cli_remnant} mL ({cli_pct}%), {cli_resected} mL"
    );
    assert!(resected > 0.0 && remnant > 0.0, "{}", cut["surgery"]);
    eprintln!(
        "resected {organ} along plane 1 from the panel: remnant {remnant:.2} mL ({pct:.2}%), \
         part cut away {resected:.2} mL; stratum measure --resect: {cli_remnant} mL ({cli_pct}%), {cli_resected} mL"
    );
    curved_cut_through_points_placed_with_the_trigger(&mut app, &mut rig, &cut, &hash_before);
}

/// The plane's resection undone (the label map as before, bit for bit),
/// then "Place cut points" and four trigger pulls along rays that lie in
/// plane 1: every point lands on the plane, so the surface through them is
/// the plane, and "Resect along the points" cuts the same smaller part
/// the plane does. Voxel centres may lie on the plane itself (the demo's
/// centre is on one), where the two cuts may choose differently; so the
/// part is checked between the plane's cuts moved half a voxel (1.5 mm)
/// either way, which no voxel centre can lie between.
fn curved_cut_through_points_placed_with_the_trigger(
    app: &mut RunningApp,
    rig: &mut RemoteRig,
    cut: &Value,
    hash_before: &Value,
) {
    let organ = cut["surgery"]["resection"]["organ"]
        .as_str()
        .unwrap()
        .to_string();
    let organ_id = cut["surgery"]["pair_ids"][0].as_u64().unwrap();
    let plane = cut["planes"][0].clone();
    click(app, rig, "page model");
    app.wait_for("the Model page", Duration::from_secs(120), |v| {
        v["panel"]["widgets"]["undo"].is_array()
    });
    click(app, rig, "undo");
    app.wait_for("the resection undone", Duration::from_secs(180), |v| {
        v["doc"]["hash"] == *hash_before
    });
    click(app, rig, "page distances");
    app.wait_for("the cut point buttons", Duration::from_secs(120), |v| {
        v["panel"]["widgets"]["surgery points"].is_array()
            && v["surgery"]["pair"][0] == organ.as_str()
    });
    click(app, rig, "surgery points");
    let placing = app.wait_for("placing cut points", Duration::from_secs(120), |v| {
        v["surgery"]["cut_points"]["placing"] == true
    });
    // Plane 1 in the world: kept where n . p <= d.
    let w = v3(&plane["world"]);
    let d = f(&plane, &["world", "3"]);
    let c = v3(&placing["anatomy_centre"]);
    let on =
        |p: [f64; 3], k: f64, q: [f64; 3]| std::array::from_fn::<f64, 3, _>(|i| p[i] + k * q[i]);
    let p0 = on(c, d - dot(w, c), w);
    // Towards the viewer within the plane, and across it.
    let head = [0.0, 1.6, 0.0];
    let mut u = on(sub(head, c), -dot(sub(head, c), w), w);
    if norm(u) < 0.05 {
        u = on([1.0, 0.0, 0.0], -w[0], w);
    }
    let u = normalize(u);
    let x = normalize(cross(w, u));
    // The left hand (and the panel on its wrist) out of the rays' way.
    rig.set_hand(Hand::Left, Pose::at(-0.7, 0.9, 0.3), Buttons::default());
    let pull = Buttons {
        trigger: 1.0,
        ..Buttons::default()
    };
    for (k, s) in [-0.04, -0.012, 0.015, 0.035].into_iter().enumerate() {
        let hand = on(on(p0, 0.4, u), s, x);
        let from = hand.map(|v| v as f32);
        let pose = Pose::at(from[0], from[1], from[2]).rotated(aim(from, on(hand, -1.0, u)));
        rig.set_hand(Hand::Right, pose, Buttons::default());
        rig.send().unwrap();
        app.wait_for(
            "the hand at the ray's start",
            Duration::from_secs(120),
            |v| {
                (f(v, &["hands", "1", "grip", "0"]) - hand[0]).abs() < 1e-3
                    && v["hands"][1]["trigger"].as_f64() == Some(0.0)
            },
        );
        rig.set_hand(Hand::Right, pose, pull);
        rig.send().unwrap();
        app.wait_for("a cut point placed", Duration::from_secs(120), |v| {
            v["surgery"]["cut_points"]["points"]
                .as_array()
                .is_some_and(|p| p.len() > k)
        });
    }
    rig.set_hand(Hand::Left, Pose::at(0.0, 1.38, -0.45), Buttons::default());
    rig.send().unwrap();
    let placed = app.wait_for(
        "the surface through the points",
        Duration::from_secs(120),
        |v| v["surgery"]["cut_points"]["surface"] == true,
    );
    let (pl, nl) = (v3(&plane["point_lps"]), v3(&plane["normal_lps"]));
    let points = placed["surgery"]["cut_points"]["points"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(points.len(), 4, "{points:?}");
    for p in &points {
        let off = dot(sub(v3(p), pl), nl);
        assert!(off.abs() < 0.01, "a point {off} mm off plane 1: {p}");
    }
    click(app, rig, "surgery resect points");
    let curved = app.wait_for(
        "the resection along the points",
        Duration::from_secs(180),
        |v| {
            v["doc"]["hash"] != *hash_before && v["surgery"]["resection"]["organ"] == organ.as_str()
        },
    );
    let remnant = f(&curved, &["surgery", "resection", "remnant_ml"]);
    let pct = f(&curved, &["surgery", "resection", "remnant_pct"]);
    let resected = remnant / (pct / 100.0) - remnant;
    assert!(pct >= 50.0, "the smaller part goes: {}", curved["surgery"]);
    let smaller = |shift: f64| {
        let point = serde_json::json!(on(pl, shift, nl));
        let [r, _, cut] = resected_by_the_cli(organ_id, &point, &plane["normal_lps"]);
        r.min(cut)
    };
    let (lo, hi) = {
        let (a, b) = (smaller(-1.5), smaller(1.5));
        (a.min(b) - 0.06, a.max(b) + 0.06)
    };
    assert!(
        (lo..=hi).contains(&resected),
        "cut away along the points: {resected} mL; along plane 1 moved 1.5 mm either way: {lo}-{hi} mL"
    );
    eprintln!(
        "resected {organ} along 4 points placed with the trigger on plane 1: remnant {remnant:.2} mL ({pct:.2}%), \
         part cut away {resected:.2} mL; along the plane moved 1.5 mm either way: {lo:.2}-{hi:.2} mL"
    );
}
