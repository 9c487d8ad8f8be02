//! `stratum live` on loopback: the process prints its links; headless
//! Chromium (driven by playwright-core) opens the follower's link (through
//! a name that is not localhost, so without WebCrypto) and the
//! presenter's; what the presenter does (redo a resection of the liver,
//! hide everything, undo, a camera, a cut from the top, a turn, a ruler,
//! the laser) reaches the follower's page, and its pictures, read back
//! here, change as they should; the follower's tap and raised hand reach
//! the presenter. The stream is checked to carry ciphertext only: a raw
//! WebSocket client gets no segment name in the clear.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills a process when the test ends, passed or not.
pub(crate) struct KillOnDrop(pub(crate) Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A session of the demo's organs whose last step, a ball of the liver's
/// front erased, is undone (the presenter redoes it); and the ball's centre
/// (LPS mm).
fn resected_demo_session(dir: &Path) -> (PathBuf, [f64; 3]) {
    use stratum_core::convert::{ConvertOptions, live_from_scan};
    use stratum_core::document::Edit;
    use stratum_core::edit::{Brush, BrushAction, BrushShape};
    use stratum_core::session::{ScanRef, SessionData, save_session};
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let ct = demo.join("example_ct.nii.gz");
    let opts = ConvertOptions::labels(
        demo.join("example_seg_fast_force_split.nii.gz"),
        Some(demo.join("labels_total_ct.tsv")),
        0.9,
    );
    let mut doc = live_from_scan(&ct, &opts, &stratum_core::base::progress::Progress::new())
        .unwrap()
        .doc;
    let liver = doc.segment_named("liver").expect("a liver").id;
    let mask = doc.labels().mask(liver);
    let g = doc.labels().geometry;
    let points: Vec<[f64; 3]> = mask
        .data
        .indexed_iter()
        .filter(|(_, v)| **v != 0)
        .map(|((z, y, x), _)| g.index_to_lps([x as f64, y as f64, z as f64]))
        .collect();
    let n = points.len() as f64;
    let mean = |k: usize| points.iter().map(|p| p[k]).sum::<f64>() / n;
    let (cx, cz) = (mean(0), mean(2));
    // The liver's front (least posterior) near its middle, 8 mm in.
    let front = points
        .iter()
        .filter(|p| (p[0] - cx).abs() < 15.0 && (p[2] - cz).abs() < 15.0)
        .min_by(|a, b| a[1].total_cmp(&b[1]))
        .expect("liver voxels near the middle");
    let ball = [front[0], front[1] + 8.0, front[2]];
    for edit in [
        Edit::StrokeBegin {
            segment: liver,
            brush: Brush {
                radius_mm: 30.0,
                shape: BrushShape::Sphere,
                action: BrushAction::Erase,
                intensity: None,
                overwrite: false,
            },
            point: ball,
            name: "Resect liver".into(),
        },
        Edit::StrokeEnd,
        Edit::Undo,
    ] {
        doc.apply(edit).unwrap();
    }
    let session = dir.join("resected.stratum");
    let data = SessionData {
        scan: Some(ScanRef::new(&ct, None, doc.scan().unwrap())),
        document: doc.state().unwrap(),
        view: serde_json::Value::Null,
    };
    save_session(&session, &data, "test").unwrap();
    (session, ball)
}

/// `stratum live` of a session of the demo's organs on a free loopback
/// port, and its follower's and presenter's links.
fn start_demo_host(session: &Path) -> (KillOnDrop, String, String) {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let mut live = Command::new(env!("CARGO_BIN_EXE_stratum"));
    live.arg("live")
        .arg(demo.join("example_ct.nii.gz"))
        .arg("--session")
        .arg(session)
        .args(["--reduce", "0.9"]);
    start_live(live)
}

/// Starts a `stratum live` command (stopped when the test ends, passed or
/// not) and waits for its follower's and presenter's links.
pub(crate) fn start_live(mut live: Command) -> (KillOnDrop, String, String) {
    let mut child = live
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("stratum live starts");
    let stdout = child.stdout.take().unwrap();
    let host = KillOnDrop(child);
    // The links come once the model is built (seconds); a reader thread
    // keeps a stuck host from hanging the test.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut follow, mut present) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(300);
    while follow.is_none() || present.is_none() {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("stratum live printed its links within 5 minutes");
        if let Some(l) = line.strip_prefix("follow: ") {
            follow = Some(l.to_string());
        } else if let Some(l) = line.strip_prefix("present: ") {
            present = Some(l.to_string());
        }
    }
    (host, follow.unwrap(), present.unwrap())
}

fn coloured(img: &image::RgbImage, rows: std::ops::Range<u32>) -> usize {
    rows.flat_map(|y| (0..img.width()).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let p = img.get_pixel(x, y).0;
            let (hi, lo) = (*p.iter().max().unwrap(), *p.iter().min().unwrap());
            hi as i32 - lo as i32 > 60
        })
        .count()
}

fn playwright() -> Option<PathBuf> {
    let p = std::env::var_os("STRATUM_PLAYWRIGHT_CORE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/npm/node_modules/playwright-core")
        });
    if p.join("package.json").exists() {
        Some(p)
    } else {
        crate::checks::skip(
            "playwright-core is not installed, so the live page in Chromium is not checked",
            "scripts/setup.sh, or npm install --prefix .tools/npm playwright-core@1.65.1",
        );
        None
    }
}

/// What drives the live page in a browser: node, the system's Chromium,
/// playwright-core.
pub(crate) struct Browser {
    pub(crate) node: PathBuf,
    pub(crate) chromium: PathBuf,
    pub(crate) playwright: PathBuf,
}

/// The browser tools, or `None` having said which is missing.
pub(crate) fn browser() -> Option<Browser> {
    let install = "scripts/setup.sh, or apt-get install chromium nodejs";
    Some(Browser {
        node: crate::checks::program("node", "the live page in Chromium", install)?,
        chromium: crate::checks::program("chromium", "the live page", install)?,
        playwright: playwright()?,
    })
}

#[test]
fn a_browser_follows_a_stratum_live_host_and_its_picture_changes_with_the_presenter() {
    let Some(Browser {
        node,
        chromium,
        playwright: pw,
    }) = browser()
    else {
        return;
    };
    let sessions = tempfile::tempdir().unwrap();
    let (session, ball) = resected_demo_session(sessions.path());
    let (_host, follow, present) = start_demo_host(&session);
    assert!(
        follow.starts_with("http://127.0.0.1:") && follow.contains("/#k="),
        "{follow}"
    );
    assert!(
        present.starts_with(&follow) && present.contains("&p="),
        "{present}"
    );
    ciphertext_only(&follow);
    let out = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/app/live/follow.cjs");
    let mut child = Command::new(node)
        .arg(script)
        .args([&follow, &present])
        .arg(out.path())
        .arg(format!(
            "{{\"ball\":[{},{},{}]}}",
            ball[0], ball[1], ball[2]
        ))
        .env("PLAYWRIGHT_CORE", pw)
        .env("CHROMIUM", chromium)
        .env("HOME", out.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Bounded: a stuck browser fails the test instead of hanging CI.
    // (Software WebGL on two loaded cores is slow: each step waits up to
    // two minutes, the whole run ten.)
    let deadline = Instant::now() + Duration::from_secs(600);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!(
                "the browser run took over 600 s: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let o = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "{text}");
    eprintln!("live page figures: {text}");
    let shot = |name: &str| {
        let p = out.path().join(name);
        if let Some(keep) = std::env::var_os("STRATUM_KEEP_SCREENSHOTS") {
            let _ = std::fs::copy(&p, Path::new(&keep).join(format!("live_{name}")));
        }
        image::open(&p).unwrap().to_rgb8()
    };
    // The presenter redid the resection: the follower's picture changed
    // where the ball was (the middle of the picture), hardly elsewhere.
    let (whole, resected) = (shot("unresected.png"), shot("resected.png"));
    let (w, hh) = (whole.width(), whole.height());
    let (mut inside, mut outside) = (0usize, 0usize);
    for (x, y, p) in whole.enumerate_pixels() {
        let q = resected.get_pixel(x, y);
        if p.0
            .iter()
            .zip(q.0)
            .any(|(a, b)| (*a as i32 - b as i32).abs() > 40)
        {
            let middle =
                (w * 3 / 10..w * 7 / 10).contains(&x) && (hh * 3 / 10..hh * 7 / 10).contains(&y);
            if middle {
                inside += 1;
            } else {
                outside += 1;
            }
        }
    }
    // The middle is 16% of the picture. The liver is meshed again as a
    // whole, so its facets can change shade away from the ball too (in one
    // run 96% of the changed pixels were on the liver, the rest at
    // antialiased edges): the change must be denser in the middle than
    // outside it.
    let (inside_area, outside_area) = (0.16 * (w * hh) as f64, 0.84 * (w * hh) as f64);
    assert!(
        inside > 1_000 && inside as f64 / inside_area > outside as f64 / outside_area,
        "{inside} pixels changed in the middle, {outside} outside"
    );
    let (start, hidden, front, cut, turned) = (
        shot("start.png"),
        shot("hidden.png"),
        shot("front.png"),
        shot("cut.png"),
        shot("turned.png"),
    );
    let h = start.height();
    let all = |img: &image::RgbImage| coloured(img, 0..h);
    // The anatomy renders; hidden by the presenter, it is gone.
    assert!(
        all(&start) > 20_000,
        "{} coloured pixels at the start",
        all(&start)
    );
    assert!(
        all(&hidden) * 50 < all(&start),
        "{} coloured pixels with everything hidden",
        all(&hidden)
    );
    // Cut from the top through the centre: the upper half empties, the
    // lower stays.
    let (upper, lower) = (
        coloured(&front, 0..h * 2 / 5),
        coloured(&front, h * 3 / 5..h),
    );
    let (cut_upper, cut_lower) = (coloured(&cut, 0..h * 2 / 5), coloured(&cut, h * 3 / 5..h));
    assert!(
        upper > 5_000 && cut_upper * 5 < upper,
        "upper part: {upper} before the cut, {cut_upper} after"
    );
    assert!(
        cut_lower * 2 > lower,
        "lower part: {lower} before the cut, {cut_lower} after"
    );
    // Turned a quarter about the superior axis: another picture.
    let differ = front
        .pixels()
        .zip(turned.pixels())
        .filter(|(a, b)| {
            a.0.iter()
                .zip(b.0)
                .any(|(x, y)| (*x as i32 - y as i32).abs() > 40)
        })
        .count();
    assert!(differ > 10_000, "{differ} pixels changed by the turn");
}

/// What the stream carries opens with the link's key (a table naming the
/// liver) and holds no segment name in the clear.
fn ciphertext_only(link: &str) {
    use stratum_core::live::server::Connection;
    use stratum_core::live::{Event, Follower, keys_from_link};
    let mut conn = Connection::open(link).unwrap();
    let mut follower = Follower::new(keys_from_link(link).unwrap().0);
    let mut raw = Vec::new();
    while follower.viewers == 0 {
        let frame = conn
            .next(Duration::from_secs(60))
            .unwrap()
            .expect("a frame within 60 s");
        follower.receive(&frame).unwrap();
        raw.extend_from_slice(&frame);
    }
    let Some(Event::Table { segments }) = &follower.table else {
        panic!("no table");
    };
    assert!(segments.iter().any(|s| s.name == "liver"), "{segments:?}");
    assert!(
        follower
            .document()
            .unwrap()
            .segment_named("liver")
            .is_some()
    );
    for clear in [&b"liver"[..], b"kidney", b"STRHIST"] {
        assert!(
            !raw.windows(clear.len()).any(|w| w == clear),
            "{clear:?} in the clear"
        );
    }
}
