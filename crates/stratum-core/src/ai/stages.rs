//! A whole model run, one network after the other: each later network runs
//! inside the box or the mask an earlier one found (deepbet's box finder
//! then brain; pyliverlesionseg's liver then lesions), on the scan cropped
//! to that region, and every kept label lands on the scan's grid.

use std::path::Path;
use std::time::Instant;

use ndarray::{Array3, Zip, s};

use super::catalog::ModelInfo;
use super::grid::ModelGrid;
use super::infer::{
    AiSegmentation, StageTimes, check_session, labels_on_scan, resample_array, sliding_window,
};
use super::manifest::{Interpolation, Manifest, Prefilter, Region, RegionKind};
use super::nnunet::run::{Logits, run_network as nnunet_run};
use super::normalize::normalise;
use super::prefilter::{median_filter, to_isotropic};
use super::runtime;
use super::soft::soft_on_scan;
use crate::base::error::{CoreError, Result};
use crate::base::progress::Progress;
use crate::image::volume::{Geometry, Volume, VoxelType, Voxels};
use crate::segment::{
    LabelMap, Labels, Mask, Segment, dilate_mm, fill_holes_3d, keep_largest, segment_colour,
};
use crate::with_voxels;

/// A box on the scan grid: (z, y, x) ranges, end exclusive.
pub type Box3 = [(usize, usize); 3];

/// Runs a model over a scan: the whole path from volume to labelled segments.
#[tracing::instrument(level = "info", skip_all)]
pub fn segment_with_model(
    volume: &Volume,
    model: &ModelInfo,
    progress: &Progress,
) -> Result<AiSegmentation> {
    let m = &model.manifest;
    let trained = std::iter::once(&m.modality).chain(m.input.normalize_for.keys());
    if !trained
        .clone()
        .any(|k| k.eq_ignore_ascii_case(&volume.modality))
        && volume.modality != "OT"
    {
        tracing::warn!(
            "model {} was trained on {} but the scan is {}",
            m.name,
            m.modality,
            volume.modality
        );
    }
    let dim = volume.dim();
    let full: Box3 = [(0, dim.0), (0, dim.1), (0, dim.2)];
    let nets = m.networks();
    let mut times = StageTimes::default();
    let mut found: Vec<(String, Mask)> = Vec::new();
    let mut out = Array3::<u8>::zeros(dim);
    let mut segments = Vec::new();
    let mut soft = std::collections::BTreeMap::new();
    let mut empty = Vec::new();
    let mut patches = 0;
    let mut model_grid = [0; 3];
    for (i, net) in nets.iter().enumerate() {
        let region = i.checked_sub(1).and_then(|j| m.stages[j].region.as_ref());
        // Where this network runs, and the mask it is kept to.
        let (bbox, mask) = match region {
            None => match &net.input.crop {
                Some(c) => (
                    body_box(volume, c.threshold, c.margin_mm).unwrap_or(full),
                    None,
                ),
                None => (full, None),
            },
            Some(r) => {
                let Some((_, src)) = found.iter().find(|(n, _)| *n == r.label) else {
                    // The earlier stage found nothing: nothing to look inside.
                    if net.output.keep {
                        empty.extend(net.output.labels.iter().map(|l| l.name.clone()));
                    }
                    continue;
                };
                match region_box(src, r) {
                    Some(x) => x,
                    None => continue,
                }
            }
        };
        let sub = crop_volume(volume, bbox);
        let sub_mask = mask.map(|mk| crop_mask(&mk, bbox));
        let run = if net.nnunet.is_some() {
            run_nnunet(
                &sub,
                &model.dir,
                net,
                sub_mask.as_ref(),
                progress,
                &mut times,
            )?
        } else {
            run_network(
                &sub,
                &model.dir.join(&net.file),
                net,
                sub_mask.as_ref().zip(region.and_then(|r| r.outside)),
                sub_mask.as_ref(),
                progress,
                &mut times,
            )?
        };
        patches += run.patches;
        if i == 0 {
            model_grid = run.grid;
        }
        progress.begin("post-processing", net.output.labels.len() as u64);
        let t = Instant::now();
        for (j, spec) in net.output.labels.iter().enumerate() {
            progress.check()?;
            let id = j as u16 + 1;
            let mut mk = Mask {
                data: run.labels.mapv(|v| u8::from(v == id)),
                geometry: sub.geometry,
            };
            if mk.count() > 0 && net.postprocess.largest_component {
                mk = keep_largest(&mk);
            }
            if mk.count() > 0 && net.postprocess.fill_holes {
                mk = fill_holes_3d(&mk);
            }
            progress.advance(1);
            if mk.count() == 0 {
                if net.output.keep {
                    empty.push(spec.name.clone());
                }
                continue;
            }
            let whole = paste_mask(&mk, bbox, dim, volume.geometry);
            if net.output.keep {
                if segments.len() >= 255 {
                    return Err(CoreError::TooManyLabels {
                        what: format!("model {}", m.name),
                        max: 255,
                    });
                }
                let sid = segments.len() as u16 + 1;
                let field = match &run.soft {
                    Soft::Grid { probs, model_grid } => {
                        soft_on_scan(probs, model_grid, &mk, net, j)
                    }
                    Soft::NnUnet(logits) => logits.soft_field(&mk, j),
                };
                if let Some(mut f) = field {
                    // From the crop's grid onto the scan's.
                    f.origin = [0, 1, 2].map(|a| f.origin[a] + bbox[a].0);
                    soft.insert(sid, f);
                }
                Zip::from(&mut out).and(&whole.data).for_each(|o, &v| {
                    if v != 0 {
                        *o = sid as u8;
                    }
                });
                segments.push(Segment {
                    id: sid,
                    name: spec.name.clone(),
                    colour: spec
                        .colour
                        .unwrap_or_else(|| segment_colour(&spec.name, sid)),
                    visible: true,
                });
            }
            found.push((spec.name.clone(), whole));
        }
        times.postprocess += t.elapsed();
    }
    // A later label painted over an earlier one (lesion inside the liver)
    // wins; a segment left with no voxel is reported as empty.
    let counts = {
        let mut c = vec![0usize; segments.len() + 1];
        out.iter().for_each(|&v| c[v as usize] += 1);
        c
    };
    segments.retain(|sg| {
        let keep = counts[sg.id as usize] > 0;
        if !keep {
            empty.push(sg.name.clone());
        }
        keep
    });
    soft.retain(|id, _| segments.iter().any(|sg| sg.id == *id));
    Ok(AiSegmentation {
        labels: LabelMap {
            labels: Labels::U8(out),
            geometry: volume.geometry,
            segments,
        },
        soft,
        empty,
        model_grid,
        patches,
        times,
    })
}

/// One network over a (cropped) scan: labels on that scan's grid, and the
/// stitched probabilities on the model grid they came from (for the soft
/// edges of the labels kept).
struct NetworkRun {
    labels: Array3<u16>,
    soft: Soft,
    grid: [usize; 3],
    patches: usize,
}

/// What the soft edges are computed from.
enum Soft {
    /// Stitched probabilities on the model grid.
    Grid {
        probs: Vec<Array3<f32>>,
        model_grid: ModelGrid,
    },
    /// An nnU-Net network's averaged logits.
    NnUnet(Box<Logits>),
}

/// An nnU-Net network (its manifest's `nnunet` section) over a scan, kept
/// inside `keep_inside` when a region mask gives one.
fn run_nnunet(
    volume: &Volume,
    dir: &Path,
    m: &Manifest,
    keep_inside: Option<&Mask>,
    progress: &Progress,
    times: &mut StageTimes,
) -> Result<NetworkRun> {
    let mut run = nnunet_run(volume, dir, m, progress, times)?;
    if let Some(mk) = keep_inside {
        Zip::from(&mut run.labels).and(&mk.data).for_each(|l, &i| {
            if i == 0 {
                *l = 0;
            }
        });
    }
    Ok(NetworkRun {
        labels: run.labels,
        soft: Soft::NnUnet(Box::new(run.logits)),
        grid: run.grid,
        patches: run.patches,
    })
}

fn run_network(
    volume: &Volume,
    onnx: &Path,
    m: &Manifest,
    outside: Option<(&Mask, f32)>,
    keep_inside: Option<&Mask>,
    progress: &Progress,
    times: &mut StageTimes,
) -> Result<NetworkRun> {
    progress.begin(&format!("loading model {}", m.name), 1);
    let t = Instant::now();
    let mut session = runtime::open_session(onnx, runtime::inference_threads())?;
    check_session(&session, m)?;
    times.load += t.elapsed();
    progress.check()?;

    progress.begin("resampling to the model grid", 1);
    let t = Instant::now();
    let grid = ModelGrid::new(&volume.geometry, volume.dim(), m)?;
    let mut input = match &m.input.prefilter {
        Some(pf) => prefiltered(volume, pf, &grid, progress)?,
        None => resample_array(volume.voxels.to_f32(), &grid),
    };
    times.resample += t.elapsed();
    progress.check()?;
    let t = Instant::now();
    // The mask on the model grid (linear, > 0.5, as the original resizes it).
    let mask_on_grid = |mk: &Mask| {
        let mut g = grid.clone();
        g.interpolation = Interpolation::Linear;
        resample_array(mk.data.mapv(f32::from), &g).mapv(|v| v > 0.5)
    };
    let region = outside.map(|(mk, value)| (mask_on_grid(mk), value));
    normalise(
        &mut input,
        m.input.normalize_for_modality(&volume.modality),
        region.as_ref().map(|(inside, _)| inside),
    );
    if let Some((inside, value)) = &region {
        Zip::from(&mut input).and(inside).for_each(|v, &i| {
            if !i {
                *v = *value;
            }
        });
    }
    times.normalise += t.elapsed();

    let mut probs = sliding_window(&mut session, m, &input, progress, times)?;
    let patches = progress.total() as usize;
    drop(input);
    if let Some(mk) = keep_inside {
        let inside = mask_on_grid(mk);
        let bg = m.output.background_channel;
        for (c, p) in probs.iter_mut().enumerate() {
            let outside_value = if bg && c == 0 { 1.0 } else { 0.0 };
            Zip::from(p).and(&inside).for_each(|v, &i| {
                if !i {
                    *v = outside_value;
                }
            });
        }
    }

    progress.begin("resampling labels to the scan", 1);
    let t = Instant::now();
    let labels = labels_on_scan(&probs, &grid, volume.dim(), m);
    times.resample_back += t.elapsed();
    progress.check()?;
    Ok(NetworkRun {
        labels,
        grid: grid.shape,
        soft: Soft::Grid {
            probs,
            model_grid: grid,
        },
        patches,
    })
}

/// The scan resampled to the isotropic prefilter spacing, median-filtered
/// there, then onto the model grid (pyliverlesionseg: 1.5 mm, median 3, 3 mm).
fn prefiltered(
    volume: &Volume,
    pf: &Prefilter,
    grid: &ModelGrid,
    progress: &Progress,
) -> Result<Array3<f32>> {
    let iso = to_isotropic(volume, pf.spacing);
    progress.check()?;
    let iso = median_filter(&iso, pf.median);
    progress.check()?;
    let dim = iso.dim();
    Ok(resample_array(iso, &grid.over(dim)))
}

/// Crop-to-body: the box of the largest connected region above
/// `threshold`, grown by `margin_mm`; None when nothing is above it.
pub fn body_box(volume: &Volume, threshold: f64, margin_mm: f64) -> Option<Box3> {
    let data = with_voxels!(&volume.voxels, a => a.mapv(|v| u8::from(v.to_f64() > threshold)));
    let body = keep_largest(&Mask {
        data,
        geometry: volume.geometry,
    });
    let b = body.bounds()?;
    Some(grow_mm(b, margin_mm, &volume.geometry, volume.dim()))
}

/// A box grown by `mm` on each side, clamped to the grid.
fn grow_mm(b: Box3, mm: f64, g: &Geometry, dim: (usize, usize, usize)) -> Box3 {
    let n = [dim.0, dim.1, dim.2];
    // Box axes are (z, y, x); spacing is (x, y, z).
    std::array::from_fn(|k| {
        let v = (mm / g.spacing[2 - k]).ceil() as usize;
        (b[k].0.saturating_sub(v), (b[k].1 + v).min(n[k]))
    })
}

/// Where a later stage runs (see [`Region`]): the box, and for a mask
/// region the grown mask on the whole scan grid. None when the label is empty.
pub fn region_box(src: &Mask, r: &Region) -> Option<(Box3, Option<Mask>)> {
    match r.kind {
        RegionKind::Box => {
            let b = src.bounds()?;
            let (nz, ny, nx) = src.dim();
            let n = [nz, ny, nx];
            let grown = std::array::from_fn(|k| {
                let size = (b[k].1 - b[k].0) as f64;
                let v = (r.margin * size).round() as usize;
                (b[k].0.saturating_sub(v), (b[k].1 + v).min(n[k]))
            });
            Some((grown, None))
        }
        RegionKind::Mask => {
            let grown = if r.dilate_mm > 0.0 {
                dilate_mm(src, r.dilate_mm)
            } else {
                src.clone()
            };
            let b = grown.bounds()?;
            Some((b, Some(grown)))
        }
    }
}

/// The part of a scan inside `b`, with its geometry (origin moved to the
/// box's first voxel).
#[tracing::instrument(level = "info", skip_all)]
pub fn crop_volume(volume: &Volume, b: Box3) -> Volume {
    let dim = volume.dim();
    if b == [(0, dim.0), (0, dim.1), (0, dim.2)] {
        return volume.clone();
    }
    let sl = s![b[0].0..b[0].1, b[1].0..b[1].1, b[2].0..b[2].1];
    let voxels = match &volume.voxels {
        Voxels::U8(a) => Voxels::U8(a.slice(sl).to_owned()),
        Voxels::I16(a) => Voxels::I16(a.slice(sl).to_owned()),
        Voxels::U16(a) => Voxels::U16(a.slice(sl).to_owned()),
        Voxels::I32(a) => Voxels::I32(a.slice(sl).to_owned()),
        Voxels::F32(a) => Voxels::F32(a.slice(sl).to_owned()),
    };
    let mut geometry = volume.geometry;
    geometry.origin = volume
        .geometry
        .index_to_lps([b[2].0 as f64, b[1].0 as f64, b[0].0 as f64]);
    Volume::new(voxels, geometry, volume.modality.clone())
}

fn crop_mask(mask: &Mask, b: Box3) -> Mask {
    Mask {
        data: mask
            .data
            .slice(s![b[0].0..b[0].1, b[1].0..b[1].1, b[2].0..b[2].1])
            .to_owned(),
        geometry: mask.geometry,
    }
}

/// A mask on a cropped grid placed back on the whole scan's grid.
fn paste_mask(mask: &Mask, b: Box3, dim: (usize, usize, usize), geometry: Geometry) -> Mask {
    let mut whole = Mask::empty(dim, geometry);
    whole
        .data
        .slice_mut(s![b[0].0..b[0].1, b[1].0..b[1].1, b[2].0..b[2].1])
        .assign(&mask.data);
    whole
}

/// Volumes (mL) of a mask's 6-connected pieces, largest first: the lesion
/// count and sizes a surgeon reads off a liver-lesion result.
pub fn component_volumes_ml(mask: &Mask) -> Vec<f64> {
    let c = crate::segment::components(mask);
    let mut v: Vec<f64> = c
        .sizes
        .iter()
        .map(|&n| n as f64 * mask.voxel_mm3() / 1000.0)
        .collect();
    v.sort_by(|a, b| b.total_cmp(a));
    v
}
