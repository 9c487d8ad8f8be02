//! Exports of segment meshes: binary STL and 3MF (printing), OBJ + MTL +
//! PNG (Blender, MeshLab), glTF binary (viewers, phone AR). STL, OBJ and 3MF
//! hold LPS millimetres; GLB follows glTF (metres, +Y up) with the LPS
//! placement kept in its root node. Each file states its convention; every
//! write is atomic (temporary file, then rename); no patient-identifying
//! value goes into any file.

use std::path::{Path, PathBuf};

use crate::base::error::Result;
use crate::mesh::SurfaceMesh;
use error::ExportError;

mod ao;
pub mod error;
mod glb;
mod glb_compact;
mod margin;
mod obj;
mod share;
mod stl;
mod texture;
mod threemf;

pub use glb::{GLB_NOTE, glb_root_transform, write_glb};
pub use margin::{MARGIN_COLOURS, MARGIN_THRESHOLDS_MM, MarginPaint};
pub use obj::write_obj;
pub use share::{ShareOptions, plain_name, write_share, write_share_with};
pub(crate) use share::{half_extent_m, share_script};
pub use stl::{stl_bytes, write_stl};
pub use texture::{AO_REACH_MM, Atlas, ScanTexture, atlas_png, bake_atlas};
pub use threemf::write_3mf;
pub(crate) use {glb::anatomy_centre, glb_compact::glb_compact_bytes};

/// How the surfaces are coloured where the format can (OBJ, GLB).
#[derive(Clone, Copy, Debug, Default)]
pub struct ExportOptions<'a> {
    /// Texture the surfaces with the scan; `None`: flat segment colours.
    pub scan: Option<ScanTexture<'a>>,
    /// Colour one segment by its distance to another (OBJ and GLB: vertex
    /// colours, and in the scan texture; STL and 3MF stay flat).
    pub margin: Option<MarginPaint<'a>>,
}

/// One segment's mesh with its display name and colour.
#[derive(Clone, Debug)]
pub struct ExportSegment<'a> {
    pub name: &'a str,
    pub colour: [u8; 3],
    pub mesh: &'a SurfaceMesh,
}

/// The convention sentence written into every file.
pub const UNITS_NOTE: &str = "units: millimetres; axes: DICOM patient LPS (x to patient Left, y to Posterior, z to Superior)";

/// Which format a path asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Stl,
    Obj,
    Glb,
    /// 3D Manufacturing Format: one coloured object per segment, mm.
    ThreeMf,
}

impl Format {
    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Stl => "stl",
            Format::Obj => "obj",
            Format::Glb => "glb",
            Format::ThreeMf => "3mf",
        }
    }

    pub fn from_path(p: &Path) -> Result<Format> {
        match p
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .as_deref()
        {
            Some("stl") => Ok(Format::Stl),
            Some("obj") => Ok(Format::Obj),
            Some("glb") => Ok(Format::Glb),
            Some("3mf") => Ok(Format::ThreeMf),
            _ => Err(ExportError::UnknownFormat(p.to_path_buf()).into()),
        }
    }
}

/// Writes the segments in the format the extension names, in flat colours;
/// returns the files written.
pub fn export(path: &Path, segments: &[ExportSegment<'_>]) -> Result<Vec<PathBuf>> {
    export_with(path, segments, &ExportOptions::default())
}

/// [`export`] with options: OBJ and GLB textured with the scan when asked.
#[tracing::instrument(level = "info", skip_all)]
pub fn export_with(
    path: &Path,
    segments: &[ExportSegment<'_>],
    opts: &ExportOptions<'_>,
) -> Result<Vec<PathBuf>> {
    if segments.is_empty() {
        return Err(ExportError::NoMesh { verb: "export" }.into());
    }
    let format = Format::from_path(path)?;
    let painted = match (format, &opts.margin) {
        (Format::Obj | Format::Glb, Some(m)) => {
            let t = std::time::Instant::now();
            let p = margin::paint(segments, m, &crate::base::progress::Progress::new())?;
            tracing::info!(
                "margin map of {} on {} vertices in {:.0} ms",
                segments[p.segment].name,
                p.distances.len(),
                t.elapsed().as_secs_f64() * 1000.0
            );
            Some(p)
        }
        _ => None,
    };
    let atlas = match (format, &opts.scan) {
        (Format::Obj | Format::Glb, Some(tex)) => Some(texture::bake_atlas_painted(
            segments,
            tex,
            painted.as_ref(),
        )?),
        _ => None,
    };
    match format {
        Format::Stl => write_stl(path, segments).map(|()| vec![path.to_path_buf()]),
        Format::Obj => obj::write_obj_painted(path, segments, atlas.as_ref(), painted.as_ref()),
        Format::Glb => {
            let bytes = glb::glb_bytes(path, segments, atlas.as_ref(), painted.as_ref())?;
            crate::base::atomic::write_bytes_atomic(path, &bytes)?;
            Ok(vec![path.to_path_buf()])
        }
        Format::ThreeMf => write_3mf(path, segments).map(|()| vec![path.to_path_buf()]),
    }
}

/// One binary STL per segment, named `<stem>_<segment>.stl` beside `path`.
#[tracing::instrument(level = "info", skip_all)]
pub fn write_stl_each(path: &Path, segments: &[ExportSegment<'_>]) -> Result<Vec<PathBuf>> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (s, name) in segments.iter().zip(unique_names(segments)) {
        let p = dir.join(format!("{stem}_{name}.stl"));
        write_stl(&p, std::slice::from_ref(s))?;
        out.push(p);
    }
    Ok(out)
}

/// Object and material names: the segment names made safe for OBJ (no
/// spaces) and unique.
pub fn unique_names(segments: &[ExportSegment<'_>]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    segments
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let mut n: String = s
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            if n.is_empty() {
                n = format!("segment_{}", k + 1);
            }
            if !seen.insert(n.clone()) {
                n = format!("{n}_{}", k + 1);
                seen.insert(n.clone());
            }
            n
        })
        .collect()
}
