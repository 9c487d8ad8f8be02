//! The follower side of a live session: opens each frame with the link's
//! key, refuses what is altered, replayed or out of order, builds its own
//! [`Document`] from the session's start and applies every edit after, so
//! its label map stays bit-identical to the host's.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::crypto::{self, Key};
use super::message::{Event, Message};
use crate::document::{Change, Document, DocumentState, Edit, volume_from_bytes};
use crate::edit::HistoryConfig;
use crate::error::{CoreError, Result};

/// What a frame did to the follower.
#[derive(Debug)]
pub enum Update {
    /// The session said hello (the key is right).
    Hello,
    /// The document arrived.
    Document,
    Edited(Change),
    Sealed,
    Event(Event),
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
}

impl Follower {
    pub fn new(key: Key) -> Follower {
        Follower {
            key,
            last: 0,
            opened: false,
            doc: None,
            view: BTreeMap::new(),
            table: None,
            viewers: 0,
        }
    }

    /// The document, once the snapshot has arrived.
    pub fn document(&self) -> Option<&Document> {
        self.doc.as_ref()
    }

    pub fn document_mut(&mut self) -> Option<&mut Document> {
        self.doc.as_mut()
    }

    /// Reads one frame from the host. An error leaves the follower as it
    /// was: the frame is dropped.
    pub fn receive(&mut self, frame: &[u8]) -> Result<Update> {
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
        let update = match msg {
            Message::Hello { .. } => Update::Hello,
            Message::Snapshot { scan, state } => {
                let scan = scan.map(|s| volume_from_bytes(&s)).transpose()?;
                let state = DocumentState::from_bytes(&state)?;
                self.doc = Some(Document::from_state(
                    scan.map(Arc::new),
                    state,
                    HistoryConfig::default(),
                )?);
                Update::Document
            }
            Message::Edit(bytes) => {
                let doc = self
                    .doc
                    .as_mut()
                    .ok_or_else(|| CoreError::LiveRefused("an edit before the document".into()))?;
                Update::Edited(doc.apply(Edit::from_bytes(&bytes)?)?)
            }
            Message::Seal => {
                if let Some(doc) = self.doc.as_mut() {
                    doc.seal();
                }
                Update::Sealed
            }
            Message::Event(e) => {
                if let Some(kind) = e.view_kind() {
                    self.view.insert(kind, e.clone());
                }
                match &e {
                    Event::Table { .. } => self.table = Some(e.clone()),
                    Event::Joined { viewers } => self.viewers = *viewers,
                    _ => {}
                }
                Update::Event(e)
            }
        };
        self.opened = true;
        self.last = header.seq;
        Ok(update)
    }
}
