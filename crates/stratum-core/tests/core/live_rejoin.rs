//! The pen across a dropped connection: the holder is given a token on its
//! own connection; back on a new one, it presents the token and holds the
//! pen again without the presenter's action, and its stroke reaches the
//! host and another follower bit-identically (over the real WebSocket
//! server on loopback). Once the presenter takes the pen back, gives it to
//! someone else or removes the holder, the token gives nothing; nor does
//! one replayed, guessed, or presented by a browser.

use std::time::{Duration, Instant};

use stratum_core::document::{Document, Edit};
use stratum_core::live::server::{Connection, Server};
use stratum_core::live::{Event, Follower, Frame, Host, HostOptions, Kind, Message, Update};
use stratum_core::segment::LabelMap;

use crate::document::scan;

fn base() -> Document {
    let v = scan();
    let (nz, ny, nx) = v.dim();
    let mut doc =
        Document::new(Some(v.clone()), LabelMap::empty((nz, ny, nx), v.geometry)).unwrap();
    doc.apply(Edit::AddEmpty).unwrap();
    doc
}

fn stroke(a: [f64; 3], b: [f64; 3]) -> Vec<Edit> {
    use stratum_core::edit::{Brush, BrushAction, BrushShape};
    let v = scan();
    let at = |p: [f64; 3]| v.geometry.index_to_lps(p);
    vec![
        Edit::StrokeBegin {
            segment: 1,
            brush: Brush {
                radius_mm: 3.0,
                shape: BrushShape::Sphere,
                action: BrushAction::Paint,
                intensity: None,
                overwrite: false,
            },
            point: at(a),
            name: "Paint".into(),
        },
        Edit::StrokeTo { point: at(b) },
        Edit::StrokeEnd,
    ]
}

/// Reads frames into `f` until `done` holds; none within 20 s fails.
fn pump(c: &mut Connection, f: &mut Follower, mut done: impl FnMut(&Follower) -> bool) {
    while !done(f) {
        let frame = c
            .next(Duration::from_secs(20))
            .unwrap()
            .expect("a frame within 20 s");
        if let Update::Diverged = f.receive(&frame).unwrap() {
            panic!("the follower diverged");
        }
    }
}

fn caught_up(host: &Document) -> impl FnMut(&Follower) -> bool + '_ {
    move |f: &Follower| {
        f.outstanding() == 0
            && f.document().is_some_and(|d| {
                d.labels().as_ref() == host.labels().as_ref()
                    && d.history().len() == host.history().len()
                    && d.history().applied() == host.history().applied()
            })
    }
}

/// Polls (bounded) until the host's state satisfies `done`.
fn until(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{what}: not within 20 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_pen_holder_whose_connection_drops_gets_the_pen_back_with_its_token_and_its_stroke_reaches_everyone()
 {
    let mut doc = base();
    let host = Host::start(&mut doc, &HostOptions::default()).unwrap();
    let (server, edits) = Server::start(
        host.clone(),
        "127.0.0.1:0".parse().unwrap(),
        "<html></html>".into(),
    )
    .unwrap();
    let (link, _) = server.links(None);
    let key = stratum_core::live::keys_from_link(&link).unwrap().0;
    let (mut cb, mut cc) = (
        Connection::open(&link).unwrap(),
        Connection::open(&link).unwrap(),
    );
    let (mut b, mut c) = (Follower::new(key.clone()), Follower::new(key.clone()));
    pump(&mut cb, &mut b, |f| {
        f.me.is_some() && f.document().is_some()
    });
    pump(&mut cc, &mut c, |f| {
        f.me.is_some() && f.document().is_some() && f.participants.len() == 2
    });
    cb.send(&b.introduce("Dr B")).unwrap();
    let b_id = b.me.unwrap();
    pump(&mut cc, &mut c, |f| {
        f.participants.iter().any(|p| p.name == "Dr B")
    });

    // The presenter hands B the pen: B alone gets a token.
    host.give_pen(Some(b_id)).unwrap();
    pump(&mut cb, &mut b, |f| f.holds_pen() && f.pen_token.is_some());
    pump(&mut cc, &mut c, |f| f.pen == Some(b_id));
    assert_eq!(
        c.pen_token, None,
        "only the holder's connection gets the token"
    );
    let token = b.pen_token.clone().unwrap();
    assert_eq!(token.len(), 32);

    // B's connection drops (no goodbye): the pen waits for B.
    drop(cb);
    until("the host noticing B left", || {
        host.participants().0.iter().all(|p| p.id != b_id)
    });
    assert_eq!(host.pen(), None);
    assert_eq!(host.pen_waits_for().as_deref(), Some("Dr B"));
    pump(&mut cc, &mut c, |f| {
        f.pen.is_none() && f.participants.len() == 1
    });

    // B comes back on a new connection (a new sender number, the same
    // link) with the token: the pen is B's again, nobody pressing a thing.
    let mut cb2 = Connection::open(&link).unwrap();
    let mut b2 = Follower::new(key.clone());
    b2.pen_token = Some(token.clone());
    cb2.send(&b2.introduce("Dr B")).unwrap();
    cb2.send(&b2.claim_pen().unwrap()).unwrap();
    pump(&mut cb2, &mut b2, |f| {
        f.holds_pen() && f.document().is_some() && f.pen_token.as_ref().is_some_and(|t| *t != token)
    });
    let b2_id = b2.me.unwrap();
    assert_ne!(b2_id, b_id);
    assert_eq!(host.pen(), Some(b2_id));
    assert_eq!(host.pen_waits_for(), None);
    pump(&mut cc, &mut c, |f| f.pen == Some(b2_id));

    // B paints: the host applies it, and C and B end bit-identical to it.
    let mine = stroke([10.0, 25.0, 8.0], [26.0, 20.0, 16.0]);
    let (_, frame) = b2.edit(mine.clone()).unwrap();
    cb2.send(&frame).unwrap();
    for expected in &mine {
        let e = edits.recv_timeout(Duration::from_secs(20)).unwrap();
        assert_eq!(&e, expected);
        doc.apply(e).unwrap();
    }
    assert!(doc.voxel_count(1) > 0);
    pump(&mut cb2, &mut b2, caught_up(&doc));
    pump(&mut cc, &mut c, caught_up(&doc));
    let digest = |d: &Document| stratum_core::live::labels_digest(d.labels());
    assert_eq!(digest(b2.document().unwrap()), digest(&doc));
    assert_eq!(digest(c.document().unwrap()), digest(&doc));
    assert_eq!(
        c.document().unwrap().labels().as_ref(),
        doc.labels().as_ref()
    );

    // The spent token, replayed on yet another connection, gives nothing.
    let mut cb3 = Connection::open(&link).unwrap();
    let mut b3 = Follower::new(key);
    b3.pen_token = Some(token);
    cb3.send(&b3.claim_pen().unwrap()).unwrap();
    pump(&mut cb3, &mut b3, |f| {
        f.document().is_some() && f.pen_token.is_none()
    });
    // The host's refusal is the last thing it sent B3: still B's pen.
    assert_eq!(host.pen(), Some(b2_id));
    assert!(edits.try_recv().is_err());
    drop((cb2, cb3, cc));
    host.stop(&mut doc);
    server.stop();
}

/// Every event queued for a follower, opened.
fn events(f: &mut Follower, rx: &std::sync::mpsc::Receiver<Frame>) -> Vec<Event> {
    rx.try_iter()
        .filter_map(|frame| match f.open(&frame).unwrap() {
            Message::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// A participant's token, once handed the pen.
fn token_of(host: &Host, rx: &std::sync::mpsc::Receiver<Frame>) -> String {
    let mut f = Follower::new(host.key());
    events(&mut f, rx)
        .into_iter()
        .rev()
        .find_map(|e| match e {
            Event::PenToken { token } => token,
            _ => None,
        })
        .expect("a token")
}

/// Claims the pen with `token` on `client`'s connection.
fn claim(
    host: &Host,
    client: u64,
    sender: u32,
    token: &str,
) -> stratum_core::base::error::Result<Vec<Edit>> {
    // Numbers rising on every connection.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let frame = stratum_core::live::crypto::seal(
        &host.key(),
        stratum_core::live::crypto::Header { sender, seq },
        &Message::Event(Event::ClaimPen {
            token: token.to_string(),
        })
        .to_bytes(),
    );
    host.upstream(client, &frame)
}

#[test]
fn a_token_voided_by_take_back_another_holder_or_removal_or_guessed_gives_no_pen() {
    let mut doc = base();
    let host = Host::start(&mut doc, &HostOptions::default()).unwrap();
    let (b, b_rx) = host.join(Kind::Stratum).unwrap();
    let (c, c_rx) = host.join(Kind::Stratum).unwrap();
    let (w, _w_rx) = host.join(Kind::Browser).unwrap();

    // Taken back while B is away: B's token is void.
    host.give_pen(Some(b)).unwrap();
    let t1 = token_of(&host, &b_rx);
    assert!(token_of_none(&host, &c_rx), "C is told no token");
    host.leave(b);
    assert!(host.pen_waits_for().is_some());
    host.give_pen(None).unwrap();
    assert_eq!(host.pen_waits_for(), None);
    let (b2, b2_rx) = host.join(Kind::Stratum).unwrap();
    let err = claim(&host, b2, 21, &t1).unwrap_err().to_string();
    assert_eq!(host.pen(), None);
    // Logged without the token or who sent it; B2 is told its token is void.
    assert!(
        !err.contains(&t1) && !err.contains(&b2.to_string()),
        "{err}"
    );
    let mut f = Follower::new(host.key());
    f.pen_token = Some(t1.clone());
    let told = events(&mut f, &b2_rx);
    assert!(told.contains(&Event::PenToken { token: None }), "{told:?}");
    assert_eq!(f.pen_token, None);

    // Given to someone else while B is away: void too, and C keeps it.
    host.give_pen(Some(b2)).unwrap();
    let t2 = token_of(&host, &b2_rx);
    host.leave(b2);
    host.give_pen(Some(c)).unwrap();
    let (b3, _b3_rx) = host.join(Kind::Stratum).unwrap();
    assert!(claim(&host, b3, 31, &t2).is_err());
    assert_eq!(host.pen(), Some(c));

    // C's token: a guess, a browser presenting it, B3 presenting a token
    // of the wrong shape: nothing. C's own, on a new connection while the
    // old one still looks alive (a blip the host has not noticed): C's.
    let t3 = token_of(&host, &c_rx);
    let guess = "0".repeat(32);
    assert!(claim(&host, b3, 31, &guess).is_err());
    assert!(claim(&host, w, 41, &t3).is_err());
    assert!(claim(&host, b3, 31, "not hex at all").is_err());
    assert_eq!(host.pen(), Some(c));
    let (c2, _c2_rx) = host.join(Kind::Stratum).unwrap();
    assert!(claim(&host, c2, 51, &t3).unwrap().is_empty());
    assert_eq!(host.pen(), Some(c2));
    // The pen moved on: the old connection's token is spent.
    let (c3, c3_rx) = host.join(Kind::Stratum).unwrap();
    assert!(claim(&host, c3, 61, &t3).is_err());
    assert_eq!(host.pen(), Some(c2));

    // Removed holders do not come back with the pen.
    host.give_pen(Some(c3)).unwrap();
    let t4 = token_of(&host, &c3_rx);
    assert!(host.remove(c3));
    let (c4, _c4_rx) = host.join(Kind::Stratum).unwrap();
    assert!(claim(&host, c4, 71, &t4).is_err());
    assert_eq!(host.pen(), None);
    // None of it touched the document.
    assert_eq!(doc.history().len(), 1);
}

/// Whether a participant's queue held no token (only the holder's does).
fn token_of_none(host: &Host, rx: &std::sync::mpsc::Receiver<Frame>) -> bool {
    let mut f = Follower::new(host.key());
    !events(&mut f, rx)
        .iter()
        .any(|e| matches!(e, Event::PenToken { token: Some(_) }))
}
