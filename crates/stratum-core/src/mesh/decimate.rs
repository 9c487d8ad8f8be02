//! Decimation with meshoptimizer that keeps a closed surface closed: in
//! parallel chunks with locked borders, then one pass over the seams, and
//! the volume given back afterwards (see [`decimate_keeping_volume`]).

use rayon::prelude::*;

use super::SurfaceMesh;
use super::constrain::{VoxelBox, restore_volume};
use crate::image::volume::Geometry;

/// Below this many triangles a single pass is as fast as chunks and seams.
const CHUNKED_FROM: usize = 100_000;

impl SurfaceMesh {
    /// Decimates to about `keep_ratio` of the triangles with meshoptimizer,
    /// never moving the surface by more than `max_error_mm`, then drops the
    /// vertices no longer used. A closed mesh stays closed: when a collapse
    /// would open or pinch it (thin structures), a gentler ratio is tried,
    /// and the mesh is left as it was if none keeps it watertight.
    ///
    /// With several threads, a large mesh is simplified as one chunk of
    /// consecutive triangles per thread (marching cubes lists them slab by
    /// slab, so a chunk is a slab of the surface), each with its border
    /// locked (meshoptimizer's `LockBorder`: the seams between chunks stay
    /// where they are, so the chunks still fit together), then the joined
    /// mesh once more to the target, which simplifies the seams. The second
    /// pass may move the surface only by what the first left of the error
    /// budget, so the bound holds for the two together.
    #[tracing::instrument(level = "info", skip_all, fields(triangles = self.indices.len() / 3))]
    pub fn decimate(&mut self, keep_ratio: f64, max_error_mm: f32) {
        if keep_ratio >= 1.0 || self.indices.is_empty() {
            return;
        }
        let closed = self.topology().is_watertight();
        let mut keep = keep_ratio.max(0.0);
        for _ in 0..5 {
            let candidate = self.simplified(keep, max_error_mm);
            if !closed || candidate.topology().is_watertight() {
                *self = candidate;
                return;
            }
            keep = 1.0 - (1.0 - keep) / 2.0;
        }
    }

    #[tracing::instrument(level = "info", skip_all)]
    fn simplified(&self, keep_ratio: f64, max_error_mm: f32) -> SurfaceMesh {
        use meshopt::SimplifyOptions as O;
        let triangles = self.indices.len() / 3;
        let target = (triangles as f64 * keep_ratio) as usize * 3;
        let bytes = meshopt::typed_to_bytes(&self.positions);
        let Ok(adapter) = meshopt::VertexDataAdapter::new(bytes, 12, 0) else {
            return self.clone();
        };
        let chunks = rayon::current_num_threads();
        let mut indices = if chunks > 1 && triangles >= CHUNKED_FROM {
            let per = triangles.div_ceil(chunks) * 3;
            let parts: Vec<(Vec<u32>, f32)> = self
                .indices
                .par_chunks(per)
                .map(|c| {
                    let _span =
                        tracing::info_span!("simplify_chunk", triangles = c.len() / 3).entered();
                    let t = ((c.len() / 3) as f64 * keep_ratio) as usize * 3;
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
