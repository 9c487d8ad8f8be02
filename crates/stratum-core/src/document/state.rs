//! The document as one saved value: what a session folder and an autosave
//! journal's base hold of the segmentation (the app adds its view state).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{SegmentProps, SurfaceRecipe};
use crate::edit::HistorySnapshot;
use crate::mesh::SoftField;
use crate::segment::LabelMap;

/// A [`Document`](super::Document) at rest: `Send + Clone`, so a session
/// is written on a background thread while the app goes on.
#[derive(Clone, Debug)]
pub struct DocumentState {
    /// The voxels, the geometry and the segment table.
    pub labels: LabelMap,
    /// Opacity and surface recipe per segment id (absent: the defaults).
    pub props: BTreeMap<u16, SegmentProps>,
    pub history: HistorySnapshot,
}

impl DocumentState {
    /// A label map with default properties and no history.
    pub fn new(labels: LabelMap) -> DocumentState {
        DocumentState {
            labels,
            props: BTreeMap::new(),
            history: HistorySnapshot::default(),
        }
    }

    /// The level of each segment whose surface is built from the scan.
    pub fn surface_levels(&self) -> BTreeMap<u16, f64> {
        self.props
            .iter()
            .filter_map(|(&id, p)| match p.recipe {
                SurfaceRecipe::Level(l) => Some((id, l)),
                _ => None,
            })
            .collect()
    }

    /// The soft edge of each segment whose surface is a model's 0.5 level.
    pub fn soft_edges(&self) -> BTreeMap<u16, Arc<SoftField>> {
        self.props
            .iter()
            .filter_map(|(&id, p)| match &p.recipe {
                SurfaceRecipe::Soft(f) => Some((id, f.clone())),
                _ => None,
            })
            .collect()
    }

    /// Each segment's opacity (1 for those without properties).
    pub fn opacity(&self) -> BTreeMap<u16, f32> {
        self.labels
            .segments
            .iter()
            .map(|s| (s.id, self.props.get(&s.id).map_or(1.0, |p| p.opacity)))
            .collect()
    }

    /// Sets segment `id`'s surface recipe (other properties kept).
    pub fn set_recipe(&mut self, id: u16, recipe: SurfaceRecipe) {
        self.props.entry(id).or_default().recipe = recipe;
    }

    /// Sets segment `id`'s opacity (other properties kept).
    pub fn set_opacity(&mut self, id: u16, opacity: f32) {
        self.props.entry(id).or_default().opacity = opacity;
    }
}
