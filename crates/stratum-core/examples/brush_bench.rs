//! Brush benchmark (issue 13): on the bone surface of the 512x512x300
//! phantom, strokes of 5, 10 and 20 mm radius; for every brush sample, the
//! time from the sample to the updated chunk meshes (history snapshot of the
//! reached bricks, the capsule, the remesh of the touched chunks), then
//! undo/redo time and memory of every stroke step.
//!
//!     cargo run --release -p stratum-core --example brush_bench -- PHANTOM_DIR [--strokes N] [--samples M]
//!
//! PHANTOM_DIR holds `dicom/` from make_phantom.py (or is the DICOM folder).
//! Prints one line per radius and `p95_ms=<worst p95>` last.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use stratum_core::base::progress::Progress;
use stratum_core::dicom::{load_series, scan};
use stratum_core::edit::{
    Brush, BrushAction, ChunkedSurface, History, HistoryConfig, Stroke, StrokeRecorder,
};
use stratum_core::segment::{LabelMap, threshold_mask};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: brush_bench PHANTOM_DIR [--strokes N] [--samples M]";
    let dir = PathBuf::from(args.first().ok_or_else(|| anyhow::anyhow!(usage))?);
    let opt = |name: &str, default: usize| -> anyhow::Result<usize> {
        match args.iter().position(|a| a == name) {
            Some(i) => Ok(args
                .get(i + 1)
                .ok_or_else(|| anyhow::anyhow!(usage))?
                .parse()?),
            None => Ok(default),
        }
    };
    let strokes = opt("--strokes", 12)?;
    let samples = opt("--samples", 30)?;
    let dicom = if dir.join("dicom").is_dir() {
        dir.join("dicom")
    } else {
        dir
    };

    let p = Progress::new();
    let t = Instant::now();
    let series = scan(&dicom, &p)?;
    let series = series
        .largest()
        .ok_or_else(|| anyhow::anyhow!("no series in {}", dicom.display()))?;
    let volume = load_series(series, &p)?.volume;
    println!(
        "loaded {:?} in {:.1} s",
        volume.dim(),
        t.elapsed().as_secs_f64()
    );
    let mut map = LabelMap::empty(volume.dim(), volume.geometry);
    let bone = map.add_segment("bone", &threshold_mask(&volume, 300.0, f64::INFINITY));
    let t = Instant::now();
    let mut surf = ChunkedSurface::build(&map, bone);
    println!(
        "chunked surface: {} triangles in {} chunks, built in {:.0} ms (threads {})",
        surf.triangle_count(),
        surf.chunks().count(),
        t.elapsed().as_secs_f64() * 1e3,
        rayon::current_num_threads()
    );
    let on_surface = SurfacePoints::new(&surf);
    // One chunk at a time (no parallelism): what a brick costs to remesh.
    let full: Vec<_> = surf
        .chunks()
        .map(|(b, c)| (b, c.triangle_count()))
        .collect();
    let t = Instant::now();
    let reps: usize = std::env::var("CHUNK_REPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    for (b, _) in full.iter().cycle().take(full.len() * reps) {
        let r = b.region(map.dim());
        // The region shrunk by the border, so only this brick remeshes.
        let inner = stratum_core::edit::bricks::Region::new(
            r.lo.map(|v| v + 2),
            r.hi.map(|v| v.saturating_sub(2)),
        );
        surf.update(&map, inner);
    }
    println!(
        "one chunk with surface: {:.3} ms mean, {:.0} triangles mean ({} chunks)",
        ms(t.elapsed()) / (full.len() * reps) as f64,
        full.iter().map(|f| f.1).sum::<usize>() as f64 / full.len() as f64,
        full.len()
    );

    let mut rng = Rng(12345);
    let mut worst = 0f64;
    for radius in [5.0, 10.0, 20.0] {
        let mut total = Vec::new();
        let (mut brush_ms, mut mesh_ms, mut bricks) = (Vec::new(), Vec::new(), Vec::new());
        let mut history = History::new(HistoryConfig::default());
        let mut step_bytes = Vec::new();
        for s in 0..strokes {
            let action = if s % 2 == 0 {
                BrushAction::Paint
            } else {
                BrushAction::Erase
            };
            let mut stroke = Stroke::new(Brush::sphere(radius, action), bone);
            let mut rec = StrokeRecorder::new(
                if s % 2 == 0 {
                    "Paint bone"
                } else {
                    "Erase bone"
                },
                &map,
            );
            // A stroke walks the surface in ~2 mm steps (a mouse sample at
            // 60-90 Hz of a steady hand), turning a little each sample.
            let mut at = on_surface.random(&mut rng);
            let mut dir = rng.unit();
            for _ in 0..samples {
                let t0 = Instant::now();
                let reach = stroke.reach(&map, at);
                rec.touch(&map, reach);
                let changed = stroke.sample(&mut map, None, at)?;
                let t1 = Instant::now();
                let n = changed.map_or(0, |c| surf.update(&map, c).len());
                bricks.push(n as f64);
                let t2 = Instant::now();
                total.push(ms(t2 - t0));
                brush_ms.push(ms(t1 - t0));
                mesh_ms.push(ms(t2 - t1));
                let turn = rng.unit();
                dir = normalize(std::array::from_fn(|k| dir[k] + 0.3 * turn[k]));
                at = on_surface
                    .nearest(std::array::from_fn(|k| at[k] + 2.0 * dir[k]))
                    .unwrap_or(at);
            }
            if let Some(step) = rec.finish(&map)? {
                step_bytes.push(step.memory_bytes());
                history.push(step);
            }
        }
        // Undo every stroke, then redo them all, each with its remesh.
        let (mut undo, mut redo) = (Vec::new(), Vec::new());
        for pass in 0..2 {
            loop {
                let t0 = Instant::now();
                let applied = if pass == 0 {
                    history.undo(&mut map)?
                } else {
                    history.redo(&mut map)?
                };
                let Some(a) = applied else { break };
                surf.update(&map, a.region);
                (if pass == 0 { &mut undo } else { &mut redo }).push(ms(t0.elapsed()));
            }
        }
        let q = |v: &mut Vec<f64>, f: f64| quantile(v, f);
        let p95 = q(&mut total, 0.95);
        worst = worst.max(p95);
        println!(
            "radius_mm={radius} samples={} p50_ms={:.2} p95_ms={p95:.2} max_ms={:.2} (brush p50 {:.2} p95 {:.2}, remesh p50 {:.2} p95 {:.2}, chunks/sample p50 {} p95 {} max {})",
            total.len(),
            q(&mut total, 0.5),
            q(&mut total, 1.0),
            q(&mut brush_ms, 0.5),
            q(&mut brush_ms, 0.95),
            q(&mut mesh_ms, 0.5),
            q(&mut mesh_ms, 0.95),
            q(&mut bricks, 0.5),
            q(&mut bricks, 0.95),
            q(&mut bricks, 1.0)
        );
        let mut kib: Vec<f64> = step_bytes.iter().map(|b| *b as f64 / 1024.0).collect();
        println!(
            "  history radius_mm={radius} steps={} step_kib mean={:.1} max={:.1}; undo+remesh p50_ms={:.2} max_ms={:.2}; redo+remesh p50_ms={:.2} max_ms={:.2}",
            kib.len(),
            kib.iter().sum::<f64>() / kib.len().max(1) as f64,
            q(&mut kib, 1.0),
            q(&mut undo, 0.5),
            q(&mut undo, 1.0),
            q(&mut redo, 0.5),
            q(&mut redo, 1.0)
        );
    }
    println!("p95_ms={worst:.2}");
    Ok(())
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn quantile(v: &mut [f64], f: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * f).round() as usize]
}

fn normalize(v: [f64; 3]) -> [f64; 3] {
    let l = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt().max(1e-12);
    v.map(|x| x / l)
}

/// The vertices of the starting surface in a 4 mm hash grid, to keep the
/// strokes on the bone surface.
struct SurfacePoints {
    points: Vec<[f64; 3]>,
    cells: HashMap<[i32; 3], Vec<u32>>,
}

const CELL_MM: f64 = 4.0;

impl SurfacePoints {
    fn new(surf: &ChunkedSurface) -> Self {
        let points: Vec<[f64; 3]> = surf
            .chunks()
            .flat_map(|(_, c)| c.positions.iter().map(|p| p.map(f64::from)))
            .collect();
        let mut cells: HashMap<[i32; 3], Vec<u32>> = HashMap::new();
        for (i, p) in points.iter().enumerate() {
            cells
                .entry(p.map(|v| (v / CELL_MM).floor() as i32))
                .or_default()
                .push(i as u32);
        }
        SurfacePoints { points, cells }
    }

    fn random(&self, rng: &mut Rng) -> [f64; 3] {
        self.points[(rng.next() * self.points.len() as f64) as usize % self.points.len()]
    }

    fn nearest(&self, p: [f64; 3]) -> Option<[f64; 3]> {
        let c = p.map(|v| (v / CELL_MM).floor() as i32);
        let mut best: Option<(f64, [f64; 3])> = None;
        for dz in -1..=1 {
            for dy in -1..=1 {
                for dx in -1..=1 {
                    for &i in self
                        .cells
                        .get(&[c[0] + dx, c[1] + dy, c[2] + dz])
                        .into_iter()
                        .flatten()
                    {
                        let q = self.points[i as usize];
                        let d: f64 = (0..3).map(|k| (q[k] - p[k]).powi(2)).sum();
                        if best.is_none_or(|(b, _)| d < b) {
                            best = Some((d, q));
                        }
                    }
                }
            }
        }
        best.map(|(_, q)| q)
    }
}

/// Deterministic xorshift, so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    fn unit(&mut self) -> [f64; 3] {
        normalize([self.next() - 0.5, self.next() - 0.5, self.next() - 0.5])
    }
}
