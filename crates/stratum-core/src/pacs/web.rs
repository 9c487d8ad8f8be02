//! DICOMweb, for servers that offer it: QIDO-RS search (studies, series,
//! instances), WADO-RS retrieve (instance by instance, so progress and
//! cancel work as for C-GET) into the same cache, STOW-RS store. A small
//! blocking client on ureq: the DICOM JSON model (PS3.18 F) is read into
//! the same hits as C-FIND's, and every response is parsed defensively
//! (it is part of the `pacs_network` fuzz target).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::Value;

use super::cache::{Cache, Staging};
use super::query::{FindQuery, SeriesHit, StudyHit};
use super::{Node, PacsConfig, PacsError, Result, Retrieved};
use crate::base::progress::Progress;

/// The largest response body we read (a whole instance of a big multi-frame).
const MAX_BODY: u64 = 1 << 30;

/// One match of a QIDO-RS search: tag (8 hex digits) -> its values as text.
pub type JsonAttributes = BTreeMap<String, Vec<String>>;

/// Reads a QIDO-RS response (DICOM JSON: an array of objects of
/// `"GGGGEEEE": {"vr": .., "Value": [..]}`); person names give their
/// alphabetic form, numbers their decimal text.
pub fn parse_qido(bytes: &[u8]) -> std::result::Result<Vec<JsonAttributes>, String> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(Vec::new());
    }
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    let arr = v.as_array().ok_or("not a JSON array of matches")?;
    arr.iter()
        .map(|m| {
            let obj = m.as_object().ok_or("a match that is not a JSON object")?;
            Ok(obj
                .iter()
                .filter(|(k, _)| k.len() == 8 && k.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(|(k, a)| {
                    let values = a
                        .get("Value")
                        .and_then(Value::as_array)
                        .map(|vs| {
                            vs.iter()
                                .map(|v| match v {
                                    Value::String(s) => s.clone(),
                                    Value::Number(n) => n.to_string(),
                                    Value::Object(o) => o
                                        .get("Alphabetic")
                                        .and_then(Value::as_str)
                                        .unwrap_or_default()
                                        .to_string(),
                                    _ => String::new(),
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    (k.to_ascii_uppercase(), values)
                })
                .collect())
        })
        .collect()
}

fn first(a: &JsonAttributes, tag: &str) -> String {
    a.get(tag)
        .and_then(|v| v.first())
        .cloned()
        .unwrap_or_default()
}

fn base_url(node: &Node) -> Result<String> {
    node.dicomweb
        .clone()
        .map(|u| u.trim_end_matches('/').to_string())
        .ok_or_else(|| {
            PacsError::Config(format!(
                "node {:?} has no DICOMweb URL; add one (stratum pacs add NAME AET@HOST:PORT --dicomweb URL)",
                node.name
            ))
        })
}

fn agent(config: &PacsConfig) -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(None)
        .timeout_connect(Some(config.timeout()))
        .timeout_recv_response(Some(config.timeout()))
        .timeout_recv_body(Some(config.timeout() * 4))
        .http_status_as_error(false)
        .build()
        .new_agent()
}

fn web_err(node: &Node, url: &str, e: ureq::Error) -> PacsError {
    match e {
        ureq::Error::Timeout(_) => PacsError::Timeout {
            node: node.name.clone(),
            secs: 0,
        },
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            PacsError::Unreachable {
                node: node.name.clone(),
                addr: url.to_string(),
                reason: io.to_string(),
            }
        }
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => PacsError::Unreachable {
            node: node.name.clone(),
            addr: url.to_string(),
            reason: e.to_string(),
        },
        other => PacsError::Web(format!("{url}: {other}")),
    }
}

/// GETs `url` with `accept`; the body when the status is 2xx.
fn get(agent: &ureq::Agent, node: &Node, url: &str, accept: &str) -> Result<(u16, Vec<u8>)> {
    let mut rsp = agent
        .get(url)
        .header("Accept", accept)
        .call()
        .map_err(|e| web_err(node, url, e))?;
    let status = rsp.status().as_u16();
    let mut body = Vec::new();
    rsp.body_mut()
        .as_reader()
        .take(MAX_BODY)
        .read_to_end(&mut body)
        .map_err(|e| PacsError::Web(format!("{url}: {e}")))?;
    if !(200..300).contains(&status) {
        return Err(PacsError::Web(format!(
            "{url} answered HTTP {status}{}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
                .lines()
                .next()
                .map(|l| format!(": {l}"))
                .unwrap_or_default()
        )));
    }
    Ok((status, body))
}

fn query_string(pairs: &[(&str, Option<String>)]) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' | b'?' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    pairs
        .iter()
        .filter_map(|(k, v)| {
            v.as_ref()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{k}={}", enc(v)))
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn qido(config: &PacsConfig, node: &Node, path: &str, query: &str) -> Result<Vec<JsonAttributes>> {
    let url = format!(
        "{}/{path}{}{query}",
        base_url(node)?,
        if query.is_empty() { "" } else { "?" }
    );
    let (_, body) = get(&agent(config), node, &url, "application/dicom+json")?;
    parse_qido(&body).map_err(|e| PacsError::malformed(&node.name, format!("QIDO-RS: {e}")))
}

fn series_from(a: &JsonAttributes, study_uid: &str) -> SeriesHit {
    SeriesHit {
        study_uid: study_uid.to_string(),
        series_uid: first(a, "0020000E"),
        modality: first(a, "00080060"),
        description: first(a, "0008103E"),
        number: first(a, "00200011").trim().parse().ok(),
        instances: first(a, "00201209").trim().parse().ok(),
    }
}

/// QIDO-RS search: studies matching `q`, each with its series.
pub fn find_web(
    config: &PacsConfig,
    node: &Node,
    q: &FindQuery,
    progress: &Progress,
) -> Result<Vec<StudyHit>> {
    let date = match (&q.date_from, &q.date_to) {
        (None, None) => None,
        (a, b) => Some(format!(
            "{}-{}",
            a.clone().unwrap_or_default(),
            b.clone().unwrap_or_default()
        )),
    };
    let query = query_string(&[
        ("PatientName", q.patient_name.clone()),
        ("PatientID", q.patient_id.clone()),
        ("StudyDate", date),
        ("ModalitiesInStudy", q.modality.clone()),
        ("AccessionNumber", q.accession.clone()),
        ("StudyDescription", q.description.clone()),
        ("StudyInstanceUID", q.study_uid.clone()),
        ("includefield", Some("StudyDescription".into())),
    ]);
    progress.begin("querying studies", 0);
    let studies = qido(config, node, "studies", &query)?;
    progress.begin("querying series", studies.len() as u64);
    let mut hits = Vec::new();
    for s in &studies {
        progress.check().map_err(|_| PacsError::Cancelled)?;
        let study_uid = first(s, "0020000D");
        if study_uid.is_empty() {
            continue;
        }
        let sq = query_string(&[
            ("Modality", q.modality.clone()),
            ("SeriesInstanceUID", q.series_uid.clone()),
        ]);
        let series: Vec<SeriesHit> =
            qido(config, node, &format!("studies/{study_uid}/series"), &sq)?
                .iter()
                .map(|a| series_from(a, &study_uid))
                .filter(|s| !s.series_uid.is_empty())
                .collect();
        hits.push(StudyHit {
            study_uid: study_uid.clone(),
            patient_name: first(s, "00100010"),
            patient_id: first(s, "00100020"),
            study_date: first(s, "00080020"),
            description: first(s, "00081030"),
            accession: first(s, "00080050"),
            modalities: s.get("00080061").cloned().unwrap_or_default(),
            series,
        });
        progress.advance(1);
    }
    hits.retain(|s| q.modality.is_none() || !s.series.is_empty());
    hits.sort_by(|a, b| b.study_date.cmp(&a.study_date));
    Ok(hits)
}

/// WADO-RS retrieve of one series, instance by instance, into the cache
/// (or `dest`); whole or nothing, as the DIMSE retrieve.
pub fn retrieve_web(
    config: &PacsConfig,
    node: &Node,
    series_uid: &str,
    dest: Option<&Path>,
    progress: &Progress,
) -> Result<Retrieved> {
    let start = Instant::now();
    progress.begin("finding the series", 0);
    let series = qido(
        config,
        node,
        "series",
        &query_string(&[("SeriesInstanceUID", Some(series_uid.to_string()))]),
    )?;
    let study_uid = series
        .iter()
        .map(|a| first(a, "0020000D"))
        .find(|s| !s.is_empty())
        .ok_or_else(|| PacsError::NoSuchSeries {
            node: node.name.clone(),
            series: series_uid.to_string(),
        })?;
    let instances: Vec<String> = qido(
        config,
        node,
        &format!("studies/{study_uid}/series/{series_uid}/instances"),
        "",
    )?
    .iter()
    .map(|a| first(a, "00080018"))
    .filter(|u| super::dimse::is_uid(u))
    .collect();
    if instances.is_empty() {
        return Err(PacsError::NoSuchSeries {
            node: node.name.clone(),
            series: series_uid.to_string(),
        });
    }
    let cache = Cache::new(config.cache_dir());
    let mut staging = match dest {
        Some(d) => Staging::beside(d)?,
        None => cache.stage(series_uid)?,
    };
    let base = base_url(node)?;
    let agent = agent(config);
    progress.begin("retrieving images", instances.len() as u64);
    for uid in &instances {
        progress.check().map_err(|_| PacsError::Cancelled)?;
        let url = format!("{base}/studies/{study_uid}/series/{series_uid}/instances/{uid}");
        let (_, body) = get(
            &agent,
            node,
            &url,
            "multipart/related; type=\"application/dicom\"; transfer-syntax=*",
        )?;
        let parts = multipart_parts(&body)
            .map_err(|e| PacsError::malformed(&node.name, format!("WADO-RS: {e}")))?;
        for part in parts {
            let file = part10(part)
                .map_err(|e| PacsError::malformed(&node.name, format!("WADO-RS: {e}")))?;
            let meta = file.meta().clone();
            let clean = |s: &str| s.trim_end_matches(['\0', ' ']).to_string();
            let incoming =
                super::dimse::str_of(&file, dicom_dictionary_std::tags::SERIES_INSTANCE_UID)
                    .unwrap_or_default();
            if incoming != series_uid {
                return Err(PacsError::malformed(
                    &node.name,
                    "WADO-RS sent an instance of another series",
                ));
            }
            staging.write(
                file.into_inner(),
                &clean(&meta.media_storage_sop_class_uid),
                &clean(&meta.media_storage_sop_instance_uid),
                &clean(&meta.transfer_syntax),
            )?;
        }
        progress.advance(1);
    }
    if staging.files < instances.len() {
        return Err(PacsError::Incomplete {
            series: series_uid.to_string(),
            received: staging.files,
            expected: instances.len(),
            failed: 0,
        });
    }
    Retrieved::commit(staging, dest, &cache, study_uid, series_uid, start)
}

/// A DICOM Part 10 file from memory, its lengths bounded by its size.
fn part10(bytes: &[u8]) -> std::result::Result<dicom_object::DefaultDicomObject, String> {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            dicom_parser::stateful::decode::set_value_length_limit(None);
        }
    }
    let _reset = Reset;
    dicom_parser::stateful::decode::set_value_length_limit(Some(bytes.len() as u64 * 1024));
    // A Part 10 file: a 128-byte preamble, then "DICM" and the meta group.
    let body = match bytes.get(128..132) {
        Some(b"DICM") => &bytes[128..],
        _ if bytes.starts_with(b"DICM") => bytes,
        _ => return Err("a part that is not a DICOM file".into()),
    };
    dicom_object::OpenFileOptions::new()
        .read_preamble(dicom_object::file::ReadPreamble::Never)
        .from_reader(std::io::Cursor::new(body))
        .map_err(|e| super::error::first_line(&e.to_string()))
}

/// The bodies of a multipart/related response (boundary read from the
/// first line, as the body starts with `--BOUNDARY`).
pub fn multipart_parts(body: &[u8]) -> std::result::Result<Vec<&[u8]>, String> {
    let start = body
        .iter()
        .position(|b| *b == b'-')
        .ok_or("no multipart boundary")?;
    let line_end = body[start..]
        .windows(2)
        .position(|w| w == b"\r\n")
        .ok_or("no multipart boundary line")?;
    let boundary = &body[start..start + line_end];
    if boundary.len() < 3 || !boundary.starts_with(b"--") {
        return Err("no multipart boundary".into());
    }
    let mut delim = b"\r\n".to_vec();
    delim.extend_from_slice(boundary);
    let mut parts = Vec::new();
    let mut pos = start + line_end + 2;
    loop {
        // Headers end at the first empty line.
        let head_end = body[pos..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or("a part without a header end")?;
        let content = pos + head_end + 4;
        let end = body[content..]
            .windows(delim.len())
            .position(|w| w == delim.as_slice())
            .ok_or("a part without a closing boundary")?;
        parts.push(&body[content..content + end]);
        pos = content + end + delim.len();
        if body[pos..].starts_with(b"--") {
            return Ok(parts);
        }
        pos += body[pos..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a broken boundary line")?
            + 2;
    }
}

/// STOW-RS of DICOM files in one request; returns how many were stored.
pub fn store_web(
    config: &PacsConfig,
    node: &Node,
    files: &[PathBuf],
    progress: &Progress,
) -> Result<usize> {
    let url = format!("{}/studies", base_url(node)?);
    let boundary = format!("stratum-{}", crate::derived::new_uid().replace('.', ""));
    progress.begin("sending", files.len() as u64);
    let mut body = Vec::new();
    for f in files {
        progress.check().map_err(|_| PacsError::Cancelled)?;
        let bytes = std::fs::read(f).map_err(|e| crate::base::error::CoreError::io(f, e))?;
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(&bytes);
        body.extend_from_slice(b"\r\n");
        progress.advance(1);
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    let mut rsp = agent(config)
        .post(&url)
        .header("Accept", "application/dicom+json")
        .header(
            "Content-Type",
            &format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"),
        )
        .send(&body[..])
        .map_err(|e| web_err(node, &url, e))?;
    let status = rsp.status().as_u16();
    let mut text = Vec::new();
    let _ = rsp
        .body_mut()
        .as_reader()
        .take(MAX_BODY)
        .read_to_end(&mut text);
    if !(200..300).contains(&status) {
        return Err(PacsError::Web(format!(
            "STOW-RS to {url} answered HTTP {status}"
        )));
    }
    // The response lists what was stored (00081199) and what failed (00081198).
    let v: Value = serde_json::from_slice(&text).unwrap_or(Value::Null);
    let count = |tag: &str| {
        v.get(tag)
            .and_then(|a| a.get("Value"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    };
    let failed = count("00081198");
    if failed > 0 {
        return Err(PacsError::Web(format!(
            "STOW-RS: {failed} of {} files were refused",
            files.len()
        )));
    }
    Ok(count("00081199").max(if v.is_null() { files.len() } else { 0 }))
}
