//! One named step of the edit history (a brush stroke, a whole-map tool or
//! AI result, a segment-table change) and the recorder that turns a brush
//! stroke's many samples into one step.

use std::collections::BTreeMap;
use std::sync::Arc;

use rayon::prelude::*;

use super::bricks::{BrickId, Region};
use super::codec::{Dec, Enc};
use super::diff::{
    BrickValues, LabelKind, PackedBrick, TableDiff, diff_maps, diff_values, read_region,
};
use crate::base::error::{CoreError, Result};
use crate::segment::{LabelMap, Segment};

/// The voxel part of a step: which bricks changed and how the storage type
/// went (u8 -> u16 when a segment id past 255 was added).
#[derive(Clone, Debug)]
pub(crate) struct VoxelDiff {
    pub dim: (usize, usize, usize),
    pub before: LabelKind,
    pub after: LabelKind,
    /// Tight box of the changed voxels.
    pub region: Region,
    pub changed: u64,
    /// Brick and packed length, in payload order.
    pub bricks: Vec<(BrickId, u32)>,
}

impl VoxelDiff {
    /// The storage type the XOR is stored in: the wider of both sides.
    pub fn domain(&self) -> LabelKind {
        if self.before == LabelKind::U16 || self.after == LabelKind::U16 {
            LabelKind::U16
        } else {
            LabelKind::U8
        }
    }
}

/// Where a step's packed bricks are: in memory, or spilled to the history's
/// file on disk (with a CRC32 so a damaged file is an error, never a wrong
/// label map).
#[derive(Clone, Debug)]
pub(crate) enum Payload {
    Memory(Arc<[u8]>),
    Disk { offset: u64, len: u64, crc: u32 },
}

impl Payload {
    pub fn len(&self) -> usize {
        match self {
            Payload::Memory(b) => b.len(),
            Payload::Disk { len, .. } => *len as usize,
        }
    }
}

/// One undoable edit. Holds only what changed; `Send`, so a whole-map diff
/// can be computed on a background thread and pushed on the main thread.
#[derive(Clone, Debug)]
pub struct Step {
    pub(crate) name: String,
    pub(crate) table: Option<TableDiff>,
    pub(crate) voxels: Option<VoxelDiff>,
    pub(crate) payload: Payload,
}

impl Step {
    /// The step of a tool or AI result that rewrote the label map: the XOR
    /// of every brick that differs, and the segment-table change. `None`
    /// when nothing changed. Runs over the whole map (in parallel): call it
    /// off the main thread for large maps.
    pub fn whole_map(
        name: impl Into<String>,
        before: &LabelMap,
        after: &LabelMap,
    ) -> Result<Option<Step>> {
        if before.dim() != after.dim() {
            return Err(CoreError::GridMismatch {
                what: "an edit's label map".into(),
                found: after.dim(),
                expected: before.dim(),
            });
        }
        let (kb, ka) = (LabelKind::of(&before.labels), LabelKind::of(&after.labels));
        let domain = wider(kb, ka);
        let bricks = diff_maps(&before.labels, &after.labels, domain);
        Ok(Step::assemble(
            name.into(),
            TableDiff::between(&before.segments, &after.segments),
            after.dim(),
            (kb, ka),
            bricks,
        ))
    }

    /// A change of the segment table alone (new, deleted, renamed or
    /// recoloured segments whose voxels did not change); `None` when equal.
    pub fn segments(
        name: impl Into<String>,
        before: &[Segment],
        after: &[Segment],
    ) -> Option<Step> {
        let table = TableDiff::between(before, after)?;
        Some(Step {
            name: name.into(),
            table: Some(table),
            voxels: None,
            payload: Payload::Memory(Arc::from(Vec::new())),
        })
    }

    fn assemble(
        name: String,
        table: Option<TableDiff>,
        dim: (usize, usize, usize),
        kinds: (LabelKind, LabelKind),
        mut bricks: Vec<PackedBrick>,
    ) -> Option<Step> {
        bricks.sort_by_key(|b| b.id);
        let voxels = (!bricks.is_empty() || kinds.0 != kinds.1).then(|| VoxelDiff {
            dim,
            before: kinds.0,
            after: kinds.1,
            region: bricks
                .iter()
                .fold(Region::empty(), |r, b| r.union(&b.changed_box)),
            changed: bricks.iter().map(|b| b.changed).sum(),
            bricks: bricks
                .iter()
                .map(|b| (b.id, b.packed.len() as u32))
                .collect(),
        });
        if voxels.is_none() && table.is_none() {
            return None;
        }
        let mut payload = Vec::with_capacity(bricks.iter().map(|b| b.packed.len()).sum());
        for b in &bricks {
            payload.extend_from_slice(&b.packed);
        }
        Some(Step {
            name,
            table,
            voxels,
            payload: Payload::Memory(Arc::from(payload)),
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The box of voxels this step changes (empty for a table-only step):
    /// what to remesh after undo or redo.
    pub fn region(&self) -> Region {
        self.voxels
            .as_ref()
            .map(|v| v.region)
            .unwrap_or_else(Region::empty)
    }

    /// The bricks holding changed voxels.
    pub fn bricks(&self) -> Vec<BrickId> {
        self.voxels
            .as_ref()
            .map(|v| v.bricks.iter().map(|b| b.0).collect())
            .unwrap_or_default()
    }

    /// Number of voxels whose label this step changes.
    pub fn changed_voxels(&self) -> u64 {
        self.voxels.as_ref().map_or(0, |v| v.changed)
    }

    pub fn changes_segments(&self) -> bool {
        self.table.is_some()
    }

    /// Bytes this step holds in memory (its packed voxels unless spilled,
    /// plus its brick list, name and table change).
    pub fn memory_bytes(&self) -> usize {
        let payload = match &self.payload {
            Payload::Memory(b) => b.len(),
            Payload::Disk { .. } => 0,
        };
        std::mem::size_of::<Step>()
            + payload
            + self.name.len()
            + self.voxels.as_ref().map_or(0, |v| v.bricks.len() * 16)
            + self.table.as_ref().map_or(0, |t| t.bytes())
    }

    /// The packed voxels when in memory (always, for a decoded or new
    /// step), else nothing.
    pub(crate) fn memory_payload(&self) -> Arc<[u8]> {
        match &self.payload {
            Payload::Memory(b) => b.clone(),
            Payload::Disk { .. } => Arc::from(Vec::new()),
        }
    }

    /// Bytes of packed voxels (in memory or on disk).
    pub fn packed_bytes(&self) -> usize {
        self.payload.len()
    }

    /// Writes the step with its packed voxels `payload`.
    pub(crate) fn encode(&self, payload: &[u8], e: &mut Enc) {
        e.str(&self.name);
        match &self.table {
            None => e.u8(0),
            Some(t) => {
                e.u8(1);
                e.usize(t.at);
                for side in [&t.before, &t.after] {
                    e.usize(side.len());
                    for s in side {
                        e.u16(s.id);
                        e.str(&s.name);
                        s.colour.iter().for_each(|&c| e.u8(c));
                        e.u8(s.visible as u8);
                    }
                }
            }
        }
        match &self.voxels {
            None => e.u8(0),
            Some(v) => {
                e.u8(1);
                for n in [v.dim.0, v.dim.1, v.dim.2] {
                    e.usize(n);
                }
                e.u8(v.before.code());
                e.u8(v.after.code());
                for n in v.region.lo.iter().chain(&v.region.hi) {
                    e.usize(*n);
                }
                e.u64(v.changed);
                e.usize(v.bricks.len());
                for (id, len) in &v.bricks {
                    e.u32(id.z);
                    e.u32(id.y);
                    e.u32(id.x);
                    e.u32(*len);
                }
                e.bytes(payload);
            }
        }
    }

    /// Reads what [`encode`](Self::encode) wrote; the payload lands in memory.
    pub(crate) fn decode(d: &mut Dec) -> Result<Step> {
        let name = d.str()?;
        let table = match d.u8()? {
            0 => None,
            1 => {
                let at = d.usize()?;
                let mut sides = [Vec::new(), Vec::new()];
                for side in &mut sides {
                    let n = d.len(14)?;
                    for _ in 0..n {
                        let id = d.u16()?;
                        let name = d.str()?;
                        let colour = [d.u8()?, d.u8()?, d.u8()?];
                        let visible = d.u8()? != 0;
                        side.push(Segment {
                            id,
                            name,
                            colour,
                            visible,
                        });
                    }
                }
                let [before, after] = sides;
                Some(TableDiff { at, before, after })
            }
            _ => return Err(d.damaged("an unknown table tag")),
        };
        let (voxels, payload) = match d.u8()? {
            0 => (None, Vec::new()),
            1 => {
                let dim = (d.usize()?, d.usize()?, d.usize()?);
                let kind = |c: u8| LabelKind::from_code(c);
                let (Some(before), Some(after)) = (kind(d.u8()?), kind(d.u8()?)) else {
                    return Err(d.damaged("an unknown label type"));
                };
                let mut r = [0usize; 6];
                for v in &mut r {
                    *v = d.usize()?;
                }
                let region = Region::new([r[0], r[1], r[2]], [r[3], r[4], r[5]]);
                let changed = d.u64()?;
                let n = d.len(16)?;
                let mut bricks = Vec::with_capacity(n);
                for _ in 0..n {
                    let id = BrickId {
                        z: d.u32()?,
                        y: d.u32()?,
                        x: d.u32()?,
                    };
                    bricks.push((id, d.u32()?));
                }
                let payload = d.bytes()?.to_vec();
                let total: u64 = bricks.iter().map(|b| b.1 as u64).sum();
                if total != payload.len() as u64 {
                    return Err(d.damaged("brick sizes that do not add up"));
                }
                let v = VoxelDiff {
                    dim,
                    before,
                    after,
                    region,
                    changed,
                    bricks,
                };
                (Some(v), payload)
            }
            _ => return Err(d.damaged("an unknown voxel tag")),
        };
        Ok(Step {
            name,
            table,
            voxels,
            payload: Payload::Memory(Arc::from(payload)),
        })
    }
}

pub(crate) fn wider(a: LabelKind, b: LabelKind) -> LabelKind {
    if a == LabelKind::U16 || b == LabelKind::U16 {
        LabelKind::U16
    } else {
        LabelKind::U8
    }
}

/// Records one brush stroke: before each sample changes voxels, the caller
/// names the region about to change and the recorder copies the bricks it
/// overlaps that this stroke has not saved yet; at the end of the stroke
/// [`finish`](Self::finish) diffs them into one step. Cost per sample: a
/// 32³ copy per newly touched brick (tens of microseconds).
#[derive(Debug)]
pub struct StrokeRecorder {
    name: String,
    dim: (usize, usize, usize),
    kind: LabelKind,
    table: Vec<Segment>,
    saved: BTreeMap<BrickId, BrickValues>,
}

impl StrokeRecorder {
    /// Starts a stroke on `map` (e.g. "Paint liver").
    pub fn new(name: impl Into<String>, map: &LabelMap) -> Self {
        StrokeRecorder {
            name: name.into(),
            dim: map.dim(),
            kind: LabelKind::of(&map.labels),
            table: map.segments.clone(),
            saved: BTreeMap::new(),
        }
    }

    /// Call before the voxels of `region` change (the region is clipped to
    /// the map; an empty one does nothing).
    pub fn touch(&mut self, map: &LabelMap, region: Region) {
        for id in region.clip(self.dim).bricks() {
            self.saved
                .entry(id)
                .or_insert_with(|| read_region(&map.labels, &id.region(self.dim)));
        }
    }

    /// Number of bricks saved so far.
    pub fn touched_bricks(&self) -> usize {
        self.saved.len()
    }

    /// Ends the stroke: the XOR of each saved brick with its voxels now,
    /// compressed. `None` when the stroke changed nothing (it is then not
    /// recorded). An error when the map changed size during the stroke.
    /// Same as `into_job(map)?.run()`.
    pub fn finish(self, map: &LabelMap) -> Result<Option<Step>> {
        Ok(self.into_job(map)?.run())
    }

    /// Ends the stroke on the main thread at the cost of copying the
    /// touched bricks' voxels (well under a millisecond); the diff and
    /// compression then run in [`StrokeJob::run`], e.g. on a background
    /// task, and the resulting step is pushed when it is done.
    pub fn into_job(self, map: &LabelMap) -> Result<StrokeJob> {
        if map.dim() != self.dim {
            return Err(CoreError::EditMismatch(
                "the label map changed size during the brush stroke",
            ));
        }
        let bricks = self
            .saved
            .into_iter()
            .map(|(id, before)| {
                let now = read_region(&map.labels, &id.region(self.dim));
                (id, before, now)
            })
            .collect();
        Ok(StrokeJob {
            name: self.name,
            dim: self.dim,
            kinds: (self.kind, LabelKind::of(&map.labels)),
            table: TableDiff::between(&self.table, &map.segments),
            bricks,
        })
    }
}

/// A finished stroke whose diff is still to be computed (`Send`).
#[derive(Debug)]
pub struct StrokeJob {
    name: String,
    dim: (usize, usize, usize),
    kinds: (LabelKind, LabelKind),
    table: Option<TableDiff>,
    bricks: Vec<(BrickId, BrickValues, BrickValues)>,
}

impl StrokeJob {
    /// XOR and compress the touched bricks (in parallel): the stroke's step,
    /// or `None` when it changed nothing.
    pub fn run(self) -> Option<Step> {
        let domain = wider(self.kinds.0, self.kinds.1);
        let dim = self.dim;
        let packed: Vec<PackedBrick> = self
            .bricks
            .par_iter()
            .filter_map(|(id, before, now)| diff_values(*id, before, now, &id.region(dim), domain))
            .collect();
        Step::assemble(self.name, self.table, dim, self.kinds, packed)
    }
}
