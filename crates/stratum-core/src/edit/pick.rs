//! Where a ray first meets a segment's voxels: the label-map ray march the
//! 3D brush and picking use (it follows the voxels while a stroke changes
//! them, where the built surface lags until its rebuild).

use crate::image::view::ClipPlane;
use crate::segment::LabelMap;

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

/// Whether a ball (LPS mm centre, radius in mm) reaches the surface of
/// segment `id`: some of it inside the segment and some outside, sampled at
/// the centre and at 26 directions on two shells (what a brush's touch is
/// felt by; cheap enough for every VR frame, whatever the radius).
pub fn ball_touches_surface(labels: &LabelMap, id: u16, centre: [f64; 3], radius_mm: f64) -> bool {
    if !(radius_mm.is_finite() && radius_mm > 0.0) || centre.iter().any(|c| !c.is_finite()) {
        return false;
    }
    let (nz, ny, nx) = labels.dim();
    let inside = |p: [f64; 3]| {
        let i = labels.geometry.lps_to_index(p).map(f64::round);
        i.iter().all(|c| *c >= 0.0)
            && (i[0] as usize) < nx
            && (i[1] as usize) < ny
            && (i[2] as usize) < nz
            && labels.get(i[2] as usize, i[1] as usize, i[0] as usize) == id
    };
    let first = inside(centre);
    for dz in -1i32..=1 {
        for dy in -1i32..=1 {
            for dx in -1i32..=1 {
                if (dx, dy, dz) == (0, 0, 0) {
                    continue;
                }
                let d = [dx, dy, dz].map(f64::from);
                let len = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
                for shell in [0.5, 1.0] {
                    let k = radius_mm * shell / len;
                    let p = [
                        centre[0] + d[0] * k,
                        centre[1] + d[1] * k,
                        centre[2] + d[2] * k,
                    ];
                    if inside(p) != first {
                        return true;
                    }
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::volume::Geometry;
    use crate::segment::Mask;

    #[test]
    fn a_ball_touches_the_surface_only_where_it_reaches_across_it() {
        // Segment 1: a ball of radius 10 mm about (20, 20, 20) on a 1 mm grid.
        let g = Geometry::default();
        let mut labels = LabelMap::empty((40, 40, 40), g);
        let mask = Mask {
            data: ndarray::Array3::from_shape_fn((40, 40, 40), |(z, y, x)| {
                let d = |v: usize| v as f64 - 20.0;
                u8::from(d(x).powi(2) + d(y).powi(2) + d(z).powi(2) <= 100.0)
            }),
            geometry: g,
        };
        labels.add_segment("ball", &mask);
        let at = |x: f64| [x, 20.0, 20.0];
        // Across the surface at x = 30, from either side.
        assert!(ball_touches_surface(&labels, 1, at(28.0), 3.0));
        assert!(ball_touches_surface(&labels, 1, at(32.0), 3.0));
        // Deep inside, well outside, and another segment's id: no touch.
        assert!(!ball_touches_surface(&labels, 1, at(20.0), 3.0));
        assert!(!ball_touches_surface(&labels, 1, at(36.0), 3.0));
        assert!(!ball_touches_surface(&labels, 2, at(30.0), 3.0));
        // Off the grid, and a nonsense ball.
        assert!(!ball_touches_surface(&labels, 1, at(500.0), 3.0));
        assert!(!ball_touches_surface(&labels, 1, at(30.0), f64::NAN));
        assert!(!ball_touches_surface(&labels, 1, at(30.0), 0.0));
    }
}
