//! The pen in a live session: the presenter hands editing rights to one
//! Stratum that follows; its strokes and its undo reach the host's document
//! and, from there, every other follower, all bit-identical; edits from a
//! participant without the pen, or one that was removed, are refused and
//! change nothing; over the real WebSocket server on loopback.

use std::sync::mpsc::Receiver;
use std::time::Duration;

use stratum_core::document::{Document, Edit};
use stratum_core::edit::{Brush, BrushAction, BrushShape};
use stratum_core::live::crypto::{self, Header};
use stratum_core::live::server::{Connection, Server};
use stratum_core::live::{
    Event, Follower, Frame, Host, HostOptions, Kind, Message, Update, keys_from_link,
};
use stratum_core::segment::LabelMap;

use crate::document::{scan, session_edits};

fn base() -> Document {
    let v = scan();
    let (nz, ny, nx) = v.dim();
    let mut doc =
        Document::new(Some(v.clone()), LabelMap::empty((nz, ny, nx), v.geometry)).unwrap();
    doc.apply(Edit::AddEmpty).unwrap();
    doc
}

/// A paint stroke on segment 1 from `a` to `b` (voxel indices x, y, z).
fn stroke(a: [f64; 3], b: [f64; 3]) -> Vec<Edit> {
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

/// Reads frames into `f` until `done` holds; a frame refused, or none
/// within 20 s, fails the test.
fn pump(c: &mut Connection, f: &mut Follower, mut done: impl FnMut(&Follower) -> bool) {
    while !done(f) {
        let frame = c
            .next(Duration::from_secs(20))
            .unwrap()
            .expect("a frame within 20 s");
        match f.receive(&frame).unwrap() {
            Update::Diverged => panic!("the follower diverged"),
            _ => continue,
        }
    }
}

fn labels_of(f: &Follower) -> LabelMap {
    (**f.document().unwrap().labels()).clone()
}

fn caught_up(host: &Document) -> impl FnMut(&Follower) -> bool + '_ {
    move |f: &Follower| {
        f.outstanding() == 0
            && f.document().is_some_and(|d| {
                d.labels().as_ref() == host.labels().as_ref()
                    && d.history().len() == host.history().len()
                    && d.history().applied() == host.history().applied()
                    && d.stroking() == host.stroking()
            })
    }
}

/// The presenter's event, sealed with the presenter key.
fn presenter(host: &Host, seq: u64, e: Event) -> Vec<u8> {
    crypto::seal(
        &host.presenter_key(),
        Header { sender: 9, seq },
        &Message::Event(e).to_bytes(),
    )
}

#[test]
fn the_pen_lets_a_followers_stroke_and_undo_reach_the_host_and_a_third_stratum_over_loopback() {
    let mut doc = base();
    let host = Host::start(&mut doc, &HostOptions::default()).unwrap();
    let (server, edits) = Server::start(
        host.clone(),
        "127.0.0.1:0".parse().unwrap(),
        "<html></html>".into(),
    )
    .unwrap();
    let (link, presenter_link) = server.links(None);
    let key = keys_from_link(&link).unwrap().0;
    let (mut cb, mut cc) = (
        Connection::open(&link).unwrap(),
        Connection::open(&link).unwrap(),
    );
    let (mut b, mut c) = (Follower::new(key.clone()), Follower::new(key));
    pump(&mut cb, &mut b, |f| {
        f.me.is_some() && f.document().is_some()
    });
    pump(&mut cc, &mut c, |f| {
        f.me.is_some() && f.document().is_some() && f.participants.len() == 2
    });
    let (b_id, c_id) = (b.me.unwrap(), c.me.unwrap());
    assert_ne!(b_id, c_id);
    // B says its name; C sees it in the list.
    cb.send(&b.introduce("Dr B\u{7}")).unwrap();
    pump(&mut cc, &mut c, |f| {
        f.participants
            .iter()
            .any(|p| p.id == b_id && p.name == "Dr B" && p.kind == "stratum")
    });

    // The host paints and undoes: both followers stay bit-identical.
    for e in stroke([8.0, 10.0, 10.0], [20.0, 14.0, 12.0]) {
        doc.apply(e).unwrap();
    }
    assert!(doc.voxel_count(1) > 0);
    pump(&mut cb, &mut b, caught_up(&doc));
    pump(&mut cc, &mut c, caught_up(&doc));
    assert_same(&mut doc, b.document_mut().unwrap());
    doc.apply(Edit::Undo).unwrap();
    assert_eq!(doc.voxel_count(1), 0);
    pump(&mut cb, &mut b, caught_up(&doc));
    pump(&mut cc, &mut c, caught_up(&doc));
    assert_same(&mut doc, c.document_mut().unwrap());

    // Without the pen B cannot edit: locally refused, and a frame it makes
    // anyway is refused by the host (B is told), reaching no document.
    let first = stroke([3.0, 3.0, 3.0], [6.0, 6.0, 6.0]);
    assert!(b.edit(first.clone()).is_err());
    cb.send(&b.upstream(&Message::Edit(first[0].to_bytes())))
        .unwrap();
    // The host's answer: B's edit will not come back.
    loop {
        let frame = cb.next(Duration::from_secs(20)).unwrap().unwrap();
        if let Update::Diverged = b.receive(&frame).unwrap() {
            break;
        }
    }
    b.forget_outstanding();

    // The presenter hands B the pen; B paints and the host applies it.
    let mut pc = Connection::open(&presenter_link).unwrap();
    pc.send(&presenter(&host, 1, Event::GivePen { id: Some(b_id) }))
        .unwrap();
    pump(&mut cb, &mut b, |f| f.holds_pen());
    pump(&mut cc, &mut c, |f| f.pen == Some(b_id));
    assert!(!c.holds_pen());
    let mine = stroke([10.0, 25.0, 8.0], [26.0, 20.0, 16.0]);
    let (changes, frame) = b.edit(mine.clone()).unwrap();
    assert!(changes.iter().any(|ch| !ch.voxels.is_empty()));
    cb.send(&frame).unwrap();
    for expected in &mine {
        let e = edits.recv_timeout(Duration::from_secs(20)).unwrap();
        // The refused edit never came out: the first is B's new stroke.
        assert_eq!(&e, expected);
        doc.apply(e).unwrap();
    }
    assert!(doc.voxel_count(1) > 0);
    pump(&mut cb, &mut b, caught_up(&doc));
    pump(&mut cc, &mut c, caught_up(&doc));
    assert_same(&mut doc, b.document_mut().unwrap());
    assert_same(&mut doc, c.document_mut().unwrap());
    assert_eq!(labels_of(&b), labels_of(&c));

    // B's undo goes the same way.
    let (_, frame) = b.edit(vec![Edit::Undo]).unwrap();
    cb.send(&frame).unwrap();
    doc.apply(edits.recv_timeout(Duration::from_secs(20)).unwrap())
        .unwrap();
    assert_eq!(doc.voxel_count(1), 0);
    pump(&mut cb, &mut b, caught_up(&doc));
    pump(&mut cc, &mut c, caught_up(&doc));
    assert_same(&mut doc, c.document_mut().unwrap());

    // The presenter removes C: it is told, its stream ends, and the host
    // lists B alone.
    pc.send(&presenter(&host, 2, Event::Remove { id: c_id }))
        .unwrap();
    let ended = loop {
        match cc.next(Duration::from_secs(20)) {
            Ok(Some(frame)) => {
                c.receive(&frame).unwrap();
            }
            Ok(None) => panic!("no frame within 20 s"),
            Err(e) => break e,
        }
    };
    assert!(c.removed, "{ended}");
    assert!(ended.to_string().contains("ended"), "{ended}");
    pump(&mut cb, &mut b, |f| {
        !f.participants.iter().any(|p| p.id == c_id)
    });
    // What C would still send is dropped by the host.
    let late = c.upstream(&Message::Edit(Edit::Undo.to_bytes()));
    assert!(host.upstream(c_id, &late).is_err());
    let _ = cc.send(&late);

    // The presenter takes the pen back: B's edits are refused again.
    pc.send(&presenter(&host, 3, Event::GivePen { id: None }))
        .unwrap();
    pump(&mut cb, &mut b, |f| f.pen.is_none());
    assert!(b.edit(vec![Edit::Undo]).is_err());
    // Nothing else came out of the server: the host's document is where
    // everyone's is.
    assert!(edits.try_recv().is_err());
    assert_same(&mut doc, b.document_mut().unwrap());
    drop((cb, cc, pc));
    host.stop(&mut doc);
    server.stop();
}

/// Every frame queued for a follower, opened.
fn events(f: &mut Follower, rx: &Receiver<Frame>) -> Vec<Event> {
    rx.try_iter()
        .filter_map(|frame| match f.open(&frame).unwrap() {
            Message::Event(e) => Some(e),
            _ => None,
        })
        .collect()
}

#[test]
fn only_the_pen_holder_edits_and_a_removed_or_impersonating_participant_is_refused() {
    let mut doc = base();
    let host = Host::start(&mut doc, &HostOptions::default()).unwrap();
    let (b_id, b_rx) = host.join(Kind::Stratum).unwrap();
    let (w_id, _w_rx) = host.join(Kind::Browser).unwrap();
    let (c_id, _c_rx) = host.join(Kind::Stratum).unwrap();
    let mut b = Follower::new(host.key());
    let evs = events(&mut b, &b_rx);
    assert!(evs.contains(&Event::You { id: b_id }), "{evs:?}");
    assert_eq!(b.me, Some(b_id));
    assert_eq!(b.participants.len(), 3);

    // A browser cannot hold the pen; nobody not in the session either.
    assert!(host.give_pen(Some(w_id)).is_err());
    assert!(host.give_pen(Some(999)).is_err());
    assert_eq!(host.pen(), None);

    // Without the pen an edit is refused and B is told why.
    let undo = Message::Edit(Edit::Undo.to_bytes());
    let f1 = b.upstream(&undo);
    assert!(host.upstream(b_id, &f1).is_err());
    assert!(
        events(&mut b, &b_rx)
            .iter()
            .any(|e| matches!(e, Event::Refused { .. }))
    );

    // With the pen, a batch comes out whole, in order.
    host.give_pen(Some(b_id)).unwrap();
    let edits = stroke([8.0, 10.0, 10.0], [20.0, 14.0, 12.0]);
    let batch = Message::Batch(edits.iter().map(|e| Message::Edit(e.to_bytes())).collect());
    let f2 = b.upstream(&batch);
    assert_eq!(host.upstream(b_id, &f2).unwrap(), edits);
    // Replayed: refused.
    assert!(host.upstream(b_id, &f2).is_err());
    // The same frame arriving on C's connection (B's sender number): refused.
    let f3 = b.upstream(&undo);
    assert!(host.upstream(c_id, &f3).is_err());
    // A batch inside a batch, garbage, an event only the host sends: refused.
    let nested = b.upstream(&Message::Batch(vec![Message::Batch(vec![undo.clone()])]));
    assert!(host.upstream(b_id, &nested).is_err());
    assert!(host.upstream(b_id, b"SL\x01\x00garbage").is_err());
    let joined = b.upstream(&Message::Event(Event::Joined { viewers: 1 }));
    assert!(host.upstream(b_id, &joined).is_err());
    // A name is cleaned and cut at 40 characters.
    let long = format!("  {}\n", "é".repeat(60));
    let named = b.upstream(&Message::Event(Event::Introduce { name: long }));
    assert!(host.upstream(b_id, &named).unwrap().is_empty());
    let (people, pen) = host.participants();
    assert_eq!(pen, Some(b_id));
    let me = people.iter().find(|p| p.id == b_id).unwrap();
    assert_eq!(me.name, "é".repeat(40));

    // Removed: told, its queue closes, the pen goes back, and nothing it
    // sends counts any more.
    events(&mut b, &b_rx);
    assert!(host.remove(b_id));
    assert!(!host.remove(b_id));
    let evs = events(&mut b, &b_rx);
    assert!(evs.contains(&Event::Removed) && b.removed, "{evs:?}");
    assert!(
        b_rx.recv().is_err(),
        "the removed participant's queue closed"
    );
    assert_eq!(host.pen(), None);
    let f4 = b.upstream(&undo);
    assert!(host.upstream(b_id, &f4).is_err());
    assert_eq!(host.participants().0.len(), 2);
    // The document never saw any of it.
    assert_eq!(doc.history().len(), 1);
}

#[test]
fn edits_read_back_to_the_same_bytes_so_a_pen_holder_knows_its_own() {
    // The host re-encodes what it applied; the pen holder compares bytes.
    let v = scan();
    for e in session_edits(&v)
        .into_iter()
        .chain(stroke([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]))
    {
        let b = e.to_bytes();
        assert_eq!(Edit::from_bytes(&b).unwrap().to_bytes(), b, "{e:?}");
    }
    let batch = Message::Batch(vec![Message::Edit(vec![1, 2]), Message::Seal]);
    assert_eq!(Message::from_bytes(&batch.to_bytes()).unwrap(), batch);
    // Cut anywhere, a batch is an error, never a panic.
    let bytes = batch.to_bytes();
    for cut in 1..bytes.len() {
        let _ = Message::from_bytes(&bytes[..cut]);
    }
    assert!(Message::from_bytes(&bytes[..bytes.len() - 1]).is_err());
}
