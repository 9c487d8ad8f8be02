//! Surface nets of one segment over a box of cells: the kernel of the
//! chunked surface. Samples are voxel centres (1 = the segment, 0 = not or
//! beyond the map, so surfaces close at the map's faces); a cell is the cube
//! between 8 samples, named by its lowest corner (-1 ..= dim-1 per axis).
//!
//! Why not one vertex per cell (the classic scheme, and the crate
//! `fast-surface-nets`): where two inside voxels touch only along an edge
//! (common where strokes meet), that vertex gets four quads on one edge and
//! the mesh is not manifold. Here a cell gets one vertex per group of its
//! inside corners connected along cube edges (as marching cubes with
//! "separated insides" would make one polygon each), which keeps those
//! places manifold.
//!
//! A box emits the quads of the grid edges that start at its own cells, so
//! boxes that tile the cells emit every quad once. The vertices a quad
//! needs from the neighbouring box on the low side are recomputed from the
//! same samples with the same arithmetic, hence bit-identical positions and
//! normals; `keys` names each vertex globally (cell and group) for welding.

use std::sync::LazyLock;

use crate::image::volume::Geometry;
use crate::segment::LabelValue;
use ndarray::Array3;

/// One piece of surface: LPS mm positions, unit normals from the field,
/// counter-clockwise triangles seen from outside, and a global key per vertex.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SurfaceChunk {
    pub positions: Vec<[f32; 3]>,
    pub normals: Vec<[f32; 3]>,
    pub indices: Vec<u32>,
    /// Global name of each vertex (cell index x 4 + group): equal keys are
    /// the same vertex in neighbouring chunks.
    pub keys: Vec<u64>,
}

impl SurfaceChunk {
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    pub fn triangle_count(&self) -> usize {
        self.indices.len() / 3
    }
}

/// Per case (8 corner bits, bit = dx | dy<<1 | dz<<2): the group of each
/// inside corner, and per group the mean of its crossed edges' midpoints.
struct Tables {
    group: [[u8; 8]; 256],
    offset: [[[f32; 3]; 4]; 256],
    /// Outward direction (index space) per group: sum over its crossed edges
    /// of inside-to-outside corner steps; the normal where the field's
    /// gradient cancels.
    outward: [[[f32; 3]; 4]; 256],
}

fn corner(i: usize) -> [f32; 3] {
    [(i & 1) as f32, ((i >> 1) & 1) as f32, ((i >> 2) & 1) as f32]
}

static TABLES: LazyLock<Tables> = LazyLock::new(|| {
    let mut t = Tables {
        group: [[u8::MAX; 8]; 256],
        offset: [[[0.0; 3]; 4]; 256],
        outward: [[[0.0; 3]; 4]; 256],
    };
    for case in 0..256usize {
        let inside = |i: usize| case >> i & 1 == 1;
        // Flood fill of inside corners along cube edges (corners one bit apart).
        let mut next = 0u8;
        for start in 0..8 {
            if !inside(start) || t.group[case][start] != u8::MAX {
                continue;
            }
            let mut stack = vec![start];
            t.group[case][start] = next;
            while let Some(c) = stack.pop() {
                for b in 0..3 {
                    let n = c ^ (1 << b);
                    if inside(n) && t.group[case][n] == u8::MAX {
                        t.group[case][n] = next;
                        stack.push(n);
                    }
                }
            }
            next += 1;
        }
        let mut count = [0f32; 4];
        for i in 0..8 {
            for b in 0..3 {
                let j = i ^ (1 << b);
                if inside(i) && !inside(j) {
                    let g = t.group[case][i] as usize;
                    let (ci, cj) = (corner(i), corner(j));
                    for k in 0..3 {
                        t.offset[case][g][k] += 0.5 * (ci[k] + cj[k]);
                        t.outward[case][g][k] += cj[k] - ci[k];
                    }
                    count[g] += 1.0;
                }
            }
        }
        for g in 0..4 {
            if count[g] > 0.0 {
                t.offset[case][g].iter_mut().for_each(|v| *v /= count[g]);
            }
        }
    }
    t
});

/// Scratch buffers, reused between chunks on one thread.
#[derive(Default)]
pub(crate) struct Scratch {
    field: Vec<u8>,
    cases: Vec<u8>,
    vertex: Vec<u32>,
    /// Per cell row (y, z): whether any case in it is neither 0 nor 255.
    busy: Vec<bool>,
    col: Vec<u8>,
}

/// A 4-bit column value (bit dy + 2 dz) spread to the case bits of dx = 0.
const SPREAD: [u8; 16] = {
    let mut t = [0u8; 16];
    let mut c = 0;
    while c < 16 {
        let mut j = 0;
        while j < 4 {
            t[c] |= ((c as u8 >> j) & 1) << (2 * j);
            j += 1;
        }
        c += 1;
    }
    t
};

/// The map's grid, the segment and what turns index space into LPS.
pub(crate) struct Grid {
    /// Map dimensions (z, y, x).
    pub dim: [usize; 3],
    pub geometry: Geometry,
    /// d index_a / d lps_c, for gradients (normals transform by its transpose).
    inv: [[f64; 3]; 3],
    flip: bool,
}

impl Grid {
    pub fn new(dim: (usize, usize, usize), geometry: Geometry) -> Self {
        let o = geometry.index_to_lps([0.0; 3]);
        let mut inv = [[0.0; 3]; 3];
        for c in 0..3 {
            let mut p = o;
            p[c] += 1.0;
            let i = geometry.lps_to_index(p);
            for a in 0..3 {
                inv[a][c] = i[a];
            }
        }
        let m: [[f64; 3]; 3] = std::array::from_fn(|a| {
            let mut e = [0.0; 3];
            e[a] = 1.0;
            let p = geometry.index_to_lps(e);
            [p[0] - o[0], p[1] - o[1], p[2] - o[2]]
        });
        let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
            - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
            + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
        Grid {
            dim: [dim.0, dim.1, dim.2],
            geometry,
            inv,
            flip: det < 0.0,
        }
    }

    /// Global key of cell (x, y, z) (each -1 ..= dim-1) and group `g`.
    #[inline]
    fn key(&self, c: [i64; 3], g: u8) -> u64 {
        let [_, ny, nx] = self.dim.map(|d| d as u64 + 1);
        ((((c[2] + 1) as u64 * ny + (c[1] + 1) as u64) * nx + (c[0] + 1) as u64) << 2) | g as u64
    }
}

/// Extracts the quads of the grid edges starting at the cells whose lowest
/// corner lies in `[lo, hi)` (x, y, z; within -1 ..= dim-1).
pub(crate) fn extract<T: LabelValue>(
    labels: &Array3<T>,
    segment: u16,
    grid: &Grid,
    lo: [i64; 3],
    hi: [i64; 3],
    scratch: &mut Scratch,
) -> SurfaceChunk {
    let seg = T::from_id(segment);
    let mut out = SurfaceChunk::default();
    // Samples lo-2 ..= hi+1: the vertex cells reach one cell below the box,
    // and the normals one sample beyond each corner.
    let s0: [i64; 3] = std::array::from_fn(|k| lo[k] - 2);
    let w: [usize; 3] = std::array::from_fn(|k| (hi[k] - lo[k] + 4) as usize);
    let (sy, sz) = (w[0], w[0] * w[1]);
    let field = &mut scratch.field;
    field.clear();
    field.resize(w[0] * w[1] * w[2], 0);
    let [nz, ny, nx] = grid.dim.map(|d| d as i64);
    let (mut ones, mut total) = (0usize, 0usize);
    let xr = (s0[0].max(0), (s0[0] + w[0] as i64).min(nx));
    let flat = labels.as_slice();
    for (wz, z) in (s0[2]..s0[2] + w[2] as i64).enumerate() {
        for (wy, y) in (s0[1]..s0[1] + w[1] as i64).enumerate() {
            total += w[0];
            if z < 0 || z >= nz || y < 0 || y >= ny || xr.0 >= xr.1 {
                continue;
            }
            let base = wz * sz + wy * sy + (xr.0 - s0[0]) as usize;
            let dst = &mut field[base..base + (xr.1 - xr.0) as usize];
            match flat {
                // Whole rows of a standard-layout map: a straight compare
                // the compiler vectorises.
                Some(src) => {
                    let start = ((z * ny + y) * nx + xr.0) as usize;
                    let src = &src[start..start + dst.len()];
                    dst.iter_mut()
                        .zip(src)
                        .for_each(|(d, v)| *d = u8::from(*v == seg));
                }
                None => {
                    let row = labels.slice(ndarray::s![
                        z as usize,
                        y as usize,
                        xr.0 as usize..xr.1 as usize
                    ]);
                    dst.iter_mut()
                        .zip(row)
                        .for_each(|(d, v)| *d = u8::from(*v == seg));
                }
            }
            ones += dst.iter().map(|b| *b as usize).sum::<usize>();
        }
    }
    if ones == 0 || ones == total {
        return out;
    }
    // Cases of the vertex cells lo-1 .. hi (window offset 1 .. w-2), a row
    // at a time: the four sample rows (dy, dz) of a cell row packed into a
    // 4-bit column value, two neighbouring columns making the 8-bit case.
    // Rows with one value throughout are flagged and skipped later.
    let v: [usize; 3] = std::array::from_fn(|k| w[k] - 3);
    let (vy, vz) = (v[0], v[0] * v[1]);
    let cases = &mut scratch.cases;
    cases.clear();
    cases.resize(v[0] * v[1] * v[2], 0);
    let busy = &mut scratch.busy;
    busy.clear();
    busy.resize(v[1] * v[2], false);
    let col = &mut scratch.col;
    col.resize(v[0] + 1, 0);
    for cz in 0..v[2] {
        for cy in 0..v[1] {
            let f0 = (cz + 1) * sz + (cy + 1) * sy + 1;
            let rows = [f0, f0 + sy, f0 + sz, f0 + sy + sz].map(|r| &field[r..r + v[0] + 1]);
            for (x, c) in col.iter_mut().enumerate() {
                *c = rows[0][x] | rows[1][x] << 1 | rows[2][x] << 2 | rows[3][x] << 3;
            }
            let c0 = cz * vz + cy * vy;
            let out_row = &mut cases[c0..c0 + v[0]];
            if col.iter().all(|c| *c == col[0]) && (col[0] == 0 || col[0] == 15) {
                out_row.fill(if col[0] == 0 { 0 } else { 255 });
                continue;
            }
            busy[cz * v[1] + cy] = true;
            for (x, o) in out_row.iter_mut().enumerate() {
                *o = SPREAD[col[x] as usize] | SPREAD[col[x + 1] as usize] << 1;
            }
        }
    }
    let vertex = &mut scratch.vertex;
    vertex.clear();
    vertex.resize(v[0] * v[1] * v[2], u32::MAX);
    let tables = &*TABLES;
    let cell_step = [1usize, vy, vz];
    let mut make_vertex = |vc: usize, c: [usize; 3], g: u8, out: &mut SurfaceChunk| -> u32 {
        // One slot per cell: the first group's index; groups follow in order.
        let case = cases[vc] as usize;
        if vertex[vc] == u32::MAX {
            let groups = tables.group[case]
                .iter()
                .filter(|g| **g != u8::MAX)
                .max()
                .map_or(0, |m| *m + 1);
            vertex[vc] = out.positions.len() as u32;
            for gi in 0..groups {
                let cell = [
                    lo[0] - 1 + c[0] as i64,
                    lo[1] - 1 + c[1] as i64,
                    lo[2] - 1 + c[2] as i64,
                ];
                let off = tables.offset[case][gi as usize];
                let p = grid
                    .geometry
                    .index_to_lps(std::array::from_fn(|k| cell[k] as f64 + off[k] as f64));
                out.positions.push(p.map(|x| x as f32));
                let outward = tables.outward[case][gi as usize];
                out.normals
                    .push(normal(field, [sy, sz], c, off, groups == 1, outward, grid));
                out.keys.push(grid.key(cell, gi));
            }
        }
        vertex[vc] + g as u32
    };
    let mut face_vertices: Vec<(u64, u32)> = Vec::new();
    let mut poly: Vec<u32> = Vec::with_capacity(8);
    for cz in 1..v[2] {
        for cy in 1..v[1] {
            if !scratch.busy[cz * v[1] + cy] {
                continue;
            }
            for cx in 1..v[0] {
                let vc = cz * vz + cy * vy + cx;
                let case = cases[vc];
                if case == 0 || case == 255 {
                    continue;
                }
                let c = [cx, cy, cz];
                let a_in = case & 1;
                for ax in 0..3 {
                    if (case >> (1 << ax) & 1) == a_in {
                        continue;
                    }
                    let (u, w2) = ((ax + 1) % 3, (ax + 2) % 3);
                    // The four cells around the edge, counter-clockwise seen
                    // from +ax: a, a-u, a-u-v, a-v.
                    let mut cells = [(0usize, [0usize; 3], 0usize, 0u32); 4];
                    for (q, (du, dv)) in [(0, 0), (1, 0), (1, 1), (0, 1)].into_iter().enumerate() {
                        let mut cc = c;
                        cc[u] -= du;
                        cc[w2] -= dv;
                        let m = vc - du * cell_step[u] - dv * cell_step[w2];
                        // The edge's inside end, as a corner of cell m.
                        let base = (du << u) | (dv << w2);
                        let inside_corner = if a_in == 1 { base } else { base | (1 << ax) };
                        let g = tables.group[cases[m] as usize][inside_corner];
                        cells[q] = (m, cc, inside_corner, make_vertex(m, cc, g, &mut out));
                    }
                    // Sides (q, q+1) with the lower cell of each pair and the
                    // axis they differ along.
                    poly.clear();
                    let mut root = 0;
                    for (q, (low, axis)) in
                        [(1, u), (2, w2), (2, u), (3, w2)].into_iter().enumerate()
                    {
                        poly.push(cells[q].3);
                        let high = if low == q { (q + 1) % 4 } else { q };
                        let (lm, lc, p, _) = cells[low];
                        let hm = cells[high].0;
                        if let Some(f) = double_face(cases[lm], cases[hm], axis, p) {
                            let cell = std::array::from_fn(|k| lo[k] - 1 + lc[k] as i64);
                            // Cell (bits 5..), axis (3..4), corner (0..2).
                            let key =
                                FACE | (grid.key(cell, 0) << 3) | (axis as u64) << 3 | p as u64;
                            let i = match face_vertices.iter().find(|(k, _)| *k == key) {
                                Some((_, i)) => *i,
                                None => {
                                    let i = out.positions.len() as u32;
                                    let off = f.offset;
                                    let pt = grid.geometry.index_to_lps(std::array::from_fn(|k| {
                                        cell[k] as f64 + off[k] as f64
                                    }));
                                    out.positions.push(pt.map(|x| x as f32));
                                    out.normals.push(normal(
                                        field,
                                        [sy, sz],
                                        lc,
                                        off,
                                        true,
                                        f.outward,
                                        grid,
                                    ));
                                    out.keys.push(key);
                                    face_vertices.push((key, i));
                                    i
                                }
                            };
                            if root == 0 {
                                root = poly.len();
                            }
                            poly.push(i);
                        }
                    }
                    // Inside at a: the outward side is +ax, where the order
                    // above is counter-clockwise; a mirrored grid flips it.
                    let ccw = (a_in == 1) != grid.flip;
                    // A fan from an inserted face vertex, so the side it split
                    // never comes back as a diagonal.
                    let n = poly.len();
                    for k in 1..n - 1 {
                        let (a, b, c) =
                            (poly[root], poly[(root + k) % n], poly[(root + k + 1) % n]);
                        if ccw {
                            out.indices.extend_from_slice(&[a, b, c]);
                        } else {
                            out.indices.extend_from_slice(&[a, c, b]);
                        }
                    }
                }
            }
        }
    }
    out
}

/// Flags the key of a face vertex (see [`double_face`]).
const FACE: u64 = 1 << 63;

/// A vertex on the face between two cells.
struct FacePoint {
    offset: [f32; 3],
    outward: [f32; 3],
}

/// Where two face-adjacent cells (the lower one's case `low`, the upper's
/// `high`, differing along `axis`) share an ambiguous face (two inside
/// corners on a diagonal) and each joins both inside corners into one
/// group, the two contour pieces on that face would become one doubled
/// edge between the cells' vertices. The quads there get a vertex on the
/// face for the piece around corner `p` (of the lower cell) instead: the
/// middle of that piece.
fn double_face(low: u8, high: u8, axis: usize, p: usize) -> Option<FacePoint> {
    let bit = 1 << axis;
    let other = p ^ (7 ^ bit);
    let inside = |case: u8, c: usize| case >> c & 1 == 1;
    // The face's two outside corners: one step from p along each face axis.
    let b1 = if axis == 0 { 2 } else { 1 };
    let (q1, q2) = (p ^ b1, p ^ (7 ^ bit ^ b1));
    let ambiguous = inside(low, p) && inside(low, other) && !inside(low, q1) && !inside(low, q2);
    let t = &*TABLES;
    if !ambiguous
        || t.group[low as usize][p] != t.group[low as usize][other]
        || t.group[high as usize][p ^ bit] != t.group[high as usize][other ^ bit]
    {
        return None;
    }
    let (cp, co) = (corner(p), corner(other));
    let (c1, c2) = (corner(q1), corner(q2));
    Some(FacePoint {
        offset: std::array::from_fn(|k| 0.75 * cp[k] + 0.25 * co[k]),
        outward: std::array::from_fn(|k| c1[k] + c2[k] - 2.0 * cp[k]),
    })
}

/// Unit outward normal in LPS at offset `off` of vertex cell `c` (window
/// cell coordinates, x y z): minus the field's gradient, trilinear from
/// central differences at the cell's corners, when `gradient` (a cell with
/// one group); else, or where the gradient cancels, `fallback`.
fn normal(
    field: &[u8],
    [sy, sz]: [usize; 2],
    c: [usize; 3],
    off: [f32; 3],
    gradient: bool,
    fallback: [f32; 3],
    grid: &Grid,
) -> [f32; 3] {
    let mut n = [0f32; 3];
    if gradient {
        // Window index of the cell's lowest corner (window offset 1).
        let f0 = (c[0] + 1) + (c[1] + 1) * sy + (c[2] + 1) * sz;
        let at = |i: usize| field[i] as f32;
        let [ox, oy, oz] = off;
        for (wz, dz) in [(1.0 - oz, 0), (oz, sz)] {
            for (wy, dy) in [(1.0 - oy, 0), (oy, sy)] {
                for (wx, dx) in [(1.0 - ox, 0), (ox, 1)] {
                    let w = wx * wy * wz;
                    if w == 0.0 {
                        continue;
                    }
                    let f = f0 + dz + dy + dx;
                    n[0] -= w * (at(f + 1) - at(f - 1));
                    n[1] -= w * (at(f + sy) - at(f - sy));
                    n[2] -= w * (at(f + sz) - at(f - sz));
                }
            }
        }
    }
    if n.iter().all(|v| v.abs() < 1e-6) {
        n = fallback;
    }
    // Gradients map to LPS by the inverse's transpose.
    let n = n.map(f64::from);
    let inv = &grid.inv;
    let p: [f64; 3] =
        std::array::from_fn(|cc| inv[0][cc] * n[0] + inv[1][cc] * n[1] + inv[2][cc] * n[2]);
    let l = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
    if l > 0.0 {
        p.map(|v| (v / l) as f32)
    } else {
        [0.0, 0.0, 1.0]
    }
}
