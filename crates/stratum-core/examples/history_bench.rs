//! Edit-history figures on a synthetic 512x512x300 label map: per brush
//! radius, 90-sample sphere strokes over a "bone" surface, the memory of
//! each step, the main-thread cost of ending the stroke (copying the
//! touched bricks), the diff + compression (a background job in the app),
//! and the time to undo and redo it.
//!
//! `cargo run --release -p stratum-core --example history_bench`
//! Goals (issue 13): undo/redo of a stroke under 30 ms, a step under 64 KiB.

use std::time::Instant;

use ndarray::Array3;
use stratum_core::edit::bricks::Region;
use stratum_core::edit::{History, HistoryConfig, Step, StrokeRecorder};
use stratum_core::image::volume::Geometry;
use stratum_core::segment::{LabelMap, Labels};

const DIM: (usize, usize, usize) = (300, 512, 512);
const SAMPLES: usize = 90;
const STROKES: usize = 12;

fn main() {
    // A "bone": an ellipsoid shell of label 1 filling most of the volume.
    let mut a = Array3::<u8>::zeros(DIM);
    let c = [150.0, 256.0, 256.0];
    let radii = [120.0, 200.0, 180.0];
    a.indexed_iter_mut().for_each(|((z, y, x), v)| {
        let q = [
            (z as f64 - c[0]) / radii[0],
            (y as f64 - c[1]) / radii[1],
            (x as f64 - c[2]) / radii[2],
        ];
        let r = (q[0] * q[0] + q[1] * q[1] + q[2] * q[2]).sqrt();
        if (0.85..1.0).contains(&r) {
            *v = 1;
        }
    });
    let mut map = LabelMap {
        labels: Labels::U8(a),
        geometry: Geometry::default(),
        segments: Vec::new(),
    };
    let spill = std::env::temp_dir().join(format!("stratum-history-bench-{}", std::process::id()));
    let mut history = History::new(HistoryConfig {
        memory_budget: 64 << 20,
        spill_dir: Some(spill.clone()),
    });
    println!(
        "label map {}x{}x{} u8, {SAMPLES}-sample strokes, {STROKES} per radius",
        DIM.2, DIM.1, DIM.0
    );
    println!(
        "radius_vox  step_KiB(p50/max)  end_ms(p50/max)  pack_ms(p50/max)  undo_ms(p50/max)  redo_ms(p50/max)  bricks(p50)"
    );
    let mut worst = (0.0f64, 0.0f64);
    let mut seed = 1u64;
    for radius in [5usize, 10, 20] {
        let (mut kib, mut fin, mut pack, mut undo, mut redo, mut bricks) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for s in 0..STROKES {
            // Walk along the outer surface of the shell, one sample per 1.5 voxels.
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let theta0 = (seed >> 40) as f64 / (1u64 << 24) as f64 * std::f64::consts::TAU;
            let phi = 0.3 + 0.4 * s as f64 / STROKES as f64 * std::f64::consts::PI;
            let value = if s % 2 == 0 { 2 } else { 0 };
            let mut rec = StrokeRecorder::new(format!("Paint r{radius}"), &map);
            for i in 0..SAMPLES {
                let theta = theta0 + i as f64 * 1.5 / 190.0;
                let p = [
                    c[0] + radii[0] * phi.cos(),
                    c[1] + radii[1] * phi.sin() * theta.sin(),
                    c[2] + radii[2] * phi.sin() * theta.cos(),
                ];
                paint_ball(&mut map, &mut rec, p, radius as f64, value);
            }
            let t = Instant::now();
            let job = rec.into_job(&map).expect("same map");
            fin.push(ms(t));
            let t = Instant::now();
            let Some(step) = job.run() else {
                continue;
            };
            pack.push(ms(t));
            kib.push(step.memory_bytes() as f64 / 1024.0);
            bricks.push(step.bricks().len() as f64);
            history.push(step);
            let before = map.clone();
            let t = Instant::now();
            history.undo(&mut map).unwrap().unwrap();
            undo.push(ms(t));
            let t = Instant::now();
            history.redo(&mut map).unwrap().unwrap();
            redo.push(ms(t));
            assert!(map == before, "undo + redo must give the map back");
        }
        worst.0 = worst.0.max(max(&undo)).max(max(&redo));
        worst.1 = worst.1.max(max(&kib));
        println!(
            "{radius:>10}  {:>8.1}/{:<8.1}  {:>6.2}/{:<6.2}  {:>7.2}/{:<7.2}  {:>7.2}/{:<7.2}  {:>7.2}/{:<7.2}  {:>6}",
            p50(&kib),
            max(&kib),
            p50(&fin),
            max(&fin),
            p50(&pack),
            max(&pack),
            p50(&undo),
            max(&undo),
            p50(&redo),
            max(&redo),
            p50(&bricks)
        );
    }
    // A whole-map tool result: relabel the whole shell (label 1 -> 3).
    let before = map.clone();
    if let Labels::U8(a) = &mut map.labels {
        a.mapv_inplace(|v| if v == 1 { 3 } else { v });
    }
    let t = Instant::now();
    let step = Step::whole_map("Relabel bone", &before, &map)
        .unwrap()
        .unwrap();
    let diff_ms = ms(t);
    let (kib, voxels) = (step.memory_bytes() as f64 / 1024.0, step.changed_voxels());
    history.push(step);
    let t = Instant::now();
    history.undo(&mut map).unwrap().unwrap();
    let undo_ms = ms(t);
    assert!(map == before);
    let t = Instant::now();
    history.redo(&mut map).unwrap().unwrap();
    println!(
        "whole-map step ({voxels} voxels changed): diff {diff_ms:.0} ms, {kib:.0} KiB, undo {undo_ms:.0} ms, redo {:.0} ms",
        ms(t)
    );
    println!(
        "history: {} steps, {:.1} KiB in memory, {:.1} KiB on disk",
        history.len(),
        history.memory_bytes() as f64 / 1024.0,
        history.disk_bytes() as f64 / 1024.0
    );
    println!(
        "worst_undo_redo_ms={:.2} worst_step_kib={:.1}",
        worst.0, worst.1
    );
    // What the app runs as background jobs: the scan hash, a session save.
    let ct = stratum_core::image::volume::Voxels::I16(Array3::from_elem(DIM, -1000i16));
    let t = Instant::now();
    let _ = stratum_core::session::voxel_sha256(&ct);
    let hash_ms = ms(t);
    let dir = spill.join("bench.stratum");
    let mut document = stratum_core::document::DocumentState::new(map.clone());
    document.history = history.snapshot().unwrap();
    let data = stratum_core::session::SessionData {
        scan: None,
        document,
        view: serde_json::Value::Null,
    };
    let t = Instant::now();
    stratum_core::session::save_session(&dir, &data, "bench").unwrap();
    let save_ms = ms(t);
    let t = Instant::now();
    let opened =
        stratum_core::session::open_session(&dir, &stratum_core::base::progress::Progress::new())
            .unwrap();
    let open_ms = ms(t);
    assert!(opened.data.document.labels == map);
    println!(
        "scan hash (i16 CT) {hash_ms:.0} ms; session save {save_ms:.0} ms, open {open_ms:.0} ms"
    );
    let _ = std::fs::remove_dir_all(&dir);
    drop(history);
    let _ = std::fs::remove_dir(&spill);
}

fn paint_ball(map: &mut LabelMap, rec: &mut StrokeRecorder, c: [f64; 3], r: f64, value: u8) {
    let region = Region::new(
        std::array::from_fn(|a| (c[a] - r).floor().max(0.0) as usize),
        std::array::from_fn(|a| (c[a] + r).ceil() as usize + 1),
    )
    .clip(map.dim());
    rec.touch(map, region);
    let Labels::U8(a) = &mut map.labels else {
        unreachable!()
    };
    for (z, y, x) in region.voxels() {
        let d = [z as f64 - c[0], y as f64 - c[1], x as f64 - c[2]];
        if d[0] * d[0] + d[1] * d[1] + d[2] * d[2] <= r * r {
            a[(z, y, x)] = value;
        }
    }
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1e3
}

fn p50(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    s.get(s.len() / 2).copied().unwrap_or(0.0)
}

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}
