//! Baked ambient occlusion for the scan texture (`convert --ao`): the share
//! of the open sky each vertex sees past every segment's surface, so folds,
//! the gaps between organs and the insides of curves read darker, as they
//! would under diffuse light.

use rayon::prelude::*;

use super::ExportSegment;

/// Rays per vertex, cosine-weighted over the hemisphere around its normal.
const RAYS: usize = 24;

/// The grid's largest side in cells (a 40 cm abdomen: 2 mm cells).
const MAX_CELLS: f32 = 200.0;

/// Cells that some triangle passes through, on a regular grid.
struct Occupancy {
    lo: [f32; 3],
    h: f32,
    dims: [usize; 3],
    cells: Vec<bool>,
}

impl Occupancy {
    fn cell(&self, p: [f32; 3]) -> Option<usize> {
        let mut idx = [0usize; 3];
        for k in 0..3 {
            let c = ((p[k] - self.lo[k]) / self.h).floor();
            if c < 0.0 || c >= self.dims[k] as f32 {
                return None;
            }
            idx[k] = c as usize;
        }
        Some((idx[2] * self.dims[1] + idx[1]) * self.dims[0] + idx[0])
    }

    fn occupied(&self, p: [f32; 3]) -> bool {
        self.cell(p).is_some_and(|c| self.cells[c])
    }
}

fn add(a: [f32; 3], b: [f32; 3], s: f32) -> [f32; 3] {
    [a[0] + s * b[0], a[1] + s * b[1], a[2] + s * b[2]]
}

/// Marks every cell a triangle passes through: points on the triangle no
/// further apart than half a cell.
fn occupancy(segments: &[ExportSegment<'_>], reach: f32) -> Option<Occupancy> {
    let mut lo = [f32::INFINITY; 3];
    let mut hi = [f32::NEG_INFINITY; 3];
    for (a, b) in segments.iter().filter_map(|s| s.mesh.bounds()) {
        for k in 0..3 {
            lo[k] = lo[k].min(a[k] - reach);
            hi[k] = hi[k].max(b[k] + reach);
        }
    }
    if !lo[0].is_finite() {
        return None;
    }
    let extent = (0..3).map(|k| hi[k] - lo[k]).fold(0.0f32, f32::max);
    let h = (extent / MAX_CELLS).max(0.5);
    let dims = [0, 1, 2].map(|k| ((hi[k] - lo[k]) / h).ceil() as usize + 1);
    let mut grid = Occupancy {
        lo,
        h,
        dims,
        cells: vec![false; dims[0] * dims[1] * dims[2]],
    };
    for s in segments {
        let p = &s.mesh.positions;
        for t in s.mesh.indices.chunks_exact(3) {
            let [a, b, c] = [0, 1, 2].map(|i| p[t[i] as usize]);
            let edge = |u: [f32; 3], v: [f32; 3]| {
                ((u[0] - v[0]).powi(2) + (u[1] - v[1]).powi(2) + (u[2] - v[2]).powi(2)).sqrt()
            };
            let longest = edge(a, b).max(edge(b, c)).max(edge(c, a));
            let n = ((longest / (0.5 * h)).ceil() as usize).clamp(1, 256);
            let (ab, ac) = (
                [0, 1, 2].map(|k| b[k] - a[k]),
                [0, 1, 2].map(|k| c[k] - a[k]),
            );
            for i in 0..=n {
                for j in 0..=n - i {
                    let q = add(add(a, ab, i as f32 / n as f32), ac, j as f32 / n as f32);
                    if let Some(cell) = grid.cell(q) {
                        grid.cells[cell] = true;
                    }
                }
            }
        }
    }
    Some(grid)
}

/// Per segment and vertex, the share (0..1) of rays that travel `reach_mm`
/// from the vertex, outward over its hemisphere, without meeting any
/// segment's surface. `normals` are the segments' unit vertex normals.
pub(crate) fn vertex_openness(
    segments: &[ExportSegment<'_>],
    normals: &[&[[f32; 3]]],
    reach_mm: f32,
) -> Vec<Vec<f32>> {
    let Some(grid) = occupancy(segments, reach_mm) else {
        return segments
            .iter()
            .map(|s| vec![1.0; s.mesh.positions.len()])
            .collect();
    };
    // Rays start two cells out along the normal: past the vertex's own
    // surface cells, which would otherwise hide every grazing ray.
    let start = 2.0 * grid.h;
    let step = 0.5 * grid.h;
    segments
        .iter()
        .zip(normals)
        .map(|(s, normals)| {
            s.mesh
                .positions
                .par_iter()
                .zip(normals.par_iter())
                .map(|(&p, &n)| {
                    let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
                    if len < 1e-6 {
                        return 1.0;
                    }
                    let n = n.map(|v| v / len);
                    // A frame (t, b, n) around the normal.
                    let helper = if n[0].abs() < 0.9 {
                        [1.0, 0.0, 0.0]
                    } else {
                        [0.0, 1.0, 0.0]
                    };
                    let cross = |u: [f32; 3], v: [f32; 3]| {
                        [
                            u[1] * v[2] - u[2] * v[1],
                            u[2] * v[0] - u[0] * v[2],
                            u[0] * v[1] - u[1] * v[0],
                        ]
                    };
                    let t = cross(n, helper);
                    let tl = (t[0] * t[0] + t[1] * t[1] + t[2] * t[2]).sqrt();
                    let t = t.map(|v| v / tl);
                    let b = cross(n, t);
                    let origin = add(p, n, start);
                    let open = (0..RAYS)
                        .filter(|&k| {
                            // Cosine-weighted: rings of equal area projected on the plane.
                            let r = ((k as f32 + 0.5) / RAYS as f32).sqrt();
                            let phi = k as f32 * 2.399_963;
                            let z = (1.0 - r * r).max(0.0).sqrt();
                            let d = [0, 1, 2]
                                .map(|i| r * phi.cos() * t[i] + r * phi.sin() * b[i] + z * n[i]);
                            let mut s = 0.0;
                            while s < reach_mm {
                                if grid.occupied(add(origin, d, s)) {
                                    return false;
                                }
                                s += step;
                            }
                            true
                        })
                        .count();
                    open as f32 / RAYS as f32
                })
                .collect()
        })
        .collect()
}
