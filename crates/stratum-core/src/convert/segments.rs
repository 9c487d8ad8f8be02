//! The segments a conversion asks for: a threshold preset, an intensity
//! window, a label map (moved onto the scan's grid when it lies on another)
//! or an AI model's labels, each kept to its largest island when asked.

use std::path::Path;

use super::{ConvertOptions, ConvertSegment, SegmentSource};
use crate::base::error::Result;
use crate::base::progress::Progress;
use crate::document::SurfaceRecipe;
use crate::image::volume::Volume;
use crate::segment::{
    LabelMap, Mask, SegmentMask, keep_largest, preset_segment_packed, threshold_mask,
};

/// The segments the options ask for.
#[tracing::instrument(level = "info", skip_all)]
pub fn segments_for(
    volume: &Volume,
    opts: &ConvertOptions,
    progress: &Progress,
) -> Result<Vec<ConvertSegment>> {
    let mut out = match &opts.source {
        SegmentSource::Preset(p) => {
            let seg = preset_segment_packed(volume, *p, None, progress)?;
            if let Some(note) = &seg.note {
                tracing::info!("{}: {note}", p.name());
            }
            vec![(p.name().to_string(), seg.mask, SurfaceRecipe::Level(seg.lo))]
        }
        SegmentSource::Threshold(lo, hi) => vec![(
            format!("Threshold {lo}..{hi}"),
            threshold_mask(volume, *lo, *hi).into(),
            SurfaceRecipe::Level(*lo),
        )],
        SegmentSource::Labels { path, names } => {
            let map = load_labels_for(volume, path, names.as_deref(), progress)?;
            map.segments
                .iter()
                .map(|s| (s.name.clone(), map.mask(s.id), SurfaceRecipe::Mask))
                .filter(|(_, m, _)| m.count() > 0)
                .map(|(n, m, r)| (n, m.into(), r))
                .collect()
        }
        SegmentSource::Model { name } => {
            let model = crate::ai::find_model(&crate::ai::models_dir(), name)?;
            let mut seg = crate::ai::segment_with_model(volume, &model, progress)?;
            let segments = std::mem::take(&mut seg.labels.segments);
            segments
                .iter()
                .map(|s| {
                    let from = seg
                        .soft
                        .remove(&s.id)
                        .map_or(SurfaceRecipe::Mask, |f| SurfaceRecipe::Soft(f.into()));
                    (s.name.clone(), seg.labels.mask(s.id).into(), from)
                })
                .collect()
        }
    };
    if opts.largest {
        keep_largest_each(&mut out);
    }
    Ok(out)
}

/// Loads a label map (NIfTI) for `volume`, names from a TSV (id<TAB>name)
/// when given, moved onto the volume's grid when it lies on another one.
#[tracing::instrument(level = "info", skip_all)]
pub fn load_labels_for(
    volume: &Volume,
    path: &Path,
    names: Option<&Path>,
    progress: &Progress,
) -> Result<LabelMap> {
    if !crate::read::nifti::is_nifti_path(path) {
        // A DICOM SEG: its own segment table; on the scan's grid as is
        // when it lies there (to rounding), else moved onto it.
        let map = crate::derived::read_seg(path)?;
        return Ok(
            if map.dim() == volume.dim() && same_grid(&map.geometry, &volume.geometry) {
                crate::segment::LabelMap {
                    geometry: volume.geometry,
                    ..map
                }
            } else {
                resample_labels(&map, volume)
            },
        );
    }
    let lv = crate::read::nifti::load_nifti(path, progress)?;
    let table: Vec<(u16, String)> = match names {
        Some(n) => crate::segment::totalsegmentator_ct_names(n)?,
        None => Vec::new(),
    };
    let lookup = |id: u16| table.iter().find(|(i, _)| *i == id).map(|(_, n)| n.clone());
    let map = LabelMap::from_volume(&lv, &lookup)?;
    Ok(
        if lv.dim() == volume.dim() && lv.geometry == volume.geometry {
            map
        } else {
            resample_labels(&map, volume)
        },
    )
}

/// Two grids that agree to within the precision DICOM's decimal strings
/// keep (1e-4 mm, 1e-5 in the directions).
fn same_grid(a: &crate::image::volume::Geometry, b: &crate::image::volume::Geometry) -> bool {
    let close = |x: f64, y: f64, tol: f64| (x - y).abs() <= tol;
    (0..3).all(|i| {
        close(a.origin[i], b.origin[i], 1e-3)
            && close(a.spacing[i], b.spacing[i], 1e-4)
            && (0..3).all(|j| close(a.direction[i][j], b.direction[i][j], 1e-5))
    })
}

pub(super) fn keep_largest_each(segments: &mut [ConvertSegment]) {
    for (_, m, _) in segments.iter_mut() {
        match m {
            SegmentMask::Bytes(m) => keep_largest_in_place(m),
            SegmentMask::Bits(m) => m.keep_largest(),
        }
    }
}

/// Keeps the largest 6-connected component of `mask`, working in the mask's
/// own bytes (0 = out, 1 = in, 2 = seen, 3 = kept): no second full-size
/// buffer, which is what `convert`'s peak memory was made of while the scan
/// is held. Same result as [`keep_largest`].
#[tracing::instrument(level = "info", skip_all)]
pub fn keep_largest_in_place(mask: &mut Mask) {
    let (nz, ny, nx) = mask.dim();
    if mask.data.as_slice_mut().is_none() {
        *mask = keep_largest(mask);
        return;
    }
    let data = mask.data.as_slice_mut().expect("standard layout");
    for v in data.iter_mut() {
        *v = u8::from(*v != 0);
    }
    let plane = ny * nx;
    let mut queue = std::collections::VecDeque::new();
    // Breadth first: the queue holds a wave front, not a whole component.
    let mut fill = |data: &mut [u8], seed: usize, from: u8, to: u8| -> usize {
        data[seed] = to;
        queue.push_back(seed);
        let mut n = 0;
        while let Some(i) = queue.pop_front() {
            n += 1;
            let (z, y, x) = (i / plane, (i / nx) % ny, i % nx);
            let mut visit = |j: usize| {
                if data[j] == from {
                    data[j] = to;
                    queue.push_back(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < nx {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - nx);
            }
            if y + 1 < ny {
                visit(i + nx);
            }
            if z > 0 {
                visit(i - plane);
            }
            if z + 1 < nz {
                visit(i + plane);
            }
        }
        n
    };
    let mut best: Option<(usize, usize)> = None;
    for i in 0..data.len() {
        if data[i] == 1 {
            let n = fill(data, i, 1, 2);
            // `>=`: ties go to the last, as `keep_largest`'s max_by_key does.
            if best.is_none_or(|(_, m)| n >= m) {
                best = Some((i, n));
            }
        }
    }
    if let Some((seed, _)) = best {
        fill(data, seed, 2, 3);
    }
    for v in data.iter_mut() {
        *v = u8::from(*v == 3);
    }
}

/// Nearest-neighbour transfer of a label map onto another grid through patient space.
#[tracing::instrument(level = "info", skip_all)]
pub fn resample_labels(map: &LabelMap, target: &Volume) -> LabelMap {
    let (nz, ny, nx) = map.dim();
    let mut out = LabelMap::empty(target.dim(), target.geometry);
    out.segments = map.segments.clone();
    if map.segments.iter().any(|s| s.id > 255) {
        out.labels = crate::segment::Labels::U16(ndarray::Array3::zeros(target.dim()));
    }
    let (tz, ty, tx) = target.dim();
    for z in 0..tz {
        for y in 0..ty {
            for x in 0..tx {
                let p = target.voxel_lps(x, y, z);
                let i = map.geometry.lps_to_index(p).map(|v| v.round());
                if i.iter().all(|v| *v >= 0.0)
                    && (i[0] as usize) < nx
                    && (i[1] as usize) < ny
                    && (i[2] as usize) < nz
                {
                    let l = map.get(i[2] as usize, i[1] as usize, i[0] as usize);
                    match &mut out.labels {
                        crate::segment::Labels::U8(a) => a[(z, y, x)] = l as u8,
                        crate::segment::Labels::U16(a) => a[(z, y, x)] = l,
                    }
                }
            }
        }
    }
    out
}
