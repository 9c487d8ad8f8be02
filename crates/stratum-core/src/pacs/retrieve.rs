//! Retrieving one series into the cache, by C-GET (the images come back on
//! our association) or C-MOVE (the PACS opens an association to our
//! storage SCP). Progress counts images; cancel sends C-CANCEL. The series
//! folder appears only when every image arrived and the PACS reported no
//! failure; anything less removes what was received and says why.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::assoc::Scu;
use super::cache::{Cache, Staging};
use super::dimse::{self, StatusClass, SubOperations, status_class};
use super::query::{FindQuery, check_response, find_series, status_error};
use super::scp::{STORAGE_CLASSES, Sink, StorageScp, answer, staging_sink};
use super::{Node, PacsConfig, PacsError, Result};
use crate::base::progress::Progress;

/// How the images travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetrieveMethod {
    /// C-GET: on our own association (no port to open, works through NAT).
    Get,
    /// C-MOVE to our storage SCP (the PACS must know our AE title, host and
    /// incoming port).
    Move,
}

/// A series in the cache.
#[derive(Clone, Debug)]
pub struct Retrieved {
    pub folder: PathBuf,
    pub study_uid: String,
    pub series_uid: String,
    pub instances: usize,
    pub seconds: f64,
}

impl Retrieved {
    /// Moves a complete series from its staging folder to `dest`, or to its
    /// place in the cache, in one rename.
    pub(crate) fn commit(
        staging: Staging,
        dest: Option<&std::path::Path>,
        cache: &Cache,
        study_uid: String,
        series_uid: &str,
        start: Instant,
    ) -> Result<Retrieved> {
        let instances = staging.files;
        let folder = match dest {
            Some(d) => staging.commit(d)?,
            None => staging.commit(&cache.series_dir(&study_uid, series_uid))?,
        };
        Ok(Retrieved {
            folder,
            study_uid,
            series_uid: series_uid.to_string(),
            instances,
            seconds: start.elapsed().as_secs_f64(),
        })
    }
}

/// Transfer syntaxes we accept images in: native, then the compressed ones
/// our loader decodes (so the PACS need not transcode).
const STORAGE_TS: &[&str] = &[
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.5",
];

/// The identifier of one series.
fn series_identifier(study_uid: &str, series_uid: &str) -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    for (tag, vr, v) in [
        (tags::QUERY_RETRIEVE_LEVEL, VR::CS, "SERIES"),
        (tags::STUDY_INSTANCE_UID, VR::UI, study_uid),
        (tags::SERIES_INSTANCE_UID, VR::UI, series_uid),
    ] {
        o.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
    }
    o
}

/// Retrieves one series into the cache and returns its folder. The study
/// and the number of images are looked up first (C-FIND) when not given.
pub fn retrieve_series(
    config: &PacsConfig,
    node: &Node,
    series_uid: &str,
    method: RetrieveMethod,
    progress: &Progress,
) -> Result<Retrieved> {
    retrieve_series_to(config, node, series_uid, method, None, progress)
}

/// [`retrieve_series`] into the folder `dest` instead of the cache (it
/// appears whole or not at all, replacing an older one).
pub fn retrieve_series_to(
    config: &PacsConfig,
    node: &Node,
    series_uid: &str,
    method: RetrieveMethod,
    dest: Option<&std::path::Path>,
    progress: &Progress,
) -> Result<Retrieved> {
    let start = Instant::now();
    progress.begin("finding the series", 0);
    let hit = find_series(
        config,
        node,
        &FindQuery {
            series_uid: Some(series_uid.to_string()),
            ..Default::default()
        },
    )?
    .into_iter()
    .find(|s| s.series_uid == series_uid)
    .ok_or_else(|| PacsError::NoSuchSeries {
        node: node.name.clone(),
        series: series_uid.to_string(),
    })?;
    if progress.is_cancelled() {
        return Err(PacsError::Cancelled);
    }
    let cache = Cache::new(config.cache_dir());
    let staging = Arc::new(Mutex::new(match dest {
        Some(d) => Staging::beside(d)?,
        None => cache.stage(series_uid)?,
    }));
    progress.begin("retrieving images", hit.instances.unwrap_or(0) as u64);
    let counts = match method {
        RetrieveMethod::Get => get(config, node, &hit.study_uid, series_uid, &staging, progress)?,
        RetrieveMethod::Move => {
            move_(config, node, &hit.study_uid, series_uid, &staging, progress)?
        }
    };
    let staging: Staging = Arc::try_unwrap(staging)
        .ok()
        .and_then(|m| m.into_inner().ok())
        .ok_or_else(|| {
            PacsError::malformed(
                &node.name,
                "images were still arriving after the final response",
            )
        })?;
    let received = staging.files;
    let expected = hit
        .instances
        .unwrap_or(counts.completed)
        .max(counts.completed);
    if counts.failed > 0 || received < expected || received == 0 {
        return Err(PacsError::Incomplete {
            series: series_uid.to_string(),
            received,
            expected: expected.max(received + counts.failed),
            failed: counts.failed,
        });
    }
    let study_uid = if hit.study_uid.is_empty() {
        staging
            .study_uid()
            .unwrap_or_else(|| "unknown-study".into())
    } else {
        hit.study_uid.clone()
    };
    Retrieved::commit(staging, dest, &cache, study_uid, series_uid, start)
}

/// The final response's counters, once its status says the whole worked.
fn final_counts(
    node: &str,
    op: &'static str,
    rsp: &dimse::Message,
    status: u16,
    cancelled: bool,
) -> Result<SubOperations> {
    match status_class(status) {
        _ if cancelled => Err(PacsError::Cancelled),
        StatusClass::Success | StatusClass::Warning => Ok(rsp.counts()),
        StatusClass::Cancel => Err(PacsError::Cancelled),
        _ => Err(status_error(node, op, rsp, status)),
    }
}

fn get(
    config: &PacsConfig,
    node: &Node,
    study_uid: &str,
    series_uid: &str,
    staging: &Arc<Mutex<Staging>>,
    progress: &Progress,
) -> Result<SubOperations> {
    let mut contexts = super::query::contexts(dimse::STUDY_ROOT_GET);
    let storage_ts: Vec<String> = STORAGE_TS.iter().map(|s| s.to_string()).collect();
    for class in STORAGE_CLASSES {
        contexts.push((class.to_string(), storage_ts.clone()));
    }
    let roles: Vec<String> = STORAGE_CLASSES.iter().map(|s| s.to_string()).collect();
    let mut scu = Scu::open(config, node, &contexts, &roles)?;
    let (ctx, ts) = scu
        .context(dimse::STUDY_ROOT_GET)
        .ok_or_else(|| PacsError::NotOffered {
            node: node.name.clone(),
            what: "Study Root retrieve (C-GET)".into(),
        })?;
    let id = scu.next_id();
    let data = dimse::encode_dataset(&series_identifier(study_uid, series_uid), &ts)
        .map_err(|e| PacsError::malformed(&node.name, e))?;
    scu.send(
        ctx,
        &dimse::query_rq(dimse::C_GET_RQ, dimse::STUDY_ROOT_GET, id, None),
        Some(&data),
    )?;
    let sink: Sink = staging_sink(series_uid, staging.clone());
    let mut cancelled = false;
    loop {
        let msg = scu.receive()?;
        if msg.field() == Some(dimse::C_STORE_RQ) {
            let ts = scu.context_ts(msg.context).unwrap_or_default();
            let reply = answer(&msg, &ts, &sink)
                .ok_or_else(|| PacsError::malformed(&node.name, "an unreadable C-STORE request"))?;
            let stored = dimse::u16_of(&reply, tags::STATUS) == Some(0);
            scu.send(msg.context, &reply, None)?;
            if stored {
                progress.advance(1);
            }
            if progress.is_cancelled() && !cancelled {
                scu.send(ctx, &dimse::cancel_rq(id), None)?;
                cancelled = true;
            }
            continue;
        }
        check_response(&node.name, "C-GET", &msg, dimse::C_GET_RSP, id)?;
        let status = msg
            .status()
            .ok_or_else(|| PacsError::malformed(&node.name, "a C-GET response without a status"))?;
        if status_class(status) == StatusClass::Pending {
            continue;
        }
        scu.release();
        return final_counts(&node.name, "C-GET", &msg, status, cancelled);
    }
}

fn move_(
    config: &PacsConfig,
    node: &Node,
    study_uid: &str,
    series_uid: &str,
    staging: &Arc<Mutex<Staging>>,
    progress: &Progress,
) -> Result<SubOperations> {
    let scp = StorageScp::start(
        &config.ae_title,
        config.incoming_port,
        config.timeout(),
        staging_sink(series_uid, staging.clone()),
    )?;
    let result = (|| {
        let mut scu = Scu::open(
            config,
            node,
            &super::query::contexts(dimse::STUDY_ROOT_MOVE),
            &[],
        )?;
        let (ctx, ts) =
            scu.context(dimse::STUDY_ROOT_MOVE)
                .ok_or_else(|| PacsError::NotOffered {
                    node: node.name.clone(),
                    what: "Study Root retrieve (C-MOVE)".into(),
                })?;
        let id = scu.next_id();
        let data = dimse::encode_dataset(&series_identifier(study_uid, series_uid), &ts)
            .map_err(|e| PacsError::malformed(&node.name, e))?;
        let rq = dimse::query_rq(
            dimse::C_MOVE_RQ,
            dimse::STUDY_ROOT_MOVE,
            id,
            Some(&config.ae_title),
        );
        scu.send(ctx, &rq, Some(&data))?;
        let mut cancelled = false;
        loop {
            let msg = scu.receive()?;
            check_response(&node.name, "C-MOVE", &msg, dimse::C_MOVE_RSP, id)?;
            let status = msg.status().ok_or_else(|| {
                PacsError::malformed(&node.name, "a C-MOVE response without a status")
            })?;
            if let Ok(s) = staging.lock() {
                progress.set_done(s.files as u64);
            }
            if status_class(status) == StatusClass::Pending {
                if progress.is_cancelled() && !cancelled {
                    scu.send(ctx, &dimse::cancel_rq(id), None)?;
                    cancelled = true;
                }
                continue;
            }
            scu.release();
            return final_counts(&node.name, "C-MOVE", &msg, status, cancelled);
        }
    })();
    // The PACS releases its association to us after its last C-STORE.
    let connections = scp.connections();
    scp.stop();
    // A PACS that failed without ever reaching us could not send to us.
    let result = result.map_err(|e| match e {
        PacsError::Status {
            node,
            operation,
            status,
            comment,
        } if connections == 0 => PacsError::Status {
            node,
            operation,
            status,
            comment: Some(format!(
                "{}it never connected to us: it must know our AE title {} at this computer's address and incoming port {}",
                comment.map(|c| format!("{c}; ")).unwrap_or_default(),
                config.ae_title,
                config.incoming_port
            )),
        },
        other => other,
    });
    if let Ok(s) = staging.lock() {
        progress.set_done(s.files as u64);
    }
    result
}
