//! A mesh's edges as vertex rows, built by counting in linear time (no sort
//! of every edge: on the 0.95 M-triangle bone surface that sort was most of
//! the topology check and of the smoothing's set-up): the topology check
//! and the Laplacian neighbours both read them.

use rayon::prelude::*;

use super::{SurfaceMesh, Topology};

/// Rows of vertex ids: row `v` is `items[offsets[v]..offsets[v + 1]]`.
pub(super) struct Rows {
    pub offsets: Vec<u32>,
    pub items: Vec<u32>,
}

impl Rows {
    #[inline]
    pub fn row(&self, v: usize) -> &[u32] {
        &self.items[self.offsets[v] as usize..self.offsets[v + 1] as usize]
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// Groups `(from, to)` pairs by `from` (counting sort; a row keeps the
    /// pairs' order). `n` must exceed every `from`.
    fn group(n: usize, pairs: impl Iterator<Item = (u32, u32)> + Clone) -> Rows {
        let mut offsets = vec![0u32; n + 1];
        for (a, _) in pairs.clone() {
            offsets[a as usize + 1] += 1;
        }
        for i in 0..n {
            offsets[i + 1] += offsets[i];
        }
        let mut cursor = offsets.clone();
        let mut items = vec![0u32; offsets[n] as usize];
        for (a, b) in pairs {
            let c = &mut cursor[a as usize];
            items[*c as usize] = b;
            *c += 1;
        }
        Rows { offsets, items }
    }
}

/// One more than the largest vertex id any triangle or position uses.
fn vertex_count(mesh: &SurfaceMesh) -> usize {
    let top = mesh
        .indices
        .par_iter()
        .copied()
        .max()
        .map_or(0, |m| m as usize + 1);
    top.max(mesh.positions.len())
}

fn triangle_edges(indices: &[u32]) -> impl Iterator<Item = (u32, u32)> + Clone + '_ {
    indices
        .chunks_exact(3)
        .flat_map(|t| [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])])
}

/// The directed edges a -> b of every triangle (its winding), by a.
pub(super) fn half_edges(mesh: &SurfaceMesh) -> Rows {
    Rows::group(vertex_count(mesh), triangle_edges(&mesh.indices))
}

/// Vertex neighbours (either direction), each row sorted and without repeats:
/// row `v` holds the other two corners of every triangle corner at `v`.
///
/// Built on every thread, in three steps that each split the work
/// (the serial counting sort of every edge was most of the smoothing's
/// set-up, and what kept its second thread idle):
/// 1. each run of triangles sorts its corners into buckets of vertex blocks;
/// 2. each vertex block gathers its corners from every run (in run order),
///    groups them by vertex and writes its rows, sorted and deduplicated;
/// 3. the blocks' rows are joined.
///
/// The rows are sets, so they do not depend on how the work was split.
pub(super) fn neighbours(mesh: &SurfaceMesh) -> Rows {
    let parts = rayon::current_num_threads() * 8;
    let n = vertex_count(mesh);
    let block = n.div_ceil(parts).max(1 << 14);
    neighbours_in(
        mesh,
        n,
        block,
        mesh.triangle_count().div_ceil(parts).max(1 << 14),
    )
}

/// [`neighbours`] of the `n` vertices in blocks of `block` vertices, from
/// runs of `run` triangles.
fn neighbours_in(mesh: &SurfaceMesh, n: usize, block: usize, run: usize) -> Rows {
    let indices = &mesh.indices[..mesh.indices.len() / 3 * 3];
    let blocks = n.div_ceil(block).max(1);
    let per_run = run * 3;
    // 1. Per run of triangles: its corner ids (3 t + k), bucketed by the
    //    block of their vertex, with the buckets' offsets.
    let runs: Vec<(Vec<u32>, Vec<u32>)> = indices
        .par_chunks(per_run)
        .enumerate()
        .map(|(r, run)| {
            let first = (r * per_run) as u32;
            let mut offsets = vec![0u32; blocks + 1];
            for &v in run {
                offsets[v as usize / block + 1] += 1;
            }
            for b in 0..blocks {
                offsets[b + 1] += offsets[b];
            }
            let mut cursor = offsets.clone();
            let mut corners = vec![0u32; run.len()];
            for (k, &v) in run.iter().enumerate() {
                let c = &mut cursor[v as usize / block];
                corners[*c as usize] = first + k as u32;
                *c += 1;
            }
            (offsets, corners)
        })
        .collect();
    // 2. Per block of vertices: its rows' lengths and items.
    let parts: Vec<(Vec<u32>, Vec<u32>)> = (0..blocks)
        .into_par_iter()
        .map(|b| {
            let v0 = b * block;
            let len = block.min(n - v0);
            let mut offsets = vec![0u32; len + 1];
            let bucket = |r| bucket_of(r, b);
            for &c in runs.iter().flat_map(bucket) {
                offsets[indices[c as usize] as usize - v0 + 1] += 1;
            }
            for v in 0..len {
                offsets[v + 1] += offsets[v];
            }
            let mut cursor = offsets.clone();
            let mut corners = vec![0u32; offsets[len] as usize];
            for &c in runs.iter().flat_map(bucket) {
                let s = &mut cursor[indices[c as usize] as usize - v0];
                corners[*s as usize] = c;
                *s += 1;
            }
            let mut lens = Vec::with_capacity(len);
            let mut items = Vec::with_capacity(corners.len());
            let mut row = Vec::new();
            for v in 0..len {
                row.clear();
                for &c in &corners[offsets[v] as usize..offsets[v + 1] as usize] {
                    let (t, k) = (c as usize / 3 * 3, c as usize % 3);
                    row.push(indices[t + (k + 1) % 3]);
                    row.push(indices[t + (k + 2) % 3]);
                }
                row.sort_unstable();
                row.dedup();
                lens.push(row.len() as u32);
                items.extend_from_slice(&row);
            }
            (lens, items)
        })
        .collect();
    // 3. Joined: the offsets, then every block's items copied in parallel.
    let mut offsets = Vec::with_capacity(n + 1);
    offsets.push(0u32);
    let mut total = 0u32;
    for (lens, _) in &parts {
        for &l in lens {
            total += l;
            offsets.push(total);
        }
    }
    let mut items = vec![0u32; total as usize];
    let mut outs = Vec::with_capacity(parts.len());
    let mut rest = items.as_mut_slice();
    for (_, part) in &parts {
        let (out, tail) = rest.split_at_mut(part.len());
        outs.push(out);
        rest = tail;
    }
    outs.into_par_iter()
        .zip(&parts)
        .for_each(|(out, (_, part))| out.copy_from_slice(part));
    Rows { offsets, items }
}

/// Bucket `b` of a run's `(offsets, corners)`.
fn bucket_of(run: &(Vec<u32>, Vec<u32>), b: usize) -> &[u32] {
    let (offsets, corners) = run;
    &corners[offsets[b] as usize..offsets[b + 1] as usize]
}

/// Edge statistics from the directed edges: an undirected edge {a, b} is
/// used `n` times, `fwd` of them from the lower id to the higher.
pub(super) fn topology(mesh: &SurfaceMesh) -> Topology {
    let rows = half_edges(mesh);
    let n = rows.len();
    let chunk = n.div_ceil(rayon::current_num_threads() * 8).max(4096);
    let mut topo = (0..n.div_ceil(chunk))
        .into_par_iter()
        .map(|c| {
            let mut t = Topology::default();
            for v in c * chunk..((c + 1) * chunk).min(n) {
                let out = rows.row(v);
                for (k, &w) in out.iter().enumerate() {
                    if out[..k].contains(&w) {
                        continue; // this edge was counted at its first use
                    }
                    let ahead = out.iter().filter(|&&x| x == w).count();
                    let (uses, fwd) = if w as usize == v {
                        (ahead, 0)
                    } else {
                        let back = rows
                            .row(w as usize)
                            .iter()
                            .filter(|&&x| x as usize == v)
                            .count();
                        if (w as usize) > v {
                            (ahead + back, ahead)
                        } else if back == 0 {
                            (ahead, 0)
                        } else {
                            continue; // counted from w's row
                        }
                    };
                    t.edges += 1;
                    match uses {
                        1 => t.boundary_edges += 1,
                        2 if fwd == 1 => {}
                        2 => t.misoriented_edges += 1,
                        _ => t.nonmanifold_edges += 1,
                    }
                }
            }
            t
        })
        .reduce(Topology::default, |a, b| Topology {
            edges: a.edges + b.edges,
            boundary_edges: a.boundary_edges + b.boundary_edges,
            nonmanifold_edges: a.nonmanifold_edges + b.nonmanifold_edges,
            misoriented_edges: a.misoriented_edges + b.misoriented_edges,
            degenerate_triangles: 0,
        });
    topo.degenerate_triangles = mesh
        .indices
        .par_chunks_exact(3)
        .filter(|t| t[0] == t[1] || t[1] == t[2] || t[0] == t[2])
        .count();
    topo
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The old definition: every edge sorted, then grouped.
    fn by_sorting(mesh: &SurfaceMesh) -> Topology {
        let mut e: Vec<(u32, u32, bool)> = triangle_edges(&mesh.indices)
            .map(|(a, b)| if a < b { (a, b, true) } else { (b, a, false) })
            .collect();
        e.sort_unstable();
        let mut topo = Topology::default();
        let mut i = 0;
        while i < e.len() {
            let mut j = i;
            let mut fwd = 0;
            while j < e.len() && (e[j].0, e[j].1) == (e[i].0, e[i].1) {
                fwd += e[j].2 as usize;
                j += 1;
            }
            topo.edges += 1;
            match j - i {
                1 => topo.boundary_edges += 1,
                2 if fwd == 1 => {}
                2 => topo.misoriented_edges += 1,
                _ => topo.nonmanifold_edges += 1,
            }
            i = j;
        }
        topo.degenerate_triangles = mesh
            .indices
            .chunks_exact(3)
            .filter(|t| t[0] == t[1] || t[1] == t[2] || t[0] == t[2])
            .count();
        topo
    }

    #[test]
    fn counted_topology_equals_the_sorted_definition_on_broken_meshes() {
        // A tetrahedron, then damaged every way: a hole, a flipped face, a
        // fin (three faces on one edge), a degenerate face, repeated faces.
        let tet = vec![0, 2, 1, 0, 1, 3, 1, 2, 3, 2, 0, 3];
        let cases: Vec<Vec<u32>> = vec![
            tet.clone(),
            tet[..9].to_vec(),
            [&tet[..9], &[0, 2, 3]].concat(),
            [&tet[..], &[0, 1, 4]].concat(),
            [&tet[..], &[0, 0, 1]].concat(),
            [&tet[..], &tet[..]].concat(),
            [&tet[..], &[3, 1, 0]].concat(),
            vec![5, 5, 5, 1, 2, 1],
        ];
        for indices in cases {
            let mesh = SurfaceMesh {
                positions: vec![[0.0; 3]; 4],
                normals: Vec::new(),
                indices,
            };
            assert_eq!(topology(&mesh), by_sorting(&mesh), "{:?}", mesh.indices);
        }
    }

    /// The old definition: every edge both ways, grouped, each row sorted
    /// and deduplicated.
    fn neighbours_by_grouping(mesh: &SurfaceMesh) -> Rows {
        let both = triangle_edges(&mesh.indices).flat_map(|(a, b)| [(a, b), (b, a)]);
        let rows = Rows::group(vertex_count(mesh), both);
        let mut offsets = vec![0u32];
        let mut items = Vec::new();
        for v in 0..rows.len() {
            let mut row = rows.row(v).to_vec();
            row.sort_unstable();
            row.dedup();
            items.extend(row);
            offsets.push(items.len() as u32);
        }
        Rows { offsets, items }
    }

    #[test]
    fn neighbours_in_blocks_equal_the_grouped_definition() {
        // Random triangles over 300 vertices (repeated corners, unused
        // vertices, a trailing partial triangle), split every way.
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = |m: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % m) as u32
        };
        let mut indices: Vec<u32> = (0..3 * 700).map(|_| next(290)).collect();
        indices.extend([3, 3, 7, 5]);
        let mesh = SurfaceMesh {
            positions: vec![[0.0; 3]; 300],
            normals: Vec::new(),
            indices,
        };
        let want = neighbours_by_grouping(&mesh);
        assert_eq!(want.len(), 300);
        for (block, run) in [(1, 1), (7, 13), (64, 700), (300, 5), (1000, 1000)] {
            let got = neighbours_in(&mesh, vertex_count(&mesh), block, run);
            assert_eq!(
                got.offsets, want.offsets,
                "blocks of {block}, runs of {run}"
            );
            assert_eq!(got.items, want.items, "blocks of {block}, runs of {run}");
        }
        assert_eq!(neighbours(&mesh).items, want.items);
        let empty = SurfaceMesh::default();
        assert_eq!(neighbours(&empty).offsets, vec![0]);
    }

    #[test]
    fn neighbours_are_sorted_and_unique_in_both_directions() {
        let mesh = SurfaceMesh {
            positions: vec![[0.0; 3]; 4],
            normals: Vec::new(),
            indices: vec![0, 2, 1, 0, 1, 3, 1, 2, 3, 2, 0, 3],
        };
        let n = neighbours(&mesh);
        for v in 0..4u32 {
            let want: Vec<u32> = (0..4).filter(|&w| w != v).collect();
            assert_eq!(n.row(v as usize), &want[..]);
        }
    }
}
