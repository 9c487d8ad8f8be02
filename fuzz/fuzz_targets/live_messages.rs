//! A live session's messages as a follower and the host read them: the
//! input, sealed with the session's keys (so it gets past the
//! authentication, as a participant holding the link could make it), goes
//! to a Stratum follower (hello, snapshot, edits, events), to the host
//! as the presenter's and as a participant's own (a name, a pen token, an
//! avatar, a point); the decoders of a snapshot and a scan read it raw.
//! Everything is either applied or refused with an error; nothing panics.
#![no_main]

use std::sync::mpsc::Receiver;
use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use stratum_core::document::{Document, DocumentState, volume_from_bytes};
use stratum_core::live::crypto::{Header, seal};
use stratum_core::live::{Follower, Frame, Host, HostOptions, Kind, Message};
use stratum_core::segment::LabelMap;
use stratum_core::image::volume::Geometry;

struct Session {
    host: Host,
    doc: Document,
    /// The hello and snapshot a newcomer receives, sealed.
    joined: Vec<Vec<u8>>,
    /// A Stratum participant's connection (its own frames), holding the
    /// pen so its edits are read too.
    client: u64,
    /// Its queue (kept open, so it stays in the session; drained).
    queue: Receiver<Frame>,
    seq: u64,
}

fn session() -> &'static Mutex<Session> {
    static S: OnceLock<Mutex<Session>> = OnceLock::new();
    S.get_or_init(|| {
        let mut doc = Document::new(None, LabelMap::empty((4, 8, 8), Geometry::default())).expect("a document");
        let host = Host::start(&mut doc, &HostOptions::default()).expect("a host");
        let (_, rx) = host.join(Kind::Stratum).expect("a join");
        let joined = rx.try_iter().map(|f| f.to_vec()).collect();
        let (client, queue) = host.join(Kind::Stratum).expect("a join");
        let _ = host.give_pen(Some(client));
        Mutex::new(Session { host, doc, joined, client, queue, seq: 1000 })
    })
}

fuzz_target!(init: stratum_fuzz::init(), |data: &[u8]| {
    let _ = DocumentState::from_bytes(data);
    let _ = volume_from_bytes(data);
    let _ = Message::from_bytes(data);
    let mut s = session().lock().unwrap_or_else(|e| e.into_inner());
    // A follower that has joined, then this message from the host.
    let mut f = Follower::new(s.host.key());
    for frame in &s.joined {
        let _ = f.receive(frame);
    }
    s.seq += 1;
    let frame = seal(&s.host.key(), Header { sender: 0, seq: s.seq }, data);
    let _ = f.receive(&frame);
    // The same as the presenter's: an event, or refused.
    let frame = seal(&s.host.presenter_key(), Header { sender: 9, seq: s.seq }, data);
    if let Ok(Some(edit)) = s.host.presenter_frame(&frame) {
        let _ = s.doc.apply(edit);
    }
    // The same as a participant's own frame.
    let frame = seal(&s.host.key(), Header { sender: 7, seq: s.seq }, data);
    let client = s.client;
    if let Ok(edits) = s.host.upstream(client, &frame) {
        for edit in edits {
            let _ = s.doc.apply(edit);
        }
    }
    // Raw bytes as a frame: refused unless they open.
    let _ = s.host.presenter_frame(data);
    let _ = s.host.upstream(client, data);
    while s.queue.try_recv().is_ok() {}
});
