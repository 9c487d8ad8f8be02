//! De-identification following DICOM PS3.15 Annex E, Basic Application Level
//! Confidentiality Profile: the profile's actions on the attributes of
//! Table E.1-1, private attributes, curves and overlays removed, UIDs remapped
//! consistently across the whole input, Patient Identity Removed = YES.
//! Pixel data is copied bit for bit. The input is never modified and every
//! output file is written to a temporary name, then renamed into place.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};

use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use crate::base::atomic::write_atomic;
use crate::base::error::{CoreError, Result};
use crate::base::progress::Progress;
use crate::dicom::header::first_line;
use crate::dicom::scan;

/// The action codes of Table E.1-1, reduced to what the basic profile does
/// here: combined codes (X/Z, Z/D, X/Z/D, X/D) take the one that keeps a valid
/// object without keeping the value (Z for Type 2, D where a value is needed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Remove the attribute.
    X,
    /// Keep it with zero length.
    Z,
    /// Replace with a dummy value of the same VR.
    D,
    /// Replace a UID with a new one, consistently across the input.
    U,
    /// Keep, but clean the items of a sequence (UIDs inside are remapped).
    K,
}

use Action::*;

#[path = "anonymize_e1.rs"]
mod e1_2026;

/// Table E.1-1 of PS3.15 (basic profile column), as (group, element, action).
pub const BASIC_PROFILE: &[(u16, u16, Action)] = &[
    (0x0008, 0x0050, Z), // Accession Number
    (0x0018, 0x4000, X), // Acquisition Comments
    (0x0040, 0x0555, Z), // Acquisition Context Sequence (X; emptied instead: Type 2 in enhanced objects)
    (0x0008, 0x0022, Z), // Acquisition Date (X/Z)
    (0x0008, 0x002A, D), // Acquisition DateTime (X/Z/D; Type 1C in enhanced objects)
    (0x0018, 0x1400, X), // Acquisition Device Processing Description (X/D)
    (0x0018, 0x9424, X), // Acquisition Protocol Description
    (0x0008, 0x0032, Z), // Acquisition Time (X/Z)
    (0x0040, 0x4035, X), // Actual Human Performers Sequence
    (0x0010, 0x21B0, X), // Additional Patient History
    (0x0038, 0x0010, X), // Admission ID
    (0x0038, 0x0020, X), // Admitting Date
    (0x0008, 0x1084, X), // Admitting Diagnoses Code Sequence
    (0x0008, 0x1080, X), // Admitting Diagnoses Description
    (0x0038, 0x0021, X), // Admitting Time
    (0x0000, 0x1000, X), // Affected SOP Instance UID
    (0x0010, 0x2110, X), // Allergies
    (0x4000, 0x0010, X), // Arbitrary
    (0x0040, 0xA078, X), // Author Observer Sequence
    (0x0010, 0x1081, X), // Branch of Service
    (0x0018, 0x1007, X), // Cassette ID
    (0x0040, 0x0280, X), // Comments on the Performed Procedure Step
    (0x0020, 0x9161, U), // Concatenation UID
    (0x0040, 0x3001, X), // Confidentiality Constraint on Patient Data Description
    (0x0070, 0x0084, Z), // Content Creator's Name
    (0x0070, 0x0086, X), // Content Creator's Identification Code Sequence
    (0x0008, 0x0023, D), // Content Date (Z/D; Type 1 in enhanced objects)
    (0x0040, 0xA730, X), // Content Sequence
    (0x0008, 0x0033, D), // Content Time (Z/D; Type 1 in enhanced objects)
    (0x0008, 0x010D, U), // Context Group Extension Creator UID
    (0x0018, 0x0010, Z), // Contrast/Bolus Agent (Z/D)
    (0x0018, 0xA003, X), // Contribution Description
    (0x0010, 0x2150, X), // Country of Residence
    (0x0008, 0x9123, U), // Creator Version UID
    (0x0038, 0x0300, X), // Current Patient Location
    (0x0008, 0x0025, X), // Curve Date
    (0x0008, 0x0035, X), // Curve Time
    (0x0040, 0xA07C, X), // Custodial Organization Sequence
    (0xFFFC, 0xFFFC, X), // Data Set Trailing Padding
    (0x0018, 0x1200, X), // Date of Last Calibration
    (0x0018, 0x1201, X), // Time of Last Calibration
    (0x0008, 0x2111, X), // Derivation Description
    (0x0018, 0x700A, X), // Detector ID
    (0x0018, 0x1003, X), // Device ID
    (0x0018, 0x1000, D), // Device Serial Number (X/Z/D; Type 1 in Enhanced General Equipment)
    (0x0018, 0x1002, U), // Device UID
    (0x0400, 0x0100, X), // Digital Signature UID
    (0xFFFA, 0xFFFA, X), // Digital Signatures Sequence
    (0x0020, 0x9164, U), // Dimension Organization UID
    (0x0038, 0x0040, X), // Discharge Diagnosis Description
    (0x4008, 0x011A, X), // Distribution Address
    (0x4008, 0x0119, X), // Distribution Name
    (0x300A, 0x0013, U), // Dose Reference UID
    (0x0010, 0x2160, X), // Ethnic Group
    (0x0008, 0x0058, U), // Failed SOP Instance UID List
    (0x0070, 0x031A, U), // Fiducial UID
    (0x0040, 0x2017, Z), // Filler Order Number / Imaging Service Request
    (0x0020, 0x9158, X), // Frame Comments
    (0x0020, 0x0052, U), // Frame of Reference UID
    (0x0018, 0x1008, X), // Gantry ID
    (0x0018, 0x1005, X), // Generator ID
    (0x0070, 0x0001, X), // Graphic Annotation Sequence (D: free text inside)
    (0x0040, 0x4037, X), // Human Performer's Name
    (0x0040, 0x4036, X), // Human Performer's Organization
    (0x0088, 0x0200, X), // Icon Image Sequence
    (0x0008, 0x4000, X), // Identifying Comments
    (0x0020, 0x4000, X), // Image Comments
    (0x0028, 0x4000, X), // Image Presentation Comments
    (0x0040, 0x2400, X), // Imaging Service Request Comments
    (0x4008, 0x0300, X), // Impressions
    (0x0008, 0x0012, X), // Instance Creation Date
    (0x0008, 0x0013, X), // Instance Creation Time
    (0x0008, 0x0014, U), // Instance Creator UID
    (0x0008, 0x0081, X), // Institution Address
    (0x0008, 0x0082, X), // Institution Code Sequence (X/Z/D)
    (0x0008, 0x0080, Z), // Institution Name (X/Z/D)
    (0x0008, 0x1040, X), // Institutional Department Name
    (0x0010, 0x1050, X), // Insurance Plan Identification
    (0x0040, 0x1011, X), // Intended Recipients of Results Identification Sequence
    (0x4008, 0x0111, X), // Interpretation Approver Sequence
    (0x4008, 0x010C, X), // Interpretation Author
    (0x4008, 0x0115, X), // Interpretation Diagnosis Description
    (0x4008, 0x0202, X), // Interpretation ID Issuer
    (0x4008, 0x0102, X), // Interpretation Recorder
    (0x4008, 0x010B, X), // Interpretation Text
    (0x4008, 0x010A, X), // Interpretation Transcriber
    (0x0008, 0x3010, U), // Irradiation Event UID
    (0x0038, 0x0011, X), // Issuer of Admission ID
    (0x0010, 0x0021, X), // Issuer of Patient ID
    (0x0010, 0x0024, X), // Issuer of Patient ID Qualifiers Sequence
    (0x0038, 0x0061, X), // Issuer of Service Episode ID
    (0x0028, 0x1214, U), // Large Palette Color Lookup Table UID
    (0x0010, 0x21D0, X), // Last Menstrual Date
    (0x0400, 0x0404, X), // MAC
    (0x0002, 0x0003, U), // Media Storage SOP Instance UID
    (0x0010, 0x2000, X), // Medical Alerts
    (0x0010, 0x1090, X), // Medical Record Locator
    (0x0010, 0x1080, X), // Military Rank
    (0x0400, 0x0550, X), // Modified Attributes Sequence
    (0x0020, 0x3406, X), // Modified Image Description
    (0x0020, 0x3401, X), // Modifying Device ID
    (0x0020, 0x3404, X), // Modifying Device Manufacturer
    (0x0008, 0x1060, X), // Name of Physician(s) Reading Study
    (0x0040, 0x1010, X), // Names of Intended Recipient of Results
    (0x0010, 0x2180, X), // Occupation
    (0x0008, 0x1072, X), // Operator Identification Sequence
    (0x0008, 0x1070, Z), // Operators' Name (X/Z/D)
    (0x0400, 0x0561, X), // Original Attributes Sequence
    (0x0040, 0x2010, X), // Order Callback Phone Number
    (0x0040, 0x2008, X), // Order Entered By
    (0x0040, 0x2009, X), // Order Enterer Location
    (0x0010, 0x1000, X), // Other Patient IDs
    (0x0010, 0x1002, X), // Other Patient IDs Sequence
    (0x0010, 0x1001, X), // Other Patient Names
    (0x0008, 0x0024, X), // Overlay Date
    (0x0008, 0x0034, X), // Overlay Time
    (0x0040, 0xA07A, X), // Participant Sequence
    (0x0010, 0x1040, X), // Patient Address
    (0x0010, 0x1010, X), // Patient's Age
    (0x0010, 0x0030, Z), // Patient's Birth Date
    (0x0010, 0x1005, X), // Patient's Birth Name
    (0x0010, 0x0032, X), // Patient's Birth Time
    (0x0010, 0x4000, X), // Patient Comments
    (0x0010, 0x0020, Z), // Patient ID
    (0x0010, 0x0050, X), // Patient's Insurance Plan Code Sequence
    (0x0010, 0x1060, X), // Patient's Mother's Birth Name
    (0x0010, 0x0010, Z), // Patient's Name
    (0x0010, 0x0101, X), // Patient's Primary Language Code Sequence
    (0x0010, 0x0102, X), // Patient's Primary Language Modifier Code Sequence
    (0x0010, 0x21F0, X), // Patient's Religious Preference
    (0x0010, 0x0040, Z), // Patient's Sex
    (0x0010, 0x2203, Z), // Patient's Sex Neutered (X/Z)
    (0x0010, 0x1020, X), // Patient's Size
    (0x0038, 0x0500, X), // Patient State
    (0x0010, 0x2154, X), // Patient's Telephone Numbers
    (0x0040, 0x1004, X), // Patient Transport Arrangements
    (0x0010, 0x1030, X), // Patient's Weight
    (0x0010, 0x1100, X), // Referenced Patient Photo Sequence
    (0x0040, 0x0243, X), // Performed Location
    (0x0040, 0x0254, X), // Performed Procedure Step Description
    (0x0040, 0x0253, X), // Performed Procedure Step ID
    (0x0040, 0x0244, X), // Performed Procedure Step Start Date
    (0x0040, 0x0245, X), // Performed Procedure Step Start Time
    (0x0040, 0x0241, X), // Performed Station AE Title
    (0x0040, 0x4030, X), // Performed Station Geographic Location Code Sequence
    (0x0040, 0x0242, X), // Performed Station Name
    (0x0040, 0x4028, X), // Performed Station Name Code Sequence
    (0x0008, 0x1052, X), // Performing Physician Identification Sequence
    (0x0008, 0x1050, X), // Performing Physicians' Name
    (0x0040, 0x1102, X), // Person's Address
    (0x0040, 0x1101, X), // Person Identification Code Sequence
    (0x0040, 0xA123, D), // Person Name
    (0x0040, 0x1103, X), // Person's Telephone Numbers
    (0x4008, 0x0114, X), // Physician Approving Interpretation
    (0x0008, 0x1062, X), // Physician(s) Reading Study Identification Sequence
    (0x0008, 0x1048, X), // Physician(s) of Record
    (0x0008, 0x1049, X), // Physician(s) of Record Identification Sequence
    (0x0018, 0x1004, X), // Plate ID
    (0x0040, 0x0012, X), // Pre-Medication
    (0x0010, 0x21C0, X), // Pregnancy Status
    (0x0018, 0x1030, X), // Protocol Name (X/D)
    (0x0040, 0x2001, X), // Reason for the Imaging Service Request
    (0x0032, 0x1030, X), // Reason for Study
    (0x0400, 0x0402, X), // Referenced Digital Signature Sequence
    (0x3006, 0x0024, U), // Referenced Frame of Reference UID
    (0x0040, 0x4023, U), // Referenced General Purpose Scheduled Procedure Step Transaction UID
    (0x0008, 0x1140, K), // Referenced Image Sequence (X/Z/U*: UIDs inside remapped)
    (0x0038, 0x1234, X), // Referenced Patient Alias Sequence
    (0x0008, 0x1120, X), // Referenced Patient Sequence
    (0x0008, 0x1111, X), // Referenced Performed Procedure Step Sequence
    (0x0400, 0x0403, X), // Referenced SOP Instance MAC Sequence
    (0x0008, 0x1155, U), // Referenced SOP Instance UID
    (0x0004, 0x1511, U), // Referenced SOP Instance UID in File
    (0x0008, 0x1110, X), // Referenced Study Sequence
    (0x0008, 0x0092, X), // Referring Physician's Address
    (0x0008, 0x0096, X), // Referring Physician Identification Sequence
    (0x0008, 0x0090, Z), // Referring Physician's Name
    (0x0008, 0x0094, X), // Referring Physician's Telephone Numbers
    (0x0010, 0x2152, X), // Region of Residence
    (0x3006, 0x00C2, U), // Related Frame of Reference UID
    (0x0040, 0x0275, X), // Request Attributes Sequence
    (0x0032, 0x1070, X), // Requested Contrast Agent
    (0x0040, 0x1400, X), // Requested Procedure Comments
    (0x0032, 0x1060, Z), // Requested Procedure Description (X/Z)
    (0x0040, 0x1001, X), // Requested Procedure ID
    (0x0040, 0x1005, X), // Requested Procedure Location
    (0x0000, 0x1001, U), // Requested SOP Instance UID
    (0x0032, 0x1032, X), // Requesting Physician
    (0x0032, 0x1033, X), // Requesting Service
    (0x0010, 0x2299, X), // Responsible Organization
    (0x0010, 0x2297, X), // Responsible Person
    (0x4008, 0x4000, X), // Results Comments
    (0x4008, 0x0118, X), // Results Distribution List Sequence
    (0x4008, 0x0042, X), // Results ID Issuer
    (0x300E, 0x0008, Z), // Reviewer Name (X/Z)
    (0x0040, 0x4034, X), // Scheduled Human Performers Sequence
    (0x0038, 0x001E, X), // Scheduled Patient Institution Residence
    (0x0040, 0x000B, X), // Scheduled Performing Physician Identification Sequence
    (0x0040, 0x0006, X), // Scheduled Performing Physician Name
    (0x0040, 0x0004, X), // Scheduled Procedure Step End Date
    (0x0040, 0x0005, X), // Scheduled Procedure Step End Time
    (0x0040, 0x0007, X), // Scheduled Procedure Step Description
    (0x0040, 0x0009, X), // Scheduled Procedure Step ID
    (0x0040, 0x0011, X), // Scheduled Procedure Step Location
    (0x0040, 0x0002, X), // Scheduled Procedure Step Start Date
    (0x0040, 0x0003, X), // Scheduled Procedure Step Start Time
    (0x0040, 0x0001, X), // Scheduled Station AE Title
    (0x0040, 0x4027, X), // Scheduled Station Geographic Location Code Sequence
    (0x0040, 0x0010, X), // Scheduled Station Name
    (0x0040, 0x4025, X), // Scheduled Station Name Code Sequence
    (0x0032, 0x1020, X), // Scheduled Study Location
    (0x0032, 0x1021, X), // Scheduled Study Location AE Title
    (0x0008, 0x0021, X), // Series Date (X/D)
    (0x0008, 0x103E, X), // Series Description
    (0x0020, 0x000E, U), // Series Instance UID
    (0x0008, 0x0031, X), // Series Time (X/D)
    (0x0038, 0x0062, X), // Service Episode Description
    (0x0038, 0x0060, X), // Service Episode ID
    (0x0010, 0x21A0, X), // Smoking Status
    (0x0008, 0x0018, U), // SOP Instance UID
    (0x0008, 0x2112, K), // Source Image Sequence (X/Z/U*: UIDs inside remapped)
    (0x0038, 0x0050, X), // Special Needs
    (0x0008, 0x1010, Z), // Station Name (X/Z/D)
    (0x0088, 0x0140, U), // Storage Media File-set UID
    (0x0032, 0x4000, X), // Study Comments
    (0x0008, 0x0020, Z), // Study Date
    (0x0008, 0x1030, X), // Study Description
    (0x0020, 0x0010, Z), // Study ID
    (0x0032, 0x0012, X), // Study ID Issuer
    (0x0020, 0x000D, U), // Study Instance UID
    (0x0008, 0x0030, Z), // Study Time
    (0x0020, 0x0200, U), // Synchronization Frame of Reference UID
    (0x0040, 0xDB0D, U), // Template Extension Creator UID
    (0x0040, 0xDB0C, U), // Template Extension Organization UID
    (0x4000, 0x4000, X), // Text Comments
    (0x2030, 0x0020, X), // Text String
    (0x0008, 0x0201, X), // Timezone Offset From UTC
    (0x0088, 0x0910, X), // Topic Author
    (0x0088, 0x0912, X), // Topic Keywords
    (0x0088, 0x0906, X), // Topic Subject
    (0x0088, 0x0904, X), // Topic Title
    (0x0008, 0x1195, U), // Transaction UID
    (0x0010, 0x0022, X), // Type of Patient ID
    (0x0040, 0xA124, U), // UID
    (0x0040, 0xA088, Z), // Verifying Observer Identification Code Sequence
    (0x0040, 0xA075, D), // Verifying Observer Name
    (0x0040, 0xA073, X), // Verifying Observer Sequence (D: names inside)
    (0x0040, 0xA027, X), // Verifying Organization
    (0x0038, 0x4000, X), // Visit Comments
    (0x0018, 0x9074, D), // Frame Acquisition DateTime (X/D; Type 1C in enhanced frames)
    (0x0018, 0x9151, D), // Frame Reference DateTime (X/D; Type 1C in enhanced frames)
];

/// The profile's action for a tag, or `None` to keep it.
pub fn action_for(tag: Tag) -> Option<Action> {
    BASIC_PROFILE
        .iter()
        .chain(e1_2026::BASIC_PROFILE_2026)
        .find(|(g, e, _)| *g == tag.group() && *e == tag.element())
        .map(|(_, _, a)| *a)
}

/// Whether the profile drops a whole tag class: private attributes, curves
/// (50xx) and overlays (60xx).
fn dropped_class(tag: Tag) -> bool {
    let g = tag.group();
    g % 2 == 1 || (0x5000..=0x50FF).contains(&g) || (0x6000..=0x60FF).contains(&g)
}

/// Consistent UID replacement: the same input UID maps to the same new UID
/// within one run, from a keyed hash with per-run random keys (so the
/// mapping cannot be reversed or repeated by a third party).
#[derive(Default)]
pub struct UidMap {
    keys: (
        std::collections::hash_map::RandomState,
        std::collections::hash_map::RandomState,
    ),
    map: HashMap<String, String>,
}

impl UidMap {
    pub fn map(&mut self, uid: &str) -> String {
        let uid = uid.trim_end_matches(['\0', ' ']);
        if uid.is_empty() {
            return String::new();
        }
        if let Some(v) = self.map.get(uid) {
            return v.clone();
        }
        let mut h1 = self.keys.0.build_hasher();
        h1.write(uid.as_bytes());
        let mut h2 = self.keys.1.build_hasher();
        h2.write(uid.as_bytes());
        // 2.25.<decimal of a 128-bit number> (PS3.5 B.2), under 64 characters.
        let v = ((h1.finish() as u128) << 64 | h2.finish() as u128) >> 1;
        let new = format!("2.25.{v}");
        self.map.insert(uid.to_string(), new.clone());
        new
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

fn dummy(vr: VR) -> PrimitiveValue {
    match vr {
        VR::DA => "19000101".into(),
        VR::TM => "000000".into(),
        VR::DT => "19000101000000".into(),
        VR::AS => "000Y".into(),
        VR::DS | VR::IS => "0".into(),
        VR::PN => "ANONYMOUS".into(),
        VR::US => PrimitiveValue::from(0u16),
        VR::SS => PrimitiveValue::from(0i16),
        VR::UL => PrimitiveValue::from(0u32),
        VR::SL => PrimitiveValue::from(0i32),
        VR::FL => PrimitiveValue::from(0f32),
        VR::FD => PrimitiveValue::from(0f64),
        _ => "ANONYMIZED".into(),
    }
}

/// Applies the basic profile to a data set, recursing into kept sequences.
pub fn deidentify(obj: &mut InMemDicomObject, uids: &mut UidMap) {
    let tag_list: Vec<Tag> = obj.tags().collect();
    for tag in tag_list {
        if tag == tags::PIXEL_DATA {
            continue;
        }
        if dropped_class(tag) {
            obj.remove_element(tag);
            continue;
        }
        let Some(vr) = obj.get(tag).map(|e| e.vr()) else {
            continue;
        };
        match action_for(tag) {
            Some(X) => {
                obj.remove_element(tag);
            }
            Some(Z) => {
                if vr == VR::SQ {
                    obj.put(DataElement::new(
                        tag,
                        VR::SQ,
                        DataSetSequence::<InMemDicomObject>::empty(),
                    ));
                } else {
                    obj.put(DataElement::new(tag, vr, PrimitiveValue::Empty));
                }
            }
            Some(D) => {
                if vr == VR::SQ {
                    obj.remove_element(tag);
                } else {
                    obj.put(DataElement::new(tag, vr, dummy(vr)));
                }
            }
            Some(U) => {
                let old: Vec<String> = obj
                    .get(tag)
                    .and_then(|e| e.to_multi_str().ok().map(|v| v.to_vec()))
                    .unwrap_or_default();
                let new: Vec<String> = old.iter().map(|u| uids.map(u)).collect();
                obj.put(DataElement::new(
                    tag,
                    VR::UI,
                    PrimitiveValue::Strs(new.into()),
                ));
            }
            Some(K) | None => {
                if vr == VR::SQ {
                    obj.update_value(tag, |v| {
                        if let Value::Sequence(seq) = v {
                            for item in seq.items_mut().iter_mut() {
                                deidentify(item, uids);
                            }
                        }
                    });
                }
            }
        }
    }
}

/// Marks the object as de-identified (PS3.15 E.1.1, PS3.3 C.7.1.1).
fn mark_deidentified(obj: &mut InMemDicomObject) {
    obj.put(DataElement::new(
        tags::PATIENT_IDENTITY_REMOVED,
        VR::CS,
        "YES",
    ));
    obj.put(DataElement::new(
        tags::DEIDENTIFICATION_METHOD,
        VR::LO,
        "PS3.15 Basic Application Confidentiality Profile (Stratum)",
    ));
    let code = InMemDicomObject::from_element_iter([
        DataElement::new(tags::CODE_VALUE, VR::SH, "113100"),
        DataElement::new(tags::CODING_SCHEME_DESIGNATOR, VR::SH, "DCM"),
        DataElement::new(
            tags::CODE_MEANING,
            VR::LO,
            "Basic Application Confidentiality Profile",
        ),
    ]);
    obj.put(DataElement::new(
        tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![code]),
    ));
}

/// What an anonymization run did.
#[derive(Debug, Default, Clone)]
pub struct AnonymizeSummary {
    pub files_written: usize,
    pub uids_remapped: usize,
    /// Non-DICOM files, not copied.
    pub ignored: usize,
    pub outputs: Vec<PathBuf>,
}

/// Writes a de-identified copy of every DICOM file under `input` into
/// `output`, named by series and position (`series-01/IM00001.dcm`), since
/// original file and folder names often carry patient names.
#[tracing::instrument(level = "info", skip_all)]
pub fn anonymize(input: &Path, output: &Path, progress: &Progress) -> Result<AnonymizeSummary> {
    if !input.exists() {
        return Err(CoreError::NotFound {
            path: input.to_path_buf(),
        });
    }
    crate::base::atomic::create_folder(output)?;
    let in_abs = input.canonicalize().map_err(|e| CoreError::io(input, e))?;
    let out_abs = output
        .canonicalize()
        .map_err(|e| CoreError::io(output, e))?;
    if out_abs.starts_with(&in_abs) && in_abs.is_dir() {
        return Err(CoreError::OutputInsideInput {
            output: output.to_path_buf(),
        });
    }
    let scan = scan::scan(input, progress)?;
    let series: Vec<&scan::Series> = scan.series.iter().collect();
    let mut summary = anonymize_series(&series, &scan.skipped, output, progress)?;
    summary.ignored = scan.ignored;
    Ok(summary)
}

/// Writes a de-identified copy of `series` (and of the DICOM files without
/// an image listed in `skipped`) into `output`: `series-01/IM00001.dcm`
/// for the first, and so on. `stratum batch` copies one series of a folder
/// that holds several this way.
pub fn anonymize_series(
    series: &[&scan::Series],
    skipped: &[(PathBuf, String)],
    output: &Path,
    progress: &Progress,
) -> Result<AnonymizeSummary> {
    crate::base::atomic::create_folder(output)?;
    // Folders a killed run left half-written (`.series-01.PID.tmp`) are
    // removed first; they never carry a final name.
    crate::base::atomic::remove_stale_temps_any(output);
    // (source file, output folder name, output file name)
    let mut jobs: Vec<(PathBuf, String, String)> = Vec::new();
    for (k, s) in series.iter().enumerate() {
        let dir = format!("series-{:02}", k + 1);
        let mut seen = std::collections::HashSet::new();
        let mut n = 0;
        for sl in &s.slices {
            if seen.insert(sl.file) {
                n += 1;
                jobs.push((
                    s.files[sl.file].path.clone(),
                    dir.clone(),
                    format!("IM{n:05}.dcm"),
                ));
            }
        }
        // Files of the series without a usable position still get copied.
        for (fi, f) in s.files.iter().enumerate() {
            if !seen.contains(&fi) {
                n += 1;
                jobs.push((f.path.clone(), dir.clone(), format!("IM{n:05}.dcm")));
            }
        }
    }
    for (i, (p, _)) in skipped.iter().enumerate() {
        jobs.push((p.clone(), "other".into(), format!("OBJ{:05}.dcm", i + 1)));
    }
    progress.begin("anonymizing", jobs.len() as u64);
    let mut uids = UidMap::default();
    let mut summary = AnonymizeSummary::default();
    // Each folder is written under a temporary name and renamed when whole,
    // so after a kill at any moment a series folder is absent or complete.
    let mut i = 0;
    while i < jobs.len() {
        let folder = jobs[i].1.clone();
        let end = i + jobs[i..].iter().take_while(|j| j.1 == folder).count();
        let tmp = crate::base::atomic::temp_path(output, &folder, "");
        let _ = std::fs::remove_dir_all(&tmp);
        let mut written = Vec::new();
        for (src, _, name) in &jobs[i..end] {
            progress.check()?;
            let opened = crate::dicom::lengths::parse_bounded(src, || {
                dicom_object::open_file(src).map_err(|e| CoreError::NotDicom {
                    path: src.clone(),
                    reason: first_line(&e.to_string()),
                })
            });
            let mut obj = match opened {
                Ok(o) => o,
                // Unreadable files in the skipped list are left out; they were reported by the scan.
                _ => {
                    progress.advance(1);
                    continue;
                }
            };
            deidentify(&mut obj, &mut uids);
            mark_deidentified(&mut obj);
            let new_sop = obj
                .get(tags::SOP_INSTANCE_UID)
                .and_then(|e| e.to_str().ok().map(|s| s.to_string()))
                .unwrap_or_else(|| uids.map(&obj.meta().media_storage_sop_instance_uid));
            obj.update_meta(|m| {
                m.media_storage_sop_instance_uid = new_sop;
            });
            write_atomic(&tmp.join(name), |w| {
                obj.write_all(w).map_err(|e| first_line(&e.to_string()))
            })?;
            written.push(output.join(&folder).join(name));
            progress.advance(1);
        }
        if !written.is_empty() {
            crate::base::atomic::replace_folder(&tmp, &output.join(&folder))?;
        }
        summary.files_written += written.len();
        summary.outputs.extend(written);
        i = end;
    }
    summary.uids_remapped = uids.len();
    Ok(summary)
}
