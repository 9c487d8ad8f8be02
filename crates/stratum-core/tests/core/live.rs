//! Live sessions: a follower that joins (at the start or late) ends with a
//! document bit-identical to the host's and follows its undo; the wrong key
//! is told apart from a tampered frame; altered, replayed and out-of-order
//! frames are refused and change nothing; a presenter's frames become
//! edits while anyone else's are dropped; and all of it over the real
//! WebSocket server on loopback.

use std::sync::mpsc::Receiver;
use std::time::Duration;

use stratum_core::base::error::CoreError;
use stratum_core::document::{Document, DocumentState, Edit, volume_from_bytes, volume_to_bytes};
use stratum_core::live::crypto::{self, Header};
use stratum_core::live::server::{Connection, Server};
use stratum_core::live::{
    ClipPlane, Event, Follower, Frame, Host, HostOptions, Key, Kind, Message, Update,
    keys_from_link,
};
use stratum_core::segment::LabelMap;

use crate::document::{scan, session_edits};

fn base() -> Document {
    let v = scan();
    let (nz, ny, nx) = v.dim();
    Document::new(Some(v.clone()), LabelMap::empty((nz, ny, nx), v.geometry)).unwrap()
}

/// Feeds every queued frame to `f`; each must be accepted.
fn drain(f: &mut Follower, rx: &Receiver<Frame>) -> Vec<Update> {
    rx.try_iter()
        .map(|frame| f.receive(&frame).unwrap_or_else(|e| panic!("refused: {e}")))
        .collect()
}

/// The label map, table, properties and history position are the host's.
fn assert_same(host: &mut Document, follower: &mut Document) {
    assert_eq!(
        follower.labels().as_ref(),
        host.labels().as_ref(),
        "label maps differ"
    );
    assert_eq!(follower.all_props(), host.all_props());
    assert_eq!(follower.history().len(), host.history().len());
    let (a, b) = (host.state().unwrap(), follower.state().unwrap());
    assert_eq!(a.history.applied(), b.history.applied());
}

#[test]
fn a_follower_ends_bit_identical_with_the_host_and_follows_undo() {
    let v = scan();
    let edits = session_edits(&v);
    let (before, during) = edits.split_at(6);
    let mut host_doc = base();
    // The session starts on a document that already has a history.
    for e in before {
        host_doc.apply(e.clone()).unwrap();
    }
    let host = Host::start(&mut host_doc, &HostOptions::default()).unwrap();
    let (_, rx) = host.join(Kind::Stratum).unwrap();
    let mut f = Follower::new(host.key());
    let first = drain(&mut f, &rx);
    assert!(matches!(first[0], Update::Hello));
    assert!(first.iter().any(|u| matches!(u, Update::Document)));
    for e in during {
        host_doc.apply(e.clone()).unwrap();
        drain(&mut f, &rx);
    }
    // A table edit sealed by the app (the user stopped typing), then one
    // more of the same field: two steps on both sides.
    host_doc.apply(Edit::rename(1, "Spine A")).unwrap();
    host_doc.seal();
    host_doc.apply(Edit::rename(1, "Spine B")).unwrap();
    drain(&mut f, &rx);
    assert!(host_doc.voxel_count(1) > 0);
    assert_same(&mut host_doc, f.document_mut().unwrap());
    for _ in 0..3 {
        host_doc.apply(Edit::Undo).unwrap();
        drain(&mut f, &rx);
        assert_same(&mut host_doc, f.document_mut().unwrap());
    }
    assert_eq!(
        f.document().unwrap().segment(1).unwrap().name,
        host_doc.segment(1).unwrap().name
    );
    // The scan came along (brushes limited to an intensity range read it).
    assert_eq!(f.document().unwrap().scan().unwrap().voxels, v.voxels);
}

#[test]
fn a_late_joiner_catches_up_with_the_session() {
    let v = scan();
    let mut host_doc = base();
    let host = Host::start(&mut host_doc, &HostOptions::default()).unwrap();
    let (_, early_rx) = host.join(Kind::Stratum).unwrap();
    let mut early = Follower::new(host.key());
    for e in session_edits(&v) {
        host_doc.apply(e).unwrap();
    }
    host.view(Event::Clip {
        planes: vec![ClipPlane {
            normal: [0.0, 0.0, 1.0],
            offset_mm: -12.5,
        }],
    })
    .unwrap();
    drain(&mut early, &early_rx);
    let (_, late_rx) = host.join(Kind::Stratum).unwrap();
    let mut late = Follower::new(host.key());
    drain(&mut late, &late_rx);
    assert_same(&mut host_doc, late.document_mut().unwrap());
    assert_same(&mut host_doc, early.document_mut().unwrap());
    // The latest view and the number following came too.
    assert!(
        matches!(late.view.get("clip"), Some(Event::Clip { planes }) if planes[0].offset_mm == -12.5)
    );
    assert_eq!(late.viewers, 2);
    assert_eq!(host.followers(), 2);
}

#[test]
fn the_wrong_key_is_refused_with_a_clear_error() {
    let mut doc = base();
    let host = Host::start(&mut doc, &HostOptions::default()).unwrap();
    let (_, rx) = host.join(Kind::Browser).unwrap();
    let mut f = Follower::new(Key::random().unwrap());
    let err = f.receive(&rx.recv().unwrap()).unwrap_err();
    assert!(matches!(err, CoreError::LiveWrongKey), "{err:?}");
    assert!(
        err.to_string().contains("including the part after '#'"),
        "{err}"
    );
    assert!(f.document().is_none());
}

#[test]
fn altered_replayed_and_out_of_order_frames_are_refused_and_change_nothing() {
    let mut doc = base();
    let host = Host::start(&mut doc, &HostOptions::default()).unwrap();
    let (_, rx) = host.join(Kind::Stratum).unwrap();
    let mut f = Follower::new(host.key());
    let joined: Vec<Frame> = rx.try_iter().collect();
    for frame in &joined {
        f.receive(frame).unwrap();
    }
    doc.apply(Edit::AddEmpty).unwrap();
    doc.apply(Edit::rename(1, "Liver")).unwrap();
    let frames: Vec<Frame> = rx.try_iter().collect();
    let before = f.document().unwrap().segments().to_vec();
    // A flipped bit in the ciphertext, then in the header (its number).
    let mut altered = frames[0].to_vec();
    let last = altered.len() - 20;
    altered[last] ^= 1;
    let err = f.receive(&altered).unwrap_err();
    assert!(matches!(err, CoreError::LiveRefused(_)), "{err:?}");
    let mut renumbered = frames[0].to_vec();
    renumbered[8] ^= 1;
    assert!(matches!(
        f.receive(&renumbered),
        Err(CoreError::LiveRefused(_))
    ));
    // Not a frame at all.
    assert!(f.receive(b"garbage").is_err());
    // Out of order: the second before the first, then a replay.
    assert!(f.receive(&frames[1]).is_ok());
    assert!(
        matches!(f.receive(&frames[0]), Err(CoreError::LiveRefused(m)) if m.contains("replayed"))
    );
    assert!(f.receive(&joined[1]).is_err());
    // A frame sealed with the right key but a sender that is not the host.
    let forged = crypto::seal(
        &host.key(),
        Header { sender: 7, seq: 99 },
        &Message::Edit(Edit::AddEmpty.to_bytes()).to_bytes(),
    );
    assert!(f.receive(&forged).is_err());
    assert_eq!(f.document().unwrap().segments().len(), before.len());
}

#[test]
fn a_presenters_frames_become_edits_and_anyone_elses_are_dropped() {
    let mut doc = base();
    doc.apply(Edit::AddEmpty).unwrap();
    let host = Host::start(&mut doc, &HostOptions::default()).unwrap();
    let event = |e: Event| Message::Event(e).to_bytes();
    let pk = host.presenter_key();
    let hide = crypto::seal(
        &pk,
        Header { sender: 5, seq: 1 },
        &event(Event::Visible {
            id: 1,
            visible: false,
        }),
    );
    assert_eq!(
        host.presenter_frame(&hide).unwrap(),
        Some(Edit::set_visible(1, false))
    );
    // Replayed.
    assert!(host.presenter_frame(&hide).is_err());
    // The followers' key is not the presenter's.
    let viewer = crypto::seal(
        &host.key(),
        Header { sender: 6, seq: 1 },
        &event(Event::Undo),
    );
    assert!(host.presenter_frame(&viewer).is_err());
    // A number that is not one, an event only the host sends, the host's sender.
    let nan = crypto::seal(
        &pk,
        Header { sender: 5, seq: 2 },
        &event(Event::Laser {
            point: Some([f64::NAN, 0.0, 0.0]),
        }),
    );
    assert!(host.presenter_frame(&nan).is_err());
    let table = crypto::seal(
        &pk,
        Header { sender: 5, seq: 3 },
        &event(Event::Joined { viewers: 9 }),
    );
    assert!(host.presenter_frame(&table).is_err());
    let host_sender = crypto::seal(&pk, Header { sender: 0, seq: 4 }, &event(Event::Undo));
    assert!(host.presenter_frame(&host_sender).is_err());
    // A view event goes to every follower.
    let (_, rx) = host.join(Kind::Browser).unwrap();
    let mut f = Follower::new(host.key());
    drain(&mut f, &rx);
    let laser = crypto::seal(
        &pk,
        Header { sender: 5, seq: 5 },
        &event(Event::Laser {
            point: Some([1.0, 2.0, 3.0]),
        }),
    );
    assert_eq!(host.presenter_frame(&laser).unwrap(), None);
    drain(&mut f, &rx);
    assert_eq!(
        f.view.get("laser"),
        Some(&Event::Laser {
            point: Some([1.0, 2.0, 3.0])
        })
    );
    // A browser gets no document.
    assert!(f.document().is_none());
}

#[test]
fn document_and_scan_snapshots_read_back_and_damaged_ones_are_errors() {
    let v = scan();
    let mut doc = base();
    for e in session_edits(&v) {
        doc.apply(e).unwrap();
    }
    let state = doc.state().unwrap();
    let bytes = state.to_bytes();
    let back = DocumentState::from_bytes(&bytes).unwrap();
    assert_eq!(back.labels, state.labels);
    assert_eq!(back.props, state.props);
    assert_eq!(back.history.to_bytes(), state.history.to_bytes());
    let scan_bytes = volume_to_bytes(&v);
    assert_eq!(volume_from_bytes(&scan_bytes).unwrap().voxels, v.voxels);
    // Every truncation is an error, never a panic.
    for cut in (0..bytes.len()).step_by(bytes.len() / 97 + 1) {
        assert!(
            DocumentState::from_bytes(&bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    for cut in (0..scan_bytes.len()).step_by(scan_bytes.len() / 53 + 1) {
        assert!(
            volume_from_bytes(&scan_bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
}

/// The next frame from the connection, within a generous bound.
fn next(c: &mut Connection) -> Vec<u8> {
    c.next(Duration::from_secs(20))
        .unwrap()
        .expect("a frame within 20 s")
}

#[test]
fn the_server_carries_a_session_to_a_stratum_and_a_presenter_over_loopback() {
    let mut doc = base();
    doc.apply(Edit::AddEmpty).unwrap();
    let host = Host::start(&mut doc, &HostOptions::default()).unwrap();
    let (server, edits) = Server::start(
        host.clone(),
        "127.0.0.1:0".parse().unwrap(),
        "<html>page</html>".into(),
    )
    .unwrap();
    let (link, presenter_link) = server.links(None);
    assert!(link.starts_with(&format!("http://{}/#k=", server.addr())));
    let (k, p) = keys_from_link(&presenter_link).unwrap();
    assert_eq!(
        (k.clone(), p.clone()),
        (host.key(), Some(host.presenter_key()))
    );
    assert_eq!(keys_from_link(&link).unwrap().1, None);

    let mut conn = Connection::open(&link).unwrap();
    let mut f = Follower::new(keys_from_link(&link).unwrap().0);
    // Hello, the document, the table, the count of followers.
    while f.viewers == 0 {
        f.receive(&next(&mut conn)).unwrap();
    }
    assert!(f.document().is_some());
    assert_eq!(host.followers(), 1);

    // The presenter hides segment 1 from its own connection; the edit
    // comes out for the document's owner, who applies it.
    let mut presenter = Connection::open(&presenter_link).unwrap();
    let hide = crypto::seal(
        &p.unwrap(),
        Header { sender: 77, seq: 1 },
        &Message::Event(Event::Visible {
            id: 1,
            visible: false,
        })
        .to_bytes(),
    );
    presenter.send(&hide).unwrap();
    presenter.send(b"garbage").unwrap();
    let edit = edits.recv_timeout(Duration::from_secs(20)).unwrap();
    doc.apply(edit).unwrap();
    assert!(!doc.segment(1).unwrap().visible);
    loop {
        if let Update::Edited(_) = f.receive(&next(&mut conn)).unwrap() {
            break;
        }
    }
    assert!(!f.document().unwrap().segment(1).unwrap().visible);
    // The garbage changed nothing and the host goes on.
    assert!(edits.try_recv().is_err());
    assert_eq!(doc.segments().len(), 1);

    // The page is served without any key in it.
    let page = http_get(server.addr(), "/");
    assert!(page.contains("<html>page</html>") && !page.contains(&k.to_text()));
    assert!(http_get(server.addr(), "/model").starts_with("HTTP/1.1 404"));
    drop(conn);
    drop(presenter);
    host.stop(&mut doc);
    server.stop();
}

fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

#[test]
fn the_websocket_accept_key_is_the_rfc_6455_example() {
    assert_eq!(
        stratum_core::live::ws::accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

#[test]
fn a_clip_plane_keeps_the_same_side_through_the_protocol_and_back() {
    use stratum_core::image::view::ClipPlane;
    use stratum_core::live::ClipPlane as Sent;
    let planes = [
        ClipPlane::new([0.0, 0.0, 1.0], [3.0, -7.0, 12.5]),
        ClipPlane::new([0.0, -1.0, 0.0], [0.0, 4.0, 0.0]),
        ClipPlane::new([1.0, 2.0, -0.5], [-10.0, 6.0, 30.0]),
    ];
    let points = [
        [0.0, 0.0, 0.0],
        [3.0, -7.0, 13.0],
        [3.0, -7.0, 12.0],
        [-20.0, 5.0, 40.0],
        [15.0, -3.0, -8.0],
    ];
    for plane in &planes {
        let sent = Sent::from_view(plane);
        // The protocol keeps the model where normal . p <= offset: what the
        // view cuts (distance > 0) is exactly what a follower cuts.
        for p in points {
            let kept = (0..3).map(|i| sent.normal[i] * p[i]).sum::<f64>() <= sent.offset_mm + 1e-9;
            assert_eq!(kept, plane.distance(p) <= 1e-9, "{plane:?} at {p:?}");
        }
        let back = sent.to_view().expect("a valid plane");
        for p in points {
            assert!(
                (back.distance(p) - plane.distance(p)).abs() < 1e-9,
                "{plane:?} came back as {back:?}"
            );
        }
    }
    for bad in [
        Sent {
            normal: [0.0; 3],
            offset_mm: 1.0,
        },
        Sent {
            normal: [f64::NAN, 0.0, 1.0],
            offset_mm: 1.0,
        },
        Sent {
            normal: [0.0, 0.0, 1.0],
            offset_mm: f64::INFINITY,
        },
    ] {
        assert!(bad.to_view().is_none(), "{bad:?}");
    }
}
