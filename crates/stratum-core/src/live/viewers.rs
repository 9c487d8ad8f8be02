//! What viewers who do not present may send: a point on the model and a
//! raised hand, nothing else. A viewer is anyone with the link, so each
//! message is checked (size, name, numbers, rate) before the host forwards
//! it, and the latest of each viewer is kept for newcomers and for the
//! presenter's app (markers and a list of raised hands).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::crypto::Header;
use super::message::Event;
use crate::base::error::{CoreError, Result};

/// Largest frame a viewer may send (a point with a 40-character name is
/// under 200 bytes).
pub const MAX_VIEWER_FRAME: usize = 1024;
/// Points and hands per second from one viewer; more are dropped.
pub const MAX_VIEWER_RATE: u32 = 20;
/// Longest name shown with a viewer's marker (characters).
pub const MAX_NAME: usize = 40;
/// How far from the scanner's origin a point may be (mm): no scan is a
/// metre and a half across; anything further is garbage.
const MAX_MM: f64 = 5_000.0;

/// A viewer's pointer.
#[derive(Clone, Debug, PartialEq)]
pub struct Pointer {
    /// The viewer's connection.
    pub from: u64,
    pub name: String,
    /// LPS mm.
    pub point: [f64; 3],
}

/// The viewers' latest points and raised hands, and how fast each sends.
#[derive(Default)]
pub(super) struct Viewers {
    points: BTreeMap<u64, Pointer>,
    hands: BTreeMap<u64, String>,
    windows: BTreeMap<u64, (Instant, u32)>,
    /// Each connection's sender number and the last frame's: apart from
    /// the presenter's, so a viewer cannot spend a presenter's numbers.
    senders: BTreeMap<u64, (u32, u64)>,
}

impl Viewers {
    /// Whether `header` may come from connection `from`: one sender per
    /// connection, numbers rising.
    pub(super) fn in_sequence(&mut self, from: u64, header: Header) -> Result<()> {
        // A sender number belongs to the first connection that used it: a
        // frame copied onto another connection is not that one's.
        if self
            .senders
            .iter()
            .any(|(&c, &(s, _))| c != from && s == header.sender)
        {
            return Err(CoreError::LiveRefused(
                "a frame whose sender number another connection uses".into(),
            ));
        }
        let (sender, last) = *self.senders.entry(from).or_insert((header.sender, 0));
        if sender != header.sender {
            return Err(CoreError::LiveRefused(
                "a viewer's frame from another sender than its connection's".into(),
            ));
        }
        if header.seq <= last {
            return Err(CoreError::LiveRefused(format!(
                "a replayed or out-of-order frame (number {} after {last})",
                header.seq
            )));
        }
        self.senders.insert(from, (sender, header.seq));
        Ok(())
    }

    /// Checks `event` from viewer `from` and keeps it; returns it with
    /// `from` set, for every follower.
    pub(super) fn accept(&mut self, from: u64, event: Event) -> Result<Event> {
        let refused = |what: &str| Err(CoreError::LiveRefused(what.to_string()));
        let window = self.windows.entry(from).or_insert((Instant::now(), 0));
        if window.0.elapsed() >= Duration::from_secs(1) {
            *window = (Instant::now(), 0);
        }
        window.1 += 1;
        if window.1 > MAX_VIEWER_RATE {
            return refused("a viewer sending points faster than 20 a second");
        }
        let clean = |name: &str| -> Result<String> {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > MAX_NAME {
                return Err(CoreError::LiveRefused(format!(
                    "a viewer's name must be 1 to {MAX_NAME} characters"
                )));
            }
            if name.chars().any(char::is_control) {
                return Err(CoreError::LiveRefused(
                    "a viewer's name with control characters".into(),
                ));
            }
            Ok(name.to_string())
        };
        match event {
            Event::Point { name, point, .. } => {
                let name = clean(&name)?;
                if point.is_some_and(|p| p.iter().any(|x| !x.is_finite() || x.abs() > MAX_MM)) {
                    return refused("a viewer's point out of range");
                }
                match point {
                    Some(p) => {
                        self.points.insert(
                            from,
                            Pointer {
                                from,
                                name: name.clone(),
                                point: p,
                            },
                        );
                    }
                    None => {
                        self.points.remove(&from);
                    }
                }
                Ok(Event::Point { from, name, point })
            }
            Event::Hand { name, raised, .. } => {
                let name = clean(&name)?;
                if raised {
                    self.hands.insert(from, name.clone());
                } else {
                    self.hands.remove(&from);
                }
                Ok(Event::Hand { from, name, raised })
            }
            _ => refused("a viewer may only point and raise a hand"),
        }
    }

    /// A viewer left: what takes its pointer and hand away for the others.
    pub(super) fn left(&mut self, from: u64) -> Vec<Event> {
        self.windows.remove(&from);
        self.senders.remove(&from);
        let mut out = Vec::new();
        if let Some(p) = self.points.remove(&from) {
            out.push(Event::Point {
                from,
                name: p.name,
                point: None,
            });
        }
        if let Some(name) = self.hands.remove(&from) {
            out.push(Event::Hand {
                from,
                name,
                raised: false,
            });
        }
        out
    }

    /// What a newcomer is told: every pointer and raised hand now.
    pub(super) fn current(&self) -> Vec<Event> {
        let points = self.points.values().map(|p| Event::Point {
            from: p.from,
            name: p.name.clone(),
            point: Some(p.point),
        });
        let hands = self.hands.iter().map(|(&from, name)| Event::Hand {
            from,
            name: name.clone(),
            raised: true,
        });
        points.chain(hands).collect()
    }

    pub(super) fn points(&self) -> Vec<Pointer> {
        self.points.values().cloned().collect()
    }

    pub(super) fn hands(&self) -> Vec<(u64, String)> {
        self.hands.iter().map(|(&k, v)| (k, v.clone())).collect()
    }
}
