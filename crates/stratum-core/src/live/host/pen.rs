//! Participants and the pen: who takes part (the names they gave), which
//! one Stratum may edit (the pen, handed over by the presenter), and who
//! was removed. A participant's frames are sealed with the follower key,
//! which every participant holds, so the host tells them apart by the
//! connection they arrive on, never by what a frame claims: a sender
//! number is bound to the first connection that used it.
//!
//! The pen survives a dropped connection: its holder is handed a random
//! token (on its own connection only); presented on a new connection, it
//! gets the pen back, unless the presenter has since taken the pen back,
//! given it to someone else or removed the holder (each voids the token).

use std::collections::{HashMap, HashSet};

use super::{Host, Hub, Kind, MODEL_SENDER, lock};
use crate::base::error::{CoreError, Result};
use crate::document::Edit;
use crate::live::crypto;
use crate::live::error::LiveError;
use crate::live::message::{Event, Message, Participant};

/// Longest name kept (in characters).
const MAX_NAME: usize = 40;

/// Bytes of a pen token (128 bits: not guessable).
const TOKEN_BYTES: usize = 16;

#[derive(Default)]
pub(super) struct People {
    pub(super) presenter: String,
    pub(super) names: HashMap<u64, String>,
    pen: Option<u64>,
    /// What gives the pen back to whoever last held it (its holder has it).
    token: Option<[u8; TOKEN_BYTES]>,
    /// The name of a holder that left with the pen's token (the presenter
    /// sees that the pen waits for them).
    away: Option<String>,
    pub(super) removed: HashSet<u64>,
}

impl People {
    /// A participant left: its name goes with it; the pen, if it held it,
    /// waits for its token.
    pub(super) fn left(&mut self, id: u64) {
        let name = self.names.remove(&id);
        if self.pen == Some(id) {
            self.pen = None;
            if self.token.is_some() {
                self.away = Some(name.unwrap_or_default());
            }
        }
    }

    /// The pen's token is no longer valid.
    fn void_token(&mut self) {
        self.token = None;
        self.away = None;
    }

    /// Whether `text` is the current token (compared in constant time).
    fn token_is(&self, text: &str) -> bool {
        let Some(token) = self.token else {
            return false;
        };
        let Some(given) = token_from_text(text) else {
            return false;
        };
        token
            .iter()
            .zip(given.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

fn token_text(token: &[u8; TOKEN_BYTES]) -> String {
    token.iter().map(|b| format!("{b:02x}")).collect()
}

fn token_from_text(text: &str) -> Option<[u8; TOKEN_BYTES]> {
    if text.len() != 2 * TOKEN_BYTES || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; TOKEN_BYTES];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
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
        let token = match id {
            Some(_) => {
                let mut t = [0u8; TOKEN_BYTES];
                getrandom::fill(&mut t).map_err(|e| LiveError::no_random("", e))?;
                Some(t)
            }
            None => None,
        };
        hub.people.void_token();
        hub.people.token = token;
        hub.people.pen = id;
        hub.announce();
        if let (Some(id), Some(t)) = (id, token) {
            hub.tell(
                id,
                Event::PenToken {
                    token: Some(token_text(&t)),
                },
            );
        }
        Ok(())
    }

    /// The name of a pen holder whose connection dropped, while the pen
    /// waits for it to come back ("" when it gave none).
    pub fn pen_waits_for(&self) -> Option<String> {
        let hub = lock(&self.hub);
        hub.people.away.clone().filter(|_| hub.people.pen.is_none())
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
        if hub.people.pen == Some(id) {
            hub.people.void_token();
        }
        hub.tell(id, Event::Removed);
        // Its queue closes: the server ends the connection.
        hub.clients.retain(|c| c.id != id);
        hub.people.left(id);
        if let Some(e) = hub.avatars.left(id) {
            hub.broadcast(&Message::Event(e), false);
        }
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
        let (viewer, avatar) = {
            let hub = lock(&self.hub);
            match crypto::open(&hub.key, frame).map(|(_, plain)| Message::from_bytes(&plain)) {
                Ok(Ok(Message::Event(Event::Point { .. } | Event::Hand { .. }))) => (true, false),
                Ok(Ok(Message::Event(Event::Avatar { .. }))) => (false, true),
                _ => (false, false),
            }
        };
        if viewer {
            return self.viewer_frame(client, frame).map(|_| Vec::new());
        }
        if avatar {
            return self.avatar_frame(client, frame).map(|_| Vec::new());
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
        let mut claim = None;
        let mut edits = Vec::new();
        for m in msgs {
            match m {
                Message::Event(Event::Introduce { name: n }) => name = Some(clean_name(&n)),
                Message::Event(Event::ClaimPen { token }) => claim = Some(token),
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
        if let Some(token) = &claim {
            let stratum = hub
                .clients
                .iter()
                .any(|c| c.id == client && c.kind == Kind::Stratum);
            if !stratum || !hub.people.token_is(token) {
                // Logged by the caller; neither the token nor who sent it.
                hub.tell(client, Event::PenToken { token: None });
                return Err(CoreError::LiveRefused(
                    "a pen token that is not valid (the pen was taken back, given to someone \
                     else, or never held)"
                        .into(),
                ));
            }
        }
        let named = name.is_some();
        if let Some(n) = name {
            hub.people.names.insert(client, n);
        }
        if claim.is_some() {
            // The pen comes back to its holder, on this connection, with a
            // new token (the old one is spent).
            let mut t = [0u8; TOKEN_BYTES];
            getrandom::fill(&mut t).map_err(|e| LiveError::no_random("", e))?;
            hub.people.void_token();
            hub.people.token = Some(t);
            hub.people.pen = Some(client);
            tracing::info!("live: the pen holder came back on a new connection");
        }
        if named || claim.is_some() {
            hub.announce();
        }
        if let Some(t) = hub.people.token.filter(|_| claim.is_some()) {
            hub.tell(
                client,
                Event::PenToken {
                    token: Some(token_text(&t)),
                },
            );
        }
        Ok(edits)
    }
}
