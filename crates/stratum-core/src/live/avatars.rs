//! Who is where: each participant's head and hands in the model's frame
//! (so they line up around the anatomy for everyone, whatever its pose in
//! each one's room), relayed by the host with the participant's number and
//! name, the latest of each kept for newcomers and taken away when it
//! leaves. Anyone with the link can send one, so each is checked (numbers,
//! range, rate, whose it claims to be) before it is relayed.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::message::{AvatarPose, Event};
use crate::base::error::{CoreError, Result};

/// Avatars a second from one participant; more are dropped (a client
/// sends at most 20, only when it moved).
pub const MAX_AVATAR_RATE: u32 = 30;
/// How far from the scan's origin a head or hand may be (mm): 5 m from a
/// model shown at 1:20 is 100 m in the model's frame; further is garbage.
pub const MAX_AVATAR_MM: f64 = 100_000.0;
/// The host's number for the presenter's avatar.
pub const PRESENTER: u64 = 0;

/// A participant's head and hands (each `None` when not tracked).
#[derive(Clone, Debug, PartialEq)]
pub struct Avatar {
    /// The participant's connection ([`PRESENTER`]: the presenter).
    pub from: u64,
    pub name: String,
    pub head: Option<AvatarPose>,
    pub left: Option<AvatarPose>,
    pub right: Option<AvatarPose>,
}

impl Avatar {
    /// The event that carries it.
    pub fn event(&self) -> Event {
        Event::Avatar {
            from: self.from,
            name: self.name.clone(),
            head: self.head,
            left: self.left,
            right: self.right,
        }
    }

    /// The avatar an event carries.
    pub fn of(event: &Event) -> Option<Avatar> {
        match event {
            Event::Avatar {
                from,
                name,
                head,
                left,
                right,
            } => Some(Avatar {
                from: *from,
                name: name.clone(),
                head: *head,
                left: *left,
                right: *right,
            }),
            _ => None,
        }
    }

    /// Nothing tracked: the avatar goes away.
    pub fn is_empty(&self) -> bool {
        self.head.is_none() && self.left.is_none() && self.right.is_none()
    }
}

/// A pose as relayed: finite, within [`MAX_AVATAR_MM`], its rotation of
/// about unit length (made unit when it is not already).
pub fn checked(p: AvatarPose) -> Result<AvatarPose> {
    let refused = |what: &str| Err(CoreError::LiveRefused(what.to_string()));
    if p.position
        .iter()
        .any(|x| !x.is_finite() || x.abs() > MAX_AVATAR_MM)
    {
        return refused("an avatar's position out of range");
    }
    let n2: f64 = p.rotation.iter().map(|x| x * x).sum();
    if !n2.is_finite() || !(0.25..=4.0).contains(&n2) {
        return refused("an avatar's rotation that is not a unit quaternion");
    }
    if (n2 - 1.0).abs() < 1e-9 {
        return Ok(p);
    }
    let n = n2.sqrt();
    Ok(AvatarPose {
        position: p.position,
        rotation: p.rotation.map(|x| x / n),
    })
}

/// The latest avatar of each participant, and how fast each sends.
#[derive(Default)]
pub(super) struct Avatars {
    latest: BTreeMap<u64, Avatar>,
    windows: BTreeMap<u64, (Instant, u32)>,
}

impl Avatars {
    /// Checks `event` from participant `from` (named `name` by the host)
    /// and keeps it; returns it with `from` and `name` set, for everyone.
    pub(super) fn accept(&mut self, from: u64, name: &str, event: Event) -> Result<Event> {
        let refused = |what: &str| Err(CoreError::LiveRefused(what.to_string()));
        let window = self.windows.entry(from).or_insert((Instant::now(), 0));
        if window.0.elapsed() >= Duration::from_secs(1) {
            *window = (Instant::now(), 0);
        }
        window.1 += 1;
        if window.1 > MAX_AVATAR_RATE {
            return refused("a participant sending avatars faster than 30 a second");
        }
        let Some(a) = Avatar::of(&event) else {
            return refused("not an avatar");
        };
        if a.from != 0 && a.from != from {
            return refused("an avatar claiming another participant's number");
        }
        let avatar = Avatar {
            from,
            name: name.to_string(),
            head: a.head.map(checked).transpose()?,
            left: a.left.map(checked).transpose()?,
            right: a.right.map(checked).transpose()?,
        };
        if avatar.is_empty() {
            self.latest.remove(&from);
        } else {
            self.latest.insert(from, avatar.clone());
        }
        Ok(avatar.event())
    }

    /// A participant left: the event that takes its avatar away, if it
    /// had one.
    pub(super) fn left(&mut self, from: u64) -> Option<Event> {
        self.windows.remove(&from);
        self.latest.remove(&from).map(|a| {
            Avatar {
                from,
                name: a.name,
                head: None,
                left: None,
                right: None,
            }
            .event()
        })
    }

    /// What a newcomer is told: every avatar now.
    pub(super) fn current(&self) -> Vec<Event> {
        self.latest.values().map(Avatar::event).collect()
    }

    pub(super) fn all(&self) -> Vec<Avatar> {
        self.latest.values().cloned().collect()
    }
}
