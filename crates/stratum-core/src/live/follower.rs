//! The follower side of a live session: opens each frame with the link's
//! key, refuses what is altered, replayed or out of order, builds its own
//! [`Document`] from the session's start and applies every edit after, so
//! its label map stays bit-identical to the host's. While it holds the pen
//! it also sends its own edits ([`Follower::edit`], [`Follower::upstream`]):
//! the host applies them and sends them back to everyone in its order; the
//! follower, which applied them first, recognises its own and skips them,
//! and says when the host's order is not its own (then it must catch up by
//! joining again).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use super::avatars::Avatar;
use super::crypto::{self, Header, Key};
use super::host::MODEL_SENDER;
use super::message::{AvatarPose, Event, Message, Participant};
use crate::base::error::{CoreError, Result};
use crate::document::{Change, Document, DocumentState, Edit, volume_from_bytes};
use crate::edit::HistoryConfig;

/// What a frame did to the follower.
#[derive(Debug)]
pub enum Update {
    /// The session said hello (the key is right).
    Hello,
    /// The document arrived.
    Document,
    Edited(Change),
    /// The host applied one of this follower's own edits (already applied
    /// here): nothing to do.
    Echoed,
    /// The host's document went another way than this follower's (an edit
    /// of its own was refused, or came back after someone else's): the
    /// edit was not applied; join again to catch up.
    Diverged,
    Sealed,
    Event(Event),
}

/// Where an edit from the host stands against this follower's own.
#[derive(Debug, PartialEq, Eq)]
pub enum Echo {
    /// The next of its own edits, back from the host.
    Mine,
    /// Someone else's, with none of its own outstanding: apply it.
    Theirs,
    /// Someone else's before its own came back: the orders differ.
    Diverged,
}

pub struct Follower {
    key: Key,
    last: u64,
    opened: bool,
    doc: Option<Document>,
    /// The latest of each view event, and the table.
    pub view: BTreeMap<&'static str, Event>,
    pub table: Option<Event>,
    pub viewers: usize,
    /// This follower's number in the session (the host's `you`).
    pub me: Option<u64>,
    pub participants: Vec<Participant>,
    /// Who holds the pen.
    pub pen: Option<u64>,
    /// The presenter's name ("" when not given).
    pub presenter: String,
    /// The presenter removed this follower.
    pub removed: bool,
    /// What gets the pen back on a new connection, while this follower
    /// holds it (or held it when its connection dropped). Kept in memory
    /// only, for this session.
    pub pen_token: Option<String>,
    /// The others' heads and hands (the presenter's is number 0).
    pub avatars: BTreeMap<u64, Avatar>,
    /// Its own sender number and the last number it sent.
    sender: u32,
    sent: u64,
    /// Its own edits (their bytes) sent and not yet back from the host.
    pending: VecDeque<Vec<u8>>,
}

impl Follower {
    pub fn new(key: Key) -> Follower {
        let mut b = [0u8; 4];
        // Any number but the host's and the model's; without the system's
        // random numbers, a fixed one still works (the host binds it to
        // this connection).
        let _ = getrandom::fill(&mut b);
        let sender = u32::from_le_bytes(b).clamp(1, MODEL_SENDER - 1);
        Follower {
            key,
            last: 0,
            opened: false,
            doc: None,
            view: BTreeMap::new(),
            table: None,
            viewers: 0,
            me: None,
            participants: Vec::new(),
            pen: None,
            presenter: String::new(),
            removed: false,
            pen_token: None,
            avatars: BTreeMap::new(),
            sender,
            sent: 0,
            pending: VecDeque::new(),
        }
    }

    /// The document, once the snapshot has arrived.
    pub fn document(&self) -> Option<&Document> {
        self.doc.as_ref()
    }

    pub fn document_mut(&mut self) -> Option<&mut Document> {
        self.doc.as_mut()
    }

    /// Whether this follower holds the pen (may edit).
    pub fn holds_pen(&self) -> bool {
        self.me.is_some() && self.pen == self.me
    }

    /// Opens one frame from the host: checks it (key, sender, number),
    /// keeps the view, the table and who takes part, and returns the
    /// message for the caller to apply (see [`Follower::receive`], which
    /// applies it to the follower's own document). An error: the frame is
    /// dropped and the follower is as it was.
    pub fn open(&mut self, frame: &[u8]) -> Result<Message> {
        let (header, plain) = match crypto::open(&self.key, frame) {
            Ok(x) => x,
            // Nothing has opened yet: the key is not this session's.
            Err(CoreError::LiveRefused(_)) if !self.opened => {
                return Err(CoreError::LiveWrongKey);
            }
            Err(e) => return Err(e),
        };
        if header.sender != 0 {
            return Err(CoreError::LiveRefused(
                "a frame that is not the host's".into(),
            ));
        }
        if header.seq <= self.last {
            return Err(CoreError::LiveRefused(format!(
                "a replayed or out-of-order frame (number {} after {})",
                header.seq, self.last
            )));
        }
        let msg = Message::from_bytes(&plain)?;
        if let Message::Event(e) = &msg {
            self.note(e);
        }
        self.opened = true;
        self.last = header.seq;
        Ok(msg)
    }

    /// Keeps what an event from the host says about the session (the
    /// latest view, the table, who takes part and holds the pen); for a
    /// follower whose frames another one opened.
    pub fn note(&mut self, e: &Event) {
        if let Some(kind) = e.view_kind() {
            self.view.insert(kind, e.clone());
        }
        match e {
            Event::Table { .. } => self.table = Some(e.clone()),
            Event::Joined { viewers } => self.viewers = *viewers,
            Event::You { id } => self.me = Some(*id),
            Event::Participants {
                participants,
                pen,
                presenter,
            } => {
                let had = self.holds_pen();
                self.participants = participants.clone();
                self.pen = *pen;
                self.presenter = presenter.clone();
                // Taken back or given to someone else while connected:
                // the token is void.
                if had && !self.holds_pen() {
                    self.pen_token = None;
                }
            }
            Event::Removed => {
                self.removed = true;
                self.pen_token = None;
            }
            Event::PenToken { token } => self.pen_token = token.clone(),
            Event::Avatar { .. } => {
                if let Some(a) = Avatar::of(e) {
                    if a.is_empty() {
                        self.avatars.remove(&a.from);
                    } else {
                        self.avatars.insert(a.from, a);
                    }
                }
            }
            _ => {}
        }
    }

    /// Where an edit that came from the host (its bytes) stands against
    /// this follower's own; [`Echo::Mine`] takes it off the outstanding.
    pub fn echo(&mut self, edit: &[u8]) -> Echo {
        match self.pending.front() {
            None => Echo::Theirs,
            Some(p) if p.as_slice() == edit => {
                self.pending.pop_front();
                Echo::Mine
            }
            Some(_) => Echo::Diverged,
        }
    }

    /// Whether edits of its own are on their way to the host and back.
    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// A new document (joining again): nothing of its own is outstanding.
    pub fn forget_outstanding(&mut self) {
        self.pending.clear();
    }

    /// Seals a message to the host (a name, edits already applied here):
    /// the frame to send. Edits in it are expected back ([`Follower::echo`]).
    pub fn upstream(&mut self, msg: &Message) -> Vec<u8> {
        let mine = |m: &Message| match m {
            Message::Edit(b) => Some(b.clone()),
            _ => None,
        };
        match msg {
            Message::Batch(list) => self.pending.extend(list.iter().filter_map(mine)),
            m => self.pending.extend(mine(m)),
        }
        self.sent += 1;
        crypto::seal(
            &self.key,
            Header {
                sender: self.sender,
                seq: self.sent,
            },
            &msg.to_bytes(),
        )
    }

    /// This follower's name for the others: the frame to send.
    pub fn introduce(&mut self, name: &str) -> Vec<u8> {
        self.upstream(&Message::Event(Event::Introduce {
            name: name.to_string(),
        }))
    }

    /// Asks for the pen back on this (new) connection with the token it
    /// was given (`pen_token`, carried over from the connection that
    /// dropped): the frame to send, if it has one. The host answers with
    /// `participants` naming it as the pen holder and a new token, or a
    /// `pen_token` of `null` when the token is void.
    pub fn claim_pen(&mut self) -> Option<Vec<u8>> {
        let token = self.pen_token.clone()?;
        Some(self.upstream(&Message::Event(Event::ClaimPen { token })))
    }

    /// Its own head and hands for the others (LPS mm in the model's
    /// frame, rounded): the frame to send. All `None`: its avatar goes.
    pub fn avatar(
        &mut self,
        head: Option<AvatarPose>,
        left: Option<AvatarPose>,
        right: Option<AvatarPose>,
    ) -> Vec<u8> {
        let r = |p: Option<AvatarPose>| p.map(AvatarPose::rounded);
        self.upstream(&Message::Event(Event::Avatar {
            from: 0,
            name: String::new(),
            head: r(head),
            left: r(left),
            right: r(right),
        }))
    }

    /// Applies edits of its own to its document (it must hold the pen) and
    /// returns the frame that sends them to the host. Refused edits are
    /// not sent; the document keeps the ones before.
    pub fn edit(&mut self, edits: Vec<Edit>) -> Result<(Vec<Change>, Vec<u8>)> {
        if !self.holds_pen() {
            return Err(CoreError::LiveRefused(
                "only the participant holding the pen edits: ask the presenter for it".into(),
            ));
        }
        let doc = self
            .doc
            .as_mut()
            .ok_or_else(|| CoreError::LiveRefused("no document yet".into()))?;
        let mut changes = Vec::new();
        let mut sent = Vec::new();
        for e in edits {
            let bytes = e.to_bytes();
            changes.push(doc.apply(e)?);
            sent.push(Message::Edit(bytes));
        }
        Ok((changes, self.upstream(&Message::Batch(sent))))
    }

    /// Reads one frame from the host into the follower's own document. An
    /// error leaves the follower as it was: the frame is dropped.
    pub fn receive(&mut self, frame: &[u8]) -> Result<Update> {
        Ok(match self.open(frame)? {
            Message::Hello { .. } => Update::Hello,
            Message::Snapshot { scan, state } => {
                self.doc = Some(document_from_snapshot(scan.as_deref(), &state)?);
                self.pending.clear();
                Update::Document
            }
            Message::Edit(bytes) => {
                if self.doc.is_none() {
                    return Err(CoreError::LiveRefused("an edit before the document".into()));
                }
                match self.echo(&bytes) {
                    Echo::Mine => Update::Echoed,
                    Echo::Diverged => Update::Diverged,
                    Echo::Theirs => {
                        let doc = self.doc.as_mut().expect("checked above");
                        Update::Edited(doc.apply(Edit::from_bytes(&bytes)?)?)
                    }
                }
            }
            Message::Seal => {
                if let Some(doc) = self.doc.as_mut() {
                    doc.seal();
                }
                Update::Sealed
            }
            Message::Event(Event::Refused { .. }) if !self.pending.is_empty() => {
                // Its own edits will not come back.
                Update::Diverged
            }
            Message::Event(e) => Update::Event(e),
            Message::Batch(_) => {
                return Err(CoreError::LiveRefused(
                    "a batch from the host (only participants send them)".into(),
                ));
            }
        })
    }
}

/// The session's start as a document: the scan (when sent) and the
/// document state.
pub fn document_from_snapshot(scan: Option<&[u8]>, state: &[u8]) -> Result<Document> {
    let scan = scan.map(volume_from_bytes).transpose()?;
    let state = DocumentState::from_bytes(state)?;
    Document::from_state(scan.map(Arc::new), state, HistoryConfig::default())
}

/// A scan of zeros on the label map's grid, for a follower whose presenter
/// did not send the scan (`stratum live --no-scan`): the views and the
/// surfaces work on the labels alone.
pub fn blank_scan(labels: &crate::segment::LabelMap) -> crate::image::volume::Volume {
    crate::image::volume::Volume::new(
        crate::image::volume::Voxels::I16(ndarray::Array3::zeros(labels.dim())),
        labels.geometry,
        "",
    )
}

/// A short digest of a label map's voxels (SHA-256, hex): two followers
/// and their host compare these to show their label maps are bit-identical.
pub fn labels_digest(labels: &crate::segment::LabelMap) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    let (z, y, x) = labels.dim();
    for n in [z, y, x] {
        h.update((n as u64).to_le_bytes());
    }
    match &labels.labels {
        crate::segment::Labels::U8(a) => {
            h.update([1u8]);
            h.update(a.iter().copied().collect::<Vec<u8>>());
        }
        crate::segment::Labels::U16(a) => {
            h.update([2u8]);
            h.update(a.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>());
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
