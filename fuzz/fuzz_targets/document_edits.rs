//! The segmentation document's edits in their binary form (what a live
//! session sends and an edit log stores): decoded from the input, then
//! applied one by one to a small document with a scan, then undone and
//! redone to the end. A refused edit is an error; nothing may panic, and
//! undoing everything must give back the starting voxels.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use ndarray::Array3;
use stratum_core::document::{Document, Edit, EditLog};
use stratum_core::edit::{Brush, BrushAction, BrushShape, SliceAxis};
use stratum_core::segment::{LabelMap, Labels, Segment};
use stratum_core::image::volume::{Geometry, Volume, Voxels};

fn start() -> &'static (Arc<Volume>, LabelMap) {
    static S: OnceLock<(Arc<Volume>, LabelMap)> = OnceLock::new();
    S.get_or_init(|| {
        let geometry = Geometry {
            origin: [0.0, 0.0, 0.0],
            spacing: [1.0, 1.0, 2.0],
            ..Geometry::default()
        };
        let dim = (6, 20, 20);
        let voxels = Array3::from_shape_fn(dim, |(z, y, x)| ((x * 37 + y * 11 + z * 101) % 900) as i16 - 200);
        let volume = Arc::new(Volume::new(Voxels::I16(voxels), geometry, "CT"));
        let mut labels = Array3::<u8>::zeros(dim);
        labels.slice_mut(ndarray::s![1..4, 4..12, 5..15]).fill(1);
        let map = LabelMap {
            labels: Labels::U8(labels),
            geometry,
            segments: vec![Segment { id: 1, name: "bone".into(), colour: [230, 220, 200], visible: true }],
        };
        if let Some(out) = std::env::var_os("STRATUM_FUZZ_WRITE_SEEDS") {
            write_seeds(std::path::Path::new(&out));
        }
        (volume, map)
    })
}

fuzz_target!(init: stratum_fuzz::init(), |data: &[u8]| {
    let (volume, map) = start();
    // Either a whole edit log or a single edit.
    let edits = match EditLog::from_bytes(data) {
        Ok(log) => log.0,
        Err(_) => match Edit::from_bytes(data) {
            Ok(edit) => vec![edit],
            Err(_) => return,
        },
    };
    let Ok(mut doc) = Document::new(Some(volume.clone()), map.clone()) else {
        return;
    };
    for edit in edits.into_iter().take(64) {
        // Every edit either applies or is refused with an error; the encoded
        // form of an accepted edit decodes to the same bytes.
        let bytes = edit.to_bytes();
        let again = Edit::from_bytes(&bytes).expect("an edit's own bytes decode");
        assert_eq!(again.to_bytes(), bytes, "encoding is not stable");
        let _ = doc.apply(edit);
    }
    let _ = doc.apply(Edit::StrokeEnd);
    doc.seal();
    while doc.history().can_undo() {
        if doc.apply(Edit::Undo).is_err() {
            break;
        }
    }
    if !doc.history().can_undo() {
        // Compared voxel by voxel: a segment id past 255 widens the storage.
        let (now, start) = (doc.labels(), map);
        let (nz, ny, nx) = start.dim();
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    assert_eq!(now.get(z, y, x), start.get(z, y, x), "undoing every step did not give back the start at ({z}, {y}, {x})");
                }
            }
        }
    }
});

/// Seeds for the corpus: a log of every kind of edit, and one lone edit.
fn write_seeds(out: &std::path::Path) {
    let brush = Brush {
        radius_mm: 2.5,
        shape: BrushShape::Sphere,
        action: BrushAction::Paint,
        intensity: Some((0.0, 500.0)),
        overwrite: false,
    };
    let log = EditLog(vec![
        Edit::AddEmpty,
        Edit::rename(2, "tumour"),
        Edit::StrokeBegin { segment: 2, brush, point: [4.0, 6.0, 2.0], name: "Paint tumour".into() },
        Edit::StrokeTo { point: [9.0, 8.0, 4.0] },
        Edit::StrokeEnd,
        Edit::FillBetween { id: 1, axis: SliceAxis::Axial, overwrite: false },
        Edit::recolour(1, [10, 200, 30]),
        Edit::set_visible(2, false),
        Edit::SetOpacity { id: 1, opacity: 0.4 },
        Edit::Undo,
        Edit::Redo,
        Edit::Delete { id: 1 },
        Edit::Undo,
    ]);
    std::fs::create_dir_all(out).expect("seed folder");
    std::fs::write(out.join("every-kind"), log.to_bytes()).expect("seed");
    std::fs::write(out.join("one-rename"), Edit::rename(1, "cortex").to_bytes()).expect("seed");
}
