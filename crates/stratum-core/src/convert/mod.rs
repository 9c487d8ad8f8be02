//! `stratum convert`: from a scan to printable models in one call
//! (load, segment, mesh, smooth, reduce, export), shared by the CLI and
//! the benchmarks.
//! This module holds the options, the result type and `convert` itself;
//! `segments` makes the masks, `meshes` the surfaces, `share` the patient
//! page.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::base::error::Result;
use crate::base::progress::Progress;
use crate::document::SurfaceRecipe;
use crate::export::{ExportOptions, ExportSegment, export_with};
use crate::mesh::{SurfaceMesh, SurfaceOptions};
use crate::read::open::{OpenOptions, Opened, open_volume};
use crate::segment::{Preset, SegmentMask};
use error::ConvertError;

mod dicom;
pub mod error;
mod live;
mod margin;
mod meshes;
mod segments;
mod share;

pub use dicom::{DicomOutput, convert_dicom, dicom_output};
pub use live::{LiveStart, browser_meshes, live_from_scan, live_from_session};
pub use margin::MarginRequest;
use margin::MarginSource;
use meshes::meshed_from_scan;
pub use meshes::{build_meshes, build_meshes_owned};
use segments::keep_largest_each;
pub use segments::{keep_largest_in_place, load_labels_for, resample_labels, segments_for};
pub use share::{share, share_session};

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
    /// OBJ, GLB and the share page: one segment coloured by its distance
    /// to another (the margin map).
    pub margin: Option<MarginRequest>,
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
            margin: None,
            open: OpenOptions::new(),
        }
    }
}

impl ConvertOptions {
    /// The segments of a label map (named from a TSV of id<TAB>name),
    /// their surfaces reduced by `reduce` (0..1); the rest as by default.
    pub fn labels(path: PathBuf, names: Option<PathBuf>, reduce: f64) -> Self {
        ConvertOptions {
            source: SegmentSource::Labels { path, names },
            reduce,
            ..Default::default()
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
    pub validation: Option<crate::planning::measure::Validation>,
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

/// One segment to build: its name, its mask (bits for a bone preset, which
/// is meshed beside the whole scan), and what else its surface comes from.
pub type ConvertSegment = (String, SegmentMask, SurfaceRecipe);

/// Converts a scan into a model file; returns the segments and the files written.
#[tracing::instrument(level = "info", skip_all)]
pub fn convert(
    input: &Path,
    output: &Path,
    opts: &ConvertOptions,
    progress: &Progress,
) -> Result<(Vec<SegmentResult>, Vec<PathBuf>)> {
    if let Some(kind) = dicom_output(output)? {
        return convert_dicom(input, output, kind, opts, progress);
    }
    crate::export::Format::from_path(output)?;
    if output.exists() && input.canonicalize().ok() == output.canonicalize().ok() {
        return Err(ConvertError::OverwritesInput.into());
    }
    let Opened { volume, .. } = open_volume(input, &opts.open, progress)?;
    convert_volume(volume, output, opts, progress)
}

/// [`convert`] of a volume already open (`stratum batch` opens it itself,
/// to keep the series checks it makes on the way).
pub fn convert_volume(
    volume: crate::image::volume::Volume,
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
    let margin = match (&opts.margin, format) {
        (Some(req), crate::export::Format::Obj | crate::export::Format::Glb) => {
            Some(MarginSource::new(req, &segments)?)
        }
        (Some(_), _) => {
            return Err(ConvertError::MarginFormat {
                output: output.to_path_buf(),
                extension: format.extension(),
            }
            .into());
        }
        (None, _) => None,
    };
    if segments.iter().all(|(_, m, _)| m.count() == 0) {
        return Err(ConvertError::EmptyRange.into());
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
            t.window = crate::image::view::Window {
                center: 0.5 * (lo + hi),
                width: (hi - lo).max(1e-6),
            };
        }
        t
    });
    let files = if opts.split && format == crate::export::Format::Stl {
        crate::export::write_stl_each(output, &parts)?
    } else {
        let margin = margin.as_ref().map(|m| m.paint(&results)).transpose()?;
        export_with(output, &parts, &ExportOptions { scan, margin })?
    };
    progress.advance(1);
    Ok((results, files))
}

/// The validation report `convert --report` writes (and `batch` beside each
/// study's model): each segment's checks, for the segments validated.
pub fn report_json(results: &[SegmentResult]) -> serde_json::Value {
    let checks: Vec<_> = results
        .iter()
        .filter_map(|r| r.validation.as_ref())
        .collect();
    serde_json::json!({
        "units": "mm, mL; surface distances both ways between mesh vertices and the mask boundary",
        "segments": checks,
    })
}
