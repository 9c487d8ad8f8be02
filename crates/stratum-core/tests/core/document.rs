//! The segmentation document: edits as values (serialised, replayed bit for
//! bit), changes that say what to refresh, undo and redo that bring a
//! segment's surface recipe back, table edits that are one step however
//! many keystrokes, the journal as an observer, and bad edits refused.

use std::sync::Arc;

use ndarray::Array3;

use stratum_core::document::{Document, Edit, EditLog, ModelSegment, SurfaceRecipe, Target};
use stratum_core::edit::{Brush, BrushAction, BrushShape, HistoryConfig, SliceAxis};
use stratum_core::image::volume::{Geometry, Volume, Voxels};
use stratum_core::mesh::SoftField;
use stratum_core::segment::{LabelMap, Mask, threshold_mask};
use stratum_core::{base::error::CoreError, base::progress::Progress};

/// A CT-like scan: a bright ball (400) in soft tissue (40), air outside a
/// body cylinder, with a gentle ramp so intensity-limited brushes matter.
pub(crate) fn scan() -> Arc<Volume> {
    let (nz, ny, nx) = (24, 40, 36);
    let data = Array3::from_shape_fn((nz, ny, nx), |(z, y, x)| {
        let (dz, dy, dx) = (z as f64 - 12.0, y as f64 - 20.0, x as f64 - 18.0);
        let r = (dz * dz * 2.25 + dy * dy + dx * dx).sqrt();
        let body = (dy * dy + dx * dx).sqrt() < 17.0;
        if r < 8.0 {
            400i16
        } else if body {
            40 + (x as i16) * 2
        } else {
            -1000
        }
    });
    let geometry = Geometry {
        origin: [-10.0, 5.0, -30.0],
        spacing: [0.8, 0.8, 1.5],
        ..Geometry::default()
    };
    Arc::new(Volume::new(Voxels::I16(data), geometry, "CT"))
}

fn brush(radius_mm: f64, action: BrushAction, intensity: Option<(f64, f64)>) -> Brush {
    Brush {
        radius_mm,
        shape: BrushShape::Sphere,
        action,
        intensity,
        overwrite: false,
    }
}

/// The LPS point of voxel (x, y, z).
fn at(v: &Volume, x: f64, y: f64, z: f64) -> [f64; 3] {
    v.geometry.index_to_lps([x, y, z])
}

/// A session's worth of edits of every kind, applied as they are made.
pub(crate) fn session_edits(v: &Volume) -> Vec<Edit> {
    let bone = Arc::new(threshold_mask(v, 300.0, 3000.0));
    let (nz, ny, nx) = v.dim();
    let slab = Arc::new(Mask {
        data: Array3::from_shape_fn((nz, ny, nx), |(z, _, x)| (z < 6 && x > 20) as u8),
        geometry: v.geometry,
    });
    let soft = Arc::new(SoftField {
        origin: [0, 2, 20],
        data: Array3::from_shape_fn((7, 30, 14), |(z, y, x)| ((z * 31 + y * 7 + x) % 256) as u8),
    });
    vec![
        Edit::Tool {
            step: "Add Bone".into(),
            target: Target::New("Bone".into()),
            mask: bone,
            recipe: SurfaceRecipe::Level(220.0),
            colour: Some([241, 214, 145]),
        },
        Edit::StrokeBegin {
            segment: 1,
            brush: brush(4.0, BrushAction::Paint, Some((30.0, 120.0))),
            point: at(v, 8.0, 20.0, 12.0),
            name: "Add Bone".into(),
        },
        Edit::StrokeTo {
            point: at(v, 10.0, 24.0, 13.0),
        },
        Edit::StrokeTo {
            point: at(v, 12.0, 28.0, 14.0),
        },
        Edit::StrokeEnd,
        Edit::rename(1, "S"),
        Edit::rename(1, "Sp"),
        Edit::rename(1, "Spine"),
        Edit::recolour(1, [250, 250, 200]),
        Edit::AddEmpty,
        Edit::StrokeBegin {
            segment: 2,
            brush: Brush {
                shape: BrushShape::Disc {
                    axis: SliceAxis::Axial,
                    slice: 4,
                },
                ..brush(3.0, BrushAction::Paint, None)
            },
            point: at(v, 6.0, 10.0, 4.0),
            name: "Paint Segment 2".into(),
        },
        Edit::StrokeTo {
            point: at(v, 9.0, 12.0, 4.0),
        },
        Edit::StrokeEnd,
        Edit::StrokeBegin {
            segment: 2,
            brush: Brush {
                shape: BrushShape::Disc {
                    axis: SliceAxis::Axial,
                    slice: 9,
                },
                ..brush(3.0, BrushAction::Paint, None)
            },
            point: at(v, 7.0, 11.0, 9.0),
            name: "Paint Segment 2".into(),
        },
        Edit::StrokeEnd,
        Edit::FillBetween {
            id: 2,
            axis: SliceAxis::Axial,
            overwrite: false,
        },
        Edit::Model {
            step: "AI test".into(),
            segments: vec![
                ModelSegment {
                    name: "slab".into(),
                    colour: [10, 200, 30],
                    opacity: 0.6,
                    mask: slab.clone(),
                    soft: Some(soft),
                },
                ModelSegment {
                    name: "slab".into(),
                    colour: [10, 20, 230],
                    opacity: 1.0,
                    mask: slab,
                    soft: None,
                },
            ],
        },
        Edit::StrokeBegin {
            segment: 1,
            brush: brush(5.0, BrushAction::Smooth { strength: 0.7 }, None),
            point: at(v, 18.0, 20.0, 12.0),
            name: "Smooth Spine".into(),
        },
        Edit::StrokeTo {
            point: at(v, 22.0, 20.0, 12.0),
        },
        Edit::StrokeEnd,
        Edit::SetOpacity {
            id: 1,
            opacity: 0.35,
        },
        Edit::Delete { id: 3 },
        Edit::Undo,
        Edit::Undo,
        Edit::Redo,
        Edit::set_visible(4, false),
        Edit::StrokeBegin {
            segment: 1,
            brush: brush(3.0, BrushAction::Erase, None),
            point: at(v, 18.0, 20.0, 12.0),
            name: "Remove Spine".into(),
        },
        // A sample after which another edit ends the stroke by itself.
        Edit::StrokeTo {
            point: at(v, 18.0, 24.0, 12.0),
        },
        Edit::Undo,
    ]
}

fn base(v: &Arc<Volume>) -> Document {
    let (nz, ny, nx) = v.dim();
    Document::new(Some(v.clone()), LabelMap::empty((nz, ny, nx), v.geometry)).unwrap()
}

#[test]
fn edits_serialise_and_replay_onto_the_base_bit_for_bit() {
    let v = scan();
    let edits = session_edits(&v);
    let mut live = base(&v);
    for e in &edits {
        live.apply(e.clone())
            .unwrap_or_else(|err| panic!("{e:?}: {err}"));
    }
    // Every kind of edit did something.
    assert!(live.voxel_count(1) > 0 && live.voxel_count(2) > 0);
    assert_eq!(live.segment(1).unwrap().name, "Spine");
    assert_eq!(live.segment(4).unwrap().name, "slab (2)");
    assert!(!live.segment(4).unwrap().visible);

    let bytes = EditLog(edits.clone()).to_bytes();
    let log = EditLog::from_bytes(&bytes).unwrap();
    assert_eq!(log.0, edits, "every edit reads back equal");
    for e in &edits {
        assert_eq!(&Edit::from_bytes(&e.to_bytes()).unwrap(), e);
    }

    let mut replayed = base(&v);
    for e in log.0 {
        replayed.apply(e).unwrap();
    }
    assert_eq!(
        replayed.labels().labels,
        live.labels().labels,
        "the same voxels, bit for bit"
    );
    assert_eq!(replayed.segments(), live.segments());
    assert_eq!(replayed.all_props(), live.all_props());
    let steps = |d: &Document| {
        d.steps()
            .map(|s| (s.name.to_string(), s.done, s.changed_voxels))
            .collect::<Vec<_>>()
    };
    assert_eq!(steps(&replayed), steps(&live));
    for id in 0..6 {
        assert_eq!(replayed.voxel_count(id), live.voxel_count(id), "id {id}");
    }
}

#[test]
fn counts_follow_every_edit_and_match_the_label_map() {
    let v = scan();
    let mut doc = base(&v);
    for e in session_edits(&v) {
        doc.apply(e).unwrap();
        let counts = doc.labels().counts();
        for s in doc.segments() {
            assert_eq!(
                doc.voxel_count(s.id),
                counts.get(s.id as usize).copied().unwrap_or(0),
                "{}",
                s.name
            );
        }
    }
}

#[test]
fn a_deleted_segment_comes_back_with_undo_as_it_was_built() {
    let v = scan();
    let mut doc = base(&v);
    let bone = Arc::new(threshold_mask(&v, 300.0, 3000.0));
    let add = doc
        .apply(Edit::Tool {
            step: "Add Bone".into(),
            target: Target::New("Bone".into()),
            mask: bone,
            recipe: SurfaceRecipe::Level(220.0),
            colour: None,
        })
        .unwrap();
    assert_eq!(add.added, vec![1]);
    assert_eq!(add.voxels, vec![1]);
    assert_eq!(add.step.as_deref(), Some("Add Bone"));
    assert!(!add.region.is_empty());
    let voxels = doc.voxel_count(1);

    let del = doc.apply(Edit::Delete { id: 1 }).unwrap();
    assert_eq!(del.removed, vec![1]);
    assert!(del.voxels.is_empty(), "{del:?}");
    assert_eq!(doc.voxel_count(1), 0);
    assert_eq!(doc.recipe(1), SurfaceRecipe::Mask);

    let undo = doc.apply(Edit::Undo).unwrap();
    assert_eq!(undo.added, vec![1]);
    assert_eq!(undo.voxels, vec![1]);
    assert_eq!(undo.step.as_deref(), Some("Delete Bone"));
    assert_eq!(doc.recipe(1), SurfaceRecipe::Level(220.0));
    assert_eq!(doc.voxel_count(1), voxels);

    // Undo past the creation and redo it: the recipe still comes back.
    doc.apply(Edit::Undo).unwrap();
    assert!(doc.segment(1).is_none());
    let redo = doc.apply(Edit::Redo).unwrap();
    assert_eq!(redo.added, vec![1]);
    assert_eq!(doc.recipe(1), SurfaceRecipe::Level(220.0));
    // Nothing more to redo: an empty change, not an error.
    doc.apply(Edit::Redo).unwrap();
    assert!(doc.apply(Edit::Redo).unwrap().is_empty());
}

#[test]
fn typing_a_name_is_one_history_step() {
    let v = scan();
    let mut doc = base(&v);
    doc.apply(Edit::AddEmpty).unwrap();
    let steps = doc.history().len();
    for name in ["L", "Li", "Liv", "Live", "Liver"] {
        let c = doc.apply(Edit::rename(1, name)).unwrap();
        assert_eq!(c.props, vec![1]);
    }
    assert_eq!(doc.segment(1).unwrap().name, "Liver");
    assert!(doc.has_pending());
    doc.seal();
    assert_eq!(doc.history().len(), steps + 1);
    assert_eq!(doc.history().undo_name(), Some("Rename Segment 1 to Liver"));
    // A colour drag after it is a step of its own.
    doc.apply(Edit::recolour(1, [1, 2, 3])).unwrap();
    doc.apply(Edit::recolour(1, [4, 5, 6])).unwrap();
    doc.apply(Edit::Undo).unwrap();
    assert_eq!(doc.segment(1).unwrap().name, "Liver");
    assert_ne!(doc.segment(1).unwrap().colour, [4, 5, 6]);
    doc.apply(Edit::Undo).unwrap();
    assert_eq!(doc.segment(1).unwrap().name, "Segment 1");
}

#[test]
fn an_edit_that_cannot_apply_changes_nothing_and_says_why() {
    let v = scan();
    let mut doc = base(&v);
    doc.apply(Edit::AddEmpty).unwrap();
    let generation = doc.generation();
    let labels = doc.labels().clone();
    let err = doc.apply(Edit::Delete { id: 9 }).unwrap_err();
    assert!(matches!(err, CoreError::NoSuchSegment { id: 9 }), "{err:?}");
    let small = Arc::new(Mask::empty((2, 2, 2), v.geometry));
    let err = doc
        .apply(Edit::Tool {
            step: "Add".into(),
            target: Target::New("x".into()),
            mask: small,
            recipe: SurfaceRecipe::Mask,
            colour: None,
        })
        .unwrap_err();
    assert!(matches!(err, CoreError::GridMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("does not fit"), "{err}");
    // Without a scan, a brush limited to an intensity range is refused.
    let mut no_scan = Document::new(None, (*labels).clone()).unwrap();
    let err = no_scan
        .apply(Edit::StrokeBegin {
            segment: 1,
            brush: brush(3.0, BrushAction::Paint, Some((0.0, 100.0))),
            point: at(&v, 5.0, 5.0, 5.0),
            name: "Paint".into(),
        })
        .unwrap_err();
    assert!(matches!(err, CoreError::EditMismatch(_)), "{err:?}");
    assert_eq!(doc.generation(), generation);
    assert_eq!(doc.labels().labels, labels.labels);
}

#[test]
fn damaged_edit_records_are_errors_never_panics() {
    let v = scan();
    let bytes = EditLog(session_edits(&v)).to_bytes();
    // Every cut short.
    for cut in (0..bytes.len()).step_by(7) {
        assert!(EditLog::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
    }
    // Flipped bytes: an error or another valid log, never a panic.
    let mut flips = 0;
    for i in (0..bytes.len()).step_by(13) {
        let mut b = bytes.clone();
        b[i] ^= 0x5a;
        if EditLog::from_bytes(&b).is_err() {
            flips += 1;
        }
    }
    assert!(flips > 0);
    // A newer format is refused by name.
    let mut newer = bytes.clone();
    newer[0] = 99;
    let err = EditLog::from_bytes(&newer).unwrap_err();
    assert!(err.to_string().contains("newer Stratum"), "{err}");
}

#[test]
fn the_journal_observer_restores_what_the_document_went_through() {
    use stratum_core::session::SessionData;
    use stratum_core::session::journal::{Journal, restore};
    let v = scan();
    let mut doc = base(&v);
    let root = tempfile::tempdir().unwrap();
    let base_data = SessionData {
        scan: None,
        document: doc.state().unwrap(),
        view: serde_json::Value::Null,
    };
    let journal = Arc::new(Journal::start(root.path(), base_data, "test").unwrap());
    doc.observe("autosave", journal.observer());
    for e in session_edits(&v) {
        doc.apply(e).unwrap();
    }
    journal.flush().unwrap();
    let dir = journal.dir().to_path_buf();
    drop(doc.unobserve("autosave"));
    drop(journal);
    let r = restore(&dir, HistoryConfig::default(), &Progress::new()).unwrap();
    let state = doc.state().unwrap();
    assert_eq!(r.data.document.labels, state.labels);
    assert_eq!(r.data.document.props, state.props);
    assert_eq!(r.data.document.history.len(), state.history.len());
    assert_eq!(r.data.document.history.applied(), state.history.applied());
}

/// A session folder and an autosave journal written by the build before
/// the document (tests/data/compat, made by that build: session format 1,
/// journal format 2 with its view record carrying opacities and levels and
/// its soft edges record) open as a document with the same voxels,
/// history, recipes and opacities.
#[test]
fn an_old_session_and_an_old_journal_open_as_documents() {
    use sha2::Digest;
    use stratum_core::segment::Labels;
    use stratum_core::session::journal::restore;
    use stratum_core::session::open_session;
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/compat");
    let expected: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.join("expected.json")).unwrap()).unwrap();
    let hash = |m: &LabelMap| match &m.labels {
        Labels::U8(a) => format!("{:x}", sha2::Sha256::digest(a.as_slice().unwrap())),
        Labels::U16(_) => panic!("the old maps are u8"),
    };

    let opened = open_session(&data.join("old.stratum"), &Progress::new()).unwrap();
    assert_eq!(opened.warning, None);
    let state = opened.data.document;
    assert_eq!(hash(&state.labels), expected["session_labels_sha256"]);
    assert_eq!((state.history.len(), state.history.applied()), (2, 2));
    assert_eq!(state.props[&1].recipe, SurfaceRecipe::Level(220.0));
    assert_eq!(state.props[&2].opacity, 0.6);
    assert!(matches!(&state.props[&2].recipe, SurfaceRecipe::Soft(f) if f.origin == [1, 4, 18]));
    let mut doc = Document::from_state(None, state, HistoryConfig::default()).unwrap();
    assert_eq!(doc.segment(2).unwrap().name, "liver");
    doc.apply(Edit::Undo).unwrap();
    assert_eq!(doc.voxel_count(2), 0, "the old history undoes");

    let r = restore(
        &data.join("autosave/journal"),
        HistoryConfig::default(),
        &Progress::new(),
    )
    .unwrap();
    assert_eq!(r.ignored_bytes, 0);
    let state = r.data.document;
    assert_eq!(hash(&state.labels), expected["journal_labels_sha256"]);
    assert_eq!(
        state.history.len() as u64,
        expected["journal_history_len"].as_u64().unwrap()
    );
    assert_eq!(
        state.history.applied() as u64,
        expected["journal_applied"].as_u64().unwrap()
    );
    assert_eq!(state.labels.segments[1].name, "Liver");
    // The last view record's opacities and levels, the last soft edges.
    assert_eq!(state.props[&1].recipe, SurfaceRecipe::Level(230.0));
    assert_eq!(state.props[&1].opacity, 0.8);
    assert_eq!(state.props[&2].opacity, 0.6);
    assert!(matches!(&state.props[&2].recipe, SurfaceRecipe::Soft(_)));
    let doc = Document::from_state(None, state, HistoryConfig::default()).unwrap();
    assert_eq!(doc.history().undo_name(), Some("Rename liver to Liver"));
}
