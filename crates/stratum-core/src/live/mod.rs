//! Live sessions: a presenter's document and view followed, as they
//! change, by browsers and other Stratums, end-to-end encrypted with keys
//! that live only in the link. [`Host`] numbers and encrypts what the
//! document goes through and what the presenter does; [`Follower`] reads it
//! back into its own document; [`server`] carries it over HTTP and
//! WebSocket. The protocol is documented in `docs/live-protocol.md`.

pub mod avatars;
pub mod crypto;
pub mod error;
pub mod follower;
pub mod host;
pub mod message;
pub mod page;
pub mod server;
pub mod surfaces;
pub mod viewers;
pub mod wire;
pub mod ws;

pub use avatars::Avatar;
pub use crypto::Key;
pub use error::LiveError;
pub use follower::{Echo, Follower, Update, blank_scan, document_from_snapshot, labels_digest};
pub use host::{Frame, Host, HostOptions, Kind};
pub use message::{
    AvatarPose, ClipPlane, Event, Message, Participant, Ruler, SceneSegment, TableRow,
};
pub use viewers::Pointer;

/// Reads the keys out of a link's fragment: `k` (every follower) and `p`
/// (the presenter's).
pub fn keys_from_link(link: &str) -> crate::base::error::Result<(Key, Option<Key>)> {
    let fragment = link.split_once('#').map(|(_, f)| f).unwrap_or("");
    let mut k = None;
    let mut p = None;
    for part in fragment.split('&') {
        match part.split_once('=') {
            Some(("k", v)) => k = Some(Key::from_text(v)?),
            Some(("p", v)) => p = Some(Key::from_text(v)?),
            _ => {}
        }
    }
    let k = k.ok_or(LiveError::NoKey)?;
    Ok((k, p))
}
