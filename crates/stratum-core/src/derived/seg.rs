//! DICOM Segmentation (SEG) writer: binary, one segment per label with its
//! name, colour (CIELab), coded anatomy and how it was made (algorithm
//! identification for AI segments), one frame per slice a segment touches,
//! on the label map's grid, each frame placed in patient space and linked
//! to the source image at its position.

use std::path::Path;

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR, dicom_value};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::codes::{Code, codes_for};
use super::{SEGMENTATION_STORAGE, Source, common, ds, new_uid, put_seq, put_str, write_object};
use crate::base::error::Result;
use crate::base::progress::Progress;
use crate::export::error::ExportError;
use crate::segment::Mask;

/// How a segment was made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegAlgorithm {
    /// Painted, or a label map of unknown origin.
    Manual,
    /// A tool a person steered (threshold preset, region growing).
    SemiAutomatic { name: String },
    /// A model: its name and version, identified as artificial intelligence.
    Automatic { name: String, version: String },
}

/// One segment to write.
#[derive(Clone, Debug)]
pub struct SegSegment<'a> {
    pub name: &'a str,
    pub colour: [u8; 3],
    pub mask: &'a Mask,
    pub algorithm: SegAlgorithm,
}

/// What was written.
#[derive(Clone, Debug)]
pub struct SegSummary {
    pub segments: usize,
    pub frames: usize,
    pub bytes: u64,
    pub series_uid: String,
    pub sop_instance_uid: String,
}

fn code_item(c: &Code) -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    put_str(&mut o, tags::CODE_VALUE, VR::SH, c.value);
    put_str(&mut o, tags::CODING_SCHEME_DESIGNATOR, VR::SH, c.scheme);
    put_str(&mut o, tags::CODE_MEANING, VR::LO, c.meaning);
    o
}

fn dcm(value: &'static str, meaning: &'static str) -> Code {
    Code {
        value,
        scheme: "DCM",
        meaning,
    }
}

/// sRGB to DICOM's scaled CIELab (PS3.3 C.10.7.1.1, D65).
fn cielab(rgb: [u8; 3]) -> [u16; 3] {
    let lin = |c: u8| {
        let c = c as f64 / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let (r, g, b) = (lin(rgb[0]), lin(rgb[1]), lin(rgb[2]));
    let x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.950_47;
    let y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    let z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.088_83;
    let f = |t: f64| {
        if t > 216.0 / 24389.0 {
            t.cbrt()
        } else {
            (24389.0 / 27.0 * t + 16.0) / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    let l = 116.0 * fy - 16.0;
    let a = 500.0 * (fx - fy);
    let bb = 200.0 * (fy - fz);
    let scale = |v: f64, lo: f64, hi: f64| {
        (((v - lo) / (hi - lo)).clamp(0.0, 1.0) * 65535.0).round() as u16
    };
    [
        scale(l, 0.0, 100.0),
        scale(a, -128.0, 127.0),
        scale(bb, -128.0, 127.0),
    ]
}

fn segment_item(number: u16, s: &SegSegment<'_>) -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    o.put(DataElement::new(
        tags::SEGMENT_NUMBER,
        VR::US,
        dicom_value!(U16, [number]),
    ));
    let label: String = s.name.chars().take(64).collect();
    put_str(
        &mut o,
        tags::SEGMENT_LABEL,
        VR::LO,
        if label.trim().is_empty() {
            "segment"
        } else {
            &label
        },
    );
    let codes = codes_for(s.name);
    put_seq(
        &mut o,
        tags::SEGMENTED_PROPERTY_CATEGORY_CODE_SEQUENCE,
        vec![code_item(&codes.category)],
    );
    let mut kind = code_item(&codes.kind);
    if let Some(m) = &codes.modifier {
        put_seq(
            &mut kind,
            tags::SEGMENTED_PROPERTY_TYPE_MODIFIER_CODE_SEQUENCE,
            vec![code_item(m)],
        );
    }
    put_seq(
        &mut o,
        tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE,
        vec![kind],
    );
    match &s.algorithm {
        SegAlgorithm::Manual => put_str(&mut o, tags::SEGMENT_ALGORITHM_TYPE, VR::CS, "MANUAL"),
        SegAlgorithm::SemiAutomatic { name } => {
            put_str(
                &mut o,
                tags::SEGMENT_ALGORITHM_TYPE,
                VR::CS,
                "SEMIAUTOMATIC",
            );
            put_str(
                &mut o,
                tags::SEGMENT_ALGORITHM_NAME,
                VR::LO,
                &name.chars().take(64).collect::<String>(),
            );
        }
        SegAlgorithm::Automatic { name, version } => {
            put_str(&mut o, tags::SEGMENT_ALGORITHM_TYPE, VR::CS, "AUTOMATIC");
            let name: String = name.chars().take(64).collect();
            put_str(&mut o, tags::SEGMENT_ALGORITHM_NAME, VR::LO, &name);
            let mut alg = InMemDicomObject::new_empty();
            put_seq(
                &mut alg,
                tags::ALGORITHM_FAMILY_CODE_SEQUENCE,
                vec![code_item(&dcm("123110", "Artificial Intelligence"))],
            );
            put_str(&mut alg, tags::ALGORITHM_NAME, VR::LO, &name);
            put_str(
                &mut alg,
                tags::ALGORITHM_VERSION,
                VR::LO,
                &version.chars().take(64).collect::<String>(),
            );
            put_seq(
                &mut o,
                tags::SEGMENTATION_ALGORITHM_IDENTIFICATION_SEQUENCE,
                vec![alg],
            );
        }
    }
    let lab = cielab(s.colour);
    o.put(DataElement::new(
        tags::RECOMMENDED_DISPLAY_CIE_LAB_VALUE,
        VR::US,
        PrimitiveValue::U16(lab.into_iter().collect()),
    ));
    o
}

fn dimension(org: &str, pointer: Tag, group: Tag, label: &str) -> InMemDicomObject {
    let mut o = InMemDicomObject::new_empty();
    put_str(&mut o, tags::DIMENSION_ORGANIZATION_UID, VR::UI, org);
    o.put(DataElement::new(
        tags::DIMENSION_INDEX_POINTER,
        VR::AT,
        PrimitiveValue::Tags([pointer].into_iter().collect()),
    ));
    o.put(DataElement::new(
        tags::FUNCTIONAL_GROUP_POINTER,
        VR::AT,
        PrimitiveValue::Tags([group].into_iter().collect()),
    ));
    put_str(&mut o, tags::DIMENSION_DESCRIPTION_LABEL, VR::LO, label);
    o
}

/// Writes `segments` (masks on one grid) as a binary DICOM SEG at `path`,
/// in `source`'s study, atomically. Empty slices get no frame.
pub fn write_seg(
    path: &Path,
    segments: &[SegSegment<'_>],
    source: &Source,
    progress: &Progress,
) -> Result<SegSummary> {
    let first = segments.first().ok_or(ExportError::NoSegment)?;
    let geometry = first.mask.geometry;
    let (nz, ny, nx) = first.mask.dim();
    if segments.iter().any(|s| s.mask.dim() != (nz, ny, nx)) {
        return Err(ExportError::GridsDiffer.into());
    }
    if segments.len() > u16::MAX as usize || nx > u16::MAX as usize || ny > u16::MAX as usize {
        return Err(ExportError::TooLargeForSeg.into());
    }
    progress.begin("writing DICOM SEG", segments.len() as u64);
    let plane = ny * nx;
    let mut frames: Vec<(u16, usize)> = Vec::new();
    let mut bits: Vec<u8> = Vec::new();
    let mut nbits = 0usize;
    for (k, s) in segments.iter().enumerate() {
        progress.check()?;
        let data = s.mask.data.as_standard_layout();
        let slice = data.as_slice().expect("standard layout");
        for z in 0..nz {
            let img = &slice[z * plane..(z + 1) * plane];
            if !img.iter().any(|v| *v != 0) {
                continue;
            }
            frames.push((k as u16 + 1, z));
            bits.resize((nbits + plane).div_ceil(8), 0);
            for (i, v) in img.iter().enumerate() {
                if *v != 0 {
                    let b = nbits + i;
                    bits[b / 8] |= 1 << (b % 8);
                }
            }
            nbits += plane;
        }
        progress.advance(1);
    }
    if frames.is_empty() {
        return Err(ExportError::EmptySegmentation.into());
    }
    if bits.len() % 2 == 1 {
        bits.push(0);
    }

    let series_uid = new_uid();
    let sop_instance = new_uid();
    let mut o = common(
        true,
        source,
        SEGMENTATION_STORAGE,
        &sop_instance,
        &series_uid,
        "SEG",
        "Segmentation (Stratum)",
        300,
    );
    o.put(DataElement::new(
        tags::IMAGE_TYPE,
        VR::CS,
        PrimitiveValue::Strs(
            ["DERIVED".to_string(), "PRIMARY".to_string()]
                .into_iter()
                .collect(),
        ),
    ));
    put_str(&mut o, tags::CONTENT_LABEL, VR::CS, "STRATUM");
    put_str(
        &mut o,
        tags::CONTENT_DESCRIPTION,
        VR::LO,
        "Segments made in Stratum",
    );
    put_str(&mut o, tags::CONTENT_CREATOR_NAME, VR::PN, "");
    put_str(&mut o, tags::SEGMENTATION_TYPE, VR::CS, "BINARY");
    put_str(&mut o, tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00");
    o.put(DataElement::new(
        tags::SAMPLES_PER_PIXEL,
        VR::US,
        dicom_value!(U16, [1]),
    ));
    put_str(
        &mut o,
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        "MONOCHROME2",
    );
    o.put(DataElement::new(
        tags::ROWS,
        VR::US,
        dicom_value!(U16, [ny as u16]),
    ));
    o.put(DataElement::new(
        tags::COLUMNS,
        VR::US,
        dicom_value!(U16, [nx as u16]),
    ));
    for t in [tags::BITS_ALLOCATED, tags::BITS_STORED] {
        o.put(DataElement::new(t, VR::US, dicom_value!(U16, [1])));
    }
    for t in [tags::HIGH_BIT, tags::PIXEL_REPRESENTATION] {
        o.put(DataElement::new(t, VR::US, dicom_value!(U16, [0])));
    }
    put_str(
        &mut o,
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        &frames.len().to_string(),
    );
    put_seq(
        &mut o,
        tags::SEGMENT_SEQUENCE,
        segments
            .iter()
            .enumerate()
            .map(|(k, s)| segment_item(k as u16 + 1, s))
            .collect(),
    );

    let org = new_uid();
    let mut org_item = InMemDicomObject::new_empty();
    put_str(
        &mut org_item,
        tags::DIMENSION_ORGANIZATION_UID,
        VR::UI,
        &org,
    );
    put_seq(
        &mut o,
        tags::DIMENSION_ORGANIZATION_SEQUENCE,
        vec![org_item],
    );
    put_str(&mut o, tags::DIMENSION_ORGANIZATION_TYPE, VR::CS, "3D");
    put_seq(
        &mut o,
        tags::DIMENSION_INDEX_SEQUENCE,
        vec![
            dimension(
                &org,
                tags::REFERENCED_SEGMENT_NUMBER,
                tags::SEGMENT_IDENTIFICATION_SEQUENCE,
                "Segment Number",
            ),
            dimension(
                &org,
                tags::IMAGE_POSITION_PATIENT,
                tags::PLANE_POSITION_SEQUENCE,
                "Image Position Patient",
            ),
        ],
    );

    let d = geometry.direction;
    let mut measures = InMemDicomObject::new_empty();
    o_strs(
        &mut measures,
        tags::PIXEL_SPACING,
        VR::DS,
        &[ds(geometry.spacing[1]), ds(geometry.spacing[0])],
    );
    put_str(
        &mut measures,
        tags::SLICE_THICKNESS,
        VR::DS,
        &ds(geometry.spacing[2]),
    );
    put_str(
        &mut measures,
        tags::SPACING_BETWEEN_SLICES,
        VR::DS,
        &ds(geometry.spacing[2]),
    );
    let mut orient = InMemDicomObject::new_empty();
    o_strs(
        &mut orient,
        tags::IMAGE_ORIENTATION_PATIENT,
        VR::DS,
        &[d[0][0], d[0][1], d[0][2], d[1][0], d[1][1], d[1][2]].map(ds),
    );
    let mut shared = InMemDicomObject::new_empty();
    put_seq(&mut shared, tags::PIXEL_MEASURES_SEQUENCE, vec![measures]);
    put_seq(&mut shared, tags::PLANE_ORIENTATION_SEQUENCE, vec![orient]);
    put_seq(
        &mut o,
        tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE,
        vec![shared],
    );

    let per_frame: Vec<InMemDicomObject> = frames
        .iter()
        .map(|&(segment, z)| {
            let p = geometry.index_to_lps([0.0, 0.0, z as f64]);
            let mut item = InMemDicomObject::new_empty();
            let mut content = InMemDicomObject::new_empty();
            content.put(DataElement::new(
                tags::DIMENSION_INDEX_VALUES,
                VR::UL,
                PrimitiveValue::U32([segment as u32, z as u32 + 1].into_iter().collect()),
            ));
            put_seq(&mut item, tags::FRAME_CONTENT_SEQUENCE, vec![content]);
            let mut pos = InMemDicomObject::new_empty();
            o_strs(&mut pos, tags::IMAGE_POSITION_PATIENT, VR::DS, &p.map(ds));
            put_seq(&mut item, tags::PLANE_POSITION_SEQUENCE, vec![pos]);
            let mut ident = InMemDicomObject::new_empty();
            ident.put(DataElement::new(
                tags::REFERENCED_SEGMENT_NUMBER,
                VR::US,
                dicom_value!(U16, [segment]),
            ));
            put_seq(
                &mut item,
                tags::SEGMENT_IDENTIFICATION_SEQUENCE,
                vec![ident],
            );
            if let Some(inst) = source.instance_at(p) {
                let mut src = InMemDicomObject::new_empty();
                put_str(
                    &mut src,
                    tags::REFERENCED_SOP_CLASS_UID,
                    VR::UI,
                    &inst.sop_class,
                );
                put_str(
                    &mut src,
                    tags::REFERENCED_SOP_INSTANCE_UID,
                    VR::UI,
                    &inst.sop_instance,
                );
                // The frame lies on the source image's grid (same position).
                put_str(&mut src, tags::SPATIAL_LOCATIONS_PRESERVED, VR::CS, "YES");
                put_seq(
                    &mut src,
                    tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE,
                    vec![code_item(&dcm(
                        "121322",
                        "Source image for image processing operation",
                    ))],
                );
                let mut der = InMemDicomObject::new_empty();
                put_seq(
                    &mut der,
                    tags::DERIVATION_CODE_SEQUENCE,
                    vec![code_item(&dcm("113076", "Segmentation"))],
                );
                put_seq(&mut der, tags::SOURCE_IMAGE_SEQUENCE, vec![src]);
                put_seq(&mut item, tags::DERIVATION_IMAGE_SEQUENCE, vec![der]);
            }
            item
        })
        .collect();
    put_seq(
        &mut o,
        tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE,
        per_frame,
    );
    o.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::from(bits),
    ));

    let bytes = write_object(path, o, SEGMENTATION_STORAGE, &sop_instance)?;
    Ok(SegSummary {
        segments: segments.len(),
        frames: frames.len(),
        bytes,
        series_uid,
        sop_instance_uid: sop_instance,
    })
}

fn o_strs(o: &mut InMemDicomObject, tag: Tag, vr: VR, v: &[String]) {
    o.put(DataElement::new(
        tag,
        vr,
        PrimitiveValue::Strs(v.iter().cloned().collect()),
    ));
}
