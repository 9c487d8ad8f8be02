//! The edit history: undo and redo of every kind of edit give the label map
//! back bit-identical, no-op steps are not recorded, spilled steps return.

use ndarray::Array3;
use stratum_core::edit::bricks::Region;
use stratum_core::edit::{History, HistoryConfig, HistorySnapshot, Step, StrokeRecorder};
use stratum_core::image::volume::Geometry;
use stratum_core::segment::{LabelMap, Labels, Segment};

/// Deterministic pseudo-random numbers (no dependency, same on every run).
pub struct Lcg(pub u64);
impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

pub fn seg(id: u16, name: &str) -> Segment {
    Segment {
        id,
        name: name.into(),
        colour: [10, 20, id as u8],
        visible: true,
    }
}

/// A map with partial bricks on every far face (dims not multiples of 32),
/// filled with a few labels so diffs are against non-zero voxels.
pub fn map(dim: (usize, usize, usize), wide: bool, seed: u64) -> LabelMap {
    let mut rng = Lcg(seed);
    let mut a = Array3::<u16>::zeros(dim);
    for v in a.iter_mut() {
        if rng.below(4) == 0 {
            *v = 1 + rng.below(3) as u16 + if wide { 400 } else { 0 };
        }
    }
    let labels = if wide {
        Labels::U16(a)
    } else {
        Labels::U8(a.mapv(|v| v as u8))
    };
    let base = if wide { 400 } else { 0 };
    LabelMap {
        labels,
        geometry: Geometry {
            origin: [1.25, -3.5, 7.0],
            spacing: [0.7, 0.8, 2.5],
            ..Geometry::default()
        },
        segments: (1..=3).map(|i| seg(base + i, &format!("s{i}"))).collect(),
    }
}

pub fn set(map: &mut LabelMap, z: usize, y: usize, x: usize, v: u16) {
    match &mut map.labels {
        Labels::U8(a) => a[(z, y, x)] = v as u8,
        Labels::U16(a) => a[(z, y, x)] = v,
    }
}

/// One brush sample: a ball of `value`, after telling the recorder.
pub fn ball(map: &mut LabelMap, rec: &mut StrokeRecorder, c: [usize; 3], r: usize, value: u16) {
    let region = Region::new(
        std::array::from_fn(|a| c[a].saturating_sub(r)),
        std::array::from_fn(|a| c[a] + r + 1),
    )
    .clip(map.dim());
    rec.touch(map, region);
    for (z, y, x) in region.voxels() {
        let d = [
            z as f64 - c[0] as f64,
            y as f64 - c[1] as f64,
            x as f64 - c[2] as f64,
        ];
        if d.iter().map(|v| v * v).sum::<f64>() <= (r * r) as f64 {
            set(map, z, y, x, value);
        }
    }
}

/// A stroke of `samples` balls along a random walk.
pub fn stroke(map: &mut LabelMap, name: &str, value: u16, samples: usize, rng: &mut Lcg) -> Step {
    let (nz, ny, nx) = map.dim();
    let mut rec = StrokeRecorder::new(name, map);
    let mut c = [rng.below(nz), rng.below(ny), rng.below(nx)];
    for _ in 0..samples {
        ball(map, &mut rec, c, 2 + rng.below(4), value);
        let dims = [nz, ny, nx];
        for a in 0..3 {
            c[a] = (c[a] + rng.below(5)).saturating_sub(2).min(dims[a] - 1);
        }
    }
    rec.finish(map).unwrap().expect("the stroke changed voxels")
}

fn diff_inside(a: &LabelMap, b: &LabelMap, region: Region) -> bool {
    let (nz, ny, nx) = a.dim();
    (0..nz).all(|z| {
        (0..ny)
            .all(|y| (0..nx).all(|x| a.get(z, y, x) == b.get(z, y, x) || region.contains(z, y, x)))
    })
}

fn strokes_undo_and_redo_bit_identical(wide: bool) {
    let mut m = map((45, 70, 38), wide, 1);
    let mut rng = Lcg(7);
    let mut h = History::default();
    let mut states = vec![m.clone()];
    for i in 0..6 {
        let id = m.segments[i % 3].id;
        let step = stroke(
            &mut m,
            &format!("Paint s{i}"),
            if i == 4 { 0 } else { id },
            12,
            &mut rng,
        );
        assert!(
            diff_inside(&states[i], &m, step.region()),
            "region misses a change"
        );
        h.push(step);
        states.push(m.clone());
    }
    assert_eq!(h.len(), 6);
    for i in (0..6).rev() {
        let applied = h.undo(&mut m).unwrap().unwrap();
        assert_eq!(m, states[i], "undo of step {i}");
        assert!(diff_inside(&states[i], &states[i + 1], applied.region));
        assert!(!applied.bricks.is_empty());
    }
    assert!(h.undo(&mut m).unwrap().is_none());
    for (i, state) in states.iter().enumerate().skip(1) {
        h.redo(&mut m).unwrap().unwrap();
        assert_eq!(&m, state, "redo of step {i}");
    }
    assert!(h.redo(&mut m).unwrap().is_none());
}

#[test]
fn stroke_undo_redo_is_bit_identical_u8() {
    strokes_undo_and_redo_bit_identical(false);
}

#[test]
fn stroke_undo_redo_is_bit_identical_u16() {
    strokes_undo_and_redo_bit_identical(true);
}

/// A threshold-like tool: every voxel with (z + x) % 3 == 0 becomes `id`.
fn tool(m: &LabelMap, id: u16) -> LabelMap {
    let mut out = m.clone();
    let (nz, ny, nx) = m.dim();
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                if (z + x + y / 7) % 3 == 0 {
                    set(&mut out, z, y, x, id);
                }
            }
        }
    }
    out
}

#[test]
fn whole_map_results_undo_redo_bit_identical_u8_and_u16() {
    for wide in [false, true] {
        let before = map((33, 64, 65), wide, 2);
        let mut after = tool(&before, before.segments[1].id);
        after
            .segments
            .push(seg(if wide { 500 } else { 9 }, "Threshold bone"));
        let step = Step::whole_map("Threshold bone", &before, &after)
            .unwrap()
            .unwrap();
        assert!(step.changes_segments());
        let mut h = History::default();
        h.push(step);
        let mut m = after.clone();
        h.undo(&mut m).unwrap().unwrap();
        assert_eq!(m, before);
        h.redo(&mut m).unwrap().unwrap();
        assert_eq!(m, after);
    }
}

#[test]
fn a_result_that_widens_u8_to_u16_undoes_back_to_u8() {
    let before = map((20, 40, 33), false, 3);
    let mut after = before.clone();
    after.labels = match &after.labels {
        Labels::U8(a) => Labels::U16(a.mapv(u16::from)),
        Labels::U16(_) => unreachable!(),
    };
    set(&mut after, 5, 5, 5, 300);
    after.segments.push(seg(300, "AI: aorta"));
    let step = Step::whole_map("AI segmentation", &before, &after)
        .unwrap()
        .unwrap();
    let mut h = History::default();
    h.push(step);
    let mut m = after.clone();
    h.undo(&mut m).unwrap().unwrap();
    assert!(matches!(m.labels, Labels::U8(_)));
    assert_eq!(m, before);
    h.redo(&mut m).unwrap().unwrap();
    assert_eq!(m, after);
}

#[test]
fn segment_table_edits_undo_and_redo() {
    let mut m = map((10, 12, 14), false, 4);
    let mut h = History::default();
    let mut states = vec![m.clone()];
    // Rename, recolour, add, delete (its voxels erased too).
    type Edit = Box<dyn Fn(&mut LabelMap)>;
    let edits: Vec<Edit> = vec![
        Box::new(|m| m.segments[0].name = "liver".into()),
        Box::new(|m| m.segments[2].colour = [1, 2, 3]),
        Box::new(|m| m.segments.push(seg(7, "new"))),
        Box::new(|m| {
            m.erase(2);
            m.segments.remove(1);
        }),
        Box::new(|m| m.segments[0].visible = false),
    ];
    for (i, edit) in edits.iter().enumerate() {
        let before = m.clone();
        edit(&mut m);
        let step = if i == 3 {
            Step::whole_map("Delete s2", &before, &m).unwrap().unwrap()
        } else {
            Step::segments(format!("edit {i}"), &before.segments, &m.segments).unwrap()
        };
        h.push(step);
        states.push(m.clone());
    }
    for i in (0..edits.len()).rev() {
        let a = h.undo(&mut m).unwrap().unwrap();
        assert!(a.segments_changed);
        assert_eq!(m, states[i]);
    }
    for state in &states[1..] {
        h.redo(&mut m).unwrap().unwrap();
        assert_eq!(&m, state);
    }
}

#[test]
fn a_step_that_changed_nothing_is_not_recorded() {
    let mut m = map((40, 40, 40), false, 5);
    let mut rec = StrokeRecorder::new("Paint s1", &m);
    // Paint every voxel of a box with the value it already has.
    let r = Region::new([3, 3, 3], [30, 35, 36]);
    rec.touch(&m, r);
    for (z, y, x) in r.voxels() {
        let v = m.get(z, y, x);
        set(&mut m, z, y, x, v);
    }
    assert!(rec.touched_bricks() > 1);
    assert!(rec.finish(&m).unwrap().is_none());
    assert!(
        Step::whole_map("Threshold", &m, &m.clone())
            .unwrap()
            .is_none()
    );
    assert!(Step::segments("Rename", &m.segments, &m.segments.clone()).is_none());
    // A stroke that changes and then restores a voxel changed nothing.
    let mut rec = StrokeRecorder::new("Paint", &m);
    let old = m.get(1, 1, 1);
    rec.touch(&m, Region::voxel(1, 1, 1));
    set(&mut m, 1, 1, 1, old + 1);
    set(&mut m, 1, 1, 1, old);
    assert!(rec.finish(&m).unwrap().is_none());
}

#[test]
fn a_new_edit_clears_redo() {
    let mut m = map((20, 20, 20), false, 6);
    let mut rng = Lcg(1);
    let mut h = History::default();
    h.push(stroke(&mut m, "a", 1, 3, &mut rng));
    h.push(stroke(&mut m, "b", 2, 3, &mut rng));
    h.undo(&mut m).unwrap();
    assert!(h.can_redo());
    assert_eq!(h.redo_name(), Some("b"));
    h.push(stroke(&mut m, "c", 3, 3, &mut rng));
    assert!(!h.can_redo());
    let names: Vec<_> = h.steps().map(|s| s.name).collect();
    assert_eq!(names, ["a", "c"]);
    assert!(h.redo(&mut m).unwrap().is_none());
}

#[test]
fn steps_past_the_budget_spill_to_disk_and_undo_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = History::new(HistoryConfig {
        memory_budget: 1,
        spill_dir: Some(dir.path().to_path_buf()),
    });
    let mut m = map((40, 50, 60), true, 8);
    let mut rng = Lcg(3);
    let mut states = vec![m.clone()];
    for i in 0..5 {
        h.push(stroke(
            &mut m,
            &format!("s{i}"),
            401 + i as u16 % 3,
            8,
            &mut rng,
        ));
        states.push(m.clone());
    }
    let on_disk = h.steps().filter(|s| s.on_disk).count();
    assert_eq!(on_disk, 4, "all but the newest step spill");
    assert!(h.disk_bytes() > 0);
    let spill_files = std::fs::read_dir(dir.path()).unwrap().count();
    assert_eq!(spill_files, 1);
    // Saving reads spilled steps back too.
    let snap = HistorySnapshot::from_bytes(&h.snapshot().unwrap().to_bytes()).unwrap();
    assert_eq!(snap.len(), 5);
    for i in (0..5).rev() {
        h.undo(&mut m).unwrap().unwrap();
        assert_eq!(m, states[i]);
    }
    for state in &states[1..] {
        h.redo(&mut m).unwrap().unwrap();
        assert_eq!(&m, state);
    }
    drop(h);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "spill file removed"
    );
    // The snapshot still undoes everything without the spill file.
    let mut h = History::from_snapshot(snap, HistoryConfig::default());
    for i in (0..5).rev() {
        h.undo(&mut m).unwrap().unwrap();
        assert_eq!(m, states[i]);
    }
}

#[test]
fn undo_on_a_map_changed_outside_the_history_is_an_error_and_changes_nothing() {
    let mut m = map((20, 20, 20), false, 9);
    let mut rng = Lcg(5);
    let mut h = History::default();
    h.push(stroke(&mut m, "a", 1, 3, &mut rng));
    let before = m.segments.clone();
    m.segments[0].name = "x".into();
    h.push(Step::segments("rename", &before, &m.segments).unwrap());
    let mut other = m.clone();
    other.segments[0].name = "changed elsewhere".into();
    let copy = other.clone();
    assert!(h.undo(&mut other).is_err());
    assert_eq!(other, copy);
    assert_eq!(h.applied(), 2);
    let mut small = map((10, 10, 10), false, 9);
    small.segments = m.segments.clone();
    h.undo(&mut m).unwrap();
    let copy = small.clone();
    assert!(h.undo(&mut small).is_err(), "wrong dimensions");
    assert_eq!(small, copy);
}

#[test]
fn a_damaged_history_file_is_an_error_not_a_panic() {
    let mut m = map((20, 20, 20), false, 10);
    let mut rng = Lcg(2);
    let mut h = History::default();
    h.push(stroke(&mut m, "a", 1, 4, &mut rng));
    h.push(stroke(&mut m, "b", 2, 4, &mut rng));
    let bytes = h.snapshot().unwrap().to_bytes();
    assert!(HistorySnapshot::from_bytes(&bytes).is_ok());
    for cut in (0..bytes.len()).step_by(7) {
        assert!(HistorySnapshot::from_bytes(&bytes[..cut]).is_err());
    }
    for i in (0..bytes.len()).step_by(11) {
        let mut b = bytes.clone();
        b[i] ^= 0x5a;
        assert!(HistorySnapshot::from_bytes(&b).is_err(), "flipped byte {i}");
    }
}
