//! What `stratum live` starts from: a scan's segments (a preset, a window,
//! a label map, a model) or a saved session, as a segmentation document
//! and the browser's model of its visible segments (as the share page's).

use std::path::Path;
use std::sync::Arc;

use super::error::ConvertError;
use super::{ConvertOptions, build_meshes, segments_for};
use crate::base::error::Result;
use crate::base::progress::Progress;
use crate::document::{Document, DocumentState, SurfaceRecipe};
use crate::edit::HistoryConfig;
use crate::image::volume::Volume;
use crate::live::Event;
use crate::live::page::browser_model;
use crate::read::open::open_volume;
use crate::segment::{LabelMap, segment_colour};

/// A document to present and its browser model.
pub struct LiveStart {
    pub doc: Document,
    /// The compressed GLB of its visible segments.
    pub model: Vec<u8>,
    /// The scene event naming the model's parts.
    pub scene: Event,
}

/// The document of `input`'s segments as `opts` asks for them.
pub fn live_from_scan(
    input: &Path,
    opts: &ConvertOptions,
    progress: &Progress,
) -> Result<LiveStart> {
    let volume = open_volume(input, &opts.open, progress)?.volume;
    let segments = segments_for(&volume, opts, progress)?;
    let mut labels = LabelMap::empty(volume.dim(), volume.geometry);
    let mut state_props = Vec::new();
    for (name, mask, recipe) in segments.iter().filter(|(_, m, _)| m.count() > 0) {
        let id = labels.add_segment(name, &mask.bytes());
        if let Some(s) = labels.segments.iter_mut().find(|s| s.id == id) {
            s.colour = segment_colour(name, id);
        }
        state_props.push((id, recipe.clone()));
    }
    if labels.segments.is_empty() {
        return Err(ConvertError::NothingToShow.into());
    }
    let mut state = DocumentState::new(labels);
    for (id, recipe) in state_props {
        state.set_recipe(id, recipe);
    }
    let doc = Document::from_state(Some(Arc::new(volume)), state, HistoryConfig::default())?;
    start(doc, opts, progress)
}

/// The document of a saved session (its scan, when given, must be the one
/// the session was made on: brushes and threshold surfaces read it).
pub fn live_from_session(
    session: &Path,
    scan: Option<&Path>,
    opts: &ConvertOptions,
    progress: &Progress,
) -> Result<LiveStart> {
    let opened = crate::session::open_session(session, progress)?;
    if let Some(w) = &opened.warning {
        tracing::warn!("{w}");
    }
    let volume: Option<Volume> = match scan {
        Some(path) => {
            let v = open_volume(path, &opts.open, progress)?.volume;
            if opened.data.scan.as_ref().is_some_and(|r| !r.matches(&v)) {
                return Err(ConvertError::NotTheSessionScan {
                    scan: path.to_path_buf(),
                    session: session.to_path_buf(),
                }
                .into());
            }
            Some(v)
        }
        None => None,
    };
    let doc = Document::from_state(
        volume.map(Arc::new),
        opened.data.document,
        HistoryConfig::default(),
    )?;
    start(doc, opts, progress)
}

/// Meshes the document's visible segments as the app builds them (a
/// level from the scan when it is there, a model's soft edge) for the
/// browser's model.
fn start(doc: Document, opts: &ConvertOptions, progress: &Progress) -> Result<LiveStart> {
    let ids: Vec<(u16, SurfaceRecipe)> = doc
        .labels()
        .segments
        .iter()
        .filter(|s| s.visible)
        .map(|s| (s.id, doc.recipe(s.id)))
        .collect();
    let map = doc.labels().clone();
    let scan = doc.scan().cloned();
    let (glb, scene, _) = browser_meshes(&map, scan.as_deref(), &ids, opts, progress)?;
    let (Some(model), Some(scene)) = (glb, scene) else {
        return Err(ConvertError::NoVisibleVoxels.into());
    };
    Ok(LiveStart { doc, model, scene })
}

/// Meshes segments `ids` of `map` as the app builds them (a level from the
/// scan when it is there, a model's soft edge), in the browser's model
/// format: the GLB and its scene event (both `None` when no segment has
/// voxels), and the ids with no voxels.
#[allow(clippy::type_complexity)]
pub fn browser_meshes(
    map: &LabelMap,
    scan: Option<&Volume>,
    ids: &[(u16, SurfaceRecipe)],
    opts: &ConvertOptions,
    progress: &Progress,
) -> Result<(Option<Vec<u8>>, Option<Event>, Vec<u16>)> {
    let mut kept = Vec::new();
    let mut segments = Vec::new();
    let mut empty = Vec::new();
    for (id, recipe) in ids {
        let Some(s) = map.segments.iter().find(|s| s.id == *id) else {
            empty.push(*id);
            continue;
        };
        let mask = map.mask(s.id);
        if mask.count() == 0 {
            empty.push(*id);
            continue;
        }
        let recipe = match recipe {
            SurfaceRecipe::Level(l) if scan.is_some() => SurfaceRecipe::Level(*l),
            SurfaceRecipe::Soft(f) => SurfaceRecipe::Soft(f.clone()),
            _ => SurfaceRecipe::Mask,
        };
        kept.push((s.id, s.colour));
        segments.push((s.name.clone(), mask.into(), recipe));
    }
    if segments.is_empty() {
        return Ok((None, None, empty));
    }
    let mut results = build_meshes(&segments, scan, opts, progress)?;
    drop(segments);
    // build_meshes keeps every non-empty mask in order: the ids line up.
    for (r, (_, c)) in results.iter_mut().zip(&kept) {
        r.colour = *c;
    }
    let parts: Vec<_> = results
        .iter()
        .zip(&kept)
        .map(|(r, (id, _))| (*id, r.part(), r.voxel_volume_ml))
        .collect();
    let (model, scene) = browser_model(&parts)?;
    Ok((Some(model), Some(scene), empty))
}
