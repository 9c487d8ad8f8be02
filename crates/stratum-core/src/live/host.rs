//! The host side of a live session: it watches the document (an
//! [`Observer`] under the key "live"), numbers and encrypts every edit and
//! view event once, and hands the frames to each follower's queue; a
//! newcomer gets the session's start and every edit since, so it ends
//! where the others are. Nothing here does I/O: the web server
//! ([`super::server`]) or a test moves the frames.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};

mod avatars;
mod pen;

use super::avatars::Avatars;
use super::crypto::{self, Header, Key};
use super::error::LiveError;
use super::message::{Event, Message, SceneSegment, TableRow};
use super::surfaces::SurfaceJob;
use super::viewers::{MAX_VIEWER_FRAME, Pointer, Viewers};
use crate::base::error::{CoreError, Result};
use crate::document::{Change, Document, Edit, Observer, SegmentProps, volume_to_bytes};
use crate::edit::Step;

/// Who follows: a browser gets events only; a Stratum also the document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Browser,
    Stratum,
}

/// The sender number of the browser model's frame (the host's stream is 0).
pub const MODEL_SENDER: u32 = u32::MAX;

/// A frame on its way to followers (shared: one encryption for all).
pub type Frame = Arc<Vec<u8>>;

#[derive(Clone, Debug)]
pub struct HostOptions {
    /// Send the scan to a Stratum that joins (brushes limited to an
    /// intensity range read it). Browsers never get the scan.
    pub send_scan: bool,
}

impl Default for HostOptions {
    fn default() -> Self {
        HostOptions { send_scan: true }
    }
}

struct Client {
    id: u64,
    kind: Kind,
    tx: Sender<Frame>,
}

struct Hub {
    key: Key,
    presenter: Key,
    session: String,
    seq: u64,
    /// The session's start ([`Message::Snapshot`], plain) and every
    /// document message since (plain): what a Stratum newcomer replays.
    base: Arc<Vec<u8>>,
    log: Vec<Arc<Vec<u8>>>,
    /// The latest of each view event, the table, the browser's scene.
    view: BTreeMap<&'static str, Event>,
    table: Event,
    scene: Option<Event>,
    model: Option<Frame>,
    model_version: u64,
    clients: Vec<Client>,
    next_client: u64,
    /// The last sequence number seen from each upstream sender.
    upstream: HashMap<u32, u64>,
    /// Participants' names, the pen, who was removed.
    people: pen::People,
    viewers: Viewers,
    /// Each participant's head and hands.
    avatars: Avatars,
    /// Where voxel changes go to be meshed for browsers, when asked for.
    remesh: Option<Sender<SurfaceJob>>,
    /// The edited surfaces since the model (version, ids, frame, event);
    /// one whose segments were all rebuilt since is dropped.
    patches: Vec<(u64, Vec<u16>, Frame, Event)>,
    stopped: bool,
}

impl Hub {
    fn seal(&mut self, plain: &[u8]) -> Frame {
        self.seq += 1;
        Arc::new(crypto::seal(
            &self.key,
            Header {
                sender: 0,
                seq: self.seq,
            },
            plain,
        ))
    }

    fn broadcast(&mut self, msg: &Message, stratum_only: bool) {
        if self.stopped {
            return;
        }
        let frame = self.seal(&msg.to_bytes());
        self.clients.retain(|c| {
            if stratum_only && c.kind != Kind::Stratum {
                return true;
            }
            // A closed queue is a follower that left.
            c.tx.send(frame.clone()).is_ok()
        });
    }

    fn joined(&mut self) {
        let viewers = self.clients.len();
        self.broadcast(&Message::Event(Event::Joined { viewers }), false);
    }
}

/// A live session's host. Cloning gives another handle on the same session.
#[derive(Clone)]
pub struct Host {
    hub: Arc<Mutex<Hub>>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host").finish_non_exhaustive()
    }
}

/// The document's observer: forwards what the document went through.
struct Watch(Arc<Mutex<Hub>>);

impl Hub {
    /// Opens a participant's own frame (a viewer's point or hand, an
    /// avatar): small enough, from a connection still following, sealed
    /// with the follow key, not claiming a host's sender number, next in
    /// that connection's sequence, and an event. `what` names the frame in
    /// the size error, `not_event` is the error for any other message.
    fn participant_event(
        &mut self,
        client: u64,
        frame: &[u8],
        what: &str,
        not_event: &str,
    ) -> Result<Event> {
        if frame.len() > MAX_VIEWER_FRAME {
            return Err(CoreError::LiveRefused(format!(
                "{what} frame of {} bytes (at most {MAX_VIEWER_FRAME})",
                frame.len()
            )));
        }
        if self.people.removed.contains(&client) || !self.clients.iter().any(|c| c.id == client) {
            return Err(CoreError::LiveRefused(
                "a frame from someone no longer following".into(),
            ));
        }
        let (header, plain) = crypto::open(&self.key, frame)?;
        if header.sender == 0 || header.sender == MODEL_SENDER {
            return Err(CoreError::LiveRefused(
                "a frame claiming to be the host's".into(),
            ));
        }
        self.viewers.in_sequence(client, header)?;
        let Message::Event(event) = Message::from_bytes(&plain)? else {
            return Err(CoreError::LiveRefused(not_event.into()));
        };
        Ok(event)
    }
}

fn lock(m: &Mutex<Hub>) -> MutexGuard<'_, Hub> {
    // A panic elsewhere while holding it leaves plain data: go on.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Observer for Watch {
    fn pushed(&mut self, _step: &Step) {}
    fn undone(&mut self) {}
    fn redone(&mut self) {}
    fn props_changed(&mut self, _props: &BTreeMap<u16, SegmentProps>) {}

    fn applied(&mut self, edit: &Edit, change: &Change, doc: &Document) {
        let mut hub = lock(&self.0);
        let plain = Arc::new(Message::Edit(edit.to_bytes()).to_bytes());
        hub.log.push(plain.clone());
        if !hub.stopped {
            let frame = hub.seal(&plain);
            hub.clients
                .retain(|c| c.kind != Kind::Stratum || c.tx.send(frame.clone()).is_ok());
        }
        if change.table_changed() {
            hub.table = table(doc);
            let t = hub.table.clone();
            hub.broadcast(&Message::Event(t), false);
        }
        if !change.voxels.is_empty() && !change.live {
            let ids = change.voxels.clone();
            if let Some(tx) = &hub.remesh {
                let _ = tx.send(SurfaceJob::of(doc, &ids));
            }
            hub.broadcast(&Message::Event(Event::Voxels { ids }), false);
        }
    }

    fn sealed(&mut self) {
        let mut hub = lock(&self.0);
        let plain = Arc::new(Message::Seal.to_bytes());
        hub.log.push(plain);
        hub.broadcast(&Message::Seal, true);
    }
}

/// The segment table as followers show it.
pub fn table(doc: &Document) -> Event {
    Event::Table {
        segments: doc
            .segments()
            .iter()
            .map(|s| TableRow {
                id: s.id,
                name: s.name.clone(),
                colour: s.colour,
                visible: s.visible,
                opacity: doc.props(s.id).opacity,
            })
            .collect(),
    }
}

impl Host {
    /// Starts a session on `doc`: fresh keys, the document as it is now as
    /// the session's start, and the host watching every later edit.
    pub fn start(doc: &mut Document, opts: &HostOptions) -> Result<Host> {
        let key = Key::random()?;
        let presenter = Key::random()?;
        let mut id = [0u8; 8];
        getrandom::fill(&mut id).map_err(|e| LiveError::no_random("", e))?;
        let scan = match (opts.send_scan, doc.scan()) {
            (true, Some(v)) => Some(volume_to_bytes(v)),
            _ => None,
        };
        let state = doc.state()?.to_bytes();
        let base = Message::Snapshot { scan, state }.to_bytes();
        let hub = Arc::new(Mutex::new(Hub {
            key,
            presenter,
            session: id.iter().map(|b| format!("{b:02x}")).collect(),
            seq: 0,
            base: Arc::new(base),
            log: Vec::new(),
            view: BTreeMap::new(),
            table: table(doc),
            scene: None,
            model: None,
            model_version: 0,
            clients: Vec::new(),
            next_client: 1,
            upstream: HashMap::new(),
            people: pen::People::default(),
            viewers: Viewers::default(),
            avatars: Avatars::default(),
            remesh: None,
            patches: Vec::new(),
            stopped: false,
        }));
        doc.observe("live", Box::new(Watch(hub.clone())));
        Ok(Host { hub })
    }

    /// Ends the session: the document is no longer watched, every
    /// follower's queue closes, and the keys are forgotten with the host.
    pub fn stop(&self, doc: &mut Document) {
        doc.unobserve("live");
        self.end();
    }

    /// Ends the session when its document is gone (another study opened):
    /// every follower's queue closes.
    pub fn end(&self) {
        let mut hub = lock(&self.hub);
        hub.stopped = true;
        hub.clients.clear();
        hub.remesh = None;
    }

    /// The follower key (in every link).
    pub fn key(&self) -> Key {
        lock(&self.hub).key.clone()
    }

    /// The presenter key (only in the presenter's link).
    pub fn presenter_key(&self) -> Key {
        lock(&self.hub).presenter.clone()
    }

    /// The fragment of a follower's link (`k=...`).
    pub fn fragment(&self) -> String {
        format!("k={}", self.key().to_text())
    }

    /// The fragment of the presenter's link (`k=...&p=...`).
    pub fn presenter_fragment(&self) -> String {
        format!("{}&p={}", self.fragment(), self.presenter_key().to_text())
    }

    /// How many follow now.
    pub fn followers(&self) -> usize {
        lock(&self.hub).clients.len()
    }

    /// Sets the browser's model (a GLB) and what it holds: a newcomer
    /// fetches the encrypted model, then applies the events.
    pub fn set_model(&self, glb: &[u8], scene: Event) {
        let mut hub = lock(&self.hub);
        hub.model_version += 1;
        let frame = crypto::seal(
            &hub.key,
            Header {
                sender: MODEL_SENDER,
                seq: hub.model_version,
            },
            glb,
        );
        hub.model = Some(Arc::new(frame));
        hub.patches.clear();
        hub.scene = Some(scene.clone());
        hub.broadcast(&Message::Event(scene), false);
    }

    /// The encrypted model, when one is set.
    pub fn model(&self) -> Option<Frame> {
        lock(&self.hub).model.clone()
    }

    /// From now on, segments whose voxels change are meshed again (after
    /// the edits settle, on a thread of their own) with `opts` and sent
    /// to browsers as [`Event::Surfaces`].
    pub fn remesh_for_browsers(&self, opts: crate::convert::ConvertOptions) -> Result<()> {
        let (tx, rx) = mpsc::channel();
        let host = self.clone();
        std::thread::Builder::new()
            .name("live-surfaces".into())
            .spawn(move || {
                super::surfaces::run(rx, opts, |glb, segments, empty| {
                    host.set_surfaces(glb, segments, empty)
                })
            })
            .map_err(LiveError::Thread)?;
        lock(&self.hub).remesh = Some(tx);
        Ok(())
    }

    /// Edited surfaces for browsers: `glb` (as the model's, of `segments`)
    /// is encrypted and served at `surfaces/N`; every browser is told, and
    /// a newcomer gets every such event still needed, after the scene.
    pub fn set_surfaces(&self, glb: Option<&[u8]>, segments: Vec<SceneSegment>, empty: Vec<u16>) {
        let mut hub = lock(&self.hub);
        hub.model_version += 1;
        let version = hub.model_version;
        let model = glb.map(|glb| {
            let frame = crypto::seal(
                &hub.key,
                Header {
                    sender: MODEL_SENDER,
                    seq: version,
                },
                glb,
            );
            (format!("surfaces/{version}"), Arc::new(frame))
        });
        let ids: Vec<u16> = segments.iter().map(|s| s.id).chain(empty.clone()).collect();
        let event = Event::Surfaces {
            model: model.as_ref().map(|(path, _)| path.clone()),
            segments,
            empty,
        };
        hub.patches
            .retain(|(_, old, _, _)| !old.iter().all(|id| ids.contains(id)));
        let frame = model.map(|(_, f)| f).unwrap_or_default();
        hub.patches.push((version, ids, frame, event.clone()));
        hub.broadcast(&Message::Event(event), false);
    }

    /// The encrypted GLB of edited surfaces number `version`, while a
    /// newcomer may still need it.
    pub fn surfaces(&self, version: u64) -> Option<Frame> {
        lock(&self.hub)
            .patches
            .iter()
            .find(|(v, _, f, _)| *v == version && !f.is_empty())
            .map(|(_, _, f, _)| f.clone())
    }

    /// The presenter's view changed: every follower gets it, a newcomer
    /// the latest of each kind.
    pub fn view(&self, event: Event) -> Result<()> {
        let Some(kind) = event.view_kind() else {
            return Err(CoreError::LiveRefused("not a view event".into()));
        };
        if !event.is_finite() {
            return Err(CoreError::LiveRefused(
                "a view with a number that is not finite".into(),
            ));
        }
        let mut hub = lock(&self.hub);
        hub.view.insert(kind, event.clone());
        hub.broadcast(&Message::Event(event), false);
        Ok(())
    }

    /// A follower joins: its queue gets the hello, the document's start and
    /// every edit since (a Stratum), the table, the browser's scene and the
    /// latest view, then everything that follows.
    pub fn join(&self, kind: Kind) -> Result<(u64, Receiver<Frame>)> {
        let mut hub = lock(&self.hub);
        if hub.stopped {
            return Err(CoreError::LiveRefused("the session has ended".into()));
        }
        let (tx, rx) = mpsc::channel();
        let id = hub.next_client;
        hub.next_client += 1;
        let mut first = vec![
            Message::Hello {
                session: hub.session.clone(),
            }
            .to_bytes(),
            Message::Event(Event::You { id }).to_bytes(),
        ];
        if kind == Kind::Stratum {
            first.push(hub.base.to_vec());
            first.extend(hub.log.iter().map(|m| m.to_vec()));
        }
        if let Some(s) = hub.scene.clone() {
            first.push(Message::Event(s).to_bytes());
        }
        for (_, _, _, e) in &hub.patches {
            first.push(Message::Event(e.clone()).to_bytes());
        }
        first.push(Message::Event(hub.table.clone()).to_bytes());
        let mut view: Vec<Event> = hub.view.values().cloned().collect();
        view.extend(hub.viewers.current());
        view.extend(hub.avatars.current());
        first.extend(view.into_iter().map(|e| Message::Event(e).to_bytes()));
        for plain in first {
            let frame = hub.seal(&plain);
            let _ = tx.send(frame);
        }
        hub.clients.push(Client { id, kind, tx });
        hub.joined();
        hub.announce();
        Ok((id, rx))
    }

    /// A follower left (or was removed): its queue closes.
    pub fn leave(&self, id: u64) {
        let mut hub = lock(&self.hub);
        let before = hub.clients.len();
        hub.clients.retain(|c| c.id != id);
        if hub.clients.len() != before {
            hub.people.left(id);
            let gone: Vec<Event> = hub
                .viewers
                .left(id)
                .into_iter()
                .chain(hub.avatars.left(id))
                .collect();
            for e in gone {
                hub.broadcast(&Message::Event(e), false);
            }
            hub.joined();
            hub.announce();
        }
    }

    /// Reads a viewer's frame (sealed with the follow key, numbers rising
    /// per sender): a point or a hand, checked, kept and forwarded to every
    /// follower with `from` set to `client`. Anything else is refused.
    pub fn viewer_frame(&self, client: u64, frame: &[u8]) -> Result<Event> {
        let mut hub = lock(&self.hub);
        let event =
            hub.participant_event(client, frame, "a viewer's", "a viewer sends events only")?;
        let event = hub.viewers.accept(client, event)?;
        hub.broadcast(&Message::Event(event.clone()), false);
        Ok(event)
    }

    /// Where viewers point now (the presenter's markers).
    pub fn points(&self) -> Vec<Pointer> {
        lock(&self.hub).viewers.points()
    }

    /// The viewers with a hand raised now (connection, name).
    pub fn hands(&self) -> Vec<(u64, String)> {
        lock(&self.hub).viewers.hands()
    }

    /// Reads a frame from the presenter (sealed with the presenter key,
    /// any sender but the host's, numbers rising per sender): a view event
    /// is forwarded at once; a document command comes back as the edit for
    /// the document's owner to apply. Anything else is refused, and changes
    /// nothing.
    pub fn presenter_frame(&self, frame: &[u8]) -> Result<Option<Edit>> {
        let mut hub = lock(&self.hub);
        let (header, plain) = crypto::open(&hub.presenter, frame)?;
        if header.sender == 0 || header.sender == MODEL_SENDER {
            return Err(CoreError::LiveRefused(
                "a frame claiming to be the host's".into(),
            ));
        }
        let last = hub.upstream.get(&header.sender).copied().unwrap_or(0);
        if header.seq <= last {
            return Err(CoreError::LiveRefused(format!(
                "a replayed or out-of-order frame (number {} after {last})",
                header.seq
            )));
        }
        hub.upstream.insert(header.sender, header.seq);
        let Message::Event(event) = Message::from_bytes(&plain)? else {
            return Err(CoreError::LiveRefused(
                "a presenter sends events only".into(),
            ));
        };
        if !event.is_finite() {
            return Err(CoreError::LiveRefused(
                "an event with a number out of range".into(),
            ));
        }
        drop(hub);
        Ok(match event {
            Event::Visible { id, visible } => Some(Edit::set_visible(id, visible)),
            Event::Opacity { id, opacity } => Some(Edit::SetOpacity { id, opacity }),
            Event::Undo => Some(Edit::Undo),
            Event::Redo => Some(Edit::Redo),
            Event::GivePen { id } => {
                self.give_pen(id)?;
                None
            }
            Event::Remove { id } => {
                self.remove(id);
                None
            }
            e if e.view_kind().is_some() => {
                self.view(e)?;
                None
            }
            _ => {
                return Err(CoreError::LiveRefused(
                    "an event only the host sends".into(),
                ));
            }
        })
    }
}
