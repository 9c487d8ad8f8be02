//! Distances between segments: the minimum surface-to-surface distance of
//! two segments (a tumour and a vessel) with the two closest points, and a
//! margin map (each vertex of one surface coloured by its distance to the
//! other). Exact to the meshes the user sees: a Euclidean distance transform
//! of each segment's voxels finds where the surfaces come close, then the
//! distance is measured between the meshes there (vertex to triangle, both
//! ways), so it is neither the voxel centres' distance nor a sampled one.

use ndarray::{Array3, Axis, s};
use rayon::prelude::*;

use crate::base::error::{CoreError, Result};
use crate::base::progress::Progress;
use crate::image::volume::{Geometry, dot, sub};
use crate::mesh::SurfaceMesh;
use crate::segment::{LabelMap, Labels, distance_transform_sq};

/// The closest approach of two surfaces.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Closest {
    /// The minimum distance between the two surfaces (mm); 0 when they meet.
    pub distance_mm: f64,
    /// The point of the first surface closest to the second (LPS mm).
    pub on_a: [f64; 3],
    /// The point of the second surface closest to the first (LPS mm).
    pub on_b: [f64; 3],
    /// Whether the segments' voxels touch (face neighbours): the surfaces
    /// then meet or nearly do, whatever their meshes' smoothing says.
    pub touching: bool,
}

/// The distance to one segment's voxels over a box of the grid: the
/// Euclidean distance transform (squared mm from each voxel centre to the
/// nearest voxel centre of the segment), exact inside the box because the
/// box holds every voxel of the segment.
pub struct DistanceField {
    geometry: Geometry,
    /// (z, y, x) of the box's first voxel.
    lo: [usize; 3],
    sq: Array3<f32>,
    /// Half the smallest voxel side: a segment's surface lies about that
    /// far beyond its voxel centres.
    half: f32,
}

impl DistanceField {
    /// The distance to segment `id` over the box `[lo, hi)` (z, y, x), which
    /// is widened to hold every voxel of the segment. `None` when the
    /// segment has no voxels.
    pub fn to_segment(
        labels: &LabelMap,
        id: u16,
        lo: [usize; 3],
        hi: [usize; 3],
    ) -> Option<DistanceField> {
        let own = segment_bounds(labels, id)?;
        Some(Self::around(labels, id, own, lo, hi))
    }

    /// [`DistanceField::to_segment`] with the segment's own box known.
    fn around(
        labels: &LabelMap,
        id: u16,
        own: ([usize; 3], [usize; 3]),
        lo: [usize; 3],
        hi: [usize; 3],
    ) -> DistanceField {
        let lo: [usize; 3] = std::array::from_fn(|k| lo[k].min(own.0[k]));
        let hi: [usize; 3] = std::array::from_fn(|k| hi[k].max(own.1[k]));
        let bx = s![lo[0]..hi[0], lo[1]..hi[1], lo[2]..hi[2]];
        let feature = match &labels.labels {
            Labels::U8(a) => a.slice(bx).mapv(|v| u8::from(u16::from(v) == id)),
            Labels::U16(a) => a.slice(bx).mapv(|v| u8::from(v == id)),
        };
        let s = labels.geometry.spacing;
        DistanceField {
            geometry: labels.geometry,
            lo,
            sq: distance_transform_sq(&feature, s),
            half: 0.5 * s[0].min(s[1]).min(s[2]) as f32,
        }
    }

    /// Distance (mm) from the voxel centre (z, y, x) to the segment's voxel
    /// centres; infinite outside the box.
    pub fn at_voxel(&self, z: usize, y: usize, x: usize) -> f32 {
        let (a, b, c) = (
            z.wrapping_sub(self.lo[0]),
            y.wrapping_sub(self.lo[1]),
            x.wrapping_sub(self.lo[2]),
        );
        self.sq.get((a, b, c)).map_or(f32::INFINITY, |v| v.sqrt())
    }

    /// Approximate distance (mm) from an LPS point to the segment's surface:
    /// the transform interpolated at the point, less the half voxel between
    /// the voxel centres and their surface; good to about a voxel, which is
    /// what [`segment_distance`] and [`margin_map`] refine on the meshes.
    /// Points outside the box are clamped onto it.
    pub fn approx(&self, p: [f64; 3]) -> f32 {
        let i = self.geometry.lps_to_index(p);
        let (nz, ny, nx) = self.sq.dim();
        // Index order (x, y, z) against the array's (z, y, x).
        let dims = [nx, ny, nz];
        let lo = [self.lo[2], self.lo[1], self.lo[0]];
        let mut f = [0usize; 3];
        let mut t = [0f32; 3];
        for k in 0..3 {
            let v = (i[k] - lo[k] as f64).clamp(0.0, (dims[k] - 1) as f64);
            let v = if v.is_finite() { v } else { 0.0 };
            f[k] = (v.floor() as usize).min(dims[k].saturating_sub(2));
            t[k] = (v - f[k] as f64) as f32;
        }
        let mut acc = 0f32;
        for corner in 0..8 {
            let d = [corner & 1, (corner >> 1) & 1, (corner >> 2) & 1];
            let mut w = 1f32;
            let mut q = [0usize; 3];
            for k in 0..3 {
                q[k] = (f[k] + d[k]).min(dims[k] - 1);
                w *= if d[k] == 1 { t[k] } else { 1.0 - t[k] };
            }
            if w > 0.0 {
                acc += w * self.sq[(q[2], q[1], q[0])].sqrt();
            }
        }
        (acc - self.half).max(0.0)
    }
}

/// The minimum distance between the surfaces `mesh_a` and `mesh_b` of
/// segments `a` and `b` of `labels` (the meshes the user sees), with the two
/// closest points. The voxels say where to look; the meshes say how far:
/// every vertex of either mesh that may be the closest is measured exactly
/// against the other mesh's triangles.
pub fn segment_distance(
    labels: &LabelMap,
    a: u16,
    b: u16,
    mesh_a: &SurfaceMesh,
    mesh_b: &SurfaceMesh,
    progress: &Progress,
) -> Result<Closest> {
    progress.begin("measuring the distance", 4);
    if a == b {
        return Err(CoreError::SameSegment { what: "a distance" });
    }
    if mesh_a.indices.is_empty() || mesh_b.indices.is_empty() {
        return Err(CoreError::NoSurface { which: "a segment" });
    }
    let empty = |id| CoreError::EmptySegment {
        segment: format!("segment {id}"),
        consequence: "nothing to measure",
    };
    let ba = segment_bounds(labels, a).ok_or_else(|| empty(a))?;
    let bb = segment_bounds(labels, b).ok_or_else(|| empty(b))?;
    let lo: [usize; 3] = std::array::from_fn(|k| ba.0[k].min(bb.0[k]));
    let hi: [usize; 3] = std::array::from_fn(|k| ba.1[k].max(bb.1[k]));
    // The two transforms at once: each is a few passes over the box.
    let (to_b, to_a) = rayon::join(
        || DistanceField::around(labels, b, bb, lo, hi),
        || DistanceField::around(labels, a, ba, lo, hi),
    );
    progress.advance(2);
    progress.check()?;
    let touching = voxels_touch(labels, a, &to_b, ba);
    let s = labels.geometry.spacing;
    let diag = (s[0] * s[0] + s[1] * s[1] + s[2] * s[2]).sqrt();
    let index_a = MeshIndex::new(mesh_a);
    let index_b = MeshIndex::new(mesh_b);
    // The voxel estimate is good to about a voxel diagonal (each surface
    // lies within one of its voxels): every vertex within two diagonals of
    // the nearest estimate is a candidate, plus an edge for the triangles
    // whose inside is closer than their corners.
    let best_ab = closest_from(mesh_a, &to_b, &index_b, 2.0 * diag + index_a.edge);
    progress.advance(1);
    progress.check()?;
    let best_ba = closest_from(mesh_b, &to_a, &index_a, 2.0 * diag + index_b.edge);
    progress.advance(1);
    let closest = match (best_ab, best_ba) {
        (Some((d1, p1, q1)), Some((d2, p2, q2))) => {
            if d1 <= d2 {
                (d1, p1, q1)
            } else {
                (d2, q2, p2)
            }
        }
        (Some((d, p, q)), None) => (d, p, q),
        (None, Some((d, q, p))) => (d, p, q),
        (None, None) => {
            return Err(CoreError::Degenerate {
                what: "the surfaces",
                why: "have no vertices to measure from",
            });
        }
    };
    Ok(Closest {
        distance_mm: closest.0,
        on_a: closest.1,
        on_b: closest.2,
        touching,
    })
}

/// The distance from each vertex of `mesh_a` (the surface of segment `a`)
/// to the surface `mesh_b` of segment `b` (mm, one per vertex): exact on
/// the meshes up to `exact_mm` (the largest threshold the map is coloured
/// by), the voxel estimate beyond it.
pub fn margin_map(
    labels: &LabelMap,
    b: u16,
    mesh_a: &SurfaceMesh,
    mesh_b: &SurfaceMesh,
    exact_mm: f64,
    progress: &Progress,
) -> Result<Vec<f32>> {
    progress.begin("measuring margins", 2);
    let Some(own) = segment_bounds(labels, b) else {
        return Err(CoreError::EmptySegment {
            segment: format!("segment {b}"),
            consequence: "nothing to measure margins to",
        });
    };
    if mesh_b.indices.is_empty() {
        return Err(CoreError::NoSurface {
            which: "the other segment",
        });
    }
    // The box reaches over the part of mesh A that may lie within reach.
    let (nz, ny, nx) = labels.dim();
    let (mut lo, mut hi) = own;
    if let Some((mn, mx)) = mesh_a.bounds() {
        for p in [mn, mx] {
            let i = labels.geometry.lps_to_index(p.map(f64::from));
            let v = [i[2], i[1], i[0]];
            for k in 0..3 {
                let n = [nz, ny, nx][k];
                let c = v[k].clamp(0.0, (n - 1) as f64) as usize;
                lo[k] = lo[k].min(c);
                hi[k] = hi[k].max(c + 1);
            }
        }
    }
    let field = DistanceField::to_segment(labels, b, lo, hi).ok_or(CoreError::EmptySegment {
        segment: "the other segment".into(),
        consequence: "nothing to measure margins to",
    })?;
    progress.advance(1);
    progress.check()?;
    let index = MeshIndex::new(mesh_b);
    let s = labels.geometry.spacing;
    let diag = (s[0] * s[0] + s[1] * s[1] + s[2] * s[2]).sqrt();
    let reach = exact_mm + 2.0 * diag;
    // Cancellable vertex by vertex: the app cancels a map a newer surface
    // or request has made stale (an atomic load per vertex costs nothing
    // beside the nearest-triangle search).
    let out = mesh_a
        .positions
        .par_iter()
        .map(|p| {
            progress.check()?;
            let p = p.map(f64::from);
            let approx = field.approx(p);
            Ok(if f64::from(approx) > reach {
                approx
            } else {
                index.nearest(mesh_b, p).map_or(approx, |(d, _)| d as f32)
            })
        })
        .collect::<Result<Vec<f32>>>()?;
    progress.advance(1);
    Ok(out)
}

/// The colour of a margin: `near` under the first threshold, `mid` under
/// the second, `far` beyond (thresholds in mm, e.g. 5 and 10).
pub fn margin_colour(distance_mm: f32, thresholds: [f32; 2], colours: [[u8; 3]; 3]) -> [u8; 3] {
    if distance_mm < thresholds[0] {
        colours[0]
    } else if distance_mm < thresholds[1] {
        colours[1]
    } else {
        colours[2]
    }
}

/// The voxel box `(lo, hi)` (z, y, x, end exclusive) of segment `id`.
pub fn segment_bounds(labels: &LabelMap, id: u16) -> Option<([usize; 3], [usize; 3])> {
    match &labels.labels {
        Labels::U8(a) => bounds_of(a, id),
        Labels::U16(a) => bounds_of(a, id),
    }
}

/// [`segment_bounds`] on the label array itself: one pass over each z
/// plane's rows (plane by plane in parallel), no per-voxel lookup.
fn bounds_of<T: Copy + Into<u16> + Sync>(
    a: &Array3<T>,
    id: u16,
) -> Option<([usize; 3], [usize; 3])> {
    let planes: Vec<Option<([usize; 3], [usize; 3])>> = a
        .axis_iter(Axis(0))
        .into_par_iter()
        .enumerate()
        .map(|(z, plane)| {
            let mut b: Option<([usize; 3], [usize; 3])> = None;
            for (y, row) in plane.rows().into_iter().enumerate() {
                let first = row.iter().position(|v| (*v).into() == id);
                let Some(first) = first else { continue };
                let last = row.len() - 1 - row.iter().rev().position(|v| (*v).into() == id)?;
                let e = b.get_or_insert(([z, y, first], [z + 1, y + 1, last + 1]));
                e.0[2] = e.0[2].min(first);
                e.1[1] = y + 1;
                e.1[2] = e.1[2].max(last + 1);
            }
            b
        })
        .collect();
    planes.into_iter().flatten().reduce(|a, b| {
        (
            std::array::from_fn(|k| a.0[k].min(b.0[k])),
            std::array::from_fn(|k| a.1[k].max(b.1[k])),
        )
    })
}

/// Whether a voxel of `a` (inside `bounds`) has a face neighbour in the
/// segment `to_b` measures.
fn voxels_touch(
    labels: &LabelMap,
    a: u16,
    to_b: &DistanceField,
    bounds: ([usize; 3], [usize; 3]),
) -> bool {
    let s = labels.geometry.spacing;
    let step = s[0].max(s[1]).max(s[2]) as f32 * 1.001;
    let (lo, hi) = bounds;
    (lo[0]..hi[0]).into_par_iter().any(|z| {
        (lo[1]..hi[1]).any(|y| {
            (lo[2]..hi[2]).any(|x| labels.get(z, y, x) == a && to_b.at_voxel(z, y, x) <= step)
        })
    })
}

/// Of the vertices of `mesh` whose estimated distance to the other surface
/// is within `slack` of the smallest estimate, the one closest to the other
/// mesh, measured exactly: (distance, the vertex, its closest point).
fn closest_from(
    mesh: &SurfaceMesh,
    to_other: &DistanceField,
    other: &MeshIndex,
    slack: f64,
) -> Option<(f64, [f64; 3], [f64; 3])> {
    let approx: Vec<f32> = mesh
        .positions
        .par_iter()
        .map(|p| to_other.approx(p.map(f64::from)))
        .collect();
    let least = approx.iter().copied().fold(f32::INFINITY, f32::min);
    if !least.is_finite() {
        return None;
    }
    let limit = f64::from(least) + slack;
    let candidates: Vec<usize> = (0..mesh.positions.len())
        .filter(|&i| f64::from(approx[i]) <= limit)
        .collect();
    candidates
        .par_iter()
        .filter_map(|&i| {
            let p = mesh.positions[i].map(f64::from);
            other.nearest(other.mesh_ref(), p).map(|(d, q)| (d, p, q))
        })
        .min_by(|x, y| x.0.total_cmp(&y.0))
}

/// A mesh's vertices in a uniform grid, with the triangles around each
/// vertex: the nearest point of the mesh to a point, exactly.
struct MeshIndex<'a> {
    mesh: &'a SurfaceMesh,
    cell: f64,
    cells: std::collections::HashMap<[i64; 3], Vec<u32>>,
    /// Triangles around vertex i: `around[start[i]..start[i + 1]]`.
    start: Vec<u32>,
    around: Vec<u32>,
    /// The longest edge (mm).
    edge: f64,
}

impl<'a> MeshIndex<'a> {
    fn new(mesh: &'a SurfaceMesh) -> MeshIndex<'a> {
        let n = mesh.positions.len();
        let mut count = vec![0u32; n + 1];
        // Triangles with a corner out of range are left out everywhere.
        let valid = |tri: &[u32]| tri.iter().all(|&v| (v as usize) < n);
        for tri in mesh.indices.chunks_exact(3).filter(|t| valid(t)) {
            for &v in tri {
                count[v as usize + 1] += 1;
            }
        }
        for i in 0..n {
            count[i + 1] += count[i];
        }
        let start = count.clone();
        let mut fill = count;
        let mut around = vec![0u32; mesh.indices.len()];
        let mut edge = 0f64;
        for (t, tri) in mesh.indices.chunks_exact(3).enumerate() {
            if !valid(tri) {
                continue;
            }
            for k in 0..3 {
                let v = tri[k] as usize;
                around[fill[v] as usize] = t as u32;
                fill[v] += 1;
                let (p, q) = (mesh.positions[v], mesh.positions[tri[(k + 1) % 3] as usize]);
                edge = edge.max(f64::from(dist(p, q)));
            }
        }
        // Cells of a few edges: a query walks few cells and few vertices.
        let cell = (2.0 * edge).max(1e-3);
        let mut cells: std::collections::HashMap<[i64; 3], Vec<u32>> = Default::default();
        for (i, p) in mesh.positions.iter().enumerate() {
            cells
                .entry(key(p.map(f64::from), cell))
                .or_default()
                .push(i as u32);
        }
        MeshIndex {
            mesh,
            cell,
            cells,
            start,
            around,
            edge,
        }
    }

    fn mesh_ref(&self) -> &'a SurfaceMesh {
        self.mesh
    }

    /// The nearest vertex to `p` (searching outward ring by ring; once a
    /// ring would hold more cells than the grid has, every vertex).
    fn nearest_vertex(&self, p: [f64; 3]) -> Option<(f64, usize)> {
        let k = key(p, self.cell);
        let mut best: Option<(f64, usize)> = None;
        let consider = |i: u32, best: &mut Option<(f64, usize)>| {
            let d = dist64(p, self.mesh.positions[i as usize].map(f64::from));
            if best.is_none_or(|b| d < b.0) {
                *best = Some((d, i as usize));
            }
        };
        for r in 0i64.. {
            let side = (2 * r + 1) as usize;
            if side.saturating_pow(3) > self.cells.len() * 4 + 64 {
                for list in self.cells.values() {
                    for &i in list {
                        consider(i, &mut best);
                    }
                }
                return best;
            }
            for list in self.ring(k, r) {
                for &i in list {
                    consider(i, &mut best);
                }
            }
            // Anything in ring r + 1 is at least r cells away.
            if let Some(b) = best
                && b.0 <= r as f64 * self.cell
            {
                break;
            }
        }
        best
    }

    /// The cells at Chebyshev distance `r` from cell `k` that hold vertices.
    fn ring(&self, k: [i64; 3], r: i64) -> impl Iterator<Item = &Vec<u32>> + '_ {
        let side = 2 * r + 1;
        (0..side * side * side).filter_map(move |n| {
            let d = [n % side - r, (n / side) % side - r, n / (side * side) - r];
            if d[0].abs().max(d[1].abs()).max(d[2].abs()) != r {
                return None;
            }
            let c = [k[0] + d[0], k[1] + d[1], k[2] + d[2]];
            self.cells.get(&c)
        })
    }

    /// The nearest point of the mesh to `p`: the nearest vertex bounds the
    /// distance, and the closest point lies on a triangle with a corner
    /// within that bound plus the longest edge, so those triangles are all
    /// measured. (distance, the point).
    fn nearest(&self, mesh: &SurfaceMesh, p: [f64; 3]) -> Option<(f64, [f64; 3])> {
        let (d0, v0) = self.nearest_vertex(p)?;
        let mut best = (d0, mesh.positions[v0].map(f64::from));
        let reach = d0 + self.edge;
        let lo = key([p[0] - reach, p[1] - reach, p[2] - reach], self.cell);
        let hi = key([p[0] + reach, p[1] + reach, p[2] + reach], self.cell);
        let mut visit = |list: &Vec<u32>| {
            for &v in list {
                let v = v as usize;
                if dist64(p, mesh.positions[v].map(f64::from)) > reach {
                    continue;
                }
                for &t in &self.around[self.start[v] as usize..self.start[v + 1] as usize] {
                    let t = t as usize * 3;
                    let tri = [0, 1, 2]
                        .map(|k| mesh.positions[mesh.indices[t + k] as usize].map(f64::from));
                    let q = closest_on_triangle(p, tri);
                    let d = dist64(p, q);
                    if d < best.0 {
                        best = (d, q);
                    }
                }
            }
        };
        let span: i64 = (0..3).map(|k| hi[k] - lo[k] + 1).product();
        if span as usize > self.cells.len() {
            for (c, list) in &self.cells {
                if (0..3).all(|k| c[k] >= lo[k] && c[k] <= hi[k]) {
                    visit(list);
                }
            }
        } else {
            for cz in lo[2]..=hi[2] {
                for cy in lo[1]..=hi[1] {
                    for cx in lo[0]..=hi[0] {
                        if let Some(list) = self.cells.get(&[cx, cy, cz]) {
                            visit(list);
                        }
                    }
                }
            }
        }
        Some(best)
    }
}

fn key(p: [f64; 3], cell: f64) -> [i64; 3] {
    p.map(|c| (c / cell).floor() as i64)
}

fn dist(p: [f32; 3], q: [f32; 3]) -> f32 {
    ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt()
}

fn dist64(p: [f64; 3], q: [f64; 3]) -> f64 {
    ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt()
}

fn along(a: [f64; 3], d: [f64; 3], t: f64) -> [f64; 3] {
    [a[0] + d[0] * t, a[1] + d[1] * t, a[2] + d[2] * t]
}

/// The point of triangle `[a, b, c]` closest to `p` (Ericson, Real-Time
/// Collision Detection, 5.1.5: by the Voronoi region `p` falls in).
pub fn closest_on_triangle(p: [f64; 3], [a, b, c]: [[f64; 3]; 3]) -> [f64; 3] {
    let ab = sub(b, a);
    let ac = sub(c, a);
    let ap = sub(p, a);
    let d1 = dot(ab, ap);
    let d2 = dot(ac, ap);
    if d1 <= 0.0 && d2 <= 0.0 {
        return a;
    }
    let bp = sub(p, b);
    let d3 = dot(ab, bp);
    let d4 = dot(ac, bp);
    if d3 >= 0.0 && d4 <= d3 {
        return b;
    }
    let vc = d1 * d4 - d3 * d2;
    if vc <= 0.0 && d1 >= 0.0 && d3 <= 0.0 {
        return along(a, ab, d1 / (d1 - d3));
    }
    let cp = sub(p, c);
    let d5 = dot(ab, cp);
    let d6 = dot(ac, cp);
    if d6 >= 0.0 && d5 <= d6 {
        return c;
    }
    let vb = d5 * d2 - d1 * d6;
    if vb <= 0.0 && d2 >= 0.0 && d6 <= 0.0 {
        return along(a, ac, d2 / (d2 - d6));
    }
    let va = d3 * d6 - d5 * d4;
    if va <= 0.0 && (d4 - d3) >= 0.0 && (d5 - d6) >= 0.0 {
        return along(b, sub(c, b), (d4 - d3) / ((d4 - d3) + (d5 - d6)));
    }
    let denom = va + vb + vc;
    if denom.abs() < 1e-300 {
        // A degenerate triangle: its nearest corner.
        return [a, b, c]
            .into_iter()
            .min_by(|x, y| dist64(p, *x).total_cmp(&dist64(p, *y)))
            .unwrap_or(a);
    }
    let v = vb / denom;
    let w = vc / denom;
    [
        a[0] + ab[0] * v + ac[0] * w,
        a[1] + ab[1] * v + ac[1] * w,
        a[2] + ab[2] * v + ac[2] * w,
    ]
}
