//! Our storage SCP: the listener a C-MOVE sends its images to (and the
//! C-STORE handling that C-GET shares). Each incoming object is checked by
//! [`dimse::parse_incoming`] and handed to a sink, which files it or refuses
//! it; the peer gets a C-STORE response saying which.

use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
use dicom_ul::{Pdu, ServerAssociationOptions};

use super::assoc::MAX_PDU;
use super::dimse::{self, Assembler, Incoming, Message, ReceiveError};
use super::{PacsError, Result};

/// Storage SOP classes we take in (C-GET proposes them with the SCP role;
/// our SCP accepts them, and any other too).
pub const STORAGE_CLASSES: &[&str] = &[
    "1.2.840.10008.5.1.4.1.1.2",      // CT
    "1.2.840.10008.5.1.4.1.1.2.1",    // Enhanced CT
    "1.2.840.10008.5.1.4.1.1.2.2",    // Legacy converted enhanced CT
    "1.2.840.10008.5.1.4.1.1.4",      // MR
    "1.2.840.10008.5.1.4.1.1.4.1",    // Enhanced MR
    "1.2.840.10008.5.1.4.1.1.4.4",    // Legacy converted enhanced MR
    "1.2.840.10008.5.1.4.1.1.128",    // PET
    "1.2.840.10008.5.1.4.1.1.130",    // Enhanced PET
    "1.2.840.10008.5.1.4.1.1.20",     // NM
    "1.2.840.10008.5.1.4.1.1.6.1",    // US
    "1.2.840.10008.5.1.4.1.1.3.1",    // US multi-frame
    "1.2.840.10008.5.1.4.1.1.7",      // Secondary capture
    "1.2.840.10008.5.1.4.1.1.7.2",    // Multi-frame grayscale byte SC
    "1.2.840.10008.5.1.4.1.1.7.3",    // Multi-frame grayscale word SC
    "1.2.840.10008.5.1.4.1.1.1",      // CR
    "1.2.840.10008.5.1.4.1.1.1.1",    // DX
    "1.2.840.10008.5.1.4.1.1.12.1",   // XA
    "1.2.840.10008.5.1.4.1.1.13.1.3", // Breast tomosynthesis
    "1.2.840.10008.5.1.4.1.1.481.1",  // RT image
    "1.2.840.10008.5.1.4.1.1.481.2",  // RT dose
    "1.2.840.10008.5.1.4.1.1.481.3",  // RT structure set
    "1.2.840.10008.5.1.4.1.1.66",     // Raw data
    "1.2.840.10008.5.1.4.1.1.66.4",   // Segmentation
    "1.2.840.10008.5.1.4.1.1.104.1",  // Encapsulated PDF
    "1.2.840.10008.5.1.4.1.1.104.3",  // Encapsulated STL
    "1.2.840.10008.5.1.4.1.1.104.4",  // Encapsulated OBJ
    "1.2.840.10008.5.1.4.1.1.104.5",  // Encapsulated MTL
    "1.2.840.10008.5.1.4.1.1.88.11",  // Basic text SR
    "1.2.840.10008.5.1.4.1.1.88.22",  // Enhanced SR
    "1.2.840.10008.5.1.4.1.1.88.33",  // Comprehensive SR
];

/// Where received objects go: `Ok` files it, `Err(reason)` refuses it.
pub type Sink = Arc<dyn Fn(Incoming, &str) -> std::result::Result<(), String> + Send + Sync>;

/// A storage SCP running on its own threads until [`StorageScp::stop`].
pub struct StorageScp {
    port: u16,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    /// The open connections, to close when we stop (a PACS may keep an
    /// idle association open for a while after its last image).
    conns: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

impl StorageScp {
    /// Listens on `port` (0: any free port) of every interface, accepting
    /// associations called `ae_title` and storing through `sink`.
    pub fn start(
        ae_title: &str,
        port: u16,
        timeout: std::time::Duration,
        sink: Sink,
    ) -> Result<StorageScp> {
        let listener = TcpListener::bind(("0.0.0.0", port)).map_err(|e| {
            PacsError::Config(format!(
                "cannot listen for incoming images on port {port}: {e}; choose another incoming port in the PACS settings (the PACS must know it too)"
            ))
        })?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let ae = ae_title.to_string();
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (stop2, accepted2, conns2) = (stop.clone(), accepted.clone(), conns.clone());
        let thread = std::thread::Builder::new()
            .name("stratum-scp".into())
            .spawn(move || {
                let mut workers = Vec::new();
                for stream in listener.incoming() {
                    if stop2.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    if let (Ok(c), Ok(mut all)) = (stream.try_clone(), conns2.lock()) {
                        all.push(c);
                    }
                    accepted2.fetch_add(1, Ordering::SeqCst);
                    let (ae, sink) = (ae.clone(), sink.clone());
                    if let Ok(h) = std::thread::Builder::new()
                        .name("stratum-scp-assoc".into())
                        .spawn(move || serve(stream, &ae, timeout, &sink))
                    {
                        workers.push(h);
                    }
                }
                for w in workers {
                    let _ = w.join();
                }
            })
            .map_err(|e| PacsError::Config(format!("cannot start the storage SCP: {e}")))?;
        Ok(StorageScp {
            port,
            stop,
            accepted,
            conns,
            thread: Some(thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many connections it accepted so far.
    pub fn connections(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Stops listening and waits for the open associations to end.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // The accept loop blocks: one connection of our own wakes it.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Ok(all) = self.conns.lock() {
            for c in all.iter() {
                let _ = c.shutdown(std::net::Shutdown::Both);
            }
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for StorageScp {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shutdown();
        }
    }
}

/// One incoming association: C-ECHO and C-STORE until the peer releases.
fn serve(stream: TcpStream, ae_title: &str, timeout: std::time::Duration, sink: &Sink) {
    let mut opts = ServerAssociationOptions::new()
        .accept_called_ae_title()
        .ae_title(ae_title.to_string())
        .promiscuous(true)
        .strict(false)
        .max_pdu_length(MAX_PDU)
        .read_timeout(timeout)
        .write_timeout(timeout)
        .with_abstract_syntax(dimse::VERIFICATION);
    for class in STORAGE_CLASSES {
        opts = opts.with_abstract_syntax(*class);
    }
    for ts in TransferSyntaxRegistry.iter() {
        if !ts.is_unsupported() {
            opts = opts.with_transfer_syntax(ts.uid());
        }
    }
    let Ok(mut assoc) = opts.establish(stream) else {
        return;
    };
    let mut asm = Assembler::default();
    let mut queue = std::collections::VecDeque::new();
    loop {
        match dimse::receive(&mut assoc, &mut asm, &mut queue) {
            Ok(msg) => {
                let ts = assoc
                    .presentation_contexts()
                    .iter()
                    .find(|pc| pc.id == msg.context)
                    .map(|pc| pc.transfer_syntax.trim_end_matches('\0').to_string())
                    .unwrap_or_default();
                let Some(reply) = answer(&msg, &ts, sink) else {
                    let _ = assoc.abort();
                    return;
                };
                if dimse::send(&mut assoc, msg.context, &reply, None).is_err() {
                    return;
                }
            }
            Err(ReceiveError::Released) => {
                let _ = assoc.send(&Pdu::ReleaseRP);
                return;
            }
            Err(_) => {
                let _ = assoc.abort();
                return;
            }
        }
    }
}

/// The response to a C-ECHO or C-STORE request; `None` for anything else
/// (the association is then aborted).
pub(crate) fn answer(
    msg: &Message,
    ts: &str,
    sink: &Sink,
) -> Option<dicom_object::InMemDicomObject> {
    let id = msg.message_id().unwrap_or(0);
    let class = msg
        .str(dicom_dictionary_std::tags::AFFECTED_SOP_CLASS_UID)
        .unwrap_or_default();
    match msg.field()? {
        dimse::C_ECHO_RQ => Some(dimse::response(
            dimse::C_ECHO_RSP,
            id,
            &class,
            None,
            0,
            None,
        )),
        dimse::C_STORE_RQ => {
            let instance = msg.str(dicom_dictionary_std::tags::AFFECTED_SOP_INSTANCE_UID);
            let (status, comment) = match msg.data.as_deref() {
                None => (0xC000, Some("no data set".to_string())),
                Some(data) => match dimse::parse_incoming(&msg.command, data, ts) {
                    Err(e) => (0xC000, Some(e)),
                    Ok(incoming) => match sink(incoming, ts) {
                        Ok(()) => (0x0000, None),
                        Err(e) => (0xA700, Some(e)),
                    },
                },
            };
            Some(dimse::response(
                dimse::C_STORE_RSP,
                id,
                &class,
                instance.as_deref(),
                status,
                comment.as_deref(),
            ))
        }
        _ => None,
    }
}

/// A sink that files the objects of one series into a staging folder and
/// refuses the rest.
pub(crate) fn staging_sink(series_uid: &str, staging: Arc<Mutex<super::cache::Staging>>) -> Sink {
    let series_uid = series_uid.to_string();
    Arc::new(move |incoming: Incoming, ts: &str| {
        if incoming.series_uid != series_uid {
            return Err("not part of the series being retrieved".into());
        }
        let mut s = staging
            .lock()
            .map_err(|_| "the retrieve ended".to_string())?;
        s.write(
            incoming.object,
            &incoming.sop_class,
            &incoming.sop_instance,
            ts,
        )
        .map_err(|e| super::error::first_line(&e.to_string()))
    })
}
