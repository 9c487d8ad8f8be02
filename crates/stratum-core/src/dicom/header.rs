//! Reads what the pipeline needs from a DICOM header: identity of the series,
//! image layout, and per-frame geometry (classic single-frame files and
//! enhanced multi-frame files alike).

use std::path::{Path, PathBuf};

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::{InMemDicomObject, OpenFileOptions};

use super::mosaic::{self, MosaicLayout};
use crate::base::error::{CoreError, Result};

/// Geometry and value mapping of one frame (one 2D image).
#[derive(Clone, Debug, PartialEq)]
pub struct FrameInfo {
    /// Frame index inside its file (0 for single-frame files).
    pub frame: u32,
    /// ImagePositionPatient: LPS (mm) of the centre of the first pixel.
    pub position: Option<[f64; 3]>,
    /// ImageOrientationPatient: row direction then column direction.
    pub orientation: Option<[f64; 6]>,
    /// PixelSpacing: (between rows, between columns) in mm.
    pub pixel_spacing: Option<[f64; 2]>,
    pub slope: f64,
    pub intercept: f64,
    /// What tells frames of different stacks apart when they share a file
    /// or a series (frame type, stack, temporal position); empty for classic files.
    pub stack_key: String,
}

/// The header of one DICOM image file, without its pixel data.
#[derive(Clone, Debug)]
pub struct ImageHeader {
    pub path: PathBuf,
    pub sop_instance_uid: String,
    pub sop_class_uid: String,
    pub series_uid: String,
    pub study_uid: String,
    pub frame_of_reference_uid: String,
    pub modality: String,
    pub series_description: String,
    pub series_number: Option<i32>,
    pub instance_number: Option<i32>,
    pub acquisition_number: Option<i32>,
    pub echo_number: Option<i32>,
    pub temporal_position: Option<i32>,
    pub image_type: String,
    pub rows: u32,
    pub columns: u32,
    pub samples_per_pixel: u16,
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub pixel_representation: u16,
    pub photometric: String,
    pub transfer_syntax: String,
    pub number_of_frames: u32,
    /// GantryDetectorTilt as written (for the report only: geometry never uses it).
    pub gantry_tilt_tag: Option<f64>,
    pub slice_thickness: Option<f64>,
    pub spacing_between_slices: Option<f64>,
    /// ContrastBolusAgent as written (a drug name, for the fitness line).
    pub contrast_agent: Option<String>,
    /// ContrastBolusAgentPhase (enhanced images), e.g. "POST_CONTRAST".
    pub contrast_phase: Option<String>,
    /// A Siemens mosaic unpacked: `frames` then holds one entry per tile
    /// (the stored image is frame 0) and `rows`/`columns` stay the stored size.
    pub mosaic: Option<MosaicLayout>,
    /// ImageType says MOSAIC but the tiles could not be found: why.
    pub mosaic_problem: Option<&'static str>,
    pub frames: Vec<FrameInfo>,
    /// Names of patient-identifying attributes present with a value.
    pub identifying: Vec<&'static str>,
    pub has_private: bool,
    /// The pixels may show identifying text: BurnedInAnnotation is YES, or
    /// the image is a secondary capture (a screenshot, a scanned document).
    pub burned_in: bool,
    /// True for enhanced multi-frame objects (per-frame functional groups).
    pub enhanced: bool,
}

impl ImageHeader {
    /// Rows of one slice: a mosaic's tile, else the stored image.
    pub fn slice_rows(&self) -> u32 {
        self.mosaic.map_or(self.rows, |m| m.tile_rows)
    }

    /// Columns of one slice: a mosaic's tile, else the stored image.
    pub fn slice_columns(&self) -> u32 {
        self.mosaic.map_or(self.columns, |m| m.tile_columns)
    }
}

/// Attributes whose presence the privacy check reports (names only).
pub const IDENTIFYING_ATTRIBUTES: &[(Tag, &str)] = &[
    (tags::PATIENT_NAME, "PatientName"),
    (tags::PATIENT_ID, "PatientID"),
    (tags::PATIENT_BIRTH_DATE, "PatientBirthDate"),
    (tags::PATIENT_BIRTH_TIME, "PatientBirthTime"),
    (Tag(0x0010, 0x1000), "OtherPatientIDs"),
    (tags::OTHER_PATIENT_NAMES, "OtherPatientNames"),
    (tags::PATIENT_ADDRESS, "PatientAddress"),
    (tags::PATIENT_TELEPHONE_NUMBERS, "PatientTelephoneNumbers"),
    (tags::PATIENT_MOTHER_BIRTH_NAME, "PatientMotherBirthName"),
    (Tag(0x0010, 0x1090), "MedicalRecordLocator"),
    (tags::ACCESSION_NUMBER, "AccessionNumber"),
    (tags::INSTITUTION_NAME, "InstitutionName"),
    (tags::INSTITUTION_ADDRESS, "InstitutionAddress"),
    (tags::REFERRING_PHYSICIAN_NAME, "ReferringPhysicianName"),
    (tags::PERFORMING_PHYSICIAN_NAME, "PerformingPhysicianName"),
    (tags::OPERATORS_NAME, "OperatorsName"),
    (tags::PHYSICIANS_OF_RECORD, "PhysiciansOfRecord"),
    (
        tags::NAME_OF_PHYSICIANS_READING_STUDY,
        "NameOfPhysiciansReadingStudy",
    ),
    (tags::STATION_NAME, "StationName"),
    (tags::DEVICE_SERIAL_NUMBER, "DeviceSerialNumber"),
    (tags::STUDY_ID, "StudyID"),
    (tags::STUDY_DATE, "StudyDate"),
    (tags::PATIENT_AGE, "PatientAge"),
    (tags::PATIENT_SEX, "PatientSex"),
];

/// Most frames one file may claim: enhanced CT/MR files hold a few
/// thousand; 100000 leaves room for long cine series.
pub const MAX_FRAMES: u32 = 100_000;

pub(crate) fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let e = obj.get(tag)?;
    let s = e.to_str().ok()?;
    let s = s.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    if s.is_empty() {
        None
    } else {
        Some(s.to_string())
    }
}

fn int(obj: &InMemDicomObject, tag: Tag) -> Option<i32> {
    let e = obj.get(tag)?;
    e.to_int::<i32>().ok().or_else(|| {
        e.to_str()
            .ok()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .map(|f| f as i32)
    })
}

fn floats(obj: &InMemDicomObject, tag: Tag) -> Option<Vec<f64>> {
    let e = obj.get(tag)?;
    let v = e.to_multi_float64().ok()?;
    if v.is_empty() || v.iter().any(|x| !x.is_finite()) {
        None
    } else {
        Some(v)
    }
}

fn float(obj: &InMemDicomObject, tag: Tag) -> Option<f64> {
    floats(obj, tag).and_then(|v| v.first().copied())
}

fn first_item(obj: &InMemDicomObject, tag: Tag) -> Option<&InMemDicomObject> {
    obj.get(tag)?.items()?.first()
}

fn arr<const N: usize>(v: Option<Vec<f64>>) -> Option<[f64; N]> {
    let v = v?;
    if v.len() < N {
        return None;
    }
    let mut a = [0.0; N];
    a.copy_from_slice(&v[..N]);
    Some(a)
}

/// Cheap test of whether a file looks like DICOM: the "DICM" magic at 128,
/// or (for old preamble-less files) a plausible group 0008 first element.
pub fn looks_like_dicom(path: &Path) -> bool {
    use std::io::Read;
    let Ok(mut f) = std::fs::File::open(path) else {
        return false;
    };
    let mut buf = [0u8; 132];
    let n = f.read(&mut buf).unwrap_or(0);
    if n >= 132 && &buf[128..132] == b"DICM" {
        return true;
    }
    // Preamble-less dataset: starts with (0008,xxxx) or (0002,xxxx) little endian.
    n >= 8 && (buf[0] == 0x08 || buf[0] == 0x02) && buf[1] == 0x00 && buf[3] == 0x00
}

/// Opens a DICOM file and reads its header up to (not including) the pixel data.
pub fn read_header(path: &Path) -> Result<ImageHeader> {
    let obj = super::lengths::parse_bounded(path, || {
        OpenFileOptions::new()
            .read_until(tags::PIXEL_DATA)
            .open_file(path)
            .map_err(|e| CoreError::NotDicom {
                path: path.to_path_buf(),
                reason: first_line(&e.to_string()),
            })
    })?;
    let ts = obj
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_string();
    let sop_class = obj
        .meta()
        .media_storage_sop_class_uid()
        .trim_end_matches('\0')
        .to_string();
    header_from_object(path, &obj, ts, sop_class)
}

pub(crate) fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or("").to_string()
}

fn header_from_object(
    path: &Path,
    obj: &InMemDicomObject,
    transfer_syntax: String,
    meta_sop_class: String,
) -> Result<ImageHeader> {
    let bad = |attribute: &'static str, hint: &'static str| CoreError::BadAttribute {
        path: path.to_path_buf(),
        attribute,
        hint,
    };
    let rows = int(obj, tags::ROWS).ok_or_else(|| {
        bad(
            "Rows",
            "the file holds no image (a report, a structured document or a DICOMDIR?)",
        )
    })?;
    let columns =
        int(obj, tags::COLUMNS).ok_or_else(|| bad("Columns", "the file holds no image"))?;
    if rows <= 0 || columns <= 0 {
        return Err(bad("Rows/Columns", "the image size must be positive"));
    }
    if rows as u64 * columns as u64 > crate::base::memory::MAX_SIDE * crate::base::memory::MAX_SIDE
    {
        return Err(bad(
            "Rows/Columns",
            "the image size is larger than DICOM allows",
        ));
    }
    let number_of_frames = int(obj, tags::NUMBER_OF_FRAMES).unwrap_or(1).max(1) as u32;
    // Checked before the per-frame table is built: a damaged header must
    // not make the reader allocate billions of entries.
    if number_of_frames > MAX_FRAMES {
        return Err(bad(
            "NumberOfFrames",
            "more frames than any scan holds (the limit is 100000); the file is probably damaged",
        ));
    }

    let classic_slope = float(obj, tags::RESCALE_SLOPE)
        .filter(|s| *s != 0.0)
        .unwrap_or(1.0);
    let classic_intercept = float(obj, tags::RESCALE_INTERCEPT).unwrap_or(0.0);

    let per_frame = obj
        .get(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE)
        .and_then(|e| e.items())
        .filter(|items| !items.is_empty());
    let shared = first_item(obj, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE);

    let mut frames = Vec::with_capacity(number_of_frames as usize);
    let mut mosaic_layout = None;
    let mut mosaic_problem = None;
    let enhanced = per_frame.is_some();
    if let Some(items) = per_frame {
        // Enhanced multi-frame: each frame's groups, falling back to the shared ones.
        for (i, item) in items.iter().enumerate().take(number_of_frames as usize) {
            let group = |seq: Tag| {
                first_item(item, seq).or_else(|| shared.and_then(|s| first_item(s, seq)))
            };
            let position = group(tags::PLANE_POSITION_SEQUENCE)
                .and_then(|g| arr::<3>(floats(g, tags::IMAGE_POSITION_PATIENT)));
            let orientation = group(tags::PLANE_ORIENTATION_SEQUENCE)
                .and_then(|g| arr::<6>(floats(g, tags::IMAGE_ORIENTATION_PATIENT)));
            let pixel_spacing = group(tags::PIXEL_MEASURES_SEQUENCE)
                .and_then(|g| arr::<2>(floats(g, tags::PIXEL_SPACING)));
            let pvt = group(tags::PIXEL_VALUE_TRANSFORMATION_SEQUENCE);
            let slope = pvt
                .and_then(|g| float(g, tags::RESCALE_SLOPE))
                .filter(|s| *s != 0.0)
                .unwrap_or(classic_slope);
            let intercept = pvt
                .and_then(|g| float(g, tags::RESCALE_INTERCEPT))
                .unwrap_or(classic_intercept);
            let frame_type = group(tags::MR_IMAGE_FRAME_TYPE_SEQUENCE)
                .or_else(|| group(tags::CT_IMAGE_FRAME_TYPE_SEQUENCE))
                .and_then(|g| text(g, tags::FRAME_TYPE))
                .unwrap_or_default();
            let content = group(tags::FRAME_CONTENT_SEQUENCE);
            let stack = content
                .and_then(|g| text(g, tags::STACK_ID))
                .unwrap_or_default();
            let temporal = content
                .and_then(|g| int(g, tags::TEMPORAL_POSITION_INDEX))
                .map(|t| t.to_string())
                .unwrap_or_default();
            let echo = group(tags::MR_ECHO_SEQUENCE)
                .and_then(|g| float(g, tags::EFFECTIVE_ECHO_TIME))
                .map(|t| format!("{t:.3}"))
                .unwrap_or_default();
            frames.push(FrameInfo {
                frame: i as u32,
                position,
                orientation,
                pixel_spacing,
                slope,
                intercept,
                stack_key: format!("{frame_type}|{stack}|{temporal}|{echo}"),
            });
        }
    } else {
        let position = arr::<3>(floats(obj, tags::IMAGE_POSITION_PATIENT));
        let orientation = arr::<6>(floats(obj, tags::IMAGE_ORIENTATION_PATIENT));
        let pixel_spacing = arr::<2>(floats(obj, tags::PIXEL_SPACING))
            .or_else(|| arr::<2>(floats(obj, tags::IMAGER_PIXEL_SPACING)));
        let is_mosaic = number_of_frames == 1
            && text(obj, tags::IMAGE_TYPE)
                .is_some_and(|t| t.to_ascii_uppercase().contains("MOSAIC"));
        if is_mosaic {
            let step = float(obj, tags::SPACING_BETWEEN_SLICES)
                .or_else(|| float(obj, tags::SLICE_THICKNESS));
            let unpacked = match (position, orientation, pixel_spacing) {
                (Some(p), Some(o), Some(s)) => {
                    mosaic::unpack(obj, rows as u32, columns as u32, p, o, s, step)
                }
                _ => Err("its position, orientation or pixel spacing is missing"),
            };
            match unpacked {
                Ok(m) => {
                    for (k, p) in m.positions.into_iter().enumerate() {
                        frames.push(FrameInfo {
                            frame: k as u32,
                            position: Some(p),
                            orientation,
                            pixel_spacing,
                            slope: classic_slope,
                            intercept: classic_intercept,
                            stack_key: String::new(),
                        });
                    }
                    mosaic_layout = Some(m.layout);
                }
                Err(why) => mosaic_problem = Some(why),
            }
        }
        for f in 0..number_of_frames {
            if mosaic_layout.is_some() {
                break;
            }
            frames.push(FrameInfo {
                frame: f,
                position,
                orientation,
                pixel_spacing,
                slope: classic_slope,
                intercept: classic_intercept,
                stack_key: String::new(),
            });
        }
    }

    let identifying = IDENTIFYING_ATTRIBUTES
        .iter()
        .filter(|(tag, _)| text(obj, *tag).is_some())
        .map(|(_, name)| *name)
        .collect();
    let has_private = obj.tags().any(|t| t.group() % 2 == 1);
    let sop_class = text(obj, tags::SOP_CLASS_UID).unwrap_or(meta_sop_class);
    // Secondary Capture and its multi-frame variants (PS3.4 B.5).
    let secondary_capture = sop_class.starts_with("1.2.840.10008.5.1.4.1.1.7");
    let burned_in = secondary_capture
        || text(obj, tags::BURNED_IN_ANNOTATION).is_some_and(|v| v.eq_ignore_ascii_case("YES"));

    Ok(ImageHeader {
        path: path.to_path_buf(),
        sop_instance_uid: text(obj, tags::SOP_INSTANCE_UID).unwrap_or_default(),
        sop_class_uid: sop_class,
        series_uid: text(obj, tags::SERIES_INSTANCE_UID).unwrap_or_default(),
        study_uid: text(obj, tags::STUDY_INSTANCE_UID).unwrap_or_default(),
        frame_of_reference_uid: text(obj, tags::FRAME_OF_REFERENCE_UID).unwrap_or_default(),
        modality: text(obj, tags::MODALITY).unwrap_or_else(|| "OT".into()),
        series_description: text(obj, tags::SERIES_DESCRIPTION).unwrap_or_default(),
        series_number: int(obj, tags::SERIES_NUMBER),
        instance_number: int(obj, tags::INSTANCE_NUMBER),
        acquisition_number: int(obj, tags::ACQUISITION_NUMBER),
        echo_number: int(obj, tags::ECHO_NUMBERS),
        temporal_position: int(obj, tags::TEMPORAL_POSITION_IDENTIFIER),
        image_type: text(obj, tags::IMAGE_TYPE).unwrap_or_default(),
        rows: rows as u32,
        columns: columns as u32,
        samples_per_pixel: int(obj, tags::SAMPLES_PER_PIXEL).unwrap_or(1) as u16,
        bits_allocated: int(obj, tags::BITS_ALLOCATED).unwrap_or(16) as u16,
        bits_stored: int(obj, tags::BITS_STORED)
            .or_else(|| int(obj, tags::BITS_ALLOCATED))
            .unwrap_or(16) as u16,
        pixel_representation: int(obj, tags::PIXEL_REPRESENTATION).unwrap_or(0) as u16,
        photometric: text(obj, tags::PHOTOMETRIC_INTERPRETATION)
            .unwrap_or_else(|| "MONOCHROME2".into()),
        transfer_syntax,
        number_of_frames,
        gantry_tilt_tag: float(obj, tags::GANTRY_DETECTOR_TILT),
        slice_thickness: float(obj, tags::SLICE_THICKNESS),
        spacing_between_slices: float(obj, tags::SPACING_BETWEEN_SLICES),
        contrast_agent: text(obj, tags::CONTRAST_BOLUS_AGENT),
        contrast_phase: text(obj, tags::CONTRAST_BOLUS_AGENT_PHASE),
        mosaic: mosaic_layout,
        mosaic_problem,
        frames,
        identifying,
        has_private,
        burned_in,
        enhanced,
    })
}

/// Human name of a transfer syntax UID, for messages.
pub fn transfer_syntax_name(uid: &str) -> String {
    use dicom_encoding::TransferSyntaxIndex;
    use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
    TransferSyntaxRegistry
        .get(uid)
        .map(|ts| ts.name().to_string())
        .unwrap_or_else(|| format!("unknown ({uid})"))
}
