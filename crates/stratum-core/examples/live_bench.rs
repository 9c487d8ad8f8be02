//! Live-session figures on loopback with the demo study (the CT and its 61
//! organs): what a Stratum and a browser download to join, how long a
//! Stratum takes to join (connect, receive, decrypt, build its document),
//! and, per kind of edit, the host's apply to the follower having applied
//! it over the real WebSocket (p50/p95) with the bytes on the wire.
//!
//! cargo run --release -p stratum-core --example live_bench

use std::time::{Duration, Instant};

use stratum_core::base::install::demo_study;
use stratum_core::base::progress::Progress;
use stratum_core::convert::{ConvertOptions, live_from_scan};
use stratum_core::document::Edit;
use stratum_core::edit::{Brush, BrushAction, BrushShape};
use stratum_core::live::page::live_page;
use stratum_core::live::server::{Connection, Server};
use stratum_core::live::{Follower, Host, HostOptions, Update, keys_from_link};

/// The edits to apply at step `i` of a kind.
type EditsAt<'a> = Box<dyn Fn(usize) -> Vec<Edit> + 'a>;

fn main() -> anyhow::Result<()> {
    let demo = demo_study()?;
    let opts = ConvertOptions::labels(demo.labels, Some(demo.names), 0.9);
    let t = Instant::now();
    let start = live_from_scan(&demo.ct, &opts, &Progress::new())?;
    println!(
        "load + mesh + browser model: {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let mut doc = start.doc;
    let host = Host::start(&mut doc, &HostOptions::default())?;
    host.set_model(&start.model, start.scene);
    let page = live_page()?;
    let (server, upstream) = Server::start(host.clone(), "127.0.0.1:0".parse()?, page.clone())?;
    let (link, _) = server.links(None);
    println!(
        "browser join download: page {:.2} MB + model {:.2} MB ({} segments)",
        page.len() as f64 / 1e6,
        host.model().map_or(0, |m| m.len()) as f64 / 1e6,
        doc.segments().len()
    );

    // A Stratum joins: the scan, the document, decrypted and built.
    let mut joins = Vec::new();
    let mut joined_bytes = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let mut conn = Connection::open(&link)?;
        let mut f = Follower::new(keys_from_link(&link)?.0);
        joined_bytes = 0;
        while f.viewers == 0 {
            let frame = conn.next(Duration::from_secs(60))?.expect("a frame");
            joined_bytes += frame.len();
            f.receive(&frame)?;
        }
        joins.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    joins.sort_by(f64::total_cmp);
    println!(
        "Stratum join: {:.2} MB, min {:.0} ms, median {:.0} ms of 5",
        joined_bytes as f64 / 1e6,
        joins[0],
        joins[2]
    );

    let mut conn = Connection::open(&link)?;
    let mut f = Follower::new(keys_from_link(&link)?.0);
    while f.viewers == 0 {
        f.receive(&conn.next(Duration::from_secs(60))?.expect("a frame"))?;
    }
    let liver = doc
        .segment_named("liver")
        .map(|s| s.id)
        .expect("the demo has a liver");
    let vol = doc.scan().expect("the scan").clone();
    let (nz, ny, nx) = vol.dim();
    let centre = |dx: f64| {
        vol.geometry
            .index_to_lps([nx as f64 * 0.35 + dx, ny as f64 * 0.45, nz as f64 * 0.6])
    };
    let brush = Brush {
        radius_mm: 6.0,
        shape: BrushShape::Sphere,
        action: BrushAction::Paint,
        intensity: None,
        overwrite: false,
    };
    let kinds: Vec<(&str, EditsAt<'_>)> = vec![
        (
            "brush sample (StrokeTo)",
            Box::new(|i| {
                if i == 0 {
                    vec![Edit::StrokeBegin {
                        segment: liver,
                        brush,
                        point: centre(0.0),
                        name: "Paint liver".into(),
                    }]
                } else {
                    vec![Edit::StrokeTo {
                        point: centre((i % 20) as f64),
                    }]
                }
            }),
        ),
        ("stroke end", Box::new(|_| vec![Edit::StrokeEnd])),
        (
            "visibility",
            Box::new(|i| vec![Edit::set_visible(liver, i % 2 == 1)]),
        ),
        (
            "undo + redo",
            Box::new(|i| vec![if i % 2 == 0 { Edit::Undo } else { Edit::Redo }]),
        ),
    ];
    println!("| edit | p50 ms | p95 ms | bytes on the wire (median) |");
    println!("|---|---|---|---|");
    for (name, make) in &kinds {
        let mut lat = Vec::new();
        let mut sizes = Vec::new();
        let n = if *name == "stroke end" { 1 } else { 100 };
        for i in 0..n {
            for edit in make(i) {
                let t = Instant::now();
                doc.apply(edit)?;
                // Until the follower has applied this edit (events after it
                // are read on the way).
                loop {
                    let frame = conn.next(Duration::from_secs(30))?.expect("a frame");
                    let size = frame.len();
                    if let Update::Edited(_) = f.receive(&frame)? {
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                        sizes.push(size);
                        break;
                    }
                }
            }
        }
        lat.sort_by(f64::total_cmp);
        sizes.sort();
        let q = |k: f64| lat[((lat.len() as f64 * k) as usize).min(lat.len() - 1)];
        println!(
            "| {name} | {:.2} | {:.2} | {} |",
            q(0.5),
            q(0.95),
            sizes[sizes.len() / 2]
        );
    }
    // Drain what followed the last edit (tables, counts) before comparing.
    while let Some(frame) = conn.next(Duration::from_millis(300))? {
        f.receive(&frame)?;
    }
    let same = f
        .document()
        .map(|d| d.labels().as_ref() == doc.labels().as_ref());
    println!("follower's label map bit-identical to the host's: {same:?}");

    // The pen: a second Stratum paints; its edit goes to the host, which
    // applies it, and reaches the first follower (a third participant).
    let mut pen_conn = Connection::open(&link)?;
    let mut pen = Follower::new(keys_from_link(&link)?.0);
    while pen.me.is_none() || pen.document().is_none() {
        pen.receive(&pen_conn.next(Duration::from_secs(60))?.expect("a frame"))?;
    }
    host.give_pen(pen.me)?;
    while !pen.holds_pen() {
        pen.receive(&pen_conn.next(Duration::from_secs(60))?.expect("a frame"))?;
    }
    let (mut to_host, mut to_third) = (Vec::new(), Vec::new());
    for i in 0..101 {
        let edit = match i {
            0 => Edit::StrokeBegin {
                segment: liver,
                brush,
                point: centre(0.0),
                name: "Paint liver".into(),
            },
            100 => Edit::StrokeEnd,
            _ => Edit::StrokeTo {
                point: centre((i % 20) as f64),
            },
        };
        let t = Instant::now();
        let (_, frame) = pen.edit(vec![edit])?;
        pen_conn.send(&frame)?;
        let e = upstream.recv_timeout(Duration::from_secs(30))?;
        doc.apply(e)?;
        to_host.push(t.elapsed().as_secs_f64() * 1000.0);
        loop {
            let frame = conn.next(Duration::from_secs(30))?.expect("a frame");
            if let Update::Edited(_) = f.receive(&frame)? {
                to_third.push(t.elapsed().as_secs_f64() * 1000.0);
                break;
            }
        }
        while pen.outstanding() > 0 {
            pen.receive(&pen_conn.next(Duration::from_secs(30))?.expect("a frame"))?;
        }
    }
    for (what, lat) in [
        (
            "pen holder's brush sample to the host having applied it",
            &mut to_host,
        ),
        (
            "... and to a third Stratum having applied it",
            &mut to_third,
        ),
    ] {
        lat.sort_by(f64::total_cmp);
        let q = |k: f64| lat[((lat.len() as f64 * k) as usize).min(lat.len() - 1)];
        println!(
            "{what}: p50 {:.2} ms, p95 {:.2} ms ({} edits)",
            q(0.5),
            q(0.95),
            lat.len()
        );
    }
    while let Some(frame) = conn.next(Duration::from_millis(300))? {
        f.receive(&frame)?;
    }
    let same = [&f, &pen].map(|x| {
        x.document()
            .map(|d| d.labels().as_ref() == doc.labels().as_ref())
    });
    println!(
        "with the pen: the third's and the pen holder's label maps bit-identical to the host's: {same:?}"
    );
    host.stop(&mut doc);
    server.stop();
    Ok(())
}
