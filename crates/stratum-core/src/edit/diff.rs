//! What one edit changed, stored as a difference rather than a copy: per
//! touched brick the XOR of the voxels before and after (deflated),
//! and for the segment table the span of entries that differ.
//!
//! XOR is its own inverse, so one diff both undoes and redoes an edit; an
//! unchanged brick XORs to zeros and is not stored at all.

use ndarray::{Array3, Axis, s};
use rayon::prelude::*;

use super::bricks::{BrickGrid, BrickId, Region};
use crate::base::error::{CoreError, Result};
use crate::segment::{Labels, Segment};

/// How the label map stores its labels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabelKind {
    U8,
    U16,
}

impl LabelKind {
    pub fn of(labels: &Labels) -> Self {
        match labels {
            Labels::U8(_) => LabelKind::U8,
            Labels::U16(_) => LabelKind::U16,
        }
    }
    pub(crate) fn bytes(self) -> usize {
        match self {
            LabelKind::U8 => 1,
            LabelKind::U16 => 2,
        }
    }
    pub(crate) fn code(self) -> u8 {
        self.bytes() as u8
    }
    pub(crate) fn from_code(c: u8) -> Option<Self> {
        match c {
            1 => Some(LabelKind::U8),
            2 => Some(LabelKind::U16),
            _ => None,
        }
    }
}

/// Converts the label storage to `kind`. Narrowing fails (and leaves the
/// labels as they were) when a label does not fit in a u8.
pub(crate) fn convert_labels(labels: &mut Labels, kind: LabelKind) -> Result<()> {
    match (&*labels, kind) {
        (Labels::U8(a), LabelKind::U16) => *labels = Labels::U16(a.mapv(u16::from)),
        (Labels::U16(a), LabelKind::U8) => {
            if a.iter().any(|&v| v > 255) {
                return Err(CoreError::LabelsTooWide {
                    max: 255,
                    storage: "u8",
                });
            }
            *labels = Labels::U8(a.mapv(|v| v as u8));
        }
        _ => {}
    }
    Ok(())
}

/// The voxels of one brick, copied out in (z, y, x) order.
#[derive(Clone, Debug)]
pub(crate) enum BrickValues {
    U8(Vec<u8>),
    U16(Vec<u16>),
}

/// Copies row by row (x rows are contiguous): several times faster than an
/// element iterator over a 3D slice, and touch() runs once per new brick
/// inside the brush's frame budget.
fn region_slice<T: Copy>(a: &Array3<T>, r: &Region) -> Vec<T> {
    let v = a.slice(s![r.lo[0]..r.hi[0], r.lo[1]..r.hi[1], r.lo[2]..r.hi[2]]);
    let mut out = Vec::with_capacity(r.len());
    for lane in v.lanes(Axis(2)) {
        match lane.as_slice() {
            Some(row) => out.extend_from_slice(row),
            None => out.extend(lane.iter().copied()),
        }
    }
    out
}

pub(crate) fn read_region(labels: &Labels, r: &Region) -> BrickValues {
    match labels {
        Labels::U8(a) => BrickValues::U8(region_slice(a, r)),
        Labels::U16(a) => BrickValues::U16(region_slice(a, r)),
    }
}

/// One brick's XOR, compressed, with the tight box of its changed voxels.
pub(crate) struct PackedBrick {
    pub id: BrickId,
    pub packed: Vec<u8>,
    pub changed_box: Region,
    pub changed: u64,
}

/// XORs `before` with the current voxels of `region` and packs the result
/// in the storage type `domain` (the wider of the map's types before and
/// after the edit); `None` when nothing changed.
pub(crate) fn diff_brick(
    id: BrickId,
    before: &BrickValues,
    after: &Labels,
    region: &Region,
    domain: LabelKind,
) -> Option<PackedBrick> {
    diff_values(id, before, &read_region(after, region), region, domain)
}

/// [`diff_brick`] on voxels already copied out (`now`, of `region`).
pub(crate) fn diff_values(
    id: BrickId,
    before: &BrickValues,
    now: &BrickValues,
    region: &Region,
    domain: LabelKind,
) -> Option<PackedBrick> {
    let xor: Vec<u16> = match (before, now) {
        (BrickValues::U8(b), BrickValues::U8(a)) => {
            b.iter().zip(a).map(|(b, a)| (b ^ a) as u16).collect()
        }
        (BrickValues::U8(b), BrickValues::U16(a)) => {
            b.iter().zip(a).map(|(&b, a)| b as u16 ^ a).collect()
        }
        (BrickValues::U16(b), BrickValues::U8(a)) => {
            b.iter().zip(a).map(|(b, &a)| b ^ a as u16).collect()
        }
        (BrickValues::U16(b), BrickValues::U16(a)) => b.iter().zip(a).map(|(b, a)| b ^ a).collect(),
    };
    let ext = [
        region.hi[0] - region.lo[0],
        region.hi[1] - region.lo[1],
        region.hi[2] - region.lo[2],
    ];
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    let mut changed = 0u64;
    for (i, &v) in xor.iter().enumerate() {
        if v != 0 {
            let p = [i / (ext[1] * ext[2]), (i / ext[2]) % ext[1], i % ext[2]];
            for a in 0..3 {
                lo[a] = lo[a].min(p[a]);
                hi[a] = hi[a].max(p[a] + 1);
            }
            changed += 1;
        }
    }
    if changed == 0 {
        return None;
    }
    // In a u8 domain both sides were u8, so every XOR fits in a byte.
    let raw: Vec<u8> = if domain == LabelKind::U8 {
        xor.iter().map(|&v| v as u8).collect()
    } else {
        xor.iter().flat_map(|v| v.to_le_bytes()).collect()
    };
    Some(PackedBrick {
        id,
        packed: pack(&raw),
        changed_box: Region::new(
            std::array::from_fn(|a| region.lo[a] + lo[a]),
            std::array::from_fn(|a| region.lo[a] + hi[a]),
        ),
        changed,
    })
}

/// XOR of two whole label maps of the same dimensions, brick by brick in
/// parallel, in the storage type `domain`.
pub(crate) fn diff_maps(before: &Labels, after: &Labels, domain: LabelKind) -> Vec<PackedBrick> {
    let dim = match after {
        Labels::U8(a) => a.dim(),
        Labels::U16(a) => a.dim(),
    };
    let grid = BrickGrid::new(dim);
    (0..grid.len())
        .into_par_iter()
        .filter_map(|i| {
            let id = grid.id(i);
            let r = id.region(dim);
            diff_brick(id, &read_region(before, &r), after, &r, domain)
        })
        .collect()
}

/// XORs one packed brick into the labels (storage type `kind`, checked by
/// the caller). The packed bytes come from memory or a CRC-checked spill
/// file, so a failed decompression means a bug, reported as an error.
pub(crate) fn xor_into(labels: &mut Labels, region: &Region, packed: &[u8]) -> Result<()> {
    let bytes = match labels {
        Labels::U8(_) => 1,
        Labels::U16(_) => 2,
    };
    let raw = unpack(packed, region.len() * bytes)?;
    let sl = s![
        region.lo[0]..region.hi[0],
        region.lo[1]..region.hi[1],
        region.lo[2]..region.hi[2]
    ];
    if region.is_empty() {
        return Ok(());
    }
    let w = region.hi[2] - region.lo[2];
    match labels {
        Labels::U8(a) => {
            for (mut lane, xs) in a
                .slice_mut(sl)
                .lanes_mut(Axis(2))
                .into_iter()
                .zip(raw.chunks_exact(w))
            {
                lane.iter_mut().zip(xs).for_each(|(v, x)| *v ^= x);
            }
        }
        Labels::U16(a) => {
            for (mut lane, xs) in a
                .slice_mut(sl)
                .lanes_mut(Axis(2))
                .into_iter()
                .zip(raw.chunks_exact(2 * w))
            {
                lane.iter_mut()
                    .zip(xs.chunks_exact(2))
                    .for_each(|(v, x)| *v ^= u16::from_le_bytes([x[0], x[1]]));
            }
        }
    }
    Ok(())
}

/// A change of the segment table: entries `at..at + before.len()` were
/// replaced by `after` (an added segment, a deletion, a rename or recolour
/// is one such span; unchanged entries on both sides are not stored).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct TableDiff {
    pub at: usize,
    pub before: Vec<Segment>,
    pub after: Vec<Segment>,
}

impl TableDiff {
    pub fn between(before: &[Segment], after: &[Segment]) -> Option<TableDiff> {
        if before == after {
            return None;
        }
        let prefix = before.iter().zip(after).take_while(|(a, b)| a == b).count();
        let max_suffix = before.len().min(after.len()) - prefix;
        let suffix = before
            .iter()
            .rev()
            .zip(after.iter().rev())
            .take(max_suffix)
            .take_while(|(a, b)| a == b)
            .count();
        Some(TableDiff {
            at: prefix,
            before: before[prefix..before.len() - suffix].to_vec(),
            after: after[prefix..after.len() - suffix].to_vec(),
        })
    }

    /// True when `table` is in the state this diff starts from (`forward`)
    /// or ends in (undo).
    pub fn fits(&self, table: &[Segment], forward: bool) -> bool {
        let expect = if forward { &self.before } else { &self.after };
        table.get(self.at..self.at + expect.len()) == Some(expect.as_slice())
    }

    /// Applies (forward) or reverts the change; check [`fits`](Self::fits) first.
    pub fn apply(&self, table: &mut Vec<Segment>, forward: bool) {
        let (from, to) = if forward {
            (&self.before, &self.after)
        } else {
            (&self.after, &self.before)
        };
        table.splice(self.at..self.at + from.len(), to.iter().cloned());
    }

    pub fn bytes(&self) -> usize {
        self.before
            .iter()
            .chain(&self.after)
            .map(|s| std::mem::size_of::<Segment>() + s.name.len())
            .sum()
    }
}

/// Deflate level of the packed bricks: 6 packs a 90-sample stroke's XOR
/// about 5x smaller than lz4 (bench: 8 vs 42 KiB at radius 20) at the same
/// undo time, since inflating a few hundred KiB takes well under 1 ms.
const LEVEL: u32 = 6;

pub(crate) fn pack(raw: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::DeflateEncoder::new(
        Vec::with_capacity(raw.len() / 16),
        flate2::Compression::new(LEVEL),
    );
    // Writing into a Vec cannot fail.
    let _ = e.write_all(raw);
    e.finish().unwrap_or_default()
}

/// Inflates one packed brick of `len` bytes; anything else is an error.
pub(crate) fn unpack(packed: &[u8], len: usize) -> Result<Vec<u8>> {
    use std::io::Read;
    let damaged = |detail: String| CoreError::HistoryDamaged { detail };
    // Deflate inflates at most ~1032:1: a damaged length asks no more.
    let mut out = Vec::with_capacity(len.min(packed.len().saturating_mul(1032)));
    flate2::read::DeflateDecoder::new(packed)
        .take(len as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| damaged(e.to_string()))?;
    if out.len() != len {
        return Err(damaged(format!("{} bytes instead of {len}", out.len())));
    }
    Ok(out)
}
