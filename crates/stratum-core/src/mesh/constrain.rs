//! Smoothing that cannot eat thin structures: Taubin passes with every
//! vertex held within half a voxel (per grid axis) of where the unsmoothed
//! surface put it, as VTK's surface nets constraint does; and, for label
//! maps, a last normal offset that gives the surface its voxels' volume.

use rayon::prelude::*;

use super::SurfaceMesh;
use super::smooth::taubin_steps;
use crate::image::volume::Geometry;

/// The box each vertex must stay in: within `half` voxel of its anchor
/// along each index axis of the grid (a box, not a ball, so thick slices
/// allow more along z than in-plane, as their voxels do).
#[derive(Clone, Copy, Debug)]
pub struct VoxelBox {
    /// LPS mm displacement -> index displacement.
    to_index: [[f32; 3]; 3],
    /// Index displacement -> LPS mm displacement.
    to_lps: [[f32; 3]; 3],
    half: f32,
}

impl VoxelBox {
    /// Half a voxel of `geometry`'s grid.
    pub fn half_voxel(geometry: &Geometry) -> Self {
        Self::new(geometry, 0.5)
    }

    pub fn new(geometry: &Geometry, half: f32) -> Self {
        let o = geometry.lps_to_index([0.0; 3]);
        let mut to_index = [[0f32; 3]; 3];
        for c in 0..3 {
            let mut e = [0.0; 3];
            e[c] = 1.0;
            let i = geometry.lps_to_index(e);
            for r in 0..3 {
                to_index[r][c] = (i[r] - o[r]) as f32;
            }
        }
        let mut to_lps = [[0f32; 3]; 3];
        for a in 0..3 {
            for c in 0..3 {
                to_lps[c][a] = (geometry.direction[a][c] * geometry.spacing[a]) as f32;
            }
        }
        VoxelBox {
            to_index,
            to_lps,
            half,
        }
    }

    /// `p` moved back into the box around `anchor`.
    #[inline]
    pub fn clamp(&self, anchor: [f32; 3], p: [f32; 3]) -> [f32; 3] {
        let d = [p[0] - anchor[0], p[1] - anchor[1], p[2] - anchor[2]];
        let m = &self.to_index;
        let i = [0, 1, 2].map(|r| m[r][0] * d[0] + m[r][1] * d[1] + m[r][2] * d[2]);
        if i.iter().all(|v| v.abs() <= self.half) {
            return p;
        }
        let i = i.map(|v| v.clamp(-self.half, self.half));
        let b = &self.to_lps;
        [0, 1, 2].map(|c| anchor[c] + b[c][0] * i[0] + b[c][1] * i[1] + b[c][2] * i[2])
    }
}

/// Taubin λ|μ smoothing (`iterations` pairs) with every vertex kept in
/// `limit` around its position before smoothing.
pub fn constrained_taubin(
    mesh: &mut SurfaceMesh,
    iterations: usize,
    lambda: f32,
    mu: f32,
    limit: &VoxelBox,
) {
    let anchor = mesh.positions.clone();
    taubin_within(mesh, &anchor, iterations, lambda, mu, limit);
}

/// [`constrained_taubin`] with each vertex kept in `limit` around its own
/// `anchor` (e.g. where the raw surface had it, before earlier passes).
pub fn taubin_within(
    mesh: &mut SurfaceMesh,
    anchor: &[[f32; 3]],
    iterations: usize,
    lambda: f32,
    mu: f32,
    limit: &VoxelBox,
) {
    if iterations == 0 || mesh.positions.is_empty() || anchor.len() != mesh.positions.len() {
        return;
    }
    taubin_steps(mesh, iterations, lambda, mu, |i, moved| {
        limit.clamp(anchor[i], moved)
    });
}

/// Moves every vertex along its normal by one common distance so the
/// enclosed volume becomes `target_mm3`, each vertex staying in `limit`
/// around `anchor` (its unsmoothed position). A label map is all we know
/// of such a segment, so its voxels' volume is the volume the model must
/// have; smoothing and marching cubes' cut corners both take volume from
/// thin structures, and this gives it back where the surface is. Returns
/// the volume reached (a few rounds, as clamped vertices move less).
#[tracing::instrument(level = "info", skip_all)]
pub fn restore_volume(
    mesh: &mut SurfaceMesh,
    anchor: &[[f32; 3]],
    target_mm3: f64,
    limit: &VoxelBox,
) -> f64 {
    let mut v = mesh.volume_mm3();
    if mesh.positions.len() != anchor.len() || target_mm3 <= 0.0 {
        return v;
    }
    for _ in 0..6 {
        if ((v - target_mm3) / target_mm3).abs() < 1e-3 {
            break;
        }
        let area = mesh.area_mm2();
        if area <= 0.0 {
            break;
        }
        mesh.compute_normals();
        let d = ((target_mm3 - v) / area) as f32;
        let normals = std::mem::take(&mut mesh.normals);
        mesh.positions
            .par_iter_mut()
            .zip(&normals)
            .zip(anchor)
            .for_each(|((p, n), a)| {
                let moved = [p[0] + d * n[0], p[1] + d * n[1], p[2] + d * n[2]];
                *p = limit.clamp(*a, moved);
            });
        let before = v;
        v = mesh.volume_mm3();
        // Every vertex at its limit: nothing more to gain.
        if (v - before).abs() < 1e-6 * target_mm3 {
            break;
        }
    }
    mesh.normals.clear();
    v
}
