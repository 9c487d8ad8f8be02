//! DICOM objects Stratum derives from a study, to go back where the team
//! looks: Segmentation (SEG) from the segments, and Encapsulated STL / OBJ /
//! MTL from their surfaces, filed in the source study (same patient and
//! study, a new series) and referencing the source series and its frame of
//! reference. `seg_read` reads a SEG back as a label map.
//!
//! The patient and study attributes are copied from the source as they
//! are: the object must be filed with its study. They go only into the
//! file the user asked for; no log line, file name or message shows them.

use std::path::Path;

use dicom_core::value::{DataSetSequence, PrimitiveValue};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::{InMemDicomObject, OpenFileOptions};

use crate::base::error::{CoreError, Result};
use crate::base::progress::Progress;
use crate::read::open::OpenOptions;

mod codes;
mod mesh;
mod seg;
mod seg_read;

pub use codes::{Code, SegmentCodes, codes_for};
pub use mesh::{MeshObject, write_mesh_objects};
pub use seg::{SegAlgorithm, SegSegment, SegSummary, write_seg};
pub use seg_read::{is_seg_file, read_seg};

/// SOP classes of the objects we write.
pub const SEGMENTATION_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.66.4";
pub const ENCAPSULATED_STL_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.104.3";
pub const ENCAPSULATED_OBJ_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.104.4";
pub const ENCAPSULATED_MTL_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.104.5";

/// A fresh UID: `2.25.` and a 122-bit random number (PS3.5 B.2).
pub fn new_uid() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut parts = [0u64; 2];
    for (k, p) in parts.iter_mut().enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(t);
        h.write_u64(n);
        h.write_u32(std::process::id());
        h.write_usize(k);
        *p = h.finish();
    }
    let v = ((parts[0] as u128) << 64 | parts[1] as u128) >> 6;
    format!("2.25.{v}")
}

/// One image of the source series.
#[derive(Clone, Debug)]
pub struct SourceInstance {
    pub sop_class: String,
    pub sop_instance: String,
    /// ImagePositionPatient of its (first) frame.
    pub position: Option<[f64; 3]>,
}

/// What a derived object takes from the scan it was made from.
#[derive(Clone, Debug, Default)]
pub struct Source {
    /// Patient and study module attributes, copied as they are.
    pub copied: Vec<DataElement<InMemDicomObject>>,
    pub study_uid: String,
    /// Empty for a scan that was not DICOM (NIfTI).
    pub series_uid: String,
    pub frame_of_reference_uid: String,
    pub instances: Vec<SourceInstance>,
}

/// The patient and study attributes a derived object carries over.
const COPIED: &[Tag] = &[
    tags::PATIENT_NAME,
    tags::PATIENT_ID,
    tags::ISSUER_OF_PATIENT_ID,
    tags::PATIENT_BIRTH_DATE,
    tags::PATIENT_SEX,
    tags::STUDY_DATE,
    tags::STUDY_TIME,
    tags::REFERRING_PHYSICIAN_NAME,
    tags::STUDY_ID,
    tags::ACCESSION_NUMBER,
    tags::STUDY_DESCRIPTION,
    tags::SPECIFIC_CHARACTER_SET,
];

impl Source {
    /// A new study for a scan with no DICOM origin (a NIfTI file): fresh
    /// study and frame of reference UIDs, empty patient attributes.
    pub fn new_study() -> Source {
        Source {
            study_uid: new_uid(),
            frame_of_reference_uid: new_uid(),
            ..Default::default()
        }
    }

    /// The source of a scan opened from `path` with `opts` (the same series
    /// `open_volume` picks); a new study for a NIfTI file.
    pub fn of_scan(path: &Path, opts: &OpenOptions, progress: &Progress) -> Result<Source> {
        if crate::read::nifti::is_nifti_path(path) {
            return Ok(Source::new_study());
        }
        let scan = crate::dicom::scan(path, progress)?;
        let series = match &opts.series {
            Some(key) => scan.find(key)?,
            None => scan.largest().ok_or_else(|| CoreError::NoImages {
                path: path.to_path_buf(),
                ignored: scan.ignored,
            })?,
        };
        let first = series
            .files
            .first()
            .ok_or_else(|| CoreError::NotAVolume("the series has no image".into()))?;
        let obj = crate::dicom::lengths::parse_bounded(&first.path, || {
            OpenFileOptions::new()
                .read_until(tags::PIXEL_DATA)
                .open_file(&first.path)
                .map_err(|e| CoreError::NotDicom {
                    path: first.path.clone(),
                    reason: e.to_string(),
                })
        })?;
        let copied = COPIED.iter().filter_map(|t| obj.get(*t).cloned()).collect();
        let uid_or_new = |s: &str| {
            if s.trim().is_empty() {
                new_uid()
            } else {
                s.trim().to_string()
            }
        };
        Ok(Source {
            copied,
            study_uid: uid_or_new(&first.study_uid),
            series_uid: series.series_uid.trim().to_string(),
            frame_of_reference_uid: uid_or_new(&first.frame_of_reference_uid),
            instances: series
                .files
                .iter()
                .filter(|f| !f.sop_instance_uid.trim().is_empty())
                .map(|f| SourceInstance {
                    sop_class: f.sop_class_uid.trim().to_string(),
                    sop_instance: f.sop_instance_uid.trim().to_string(),
                    position: f.frames.first().and_then(|fr| fr.position),
                })
                .collect(),
        })
    }

    /// The instance whose image lies at `p` (within 0.01 mm).
    pub fn instance_at(&self, p: [f64; 3]) -> Option<&SourceInstance> {
        self.instances.iter().find(|i| {
            i.position
                .is_some_and(|q| (0..3).all(|k| (q[k] - p[k]).abs() < 0.01))
        })
    }
}

/// What every derived object shares: SOP common, patient, study, a new
/// series in the source study, frame of reference, equipment; the source
/// series' instances are listed when `reference` (objects whose frames
/// derive from them: SEG).
#[allow(clippy::too_many_arguments)]
pub(crate) fn common(
    reference: bool,
    source: &Source,
    sop_class: &str,
    sop_instance: &str,
    series_uid: &str,
    modality: &str,
    description: &str,
    series_number: i32,
) -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    for e in &source.copied {
        o.put(e.clone());
    }
    if o.get(tags::SPECIFIC_CHARACTER_SET).is_none() {
        put_str(&mut o, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
    }
    for (t, vr) in [
        (tags::PATIENT_NAME, VR::PN),
        (tags::PATIENT_ID, VR::LO),
        (tags::PATIENT_BIRTH_DATE, VR::DA),
        (tags::PATIENT_SEX, VR::CS),
        (tags::STUDY_DATE, VR::DA),
        (tags::STUDY_TIME, VR::TM),
        (tags::REFERRING_PHYSICIAN_NAME, VR::PN),
        (tags::STUDY_ID, VR::SH),
        (tags::ACCESSION_NUMBER, VR::SH),
    ] {
        if o.get(t).is_none() {
            put_str(&mut o, t, vr, "");
        }
    }
    let (date, time) = now_da_tm();
    put_str(&mut o, tags::SOP_CLASS_UID, VR::UI, sop_class);
    put_str(&mut o, tags::SOP_INSTANCE_UID, VR::UI, sop_instance);
    put_str(&mut o, tags::INSTANCE_CREATION_DATE, VR::DA, &date);
    put_str(&mut o, tags::INSTANCE_CREATION_TIME, VR::TM, &time);
    put_str(&mut o, tags::STUDY_INSTANCE_UID, VR::UI, &source.study_uid);
    put_str(&mut o, tags::SERIES_INSTANCE_UID, VR::UI, series_uid);
    put_str(&mut o, tags::MODALITY, VR::CS, modality);
    put_str(&mut o, tags::SERIES_DESCRIPTION, VR::LO, description);
    put_str(
        &mut o,
        tags::SERIES_NUMBER,
        VR::IS,
        &series_number.to_string(),
    );
    put_str(&mut o, tags::SERIES_DATE, VR::DA, &date);
    put_str(&mut o, tags::SERIES_TIME, VR::TM, &time);
    put_str(&mut o, tags::INSTANCE_NUMBER, VR::IS, "1");
    put_str(&mut o, tags::CONTENT_DATE, VR::DA, &date);
    put_str(&mut o, tags::CONTENT_TIME, VR::TM, &time);
    put_str(
        &mut o,
        tags::FRAME_OF_REFERENCE_UID,
        VR::UI,
        &source.frame_of_reference_uid,
    );
    put_str(&mut o, tags::POSITION_REFERENCE_INDICATOR, VR::LO, "");
    put_str(&mut o, tags::MANUFACTURER, VR::LO, "Stratum");
    put_str(&mut o, tags::MANUFACTURER_MODEL_NAME, VR::LO, "Stratum");
    put_str(&mut o, tags::DEVICE_SERIAL_NUMBER, VR::LO, "none");
    put_str(
        &mut o,
        tags::SOFTWARE_VERSIONS,
        VR::LO,
        env!("CARGO_PKG_VERSION"),
    );
    if reference && !source.series_uid.is_empty() && !source.instances.is_empty() {
        let refs: Vec<InMemDicomObject> = source
            .instances
            .iter()
            .map(|i| {
                let mut r = InMemDicomObject::new_empty();
                put_str(&mut r, tags::REFERENCED_SOP_CLASS_UID, VR::UI, &i.sop_class);
                put_str(
                    &mut r,
                    tags::REFERENCED_SOP_INSTANCE_UID,
                    VR::UI,
                    &i.sop_instance,
                );
                r
            })
            .collect();
        let mut series = InMemDicomObject::new_empty();
        put_seq(&mut series, tags::REFERENCED_INSTANCE_SEQUENCE, refs);
        put_str(
            &mut series,
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            &source.series_uid,
        );
        put_seq(&mut o, tags::REFERENCED_SERIES_SEQUENCE, vec![series]);
    }
    o
}

/// Today's date and the time now, as DICOM DA and TM (UTC: the core has no
/// time zone database; the values only order objects).
fn now_da_tm() -> (String, String) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (
        format!("{y:04}{m:02}{d:02}"),
        format!("{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

pub(crate) fn put_str(o: &mut InMemDicomObject, tag: Tag, vr: VR, v: &str) {
    o.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
}

pub(crate) fn put_seq(o: &mut InMemDicomObject, tag: Tag, items: Vec<InMemDicomObject>) {
    o.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
}

pub(crate) fn ds(v: f64) -> String {
    // DS holds at most 16 characters.
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    let s = if s == "-0" { "0" } else { s };
    s.chars().take(16).collect()
}

/// Writes a derived object as a DICOM file (explicit VR little endian),
/// atomically.
pub(crate) fn write_object(
    path: &Path,
    obj: InMemDicomObject,
    sop_class: &str,
    sop_instance: &str,
) -> Result<u64> {
    let file = obj
        .with_meta(
            dicom_object::FileMetaTableBuilder::new()
                .media_storage_sop_class_uid(sop_class)
                .media_storage_sop_instance_uid(sop_instance)
                .transfer_syntax("1.2.840.10008.1.2.1")
                .implementation_class_uid(crate::pacs::IMPLEMENTATION_CLASS_UID)
                .implementation_version_name("STRATUM"),
        )
        .map_err(|e| CoreError::Write {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    crate::base::atomic::write_atomic(path, |w| file.write_all(w).map_err(|e| e.to_string()))?;
    Ok(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
}
