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

/// Vertex neighbours (either direction), each row sorted and without repeats.
pub(super) fn neighbours(mesh: &SurfaceMesh) -> Rows {
    let both = triangle_edges(&mesh.indices).flat_map(|(a, b)| [(a, b), (b, a)]);
    let Rows { offsets, mut items } = Rows::group(vertex_count(mesh), both);
    // Sort and deduplicate each row, compacting in place (a row only moves left).
    let n = offsets.len() - 1;
    let mut out_offsets = vec![0u32; n + 1];
    let mut w = 0usize;
    for v in 0..n {
        let (s, e) = (offsets[v] as usize, offsets[v + 1] as usize);
        items[s..e].sort_unstable();
        let mut last = None;
        for r in s..e {
            let x = items[r];
            if last != Some(x) {
                items[w] = x;
                w += 1;
                last = Some(x);
            }
        }
        out_offsets[v + 1] = w as u32;
    }
    items.truncate(w);
    Rows {
        offsets: out_offsets,
        items,
    }
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
