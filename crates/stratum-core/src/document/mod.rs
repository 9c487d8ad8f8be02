//! The segmentation document: one value holding the label map (the master
//! representation), the segment table with each segment's display state and
//! surface recipe (how its surface is derived from the document and the
//! scan), and the edit history. There is one way in, [`Document::apply`]:
//! every change is an [`Edit`] value (a brush stroke, a tool's or a model's
//! result, a segment created, deleted, renamed, recoloured; undo and redo)
//! and comes back as a [`Change`] that says what to refresh.
//!
//! The way 3D Slicer's `vtkSegmentation` holds a master representation and
//! derives the others by conversion rules; here the rules are the
//! [`SurfaceRecipe`]s and the surfaces are built by whoever shows them.
//! Saving is an observer ([`Observer`]): the autosave journal receives each
//! history step as it is recorded, and the edit layer knows nothing of it.

mod apply;
pub mod edit;
mod snapshot;
pub mod soft;
mod state;
mod stroke;
mod tool;
pub(crate) mod wire;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

pub use edit::{Edit, EditLog, ModelSegment, TableField, Target};
pub use snapshot::{volume_from_bytes, volume_to_bytes};
pub use state::DocumentState;
pub use tool::{ToolEdits, tool_edits};

use crate::base::error::{CoreError, Result};
use crate::edit::bricks::Region;
use crate::edit::{History, HistoryConfig, Step, StepInfo, StrokeRecorder};
use crate::image::volume::Volume;
use crate::mesh::SoftField;
use crate::segment::{LabelMap, Mask, Segment, segment_colour};

/// How a segment's surface is derived, besides its voxels (the conversion
/// rule from the label map to the surface).
#[derive(Clone, Debug, PartialEq)]
pub enum SurfaceRecipe {
    /// From its voxels alone (a label map, paint, an imported mask).
    Mask,
    /// From the scan's intensities at this level, within its voxels (a
    /// threshold, a preset, region growing): sub-voxel accurate.
    Level(f64),
    /// From a model's soft output around it, at the network's 0.5 level.
    Soft(Arc<SoftField>),
}

/// What the document keeps per segment besides the label map's table
/// (name, colour, visibility).
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentProps {
    /// 0 (invisible) to 1 (opaque).
    pub opacity: f32,
    pub recipe: SurfaceRecipe,
}

impl Default for SegmentProps {
    fn default() -> Self {
        SegmentProps {
            opacity: 1.0,
            recipe: SurfaceRecipe::Mask,
        }
    }
}

/// What an applied edit (or an undo, a redo) changed: what views, surfaces
/// and followers need to refresh.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Change {
    /// Segments whose voxels changed: their surfaces are rebuilt (or, while
    /// a stroke goes on, their chunks remeshed).
    pub voxels: Vec<u16>,
    /// The box of the changed voxels (empty when none changed).
    pub region: Region,
    /// Segments that entered the table.
    pub added: Vec<u16>,
    /// Segments that left the table.
    pub removed: Vec<u16>,
    /// Segments whose name, colour, visibility, opacity or recipe changed.
    pub props: Vec<u16>,
    /// Segments whose surface recipe changed: their surfaces are rebuilt.
    pub recipes: Vec<u16>,
    /// A brush stroke goes on: the voxels changed for the sample just
    /// applied, the stroke's history step comes when it ends.
    pub live: bool,
    /// The history step recorded, undone or redone by this change.
    pub step: Option<String>,
}

impl Change {
    /// Nothing changed.
    pub fn is_empty(&self) -> bool {
        self.voxels.is_empty()
            && self.added.is_empty()
            && self.removed.is_empty()
            && self.props.is_empty()
            && self.recipes.is_empty()
            && self.step.is_none()
    }

    /// Whether the segment table (membership or a row) changed.
    pub fn table_changed(&self) -> bool {
        !self.added.is_empty() || !self.removed.is_empty() || !self.props.is_empty()
    }

    fn voxel(&mut self, id: u16) {
        if !self.voxels.contains(&id) {
            self.voxels.push(id);
        }
    }
}

/// Receives what enters the history, in order (the autosave journal; a
/// live session's log). Called on the thread that applies edits: keep it
/// cheap (queue the work).
pub trait Observer: Send + Sync {
    /// A step was recorded (its voxels are in memory).
    fn pushed(&mut self, step: &Step);
    fn undone(&mut self);
    fn redone(&mut self);
    /// The per-segment properties (opacity, recipes) are now `props`.
    fn props_changed(&mut self, props: &BTreeMap<u16, SegmentProps>);
    /// `edit` was applied and changed the document by `change` (a live
    /// session forwards the edit itself, so a follower replays it).
    fn applied(&mut self, _edit: &Edit, _change: &Change, _doc: &Document) {}
    /// A pending table edit was sealed into a history step outside
    /// [`Document::apply`] (a follower seals at the same point).
    fn sealed(&mut self) {}
}

/// A table edit being typed or dragged (a name, a colour): one history
/// step however many edits it takes, sealed by the next other edit or by
/// [`Document::seal`].
#[derive(Debug)]
struct PendingTable {
    field: TableField,
    id: u16,
    before: Vec<Segment>,
}

/// The segmentation of one scan. See the module documentation.
pub struct Document {
    scan: Option<Arc<Volume>>,
    labels: Arc<LabelMap>,
    props: BTreeMap<u16, SegmentProps>,
    /// Voxel count per label id (index = id), kept up to date by every edit.
    counts: Vec<u64>,
    history: History,
    /// What the surfaces of segments that left the table were built from,
    /// by id and name: an undo or redo that brings one back restores it.
    retired: HashMap<(u16, String), SegmentProps>,
    stroke: Option<stroke::OpenStroke>,
    pending: Option<PendingTable>,
    generation: u64,
    /// Each under a key ("autosave", "live"): one of each kind at most.
    observers: Vec<(&'static str, Box<dyn Observer>)>,
}

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Document")
            .field("dim", &self.labels.dim())
            .field("segments", &self.labels.segments.len())
            .field("history", &self.history.len())
            .field("generation", &self.generation)
            .finish_non_exhaustive()
    }
}

impl Document {
    /// A document over `labels` (its segments meshed from their voxels,
    /// opaque), with an empty history. `scan` is the image the label map
    /// lies on: brushes limited to an intensity range read it.
    pub fn new(scan: Option<Arc<Volume>>, labels: LabelMap) -> Result<Document> {
        Document::from_state(
            scan,
            DocumentState {
                labels,
                props: BTreeMap::new(),
                history: Default::default(),
            },
            HistoryConfig::default(),
        )
    }

    /// A document as saved (a session, an autosave journal's base).
    pub fn from_state(
        scan: Option<Arc<Volume>>,
        state: DocumentState,
        config: HistoryConfig,
    ) -> Result<Document> {
        if let Some(v) = &scan
            && v.dim() != state.labels.dim()
        {
            return Err(CoreError::GridMismatch {
                what: "the label map".into(),
                found: state.labels.dim(),
                expected: v.dim(),
            });
        }
        let counts = state.labels.counts();
        let mut props = state.props;
        props.retain(|id, _| state.labels.segments.iter().any(|s| s.id == *id));
        Ok(Document {
            scan,
            labels: Arc::new(state.labels),
            props,
            counts,
            history: History::from_snapshot(state.history, config),
            retired: HashMap::new(),
            stroke: None,
            pending: None,
            generation: 0,
            observers: Vec::new(),
        })
    }

    /// The document as a value to save: the label map, the properties and
    /// the history (spilled steps read back). Seals a pending table edit.
    pub fn state(&mut self) -> Result<DocumentState> {
        self.seal();
        Ok(DocumentState {
            labels: (*self.labels).clone(),
            props: self.props.clone(),
            history: self.history.snapshot()?,
        })
    }

    /// The label map (shared: background jobs hold a clone of the `Arc`).
    pub fn labels(&self) -> &Arc<LabelMap> {
        &self.labels
    }

    /// The scan the label map lies on, when the document has one.
    pub fn scan(&self) -> Option<&Arc<Volume>> {
        self.scan.as_ref()
    }

    /// The segment table, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.labels.segments
    }

    pub fn segment(&self, id: u16) -> Option<&Segment> {
        self.labels.segments.iter().find(|s| s.id == id)
    }

    /// The segment called `name`, if one is.
    pub fn segment_named(&self, name: &str) -> Option<&Segment> {
        self.labels.segments.iter().find(|s| s.name == name)
    }

    /// The display state and surface recipe of segment `id` (the defaults
    /// for an unknown id).
    pub fn props(&self, id: u16) -> SegmentProps {
        self.props.get(&id).cloned().unwrap_or_default()
    }

    /// Every segment's properties that differ from the default, by id.
    pub fn all_props(&self) -> &BTreeMap<u16, SegmentProps> {
        &self.props
    }

    pub fn recipe(&self, id: u16) -> SurfaceRecipe {
        self.props(id).recipe
    }

    /// Number of voxels of segment `id`.
    pub fn voxel_count(&self, id: u16) -> u64 {
        self.counts.get(id as usize).copied().unwrap_or(0)
    }

    /// Volume of segment `id` from its voxels, in millilitres.
    pub fn voxel_ml(&self, id: u16) -> f64 {
        self.voxel_count(id) as f64 * self.voxel_mm3() / 1000.0
    }

    fn voxel_mm3(&self) -> f64 {
        self.labels.geometry.spacing.iter().product::<f64>()
    }

    /// Bumped by every change: views compare it to know when to redraw.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The edit history (read only: it changes through [`apply`](Self::apply)).
    pub fn history(&self) -> &History {
        &self.history
    }

    /// The history steps, oldest first, for the history list.
    pub fn steps(&self) -> impl Iterator<Item = StepInfo<'_>> + '_ {
        self.history.steps()
    }

    /// The segment a stroke in progress paints, if one is.
    pub fn stroking(&self) -> Option<u16> {
        self.stroke.as_ref().map(|s| s.segment())
    }

    /// Adds an observer under `key` (replacing one under the same key):
    /// from now on it receives every history step.
    pub fn observe(&mut self, key: &'static str, observer: Box<dyn Observer>) {
        self.observers.retain(|(k, _)| *k != key);
        self.observers.push((key, observer));
    }

    /// Removes the observer under `key` (to stop an autosave journal, say).
    pub fn unobserve(&mut self, key: &str) -> Option<Box<dyn Observer>> {
        let i = self.observers.iter().position(|(k, _)| *k == key)?;
        Some(self.observers.remove(i).1)
    }

    /// Applies one edit. An error leaves the document as it was and says
    /// why (a segment that is not there, a result for another grid).
    pub fn apply(&mut self, edit: Edit) -> Result<Change> {
        // A stroke ends before anything else happens; a table edit in
        // progress is sealed unless this one continues it.
        let mut change = Change::default();
        if !matches!(edit, Edit::StrokeTo { .. } | Edit::StrokeEnd) && self.stroke.is_some() {
            change = self.end_stroke()?;
        }
        match &edit {
            Edit::SetField { id, field, .. } if self.continues_pending(*id, *field) => {}
            Edit::SetOpacity { .. } | Edit::SetRecipe { .. } => {}
            _ => self.seal(),
        }
        // Observers that forward edits get the edit as applied (cheap: masks
        // and fields are shared).
        let copy = (!self.observers.is_empty()).then(|| edit.clone());
        let next = match edit {
            Edit::StrokeBegin {
                segment,
                brush,
                point,
                name,
            } => self.begin_stroke(segment, brush, point, name)?,
            Edit::StrokeTo { point } => self.stroke_to(point)?,
            Edit::StrokeEnd => self.end_stroke()?,
            Edit::Tool {
                step,
                target,
                mask,
                recipe,
                colour,
            } => self.tool_result(step, target, &mask, recipe, colour)?,
            Edit::Model { step, segments } => self.model_result(step, segments)?,
            Edit::AddEmpty => self.add_empty(),
            Edit::Delete { id } => self.delete(id)?,
            Edit::SetField { id, field, value } => self.set_field(id, field, value)?,
            Edit::SetOpacity { id, opacity } => self.set_opacity(id, opacity)?,
            Edit::SetRecipe { id, recipe } => self.set_recipe(id, recipe)?,
            Edit::FillBetween {
                id,
                axis,
                overwrite,
            } => self.fill_between(id, axis, overwrite)?,
            Edit::Undo => self.undo_redo(false)?,
            Edit::Redo => self.undo_redo(true)?,
        };
        let change = merge(change, next);
        if !change.is_empty() {
            self.generation += 1;
        }
        if let Some(edit) = copy {
            // Taken out so each observer can read the document.
            let mut observers = std::mem::take(&mut self.observers);
            for (_, o) in &mut observers {
                o.applied(&edit, &change, self);
            }
            self.observers = observers;
        }
        Ok(change)
    }

    /// Seals a table edit in progress into one history step (the app calls
    /// it once the user stops typing or dragging).
    pub fn seal(&mut self) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let name = table_step_name(&p.before, &self.labels.segments);
        if let Some(step) = Step::segments(name, &p.before, &self.labels.segments) {
            self.push(step);
            self.generation += 1;
        }
        for (_, o) in &mut self.observers {
            o.sealed();
        }
    }

    /// Whether a table edit is waiting to be sealed.
    pub fn has_pending(&self) -> bool {
        self.pending.is_some()
    }

    fn continues_pending(&self, id: u16, field: TableField) -> bool {
        self.pending
            .as_ref()
            .is_some_and(|p| p.id == id && p.field == field)
    }

    fn push(&mut self, step: Step) {
        tracing::debug!("history: {}", step.name());
        for (_, o) in &mut self.observers {
            o.pushed(&step);
        }
        self.history.push(step);
    }

    fn notify_props(&mut self) {
        let props = &self.props;
        for (_, o) in &mut self.observers {
            o.props_changed(props);
        }
    }

    fn segment_or_err(&self, id: u16) -> Result<&Segment> {
        self.segment(id).ok_or(CoreError::NoSuchSegment { id })
    }

    /// Runs `edit` on the label map as one named history step: the bricks
    /// of `region` are saved before it, their XOR with the result after;
    /// `region` must hold every voxel the edit changes. The voxel counts
    /// follow, and the change lists the segments whose voxels changed.
    fn recorded<R>(
        &mut self,
        name: &str,
        region: Region,
        edit: impl FnOnce(&mut LabelMap) -> Result<R>,
    ) -> Result<(R, Change)> {
        let labels = Arc::make_mut(&mut self.labels);
        let region = region.clip(labels.dim());
        let full = region.len() == labels.dim().0 * labels.dim().1 * labels.dim().2;
        let before = if full {
            self.counts.clone()
        } else {
            region_counts(labels, region)
        };
        let mut recorder = StrokeRecorder::new(name, labels);
        recorder.touch(labels, region);
        let out = edit(labels)?;
        let after = if full {
            labels.counts()
        } else {
            region_counts(labels, region)
        };
        let step = recorder.finish(labels)?;
        let mut change = Change::default();
        for (id, delta) in count_changes(&before, &after) {
            apply_delta(&mut self.counts, id, delta);
            change.voxel(id);
        }
        if let Some(step) = step {
            change.region = step.region();
            change.step = Some(step.name().to_string());
            self.push(step);
        }
        Ok((out, change))
    }

    fn check_grid(&self, mask: &Mask, what: &str) -> Result<()> {
        if mask.dim() != self.labels.dim() {
            return Err(CoreError::GridMismatch {
                what: what.into(),
                found: mask.dim(),
                expected: self.labels.dim(),
            });
        }
        Ok(())
    }
}

/// Joins the change of an implied stroke end with the edit's own.
fn merge(mut a: Change, b: Change) -> Change {
    if a.is_empty() {
        return b;
    }
    for id in b.voxels {
        a.voxel(id);
    }
    a.region = a.region.union(&b.region);
    a.added.extend(b.added);
    a.removed.extend(b.removed);
    a.props.extend(b.props);
    a.recipes.extend(b.recipes);
    a.live = b.live;
    a.step = b.step.or(a.step);
    a
}

/// Adds a mask as a new segment: its voxels join the label map (over
/// whatever was there); the colour reads as the anatomy unless one is given.
fn add_segment(labels: &mut LabelMap, name: &str, colour: Option<[u8; 3]>, mask: &Mask) -> u16 {
    let id = labels.add_segment(name, mask);
    let colour = colour.unwrap_or_else(|| segment_colour(name, id));
    if let Some(entry) = labels.segments.iter_mut().find(|e| e.id == id) {
        entry.colour = colour;
    }
    id
}

/// The name of the step that changed `before` into `after` ("Rename A to
/// B", "Recolour A", "Hide A").
fn table_step_name(before: &[Segment], after: &[Segment]) -> String {
    after
        .iter()
        .find_map(|a| {
            let b = before.iter().find(|b| b.id == a.id)?;
            if a.name != b.name {
                Some(format!("Rename {} to {}", b.name, a.name))
            } else if a.colour != b.colour {
                Some(format!("Recolour {}", a.name))
            } else if a.visible != b.visible {
                Some(format!(
                    "{} {}",
                    if a.visible { "Show" } else { "Hide" },
                    a.name
                ))
            } else {
                None
            }
        })
        .unwrap_or_else(|| "Change segments".into())
}

/// The voxel box of a mask's set voxels (empty when none).
pub fn mask_region(mask: &Mask) -> Region {
    match mask.bounds() {
        Some(b) => Region::new([b[0].0, b[1].0, b[2].0], [b[0].1, b[1].1, b[2].1]),
        None => Region::empty(),
    }
}

/// Voxel counts per label id inside `region` (index = id).
pub fn region_counts(labels: &LabelMap, region: Region) -> Vec<u64> {
    let mut counts = vec![0u64; 1];
    let r = region.clip(labels.dim());
    if r.is_empty() {
        return counts;
    }
    for z in r.lo[0]..r.hi[0] {
        for y in r.lo[1]..r.hi[1] {
            for x in r.lo[2]..r.hi[2] {
                let v = labels.get(z, y, x) as usize;
                if v >= counts.len() {
                    counts.resize(v + 1, 0);
                }
                counts[v] += 1;
            }
        }
    }
    counts
}

/// The ids (not the background) whose count differs between two count
/// lists, with the change in voxels.
pub fn count_changes(before: &[u64], after: &[u64]) -> Vec<(u16, i64)> {
    (1..before.len().max(after.len()))
        .filter_map(|i| {
            let b = before.get(i).copied().unwrap_or(0) as i64;
            let a = after.get(i).copied().unwrap_or(0) as i64;
            (a != b).then_some((i as u16, a - b))
        })
        .collect()
}

fn apply_delta(counts: &mut Vec<u64>, id: u16, delta: i64) {
    let i = id as usize;
    if i >= counts.len() {
        counts.resize(i + 1, 0);
    }
    counts[i] = (counts[i] as i64 + delta).max(0) as u64;
}
