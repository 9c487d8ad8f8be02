//! Marching cubes. The case table is generated, not copied: on each cube
//! face the crossing points are paired so that inside corners are always
//! separated (a rule that depends only on the face's four corners, so two
//! cubes sharing a face always agree), segments are oriented with the
//! inside on their left seen from outside, chained into loops and fanned
//! into triangles. The result is crack-free and 2-manifold.

use std::sync::OnceLock;

/// Corner `i` of the unit cube sits at (i & 1, (i >> 1) & 1, (i >> 2) & 1).
pub(crate) fn corner(i: usize) -> [usize; 3] {
    [i & 1, (i >> 1) & 1, (i >> 2) & 1]
}

/// What the extraction loop needs of an edge, precomputed.
#[derive(Clone, Copy)]
struct EdgeInfo {
    a: usize,
    b: usize,
    axis: usize,
    /// Offsets (x, y, z) of corner `a` in the cube.
    ca: [usize; 3],
}

fn edge_infos() -> [EdgeInfo; 12] {
    std::array::from_fn(|e| {
        let (a, b) = edges()[e];
        let (ca, cb) = (corner(a), corner(b));
        let axis = (0..3)
            .find(|&k| ca[k] != cb[k])
            .expect("an edge runs along one axis");
        EdgeInfo { a, b, axis, ca }
    })
}

/// The 12 edges as corner pairs (c0 < c1, differing in one bit).
pub(crate) fn edges() -> &'static [(usize, usize); 12] {
    static E: OnceLock<[(usize, usize); 12]> = OnceLock::new();
    E.get_or_init(|| {
        let mut v = Vec::new();
        for a in 0..8usize {
            for bit in 0..3 {
                let b = a | (1 << bit);
                if b != a {
                    v.push((a, b));
                }
            }
        }
        v.try_into().expect("12 edges")
    })
}

fn edge_index(a: usize, b: usize) -> usize {
    let (a, b) = (a.min(b), a.max(b));
    edges().iter().position(|e| *e == (a, b)).expect("an edge")
}

/// The triangulation of each of the 256 cases.
pub(crate) fn table() -> &'static [Case; 256] {
    static T: OnceLock<[Case; 256]> = OnceLock::new();
    T.get_or_init(|| {
        let mut t: [Case; 256] = std::array::from_fn(triangulate);
        // Orient outward (away from inside corners): check case 1.
        let n = tri_normal(t[1].tris[0]);
        if n[0] + n[1] + n[2] < 0.0 {
            for case in t.iter_mut() {
                for tri in case.tris.iter_mut() {
                    tri.swap(1, 2);
                }
            }
        }
        t
    })
}

fn edge_mid(e: u8) -> [f64; 3] {
    let (a, b) = edges()[e as usize];
    let (pa, pb) = (corner(a), corner(b));
    [0, 1, 2].map(|k| (pa[k] + pb[k]) as f64 / 2.0)
}

fn tri_normal(t: [u8; 3]) -> [f64; 3] {
    let (a, b, c) = (edge_mid(t[0]), edge_mid(t[1]), edge_mid(t[2]));
    let u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
    let v = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
    [
        u[1] * v[2] - u[2] * v[1],
        u[2] * v[0] - u[0] * v[2],
        u[0] * v[1] - u[1] * v[0],
    ]
}

/// Vertex codes at or above this name the centroid of loop `code - CENTROID`.
pub(crate) const CENTROID: u8 = 12;

/// One case: triangles over edge codes (and loop centroids), and the loops.
#[derive(Clone, Debug, Default)]
pub(crate) struct Case {
    pub tris: Vec<[u8; 3]>,
    pub loops: Vec<Vec<u8>>,
}

fn triangulate(case: usize) -> Case {
    let inside = |c: usize| case & (1 << c) != 0;
    let mut next: [Option<usize>; 12] = [None; 12];
    for axis in 0..3 {
        for side in 0..2 {
            // Face corners counter-clockwise seen from outside.
            let (mut u, mut v) = ((axis + 1) % 3, (axis + 2) % 3);
            if side == 0 {
                std::mem::swap(&mut u, &mut v);
            }
            let uv = [(0, 0), (1, 0), (1, 1), (0, 1)];
            let ring: Vec<usize> = uv
                .iter()
                .map(|(a, b)| (side << axis) | (a << u) | (b << v))
                .collect();
            let pos2 = |k: usize| (uv[k].0 as f64, uv[k].1 as f64);
            // Crossing on ring edge k (between corner k and k+1).
            let crossed: Vec<usize> = (0..4)
                .filter(|&k| inside(ring[k]) != inside(ring[(k + 1) % 4]))
                .collect();
            let mid = |k: usize| {
                let (a, b) = (pos2(k), pos2((k + 1) % 4));
                ((a.0 + b.0) / 2.0, (a.1 + b.1) / 2.0)
            };
            let mut add = |k1: usize, k2: usize, c: usize| {
                // Orient k1 -> k2 so that corner c is on the left.
                let (p, q, cc) = (mid(k1), mid(k2), pos2(c));
                let cross = (q.0 - p.0) * (cc.1 - p.1) - (q.1 - p.1) * (cc.0 - p.0);
                let (from, to) = if cross > 0.0 { (k1, k2) } else { (k2, k1) };
                let e_from = edge_index(ring[from], ring[(from + 1) % 4]);
                let e_to = edge_index(ring[to], ring[(to + 1) % 4]);
                assert!(
                    next[e_from].is_none(),
                    "case {case}: inconsistent orientation"
                );
                next[e_from] = Some(e_to);
            };
            match crossed.len() {
                0 => {}
                2 => {
                    let c = (0..4).find(|&k| inside(ring[k])).expect("an inside corner");
                    add(crossed[0], crossed[1], c);
                }
                4 => {
                    // Diagonal inside corners: cut each one off on its own.
                    for c in (0..4).filter(|&k| inside(ring[k])) {
                        add((c + 3) % 4, c, c);
                    }
                }
                _ => unreachable!("a face has 0, 2 or 4 crossings"),
            }
        }
    }
    let mut tris = Vec::new();
    let mut loops: Vec<Vec<u8>> = Vec::new();
    let mut used = [false; 12];
    for start in 0..12 {
        if next[start].is_none() || used[start] {
            continue;
        }
        let mut lp = vec![start];
        used[start] = true;
        let mut e = next[start].expect("chained");
        while e != start {
            used[e] = true;
            lp.push(e);
            e = next[e].expect("every crossing continues its loop");
        }
        // Fan from a start whose diagonals never lie on a cube face (such a
        // diagonal could meet the neighbour cube's and pinch the surface);
        // if every start has one, fan around the loop's centroid instead.
        let n = lp.len();
        let start = (0..n).find(|&s0| (2..n - 1).all(|i| !share_face(lp[s0], lp[(s0 + i) % n])));
        match start {
            Some(s0) => {
                for i in 1..n - 1 {
                    tris.push([
                        lp[s0] as u8,
                        lp[(s0 + i) % n] as u8,
                        lp[(s0 + i + 1) % n] as u8,
                    ]);
                }
            }
            None => {
                let centre = CENTROID + loops.len() as u8;
                for i in 0..n {
                    tris.push([centre, lp[i] as u8, lp[(i + 1) % n] as u8]);
                }
            }
        }
        loops.push(lp.iter().map(|e| *e as u8).collect());
    }
    Case { tris, loops }
}

/// Whether two cube edges lie on a common face.
fn share_face(a: usize, b: usize) -> bool {
    let (ea, eb) = (edges()[a], edges()[b]);
    let corners = [ea.0, ea.1, eb.0, eb.1];
    (0..3).any(|axis| {
        let bit = |c: usize| (c >> axis) & 1;
        corners.iter().all(|&c| bit(c) == bit(corners[0]))
    })
}

/// Extracts the iso-surface `value > iso` of a scalar field sampled on an
/// (nz, ny, nx) grid. `row(z, y, out)` fills `out` (length nx) with the
/// values of row (z, y); beyond the borders the field is `outside` (below
/// `iso`), so the surface is always closed. Positions are in (x, y, z)
/// index units.
///
/// Slabs of cube layers run in parallel and are welded on their shared grid
/// layers; within a slab, rows of cubes with no inside corner are skipped.
pub fn marching_cubes(
    dim: (usize, usize, usize),
    row: &(dyn Fn(usize, usize, &mut [f32]) + Sync),
    iso: f32,
    outside: f32,
) -> (Vec<[f32; 3]>, Vec<u32>) {
    use rayon::prelude::*;
    debug_assert!(outside <= iso);
    let (nz, ny, nx) = dim;
    let g = Grid {
        nz,
        ny,
        nx,
        row,
        iso,
        outside,
    };
    // Cube layers 0..nz+1 of the padded grid, in slabs.
    let layers = nz + 1;
    let slabs = (rayon::current_num_threads() * 4).clamp(1, layers);
    let bounds: Vec<(usize, usize)> = (0..slabs)
        .map(|k| (k * layers / slabs, (k + 1) * layers / slabs))
        .filter(|(a, b)| b > a)
        .collect();
    let parts: Vec<Slab> = bounds.par_iter().map(|&(z0, z1)| g.slab(z0, z1)).collect();
    // Weld: a slab's bottom-layer vertices are its predecessor's top-layer ones.
    let mut positions = Vec::with_capacity(parts.iter().map(|p| p.positions.len()).sum());
    let mut indices = Vec::with_capacity(parts.iter().map(|p| p.indices.len()).sum());
    let mut prev_top_global: Vec<u32> = Vec::new();
    for (k, part) in parts.iter().enumerate() {
        let mut remap = vec![NONE; part.positions.len()];
        if k > 0 {
            for (key, &local) in part.bottom.iter().enumerate() {
                if local != NONE {
                    remap[local as usize] = prev_top_global[key];
                }
            }
        }
        for (local, p) in part.positions.iter().enumerate() {
            if remap[local] == NONE {
                remap[local] = positions.len() as u32;
                positions.push(*p);
            }
        }
        indices.extend(part.indices.iter().map(|&i| remap[i as usize]));
        prev_top_global = part
            .top
            .iter()
            .map(|&l| if l == NONE { NONE } else { remap[l as usize] })
            .collect();
    }
    (positions, indices)
}

const NONE: u32 = u32::MAX;

struct Grid<'a> {
    nz: usize,
    ny: usize,
    nx: usize,
    row: &'a (dyn Fn(usize, usize, &mut [f32]) + Sync),
    iso: f32,
    outside: f32,
}

/// One slab's output: vertices, triangles, and the vertex ids of the x/y
/// edges on its bottom and top grid layers (index `(y * px + x) * 2 + axis`).
struct Slab {
    positions: Vec<[f32; 3]>,
    indices: Vec<u32>,
    bottom: Vec<u32>,
    top: Vec<u32>,
}

impl Grid<'_> {
    /// Values of padded grid layer `z` (index 0 and nz + 1 are outside),
    /// and one bit per grid point, set when the value is inside, in rows of
    /// `words` u64.
    fn layer(&self, z: usize, out: &mut [f32], bits: &mut [u64]) {
        let (px, py) = (self.nx + 2, self.ny + 2);
        let words = px.div_ceil(64);
        bits.iter_mut().for_each(|b| *b = 0);
        if z == 0 || z > self.nz {
            out.iter_mut().for_each(|v| *v = self.outside);
            return;
        }
        // Only the padding frame needs `outside`: the rows fill the rest.
        out[..px].fill(self.outside);
        out[(py - 1) * px..].fill(self.outside);
        for y in 1..py - 1 {
            out[y * px] = self.outside;
            out[y * px + px - 1] = self.outside;
        }
        for y in 1..py - 1 {
            let line = &mut out[y * px + 1..y * px + px - 1];
            (self.row)(z - 1, y - 1, line);
            // Branch-free: 64 comparisons folded into each word (the padded
            // row starts one column before `line`).
            let row = &out[y * px..(y + 1) * px];
            let iso = self.iso;
            for (w, chunk) in bits[y * words..(y + 1) * words]
                .iter_mut()
                .zip(row.chunks(64))
            {
                *w = chunk
                    .iter()
                    .enumerate()
                    .fold(0u64, |m, (i, v)| m | (((*v > iso) as u64) << i));
            }
        }
    }

    fn slab(&self, z0: usize, z1: usize) -> Slab {
        let table = table();
        let edge_info = edge_infos();
        let (px, py) = (self.nx + 2, self.ny + 2);
        let plane = py * px;
        let iso = self.iso;
        let mut positions: Vec<[f32; 3]> = Vec::new();
        let mut indices: Vec<u32> = Vec::new();
        let mut lo_xy = vec![[NONE; 2]; plane];
        let mut hi_xy = vec![[NONE; 2]; plane];
        let mut zed = vec![NONE; plane];
        // Slots written per layer, so clearing costs what was used, not a plane.
        let (mut touched_lo, mut touched_hi, mut touched_z): (Vec<usize>, Vec<usize>, Vec<usize>) =
            (Vec::new(), Vec::new(), Vec::new());
        let mut layer_lo = vec![0f32; plane];
        let mut layer_hi = vec![0f32; plane];
        let words = px.div_ceil(64);
        let mut bits_lo = vec![0u64; py * words];
        let mut bits_hi = vec![0u64; py * words];
        self.layer(z0, &mut layer_lo, &mut bits_lo);
        let mut bottom = Vec::new();
        let mut cubes_of_row: Vec<usize> = Vec::with_capacity(px);
        for z in z0..z1 {
            self.layer(z + 1, &mut layer_hi, &mut bits_hi);
            for i in touched_z.drain(..) {
                zed[i] = NONE;
            }
            for y in 0..py - 1 {
                // Cube x of this row crosses the surface unless its 8 corners
                // agree: found 64 cubes at a time from the corner bits.
                let rows = [
                    &bits_lo[y * words..(y + 1) * words],
                    &bits_lo[(y + 1) * words..(y + 2) * words],
                    &bits_hi[y * words..(y + 1) * words],
                    &bits_hi[(y + 1) * words..(y + 2) * words],
                ];
                let any = |k: usize| {
                    if k < words {
                        rows[0][k] | rows[1][k] | rows[2][k] | rows[3][k]
                    } else {
                        0
                    }
                };
                let all = |k: usize| {
                    if k < words {
                        rows[0][k] & rows[1][k] & rows[2][k] & rows[3][k]
                    } else {
                        0
                    }
                };
                cubes_of_row.clear();
                for k in 0..words {
                    let (a, a_next, b, b_next) = (any(k), any(k + 1), all(k), all(k + 1));
                    let any_pair = a | (a >> 1) | (a_next << 63);
                    let all_pair = b & ((b >> 1) | (b_next << 63));
                    let mut mixed = any_pair & !all_pair;
                    while mixed != 0 {
                        let x = k * 64 + mixed.trailing_zeros() as usize;
                        mixed &= mixed - 1;
                        if x + 1 < px {
                            cubes_of_row.push(x);
                        }
                    }
                }
                for &x in &cubes_of_row {
                    let mut vals = [0f32; 8];
                    let mut case = 0usize;
                    for (c, val) in vals.iter_mut().enumerate() {
                        let [cx, cy, cz] = corner(c);
                        let i = (y + cy) * px + x + cx;
                        *val = if cz == 0 { layer_lo[i] } else { layer_hi[i] };
                        if *val > iso {
                            case |= 1 << c;
                        }
                    }
                    if case == 0 || case == 255 {
                        continue;
                    }
                    let entry = &table[case];
                    // Vertex id of an edge code, created on first use.
                    let mut vertex = |e: u8, positions: &mut Vec<[f32; 3]>| -> u32 {
                        let EdgeInfo { a, b, axis, ca } = edge_info[e as usize];
                        let gx = x + ca[0];
                        let gy = y + ca[1];
                        let i = gy * px + gx;
                        let (slot, touched): (&mut u32, &mut Vec<usize>) = match (axis, ca[2]) {
                            (2, _) => (&mut zed[i], &mut touched_z),
                            (k, 0) => (&mut lo_xy[i][k], &mut touched_lo),
                            (k, _) => (&mut hi_xy[i][k], &mut touched_hi),
                        };
                        if *slot == NONE {
                            touched.push(i);
                            let (va, vb) = (vals[a], vals[b]);
                            let t = ((iso - va) / (vb - va)).clamp(0.0, 1.0);
                            let mut p = [gx as f32, gy as f32, (z + ca[2]) as f32];
                            p[axis] += t;
                            // Back to original index units (the grid was padded by one).
                            positions.push([p[0] - 1.0, p[1] - 1.0, p[2] - 1.0]);
                            *slot = (positions.len() - 1) as u32;
                        }
                        *slot
                    };
                    let mut centres = [NONE; 4];
                    for tri in &entry.tris {
                        for &e in tri {
                            let id = if e >= CENTROID {
                                let k = (e - CENTROID) as usize;
                                if centres[k] == NONE {
                                    let ids: Vec<u32> = entry.loops[k]
                                        .iter()
                                        .map(|&e| vertex(e, &mut positions))
                                        .collect();
                                    let mut c = [0f32; 3];
                                    for id in &ids {
                                        let p = positions[*id as usize];
                                        c = [c[0] + p[0], c[1] + p[1], c[2] + p[2]];
                                    }
                                    let n = ids.len() as f32;
                                    positions.push([c[0] / n, c[1] / n, c[2] / n]);
                                    centres[k] = (positions.len() - 1) as u32;
                                }
                                centres[k]
                            } else {
                                vertex(e, &mut positions)
                            };
                            indices.push(id);
                        }
                    }
                }
            }
            if z == z0 {
                bottom = lo_xy.iter().flatten().copied().collect();
            }
            std::mem::swap(&mut layer_lo, &mut layer_hi);
            std::mem::swap(&mut bits_lo, &mut bits_hi);
            std::mem::swap(&mut lo_xy, &mut hi_xy);
            for i in touched_lo.drain(..) {
                hi_xy[i] = [NONE; 2];
            }
            std::mem::swap(&mut touched_lo, &mut touched_hi);
        }
        // After the last swap, the top layer's x/y edges are in lo_xy.
        let top = lo_xy.iter().flatten().copied().collect();
        Slab {
            positions,
            indices,
            bottom,
            top,
        }
    }
}
