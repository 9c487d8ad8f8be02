//! Export: writes the chosen segments' surfaces as OBJ (+MTL+PNG), STL, 3MF
//! or GLB with the core exporters, in the background.

use std::path::PathBuf;
use std::sync::Arc;

use bevy::prelude::*;
use stratum_core::Progress;
use stratum_core::export::{ExportOptions, ExportSegment, Format, ScanTexture, export_with};
use stratum_core::mesh::SurfaceMesh;

use crate::app::jobs::{JobDone, JobPlugin, Notices, spawn_job};
use crate::app::loading::Study;
use crate::app::meshing::SegmentSurface;
use crate::app::segmentation::Segment;

/// The export dialog's state.
#[derive(Resource, Debug)]
pub struct ExportSettings {
    pub open: bool,
    pub format: Format,
    /// Folder and base name (the extension follows the format).
    pub folder: String,
    pub name: String,
    /// Export only visible segments (else all built ones).
    pub visible_only: bool,
    /// Further reduction at export (fraction of triangles removed).
    pub reduce: f64,
    /// OBJ and GLB: texture the surfaces with the scan.
    pub scan_texture: bool,
}

impl Default for ExportSettings {
    fn default() -> Self {
        let folder = std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join("stratum-exports"))
            .unwrap_or_else(|| std::env::temp_dir().join("stratum-exports"));
        ExportSettings {
            open: false,
            format: Format::Obj,
            folder: folder.to_string_lossy().into_owned(),
            name: "anatomy".into(),
            visible_only: true,
            reduce: 0.0,
            scan_texture: true,
        }
    }
}

impl ExportSettings {
    pub fn path(&self) -> PathBuf {
        PathBuf::from(&self.folder).join(format!("{}.{}", self.name, self.format.extension()))
    }
}

/// Export now with the current settings.
#[derive(Message, Clone, Debug)]
pub struct ExportRequest;

/// The files written.
pub struct Exported(pub Vec<PathBuf>);

pub struct ExportPlugin;

impl Plugin for ExportPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(JobPlugin::<Exported>::default())
            .add_message::<ExportRequest>()
            .init_resource::<ExportSettings>()
            .add_systems(Update, (start_export, finish_export));
    }
}

fn start_export(
    mut commands: Commands,
    mut requests: MessageReader<ExportRequest>,
    settings: Res<ExportSettings>,
    segments: Query<(&Segment, &SegmentSurface)>,
    study: Option<Res<Study>>,
    mut notices: ResMut<Notices>,
) {
    if requests.read().last().is_none() {
        return;
    }
    let parts: Vec<(String, [u8; 3], Arc<SurfaceMesh>)> = segments
        .iter()
        .filter(|(s, _)| s.visible || !settings.visible_only)
        .map(|(s, m)| (s.name.clone(), s.colour, m.0.clone()))
        .collect();
    if parts.is_empty() {
        notices
            .error("Nothing to export: build the 3D model of at least one visible segment first.");
        return;
    }
    let path = settings.path();
    let reduce = settings.reduce;
    let scan = settings
        .scan_texture
        .then(|| study.map(|s| s.volume.clone()))
        .flatten();
    spawn_job(&mut commands, "Exporting", move |p: &Progress| {
        p.begin("exporting", parts.len() as u64 + 1);
        let reduced: Vec<SurfaceMesh> = parts
            .iter()
            .map(|(_, _, m)| {
                p.check()?;
                let mut m = (**m).clone();
                if reduce > 0.0 {
                    let b = m
                        .bounds()
                        .map(|(a, b)| (b[0] - a[0]).max(b[1] - a[1]))
                        .unwrap_or(1.0);
                    m.decimate(1.0 - reduce, 0.005 * b);
                    m.compute_normals();
                }
                p.advance(1);
                Ok(m)
            })
            .collect::<Result<_, stratum_core::CoreError>>()?;
        let segs: Vec<ExportSegment<'_>> = parts
            .iter()
            .zip(&reduced)
            .map(|((name, colour, _), mesh)| ExportSegment {
                name,
                colour: *colour,
                mesh,
            })
            .collect();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                stratum_core::CoreError::Invalid(format!("cannot create the folder: {e}"))
            })?;
        }
        let opts = ExportOptions {
            scan: scan.as_deref().map(ScanTexture::new),
        };
        let files = export_with(&path, &segs, &opts)?;
        p.advance(1);
        Ok(Exported(files))
    });
}

fn finish_export(mut done: MessageMutator<JobDone<Exported>>, mut notices: ResMut<Notices>) {
    for d in done.read() {
        let title = d.title.clone();
        if let Some(Exported(files)) = notices.take(&title, d.take()) {
            let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            notices.info(format!("Exported {}", names.join(", ")));
        }
    }
}
