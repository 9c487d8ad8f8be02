//! A study's outcome as the batch keeps it: the status record written
//! inside the study's folder before the folder is renamed into place (so
//! "done" is never on disk for a study that is not), the lock a process
//! holds while converting a study, and the journal of conversions.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::error::BatchError;
use super::{Layout, Study};
use crate::base::error::{CoreError, Result};

/// The record's file name inside the study's folder.
pub const RECORD: &str = "status.json";

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Done,
    Failed,
}

impl State {
    pub fn word(self) -> &'static str {
        match self {
            State::Done => "done",
            State::Failed => "failed",
        }
    }
}

/// One segment's figures and mesh checks.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SegmentRow {
    pub name: String,
    pub voxel_ml: f64,
    pub mesh_ml: f64,
    pub area_mm2: f64,
    pub triangles: usize,
    pub watertight: bool,
    /// From the validation report, when it was made.
    pub dice: Option<f64>,
    pub p95_mm: Option<f64>,
    #[serde(default)]
    pub flags: Vec<String>,
}

/// A file the study wrote, to tell a complete study from one whose files
/// were removed or cut short since.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OutputFile {
    /// Relative to the study's folder, `/`-separated.
    pub name: String,
    pub bytes: u64,
}

/// How one attempt at a study ended.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Record {
    pub key: String,
    pub state: State,
    /// Why it failed, in words that name no patient.
    pub error: Option<String>,
    /// Wall time of the attempt.
    pub seconds: f64,
    /// The converting process's peak resident memory, where the system
    /// tells it.
    pub peak_memory_bytes: Option<u64>,
    /// Whether the series checks (`inspect`) ran, and how many of them
    /// warned, how many failed.
    #[serde(default)]
    pub checked: bool,
    pub check_warnings: usize,
    pub check_errors: usize,
    pub segments: Vec<SegmentRow>,
    pub files: Vec<OutputFile>,
    /// DICOM files de-identified into the study's `dicom/` folder.
    pub anonymized_files: usize,
    /// Which attempt this was (host, process, start): the journal's name
    /// for it, and how a supervisor knows its child finished.
    pub attempt: String,
    pub finished_unix: u64,
    pub version: String,
}

/// Where a study stands.
#[derive(Clone, Debug, PartialEq)]
pub enum StudyState {
    Done(Record),
    Failed(Record),
    /// A process holds its lock: what the process wrote into it.
    Running(String),
    /// Never attempted, or its last attempt was lost (a kill), or it is
    /// recorded done but its files are no longer whole (the reason).
    Waiting(Option<String>),
}

impl StudyState {
    pub fn word(&self) -> &'static str {
        match self {
            StudyState::Done(_) => "done",
            StudyState::Failed(_) => "failed",
            StudyState::Running(_) => "running",
            StudyState::Waiting(_) => "waiting",
        }
    }

    pub fn record(&self) -> Option<&Record> {
        match self {
            StudyState::Done(r) | StudyState::Failed(r) => Some(r),
            _ => None,
        }
    }
}

/// The record in the study's folder, if a whole one is there.
pub fn read_record(layout: &Layout, key: &str) -> Option<Record> {
    let bytes = std::fs::read(layout.study(key).join(RECORD)).ok()?;
    serde_json::from_slice::<Record>(&bytes)
        .ok()
        .filter(|r| r.key == key)
}

/// Why a done study is not complete any more: a file missing or of
/// another size than written.
pub fn incomplete(layout: &Layout, record: &Record) -> Option<String> {
    let dir = layout.study(&record.key);
    record
        .files
        .iter()
        .find_map(|f| match std::fs::metadata(dir.join(&f.name)) {
            Ok(m) if m.len() == f.bytes => None,
            Ok(m) => Some(format!(
                "{} has {} bytes, {} were written",
                f.name,
                m.len(),
                f.bytes
            )),
            Err(_) => Some(format!("{} is missing", f.name)),
        })
}

/// Where `study` stands, from its folder and its lock. `probe_lock`
/// also asks whether a process is converting it (a brief lock attempt,
/// which a converting process's own attempt waits out).
pub fn state_of(layout: &Layout, study: &Study, probe_lock: bool) -> StudyState {
    if probe_lock && let Some(holder) = lock_holder(layout, &study.key) {
        return StudyState::Running(holder);
    }
    match read_record(layout, &study.key) {
        Some(r) if r.state == State::Failed => StudyState::Failed(r),
        Some(r) => match incomplete(layout, &r) {
            None => StudyState::Done(r),
            Some(why) => StudyState::Waiting(Some(why)),
        },
        None => StudyState::Waiting(None),
    }
}

/// The exclusive claim on converting one study, released when dropped (or
/// when its process dies: the kernel drops the lock with the process).
#[derive(Debug)]
pub struct StudyLock {
    file: File,
}

impl Drop for StudyLock {
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
    }
}

fn open_lock(layout: &Layout, key: &str) -> Result<File> {
    crate::base::atomic::create_folder(&layout.locks())?;
    let path = layout.locks().join(format!("{key}.lock"));
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| CoreError::io(&path, e))
}

/// Claims `key` for this process, writing `holder` (who and since when)
/// into the lock file; `None` when another process holds it. A status
/// reader's probe holds it for a moment, so a busy lock is tried again
/// for a second before giving up.
pub fn try_lock(layout: &Layout, key: &str, holder: &str) -> Result<Option<StudyLock>> {
    let mut file = open_lock(layout, key)?;
    let until = Instant::now() + Duration::from_secs(1);
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(CoreError::io(layout.locks().join(format!("{key}.lock")), e));
            }
        }
    }
    let _ = file.set_len(0);
    let _ = file.write_all(holder.as_bytes());
    Ok(Some(StudyLock { file }))
}

/// What the process converting `key` wrote into its lock, or `None` when
/// no process holds it.
pub fn lock_holder(layout: &Layout, key: &str) -> Option<String> {
    let path = layout.locks().join(format!("{key}.lock"));
    let file = File::open(&path).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(_) => Some(
            std::fs::read_to_string(&path)
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
        ),
    }
}

/// Who this process is, for lock files and records: host, process id and
/// the time it started the attempt.
pub fn attempt_id() -> String {
    format!("{}:{}:{}", host_name(), std::process::id(), now_unix())
}

pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Appends `TIME KEY EVENT ATTEMPT` to the journal. One short line per
/// `write` to a file opened for appending: lines from processes on one
/// machine never interleave. The journal is for people and tests; the
/// records alone decide what is done.
pub fn journal(layout: &Layout, key: &str, event: &str, attempt: &str) {
    let line = format!("{}\t{key}\t{event}\t{attempt}\n", now_unix());
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(layout.journal())
    {
        let _ = f.write_all(line.as_bytes());
    }
}

/// Writes `record` into the finished folder `tmp` and renames the folder
/// into place as the study's: from that moment the study is recorded, and
/// not a moment before. The caller holds the study's lock.
pub fn commit(layout: &Layout, tmp: &Path, record: &Record) -> Result<()> {
    let json = serde_json::to_vec_pretty(record)
        .map_err(BatchError::serialize("save the study's record"))?;
    crate::base::atomic::write_bytes_atomic(&tmp.join(RECORD), &json)?;
    crate::base::atomic::replace_folder(tmp, &layout.study(&record.key))?;
    journal(layout, &record.key, record.state.word(), &record.attempt);
    Ok(())
}

/// Removes what earlier attempts at `key` left half-written (any
/// process's: the caller holds the lock, so none is still writing).
pub fn remove_leftovers(layout: &Layout, key: &str) {
    let Ok(entries) = std::fs::read_dir(layout.studies()) else {
        return;
    };
    let prefix = format!(".{key}.");
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(&prefix) && name.contains(".tmp") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Records a study as failed without converting it (an attempt that died
/// before it could record itself): the caller holds the lock.
pub fn record_failure(
    layout: &Layout,
    key: &str,
    error: String,
    attempt: &str,
    took: Duration,
) -> Result<Record> {
    remove_leftovers(layout, key);
    let tmp = crate::base::atomic::temp_path(&layout.studies(), key, "");
    crate::base::atomic::create_folder(&tmp)?;
    let record = Record {
        key: key.to_string(),
        state: State::Failed,
        error: Some(error),
        seconds: took.as_secs_f64(),
        peak_memory_bytes: None,
        checked: false,
        check_warnings: 0,
        check_errors: 0,
        segments: Vec::new(),
        files: Vec::new(),
        anonymized_files: 0,
        attempt: attempt.to_string(),
        finished_unix: now_unix(),
        version: env!("CARGO_PKG_VERSION").to_string(),
    };
    commit(layout, &tmp, &record)?;
    Ok(record)
}
