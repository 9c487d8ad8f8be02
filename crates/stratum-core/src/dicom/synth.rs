//! A small DICOM series writer for tests and demos: a CT stack whose voxel
//! values are a known function of patient position, with the defects real
//! series have (a dropped slice, gantry tilt, jittered spacing, metal,
//! identifying data) and optional RLE Lossless compression.

use std::path::{Path, PathBuf};

use dicom_core::value::{DataSetSequence, PixelFragmentSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

use crate::base::error::{CoreError, Result};

/// What to generate. Positions are LPS millimetres.
#[derive(Clone, Debug)]
pub struct SynthOptions {
    pub rows: u32,
    pub columns: u32,
    pub slices: usize,
    /// (between rows, between columns) mm
    pub pixel_spacing: [f64; 2],
    /// Table step between slices (mm).
    pub step: f64,
    /// Gantry tilt about the patient's left-right axis (degrees): the image
    /// plane tilts while the table still moves along z.
    pub tilt_deg: f64,
    /// Shift each slice by up to this fraction of `step` (deterministic).
    pub jitter: f64,
    /// Index (0-based, in table order) of a slice whose file is not written.
    pub drop_slice: Option<usize>,
    /// Write RLE Lossless instead of explicit VR little endian.
    pub rle: bool,
    /// Put a 3000 HU "metal" disc in these slices.
    pub metal_slices: Vec<usize>,
    /// Write patient-identifying attributes and a private block.
    pub phi: bool,
    /// InstanceNumber 1 is the most superior slice (as scanners often do),
    /// so sorting by number would be wrong.
    pub reverse_numbers: bool,
    /// Series UID suffix, to make several distinct series.
    pub series: u32,
    /// Leave the pixel data out of this slice's file (a broken export).
    pub no_pixels_slice: Option<usize>,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            rows: 48,
            columns: 64,
            slices: 20,
            pixel_spacing: [0.8, 0.7],
            step: 2.5,
            tilt_deg: 0.0,
            jitter: 0.0,
            drop_slice: None,
            rle: false,
            metal_slices: Vec::new(),
            phi: true,
            reverse_numbers: true,
            series: 1,
            no_pixels_slice: None,
        }
    }
}

/// The phantom: a linear ramp, so linear interpolation reproduces it exactly
/// (up to rounding) and any geometry error shows as a value error.
pub fn phantom_hu(p: [f64; 3]) -> f64 {
    100.0 + 3.0 * p[0] + 2.0 * p[1] + 5.0 * p[2]
}

/// Fake identifying values written with `phi`; tests look for them.
pub const FAKE_PATIENT_NAME: &str = "DOE^JANE^SYNTH";
pub const FAKE_PATIENT_ID: &str = "PID-778899";
pub const FAKE_BIRTH_DATE: &str = "19610203";
pub const FAKE_INSTITUTION: &str = "SAINT EXAMPLE HOSPITAL";

/// One written slice.
#[derive(Clone, Debug)]
pub struct SynthSlice {
    pub path: PathBuf,
    pub position: [f64; 3],
    pub instance_number: i32,
    pub sop_instance_uid: String,
}

/// Deterministic jitter in [-1, 1] for slice `k`.
fn jitter_unit(k: usize) -> f64 {
    let x = (k as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17)
        ^ 0xD1B5_4A32_D192_ED03;
    ((x >> 11) as f64 / (1u64 << 53) as f64) * 2.0 - 1.0
}

/// Writes the series into `dir` (created), one file per slice.
pub fn write_series(dir: &Path, o: &SynthOptions) -> Result<Vec<SynthSlice>> {
    std::fs::create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
    let t = o.tilt_deg.to_radians();
    let row_dir = [1.0, 0.0, 0.0];
    // Tilt about x: the column direction gains a z component.
    let col_dir = [0.0, t.cos(), -t.sin()];
    let study_uid = format!("1.2.826.0.1.3680043.10.1234.1.{}", o.series);
    let series_uid = format!("1.2.826.0.1.3680043.10.1234.2.{}", o.series);
    let for_uid = format!("1.2.826.0.1.3680043.10.1234.3.{}", o.series);
    let x0 = -(o.columns as f64 - 1.0) * o.pixel_spacing[1] / 2.0;
    let y0 = -(o.rows as f64 - 1.0) * o.pixel_spacing[0] / 2.0;
    let z0 = -(o.slices as f64 - 1.0) * o.step / 2.0;
    let mut out = Vec::new();
    let mut prev_sop: Option<String> = None;
    for k in 0..o.slices {
        let z = z0 + k as f64 * o.step + o.jitter * o.step * jitter_unit(k);
        let position = [x0, y0, z];
        let instance = if o.reverse_numbers {
            (o.slices - k) as i32
        } else {
            k as i32 + 1
        };
        let sop = format!("1.2.826.0.1.3680043.10.1234.4.{}.{}", o.series, instance);
        if o.drop_slice == Some(k) {
            continue;
        }
        let mut pixels = vec![0i16; (o.rows * o.columns) as usize];
        for r in 0..o.rows as usize {
            for c in 0..o.columns as usize {
                let (dc, dr) = (c as f64 * o.pixel_spacing[1], r as f64 * o.pixel_spacing[0]);
                let p = [
                    position[0] + dc * row_dir[0] + dr * col_dir[0],
                    position[1] + dc * row_dir[1] + dr * col_dir[1],
                    position[2] + dc * row_dir[2] + dr * col_dir[2],
                ];
                let mut v = phantom_hu(p);
                if o.metal_slices.contains(&k) {
                    let (cx, cy) = (o.columns as f64 / 2.0, o.rows as f64 / 2.0);
                    if (c as f64 - cx).powi(2) + (r as f64 - cy).powi(2) < 25.0 {
                        v = 3000.0;
                    }
                }
                // Stored value = HU + 1024 (RescaleIntercept -1024).
                pixels[r * o.columns as usize + c] = (v.round() + 1024.0) as i16;
            }
        }
        let mut obj = InMemDicomObject::new_empty();
        let mut put = |tag: Tag, vr: VR, v: PrimitiveValue| {
            obj.put(DataElement::new(tag, vr, v));
        };
        put(tags::SOP_CLASS_UID, VR::UI, uids::CT_IMAGE_STORAGE.into());
        put(tags::SOP_INSTANCE_UID, VR::UI, sop.as_str().into());
        put(tags::STUDY_INSTANCE_UID, VR::UI, study_uid.as_str().into());
        put(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            series_uid.as_str().into(),
        );
        put(
            tags::FRAME_OF_REFERENCE_UID,
            VR::UI,
            for_uid.as_str().into(),
        );
        put(tags::MODALITY, VR::CS, "CT".into());
        put(tags::SERIES_DESCRIPTION, VR::LO, "SYNTHETIC RAMP".into());
        put(
            tags::SERIES_NUMBER,
            VR::IS,
            PrimitiveValue::from(o.series.to_string()),
        );
        put(
            tags::INSTANCE_NUMBER,
            VR::IS,
            PrimitiveValue::from(instance.to_string()),
        );
        put(
            tags::IMAGE_TYPE,
            VR::CS,
            PrimitiveValue::Strs(
                ["ORIGINAL", "PRIMARY", "AXIAL"]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
            ),
        );
        put(
            tags::IMAGE_POSITION_PATIENT,
            VR::DS,
            PrimitiveValue::Strs(position.iter().map(|v| format!("{v:.6}")).collect()),
        );
        put(
            tags::IMAGE_ORIENTATION_PATIENT,
            VR::DS,
            PrimitiveValue::Strs(
                row_dir
                    .iter()
                    .chain(col_dir.iter())
                    .map(|v| format!("{v:.8}"))
                    .collect(),
            ),
        );
        put(
            tags::PIXEL_SPACING,
            VR::DS,
            PrimitiveValue::Strs(o.pixel_spacing.iter().map(|v| format!("{v}")).collect()),
        );
        put(
            tags::SLICE_THICKNESS,
            VR::DS,
            PrimitiveValue::from(format!("{}", o.step)),
        );
        if o.tilt_deg != 0.0 {
            put(
                tags::GANTRY_DETECTOR_TILT,
                VR::DS,
                PrimitiveValue::from(format!("{}", o.tilt_deg)),
            );
        }
        put(tags::ROWS, VR::US, PrimitiveValue::from(o.rows as u16));
        put(
            tags::COLUMNS,
            VR::US,
            PrimitiveValue::from(o.columns as u16),
        );
        put(tags::SAMPLES_PER_PIXEL, VR::US, PrimitiveValue::from(1u16));
        put(
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            "MONOCHROME2".into(),
        );
        put(tags::BITS_ALLOCATED, VR::US, PrimitiveValue::from(16u16));
        put(tags::BITS_STORED, VR::US, PrimitiveValue::from(16u16));
        put(tags::HIGH_BIT, VR::US, PrimitiveValue::from(15u16));
        put(
            tags::PIXEL_REPRESENTATION,
            VR::US,
            PrimitiveValue::from(1u16),
        );
        put(tags::RESCALE_INTERCEPT, VR::DS, "-1024".into());
        put(tags::RESCALE_SLOPE, VR::DS, "1".into());
        if o.phi {
            put(tags::PATIENT_NAME, VR::PN, FAKE_PATIENT_NAME.into());
            put(tags::PATIENT_ID, VR::LO, FAKE_PATIENT_ID.into());
            put(tags::PATIENT_BIRTH_DATE, VR::DA, FAKE_BIRTH_DATE.into());
            put(tags::PATIENT_SEX, VR::CS, "F".into());
            put(Tag(0x0010, 0x1040), VR::LO, "1 EXAMPLE STREET".into());
            put(Tag(0x0010, 0x1000), VR::LO, "OTHER-ID-1".into());
            put(tags::INSTITUTION_NAME, VR::LO, FAKE_INSTITUTION.into());
            put(tags::REFERRING_PHYSICIAN_NAME, VR::PN, "WHO^DOCTOR".into());
            put(tags::ACCESSION_NUMBER, VR::SH, "ACC-4455".into());
            put(tags::STUDY_DATE, VR::DA, "20240102".into());
            put(tags::STUDY_TIME, VR::TM, "101112".into());
            put(tags::STUDY_ID, VR::SH, "STUDY-9".into());
            put(tags::OPERATORS_NAME, VR::PN, "OPERATOR^ONE".into());
            put(Tag(0x0011, 0x0010), VR::LO, "STRATUM PHI".into());
            put(Tag(0x0011, 0x1001), VR::LO, FAKE_PATIENT_NAME.into());
        }
        if let Some(prev) = &prev_sop {
            let item = InMemDicomObject::from_element_iter([
                DataElement::new(
                    tags::REFERENCED_SOP_CLASS_UID,
                    VR::UI,
                    PrimitiveValue::from(uids::CT_IMAGE_STORAGE),
                ),
                DataElement::new(
                    tags::REFERENCED_SOP_INSTANCE_UID,
                    VR::UI,
                    PrimitiveValue::from(prev.as_str()),
                ),
            ]);
            obj.put(DataElement::new(
                tags::REFERENCED_IMAGE_SEQUENCE,
                VR::SQ,
                DataSetSequence::from(vec![item]),
            ));
        }
        prev_sop = Some(sop.clone());
        let ts = if o.rle {
            uids::RLE_LOSSLESS
        } else {
            uids::EXPLICIT_VR_LITTLE_ENDIAN
        };
        if o.no_pixels_slice != Some(k) {
            if o.rle {
                let frame = rle_encode_u16(&pixels.iter().map(|v| *v as u16).collect::<Vec<_>>());
                obj.put(DataElement::new(
                    tags::PIXEL_DATA,
                    VR::OB,
                    Value::PixelSequence(PixelFragmentSequence::new(
                        Vec::<u32>::new(),
                        vec![frame],
                    )),
                ));
            } else {
                let bytes: Vec<u8> = pixels.iter().flat_map(|v| v.to_le_bytes()).collect();
                obj.put(DataElement::new(
                    tags::PIXEL_DATA,
                    VR::OW,
                    PrimitiveValue::from(bytes),
                ));
            }
        }
        let file = obj
            .with_meta(
                FileMetaTableBuilder::new()
                    .media_storage_sop_class_uid(uids::CT_IMAGE_STORAGE)
                    .media_storage_sop_instance_uid(sop.as_str())
                    .transfer_syntax(ts),
            )
            .map_err(|e| CoreError::Write {
                path: dir.join(format!("slice{k:04}.dcm")),
                reason: e.to_string(),
            })?;
        let path = dir.join(format!("slice{k:04}.dcm"));
        file.write_to_file(&path).map_err(|e| CoreError::Write {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        out.push(SynthSlice {
            path,
            position,
            instance_number: instance,
            sop_instance_uid: sop,
        });
    }
    Ok(out)
}

/// DICOM RLE Lossless (PS3.5 G) of one 16-bit frame: two byte planes, most
/// significant first, each PackBits-encoded.
pub fn rle_encode_u16(pixels: &[u16]) -> Vec<u8> {
    let hi: Vec<u8> = pixels.iter().map(|v| (v >> 8) as u8).collect();
    let lo: Vec<u8> = pixels.iter().map(|v| (v & 0xFF) as u8).collect();
    let segs = [packbits(&hi), packbits(&lo)];
    let mut out = vec![0u8; 64];
    out[0..4].copy_from_slice(&2u32.to_le_bytes());
    let mut offset = 64u32;
    for (i, s) in segs.iter().enumerate() {
        out[4 + 4 * i..8 + 4 * i].copy_from_slice(&offset.to_le_bytes());
        offset += s.len() as u32;
    }
    for s in segs {
        out.extend_from_slice(&s);
    }
    if out.len() % 2 == 1 {
        out.push(0);
    }
    out
}

fn packbits(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        // Run of equal bytes?
        let mut run = 1;
        while i + run < data.len() && run < 128 && data[i + run] == data[i] {
            run += 1;
        }
        if run >= 2 {
            out.push((1i16 - run as i16) as i8 as u8);
            out.push(data[i]);
            i += run;
            continue;
        }
        // Literal run until the next repeat.
        let start = i;
        let mut len = 0;
        while i < data.len() && len < 128 {
            if i + 1 < data.len() && data[i + 1] == data[i] {
                break;
            }
            i += 1;
            len += 1;
        }
        if len == 0 {
            // A single byte followed by its repeat: emit it as a literal.
            i += 1;
            len = 1;
        }
        out.push((len - 1) as u8);
        out.extend_from_slice(&data[start..start + len]);
    }
    out
}
