//! Taubin λ|μ smoothing: a shrinking Laplacian step followed by an
//! inflating one, so stair steps go while the volume stays (Taubin 1995).

use rayon::prelude::*;

use super::SurfaceMesh;

/// Vertex neighbours in compressed rows: `(offsets, neighbours)`.
#[tracing::instrument(level = "info", skip_all)]
pub fn laplacian_adjacency(mesh: &SurfaceMesh) -> (Vec<u32>, Vec<u32>) {
    let rows = super::edges::neighbours(mesh);
    (rows.offsets, rows.items)
}

/// `iterations` pairs of steps with factors `lambda` (> 0) and `mu` (< -lambda).
pub fn taubin_smooth(mesh: &mut SurfaceMesh, iterations: usize, lambda: f32, mu: f32) {
    taubin_steps(mesh, iterations, lambda, mu, |_, p| p);
}

/// The Taubin steps, each vertex's new position passed through `keep`
/// (vertex index, moved position) before the next step reads it: the
/// identity for free smoothing, a clamp for constrained smoothing.
#[tracing::instrument(level = "info", skip_all)]
pub(super) fn taubin_steps(
    mesh: &mut SurfaceMesh,
    iterations: usize,
    lambda: f32,
    mu: f32,
    keep: impl Fn(usize, [f32; 3]) -> [f32; 3] + Sync,
) {
    let (offsets, nbrs) = laplacian_adjacency(mesh);
    // The first pass reads the mesh's own positions and writes fresh pages,
    // first touched on every thread (a copy of the positions up front was
    // a serial pass over them).
    let mut cur = std::mem::take(&mut mesh.positions);
    let mut next = vec![[0f32; 3]; cur.len()];
    for _ in 0..iterations {
        for factor in [lambda, mu] {
            next.par_iter_mut().enumerate().for_each(|(i, out)| {
                let (s, e) = (offsets[i] as usize, offsets[i + 1] as usize);
                let p = cur[i];
                if e == s {
                    *out = p;
                    return;
                }
                let mut avg = [0f32; 3];
                for &j in &nbrs[s..e] {
                    let q = cur[j as usize];
                    avg[0] += q[0];
                    avg[1] += q[1];
                    avg[2] += q[2];
                }
                let k = 1.0 / (e - s) as f32;
                *out = keep(i, [0, 1, 2].map(|c| p[c] + factor * (avg[c] * k - p[c])));
            });
            std::mem::swap(&mut cur, &mut next);
        }
    }
    mesh.positions = cur;
    mesh.normals.clear();
}
