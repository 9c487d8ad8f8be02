//! C-ECHO and C-FIND (Study Root, study and series levels): the query form
//! as a value, the identifiers it becomes, and the matches parsed back.
//! Patient names appear in the results because the user asked for them;
//! nothing here logs them.

use std::time::Instant;

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde::Serialize;

use super::assoc::{NATIVE, Scu};
use super::dimse::{self, StatusClass, status_class, status_text, str_of};
use super::{Node, PacsConfig, PacsError, Result};
use crate::base::progress::Progress;

/// Tests a node with C-ECHO; returns the round trip time.
pub fn echo(config: &PacsConfig, node: &Node) -> Result<std::time::Duration> {
    let start = Instant::now();
    let mut scu = Scu::open(config, node, &contexts(dimse::VERIFICATION), &[])?;
    let (ctx, _) = scu
        .context(dimse::VERIFICATION)
        .ok_or_else(|| PacsError::NotOffered {
            node: node.name.clone(),
            what: "verification (C-ECHO)".into(),
        })?;
    let id = scu.next_id();
    scu.send(ctx, &dimse::echo_rq(id), None)?;
    let rsp = scu.receive()?;
    check_response(&scu.node, "C-ECHO", &rsp, dimse::C_ECHO_RSP, id)?;
    let status = rsp.status().unwrap_or(0xFFFF);
    scu.release();
    if status != 0 {
        return Err(status_error(&node.name, "C-ECHO", &rsp, status));
    }
    Ok(start.elapsed())
}

pub(crate) fn contexts(abstract_syntax: &str) -> Vec<(String, Vec<String>)> {
    vec![(
        abstract_syntax.to_string(),
        NATIVE.iter().map(|s| s.to_string()).collect(),
    )]
}

/// What to look for. Empty fields match anything; names and descriptions
/// take DICOM wildcards (`*`, `?`); dates are `YYYYMMDD`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FindQuery {
    pub patient_name: Option<String>,
    pub patient_id: Option<String>,
    /// (from, to), either open.
    pub date_from: Option<String>,
    pub date_to: Option<String>,
    pub modality: Option<String>,
    pub accession: Option<String>,
    pub description: Option<String>,
    pub study_uid: Option<String>,
    pub series_uid: Option<String>,
}

/// One matching study, with its series when they were asked for.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StudyHit {
    pub study_uid: String,
    pub patient_name: String,
    pub patient_id: String,
    pub study_date: String,
    pub description: String,
    pub accession: String,
    pub modalities: Vec<String>,
    pub series: Vec<SeriesHit>,
}

/// One matching series.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SeriesHit {
    pub study_uid: String,
    pub series_uid: String,
    pub modality: String,
    pub description: String,
    pub number: Option<i32>,
    /// NumberOfSeriesRelatedInstances, when the PACS says.
    pub instances: Option<usize>,
}

fn put(obj: &mut InMemDicomObject, tag: Tag, vr: VR, value: &str) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

fn date_range(q: &FindQuery) -> String {
    match (&q.date_from, &q.date_to) {
        (None, None) => String::new(),
        (Some(a), None) => format!("{a}-"),
        (None, Some(b)) => format!("-{b}"),
        (Some(a), Some(b)) if a == b => a.clone(),
        (Some(a), Some(b)) => format!("{a}-{b}"),
    }
}

/// The identifier of a study-level query.
pub fn study_identifier(q: &FindQuery) -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    let v = |s: &Option<String>| s.clone().unwrap_or_default();
    put(&mut o, tags::QUERY_RETRIEVE_LEVEL, VR::CS, "STUDY");
    put(&mut o, tags::PATIENT_NAME, VR::PN, &v(&q.patient_name));
    put(&mut o, tags::PATIENT_ID, VR::LO, &v(&q.patient_id));
    put(&mut o, tags::STUDY_DATE, VR::DA, &date_range(q));
    put(&mut o, tags::STUDY_TIME, VR::TM, "");
    put(&mut o, tags::ACCESSION_NUMBER, VR::SH, &v(&q.accession));
    put(&mut o, tags::STUDY_DESCRIPTION, VR::LO, &v(&q.description));
    put(&mut o, tags::MODALITIES_IN_STUDY, VR::CS, &v(&q.modality));
    put(&mut o, tags::STUDY_INSTANCE_UID, VR::UI, &v(&q.study_uid));
    put(&mut o, tags::NUMBER_OF_STUDY_RELATED_SERIES, VR::IS, "");
    o
}

/// The identifier of a series-level query inside `study_uid` (empty: any).
pub fn series_identifier(study_uid: &str, q: &FindQuery) -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    let v = |s: &Option<String>| s.clone().unwrap_or_default();
    put(&mut o, tags::QUERY_RETRIEVE_LEVEL, VR::CS, "SERIES");
    put(&mut o, tags::STUDY_INSTANCE_UID, VR::UI, study_uid);
    put(&mut o, tags::SERIES_INSTANCE_UID, VR::UI, &v(&q.series_uid));
    put(&mut o, tags::MODALITY, VR::CS, &v(&q.modality));
    put(&mut o, tags::SERIES_DESCRIPTION, VR::LO, "");
    put(&mut o, tags::SERIES_NUMBER, VR::IS, "");
    put(&mut o, tags::NUMBER_OF_SERIES_RELATED_INSTANCES, VR::IS, "");
    o
}

/// A study match from its identifier.
pub fn study_hit(o: &InMemDicomObject) -> Option<StudyHit> {
    let s = |t| str_of(o, t).unwrap_or_default();
    let study_uid = s(tags::STUDY_INSTANCE_UID);
    if study_uid.is_empty() {
        return None;
    }
    Some(StudyHit {
        study_uid,
        patient_name: s(tags::PATIENT_NAME),
        patient_id: s(tags::PATIENT_ID),
        study_date: s(tags::STUDY_DATE),
        description: s(tags::STUDY_DESCRIPTION),
        accession: s(tags::ACCESSION_NUMBER),
        modalities: o
            .get(tags::MODALITIES_IN_STUDY)
            .and_then(|e| e.to_multi_str().ok())
            .map(|v| {
                v.iter()
                    .map(|m| m.trim().to_string())
                    .filter(|m| !m.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        series: Vec::new(),
    })
}

/// A series match from its identifier.
pub fn series_hit(o: &InMemDicomObject) -> Option<SeriesHit> {
    let s = |t| str_of(o, t).unwrap_or_default();
    let series_uid = s(tags::SERIES_INSTANCE_UID);
    if series_uid.is_empty() {
        return None;
    }
    Some(SeriesHit {
        study_uid: s(tags::STUDY_INSTANCE_UID),
        series_uid,
        modality: s(tags::MODALITY),
        description: s(tags::SERIES_DESCRIPTION),
        number: s(tags::SERIES_NUMBER).trim().parse().ok(),
        instances: s(tags::NUMBER_OF_SERIES_RELATED_INSTANCES)
            .trim()
            .parse()
            .ok(),
    })
}

/// Studies matching `q`, each with its series (filtered by modality when
/// one is given). `progress` counts studies; cancel stops between them.
pub fn find(
    config: &PacsConfig,
    node: &Node,
    q: &FindQuery,
    progress: &Progress,
) -> Result<Vec<StudyHit>> {
    let mut scu = Scu::open(config, node, &contexts(dimse::STUDY_ROOT_FIND), &[])?;
    progress.begin("querying studies", 0);
    let studies = run_find(&mut scu, &study_identifier(q), progress)?;
    let mut hits: Vec<StudyHit> = studies.iter().filter_map(study_hit).collect();
    progress.begin("querying series", hits.len() as u64);
    for study in &mut hits {
        if progress.is_cancelled() {
            scu.abort();
            return Err(PacsError::Cancelled);
        }
        let series = run_find(
            &mut scu,
            &series_identifier(
                &study.study_uid,
                &FindQuery {
                    modality: q.modality.clone(),
                    series_uid: q.series_uid.clone(),
                    ..Default::default()
                },
            ),
            progress,
        )?;
        study.series = series.iter().filter_map(series_hit).collect();
        for s in &mut study.series {
            if s.study_uid.is_empty() {
                s.study_uid = study.study_uid.clone();
            }
        }
        study
            .series
            .sort_by_key(|s| (s.number.unwrap_or(i32::MAX), s.series_uid.clone()));
        progress.advance(1);
    }
    scu.release();
    hits.retain(|s| q.modality.is_none() || !s.series.is_empty());
    hits.sort_by(|a, b| b.study_date.cmp(&a.study_date));
    Ok(hits)
}

/// The series matching `q` in any study (e.g. one series by its UID).
pub fn find_series(config: &PacsConfig, node: &Node, q: &FindQuery) -> Result<Vec<SeriesHit>> {
    let mut scu = Scu::open(config, node, &contexts(dimse::STUDY_ROOT_FIND), &[])?;
    let study = q.study_uid.clone().unwrap_or_default();
    let found = run_find(&mut scu, &series_identifier(&study, q), &Progress::new())?;
    scu.release();
    Ok(found.iter().filter_map(series_hit).collect())
}

/// One C-FIND: the pending identifiers until the final response.
fn run_find(
    scu: &mut Scu,
    identifier: &InMemDicomObject,
    progress: &Progress,
) -> Result<Vec<InMemDicomObject>> {
    let node = scu.node.clone();
    let (ctx, ts) = scu
        .context(dimse::STUDY_ROOT_FIND)
        .ok_or_else(|| PacsError::NotOffered {
            node: node.clone(),
            what: "Study Root query (C-FIND)".into(),
        })?;
    let id = scu.next_id();
    let data =
        dimse::encode_dataset(identifier, &ts).map_err(|e| PacsError::malformed(&node, e))?;
    scu.send(
        ctx,
        &dimse::query_rq(dimse::C_FIND_RQ, dimse::STUDY_ROOT_FIND, id, None),
        Some(&data),
    )?;
    let mut out = Vec::new();
    let mut cancelled = false;
    loop {
        let rsp = scu.receive()?;
        check_response(&node, "C-FIND", &rsp, dimse::C_FIND_RSP, id)?;
        let status = rsp
            .status()
            .ok_or_else(|| PacsError::malformed(&node, "a C-FIND response without a status"))?;
        match status_class(status) {
            StatusClass::Pending => {
                let bytes = rsp.data.as_deref().ok_or_else(|| {
                    PacsError::malformed(&node, "a pending C-FIND response without an identifier")
                })?;
                let ts = scu.context_ts(rsp.context).unwrap_or(ts.clone());
                out.push(
                    dimse::parse_dataset(bytes, &ts).map_err(|e| PacsError::malformed(&node, e))?,
                );
                if progress.is_cancelled() && !cancelled {
                    scu.send(ctx, &dimse::cancel_rq(id), None)?;
                    cancelled = true;
                }
            }
            StatusClass::Success | StatusClass::Warning => break,
            StatusClass::Cancel => return Err(PacsError::Cancelled),
            StatusClass::Failure => return Err(status_error(&node, "C-FIND", &rsp, status)),
        }
    }
    if cancelled {
        return Err(PacsError::Cancelled);
    }
    Ok(out)
}

/// A response must answer our request: the right command and message id.
pub(crate) fn check_response(
    node: &str,
    op: &str,
    rsp: &dimse::Message,
    field: u16,
    id: u16,
) -> Result<()> {
    if rsp.field() != Some(field) {
        return Err(PacsError::malformed(
            node,
            format!(
                "expected a {op} response, got command 0x{:04X}",
                rsp.field().unwrap_or(0)
            ),
        ));
    }
    if rsp.responding_to().is_some_and(|r| r != id) {
        return Err(PacsError::malformed(
            node,
            format!("a {op} response to another request"),
        ));
    }
    Ok(())
}

pub(crate) fn status_error(
    node: &str,
    op: &'static str,
    rsp: &dimse::Message,
    status: u16,
) -> PacsError {
    PacsError::Status {
        node: node.to_string(),
        operation: op,
        status: status_text(status),
        comment: rsp.str(tags::ERROR_COMMENT),
    }
}
