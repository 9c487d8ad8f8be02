//! Reads a DICOM SEG (binary, or fractional thresholded at one half) back
//! as a label map on its own grid: segment numbers become label values,
//! segment labels and recommended colours the segment table. Frames are
//! placed by their positions; the slices SEG leaves out (empty ones) stay
//! empty. Overlapping segments: the later segment wins the voxel.

use std::path::Path;

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::SEGMENTATION_STORAGE;
use crate::base::error::{CoreError, Result};
use crate::image::volume::{Geometry, cross, dot, normalize};
use crate::segment::{LabelMap, Labels, Segment, segment_colour};

/// Whether `path` holds a DICOM SEG (by its file meta, cheaply).
pub fn is_seg_file(path: &Path) -> bool {
    dicom_object::OpenFileOptions::new()
        .read_until(tags::SOP_CLASS_UID)
        .open_file(path)
        .map(|f| {
            f.meta()
                .media_storage_sop_class_uid
                .trim_end_matches(['\0', ' '])
                == SEGMENTATION_STORAGE
        })
        .unwrap_or(false)
}

fn bad(path: &Path, reason: impl Into<String>) -> CoreError {
    CoreError::NotDicom {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn floats(o: &InMemDicomObject, tag: dicom_core::Tag) -> Option<Vec<f64>> {
    o.get(tag)?.to_multi_float64().ok()
}

fn items(o: &InMemDicomObject, tag: dicom_core::Tag) -> &[InMemDicomObject] {
    o.get(tag).and_then(|e| e.items()).unwrap_or(&[])
}

/// The first item of sequence `seq` that has `tag`, in a functional group.
fn in_group(
    group: Option<&InMemDicomObject>,
    seq: dicom_core::Tag,
    tag: dicom_core::Tag,
) -> Option<Vec<f64>> {
    items(group?, seq).first().and_then(|i| floats(i, tag))
}

fn lab_to_rgb(lab: &[u16]) -> Option<[u8; 3]> {
    let [l, a, b] = [lab.first()?, lab.get(1)?, lab.get(2)?].map(|v| *v as f64 / 65535.0);
    let (l, a, b) = (l * 100.0, a * 255.0 - 128.0, b * 255.0 - 128.0);
    let fy = (l + 16.0) / 116.0;
    let (fx, fz) = (fy + a / 500.0, fy - b / 200.0);
    let inv = |t: f64| {
        if t.powi(3) > 216.0 / 24389.0 {
            t.powi(3)
        } else {
            (116.0 * t - 16.0) * 27.0 / 24389.0
        }
    };
    let (x, y, z) = (inv(fx) * 0.950_47, inv(fy), inv(fz) * 1.088_83);
    let r = 3.2406 * x - 1.5372 * y - 0.4986 * z;
    let g = -0.9689 * x + 1.8758 * y + 0.0415 * z;
    let bl = 0.0557 * x - 0.2040 * y + 1.0570 * z;
    let gamma = |c: f64| {
        let c = c.clamp(0.0, 1.0);
        let v = if c <= 0.003_130_8 {
            12.92 * c
        } else {
            1.055 * c.powf(1.0 / 2.4) - 0.055
        };
        (v * 255.0).round() as u8
    };
    Some([gamma(r), gamma(g), gamma(bl)])
}

/// Reads the SEG at `path` as a label map on the SEG's own grid.
pub fn read_seg(path: &Path) -> Result<LabelMap> {
    let file = crate::dicom::lengths::parse_bounded(path, || {
        dicom_object::open_file(path).map_err(|e| bad(path, e.to_string()))
    })?;
    let o: &InMemDicomObject = &file;
    let s = |t| crate::pacs::dimse::str_of(o, t).unwrap_or_default();
    let n = |t| s(t).trim().parse::<usize>().ok();
    if s(tags::SOP_CLASS_UID) != SEGMENTATION_STORAGE {
        return Err(bad(
            path,
            "not a DICOM Segmentation (SEG) object; give a NIfTI label map or a DICOM SEG",
        ));
    }
    let rows = crate::pacs::dimse::u16_of(o, tags::ROWS).unwrap_or(0) as usize;
    let cols = crate::pacs::dimse::u16_of(o, tags::COLUMNS).unwrap_or(0) as usize;
    let nframes = n(tags::NUMBER_OF_FRAMES).unwrap_or(1);
    let bits = crate::pacs::dimse::u16_of(o, tags::BITS_ALLOCATED).unwrap_or(0);
    let kind = s(tags::SEGMENTATION_TYPE);
    if rows == 0 || cols == 0 || nframes == 0 {
        return Err(bad(path, "the SEG has no frames"));
    }
    if !((kind == "BINARY" && bits == 1) || (kind == "FRACTIONAL" && bits == 8)) {
        return Err(CoreError::Unsupported {
            path: path.to_path_buf(),
            what: format!("a {kind} SEG with {bits}-bit frames"),
            hint: "binary (1-bit) and fractional (8-bit) segmentations are read".into(),
        });
    }
    let plane = rows * cols;
    let pixels = o
        .get(tags::PIXEL_DATA)
        .and_then(|e| e.to_bytes().ok())
        .ok_or_else(|| {
            bad(
                path,
                "the SEG has no pixel data (compressed SEGs are not read)",
            )
        })?;
    let needed = if bits == 1 {
        (nframes * plane).div_ceil(8)
    } else {
        nframes * plane
    };
    if pixels.len() < needed {
        return Err(bad(
            path,
            format!(
                "the pixel data holds {} bytes, {nframes} frames need {needed}",
                pixels.len()
            ),
        ));
    }
    let max_frac = n(tags::MAXIMUM_FRACTIONAL_VALUE).unwrap_or(255).max(1);

    // The segment table.
    let mut segments: Vec<Segment> = items(o, tags::SEGMENT_SEQUENCE)
        .iter()
        .filter_map(|it| {
            let id = crate::pacs::dimse::u16_of(it, tags::SEGMENT_NUMBER)?;
            let name = crate::pacs::dimse::str_of(it, tags::SEGMENT_LABEL)
                .unwrap_or_else(|| format!("Segment {id}"));
            let colour = it
                .get(tags::RECOMMENDED_DISPLAY_CIE_LAB_VALUE)
                .and_then(|e| e.uint16_slice().ok().and_then(lab_to_rgb))
                .unwrap_or_else(|| segment_colour(&name, id));
            Some(Segment {
                id,
                name,
                colour,
                visible: true,
            })
        })
        .filter(|s| s.id > 0)
        .collect();
    segments.sort_by_key(|s| s.id);
    segments.dedup_by_key(|s| s.id);
    if segments.is_empty() {
        return Err(bad(path, "the SEG lists no segment"));
    }

    // Geometry: orientation and spacing shared (or from the first frame).
    let shared = items(o, tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE).first();
    let per_frame = items(o, tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE);
    if per_frame.len() != nframes {
        return Err(bad(
            path,
            format!("{} per-frame groups for {nframes} frames", per_frame.len()),
        ));
    }
    let from =
        |seq, tag| in_group(shared, seq, tag).or_else(|| in_group(per_frame.first(), seq, tag));
    let iop = from(
        tags::PLANE_ORIENTATION_SEQUENCE,
        tags::IMAGE_ORIENTATION_PATIENT,
    )
    .filter(|v| v.len() == 6)
    .ok_or_else(|| bad(path, "the SEG has no ImageOrientationPatient"))?;
    let ps = from(tags::PIXEL_MEASURES_SEQUENCE, tags::PIXEL_SPACING)
        .filter(|v| v.len() == 2 && v.iter().all(|x| *x > 0.0 && x.is_finite()))
        .ok_or_else(|| bad(path, "the SEG has no PixelSpacing"))?;
    let step_tag = from(tags::PIXEL_MEASURES_SEQUENCE, tags::SPACING_BETWEEN_SLICES)
        .or_else(|| from(tags::PIXEL_MEASURES_SEQUENCE, tags::SLICE_THICKNESS))
        .and_then(|v| v.first().copied())
        .filter(|v| *v > 0.0 && v.is_finite());
    let row_dir = normalize([iop[0], iop[1], iop[2]]);
    let col_dir = normalize([iop[3], iop[4], iop[5]]);
    let normal = normalize(cross(row_dir, col_dir));
    if dot(normal, normal) < 0.5 {
        return Err(bad(path, "the SEG's ImageOrientationPatient is degenerate"));
    }

    // Each frame: its segment and position along the normal.
    let mut placed: Vec<(u16, [f64; 3], f64)> = Vec::with_capacity(nframes);
    for (k, f) in per_frame.iter().enumerate() {
        let seg = items(f, tags::SEGMENT_IDENTIFICATION_SEQUENCE)
            .first()
            .and_then(|i| crate::pacs::dimse::u16_of(i, tags::REFERENCED_SEGMENT_NUMBER))
            .ok_or_else(|| bad(path, format!("frame {} names no segment", k + 1)))?;
        let p = in_group(
            Some(f),
            tags::PLANE_POSITION_SEQUENCE,
            tags::IMAGE_POSITION_PATIENT,
        )
        .filter(|v| v.len() == 3 && v.iter().all(|x| x.is_finite()))
        .ok_or_else(|| bad(path, format!("frame {} has no ImagePositionPatient", k + 1)))?;
        let p = [p[0], p[1], p[2]];
        placed.push((seg, p, dot(p, normal)));
    }
    let d0 = placed.iter().map(|f| f.2).fold(f64::INFINITY, f64::min);
    let d1 = placed.iter().map(|f| f.2).fold(f64::NEG_INFINITY, f64::max);
    let mut ds: Vec<f64> = placed.iter().map(|f| f.2).collect();
    ds.sort_by(f64::total_cmp);
    let min_gap = ds
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > 0.01)
        .fold(f64::INFINITY, f64::min);
    let step = step_tag.unwrap_or(if min_gap.is_finite() { min_gap } else { 1.0 });
    let nz = ((d1 - d0) / step).round() as usize + 1;
    if nz.saturating_mul(plane) > 1 << 31 {
        return Err(bad(path, "the SEG's frames span an implausibly large grid"));
    }
    let origin = placed
        .iter()
        .find(|f| (f.2 - d0).abs() < 1e-6)
        .map(|f| f.1)
        .unwrap_or([0.0; 3]);
    let geometry = Geometry {
        origin,
        spacing: [ps[1], ps[0], step],
        direction: [row_dir, col_dir, normal],
    };
    let mut map = LabelMap::empty((nz, rows, cols), geometry);
    if segments.iter().any(|s| s.id > 255) {
        map.labels = Labels::U16(ndarray::Array3::zeros((nz, rows, cols)));
    }
    for (k, (seg, _, d)) in placed.iter().enumerate() {
        let z = ((d - d0) / step).round() as usize;
        if z >= nz || !segments.iter().any(|s| s.id == *seg) {
            continue;
        }
        for i in 0..plane {
            let on = if bits == 1 {
                let b = k * plane + i;
                pixels[b / 8] >> (b % 8) & 1 == 1
            } else {
                pixels[k * plane + i] as usize * 2 > max_frac
            };
            if on {
                map.set(z, i / cols, i % cols, *seg);
            }
        }
    }
    map.segments = segments;
    Ok(map)
}
