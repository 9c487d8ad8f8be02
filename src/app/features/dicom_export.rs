//! File ▸ Export DICOM: the document's segments as a DICOM Segmentation, or
//! the built surfaces as Encapsulated STL (or OBJ + MTL), filed in the
//! scan's study as a new series; optionally sent to the PACS node of the
//! Open from PACS dialog (C-STORE, or STOW-RS for a DICOMweb node). The
//! core writes and sends (`stratum_core::derived`, `stratum_core::pacs`).

use std::path::PathBuf;
use std::sync::Arc;

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use stratum_core::derived::{
    MeshObject, SegAlgorithm, SegSegment, Source, write_mesh_objects, write_seg,
};
use stratum_core::document::{Document, SurfaceRecipe};
use stratum_core::export::ExportSegment;
use stratum_core::mesh::SurfaceMesh;
use stratum_core::pacs::{self, Node, PacsConfig};
use stratum_core::{base::error::CoreError, base::progress::Progress, read::open::OpenOptions};

use crate::app::features::pacs::{PacsState, Transport, core_error};
use crate::app::state::jobs::{JobDone, JobPlugin, Notices, spawn_job};
use crate::app::state::segments::{Segment, SegmentSurface};
use crate::app::state::study::{Study, StudySource};

/// Which DICOM object to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DicomKind {
    /// A binary Segmentation of the label map (one segment per label).
    #[default]
    Seg,
    /// The surfaces as Encapsulated STL (modality M3D).
    Stl,
    /// The surfaces as Encapsulated OBJ with its MTL.
    Obj,
}

impl DicomKind {
    pub fn extension(self) -> &'static str {
        match self {
            DicomKind::Seg => "seg.dcm",
            DicomKind::Stl => "stl.dcm",
            DicomKind::Obj => "obj.dcm",
        }
    }
}

/// The Export DICOM dialog's state.
#[derive(Resource, Debug)]
pub struct DicomExport {
    pub open: bool,
    pub kind: DicomKind,
    pub folder: String,
    pub name: String,
    /// Surfaces: one object per segment instead of one for all.
    pub split: bool,
    /// Surfaces: only the visible segments.
    pub visible_only: bool,
    /// Send what was written to the Open from PACS dialog's node.
    pub send: bool,
}

impl Default for DicomExport {
    fn default() -> Self {
        let folder = std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join("stratum-exports"))
            .unwrap_or_else(|| std::env::temp_dir().join("stratum-exports"));
        DicomExport {
            open: false,
            kind: DicomKind::Seg,
            folder: folder.to_string_lossy().into_owned(),
            name: "segments".into(),
            split: false,
            visible_only: true,
            send: false,
        }
    }
}

impl DicomExport {
    pub fn path(&self) -> PathBuf {
        PathBuf::from(&self.folder).join(format!("{}.{}", self.name.trim(), self.kind.extension()))
    }
}

/// Write (and maybe send) now with the dialog's settings.
#[derive(Message, Clone, Debug)]
pub struct DicomExportRequest;

/// The files written, and how many objects the node stored (when sent).
pub struct DicomWritten {
    pub files: Vec<PathBuf>,
    pub sent: Option<(String, usize)>,
}

pub struct DicomExportPlugin;

impl Plugin for DicomExportPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(JobPlugin::<DicomWritten>::default())
            .init_resource::<DicomExport>()
            .add_message::<DicomExportRequest>()
            .add_systems(Update, (start_export, finish_export));
    }
}

/// How each segment was made, for the SEG's algorithm identification: a
/// model's soft output is an AI segment (named after the model's history
/// step), a level (threshold, preset, region growing) a person steered.
fn algorithm(doc: &Document, id: u16) -> SegAlgorithm {
    match doc.recipe(id) {
        SurfaceRecipe::Mask => SegAlgorithm::Manual,
        SurfaceRecipe::Level(_) => SegAlgorithm::SemiAutomatic {
            name: "Stratum threshold".into(),
        },
        SurfaceRecipe::Soft(_) => SegAlgorithm::Automatic {
            name: doc
                .steps()
                .filter_map(|s| s.name.strip_prefix("AI ").map(str::to_string))
                .last()
                .unwrap_or_else(|| "Stratum AI model".into()),
            version: format!("Stratum {}", env!("CARGO_PKG_VERSION")),
        },
    }
}

/// What the job needs from the world, copied out of it.
enum Payload {
    Seg(Vec<(String, [u8; 3], stratum_core::segment::Mask, SegAlgorithm)>),
    Mesh(MeshObject, Vec<(String, [u8; 3], Arc<SurfaceMesh>)>),
}

/// What an export takes from the world: the study (its document for a
/// SEG), where its scan came from (the source series the objects refer
/// to), and the built surfaces (for STL or OBJ objects).
#[derive(SystemParam)]
struct Exported<'w, 's> {
    study: Option<Res<'w, Study>>,
    source: Option<Res<'w, StudySource>>,
    surfaces: Query<'w, 's, (&'static Segment, &'static SegmentSurface)>,
}

impl Exported<'_, '_> {
    /// The segments or surfaces to write, copied out for the job.
    fn payload(&self, settings: &DicomExport) -> Result<Payload, &'static str> {
        let Some(study) = self.study.as_deref() else {
            return Err("Open a study and make segments before exporting DICOM.");
        };
        match settings.kind {
            DicomKind::Seg => {
                let doc = &study.doc;
                let labels = doc.labels();
                let parts: Vec<_> = doc
                    .segments()
                    .iter()
                    .filter(|s| doc.voxel_count(s.id) > 0)
                    .map(|s| {
                        (
                            s.name.clone(),
                            s.colour,
                            labels.mask(s.id),
                            algorithm(doc, s.id),
                        )
                    })
                    .collect();
                if parts.is_empty() {
                    return Err("Nothing to export: no segment has any voxel.");
                }
                Ok(Payload::Seg(parts))
            }
            DicomKind::Stl | DicomKind::Obj => {
                let mut parts: Vec<_> = self
                    .surfaces
                    .iter()
                    .filter(|(s, _)| s.visible || !settings.visible_only)
                    .map(|(s, m)| (s.id, s.name.clone(), s.colour, m.0.clone()))
                    .collect();
                if parts.is_empty() {
                    return Err(
                        "Nothing to export: build the 3D model of at least one visible segment first.",
                    );
                }
                parts.sort_by_key(|p| p.0);
                let kind = if settings.kind == DicomKind::Stl {
                    MeshObject::Stl
                } else {
                    MeshObject::Obj
                };
                Ok(Payload::Mesh(
                    kind,
                    parts.into_iter().map(|(_, n, c, m)| (n, c, m)).collect(),
                ))
            }
        }
    }
}

fn start_export(
    mut commands: Commands,
    mut requests: MessageReader<DicomExportRequest>,
    mut settings: ResMut<DicomExport>,
    pacs_state: Res<PacsState>,
    exported: Exported,
    mut notices: ResMut<Notices>,
) {
    if requests.read().last().is_none() {
        return;
    }
    let payload = match exported.payload(&settings) {
        Ok(p) => p,
        Err(e) => return notices.error(e),
    };
    let send = if settings.send {
        match pacs_state.resolve() {
            Ok(node) => Some((
                pacs_state.config.clone(),
                node,
                pacs_state.transport == Transport::Web,
            )),
            Err(e) => return notices.error(e.to_string()),
        }
    } else {
        None
    };
    let scan = exported
        .source
        .as_deref()
        .map(|s| (s.path.clone(), s.series.clone()));
    let path = settings.path();
    let split = settings.split;
    settings.open = false;
    spawn_job(&mut commands, "Exporting DICOM", move |p: &Progress| {
        let src = match &scan {
            Some((path, series)) => {
                let mut opts = OpenOptions::new();
                opts.series = series.clone();
                Source::of_scan(path, &opts, p)?
            }
            None => Source::new_study(),
        };
        stratum_core::base::atomic::create_folder(stratum_core::base::atomic::parent_dir(&path))?;
        let files = match &payload {
            Payload::Seg(parts) => {
                let segs: Vec<SegSegment<'_>> = parts
                    .iter()
                    .map(|(name, colour, mask, algorithm)| SegSegment {
                        name,
                        colour: *colour,
                        mask,
                        algorithm: algorithm.clone(),
                    })
                    .collect();
                write_seg(&path, &segs, &src, p)?;
                vec![path.clone()]
            }
            Payload::Mesh(kind, parts) => {
                let segs: Vec<ExportSegment<'_>> = parts
                    .iter()
                    .map(|(name, colour, mesh)| ExportSegment {
                        name,
                        colour: *colour,
                        mesh,
                    })
                    .collect();
                write_mesh_objects(&path, *kind, &segs, split, &src)?
            }
        };
        let sent = match send {
            Some((config, node, web)) => Some(send_files(&config, &node, web, &files, p)?),
            None => None,
        };
        Ok(DicomWritten { files, sent })
    });
}

/// Sends `files` to `node` (STOW-RS for a DICOMweb node or when asked,
/// else C-STORE); returns the node's name and how many it stored.
fn send_files(
    config: &PacsConfig,
    node: &Node,
    web: bool,
    files: &[PathBuf],
    p: &Progress,
) -> Result<(String, usize), CoreError> {
    let stored = if web || node.port == 0 {
        pacs::web::store_web(config, node, files, p)
    } else {
        pacs::store_files(config, node, files, p).map(|r| r.stored)
    }
    .map_err(core_error)?;
    Ok((node.name.clone(), stored))
}

fn finish_export(mut done: MessageMutator<JobDone<DicomWritten>>, mut notices: ResMut<Notices>) {
    for d in done.read() {
        let title = d.title.clone();
        if let Some(w) = notices.take(&title, d.take()) {
            let names: Vec<String> = w.files.iter().map(|f| f.display().to_string()).collect();
            let sent = w
                .sent
                .map(|(node, n)| format!("; {node} stored {n} object(s)"))
                .unwrap_or_default();
            notices.info(format!("Wrote {}{sent}", names.join(", ")));
        }
    }
}
