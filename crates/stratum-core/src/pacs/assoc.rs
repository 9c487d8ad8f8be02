//! Our side of an association as SCU: opened with timeouts and our AE
//! title, its errors in [`PacsError`]'s words, and request/response
//! helpers over [`dimse`](super::dimse).

use std::collections::VecDeque;
use std::net::TcpStream;

use dicom_ul::ClientAssociationOptions;
use dicom_ul::association::ClientAssociation;
use dicom_ul::pdu::PresentationContextResultReason;

use super::dimse::{self, Assembler, Message, ReceiveError};
use super::error::from_ul;
use super::{Node, PacsConfig, PacsError, Result};

/// The PDU size we ask for: large PDUs mean fewer reads per image.
pub(crate) const MAX_PDU: u32 = 131_072;

/// Native transfer syntaxes every peer must accept, explicit first.
pub(crate) const NATIVE: &[&str] = &["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"];

pub(crate) struct Scu {
    pub node: String,
    assoc: Option<ClientAssociation<TcpStream>>,
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
        if node.tls {
            return Err(PacsError::Config(format!(
                "node {:?} asks for TLS, which Stratum does not speak yet; use the PACS's plain DICOM port, or a TLS tunnel (stunnel) in front of it",
                node.name
            )));
        }
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
        let assoc = opts
            .establish(addr.as_str())
            .map_err(|e| from_ul(&node.name, &addr, config.timeout_s, e))?;
        Ok(Scu {
            node: node.name.clone(),
            assoc: Some(assoc),
            asm: Assembler::default(),
            queue: VecDeque::new(),
            next_id: 1,
            secs: config.timeout_s,
        })
    }

    fn assoc(&mut self) -> &mut ClientAssociation<TcpStream> {
        self.assoc
            .as_mut()
            .expect("the association is open until released")
    }

    /// The accepted presentation context for `abstract_syntax`: its id and
    /// transfer syntax.
    pub fn context(&self, abstract_syntax: &str) -> Option<(u8, String)> {
        self.assoc
            .as_ref()?
            .presentation_contexts()
            .iter()
            .find(|pc| {
                pc.reason == PresentationContextResultReason::Acceptance
                    && pc.abstract_syntax.trim_end_matches('\0') == abstract_syntax
            })
            .map(|pc| (pc.id, pc.transfer_syntax.trim_end_matches('\0').to_string()))
    }

    /// The transfer syntax of an accepted context, by id.
    pub fn context_ts(&self, id: u8) -> Option<String> {
        self.assoc
            .as_ref()?
            .presentation_contexts()
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
        dimse::send(self.assoc(), context, command, data).map_err(|reason| {
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
        dimse::receive(assoc, asm, queue).map_err(|e| match e {
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
        if let Some(a) = self.assoc.take() {
            let _ = a.release();
        }
    }

    /// Ends the association at once (after an error or a cancel).
    pub fn abort(mut self) {
        if let Some(a) = self.assoc.take() {
            let _ = a.abort();
        }
    }
}

impl Drop for Scu {
    fn drop(&mut self) {
        if let Some(a) = self.assoc.take() {
            let _ = a.abort();
        }
    }
}
