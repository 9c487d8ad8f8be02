//! Viewers who do not present: a point and a raised hand reach the host
//! (its markers and list of hands) and every follower, labelled with the
//! viewer's name; anything else a viewer sends, an oversized or replayed
//! frame, a bad name or number, a flood, another sender on the same
//! connection and a frame from someone who left are refused and change
//! nothing, and a viewer cannot use up the presenter's frame numbers; a viewer who leaves takes the pointer
//! and the hand away.

use std::time::{Duration, Instant};

use stratum_core::document::{Document, Edit};
use stratum_core::live::crypto::{self, Header};
use stratum_core::live::server::{Connection, Server};
use stratum_core::live::viewers::{MAX_VIEWER_FRAME, MAX_VIEWER_RATE};
use stratum_core::live::{
    Event, Follower, Host, HostOptions, Key, Kind, Message, Pointer, Update, keys_from_link,
};
use stratum_core::segment::LabelMap;

use crate::document::scan;

fn doc() -> Document {
    let v = scan();
    let (nz, ny, nx) = v.dim();
    let mut d = Document::new(Some(v.clone()), LabelMap::empty((nz, ny, nx), v.geometry)).unwrap();
    d.apply(Edit::AddEmpty).unwrap();
    d
}

fn sealed(key: &Key, sender: u32, seq: u64, e: Event) -> Vec<u8> {
    crypto::seal(key, Header { sender, seq }, &Message::Event(e).to_bytes())
}

/// The events among what the frames did.
fn events(f: &mut Follower, frames: impl Iterator<Item = stratum_core::live::Frame>) -> Vec<Event> {
    frames
        .filter_map(|fr| match f.receive(&fr).unwrap() {
            Update::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

fn point(name: &str, p: Option<[f64; 3]>) -> Event {
    Event::Point {
        from: 0,
        name: name.into(),
        point: p,
    }
}

#[test]
fn a_viewers_point_and_hand_reach_the_host_and_everyone_and_nothing_else_does() {
    let mut d = doc();
    let host = Host::start(&mut d, &HostOptions::default()).unwrap();
    let (ada, _ada_rx) = host.join(Kind::Browser).unwrap();
    let (_, rx) = host.join(Kind::Browser).unwrap();
    let mut other = Follower::new(host.key());
    for f in rx.try_iter() {
        other.receive(&f).unwrap();
    }
    let k = host.key();
    // Ada claims to be connection 999: the host names her by her connection.
    let forwarded = host
        .upstream(
            ada,
            &sealed(
                &k,
                9,
                1,
                Event::Point {
                    from: 999,
                    name: " Ada ".into(),
                    point: Some([1.0, -2.5, 30.0]),
                },
            ),
        )
        .unwrap();
    assert!(forwarded.is_empty());
    assert_eq!(
        host.points(),
        vec![Pointer {
            from: ada,
            name: "Ada".into(),
            point: [1.0, -2.5, 30.0]
        }]
    );
    assert_eq!(
        events(&mut other, rx.try_iter()),
        vec![Event::Point {
            from: ada,
            name: "Ada".into(),
            point: Some([1.0, -2.5, 30.0])
        }]
    );
    host.viewer_frame(
        ada,
        &sealed(
            &k,
            9,
            2,
            Event::Hand {
                from: 0,
                name: "Ada".into(),
                raised: true,
            },
        ),
    )
    .unwrap();
    assert_eq!(host.hands(), vec![(ada, "Ada".to_string())]);

    // A newcomer is told where Ada points and that her hand is up.
    let (_, late_rx) = host.join(Kind::Browser).unwrap();
    let mut late = Follower::new(host.key());
    let told = events(&mut late, late_rx.try_iter());
    assert!(
        told.iter()
            .any(|e| matches!(e, Event::Point { from, point: Some(_), .. } if *from == ada))
    );
    assert!(
        told.iter()
            .any(|e| matches!(e, Event::Hand { from, raised: true, .. } if *from == ada))
    );

    // Refused, and nothing changes: a document command or a view event
    // with the follow key, a replay, a name too long or empty, a number out
    // of range, an oversized frame, a frame under another key.
    let before = (host.points(), host.hands(), d.history().len());
    let refused = [
        sealed(&k, 9, 3, Event::Undo),
        sealed(
            &k,
            9,
            4,
            Event::Visible {
                id: 1,
                visible: false,
            },
        ),
        sealed(
            &k,
            9,
            5,
            Event::Laser {
                point: Some([0.0; 3]),
            },
        ),
        sealed(&k, 9, 2, point("Ada", Some([0.0; 3]))),
        sealed(&k, 9, 6, point(&"x".repeat(41), Some([0.0; 3]))),
        sealed(&k, 9, 7, point("  ", Some([0.0; 3]))),
        sealed(&k, 9, 8, point("Ada\u{7}", Some([0.0; 3]))),
        sealed(&k, 9, 9, point("Ada", Some([1e9, 0.0, 0.0]))),
        sealed(
            &k,
            9,
            10,
            point(&"y".repeat(MAX_VIEWER_FRAME), Some([0.0; 3])),
        ),
        sealed(&Key::random().unwrap(), 9, 11, point("Ada", Some([0.0; 3]))),
        sealed(&k, 0, 12, point("Ada", Some([0.0; 3]))),
        b"garbage".to_vec(),
    ];
    for (i, f) in refused.iter().enumerate() {
        assert!(host.upstream(ada, f).is_err(), "frame {i} was accepted");
    }
    assert_eq!((host.points(), host.hands(), d.history().len()), before);

    // A viewer cannot spend the presenter's numbers (their counts are kept
    // apart), nor switch senders on its connection.
    let (eve, _eve_rx) = host.join(Kind::Browser).unwrap();
    host.viewer_frame(eve, &sealed(&k, 5, u64::MAX, point("Eve", Some([0.0; 3]))))
        .unwrap();
    let laser = sealed(&host.presenter_key(), 5, 1, Event::Laser { point: None });
    assert!(host.upstream(eve, &laser).unwrap().is_empty());
    assert!(
        host.viewer_frame(eve, &sealed(&k, 6, 1, point("Eve", None)))
            .is_err()
    );

    // A flood: past the rate, points are dropped until the next second.
    let (bob, _bob_rx) = host.join(Kind::Browser).unwrap();
    let start = Instant::now();
    let accepted = (1..=3 * MAX_VIEWER_RATE as u64)
        .filter(|&seq| {
            host.viewer_frame(
                bob,
                &sealed(&k, 10, seq, point("Bob", Some([seq as f64, 0.0, 0.0]))),
            )
            .is_ok()
        })
        .count();
    if start.elapsed() < Duration::from_millis(900) {
        assert_eq!(accepted, MAX_VIEWER_RATE as usize);
    }

    // Ada leaves: her pointer and hand go, for the host and for the others.
    host.leave(ada);
    assert!(host.points().iter().all(|p| p.from != ada));
    assert!(host.hands().is_empty());
    let gone = events(&mut other, rx.try_iter());
    assert!(gone.contains(&Event::Point {
        from: ada,
        name: "Ada".into(),
        point: None
    }));
    // A frame from someone no longer following is refused.
    assert!(
        host.viewer_frame(ada, &sealed(&k, 9, 50, point("Ada", Some([0.0; 3]))))
            .is_err()
    );
    host.stop(&mut d);
}

#[test]
fn a_viewers_point_crosses_the_server_to_the_host_and_another_follower() {
    let mut d = doc();
    let host = Host::start(&mut d, &HostOptions::default()).unwrap();
    let (server, edits) = Server::start(
        host.clone(),
        "127.0.0.1:0".parse().unwrap(),
        "<html></html>".into(),
    )
    .unwrap();
    let (link, _) = server.links(None);
    let key = keys_from_link(&link).unwrap().0;
    let mut watcher = Connection::open(&link).unwrap();
    let mut seen = Follower::new(key.clone());
    let mut viewer = Connection::open(&link).unwrap();
    let wait = Instant::now() + Duration::from_secs(20);
    while host.followers() < 2 {
        assert!(Instant::now() < wait, "two followers never joined");
        std::thread::sleep(Duration::from_millis(10));
    }
    viewer.send(&sealed(&key, 42, 1, Event::Undo)).unwrap();
    viewer
        .send(&sealed(
            &key,
            42,
            2,
            point("Grace", Some([10.0, 20.0, 30.0])),
        ))
        .unwrap();
    let got = loop {
        let frame = watcher
            .next(Duration::from_secs(20))
            .unwrap()
            .expect("a frame within 20 s");
        if let Update::Event(e @ Event::Point { .. }) = seen.receive(&frame).unwrap() {
            break e;
        }
    };
    let Event::Point { from, name, point } = got else {
        unreachable!()
    };
    assert_eq!((name.as_str(), point), ("Grace", Some([10.0, 20.0, 30.0])));
    assert_eq!(host.points().len(), 1);
    assert_eq!(host.points()[0].from, from);
    // The viewer's undo was not a presenter's: no edit came out.
    assert!(edits.try_recv().is_err());
    drop(viewer);
    let wait = Instant::now() + Duration::from_secs(20);
    while !host.points().is_empty() {
        assert!(
            Instant::now() < wait,
            "the pointer stayed after its viewer left"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    drop(watcher);
    host.stop(&mut d);
    server.stop();
}
