//! What can go wrong talking to a PACS, each said so that a clinician or
//! their IT colleague knows what to check. No message carries a patient
//! value: nodes are named by their configured name, AE title and address.

use crate::base::error::CoreError;

#[derive(Debug, thiserror::Error)]
pub enum PacsError {
    #[error("the operation was cancelled")]
    Cancelled,

    #[error(
        "cannot reach {node} at {addr}: {reason}; check that the server is running and that its host and port are right"
    )]
    Unreachable {
        node: String,
        addr: String,
        reason: String,
    },

    #[error(
        "{node} did not answer within {secs} s; the server may be busy or the address may point to something that is not a DICOM server"
    )]
    Timeout { node: String, secs: u64 },

    #[error("{node} rejected the association: {reason}")]
    Rejected { node: String, reason: String },

    #[error("{node} accepted the association but none of what we asked for: {what}")]
    NotOffered { node: String, what: String },

    #[error("{node} answered {operation} with {status}{}", comment.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Status {
        node: String,
        operation: &'static str,
        status: String,
        comment: Option<String>,
    },

    #[error("{node} sent a malformed response: {reason}")]
    Malformed { node: String, reason: String },

    #[error(
        "the retrieve of series {series} was incomplete: {received} of {expected} images arrived ({failed} failed at the server); nothing was kept"
    )]
    Incomplete {
        series: String,
        received: usize,
        expected: usize,
        failed: usize,
    },

    #[error("{node} has no series {series}; run `stratum pacs find` to list the series")]
    NoSuchSeries { node: String, series: String },

    #[error(
        "the TLS connection to {node} failed: {reason}; check that the node speaks DICOM TLS on this port, that its certificate is signed by the trusted certificates in the PACS settings and names its host, and that it accepts our certificate"
    )]
    Tls { node: String, reason: String },

    /// A file to send that cannot be written in the transfer syntax the
    /// server accepted (named by its file name only).
    #[error("{file} cannot be encoded for sending: {reason}")]
    Encode { file: String, reason: String },

    #[error("PACS settings: {0}")]
    Config(String),

    #[error("DICOMweb: {0}")]
    Web(String),

    #[error(transparent)]
    Core(#[from] CoreError),
}

impl PacsError {
    pub(crate) fn malformed(node: &str, reason: impl Into<String>) -> Self {
        PacsError::Malformed {
            node: node.to_string(),
            reason: reason.into(),
        }
    }
}

/// A file's name without its folders (which may carry a patient's name).
pub(crate) fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A dicom-ul association error in the words of [`PacsError`].
pub(crate) fn from_ul(
    node: &str,
    addr: &str,
    secs: u64,
    e: dicom_ul::association::Error,
) -> PacsError {
    use dicom_ul::association::Error as E;
    use dicom_ul::pdu::{AssociationRJServiceUserReason as U, AssociationRJSource as S};
    let node_s = node.to_string();
    match e {
        E::Connect { source, .. } | E::ToAddress { source, .. } => {
            if matches!(
                source.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) {
                PacsError::Timeout { node: node_s, secs }
            } else {
                PacsError::Unreachable {
                    node: node_s,
                    addr: addr.to_string(),
                    reason: source.to_string(),
                }
            }
        }
        E::Timeout { .. } => PacsError::Timeout { node: node_s, secs },
        E::WireRead { source, .. } | E::WireSend { source, .. }
            if matches!(
                source.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
        {
            PacsError::Timeout { node: node_s, secs }
        }
        E::ReceivePdu { source, .. } if is_timeout(&source) => {
            PacsError::Timeout { node: node_s, secs }
        }
        E::Rejected { association_rj, .. } => {
            let reason = match &association_rj.source {
                S::ServiceUser(U::CalledAETitleNotRecognized) => {
                    "its AE title is not the one we called; check the node's AE title in the PACS settings".to_string()
                }
                S::ServiceUser(U::CallingAETitleNotRecognized) => {
                    "it does not know our AE title; ask its administrator to add it, or change our AE title in the PACS settings".to_string()
                }
                other => other.to_string(),
            };
            PacsError::Rejected {
                node: node_s,
                reason,
            }
        }
        E::TlsConnection { source, .. } => PacsError::Tls {
            node: node_s,
            reason: source.to_string(),
        },
        E::TlsHandshake { source, .. } => PacsError::Tls {
            node: node_s,
            // rustls' own error (a bad certificate, an alert) is inside.
            reason: source
                .get_ref()
                .map(|e| e.to_string())
                .unwrap_or_else(|| source.to_string()),
        },
        E::InvalidServerName { .. } => PacsError::Tls {
            node: node_s,
            reason: "its host is not a name or address a certificate can carry".into(),
        },
        E::NoAcceptedPresentationContexts { .. } => PacsError::NotOffered {
            node: node_s,
            what: "no presentation context was accepted".into(),
        },
        E::Aborted { .. } => PacsError::Malformed {
            node: node_s,
            reason: "it aborted the association".into(),
        },
        E::ConnectionClosed { .. } => PacsError::Malformed {
            node: node_s,
            reason: "it closed the connection in the middle of an exchange".into(),
        },
        other => PacsError::Malformed {
            node: node_s,
            reason: first_line(&other.to_string()),
        },
    }
}

fn is_timeout(e: &dicom_ul::pdu::ReadError) -> bool {
    let text = format!("{e:?}");
    text.contains("TimedOut") || text.contains("WouldBlock")
}

pub(crate) fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}
