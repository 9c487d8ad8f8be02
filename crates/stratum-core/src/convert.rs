//! `stratum convert`: from a scan to printable models in one call
//! (load, segment, mesh, smooth, reduce, export), shared by the CLI and
//! the benchmarks.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{CoreError, Result};
use crate::export::{ExportOptions, ExportSegment, export_with};
use crate::mesh::{
    SoftField, SurfaceMesh, SurfaceOptions, finish_intensity_mesh, intensity_mesh,
    intensity_surface, mask_surface, soft_surface,
};
use crate::open::{OpenOptions, Opened, open_volume};
use crate::progress::Progress;
use crate::segment::{
    LabelMap, Mask, Preset, keep_largest, preset_segment, segment_colour, threshold_mask,
};
use crate::volume::Volume;

/// Where the segments come from.
#[derive(Clone, Debug)]
pub enum SegmentSource {
    Preset(Preset),
    /// Intensity window (HU for CT).
    Threshold(f64, f64),
    /// A label map (NIfTI) on the scan's grid or any grid in the same
    /// patient space, with optional names (TSV: id<TAB>name).
    Labels {
        path: PathBuf,
        names: Option<PathBuf>,
    },
    /// An AI model from the models folder (`models/<name>/`).
    Model {
        name: String,
    },
}

#[derive(Clone, Debug)]
pub struct ConvertOptions {
    pub source: SegmentSource,
    /// Keep only the largest island of each segment.
    pub largest: bool,
    /// Taubin smoothing passes.
    pub smooth_iterations: usize,
    /// Fraction of triangles to remove (0.9 keeps 10%).
    pub reduce: f64,
    /// Gaussian pre-smoothing of the mask (mm); `None` for the raw voxel surface.
    pub presmooth_mm: Option<f64>,
    /// STL only: one file per segment instead of one merged file.
    pub split: bool,
    /// Check each mesh against its mask (Dice, surface distances, volume):
    /// fills [`SegmentResult::validation`].
    pub validate: bool,
    /// OBJ and GLB: texture the surfaces with the scan (else flat colours).
    pub scan_texture: bool,
    /// The scan texture's intensity window (LO, HI); `None`: soft tissue
    /// for CT, the 1st-99th percentile otherwise.
    pub texture_window: Option<(f64, f64)>,
    /// The scan texture also carries baked ambient occlusion.
    pub ambient_occlusion: bool,
    pub open: OpenOptions,
}

impl Default for ConvertOptions {
    fn default() -> Self {
        ConvertOptions {
            source: SegmentSource::Preset(Preset::Bone),
            largest: false,
            smooth_iterations: 10,
            reduce: 0.0,
            presmooth_mm: SurfaceOptions::default().presmooth_mm,
            split: false,
            validate: false,
            scan_texture: true,
            texture_window: None,
            ambient_occlusion: false,
            open: OpenOptions::new(),
        }
    }
}

/// What was built for one segment.
#[derive(Clone, Debug, Serialize)]
pub struct SegmentResult {
    pub name: String,
    pub colour: [u8; 3],
    pub voxel_volume_ml: f64,
    pub mesh_volume_ml: f64,
    pub area_mm2: f64,
    pub triangles: usize,
    pub watertight: bool,
    #[serde(skip)]
    pub mesh: SurfaceMesh,
    /// The mesh checked against the scan's segment, when asked for.
    pub validation: Option<crate::measure::Validation>,
}

impl SegmentResult {
    /// The segment as the exporters take it.
    pub fn part(&self) -> ExportSegment<'_> {
        ExportSegment {
            name: &self.name,
            colour: self.colour,
            mesh: &self.mesh,
        }
    }
}

/// Whether any segment is meshed from the scan's intensities (it has a
/// level), so the scan must be kept until the meshes are built.
fn meshed_from_scan(segments: &[ConvertSegment]) -> bool {
    segments
        .iter()
        .any(|(_, _, from)| matches!(from, SurfaceFrom::Level(_)))
}

/// What a segment's surface is built from besides its mask.
#[derive(Clone, Debug, PartialEq)]
pub enum SurfaceFrom {
    /// Its voxels alone (a label map).
    Mask,
    /// The scan's intensities at this level (it came from a threshold).
    Level(f64),
    /// A model's soft output, at its 0.5 level.
    Soft(SoftField),
}

/// One segment to build: its name, its mask, and what else its surface
/// comes from.
pub type ConvertSegment = (String, Mask, SurfaceFrom);

/// The segments the options ask for.
pub fn segments_for(
    volume: &Volume,
    opts: &ConvertOptions,
    progress: &Progress,
) -> Result<Vec<ConvertSegment>> {
    let mut out = match &opts.source {
        SegmentSource::Preset(p) => {
            let seg = preset_segment(volume, *p, None, progress)?;
            if let Some(note) = &seg.note {
                tracing::info!("{}: {note}", p.name());
            }
            vec![(p.name().to_string(), seg.mask, SurfaceFrom::Level(seg.lo))]
        }
        SegmentSource::Threshold(lo, hi) => vec![(
            format!("Threshold {lo}..{hi}"),
            threshold_mask(volume, *lo, *hi),
            SurfaceFrom::Level(*lo),
        )],
        SegmentSource::Labels { path, names } => {
            let map = load_labels_for(volume, path, names.as_deref(), progress)?;
            map.segments
                .iter()
                .map(|s| (s.name.clone(), map.mask(s.id), SurfaceFrom::Mask))
                .filter(|(_, m, _)| m.count() > 0)
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
                        .map_or(SurfaceFrom::Mask, SurfaceFrom::Soft);
                    (s.name.clone(), seg.labels.mask(s.id), from)
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
pub fn load_labels_for(
    volume: &Volume,
    path: &Path,
    names: Option<&Path>,
    progress: &Progress,
) -> Result<LabelMap> {
    let lv = crate::nifti_io::load_nifti(path, progress)?;
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

fn keep_largest_each(segments: &mut [ConvertSegment]) {
    for (_, m, _) in segments.iter_mut() {
        keep_largest_in_place(m);
    }
}

/// Keeps the largest 6-connected component of `mask`, working in the mask's
/// own bytes (0 = out, 1 = in, 2 = seen, 3 = kept): no second full-size
/// buffer, which is what `convert`'s peak memory was made of while the scan
/// is held. Same result as [`keep_largest`].
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

/// Builds a mesh per segment: from the scan's intensities where a
/// segment has a level and `volume` is given, from a model's soft output
/// where it has one, else from its mask.
pub fn build_meshes(
    segments: &[ConvertSegment],
    volume: Option<&Volume>,
    opts: &ConvertOptions,
    progress: &Progress,
) -> Result<Vec<SegmentResult>> {
    let surface = surface_options(opts);
    let mut out = Vec::new();
    for (name, mask, from) in segments {
        progress.check()?;
        if mask.volume_ml() == 0.0 {
            continue;
        }
        let mesh = match (volume, from) {
            (Some(v), SurfaceFrom::Level(level)) => {
                intensity_surface(v, mask, *level, &surface, progress)?
            }
            (_, SurfaceFrom::Soft(field)) => soft_surface(field, mask, &surface, progress)?,
            _ => mask_surface(mask, &surface, progress)?,
        };
        let colour = segment_colour(name, out.len() as u16 + 1);
        out.push(segment_result(name, mask, mesh, colour, opts));
    }
    Ok(out)
}

/// [`build_meshes`] for a caller that is done with the scan and the masks
/// once the meshes exist: the surfaces that read the scan are extracted
/// first, then the scan is freed, then each is smoothed and reduced (and its
/// mask freed) in turn, so smoothing's buffers never sit beside the scan.
pub fn build_meshes_owned(
    segments: Vec<ConvertSegment>,
    volume: Option<Volume>,
    opts: &ConvertOptions,
    progress: &Progress,
) -> Result<Vec<SegmentResult>> {
    let surface = surface_options(opts);
    let mut raw = Vec::with_capacity(segments.len());
    for (_, mask, from) in &segments {
        progress.check()?;
        raw.push(match (&volume, from) {
            (Some(v), SurfaceFrom::Level(level)) if mask.volume_ml() > 0.0 => {
                Some(intensity_mesh(v, mask, *level, progress)?)
            }
            _ => None,
        });
    }
    drop(volume);
    let mut out = Vec::new();
    for ((name, mask, from), raw) in segments.into_iter().zip(raw) {
        progress.check()?;
        if mask.volume_ml() == 0.0 {
            continue;
        }
        let mesh = match (raw, from) {
            (Some((mut m, noise)), _) => {
                finish_intensity_mesh(&mut m, noise, &mask.geometry, &surface);
                progress.advance(1);
                m
            }
            (None, SurfaceFrom::Soft(field)) => soft_surface(&field, &mask, &surface, progress)?,
            (None, _) => mask_surface(&mask, &surface, progress)?,
        };
        let colour = segment_colour(&name, out.len() as u16 + 1);
        out.push(segment_result(&name, &mask, mesh, colour, opts));
    }
    Ok(out)
}

fn surface_options(opts: &ConvertOptions) -> SurfaceOptions {
    SurfaceOptions {
        presmooth_mm: opts.presmooth_mm,
        smooth_iterations: opts.smooth_iterations,
        keep_ratio: (1.0 - opts.reduce).clamp(0.0, 1.0),
    }
}

/// A built mesh with its figures (and its check against the mask when asked).
fn segment_result(
    name: &str,
    mask: &Mask,
    mesh: SurfaceMesh,
    colour: [u8; 3],
    opts: &ConvertOptions,
) -> SegmentResult {
    let surface = surface_options(opts);
    let topo = mesh.topology();
    let validation = opts.validate.then(|| {
        crate::measure::validate(
            name,
            mask,
            &mesh,
            crate::measure::SurfaceRecipe {
                presmooth_mm: surface.presmooth_mm,
                smoothing_iterations: surface.smooth_iterations,
                reduction: 1.0 - surface.keep_ratio,
            },
        )
    });
    SegmentResult {
        validation,
        colour,
        name: name.to_string(),
        voxel_volume_ml: mask.volume_ml(),
        mesh_volume_ml: mesh.volume_mm3() / 1000.0,
        area_mm2: mesh.area_mm2(),
        triangles: mesh.triangle_count(),
        watertight: topo.is_watertight(),
        mesh,
    }
}

/// Converts a scan into a model file; returns the segments and the files written.
pub fn convert(
    input: &Path,
    output: &Path,
    opts: &ConvertOptions,
    progress: &Progress,
) -> Result<(Vec<SegmentResult>, Vec<PathBuf>)> {
    let format = crate::export::Format::from_path(output)?;
    let textured = opts.scan_texture
        && matches!(
            format,
            crate::export::Format::Obj | crate::export::Format::Glb
        );
    if output.exists() && input.canonicalize().ok() == output.canonicalize().ok() {
        return Err(CoreError::Invalid(
            "the output would overwrite the input".into(),
        ));
    }
    let Opened { volume, .. } = open_volume(input, &opts.open, progress)?;
    // Label maps and models are meshed from their masks: unless a scan
    // texture needs it, the volume is freed before islands are dropped and
    // meshes built, which keeps peak memory near twice the voxel bytes.
    // Thresholds keep it: their surfaces come from the intensities.
    let mut segments = segments_for(
        &volume,
        &ConvertOptions {
            largest: false,
            ..opts.clone()
        },
        progress,
    )?;
    let volume = (textured || meshed_from_scan(&segments)).then_some(volume);
    if opts.largest {
        keep_largest_each(&mut segments);
    }
    if segments.iter().all(|(_, m, _)| m.count() == 0) {
        return Err(CoreError::Invalid(
            "the segmentation is empty: no voxel is in the chosen range; try another preset or threshold".into(),
        ));
    }
    // Unless a scan texture samples it, the scan is freed once the surfaces
    // that read it exist, and the masks once their meshes do: heaptrack
    // found the scan, a mask and smoothing's (then the STL writer's)
    // buffers alive together at 2.16x the voxel bytes.
    let (results, volume) = if textured {
        let r = build_meshes(&segments, volume.as_ref(), opts, progress)?;
        (r, volume)
    } else {
        (build_meshes_owned(segments, volume, opts, progress)?, None)
    };
    let parts: Vec<ExportSegment<'_>> = results.iter().map(SegmentResult::part).collect();
    progress.begin("writing", 1);
    let scan = volume.as_ref().map(|v| {
        let mut t = crate::export::ScanTexture::new(v);
        t.occlusion_mm = opts.ambient_occlusion.then_some(crate::export::AO_REACH_MM);
        if let Some((lo, hi)) = opts.texture_window {
            t.window = crate::view::Window {
                center: 0.5 * (lo + hi),
                width: (hi - lo).max(1e-6),
            };
        }
        t
    });
    let files = if opts.split && format == crate::export::Format::Stl {
        crate::export::write_stl_each(output, &parts)?
    } else {
        export_with(output, &parts, &ExportOptions { scan })?
    };
    progress.advance(1);
    Ok((results, files))
}

/// `stratum share`: the scan's segments as a self-contained patient page
/// (flat colours, reduced as `opts` says); returns the segments.
pub fn share(
    input: &Path,
    output: &Path,
    opts: &ConvertOptions,
    page: &crate::export::ShareOptions,
    progress: &Progress,
) -> Result<Vec<SegmentResult>> {
    check_page_path(output)?;
    let Opened { volume, .. } = open_volume(input, &opts.open, progress)?;
    let segments = segments_for(&volume, opts, progress)?;
    // Threshold segments are meshed from the intensities; label maps need no scan.
    let volume = meshed_from_scan(&segments).then_some(volume);
    if segments.iter().all(|(_, m, _)| m.count() == 0) {
        return Err(CoreError::Invalid(
            "the segmentation is empty: nothing to show".into(),
        ));
    }
    let results = build_meshes(&segments, volume.as_ref(), opts, progress)?;
    // The page takes no texture: the scan and masks are done with.
    drop(segments);
    drop(volume);
    write_page(output, &results, page, progress)?;
    Ok(results)
}

/// `stratum share --session S`: the visible segments of a saved session
/// (its label map as saved, edits included; its names and colours) as a
/// patient page. The session's labels are meshed from their masks, so the
/// scan is not needed; `scan`, when given, must be the one the session was
/// made on.
pub fn share_session(
    session: &Path,
    scan: Option<&Path>,
    output: &Path,
    opts: &ConvertOptions,
    page: &crate::export::ShareOptions,
    progress: &Progress,
) -> Result<Vec<SegmentResult>> {
    check_page_path(output)?;
    let opened = crate::session::open_session(session, progress)?;
    if let Some(path) = scan {
        let volume = open_volume(path, &opts.open, progress)?.volume;
        if opened
            .data
            .scan
            .as_ref()
            .is_some_and(|r| !r.matches(&volume))
        {
            return Err(CoreError::Invalid(format!(
                "{} is not the scan the session {} was made on (its voxels differ)",
                path.display(),
                session.display()
            )));
        }
    }
    let map = &opened.data.labels;
    let mut colours = Vec::new();
    let mut segments: Vec<ConvertSegment> = Vec::new();
    for s in map.segments.iter().filter(|s| s.visible) {
        let mask = map.mask(s.id);
        if mask.count() > 0 {
            colours.push(s.colour);
            segments.push((s.name.clone(), mask, SurfaceFrom::Mask));
        }
    }
    if segments.is_empty() {
        return Err(CoreError::Invalid(format!(
            "the session {} has no visible segment with voxels: nothing to show",
            session.display()
        )));
    }
    let mut results = build_meshes(&segments, None, opts, progress)?;
    drop(segments);
    // build_meshes keeps every non-empty mask in order: the colours line up.
    for (r, c) in results.iter_mut().zip(colours) {
        r.colour = c;
    }
    write_page(output, &results, page, progress)?;
    Ok(results)
}

/// The share page is an .html file (a browser opens it by double click).
fn check_page_path(output: &Path) -> Result<()> {
    if output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"))
    {
        Ok(())
    } else {
        Err(CoreError::Invalid(format!(
            "{}: the share page is an .html file",
            output.display()
        )))
    }
}

fn write_page(
    output: &Path,
    results: &[SegmentResult],
    page: &crate::export::ShareOptions,
    progress: &Progress,
) -> Result<()> {
    let parts: Vec<ExportSegment<'_>> = results.iter().map(SegmentResult::part).collect();
    let ml: Vec<f64> = results.iter().map(|r| r.voxel_volume_ml).collect();
    progress.begin("writing", 1);
    crate::export::write_share(output, &parts, &ml, page)?;
    progress.advance(1);
    Ok(())
}
