//! Export: writes the chosen segments' surfaces as OBJ (+MTL+PNG), STL, 3MF
//! or GLB with the core exporters, or as a self-contained share page for a
//! patient (File ▸ Share), in the background; the margin map on screen goes
//! into the OBJ, GLB and page as colours.

use std::path::PathBuf;
use std::sync::Arc;

use bevy::prelude::*;
use stratum_core::base::progress::Progress;
use stratum_core::export::{
    ExportOptions, ExportSegment, Format, MarginPaint, ScanTexture, ShareOptions, export_with,
    write_share_with,
};
use stratum_core::mesh::SurfaceMesh;
use stratum_core::segment::LabelMap;

use crate::app::features::margins::{MID, Margins, NEAR};

use crate::app::state::jobs::{JobDone, JobPlugin, Notices, spawn_job};
use crate::app::state::segments::Segment;
use crate::app::state::segments::SegmentSurface;
use crate::app::state::study::Study;

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
    /// With the scan texture: bake ambient occlusion into it.
    pub ambient_occlusion: bool,
    /// The share dialog, and what the clinician types on the page.
    pub share_open: bool,
    pub share_title: String,
    pub share_note: String,
    /// Fraction of triangles removed for the page (keeps it small).
    pub share_reduce: f64,
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
            ambient_occlusion: false,
            share_open: false,
            share_title: String::new(),
            share_note: String::new(),
            share_reduce: 0.9,
        }
    }
}

impl ExportSettings {
    pub fn path(&self) -> PathBuf {
        PathBuf::from(&self.folder).join(format!("{}.{}", self.name, self.format.extension()))
    }

    /// Where the share page goes.
    pub fn share_path(&self) -> PathBuf {
        PathBuf::from(&self.folder).join(format!("{}.html", self.name))
    }
}

/// Write the share page now with the current settings.
#[derive(Message, Clone, Debug)]
pub struct ShareRequest;

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
            .add_message::<ShareRequest>()
            .init_resource::<ExportSettings>()
            .add_systems(Update, (start_export, start_share, finish_export));
    }
}

fn start_export(
    mut commands: Commands,
    mut requests: MessageReader<ExportRequest>,
    settings: Res<ExportSettings>,
    segments: Query<(&Segment, &SegmentSurface)>,
    study: Option<Res<Study>>,
    margins: Option<Res<Margins>>,
    mut notices: ResMut<Notices>,
) {
    if requests.read().last().is_none() {
        return;
    }
    let parts = chosen_parts(&segments, settings.visible_only);
    if parts.is_empty() {
        notices
            .error("Nothing to export: build the 3D model of at least one visible segment first.");
        return;
    }
    let margin = margin_shown(&parts, &segments, margins.as_deref(), study.as_deref());
    let path = settings.path();
    let reduce = settings.reduce;
    let scan = settings
        .scan_texture
        .then(|| study.map(|s| s.volume.clone()))
        .flatten();
    let occlusion = settings
        .ambient_occlusion
        .then_some(stratum_core::export::AO_REACH_MM);
    spawn_job(&mut commands, "Exporting", move |p: &Progress| {
        p.begin("exporting", parts.len() as u64 + 1);
        let reduced = reduce_all(&parts, reduce, p)?;
        let segs = export_segments(&parts, &reduced);
        stratum_core::base::atomic::create_folder(stratum_core::base::atomic::parent_dir(&path))?;
        let opts = ExportOptions {
            scan: scan.as_deref().map(|v| ScanTexture {
                occlusion_mm: occlusion,
                ..ScanTexture::new(v)
            }),
            margin: margin.as_ref().map(MarginOnScreen::paint),
        };
        let files = export_with(&path, &segs, &opts)?;
        p.advance(1);
        Ok(Exported(files))
    });
}

/// A segment to write: name, colour, surface, volume (mL), id.
type Part = (String, [u8; 3], Arc<SurfaceMesh>, f64, u16);

/// The segments to write: visible ones (or all built ones).
fn chosen_parts(segments: &Query<(&Segment, &SegmentSurface)>, visible_only: bool) -> Vec<Part> {
    segments
        .iter()
        .filter(|(s, _)| s.visible || !visible_only)
        .map(|(s, m)| (s.name.clone(), s.colour, m.0.clone(), s.voxel_ml, s.id))
        .collect()
}

/// The margin map on screen (the Distances window's pair and thresholds),
/// as an export job takes it: exports and the share page colour the same
/// segment, measured again on the mesh as written.
struct MarginOnScreen {
    /// The coloured segment's place among the parts.
    segment: usize,
    labels: Arc<LabelMap>,
    other: u16,
    other_mesh: Arc<SurfaceMesh>,
    thresholds_mm: [f32; 2],
}

impl MarginOnScreen {
    fn paint(&self) -> MarginPaint<'_> {
        MarginPaint {
            segment: self.segment,
            labels: &self.labels,
            other: self.other,
            other_mesh: &self.other_mesh,
            thresholds_mm: self.thresholds_mm,
            colours: [NEAR, MID],
        }
    }
}

/// The margin map shown, if its coloured segment is among the parts and
/// the other segment has a surface.
fn margin_shown(
    parts: &[Part],
    segments: &Query<(&Segment, &SegmentSurface)>,
    margins: Option<&Margins>,
    study: Option<&Study>,
) -> Option<MarginOnScreen> {
    let shown = margins?.shown.as_ref()?;
    let segment = parts.iter().position(|p| p.4 == shown.a)?;
    let (_, other) = segments.iter().find(|(s, _)| s.id == shown.b)?;
    Some(MarginOnScreen {
        segment,
        labels: study?.doc.labels().clone(),
        other: shown.b,
        other_mesh: other.0.clone(),
        thresholds_mm: shown.thresholds_mm,
    })
}

/// Copies of the meshes with `reduce` of their triangles removed.
fn reduce_all(
    parts: &[Part],
    reduce: f64,
    p: &Progress,
) -> Result<Vec<SurfaceMesh>, stratum_core::base::error::CoreError> {
    parts
        .iter()
        .map(|(_, _, m, _, _)| {
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
        .collect()
}

fn export_segments<'a>(parts: &'a [Part], meshes: &'a [SurfaceMesh]) -> Vec<ExportSegment<'a>> {
    parts
        .iter()
        .zip(meshes)
        .map(|((name, colour, _, _, _), mesh)| ExportSegment {
            name,
            colour: *colour,
            mesh,
        })
        .collect()
}

/// File ▸ Share: the segments as one HTML page that opens offline (the
/// same page as `stratum share`), with the clinician's title and note.
fn start_share(
    mut commands: Commands,
    mut requests: MessageReader<ShareRequest>,
    settings: Res<ExportSettings>,
    segments: Query<(&Segment, &SegmentSurface)>,
    study: Option<Res<Study>>,
    margins: Option<Res<Margins>>,
    mut notices: ResMut<Notices>,
) {
    if requests.read().last().is_none() {
        return;
    }
    let parts = chosen_parts(&segments, settings.visible_only);
    if parts.is_empty() {
        notices
            .error("Nothing to share: build the 3D model of at least one visible segment first.");
        return;
    }
    let margin = margin_shown(&parts, &segments, margins.as_deref(), study.as_deref());
    let path = settings.share_path();
    let reduce = settings.share_reduce;
    let page = ShareOptions {
        title: settings.share_title.clone(),
        note: settings.share_note.clone(),
    };
    spawn_job(
        &mut commands,
        "Writing the share page",
        move |p: &Progress| {
            p.begin("share page", parts.len() as u64 + 1);
            let reduced = reduce_all(&parts, reduce, p)?;
            let segs = export_segments(&parts, &reduced);
            let volumes: Vec<f64> = parts.iter().map(|part| part.3).collect();
            stratum_core::base::atomic::create_folder(stratum_core::base::atomic::parent_dir(
                &path,
            ))?;
            let paint = margin.as_ref().map(MarginOnScreen::paint);
            write_share_with(&path, &segs, &volumes, &page, paint.as_ref())?;
            p.advance(1);
            Ok(Exported(vec![path]))
        },
    );
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
