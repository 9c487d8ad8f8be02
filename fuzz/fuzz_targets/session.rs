//! Session folders and the autosave journal: `session.json`, the history
//! file, the soft edges file, `autosave.json` and the journal's records,
//! each either replaced by
//! the input or XOR-mutated from a genuine file written at start-up (journal
//! frames and the soft edges file get their CRC recomputed, so the fuzzer
//! reaches the decoders instead of stopping at the checksum).
#![no_main]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use ndarray::Array3;
use stratum_core::base::progress::Progress;
use stratum_core::document::{DocumentState, SegmentProps, SurfaceRecipe};
use stratum_core::edit::bricks::Region;
use stratum_core::edit::{History, HistoryConfig, HistorySnapshot, Step, StrokeRecorder};
use stratum_core::segment::{LabelMap, Labels, Segment};
use stratum_core::session::journal::{Journal, find_unsaved, restore};
use stratum_core::session::{SessionData, open_session, save_session, session_scan};
use stratum_core::image::volume::Geometry;

struct Genuine {
    session_dir: PathBuf,
    session_json: Vec<u8>,
    history_name: String,
    history: Vec<u8>,
    soft_name: String,
    soft: Vec<u8>,
    journal_root: PathBuf,
    journal_dir: PathBuf,
    meta: Vec<u8>,
    records: Vec<u8>,
}

fn segment(id: u16, name: &str) -> Segment {
    Segment {
        id,
        name: name.into(),
        colour: [200, 40, id as u8],
        visible: true,
    }
}

/// Paints a box of `value` and returns the step.
fn paint(map: &mut LabelMap, lo: [usize; 3], hi: [usize; 3], value: u16) -> Step {
    let mut rec = StrokeRecorder::new("Paint", map);
    rec.touch(map, Region::new(lo, hi));
    for z in lo[0]..hi[0] {
        for y in lo[1]..hi[1] {
            for x in lo[2]..hi[2] {
                map.set(z, y, x, value);
            }
        }
    }
    rec.finish(map).expect("stroke").expect("changed voxels")
}

fn genuine() -> &'static Genuine {
    static G: OnceLock<Genuine> = OnceLock::new();
    G.get_or_init(|| {
        let root = stratum_fuzz::scratch();
        // Two bricks along x, so records touch more than one.
        let mut map = LabelMap {
            labels: Labels::U8(Array3::zeros((5, 9, 34))),
            geometry: Geometry {
                origin: [1.5, -2.0, 30.0],
                spacing: [0.8, 0.8, 2.5],
                ..Geometry::default()
            },
            segments: vec![segment(1, "bone"), segment(2, "liver")],
        };
        let mut history = History::default();
        history.push(paint(&mut map, [0, 0, 0], [2, 4, 8], 1));
        let soft = |origin, dim: (usize, usize, usize), k: [usize; 3]| {
            SurfaceRecipe::Soft(std::sync::Arc::new(stratum_core::mesh::SoftField {
                origin,
                data: Array3::from_shape_fn(dim, |(z, y, x)| (k[0] * x + k[1] * y + k[2] * z) as u8),
            }))
        };
        let mut document = DocumentState::new(map.clone());
        document.history = history.snapshot().expect("snapshot");
        // A level for segment 1; segment 2's soft edge, journaled as the
        // first record: the soft edges decoder is fuzzed through the
        // journal modes too.
        document.props = BTreeMap::from([
            (1, SegmentProps { opacity: 1.0, recipe: SurfaceRecipe::Level(250.0) }),
            (2, SegmentProps { opacity: 0.5, recipe: soft([0, 1, 2], (2, 3, 4), [60, 9, 1]) }),
        ]);
        let base = SessionData {
            scan: None,
            document,
            view: serde_json::json!({"camera": {"yaw": 0.5}, "clip": [[0.0, 0.0, 1.0, -3.0]]}),
        };
        let journal_root = root.join("autosave");
        let journal = std::sync::Arc::new(
            Journal::start(&journal_root, base.clone(), "0.0.0").expect("journal"),
        );
        // The journal as a document's observer sees it.
        let mut observer = journal.observer();
        let step = paint(&mut map, [1, 2, 20], [4, 8, 33], 2);
        observer.pushed(&step);
        history.push(step);
        history.undo(&mut map).expect("undo");
        observer.undone();
        history.redo(&mut map).expect("redo");
        observer.redone();
        let before = map.segments.clone();
        map.segments.push(segment(7, "new"));
        let step = Step::segments("Add", &before, &map.segments).expect("segments step");
        observer.pushed(&step);
        history.push(step);
        journal.flush().expect("flush");
        let journal_dir = journal.dir().to_path_buf();
        drop(observer);
        drop(journal);

        let session_dir = root.join("study.stratum");
        let mut document = DocumentState::new(map);
        document.history = history.snapshot().expect("snapshot");
        // A level for segment 1, and a model's soft edge for segment 2: a
        // ramp across a small box.
        document.props = BTreeMap::from([
            (1, SegmentProps { opacity: 0.25, recipe: SurfaceRecipe::Level(300.0) }),
            (2, SegmentProps { opacity: 1.0, recipe: soft([1, 2, 3], (3, 4, 5), [40, 10, 1]) }),
        ]);
        let data = SessionData {
            scan: None,
            document,
            view: serde_json::json!({"window_level": [400.0, 40.0]}),
        };
        save_session(&session_dir, &data, "0.0.0").expect("save");
        let session_json = std::fs::read(session_dir.join("session.json")).expect("session.json");
        // The numbered data files the save wrote (history.N.bin, soft.N.bin).
        let named = |prefix: &str| {
            std::fs::read_dir(&session_dir)
                .expect("session folder")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .find(|n| n.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix} file in the session"))
        };
        let (history_name, soft_name) = (named("history"), named("soft"));
        let g = Genuine {
            history: std::fs::read(session_dir.join(&history_name)).expect("history"),
            history_name,
            soft: std::fs::read(session_dir.join(&soft_name)).expect("soft"),
            soft_name,
            session_json,
            session_dir,
            meta: std::fs::read(journal_dir.join("autosave.json")).expect("meta"),
            records: std::fs::read(journal_dir.join("journal.bin")).expect("records"),
            journal_root,
            journal_dir,
        };
        if let Some(out) = std::env::var_os("STRATUM_FUZZ_WRITE_SEEDS") {
            // Seeds for the corpus: each mode with the genuine file as is.
            let out = Path::new(&out);
            std::fs::create_dir_all(out).expect("seed folder");
            for (name, mode, bytes) in [
                ("journal-overlay", 0u8, &[][..]),
                ("journal-replace", 1, &frames_of(&g.records)[..]),
                ("session-json", 2, &g.session_json[..]),
                ("autosave-json", 3, &g.meta[..]),
                ("history", 4, &g.history[..]),
                ("soft-edges", 5, &g.soft[..]),
            ] {
                let mut seed = vec![mode, 0];
                seed.extend_from_slice(bytes);
                std::fs::write(out.join(name), seed).expect("seed");
            }
        }
        g
    })
}

/// The payloads of a journal, joined by the file separator (the input form
/// of the journal-replace mode).
fn frames_of(records: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut pos = 12;
    while pos + 8 <= records.len() {
        let len = u32::from_le_bytes(records[pos..pos + 4].try_into().unwrap()) as usize;
        let Some(p) = records.get(pos + 8..pos + 8 + len) else {
            break;
        };
        if !out.is_empty() {
            out.extend_from_slice(stratum_fuzz::FILE_SEPARATOR);
        }
        out.extend_from_slice(p);
        pos += 8 + len;
    }
    out
}

/// `base` with `delta` XORed over its start (bytes past its end appended).
fn overlay(base: &[u8], delta: &[u8]) -> Vec<u8> {
    let mut out = base.to_vec();
    for (i, d) in delta.iter().enumerate() {
        match out.get_mut(i) {
            Some(b) => *b ^= d,
            None => out.push(*d),
        }
    }
    out
}

/// Recomputes the CRC of every frame whose length fits the file.
fn fix_crcs(bytes: &mut [u8]) {
    let mut pos = 12;
    while pos + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        let Some(end) = (pos + 8).checked_add(len).filter(|e| *e <= bytes.len()) else {
            return;
        };
        let crc = crc32fast::hash(&bytes[pos + 8..end]);
        bytes[pos + 4..pos + 8].copy_from_slice(&crc.to_le_bytes());
        pos = end;
    }
}

fn framed(payloads: &[&[u8]], header: &[u8]) -> Vec<u8> {
    let mut out = header.to_vec();
    for p in payloads {
        out.extend_from_slice(&(p.len() as u32).to_le_bytes());
        out.extend_from_slice(&crc32fast::hash(p).to_le_bytes());
        out.extend_from_slice(p);
    }
    out
}

fn reset(g: &Genuine) {
    std::fs::write(g.session_dir.join("session.json"), &g.session_json).unwrap();
    std::fs::write(g.session_dir.join(&g.history_name), &g.history).unwrap();
    std::fs::write(g.session_dir.join(&g.soft_name), &g.soft).unwrap();
    std::fs::write(g.journal_dir.join("autosave.json"), &g.meta).unwrap();
    std::fs::write(g.journal_dir.join("journal.bin"), &g.records).unwrap();
}

fuzz_target!(init: stratum_fuzz::init(), |data: &[u8]| {
    let g = genuine();
    let (Some(&mode), Some(&how)) = (data.first(), data.get(1)) else {
        return;
    };
    let input = &data[2..];
    let replace = how & 1 == 0;
    let file = |base: &[u8]| if replace { input.to_vec() } else { overlay(base, input) };
    reset(g);
    let progress = Progress::new();
    match mode % 6 {
        0 | 1 => {
            let bytes = if mode % 6 == 1 {
                let payloads = stratum_fuzz::split_files(input, 64);
                framed(&payloads, &g.records[..12])
            } else {
                let mut b = overlay(&g.records, input);
                fix_crcs(&mut b);
                b
            };
            std::fs::write(g.journal_dir.join("journal.bin"), bytes).unwrap();
            let _ = restore(&g.journal_dir, HistoryConfig::default(), &progress);
        }
        2 => {
            std::fs::write(g.session_dir.join("session.json"), file(&g.session_json)).unwrap();
            let _ = session_scan(&g.session_dir);
            if let Ok(opened) = open_session(&g.session_dir, &progress) {
                let _ = History::from_snapshot(opened.data.document.history, HistoryConfig::default());
            }
        }
        3 => {
            std::fs::write(g.journal_dir.join("autosave.json"), file(&g.meta)).unwrap();
            let _ = find_unsaved(&g.journal_root);
            let _ = restore(&g.journal_dir, HistoryConfig::default(), &progress);
        }
        5 => {
            let mut bytes = file(&g.soft);
            if !replace && bytes.len() >= 4 {
                let body = bytes.len() - 4;
                let crc = crc32fast::hash(&bytes[..body]);
                bytes[body..].copy_from_slice(&crc.to_le_bytes());
            }
            std::fs::write(g.session_dir.join(&g.soft_name), bytes).unwrap();
            // A damaged soft edges file is a warning; the session opens.
            let opened = open_session(&g.session_dir, &progress);
            assert!(opened.is_ok(), "soft edges stopped a session opening: {opened:?}");
        }
        _ => {
            let bytes = file(&g.history);
            if let Ok(snapshot) = HistorySnapshot::from_bytes(&bytes) {
                // Undo and redo every step on a map of the snapshot's size.
                let mut history = History::from_snapshot(snapshot, HistoryConfig::default());
                let opened = open_session(&g.session_dir, &progress);
                if let Ok(opened) = opened {
                    let mut map = opened.data.document.labels;
                    while let Ok(Some(_)) = history.undo(&mut map) {}
                    while let Ok(Some(_)) = history.redo(&mut map) {}
                }
            }
        }
    }
});
