//! One undo/redo history for every edit of the label map (brush strokes,
//! tools, AI results, segment-table changes). Steps hold diffs, not copies;
//! past a memory budget the oldest steps move to a spill file on disk
//! instead of being dropped, and undo reads them back.
//!
//! Driving it from a frame loop: `push`, `undo` and `redo` of a stroke cost
//! about a millisecond; a whole-map step is diffed with
//! [`Step::whole_map`] on a background thread and pushed when done.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::bricks::{BrickId, Region};
use super::codec::{Dec, Enc};
use super::diff::{LabelKind, convert_labels, xor_into};
use super::step::{Payload, Step};
use crate::base::error::{CoreError, Result};
use crate::segment::LabelMap;

/// Memory budget and spill folder of a [`History`].
#[derive(Clone, Debug)]
pub struct HistoryConfig {
    /// Bytes of steps kept in memory before the oldest move to disk.
    pub memory_budget: usize,
    /// Folder for the spill file; `None` keeps every step in memory.
    pub spill_dir: Option<PathBuf>,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            memory_budget: 256 << 20,
            spill_dir: None,
        }
    }
}

/// What an undo or redo changed: remesh `bricks` (inside `region`), and
/// refresh the segment list when `segments_changed`.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    pub name: String,
    pub region: Region,
    pub bricks: Vec<BrickId>,
    pub segments_changed: bool,
}

/// One line of the history list.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepInfo<'a> {
    pub name: &'a str,
    /// True for steps that are applied (undo goes back through them),
    /// false for the ones redo would re-apply.
    pub done: bool,
    pub changed_voxels: u64,
    pub memory_bytes: usize,
    pub on_disk: bool,
}

/// The edit history. Not `Clone` (it owns a spill file); a
/// [`HistorySnapshot`] is what sessions save.
#[derive(Debug)]
pub struct History {
    steps: Vec<Step>,
    applied: usize,
    config: HistoryConfig,
    spill: Option<Spill>,
}

impl Default for History {
    fn default() -> Self {
        History::new(HistoryConfig::default())
    }
}

impl History {
    pub fn new(config: HistoryConfig) -> Self {
        History {
            steps: Vec::new(),
            applied: 0,
            config,
            spill: None,
        }
    }

    /// Records a step that has already been applied to the label map (a
    /// finished stroke, a tool result). Clears what redo would re-apply and
    /// spills old steps when over the memory budget.
    pub fn push(&mut self, step: Step) {
        self.steps.truncate(self.applied);
        if let Some(spill) = &mut self.spill
            && !self
                .steps
                .iter()
                .any(|s| matches!(s.payload, Payload::Disk { .. }))
        {
            spill.clear();
        }
        self.steps.push(step);
        self.applied = self.steps.len();
        self.enforce_budget();
    }

    /// Undoes the last applied step on `map`; `None` when there is nothing
    /// to undo. An error (and `map` unchanged) when the map does not match
    /// the history or a spilled step cannot be read back.
    pub fn undo(&mut self, map: &mut LabelMap) -> Result<Option<Applied>> {
        if self.applied == 0 {
            return Ok(None);
        }
        let applied = self.apply(self.applied - 1, map, false)?;
        self.applied -= 1;
        Ok(Some(applied))
    }

    /// Re-applies the last undone step; `None` when there is none.
    pub fn redo(&mut self, map: &mut LabelMap) -> Result<Option<Applied>> {
        if self.applied == self.steps.len() {
            return Ok(None);
        }
        let applied = self.apply(self.applied, map, true)?;
        self.applied += 1;
        Ok(Some(applied))
    }

    fn apply(&self, index: usize, map: &mut LabelMap, forward: bool) -> Result<Applied> {
        let step = &self.steps[index];
        let payload = self.payload(step)?;
        apply_step(step, &payload, map, forward)?;
        Ok(Applied {
            name: step.name.clone(),
            region: step.region(),
            bricks: step.bricks(),
            segments_changed: step.table.is_some(),
        })
    }

    fn payload(&self, step: &Step) -> Result<Arc<[u8]>> {
        match &step.payload {
            Payload::Memory(b) => Ok(b.clone()),
            Payload::Disk { offset, len, crc } => {
                let spill = self
                    .spill
                    .as_ref()
                    .ok_or_else(|| CoreError::HistoryDamaged {
                        detail: "a step on disk has no spill file".into(),
                    })?;
                Ok(Arc::from(spill.read(*offset, *len, *crc)?))
            }
        }
    }

    pub fn can_undo(&self) -> bool {
        self.applied > 0
    }

    pub fn can_redo(&self) -> bool {
        self.applied < self.steps.len()
    }

    /// Name of the step undo would revert ("Undo Paint liver").
    pub fn undo_name(&self) -> Option<&str> {
        self.applied.checked_sub(1).map(|i| self.steps[i].name())
    }

    pub fn redo_name(&self) -> Option<&str> {
        self.steps.get(self.applied).map(|s| s.name())
    }

    /// Number of steps, applied or not.
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// Number of applied steps (the position of the undo cursor).
    pub fn applied(&self) -> usize {
        self.applied
    }

    /// The steps, oldest first, for the history list.
    pub fn steps(&self) -> impl Iterator<Item = StepInfo<'_>> + '_ {
        self.steps.iter().enumerate().map(|(i, s)| StepInfo {
            name: s.name(),
            done: i < self.applied,
            changed_voxels: s.changed_voxels(),
            memory_bytes: s.memory_bytes(),
            on_disk: matches!(s.payload, Payload::Disk { .. }),
        })
    }

    /// Bytes the steps hold in memory.
    pub fn memory_bytes(&self) -> usize {
        self.steps.iter().map(Step::memory_bytes).sum()
    }

    /// Bytes of steps spilled to disk.
    pub fn disk_bytes(&self) -> u64 {
        self.steps
            .iter()
            .map(|s| match s.payload {
                Payload::Disk { len, .. } => len,
                Payload::Memory(_) => 0,
            })
            .sum()
    }

    /// Moves the oldest in-memory steps to the spill file until the
    /// in-memory total fits the budget. The newest step stays in memory so
    /// the usual undo never reads the disk. A failed write keeps the step
    /// in memory (logged): nothing is dropped.
    fn enforce_budget(&mut self) {
        let Some(dir) = self.config.spill_dir.clone() else {
            return;
        };
        let mut total = self.memory_bytes();
        let newest = self.steps.len().saturating_sub(1);
        for i in 0..newest {
            if total <= self.config.memory_budget {
                break;
            }
            let Payload::Memory(bytes) = self.steps[i].payload.clone() else {
                continue;
            };
            if bytes.is_empty() {
                continue;
            }
            if self.spill.is_none() {
                match Spill::create(&dir) {
                    Ok(s) => self.spill = Some(s),
                    Err(e) => {
                        tracing::warn!("edit history stays in memory: {e}");
                        return;
                    }
                }
            }
            let spill = self.spill.as_mut().expect("created above");
            match spill.append(&bytes) {
                Ok(disk) => {
                    total -= bytes.len();
                    self.steps[i].payload = disk;
                }
                Err(e) => {
                    tracing::warn!("edit history stays in memory: {e}");
                    return;
                }
            }
        }
    }

    /// Every step with its voxels in memory (spilled ones read back), for
    /// saving a session or starting a journal; cheap for in-memory steps
    /// (shared buffers), one disk read per spilled step.
    pub fn snapshot(&self) -> Result<HistorySnapshot> {
        let steps = self
            .steps
            .iter()
            .map(|s| {
                let mut s = s.clone();
                s.payload = Payload::Memory(self.payload(&s)?);
                Ok(s)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(HistorySnapshot {
            steps,
            applied: self.applied,
        })
    }

    /// A history holding the snapshot's steps (and its undo cursor).
    pub fn from_snapshot(snapshot: HistorySnapshot, config: HistoryConfig) -> Self {
        let mut h = History::new(config);
        h.steps = snapshot.steps;
        h.applied = snapshot.applied.min(h.steps.len());
        h.enforce_budget();
        h
    }
}

/// Applies a step forward (redo) or backward (undo). Checks first that the
/// map is in the state the step expects, so a mismatch changes nothing.
pub(crate) fn apply_step(
    step: &Step,
    payload: &[u8],
    map: &mut LabelMap,
    forward: bool,
) -> Result<()> {
    let out_of_step = || CoreError::OutOfStep;
    if let Some(t) = &step.table
        && !t.fits(&map.segments, forward)
    {
        return Err(out_of_step());
    }
    if let Some(v) = &step.voxels {
        let (from, to) = if forward {
            (v.before, v.after)
        } else {
            (v.after, v.before)
        };
        if map.dim() != v.dim || LabelKind::of(&map.labels) != from {
            return Err(out_of_step());
        }
        let total: usize = v.bricks.iter().map(|b| b.1 as usize).sum();
        if total != payload.len() {
            return Err(CoreError::HistoryDamaged {
                detail: format!("{} bytes of voxels for {total}", payload.len()),
            });
        }
        convert_labels(&mut map.labels, v.domain())?;
        let mut offset = 0usize;
        let mut done = Vec::with_capacity(v.bricks.len());
        for (id, len) in &v.bricks {
            let bytes = &payload[offset..offset + *len as usize];
            let region = id.region(v.dim);
            if let Err(e) = xor_into(&mut map.labels, &region, bytes) {
                // XOR is its own inverse: put back the bricks already done.
                for (r, b) in done {
                    let _ = xor_into(&mut map.labels, &r, b);
                }
                let _ = convert_labels(&mut map.labels, from);
                return Err(e);
            }
            done.push((region, bytes));
            offset += *len as usize;
        }
        convert_labels(&mut map.labels, to)?;
    }
    if let Some(t) = &step.table {
        t.apply(&mut map.segments, forward);
    }
    Ok(())
}

/// The steps of a history with their voxels in memory: `Send + Clone`, so
/// writing it to a session file can run on a background thread.
#[derive(Clone, Debug, Default)]
pub struct HistorySnapshot {
    pub(crate) steps: Vec<Step>,
    pub(crate) applied: usize,
}

const HISTORY_MAGIC: &[u8; 8] = b"STRHIST\0";
const HISTORY_VERSION: u32 = 1;
const HISTORY_FILE: &str = "the edit history file";

impl HistorySnapshot {
    pub fn len(&self) -> usize {
        self.steps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    pub fn applied(&self) -> usize {
        self.applied
    }

    /// The binary history file: magic, version, cursor, steps, CRC32.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.0.extend_from_slice(HISTORY_MAGIC);
        e.u32(HISTORY_VERSION);
        e.usize(self.applied);
        e.usize(self.steps.len());
        for s in &self.steps {
            let payload: &[u8] = match &s.payload {
                Payload::Memory(b) => b,
                // A snapshot holds every payload in memory by construction.
                Payload::Disk { .. } => &[],
            };
            s.encode(payload, &mut e);
        }
        let crc = crc32fast::hash(&e.0);
        e.u32(crc);
        e.0
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<HistorySnapshot> {
        let d = Dec::new(bytes, HISTORY_FILE);
        if bytes.len() < 16 || &bytes[..8] != HISTORY_MAGIC {
            return Err(d.damaged("no history header"));
        }
        let (body, crc) = bytes.split_at(bytes.len() - 4);
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
            return Err(d.damaged("a checksum mismatch"));
        }
        let mut d = Dec::new(&body[8..], HISTORY_FILE);
        let version = d.u32()?;
        if version > HISTORY_VERSION {
            return Err(CoreError::NewerFormat {
                what: "edit history",
                found: version,
                reads: HISTORY_VERSION,
            });
        }
        let applied = d.usize()?;
        let n = d.len(1)?;
        let mut steps = Vec::with_capacity(n);
        for _ in 0..n {
            steps.push(Step::decode(&mut d)?);
        }
        if !d.is_done() || applied > steps.len() {
            return Err(d.damaged("trailing bytes or a bad cursor"));
        }
        Ok(HistorySnapshot { steps, applied })
    }
}

/// The append-only file old steps' voxels move to. It is a cache of this
/// run (the autosave journal is what survives a crash): no fsync, and it is
/// removed when the history is dropped.
#[derive(Debug)]
struct Spill {
    path: PathBuf,
    file: File,
    end: u64,
}

static SPILL_SEQ: AtomicU64 = AtomicU64::new(0);

impl Spill {
    fn create(dir: &Path) -> Result<Spill> {
        std::fs::create_dir_all(dir).map_err(|e| CoreError::io(dir, e))?;
        let path = dir.join(format!(
            "history-{}-{}.spill",
            std::process::id(),
            SPILL_SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .map_err(|e| CoreError::io(&path, e))?;
        Ok(Spill { path, file, end: 0 })
    }

    fn append(&mut self, bytes: &[u8]) -> Result<Payload> {
        let io = |e| CoreError::io(&self.path, e);
        self.file.seek(SeekFrom::Start(self.end)).map_err(io)?;
        self.file.write_all(bytes).map_err(io)?;
        let p = Payload::Disk {
            offset: self.end,
            len: bytes.len() as u64,
            crc: crc32fast::hash(bytes),
        };
        self.end += bytes.len() as u64;
        Ok(p)
    }

    fn read(&self, offset: u64, len: u64, crc: u32) -> Result<Vec<u8>> {
        let io = |e| CoreError::io(&self.path, e);
        let mut f = &self.file;
        f.seek(SeekFrom::Start(offset)).map_err(io)?;
        let mut buf = vec![0u8; len as usize];
        f.read_exact(&mut buf).map_err(io)?;
        if crc32fast::hash(&buf) != crc {
            return Err(CoreError::HistoryDamaged {
                detail: format!(
                    "the spill file {} does not match its checksum",
                    self.path.display()
                ),
            });
        }
        Ok(buf)
    }

    /// Empties the file once no step refers to it.
    fn clear(&mut self) {
        if self.file.set_len(0).is_ok() {
            self.end = 0;
        }
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
