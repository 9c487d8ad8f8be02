//! Participants and the pen: who takes part (the names they gave), which
//! one Stratum may edit (the pen, handed over by the presenter), and who
//! was removed. A participant's frames are sealed with the follower key,
//! which every participant holds, so the host tells them apart by the
//! connection they arrive on, never by what a frame claims: a sender
//! number is bound to the first connection that used it.

use std::collections::{HashMap, HashSet};

use super::{Host, Hub, Kind, MODEL_SENDER, lock};
use crate::document::Edit;
use crate::error::{CoreError, Result};
use crate::live::crypto;
use crate::live::message::{Event, Message, Participant};

/// Longest name kept (in characters).
const MAX_NAME: usize = 40;

#[derive(Default)]
pub(super) struct People {
    presenter: String,
    names: HashMap<u64, String>,
    pen: Option<u64>,
    pub(super) removed: HashSet<u64>,
}

impl People {
    /// A participant left: its name and the pen go with it.
    pub(super) fn left(&mut self, id: u64) {
        self.names.remove(&id);
        if self.pen == Some(id) {
            self.pen = None;
        }
    }
}

impl Hub {
    fn participants_event(&self) -> Event {
        Event::Participants {
            participants: self
                .clients
                .iter()
                .map(|c| Participant {
                    id: c.id,
                    name: self.people.names.get(&c.id).cloned().unwrap_or_default(),
                    kind: match c.kind {
                        Kind::Browser => "browser".into(),
                        Kind::Stratum => "stratum".into(),
                    },
                })
                .collect(),
            pen: self.people.pen,
            presenter: self.people.presenter.clone(),
        }
    }

    /// Tells everyone who takes part now.
    pub(super) fn announce(&mut self) {
        let e = self.participants_event();
        self.broadcast(&Message::Event(e), false);
    }

    /// Sends an event to one participant only.
    fn tell(&mut self, id: u64, event: Event) {
        if self.stopped {
            return;
        }
        let frame = self.seal(&Message::Event(event).to_bytes());
        if let Some(c) = self.clients.iter().find(|c| c.id == id) {
            let _ = c.tx.send(frame);
        }
    }

    /// Refuses a participant's frame: it is told why (so it can catch up
    /// with the session), and the host logs it.
    fn refuse(&mut self, id: u64, reason: String) -> CoreError {
        self.tell(
            id,
            Event::Refused {
                reason: reason.clone(),
            },
        );
        CoreError::LiveRefused(reason)
    }
}

/// A name as shown to others: no control characters, trimmed, at most
/// [`MAX_NAME`] characters.
fn clean_name(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_control())
        .collect::<String>()
        .trim()
        .chars()
        .take(MAX_NAME)
        .collect()
}

impl Host {
    /// Who takes part now, and who holds the pen.
    pub fn participants(&self) -> (Vec<Participant>, Option<u64>) {
        match lock(&self.hub).participants_event() {
            Event::Participants {
                participants, pen, ..
            } => (participants, pen),
            _ => (Vec::new(), None),
        }
    }

    /// The presenter's name, as participants see it.
    pub fn set_presenter_name(&self, name: &str) {
        let mut hub = lock(&self.hub);
        hub.people.presenter = clean_name(name);
        hub.announce();
    }

    /// Who holds the pen (a participant's number), if anyone.
    pub fn pen(&self) -> Option<u64> {
        lock(&self.hub).people.pen
    }

    /// Hands the pen to participant `id` (a Stratum that follows), or takes
    /// it back (`None`). Everyone is told.
    pub fn give_pen(&self, id: Option<u64>) -> Result<()> {
        let mut hub = lock(&self.hub);
        if let Some(id) = id {
            match hub.clients.iter().find(|c| c.id == id) {
                None => {
                    return Err(CoreError::LiveRefused(format!(
                        "participant {id} is not in the session"
                    )));
                }
                Some(c) if c.kind != Kind::Stratum => {
                    return Err(CoreError::LiveRefused(
                        "only a Stratum that follows can hold the pen (a browser cannot edit)"
                            .into(),
                    ));
                }
                Some(_) => {}
            }
        }
        hub.people.pen = id;
        hub.announce();
        Ok(())
    }

    /// Removes participant `id`: it is told, its connection closes, and
    /// anything it sends from now on is dropped. `false`: no such
    /// participant. (The link still opens the session for whoever has it:
    /// to shut someone out for good, stop and share a new link.)
    pub fn remove(&self, id: u64) -> bool {
        let mut hub = lock(&self.hub);
        if !hub.clients.iter().any(|c| c.id == id) {
            return false;
        }
        hub.people.removed.insert(id);
        hub.tell(id, Event::Removed);
        // Its queue closes: the server ends the connection.
        hub.clients.retain(|c| c.id != id);
        hub.people.left(id);
        hub.joined();
        hub.announce();
        true
    }

    /// Reads a frame that arrived on participant `client`'s connection:
    /// the presenter's (sealed with the presenter key; see
    /// [`Host::presenter_frame`]) or a participant's own (sealed with the
    /// follower key: its name, and, while it holds the pen, its edits).
    /// The edits come back for the document's owner to apply, in order;
    /// anything refused changes nothing.
    pub fn upstream(&self, client: u64, frame: &[u8]) -> Result<Vec<Edit>> {
        let presenter = {
            let hub = lock(&self.hub);
            if hub.people.removed.contains(&client) {
                return Err(CoreError::LiveRefused(
                    "a frame from a removed participant".into(),
                ));
            }
            crypto::open(&hub.presenter, frame).is_ok()
        };
        if presenter {
            return Ok(self.presenter_frame(frame)?.into_iter().collect());
        }
        self.own_frame(client, frame)
    }

    /// A participant's own frame (sealed with the follower key): a browser
    /// viewer's point or hand ([`Host::viewer_frame`]), or a Stratum's name
    /// and pen edits.
    fn own_frame(&self, client: u64, frame: &[u8]) -> Result<Vec<Edit>> {
        let viewer = {
            let hub = lock(&self.hub);
            crypto::open(&hub.key, frame).is_ok_and(|(_, plain)| {
                matches!(
                    Message::from_bytes(&plain),
                    Ok(Message::Event(Event::Point { .. } | Event::Hand { .. }))
                )
            })
        };
        if viewer {
            return self.viewer_frame(client, frame).map(|_| Vec::new());
        }
        let mut hub = lock(&self.hub);
        if hub.people.removed.contains(&client) {
            return Err(CoreError::LiveRefused(
                "a frame from a removed participant".into(),
            ));
        }
        if !hub.clients.iter().any(|c| c.id == client) {
            return Err(CoreError::LiveRefused(
                "a frame from a participant that is not in the session".into(),
            ));
        }
        let (header, plain) = crypto::open(&hub.key, frame)?;
        if header.sender == 0 || header.sender == MODEL_SENDER {
            return Err(CoreError::LiveRefused(
                "a frame claiming to be the host's".into(),
            ));
        }
        // One sender per connection, its numbers rising, counted apart from
        // the presenter's: nobody spends another's numbers.
        hub.viewers.in_sequence(client, header)?;
        let msgs = match Message::from_bytes(&plain)? {
            Message::Batch(m) => m,
            m => vec![m],
        };
        // Read all of it first: a frame is applied whole or not at all.
        let mut name = None;
        let mut edits = Vec::new();
        for m in msgs {
            match m {
                Message::Event(Event::Introduce { name: n }) => name = Some(clean_name(&n)),
                Message::Edit(bytes) => {
                    if hub.people.pen != Some(client) {
                        return Err(hub.refuse(
                            client,
                            "an edit from a participant that does not hold the pen".into(),
                        ));
                    }
                    match Edit::from_bytes(&bytes) {
                        Ok(e) => edits.push(e),
                        Err(e) => {
                            return Err(
                                hub.refuse(client, format!("an edit that does not read: {e}"))
                            );
                        }
                    }
                }
                _ => {
                    return Err(CoreError::LiveRefused(
                        "a participant sends its name and, holding the pen, edits".into(),
                    ));
                }
            }
        }
        if let Some(n) = name {
            hub.people.names.insert(client, n);
            hub.announce();
        }
        Ok(edits)
    }
}
