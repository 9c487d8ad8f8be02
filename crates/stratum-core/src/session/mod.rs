//! Sessions: a saved study (scan reference, label map, segment table, view
//! state, edit history) in a `name.stratum/` folder, and the autosave
//! journal that survives a crash.
//!
//! Folder layout: `session.json` (format version, app version, scan
//! reference, segment table, the app's view state, and the names of the
//! other files), `labels.N.nii.gz`, `history.N.bin` and, when a model made
//! segments, `soft.N.bin` (their soft edges, see [`soft`]). Each save writes
//! new numbered data files first and `session.json` last, each atomically,
//! then removes the previous ones: a crash at any moment leaves either the
//! old session or the new one, never a mix.

pub mod journal;
pub mod scan;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::base::atomic::write_bytes_atomic;
use crate::base::error::{CoreError, Result};
use crate::base::progress::Progress;
use crate::document::{DocumentState, SegmentProps, SurfaceRecipe, soft};
use crate::edit::diff::convert_labels;
use crate::edit::{HistorySnapshot, LabelKind};
use crate::image::volume::Geometry;
use crate::mesh::SoftField;
use crate::read::nifti::{load_nifti, write_labels_nifti};
use crate::segment::{LabelMap, Segment};

pub use scan::{
    ScanCheck, ScanLocation, ScanRef, ScanStatus, locate_scan, open_scan, relative_path,
    voxel_sha256,
};

/// The session format this build writes and the newest it reads.
pub const SESSION_FORMAT_VERSION: u32 = 1;
const SESSION_FILE: &str = "session.json";

/// Everything a session holds: the segmentation document, where its scan
/// is, and the app's view. One shape for a saved session, an autosave
/// journal's base and what either gives back. `Send + Clone`: the app takes
/// it on the main thread ([`Document::state`]) and saves it on a
/// background thread.
///
/// [`Document::state`]: crate::document::Document::state
#[derive(Clone, Debug)]
pub struct SessionData {
    /// The scan; `None` for a label map without a scan.
    pub scan: Option<ScanRef>,
    /// Labels, segment table, each segment's opacity and surface recipe,
    /// and the edit history.
    pub document: DocumentState,
    /// The app's view state (clip planes, rulers, camera, window/level,
    /// brush settings): stored as given.
    pub view: serde_json::Value,
}

/// An opened session and where its scan is now.
#[derive(Clone, Debug)]
pub struct OpenedSession {
    pub data: SessionData,
    /// The Stratum version that wrote it.
    pub written_by: String,
    /// Where the scan is (not loaded yet: see [`open_scan`]).
    pub scan_location: Option<ScanLocation>,
    /// What could not be read but did not stop the session opening (a
    /// damaged soft edges file: those segments are meshed from their voxels).
    pub warning: Option<String>,
}

/// One row of the segment table in session.json and autosave.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct SegmentEntry {
    pub id: u16,
    pub name: String,
    pub colour: [u8; 3],
    pub visible: bool,
    pub opacity: f32,
    /// The level of a surface built from the scan's intensities (a
    /// threshold, a preset, region growing); sessions saved before it have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surface_level: Option<f64>,
}

pub(crate) fn segment_entries(
    segments: &[Segment],
    props: &BTreeMap<u16, SegmentProps>,
) -> Vec<SegmentEntry> {
    segments
        .iter()
        .map(|s| {
            let p = props.get(&s.id).cloned().unwrap_or_default();
            SegmentEntry {
                id: s.id,
                name: s.name.clone(),
                colour: s.colour,
                visible: s.visible,
                opacity: p.opacity,
                // A level that is not a number would not read back from JSON.
                surface_level: match p.recipe {
                    SurfaceRecipe::Level(l) if l.is_finite() => Some(l),
                    _ => None,
                },
            }
        })
        .collect()
}

/// A segment table read back: the segments and their properties (the
/// soft edges come from their own file or record).
pub(crate) fn split_entries(
    entries: Vec<SegmentEntry>,
) -> (Vec<Segment>, BTreeMap<u16, SegmentProps>) {
    let props = entries
        .iter()
        .map(|e| {
            let recipe = match e.surface_level.filter(|l| l.is_finite()) {
                Some(l) => SurfaceRecipe::Level(l),
                None => SurfaceRecipe::Mask,
            };
            (
                e.id,
                SegmentProps {
                    opacity: e.opacity,
                    recipe,
                },
            )
        })
        .collect();
    let segments = entries
        .into_iter()
        .map(|e| Segment {
            id: e.id,
            name: e.name,
            colour: e.colour,
            visible: e.visible,
        })
        .collect();
    (segments, props)
}

/// The soft edges among `props`, of segments `labels` still has.
pub(crate) fn soft_edges(
    labels: &LabelMap,
    props: &BTreeMap<u16, SegmentProps>,
) -> BTreeMap<u16, Arc<SoftField>> {
    props
        .iter()
        .filter(|(id, _)| labels.segments.iter().any(|s| s.id == **id))
        .filter_map(|(&id, p)| match &p.recipe {
            SurfaceRecipe::Soft(f) => Some((id, f.clone())),
            _ => None,
        })
        .collect()
}

/// Gives the segments of `fields` their soft edge as recipe.
pub(crate) fn put_soft_edges(
    props: &mut BTreeMap<u16, SegmentProps>,
    fields: BTreeMap<u16, Arc<SoftField>>,
) {
    for p in props.values_mut() {
        if matches!(p.recipe, SurfaceRecipe::Soft(_)) {
            p.recipe = SurfaceRecipe::Mask;
        }
    }
    for (id, f) in fields {
        props.entry(id).or_default().recipe = SurfaceRecipe::Soft(f);
    }
}

/// The label map's geometry and storage type, exact (NIfTI keeps f32 only).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct LabelsEntry {
    pub file: String,
    /// "u8" or "u16".
    pub kind: String,
    pub dims: [usize; 3],
    pub origin: [f64; 3],
    pub spacing: [f64; 3],
    pub direction: [[f64; 3]; 3],
}

impl LabelsEntry {
    pub fn of(map: &LabelMap, file: String) -> LabelsEntry {
        let (z, y, x) = map.dim();
        let g = &map.geometry;
        LabelsEntry {
            file,
            kind: match LabelKind::of(&map.labels) {
                LabelKind::U8 => "u8".into(),
                LabelKind::U16 => "u16".into(),
            },
            dims: [z, y, x],
            origin: g.origin,
            spacing: g.spacing,
            direction: g.direction,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct SessionFile {
    format_version: u32,
    app_version: String,
    scan: Option<ScanRef>,
    labels: LabelsEntry,
    segments: Vec<SegmentEntry>,
    history: String,
    /// The soft edges file; sessions without model segments have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    soft: Option<String>,
    #[serde(default)]
    view: serde_json::Value,
}

/// Saves `data` into the session folder `dir` (created; `name.stratum` by
/// convention). Writes the label map (NIfTI, compressed), so it takes a
/// second or more on a large map: run it as a background job.
#[tracing::instrument(level = "info", skip_all)]
pub fn save_session(dir: &Path, data: &SessionData, app_version: &str) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
    let previous = read_session_file(dir).ok();
    let n = previous
        .as_ref()
        .and_then(|p| save_number(&p.labels.file))
        .map_or(1, |n| n + 1);
    let labels_file = format!("labels.{n}.nii.gz");
    let history_file = format!("history.{n}.bin");
    let doc = &data.document;
    write_labels_nifti(&dir.join(&labels_file), &doc.labels)?;
    write_bytes_atomic(&dir.join(&history_file), &doc.history.to_bytes())?;
    // Only the soft edges of segments the map still has.
    let soft = soft_edges(&doc.labels, &doc.props);
    let soft_file = if soft.is_empty() {
        None
    } else {
        let name = format!("soft.{n}.bin");
        write_bytes_atomic(&dir.join(&name), &soft::encode(&soft))?;
        Some(name)
    };
    let mut scan = data.scan.clone();
    if let Some(s) = &mut scan {
        s.relative = relative_path(dir, &s.path);
    }
    let file = SessionFile {
        format_version: SESSION_FORMAT_VERSION,
        app_version: app_version.to_string(),
        scan,
        labels: LabelsEntry::of(&doc.labels, labels_file.clone()),
        segments: segment_entries(&doc.labels.segments, &doc.props),
        history: history_file.clone(),
        soft: soft_file.clone(),
        view: data.view.clone(),
    };
    let json = serde_json::to_vec_pretty(&file).map_err(|e| CoreError::Serialize {
        what: "the session",
        reason: e.to_string(),
    })?;
    write_bytes_atomic(&dir.join(SESSION_FILE), &json)?;
    if let Some(p) = previous {
        let keep = [Some(&labels_file), Some(&history_file), soft_file.as_ref()];
        for old in [Some(p.labels.file), Some(p.history), p.soft]
            .into_iter()
            .flatten()
        {
            if !keep.contains(&Some(&old)) && is_plain_name(&old) {
                let _ = std::fs::remove_file(dir.join(old));
            }
        }
    }
    Ok(())
}

/// The N of `labels.N.nii.gz`.
fn save_number(file: &str) -> Option<u64> {
    file.strip_prefix("labels.")?
        .strip_suffix(".nii.gz")?
        .parse()
        .ok()
}

/// A file name inside the session folder (never a path elsewhere).
fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && Path::new(name).file_name() == Some(std::ffi::OsStr::new(name))
}

/// Reads session.json, refusing a newer format before reading anything else
/// (its layout may differ).
fn read_session_file(dir: &Path) -> Result<SessionFile> {
    let path = dir.join(SESSION_FILE);
    if !path.exists() {
        return Err(CoreError::NotFound { path });
    }
    let bytes = std::fs::read(&path).map_err(|e| CoreError::io(&path, e))?;
    let bad = |reason: String| CoreError::NotASession {
        path: path.to_path_buf(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let version = value
        .get("format_version")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| bad("it has no format_version".into()))?;
    if version > SESSION_FORMAT_VERSION as u64 {
        let by = value
            .get("app_version")
            .and_then(|v| v.as_str())
            .unwrap_or("a newer version");
        return Err(CoreError::Unsupported {
            path: dir.to_path_buf(),
            what: format!("session format {version} (saved by Stratum {by})"),
            hint: format!(
                "this Stratum {} opens session formats up to {SESSION_FORMAT_VERSION}; update Stratum to open it",
                env!("CARGO_PKG_VERSION")
            ),
        });
    }
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}

/// True for a session folder (it holds `session.json`).
pub fn is_session_folder(path: &Path) -> bool {
    path.is_dir() && path.join(SESSION_FILE).is_file()
}

/// The scan a session folder points to, read from its `session.json` alone
/// (cheap: no labels, no history), so the app can ask where a moved scan is
/// before it loads anything.
pub fn session_scan(dir: &Path) -> Result<Option<ScanRef>> {
    Ok(read_session_file(dir)?.scan)
}

/// Opens a session folder: labels, segment table, view state and history,
/// and where the scan is now.
#[tracing::instrument(level = "info", skip_all)]
pub fn open_session(dir: &Path, progress: &Progress) -> Result<OpenedSession> {
    let file = read_session_file(dir)?;
    for name in [
        Some(&file.labels.file),
        Some(&file.history),
        file.soft.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        if !is_plain_name(name) {
            return Err(CoreError::NotASession {
                path: dir.join(SESSION_FILE),
                reason: "it names a file outside the session folder".into(),
            });
        }
    }
    let (segments, mut props) = split_entries(file.segments);
    let labels = read_labels(
        &dir.join(&file.labels.file),
        &file.labels,
        segments,
        progress,
    )?;
    let hpath = dir.join(&file.history);
    let bytes = std::fs::read(&hpath).map_err(|e| CoreError::io(&hpath, e))?;
    let history = HistorySnapshot::from_bytes(&bytes)?;
    let scan_location = file.scan.as_ref().map(|s| locate_scan(s, dir));
    // The soft edges only refine surfaces: damaged, the session still opens.
    let (soft_edges, warning) = match &file.soft {
        None => (BTreeMap::new(), None),
        Some(name) => {
            let path = dir.join(name);
            let read = std::fs::read(&path)
                .map_err(|e| CoreError::io(&path, e))
                .and_then(|b| soft::decode(&b, file.labels.dims));
            match read {
                Ok(f) => (f, None),
                Err(e) => (
                    BTreeMap::new(),
                    Some(format!(
                        "the model segments' soft edges could not be read ({e}); their surfaces are built from their voxels"
                    )),
                ),
            }
        }
    };
    put_soft_edges(&mut props, soft_edges);
    Ok(OpenedSession {
        data: SessionData {
            scan: file.scan,
            document: DocumentState {
                labels,
                props,
                history,
            },
            view: file.view,
        },
        written_by: file.app_version,
        scan_location,
        warning,
    })
}

/// Loads a label map written by [`write_labels_nifti`] and restores what
/// NIfTI does not keep exactly: the f64 geometry, the storage type and the
/// segment table.
pub(crate) fn read_labels(
    path: &Path,
    entry: &LabelsEntry,
    segments: Vec<Segment>,
    progress: &Progress,
) -> Result<LabelMap> {
    let volume = load_nifti(path, progress)?;
    let mut map = LabelMap::from_volume(&volume, &|_| None)?;
    let (z, y, x) = map.dim();
    if [z, y, x] != entry.dims {
        return Err(CoreError::SessionDamaged {
            path: path.to_path_buf(),
            reason: format!(
                "it holds {:?} voxels, its session says {:?}",
                [z, y, x],
                entry.dims
            ),
        });
    }
    let kind = match entry.kind.as_str() {
        "u8" => LabelKind::U8,
        "u16" => LabelKind::U16,
        other => {
            return Err(CoreError::SessionDamaged {
                path: path.to_path_buf(),
                reason: format!("its session gives it an unknown label type {other:?}"),
            });
        }
    };
    convert_labels(&mut map.labels, kind)?;
    map.geometry = Geometry {
        origin: entry.origin,
        spacing: entry.spacing,
        direction: entry.direction,
    };
    map.segments = segments;
    Ok(map)
}
