//! The marching cubes case table, generated: for each of the 256 cases of
//! inside corners, the crossing points on each cube face paired so inside
//! corners stay apart (a rule of the face's four corners alone, so two
//! cubes sharing a face agree), chained into loops and fanned into
//! triangles oriented outward.

use std::sync::OnceLock;

/// Corner `i` of the unit cube sits at (i & 1, (i >> 1) & 1, (i >> 2) & 1).
pub(crate) fn corner(i: usize) -> [usize; 3] {
    [i & 1, (i >> 1) & 1, (i >> 2) & 1]
}

/// What the extraction loop needs of an edge, precomputed.
#[derive(Clone, Copy)]
pub(super) struct EdgeInfo {
    pub axis: usize,
    /// Offsets (x, y, z) of corner `a` in the cube.
    pub ca: [usize; 3],
}

pub(super) fn edge_infos() -> [EdgeInfo; 12] {
    std::array::from_fn(|e| {
        let (a, b) = edges()[e];
        let (ca, cb) = (corner(a), corner(b));
        let axis = (0..3)
            .find(|&k| ca[k] != cb[k])
            .expect("an edge runs along one axis");
        EdgeInfo { axis, ca }
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
