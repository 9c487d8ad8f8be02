//! The autosave journal: a base (label map, segment table, history, view)
//! written when the journal starts, then every edit appended as a record,
//! on a background thread. After a crash, restore = base + replay.
//!
//! Folder (one per running session, under the autosave root):
//! `base.nii.gz`, `base-history.bin`, `journal.bin`, and `autosave.json`,
//! written last, which marks the journal as restorable. Records in
//! `journal.bin` are framed `[len u32][crc32 u32][payload]`; a torn or
//! garbage tail (a kill -9 mid-write) fails its length or CRC and is
//! ignored, never fatal. Each record is written and synced as soon as it
//! is queued, so a crash loses at most the record being written: the last
//! stroke.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use super::{
    LabelsEntry, ScanRef, SegmentEntry, SessionData, put_soft_edges, read_labels, segment_entries,
    soft_edges, split_entries,
};
use crate::base::atomic::write_bytes_atomic;
use crate::base::error::{CoreError, Result};
use crate::base::progress::Progress;
use crate::document::wire::{decode_props, encode_props};
use crate::document::{DocumentState, Observer, SegmentProps, SurfaceRecipe, soft};
use crate::edit::codec::{Dec, Enc};
use crate::edit::history::apply_step;
use crate::edit::step::Step;
use crate::edit::{History, HistoryConfig, HistorySnapshot};
use crate::read::nifti::write_labels_nifti;
use crate::segment::LabelMap;

/// The journal format this build writes and the newest it reads (2 added
/// the soft edges record, 3 the segment properties record; a build that
/// reads an older one refuses a newer journal clearly rather than stopping
/// its replay part way).
pub const JOURNAL_FORMAT_VERSION: u32 = 3;
const MAGIC: &[u8; 8] = b"STRJRNL\0";
const META: &str = "autosave.json";
const BASE_LABELS: &str = "base.nii.gz";
const BASE_HISTORY: &str = "base-history.bin";
const RECORDS: &str = "journal.bin";

const REC_STEP: u8 = 1;
const REC_UNDO: u8 = 2;
const REC_REDO: u8 = 3;
const REC_VIEW: u8 = 4;
const REC_SOFT: u8 = 5;
const REC_PROPS: u8 = 6;

#[derive(Serialize, Deserialize)]
struct Meta {
    format_version: u32,
    app_version: String,
    created_unix: u64,
    scan: Option<ScanRef>,
    labels: LabelsEntry,
    segments: Vec<SegmentEntry>,
    #[serde(default)]
    view: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
struct ViewRecord {
    view: serde_json::Value,
    /// Absent since format 3 (the properties record carries them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    opacity: Option<BTreeMap<u16, f32>>,
    /// Absent in records written before surface levels were journaled:
    /// those keep the levels they had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    surface_levels: Option<BTreeMap<u16, f64>>,
}

enum Msg {
    Record(Vec<u8>),
    Flush(mpsc::Sender<()>),
}

/// A running journal. Records are queued (cheap) and written by its thread.
/// Dropping it finishes the queued writes and keeps the folder (so a session
/// that was not saved can be restored); [`discard`](Self::discard) removes it.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    tx: Option<mpsc::Sender<Msg>>,
    thread: Option<JoinHandle<()>>,
    error: Arc<Mutex<Option<String>>>,
}

static SEQ: AtomicU64 = AtomicU64::new(0);

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Journal {
    /// Starts a journal in a new folder under `root`. The base is written on
    /// the journal's thread (the label map compresses for about a second on
    /// a large scan); records queued meanwhile follow it.
    pub fn start(root: &Path, base: SessionData, app_version: &str) -> Result<Journal> {
        let created = unix_now();
        let dir = root.join(format!(
            "{created}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| CoreError::io(&dir, e))?;
        let meta = Meta {
            format_version: JOURNAL_FORMAT_VERSION,
            app_version: app_version.to_string(),
            created_unix: created,
            scan: base.scan.clone(),
            labels: LabelsEntry::of(&base.document.labels, BASE_LABELS.into()),
            segments: segment_entries(&base.document.labels.segments, &base.document.props),
            view: base.view.clone(),
        };
        let (tx, rx) = mpsc::channel();
        // The base's soft edges are in the journal's first record.
        if !soft_edges(&base.document.labels, &base.document.props).is_empty() {
            let _ = tx.send(Msg::Record(props_record(&base.document.props)));
        }
        let error = Arc::new(Mutex::new(None));
        let thread = {
            let (dir, io_dir) = (dir.clone(), dir.clone());
            let error = error.clone();
            std::thread::Builder::new()
                .name("stratum-journal".into())
                .spawn(move || {
                    if let Err(e) = run(&dir, base, &meta, rx) {
                        tracing::warn!("autosave stopped: {e}");
                        *error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                    }
                })
                .map_err(|e| CoreError::io(io_dir, e))?
        };
        Ok(Journal {
            dir,
            tx: Some(tx),
            thread: Some(thread),
            error,
        })
    }

    /// The journal's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Why autosave stopped (e.g. the disk is full), if it did: the app
    /// shows it and may start a new journal.
    pub fn error(&self) -> Option<String> {
        self.error.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn send(&self, record: Vec<u8>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Msg::Record(record));
        }
    }

    fn record_step(&self, step: &Step) {
        let mut e = Enc::default();
        e.u8(REC_STEP);
        step.encode(&step.memory_payload(), &mut e);
        self.send(e.0);
    }

    /// Records the app's view state (the last one recorded is restored).
    /// Call it when it changes, not every frame.
    pub fn record_view(&self, view: &serde_json::Value) {
        let rec = ViewRecord {
            view: view.clone(),
            opacity: None,
            surface_levels: None,
        };
        if let Ok(json) = serde_json::to_vec(&rec) {
            let mut r = vec![REC_VIEW];
            r.extend_from_slice(&json);
            self.send(r);
        }
    }

    /// The observer that gives this journal every step of a document.
    pub fn observer(self: &Arc<Self>) -> Box<dyn Observer> {
        Box::new(JournalObserver(self.clone()))
    }

    /// Waits until every queued record is on disk; the error if autosave stopped.
    pub fn flush(&self) -> Result<()> {
        if let Some(tx) = &self.tx {
            let (done_tx, done_rx) = mpsc::channel();
            if tx.send(Msg::Flush(done_tx)).is_ok() {
                let _ = done_rx.recv();
            }
        }
        match self.error() {
            Some(e) => Err(CoreError::AutosaveStopped(e.to_string())),
            None => Ok(()),
        }
    }

    fn stop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Stops the journal and removes its folder: after the session was
    /// saved, or when the user quits without wanting it back.
    pub fn discard(mut self) -> Result<()> {
        self.stop();
        discard_unsaved(&self.dir)
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A document's observer writing into a journal.
struct JournalObserver(Arc<Journal>);

impl Observer for JournalObserver {
    fn pushed(&mut self, step: &Step) {
        self.0.record_step(step);
    }
    fn undone(&mut self) {
        self.0.send(vec![REC_UNDO]);
    }
    fn redone(&mut self) {
        self.0.send(vec![REC_REDO]);
    }
    fn props_changed(&mut self, props: &BTreeMap<u16, SegmentProps>) {
        self.0.send(props_record(props));
    }
}

/// A properties record: every segment's opacity and surface recipe (the
/// last one recorded is restored), in the document snapshot's encoding.
fn props_record(props: &BTreeMap<u16, SegmentProps>) -> Vec<u8> {
    let mut e = Enc::default();
    e.u8(REC_PROPS);
    encode_props(props, &mut e);
    e.0
}

/// Reads a properties record for a label map of `dims`.
fn read_props(payload: &[u8], dims: [usize; 3]) -> Result<BTreeMap<u16, SegmentProps>> {
    let mut d = Dec::new(payload, "an autosave properties record");
    let out = decode_props(&mut d, (dims[0], dims[1], dims[2]))?;
    if !d.is_done() {
        return Err(d.damaged("bytes after the last segment"));
    }
    Ok(out)
}

/// The journal thread: base files, the record file's header, the marker
/// file, then one framed, synced record per message.
fn run(dir: &Path, base: SessionData, meta: &Meta, rx: mpsc::Receiver<Msg>) -> Result<()> {
    write_labels_nifti(&dir.join(BASE_LABELS), &base.document.labels)?;
    write_bytes_atomic(&dir.join(BASE_HISTORY), &base.document.history.to_bytes())?;
    // The base is a copy of the label map (a byte a voxel, 79 MB for a
    // 512 x 512 x 300 scan) that nothing reads once written: the thread
    // lives as long as the session, so it is freed here, not at its end.
    drop(base);
    let mut header = MAGIC.to_vec();
    header.extend_from_slice(&JOURNAL_FORMAT_VERSION.to_le_bytes());
    write_bytes_atomic(&dir.join(RECORDS), &header)?;
    let json = serde_json::to_vec_pretty(meta).map_err(|e| CoreError::Serialize {
        what: "the autosave",
        reason: e.to_string(),
    })?;
    write_bytes_atomic(&dir.join(META), &json)?;
    let path = dir.join(RECORDS);
    let mut file = File::options()
        .append(true)
        .open(&path)
        .map_err(|e| CoreError::io(&path, e))?;
    for msg in rx {
        match msg {
            Msg::Record(payload) => {
                let mut frame = Vec::with_capacity(payload.len() + 8);
                frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
                frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
                frame.extend_from_slice(&payload);
                // After a failed write the journal stops: a record missing
                // in the middle would make the later ones replay wrongly.
                file.write_all(&frame)
                    .and_then(|_| file.sync_data())
                    .map_err(|e| CoreError::io(&path, e))?;
            }
            Msg::Flush(done) => {
                let _ = done.send(());
            }
        }
    }
    Ok(())
}

/// The default autosave root: `$XDG_DATA_HOME/stratum/autosave`, else
/// `~/.local/share/stratum/autosave` (`%LOCALAPPDATA%` on Windows).
pub fn default_autosave_root() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("LOCALAPPDATA").map(PathBuf::from))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(base.join("stratum").join("autosave"))
}

/// A journal left by a session that was not saved (or a crash).
#[derive(Clone, Debug)]
pub struct Unsaved {
    pub dir: PathBuf,
    /// Seconds since 1970 when the journal started.
    pub created_unix: u64,
    pub app_version: String,
    pub scan: Option<ScanRef>,
    /// Size of the record file: 12 means no edit since the base.
    pub journal_bytes: u64,
}

/// The restorable journals under `root`, newest first (none when `root`
/// does not exist). Folders whose base was never completed are skipped.
pub fn find_unsaved(root: &Path) -> Result<Vec<Unsaved>> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let dir = entry.path();
        let Ok(meta) = read_meta(&dir) else {
            continue;
        };
        out.push(Unsaved {
            journal_bytes: std::fs::metadata(dir.join(RECORDS)).map_or(0, |m| m.len()),
            dir,
            created_unix: meta.created_unix,
            app_version: meta.app_version,
            scan: meta.scan,
        });
    }
    out.sort_by(|a, b| b.created_unix.cmp(&a.created_unix).then(b.dir.cmp(&a.dir)));
    Ok(out)
}

fn read_meta(dir: &Path) -> Result<Meta> {
    let path = dir.join(META);
    let bytes = std::fs::read(&path).map_err(|e| CoreError::io(&path, e))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| CoreError::SessionDamaged {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    let version = value
        .get("format_version")
        .and_then(|v| v.as_u64())
        .unwrap_or(0);
    if version > JOURNAL_FORMAT_VERSION as u64 {
        return Err(CoreError::Unsupported {
            path: dir.to_path_buf(),
            what: format!("autosave format {version}"),
            hint: "it was written by a newer Stratum; restore it with that version".into(),
        });
    }
    serde_json::from_value(value).map_err(|e| CoreError::SessionDamaged {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

/// A session rebuilt from a journal.
#[derive(Debug)]
pub struct Restored {
    /// The session as the journal last had it: the base plus every
    /// replayed step, undo and redo, the last recorded properties (each
    /// segment's surface recipe and opacity) and view. No journal is
    /// attached: start a new one from this state, then discard the old.
    pub data: SessionData,
    /// Records replayed.
    pub records: usize,
    /// Bytes at the end of the journal that were ignored (a torn last
    /// record, garbage, or a record that did not fit the map).
    pub ignored_bytes: u64,
}

/// Rebuilds the session of a journal folder: base, then every whole record.
#[tracing::instrument(level = "info", skip_all)]
pub fn restore(dir: &Path, config: HistoryConfig, progress: &Progress) -> Result<Restored> {
    let meta = read_meta(dir)?;
    let (segments, mut props) = split_entries(meta.segments);
    let mut labels = read_labels(&dir.join(BASE_LABELS), &meta.labels, segments, progress)?;
    let hpath = dir.join(BASE_HISTORY);
    let hbytes = std::fs::read(&hpath).map_err(|e| CoreError::io(&hpath, e))?;
    let mut history = History::from_snapshot(HistorySnapshot::from_bytes(&hbytes)?, config);
    let mut view = meta.view;
    let rpath = dir.join(RECORDS);
    let bytes = std::fs::read(&rpath).map_err(|e| CoreError::io(&rpath, e))?;
    if bytes.len() < 12 || &bytes[..8] != MAGIC {
        return Err(CoreError::NotAJournal {
            path: rpath.to_path_buf(),
        });
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version > JOURNAL_FORMAT_VERSION {
        return Err(CoreError::Unsupported {
            path: dir.to_path_buf(),
            what: format!("autosave journal format {version}"),
            hint: "it was written by a newer Stratum; restore it with that version".into(),
        });
    }
    let mut pos = 12usize;
    let mut records = 0;
    while let Some(payload) = frame_at(&bytes, pos) {
        let state = ViewState {
            view: &mut view,
            props: &mut props,
        };
        if let Err(e) = replay(payload, &mut labels, &mut history, state) {
            tracing::warn!("autosave replay stopped at record {}: {e}", records + 1);
            break;
        }
        pos += 8 + payload.len();
        records += 1;
    }
    Ok(Restored {
        data: SessionData {
            scan: meta.scan,
            document: DocumentState {
                labels,
                props,
                history: history.snapshot()?,
            },
            view,
        },
        records,
        ignored_bytes: (bytes.len() - pos) as u64,
    })
}

/// The payload of the whole, CRC-valid frame at `pos`, if there is one.
fn frame_at(bytes: &[u8], pos: usize) -> Option<&[u8]> {
    let head = bytes.get(pos..pos + 8)?;
    let len = u32::from_le_bytes(head[..4].try_into().ok()?) as usize;
    let crc = u32::from_le_bytes(head[4..].try_into().ok()?);
    let payload = bytes.get(pos + 8..(pos + 8).checked_add(len)?)?;
    (!payload.is_empty() && crc32fast::hash(payload) == crc).then_some(payload)
}

/// What a view, soft edges or properties record replaces.
struct ViewState<'a> {
    view: &'a mut serde_json::Value,
    props: &'a mut BTreeMap<u16, SegmentProps>,
}

fn replay(
    payload: &[u8],
    labels: &mut LabelMap,
    history: &mut History,
    state: ViewState,
) -> Result<()> {
    let none = || CoreError::JournalRecord {
        detail: "an undo or redo with nothing to apply".into(),
    };
    match payload[0] {
        REC_STEP => {
            let mut d = Dec::new(&payload[1..], "an autosave record");
            let step = Step::decode(&mut d)?;
            apply_step(&step, &step.memory_payload(), labels, true)?;
            history.push(step);
        }
        REC_UNDO => {
            history.undo(labels)?.ok_or_else(none)?;
        }
        REC_REDO => {
            history.redo(labels)?.ok_or_else(none)?;
        }
        REC_VIEW => {
            let rec: ViewRecord =
                serde_json::from_slice(&payload[1..]).map_err(|e| CoreError::JournalRecord {
                    detail: format!("a view record: {e}"),
                })?;
            *state.view = rec.view;
            // Journals before format 3 carried opacities and levels here.
            if let Some(opacity) = rec.opacity {
                for (id, o) in opacity {
                    state.props.entry(id).or_default().opacity = o;
                }
            }
            if let Some(levels) = rec.surface_levels {
                for p in state.props.values_mut() {
                    if matches!(p.recipe, SurfaceRecipe::Level(_)) {
                        p.recipe = SurfaceRecipe::Mask;
                    }
                }
                for (id, l) in levels {
                    state.props.entry(id).or_default().recipe = SurfaceRecipe::Level(l);
                }
            }
        }
        REC_SOFT => {
            // Only refines surfaces: a record that does not fit the map is
            // dropped, and the replay goes on with the edits after it.
            let (z, y, x) = labels.dim();
            let fields = soft::decode(&payload[1..], [z, y, x]).unwrap_or_else(|e| {
                tracing::warn!("autosave: a soft edges record was ignored: {e}");
                BTreeMap::new()
            });
            put_soft_edges(state.props, fields);
        }
        REC_PROPS => {
            // Only refines surfaces and opacity: a record that does not fit
            // the map is dropped, and the replay goes on after it.
            let (z, y, x) = labels.dim();
            match read_props(&payload[1..], [z, y, x]) {
                Ok(p) => *state.props = p,
                Err(e) => tracing::warn!("autosave: a properties record was ignored: {e}"),
            }
        }
        other => {
            return Err(CoreError::JournalRecord {
                detail: format!("unknown record kind {other}"),
            });
        }
    }
    Ok(())
}

/// Removes a journal folder: only the files a journal writes (and their
/// temporary files), then the folder, so a wrong path removes nothing else.
pub fn discard_unsaved(dir: &Path) -> Result<()> {
    if !dir.join(RECORDS).exists() && !dir.join(META).exists() && !dir.join(BASE_LABELS).exists() {
        if !dir.exists() {
            return Ok(());
        }
        let empty = std::fs::read_dir(dir).is_ok_and(|mut d| d.next().is_none());
        if !empty {
            return Err(CoreError::NotAutosaveFolder {
                path: dir.to_path_buf(),
            });
        }
    }
    let entries = std::fs::read_dir(dir).map_err(|e| CoreError::io(dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = [META, BASE_LABELS, BASE_HISTORY, RECORDS].contains(&name.as_str())
            || (name.starts_with('.') && name.contains(".tmp"));
        if ours {
            std::fs::remove_file(entry.path()).map_err(|e| CoreError::io(entry.path(), e))?;
        }
    }
    std::fs::remove_dir(dir).map_err(|e| CoreError::io(dir, e))
}
