//! Where a ray first meets a segment's voxels: the label-map ray march the
//! 3D brush and picking use (it follows the voxels while a stroke changes
//! them, where the built surface lags until its rebuild).

use crate::segment::LabelMap;
use crate::view::ClipPlane;

/// The first voxel of segment `id` along a ray (LPS mm origin and
/// direction), as the LPS centre of that voxel: where a 3D brush sits.
/// Marches the label map itself, so it follows the voxels while a stroke
/// changes them (the built surface lags until its rebuild). Points on the
/// cut-away side of `clips` are skipped, as the user does not see them.
pub fn pick_segment(
    labels: &LabelMap,
    id: u16,
    origin: [f64; 3],
    dir: [f64; 3],
    clips: &[ClipPlane],
) -> Option<[f64; 3]> {
    let g = &labels.geometry;
    let (nz, ny, nx) = labels.dim();
    let n = [nx as f64, ny as f64, nz as f64];
    let o = g.lps_to_index(origin);
    let tip = g.lps_to_index([origin[0] + dir[0], origin[1] + dir[1], origin[2] + dir[2]]);
    let d = [tip[0] - o[0], tip[1] - o[1], tip[2] - o[2]];
    // Clip the ray to the grid's box (slab method), in index units.
    let (mut t0, mut t1) = (0.0f64, f64::MAX);
    for k in 0..3 {
        let (lo, hi) = (-0.5, n[k] - 0.5);
        if d[k].abs() < 1e-12 {
            if o[k] < lo || o[k] > hi {
                return None;
            }
            continue;
        }
        let (a, b) = ((lo - o[k]) / d[k], (hi - o[k]) / d[k]);
        t0 = t0.max(a.min(b));
        t1 = t1.min(a.max(b));
    }
    if t0 > t1 {
        return None;
    }
    // Steps of at most a third of a voxel along any index axis.
    let step = 1.0 / (3.0 * d.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12));
    let mut t = t0;
    while t <= t1 {
        let i = [o[0] + t * d[0], o[1] + t * d[1], o[2] + t * d[2]];
        let v = i.map(|c| c.round());
        if v.iter().zip(n).all(|(c, m)| *c >= 0.0 && *c < m) {
            let (x, y, z) = (v[0] as usize, v[1] as usize, v[2] as usize);
            if labels.get(z, y, x) == id {
                let p = g.index_to_lps(v);
                if clips.iter().all(|c| c.distance(p) <= 0.0) {
                    return Some(p);
                }
            }
        }
        t += step;
    }
    None
}
