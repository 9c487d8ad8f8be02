//! A surface mesh per segment, from the scan's intensities, a model's soft
//! output or the mask, smoothed and reduced as the options say, with its
//! figures (volumes, area, triangles, watertightness, the check against
//! its mask when asked); a variant frees the scan and masks as it goes.

use super::{ConvertOptions, ConvertSegment, SegmentResult};
use crate::base::error::Result;
use crate::base::progress::Progress;
use crate::document::SurfaceRecipe;
use crate::image::volume::Volume;
use crate::mesh::{
    SurfaceMesh, SurfaceOptions, finish_intensity_mesh, intensity_mesh, intensity_mesh_bits,
    mask_surface, soft_surface,
};
use crate::segment::{SegmentMask, segment_colour};

/// Whether any segment is meshed from the scan's intensities (it has a
/// level), so the scan must be kept until the meshes are built.
pub(super) fn meshed_from_scan(segments: &[ConvertSegment]) -> bool {
    segments
        .iter()
        .any(|(_, _, from)| matches!(from, SurfaceRecipe::Level(_)))
}

/// Builds a mesh per segment: from the scan's intensities where a
/// segment has a level and `volume` is given, from a model's soft output
/// where it has one, else from its mask.
#[tracing::instrument(level = "info", skip_all)]
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
            (Some(v), SurfaceRecipe::Level(level)) => {
                let (mut m, noise) = scan_mesh(v, mask, *level, progress)?;
                finish_intensity_mesh(&mut m, noise, mask.geometry(), &surface);
                progress.advance(1);
                m
            }
            (_, SurfaceRecipe::Soft(field)) => {
                soft_surface(field, &mask.bytes(), &surface, progress)?
            }
            _ => mask_surface(&mask.bytes(), &surface, progress)?,
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
#[tracing::instrument(level = "info", skip_all)]
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
            (Some(v), SurfaceRecipe::Level(level)) if mask.volume_ml() > 0.0 => {
                Some(scan_mesh(v, mask, *level, progress)?)
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
                finish_intensity_mesh(&mut m, noise, mask.geometry(), &surface);
                progress.advance(1);
                m
            }
            (None, SurfaceRecipe::Soft(field)) => {
                soft_surface(&field, &mask.bytes(), &surface, progress)?
            }
            (None, _) => mask_surface(&mask.bytes(), &surface, progress)?,
        };
        let colour = segment_colour(&name, out.len() as u16 + 1);
        out.push(segment_result(&name, &mask, mesh, colour, opts));
    }
    Ok(out)
}

/// The raw iso-surface of the scan within `mask`, read as bytes or bits.
fn scan_mesh(
    volume: &Volume,
    mask: &SegmentMask,
    level: f64,
    progress: &Progress,
) -> Result<(SurfaceMesh, f32)> {
    match mask {
        SegmentMask::Bytes(m) => intensity_mesh(volume, m, level, progress),
        SegmentMask::Bits(m) => intensity_mesh_bits(volume, m, level, progress),
    }
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
    mask: &SegmentMask,
    mesh: SurfaceMesh,
    colour: [u8; 3],
    opts: &ConvertOptions,
) -> SegmentResult {
    let surface = surface_options(opts);
    let topo = mesh.topology();
    let validation = opts.validate.then(|| {
        crate::planning::measure::validate(
            name,
            &mask.bytes(),
            &mesh,
            crate::planning::measure::SurfaceRecipe {
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
