//! `convert` to DICOM objects for the hospital's systems: `NAME.seg.dcm`
//! (Segmentation), `NAME.stl.dcm` and `NAME.obj.dcm` (Encapsulated STL,
//! OBJ + MTL), filed in the source study.

use std::path::{Path, PathBuf};

use super::error::ConvertError;
use super::{
    ConvertOptions, SegmentResult, SegmentSource, build_meshes_owned, keep_largest_each,
    segments_for,
};
use crate::base::error::Result;
use crate::base::progress::Progress;
use crate::derived::{MeshObject, SegAlgorithm, SegSegment, Source, write_mesh_objects, write_seg};
use crate::export::ExportSegment;
use crate::read::open::{Opened, open_volume};
use crate::segment::segment_colour;

/// The DICOM output a file name asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DicomOutput {
    Seg,
    Mesh(MeshObject),
}

/// `Some` for `*.seg.dcm`, `*.stl.dcm`, `*.obj.dcm`; an error for another
/// `.dcm` name; `None` for the other formats.
pub fn dicom_output(path: &Path) -> Result<Option<DicomOutput>> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    Ok(if name.ends_with(".seg.dcm") {
        Some(DicomOutput::Seg)
    } else if name.ends_with(".stl.dcm") {
        Some(DicomOutput::Mesh(MeshObject::Stl))
    } else if name.ends_with(".obj.dcm") {
        Some(DicomOutput::Mesh(MeshObject::Obj))
    } else if name.ends_with(".dcm") {
        return Err(ConvertError::DicomOutputName(path.to_path_buf()).into());
    } else {
        None
    })
}

/// How the segments of `opts` were made, for the SEG's algorithm fields.
fn algorithm(opts: &ConvertOptions) -> SegAlgorithm {
    match &opts.source {
        SegmentSource::Preset(p) => SegAlgorithm::SemiAutomatic {
            name: format!("Stratum {} preset", p.name()),
        },
        SegmentSource::Threshold(..) => SegAlgorithm::SemiAutomatic {
            name: "Stratum threshold".into(),
        },
        SegmentSource::Labels { .. } => SegAlgorithm::Manual,
        SegmentSource::Model { name } => {
            // The model's title and where it came from (its package and
            // version), as its manifest says.
            let (title, version) = crate::ai::find_model(&crate::ai::models_dir(), name)
                .map(|m| (m.manifest.title.clone(), m.manifest.source.clone()))
                .unwrap_or_else(|_| (name.clone(), String::new()));
            SegAlgorithm::Automatic {
                name: if title.is_empty() {
                    name.clone()
                } else {
                    title
                },
                version: if version.is_empty() {
                    format!("Stratum {}", env!("CARGO_PKG_VERSION"))
                } else {
                    version
                },
            }
        }
    }
}

/// Writes the DICOM output `kind` for `input`; returns each segment's
/// figures and the files written.
pub fn convert_dicom(
    input: &Path,
    output: &Path,
    kind: DicomOutput,
    opts: &ConvertOptions,
    progress: &Progress,
) -> Result<(Vec<SegmentResult>, Vec<PathBuf>)> {
    let source = Source::of_scan(input, &opts.open, progress)?;
    let Opened { volume, .. } = open_volume(input, &opts.open, progress)?;
    let mut segments = segments_for(
        &volume,
        &ConvertOptions {
            largest: false,
            ..opts.clone()
        },
        progress,
    )?;
    if opts.largest {
        keep_largest_each(&mut segments);
    }
    segments.retain(|(_, m, _)| m.count() > 0);
    if segments.is_empty() {
        return Err(ConvertError::EmptyRange.into());
    }
    let voxel_ml = volume.geometry.spacing.iter().product::<f64>() / 1000.0;
    match kind {
        DicomOutput::Seg => {
            let alg = algorithm(opts);
            let colours: Vec<[u8; 3]> = segments
                .iter()
                .enumerate()
                .map(|(k, (name, _, _))| segment_colour(name, k as u16 + 1))
                .collect();
            let bytes: Vec<_> = segments.iter().map(|(_, m, _)| m.bytes()).collect();
            let parts: Vec<SegSegment<'_>> = segments
                .iter()
                .zip(&bytes)
                .zip(&colours)
                .map(|(((name, _, _), mask), colour)| SegSegment {
                    name,
                    colour: *colour,
                    mask,
                    algorithm: alg.clone(),
                })
                .collect();
            write_seg(output, &parts, &source, progress)?;
            let results = segments
                .iter()
                .zip(colours)
                .map(|((name, mask, _), colour)| SegmentResult {
                    name: name.clone(),
                    colour,
                    voxel_volume_ml: mask.count() as f64 * voxel_ml,
                    mesh_volume_ml: 0.0,
                    area_mm2: 0.0,
                    triangles: 0,
                    watertight: false,
                    mesh: Default::default(),
                    validation: None,
                })
                .collect();
            Ok((results, vec![output.to_path_buf()]))
        }
        DicomOutput::Mesh(mesh_kind) => {
            let volume = super::meshed_from_scan(&segments).then_some(volume);
            let results = build_meshes_owned(segments, volume, opts, progress)?;
            let parts: Vec<ExportSegment<'_>> = results.iter().map(SegmentResult::part).collect();
            progress.begin("writing", 1);
            let files = write_mesh_objects(output, mesh_kind, &parts, opts.split, &source)?;
            progress.advance(1);
            Ok((results, files))
        }
    }
}
