//! Our side of an association as SCU: opened with timeouts and our AE
//! title, its errors in [`PacsError`]'s words, and request/response
//! helpers over [`dimse`](super::dimse).

use std::collections::VecDeque;
use std::net::TcpStream;

use dicom_ul::ClientAssociationOptions;
use dicom_ul::association::ClientAssociation;
use dicom_ul::association::client::TlsStream;
use dicom_ul::pdu::PresentationContextResultReason;

use super::dimse::{self, Assembler, Message, ReceiveError};
use super::error::from_ul;
use super::{Node, PacsConfig, PacsError, Result};

/// The PDU size we ask for: large PDUs mean fewer reads per image.
pub(crate) const MAX_PDU: u32 = 131_072;

/// Native transfer syntaxes every peer must accept, explicit first.
pub(crate) const NATIVE: &[&str] = &["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"];

/// An association over plain TCP or over TLS (boxed: a TLS session is
/// large, and the two go through the same calls).
enum Link {
    Plain(Box<ClientAssociation<TcpStream>>),
    Tls(Box<ClientAssociation<TlsStream>>),
}

/// The same call on either kind of association.
macro_rules! on_link {
    ($link:expr, $a:ident => $e:expr) => {
        match $link {
            Link::Plain($a) => $e,
            Link::Tls($a) => $e,
        }
    };
}

pub(crate) struct Scu {
    pub node: String,
    assoc: Option<Link>,
    asm: Assembler,
    queue: VecDeque<Message>,
    next_id: u16,
    secs: u64,
}

impl Scu {
    /// Opens an association with `node`, proposing `contexts` (abstract
    /// syntax, transfer syntaxes) and, for C-GET, the SCP role for the
    /// storage classes in `scp_roles`.
    pub fn open(
        config: &PacsConfig,
        node: &Node,
        contexts: &[(String, Vec<String>)],
        scp_roles: &[String],
    ) -> Result<Scu> {
        let t = config.timeout();
        let mut opts = ClientAssociationOptions::new()
            .calling_ae_title(config.ae_title.clone())
            .called_ae_title(node.ae_title.clone())
            .max_pdu_length(MAX_PDU)
            .strict(false)
            .connection_timeout(t)
            .read_timeout(t)
            .write_timeout(t);
        for (abstract_syntax, ts) in contexts {
            opts = opts.with_presentation_context(abstract_syntax.clone(), ts.clone());
        }
        for class in scp_roles {
            opts = opts.with_role_selection(class.clone(), false, true);
        }
        let addr = node.address();
        let ul_error = |e| from_ul(&node.name, &addr, config.timeout_s, e);
        let assoc = if node.tls {
            let tls = super::tls::client_config(&node.name, &config.tls)?;
            Link::Tls(Box::new(
                opts.tls_config(tls)
                    .server_name(node.host.trim_start_matches('[').trim_end_matches(']'))
                    .establish_tls(addr.as_str())
                    .map_err(ul_error)?,
            ))
        } else {
            let start = std::time::Instant::now();
            Link::Plain(Box::new(opts.establish(addr.as_str()).map_err(|e| {
                // dicom-ul says "the peer sends TLS" both for a TLS answer
                // and for no answer at all (an empty read): the clock tells.
                if matches!(e, dicom_ul::association::Error::TlsNotSupported)
                    && start.elapsed() + std::time::Duration::from_millis(100) < t
                {
                    PacsError::Tls {
                        node: node.name.clone(),
                        reason: "it closed or answered our plain association with something that is not DICOM, most likely TLS: if the node uses TLS, mark it as a TLS node".into(),
                    }
                } else if matches!(e, dicom_ul::association::Error::TlsNotSupported) {
                    PacsError::Timeout {
                        node: node.name.clone(),
                        secs: config.timeout_s,
                    }
                } else {
                    ul_error(e)
                }
            })?))
        };
        Ok(Scu {
            node: node.name.clone(),
            assoc: Some(assoc),
            asm: Assembler::default(),
            queue: VecDeque::new(),
            next_id: 1,
            secs: config.timeout_s,
        })
    }

    /// The accepted presentation context for `abstract_syntax`: its id and
    /// transfer syntax.
    pub fn context(&self, abstract_syntax: &str) -> Option<(u8, String)> {
        let link = self.assoc.as_ref()?;
        on_link!(link, a => a.presentation_contexts())
            .iter()
            .find(|pc| {
                pc.reason == PresentationContextResultReason::Acceptance
                    && pc.abstract_syntax.trim_end_matches('\0') == abstract_syntax
            })
            .map(|pc| (pc.id, pc.transfer_syntax.trim_end_matches('\0').to_string()))
    }

    /// The transfer syntax of an accepted context, by id.
    pub fn context_ts(&self, id: u8) -> Option<String> {
        let link = self.assoc.as_ref()?;
        on_link!(link, a => a.presentation_contexts())
            .iter()
            .find(|pc| pc.id == id && pc.reason == PresentationContextResultReason::Acceptance)
            .map(|pc| pc.transfer_syntax.trim_end_matches('\0').to_string())
    }

    pub fn next_id(&mut self) -> u16 {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    pub fn send(
        &mut self,
        context: u8,
        command: &dicom_object::InMemDicomObject,
        data: Option<&[u8]>,
    ) -> Result<()> {
        let node = self.node.clone();
        let link = self
            .assoc
            .as_mut()
            .expect("the association is open until released");
        on_link!(link, a => dimse::send(&mut **a, context, command, data)).map_err(|reason| {
            if reason.contains("timed out") || reason.contains("WouldBlock") {
                PacsError::Timeout {
                    node,
                    secs: self.secs,
                }
            } else {
                PacsError::Malformed {
                    node,
                    reason: format!("sending failed: {reason}"),
                }
            }
        })
    }

    pub fn receive(&mut self) -> Result<Message> {
        let Scu {
            assoc, asm, queue, ..
        } = self;
        let assoc = assoc
            .as_mut()
            .expect("the association is open until released");
        on_link!(assoc, a => dimse::receive(&mut **a, asm, queue)).map_err(|e| match e {
            ReceiveError::Ul(e) => from_ul(&self.node, "", self.secs, e),
            ReceiveError::Malformed(reason) => PacsError::malformed(&self.node, reason),
            ReceiveError::Released => PacsError::malformed(
                &self.node,
                "it released the association in the middle of an exchange",
            ),
            ReceiveError::Aborted => PacsError::malformed(&self.node, "it aborted the association"),
        })
    }

    /// Ends the association politely (errors here change nothing we hold).
    pub fn release(mut self) {
        if let Some(link) = self.assoc.take() {
            let _ = on_link!(link, a => a.release());
        }
    }

    /// Ends the association at once (after an error or a cancel).
    pub fn abort(mut self) {
        if let Some(link) = self.assoc.take() {
            let _ = on_link!(link, a => a.abort());
        }
    }
}

impl Drop for Scu {
    fn drop(&mut self) {
        if let Some(link) = self.assoc.take() {
            let _ = on_link!(link, a => a.abort());
        }
    }
}
