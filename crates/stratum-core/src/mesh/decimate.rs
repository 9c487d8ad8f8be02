//! Decimation with meshoptimizer that keeps a closed surface closed: in
//! chunks with locked borders (in parallel), then one pass over the seams,
//! and the volume given back afterwards (see [`decimate_keeping_volume`]).

use rayon::prelude::*;

use super::SurfaceMesh;
use super::constrain::{VoxelBox, restore_volume};
use crate::image::volume::Geometry;

/// When a mesh is simplified in chunks, and how large they are.
#[derive(Clone, Copy, Debug)]
struct Chunking {
    /// Below this many triangles, one pass (as fast as chunks and seams).
    from: usize,
    /// Triangles of a chunk, on any number of threads: about this many
    /// keep meshoptimizer's tables (quadrics, adjacency, collapse lists;
    /// ~100 bytes a triangle) in the processor's caches, where one pass
    /// over a million triangles works from main memory. On the 0.95
    /// M-triangle phantom surface, one thread simplifies its 8 chunks and
    /// the seams in 0.65-0.75x the time of a single pass (BENCHMARKS.md,
    /// issue 33, session 2).
    size: usize,
}

impl Chunking {
    const DEFAULT: Chunking = Chunking {
        from: 100_000,
        size: 120_000,
    };
}

impl SurfaceMesh {
    /// Decimates to about `keep_ratio` of the triangles with meshoptimizer,
    /// never moving the surface by more than `max_error_mm`, then drops the
    /// vertices no longer used. A closed mesh stays closed: when a collapse
    /// would open or pinch it (thin structures), a gentler ratio is tried,
    /// and the mesh is left as it was if none keeps it watertight.
    ///
    /// A large mesh is simplified in chunks of consecutive triangles
    /// (120,000 triangles, and at least one per thread; marching cubes
    /// lists them slab by slab, so a chunk is a slab of the surface), in
    /// parallel, each with its border locked (meshoptimizer's `LockBorder`:
    /// the seams between chunks stay where they are, so the chunks still fit
    /// together), then the joined mesh once more to the target, which
    /// simplifies the seams. A chunk stops short of its share of the target
    /// by one triangle per seam vertex it has, so that its inside is not
    /// simplified further to make up for the seams left whole, and the
    /// second pass has the seams to remove. The second pass may move the
    /// surface only by what the first left of the error budget, so the
    /// bound holds for the two together.
    #[tracing::instrument(level = "info", skip_all, fields(triangles = self.indices.len() / 3))]
    pub fn decimate(&mut self, keep_ratio: f64, max_error_mm: f32) {
        self.decimate_in(keep_ratio, max_error_mm, Chunking::DEFAULT);
    }

    /// [`Self::decimate`] with the chunks' sizes given (tests use small ones).
    fn decimate_in(&mut self, keep_ratio: f64, max_error_mm: f32, chunking: Chunking) {
        if keep_ratio >= 1.0 || self.indices.is_empty() {
            return;
        }
        // Whether the input was closed matters only when a result is not:
        // the check of the whole input (a tenth of the work on a large
        // surface) waits for that.
        let mut closed = None;
        let mut keep = keep_ratio.max(0.0);
        for _ in 0..5 {
            let candidate = self.simplified(keep, max_error_mm, chunking);
            if candidate.topology().is_watertight()
                || !*closed.get_or_insert_with(|| self.topology().is_watertight())
            {
                *self = candidate;
                return;
            }
            keep = 1.0 - (1.0 - keep) / 2.0;
        }
    }

    #[tracing::instrument(level = "info", skip_all)]
    fn simplified(&self, keep_ratio: f64, max_error_mm: f32, chunking: Chunking) -> SurfaceMesh {
        use meshopt::SimplifyOptions as O;
        let triangles = self.indices.len() / 3;
        let target = (triangles as f64 * keep_ratio) as usize * 3;
        let bytes = meshopt::typed_to_bytes(&self.positions);
        let Ok(adapter) = meshopt::VertexDataAdapter::new(bytes, 12, 0) else {
            return self.clone();
        };
        let chunks = if triangles < chunking.from {
            1
        } else {
            triangles
                .div_ceil(chunking.size)
                .max(rayon::current_num_threads())
        };
        let mut indices = if chunks > 1 {
            let per = triangles.div_ceil(chunks) * 3;
            let seams = seam_vertices(&self.indices, per, self.positions.len());
            let parts: Vec<(Vec<u32>, f32)> = self
                .indices
                .par_chunks(per)
                .zip(seams)
                .map(|(c, seam)| {
                    let _span =
                        tracing::info_span!("simplify_chunk", triangles = c.len() / 3).entered();
                    let own = ((c.len() / 3) as f64 * keep_ratio) as usize;
                    let t = (own + seam).min(c.len() / 3) * 3;
                    let mut error = 0.0;
                    let r = meshopt::simplify(
                        c,
                        &adapter,
                        t,
                        max_error_mm,
                        O::LockBorder | O::Sparse | O::ErrorAbsolute,
                        Some(&mut error),
                    );
                    (r, error)
                })
                .collect();
            let used = parts.iter().map(|p| p.1).fold(0.0f32, f32::max);
            let mut joined = Vec::with_capacity(parts.iter().map(|p| p.0.len()).sum());
            for (p, _) in parts {
                joined.extend_from_slice(&p);
            }
            let _span =
                tracing::info_span!("simplify_seams", triangles = joined.len() / 3).entered();
            meshopt::simplify(
                &joined,
                &adapter,
                target,
                (max_error_mm - used).max(0.0),
                O::Sparse | O::ErrorAbsolute,
                None,
            )
        } else {
            let _span = tracing::info_span!("simplify", triangles).entered();
            meshopt::simplify(
                &self.indices,
                &adapter,
                target,
                max_error_mm,
                O::ErrorAbsolute,
                None,
            )
        };
        remove_flat_pillows(&mut indices);
        let positions = meshopt::optimize_vertex_fetch(&mut indices, &self.positions);
        SurfaceMesh {
            positions,
            normals: Vec::new(),
            indices,
        }
    }
}

/// For each chunk of `per` indices, how many of its vertices another chunk
/// uses too (its seam vertices, which `LockBorder` keeps).
fn seam_vertices(indices: &[u32], per: usize, vertices: usize) -> Vec<usize> {
    const NONE: u32 = u32::MAX;
    // The first chunk to use each vertex, and whether a later one does too.
    let mut first = vec![NONE; vertices];
    let mut shared = vec![false; vertices];
    for (ci, c) in indices.chunks(per).enumerate() {
        for &v in c {
            let f = &mut first[v as usize];
            if *f == NONE {
                *f = ci as u32;
            } else if *f != ci as u32 {
                shared[v as usize] = true;
            }
        }
    }
    // Each chunk's shared vertices, each counted once (`first` reused as
    // the last chunk that counted the vertex).
    first.fill(NONE);
    indices
        .chunks(per)
        .enumerate()
        .map(|(ci, c)| {
            let mut n = 0;
            for &v in c {
                let v = v as usize;
                if shared[v] && first[v] != ci as u32 {
                    first[v] = ci as u32;
                    n += 1;
                }
            }
            n
        })
        .collect()
}

/// Removes pairs of triangles on the same three vertices with opposite
/// winding: a flat, zero-volume "pillow" that simplification leaves where a
/// thin sheet collapsed; it hangs on the surface by one edge and makes that
/// edge non-manifold. Removing both keeps the rest closed.
fn remove_flat_pillows(indices: &mut Vec<u32>) {
    // (sorted vertices, parity of the winding, triangle index)
    let mut keyed: Vec<([u32; 3], bool, usize)> = indices
        .chunks_exact(3)
        .enumerate()
        .map(|(i, t)| {
            let mut k = [t[0], t[1], t[2]];
            k.sort_unstable();
            // The winding is even when (t0, t1, t2) is a rotation of the sorted order.
            let even = [(t[0], t[1], t[2]), (t[1], t[2], t[0]), (t[2], t[0], t[1])]
                .contains(&(k[0], k[1], k[2]));
            (k, even, i)
        })
        .collect();
    keyed.par_sort_unstable();
    let mut drop = vec![false; indices.len() / 3];
    let mut i = 0;
    while i + 1 < keyed.len() {
        if keyed[i].0 == keyed[i + 1].0 && keyed[i].1 != keyed[i + 1].1 {
            drop[keyed[i].2] = true;
            drop[keyed[i + 1].2] = true;
            i += 2;
        } else {
            i += 1;
        }
    }
    if drop.iter().any(|d| *d) {
        let kept: Vec<u32> = indices
            .chunks_exact(3)
            .zip(&drop)
            .filter(|(_, d)| !**d)
            .flat_map(|(t, _)| t.iter().copied())
            .collect();
        *indices = kept;
    }
}

/// Decimates to `keep_ratio` (moving the surface by at most half a voxel),
/// then gives the surface back the volume it had: collapses on thin
/// structures (ribs, small arteries) take up to a sixth of it otherwise.
/// The offset that does is held within half a voxel too.
pub(crate) fn decimate_keeping_volume(
    mesh: &mut SurfaceMesh,
    keep_ratio: f64,
    geometry: &Geometry,
) {
    if keep_ratio >= 1.0 {
        return;
    }
    let s = geometry.spacing;
    let before = mesh.volume_mm3();
    mesh.decimate(keep_ratio, 0.5 * s[0].min(s[1]).min(s[2]) as f32);
    let anchor = mesh.positions.clone();
    restore_volume(mesh, &anchor, before, &VoxelBox::half_voxel(geometry));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seam_vertices_are_those_of_two_chunks_counted_once_a_chunk() {
        // Chunks of two triangles: {0,1,2 | 2,3,0} and {2,4,5 | 5,4,6}; then {6,7,8}.
        let idx = [0, 1, 2, 2, 3, 0, 2, 4, 5, 5, 4, 6, 6, 7, 8];
        // Vertex 2 is in chunks 0 and 1, vertex 6 in chunks 1 and 2.
        assert_eq!(seam_vertices(&idx, 6, 9), vec![1, 2, 1]);
        assert_eq!(seam_vertices(&idx, 15, 9), vec![0]);
    }

    /// The chunked path on a ball small enough for a unit test: chunks of
    /// 1,000 triangles (ten or more, with their seams), as a million-
    /// triangle surface is cut in chunks of 120,000.
    #[test]
    fn chunks_and_seams_keep_a_ball_closed_and_within_the_bound() {
        use crate::base::progress::Progress;
        use crate::mesh::{SurfaceOptions, mask_surface};
        use crate::segment::Mask;
        let (n, r, c) = (44usize, 18.0f64, 21.5f64);
        let data = ndarray::Array3::from_shape_fn((n, n, n), |(z, y, x)| {
            let d = [x, y, z].map(|v| v as f64 - c);
            u8::from((d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt() <= r)
        });
        let mask = Mask {
            data,
            geometry: Geometry::default(),
        };
        let opts = SurfaceOptions {
            keep_ratio: 1.0,
            ..SurfaceOptions::default()
        };
        let full = mask_surface(&mask, &opts, &Progress::new()).unwrap();
        assert!(full.topology().is_watertight());
        let before = full.triangle_count();
        // The distance of the farthest vertex from the ball's surface.
        let worst = |m: &SurfaceMesh| {
            let centre = mask.geometry.index_to_lps([c, c, c]);
            m.positions
                .iter()
                .map(|p| {
                    let d = [0, 1, 2].map(|k| p[k] as f64 - centre[k]);
                    ((d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt() - r).abs()
                })
                .fold(0.0, f64::max)
        };
        let max_error = 0.5f32;
        let chunking = Chunking {
            from: 1,
            size: 1_000,
        };
        assert!(before > 8 * chunking.size, "{before} triangles");
        let mut mesh = full.clone();
        mesh.decimate_in(0.1, max_error, chunking);
        let after = mesh.triangle_count();
        assert!(mesh.topology().is_watertight(), "{:?}", mesh.topology());
        assert!(after <= before / 5, "{before} -> {after} triangles");
        assert!(
            worst(&mesh) <= worst(&full) + f64::from(max_error) + 1e-3,
            "{} mm from the ball, {} before",
            worst(&mesh),
            worst(&full)
        );
        let (v0, v1) = (full.volume_mm3(), mesh.volume_mm3());
        assert!((v1 - v0).abs() / v0 < 0.03, "{v0} -> {v1} mm³");
        // One pass over the whole gives a mesh of the same size.
        let mut one = full.clone();
        one.decimate_in(0.1, max_error, Chunking::DEFAULT);
        assert!(after.abs_diff(one.triangle_count()) <= before / 50);
    }

    #[test]
    fn flat_pillows_are_removed_and_the_rest_kept() {
        // A triangle and its mirror image (a pillow), plus an unrelated triangle.
        let mut idx = vec![0, 1, 2, 2, 1, 0, 3, 4, 5];
        remove_flat_pillows(&mut idx);
        assert_eq!(idx, vec![3, 4, 5]);
        // Same vertices, same winding: a real duplicate, not a pillow; kept.
        let mut idx = vec![0, 1, 2, 1, 2, 0];
        remove_flat_pillows(&mut idx);
        assert_eq!(idx.len(), 6);
    }
}
