//! Measurements of segments and meshes: volumes, areas, extents, and the
//! distance between a mesh and the boundary of the mask it came from.

use std::collections::HashMap;

use serde::Serialize;

use crate::mesh::SurfaceMesh;
use crate::segment::Mask;

/// Symmetric surface distances (mm) between a mesh and a mask boundary.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct SurfaceDistance {
    pub mean_mm: f64,
    pub p95_mm: f64,
    /// Hausdorff distance: the largest of both directions.
    pub max_mm: f64,
}

/// Points on the mask boundary: the centres of the voxel faces between a
/// set voxel and an unset one (or the volume border), in LPS mm.
pub fn mask_boundary_points(mask: &Mask) -> Vec<[f64; 3]> {
    let (nz, ny, nx) = mask.dim();
    let get = |z: isize, y: isize, x: isize| -> bool {
        z >= 0
            && y >= 0
            && x >= 0
            && (z as usize) < nz
            && (y as usize) < ny
            && (x as usize) < nx
            && mask.data[(z as usize, y as usize, x as usize)] != 0
    };
    let mut out = Vec::new();
    for ((z, y, x), v) in mask.data.indexed_iter() {
        if *v == 0 {
            continue;
        }
        let (zi, yi, xi) = (z as isize, y as isize, x as isize);
        for (dz, dy, dx) in [
            (1, 0, 0),
            (-1, 0, 0),
            (0, 1, 0),
            (0, -1, 0),
            (0, 0, 1),
            (0, 0, -1),
        ] {
            if !get(zi + dz, yi + dy, xi + dx) {
                out.push(mask.geometry.index_to_lps([
                    x as f64 + dx as f64 * 0.5,
                    y as f64 + dy as f64 * 0.5,
                    z as f64 + dz as f64 * 0.5,
                ]));
            }
        }
    }
    out
}

/// A uniform grid of points for nearest-neighbour queries.
struct PointGrid<'a> {
    cell: f64,
    cells: HashMap<(i64, i64, i64), Vec<usize>>,
    points: &'a [[f64; 3]],
}

impl<'a> PointGrid<'a> {
    fn new(points: &'a [[f64; 3]], cell: f64) -> Self {
        let mut cells: HashMap<_, Vec<usize>> = HashMap::new();
        for (i, p) in points.iter().enumerate() {
            cells.entry(Self::key(p, cell)).or_default().push(i);
        }
        PointGrid {
            cell,
            cells,
            points,
        }
    }

    fn key(p: &[f64; 3], cell: f64) -> (i64, i64, i64) {
        (
            (p[0] / cell).floor() as i64,
            (p[1] / cell).floor() as i64,
            (p[2] / cell).floor() as i64,
        )
    }

    /// Distance to the nearest point (searching outward ring by ring).
    fn nearest(&self, p: &[f64; 3]) -> f64 {
        let k = Self::key(p, self.cell);
        let mut best = f64::INFINITY;
        for r in 0i64..64 {
            for dz in -r..=r {
                for dy in -r..=r {
                    for dx in -r..=r {
                        if dz.abs().max(dy.abs()).max(dx.abs()) != r {
                            continue;
                        }
                        if let Some(v) = self.cells.get(&(k.0 + dx, k.1 + dy, k.2 + dz)) {
                            for &i in v {
                                let q = self.points[i];
                                let d = ((p[0] - q[0]).powi(2)
                                    + (p[1] - q[1]).powi(2)
                                    + (p[2] - q[2]).powi(2))
                                .sqrt();
                                best = best.min(d);
                            }
                        }
                    }
                }
            }
            // Anything in ring r+1 is at least r * cell away.
            if best <= r as f64 * self.cell {
                break;
            }
        }
        best
    }
}

/// Distances between mesh vertices and the mask boundary, both ways.
pub fn mesh_to_mask_distance(mesh: &SurfaceMesh, mask: &Mask) -> SurfaceDistance {
    use rayon::prelude::*;
    let boundary = mask_boundary_points(mask);
    let verts: Vec<[f64; 3]> = mesh.positions.iter().map(|p| p.map(f64::from)).collect();
    if boundary.is_empty() || verts.is_empty() {
        return SurfaceDistance::default();
    }
    let s = mask.geometry.spacing;
    let cell = s[0].max(s[1]).max(s[2]);
    let gb = PointGrid::new(&boundary, cell);
    let gm = PointGrid::new(&verts, cell);
    let mut d: Vec<f64> = verts.par_iter().map(|p| gb.nearest(p)).collect();
    d.extend(
        boundary
            .par_iter()
            .map(|p| gm.nearest(p))
            .collect::<Vec<_>>(),
    );
    d.sort_by(f64::total_cmp);
    let mean = d.iter().sum::<f64>() / d.len() as f64;
    SurfaceDistance {
        mean_mm: mean,
        p95_mm: d[((d.len() as f64 * 0.95) as usize).min(d.len() - 1)],
        max_mm: *d.last().unwrap_or(&0.0),
    }
}
