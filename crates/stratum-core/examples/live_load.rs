//! The host under a class: 30 browser followers (raw WebSocket clients that
//! decrypt and read every frame, as the live page does) on loopback, while
//! the presenter's camera goes out at 60 Hz and a brush stroke on the liver
//! (painting and erasing by turns) ends every second, each one meshed
//! again for browsers in the background. Prints the host process's CPU per frame (everything it
//! does: the presenter's loop, the 30 senders, the remesh), the presenter's
//! own time per frame, and the camera's latency from the host to each
//! follower having opened and read it (p50/p95).
//!
//! The followers run in a child process (this example again), so the
//! host's CPU is its own.
//!
//! cargo run --release -p stratum-core --example live_load [-- VIEWERS SECONDS]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use stratum_core::base::install::demo_study;
use stratum_core::base::progress::Progress;
use stratum_core::convert::{ConvertOptions, live_from_scan};
use stratum_core::document::Edit;
use stratum_core::edit::{Brush, BrushAction, BrushShape};
use stratum_core::live::crypto;
use stratum_core::live::page::live_page;
use stratum_core::live::server::{Connection, Server};
use stratum_core::live::{Event, Host, HostOptions, Kind, Message, keys_from_link};

/// Now, in microseconds since the Unix epoch (one clock for both
/// processes; exact in an f64).
fn now_us() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_micros() as f64)
}

/// The process's CPU time so far (user + system), from /proc.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are
    // the 14th and 15th of the line.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|v| v.parse().unwrap_or(0.0))
        .collect();
    let ticks = f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0);
    // USER_HZ is 100 on Linux.
    ticks / 100.0
}

fn quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 * q) as usize).min(v.len().saturating_sub(1)))
        .copied()
        .unwrap_or(f64::NAN)
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("follow") {
        return follow(&args[2], args[3].parse()?, args[4].parse()?);
    }
    let viewers: usize = args.get(1).map_or(Ok(30), |v| v.parse())?;
    let seconds: f64 = args.get(2).map_or(Ok(20.0), |v| v.parse())?;
    let demo = demo_study()?;
    let opts = ConvertOptions::labels(demo.labels, Some(demo.names), 0.9);
    let start = live_from_scan(&demo.ct, &opts, &Progress::new())?;
    let mut doc = start.doc;
    let host = Host::start(&mut doc, &HostOptions::default())?;
    host.set_model(&start.model, start.scene);
    host.remesh_for_browsers(opts.clone())?;
    let (server, _edits) = Server::start(host.clone(), "127.0.0.1:0".parse()?, live_page()?)?;
    let (link, _) = server.links(None);

    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["follow", &link, &viewers.to_string(), &seconds.to_string()])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let wait = Instant::now();
    while host.followers() < viewers {
        anyhow::ensure!(
            wait.elapsed() < Duration::from_secs(60),
            "only {} of {viewers} followers joined",
            host.followers()
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let liver = doc
        .segment_named("liver")
        .map(|s| s.id)
        .ok_or_else(|| anyhow::anyhow!("the demo has a liver"))?;
    let vol = doc.scan().expect("the scan").clone();
    let (nz, ny, nx) = vol.dim();
    let at = |dx: f64| {
        vol.geometry
            .index_to_lps([nx as f64 * 0.35 + dx, ny as f64 * 0.45, nz as f64 * 0.6])
    };
    let brush = Brush {
        radius_mm: 8.0,
        shape: BrushShape::Sphere,
        action: BrushAction::Paint,
        intensity: None,
        overwrite: false,
    };
    let frame = Duration::from_secs_f64(1.0 / 60.0);
    let frames = (seconds * 60.0) as usize;
    let mut own = Vec::with_capacity(frames);
    let (cpu0, t0) = (cpu_s(), Instant::now());
    for i in 0..frames {
        let tick = t0 + frame * i as u32;
        if let Some(d) = tick.checked_duration_since(Instant::now()) {
            std::thread::sleep(d);
        }
        let t = Instant::now();
        // The camera carries when it was sent (target x) and its number.
        host.view(Event::Camera {
            target: [now_us(), i as f64, 0.0],
            azimuth_deg: (i as f64 * 0.5) % 360.0,
            polar_deg: 80.0,
            distance_mm: 600.0,
            fov_deg: 30.0,
        })?;
        // A stroke: begun, drawn over half a second, ended each second;
        // painting and erasing by turns, so each one changes voxels.
        let erase = (i / 60) % 2 == 1;
        let edits = match i % 60 {
            0 => vec![Edit::StrokeBegin {
                segment: liver,
                brush: Brush {
                    action: if erase {
                        BrushAction::Erase
                    } else {
                        BrushAction::Paint
                    },
                    ..brush
                },
                point: at(0.0),
                name: "Stroke".into(),
            }],
            k if k < 30 => vec![Edit::StrokeTo {
                point: at(k as f64 * 0.3),
            }],
            30 => vec![Edit::StrokeEnd],
            _ => vec![],
        };
        for e in edits {
            doc.apply(e)?;
        }
        own.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_s() - cpu0;
    let out = child.wait_with_output()?;
    let report = String::from_utf8_lossy(&out.stdout);
    let mut lat: Vec<f64> = report
        .lines()
        .filter_map(|l| l.strip_prefix("lat "))
        .flat_map(|l| l.split(' ').filter_map(|v| v.parse().ok()))
        .collect();
    let received = lat.len();
    println!(
        "{viewers} browser followers, {frames} camera frames at 60 Hz over {wall:.1} s, a liver stroke each second ({} strokes), debug/release: {}",
        frames / 60,
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        }
    );
    println!(
        "host process CPU: {:.2} ms per frame ({:.0}% of one core; budget 16.7 ms)",
        cpu * 1000.0 / frames as f64,
        cpu / wall * 100.0
    );
    println!(
        "presenter's call per frame (view + edits): p50 {:.3} ms, p95 {:.3} ms",
        quantile(&mut own, 0.5),
        quantile(&mut own, 0.95)
    );
    println!(
        "camera host -> follower read: p50 {:.2} ms, p95 {:.2} ms ({received} of {} expected)",
        quantile(&mut lat, 0.5),
        quantile(&mut lat, 0.95),
        frames * viewers
    );
    for l in report.lines().filter(|l| !l.starts_with("lat ")) {
        println!("followers: {l}");
    }
    host.stop(&mut doc);
    server.stop();
    Ok(())
}

/// The child: `viewers` browser connections, each a thread that opens
/// every frame and, for a camera, notes how long it took to arrive.
fn follow(link: &str, viewers: usize, seconds: f64) -> anyhow::Result<()> {
    let key = keys_from_link(link)?.0;
    let lat = Arc::new(Mutex::new(Vec::new()));
    let surfaces = Arc::new(Mutex::new(0usize));
    let threads: Vec<_> = (0..viewers)
        .map(|_| {
            let (link, key, lat, surfaces) =
                (link.to_string(), key.clone(), lat.clone(), surfaces.clone());
            std::thread::spawn(move || -> anyhow::Result<()> {
                let mut conn = Connection::open_as(&link, Kind::Browser)?;
                let mut mine = Vec::new();
                let end = Instant::now() + Duration::from_secs_f64(seconds + 30.0);
                while Instant::now() < end {
                    let Ok(Some(frame)) = conn.next(Duration::from_millis(500)) else {
                        if mine.len() as f64 >= seconds * 60.0 - 1.0 {
                            break;
                        }
                        continue;
                    };
                    let (_, plain) = crypto::open(&key, &frame)?;
                    match Message::from_bytes(&plain)? {
                        Message::Event(Event::Camera { target, .. }) if target[0] > 1e12 => {
                            mine.push((now_us() - target[0]) / 1000.0);
                        }
                        Message::Event(Event::Surfaces { .. }) => {
                            *surfaces.lock().unwrap() += 1;
                        }
                        _ => {}
                    }
                }
                lat.lock().unwrap().extend(mine);
                Ok(())
            })
        })
        .collect();
    let mut failed = 0;
    for t in threads {
        if !matches!(t.join(), Ok(Ok(()))) {
            failed += 1;
        }
    }
    let lat = lat.lock().unwrap();
    for chunk in lat.chunks(1000) {
        let line: Vec<String> = chunk.iter().map(|v| format!("{v:.3}")).collect();
        println!("lat {}", line.join(" "));
    }
    println!(
        "{:.1} surfaces events per follower, {failed} connections failed",
        *surfaces.lock().unwrap() as f64 / viewers as f64
    );
    Ok(())
}
