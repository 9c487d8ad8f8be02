//! The reader thread of a joined session: it opens the host's stream,
//! decrypts its frames and builds the session's document here, off the
//! frame loop, and passes them on to `join_sync`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::Duration;

use bevy::prelude::*;
use stratum_core::image::view::auto_window_range;
use stratum_core::live::server::{Connection, ConnectionSender};
use stratum_core::live::{Follower, Message, blank_scan, document_from_snapshot};
use stratum_core::segment::histogram;

use crate::app::state::study::Study;

/// What the reader thread passes on.
pub(super) enum Incoming {
    Connected(ConnectionSender),
    Study(Box<Study>),
    Message(Message),
    /// The stream ended: why, and whether the host said goodbye (the
    /// session stopped, this participant was removed, the link's key is
    /// wrong) rather than the connection being cut.
    Ended {
        why: String,
        by_host: bool,
    },
}

/// The reader thread: opens the host's frames (decrypting and building
/// the session's document here, off the frame loop) and passes them on.
pub(super) fn read_session(
    link: &str,
    key: stratum_core::live::Key,
    tx: &Sender<Incoming>,
    stop: &AtomicBool,
) {
    let mut conn = match Connection::open(link) {
        Ok(c) => c,
        Err(e) => {
            let _ = tx.send(Incoming::Ended {
                why: e.to_string(),
                by_host: false,
            });
            return;
        }
    };
    let _ = tx.send(Incoming::Connected(conn.sender()));
    let mut f = Follower::new(key);
    while !stop.load(Ordering::SeqCst) {
        let frame = match conn.next(Duration::from_millis(250)) {
            Ok(Some(frame)) => frame,
            Ok(None) => continue,
            Err(e) => {
                if !stop.load(Ordering::SeqCst) {
                    let _ = tx.send(Incoming::Ended {
                        why: e.to_string(),
                        by_host: conn.closed_by_host(),
                    });
                }
                return;
            }
        };
        let incoming = match f.open(&frame) {
            Ok(Message::Snapshot { scan, state }) => match study_from_snapshot(scan, &state) {
                Ok(s) => Incoming::Study(Box::new(s)),
                Err(e) => Incoming::Ended {
                    why: format!("the session's document could not be read: {e}"),
                    by_host: true,
                },
            },
            Ok(m) => Incoming::Message(m),
            Err(stratum_core::base::error::CoreError::LiveWrongKey) => Incoming::Ended {
                why: "the link's key does not open this session: copy the whole link".into(),
                by_host: true,
            },
            Err(e) => {
                warn!("live: dropped a frame from the host: {e}");
                continue;
            }
        };
        let end = matches!(incoming, Incoming::Ended { .. });
        if tx.send(incoming).is_err() || end {
            return;
        }
    }
}

fn study_from_snapshot(
    scan: Option<Vec<u8>>,
    state: &[u8],
) -> Result<Study, stratum_core::base::error::CoreError> {
    let doc = document_from_snapshot(scan.as_deref(), state)?;
    let volume = match doc.scan() {
        Some(v) => v.clone(),
        None => Arc::new(blank_scan(doc.labels())),
    };
    Ok(Study {
        report: stratum_core::checks::SeriesReport {
            series_id: "live".into(),
            label: "Live session".into(),
            checks: Vec::new(),
            motion: None,
            fitness: None,
        },
        histogram: histogram(&volume, 512),
        auto_window: auto_window_range(&volume),
        volume,
        doc,
        title: "Live session".into(),
    })
}
