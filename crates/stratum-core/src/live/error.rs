//! What goes wrong in a live session (the link, the network, the system's
//! random source), each saying what to do where there is something.

/// A live session's failure that is not about one message's content (those
/// are [`crate::base::error::CoreError::LiveRefused`] and `LiveWrongKey`).
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The link does not name a live session (what is wrong with it).
    #[error("{0}")]
    BadLink(String),

    #[error("the link has no key (the part after '#k='): copy the whole link")]
    NoKey,

    #[error("the link's key is not complete: copy the whole link, including the part after '#'")]
    KeyIncomplete,

    /// The operating system gave no random numbers (for `what`: a key, an
    /// id, a pen token).
    #[error("no random numbers from the system{what}: {reason}")]
    NoRandom { what: &'static str, reason: String },

    #[error(
        "cannot listen on {bind} for the live session ({source}): choose another --port or --bind"
    )]
    Listen {
        bind: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },

    #[error("no local address: {0}")]
    NoLocalAddress(#[source] std::io::Error),

    #[error("cannot start a thread: {0}")]
    Thread(#[source] std::io::Error),

    /// A follower's connection to the host failed on the host's side.
    #[error("live connection: {0}")]
    Connection(#[source] std::io::Error),

    #[error("cannot send to the live session: {0}")]
    Send(#[source] std::io::Error),

    /// A follower could not join (the server, the TLS handshake, the
    /// WebSocket upgrade).
    #[error("cannot join the live session at {authority}: {reason}")]
    Join { authority: String, reason: String },

    #[error("the live session's stream ended: {0}")]
    StreamEnded(#[source] std::io::Error),

    /// Cut without the host's goodbye: a network, a proxy or a laptop lid.
    #[error("the connection to the live session was cut")]
    Cut,

    #[error("the presenter ended the live session")]
    Ended,
}

impl LiveError {
    /// The system's random source failed while making `what` (" for a live
    /// session key", or "" where the purpose says nothing to the user).
    pub fn no_random(what: &'static str, e: impl std::fmt::Display) -> Self {
        LiveError::NoRandom {
            what,
            reason: e.to_string(),
        }
    }
}
