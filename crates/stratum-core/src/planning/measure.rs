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

/// Points covering the mesh surface no farther than `step` mm apart: the
/// vertices plus a barycentric grid on every triangle with a longer edge (a
/// decimated mesh has large triangles whose vertices alone would make the
/// mask-to-mesh distances look worse than the surface is).
pub fn surface_samples(mesh: &SurfaceMesh, step: f64) -> Vec<[f64; 3]> {
    use rayon::prelude::*;
    let mut out: Vec<[f64; 3]> = mesh.positions.iter().map(|p| p.map(f64::from)).collect();
    let extra: Vec<[f64; 3]> = mesh
        .triangles()
        .collect::<Vec<_>>()
        .par_iter()
        .flat_map_iter(|t| {
            let [a, b, c] = t.map(|p| p.map(f64::from));
            let len = |p: [f64; 3], q: [f64; 3]| {
                ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt()
            };
            let longest = len(a, b).max(len(b, c)).max(len(c, a));
            let n = (longest / step.max(1e-6)).ceil().min(256.0) as usize;
            let mut pts = Vec::new();
            if n >= 2 {
                for i in 0..=n {
                    for j in 0..=(n - i) {
                        let k = n - i - j;
                        // Corners are vertices already.
                        if i == n || j == n || k == n {
                            continue;
                        }
                        let (u, v, w) = (
                            i as f64 / n as f64,
                            j as f64 / n as f64,
                            k as f64 / n as f64,
                        );
                        pts.push([
                            u * a[0] + v * b[0] + w * c[0],
                            u * a[1] + v * b[1] + w * c[1],
                            u * a[2] + v * b[2] + w * c[2],
                        ]);
                    }
                }
            }
            pts
        })
        .collect();
    out.extend(extra);
    out
}

/// Distances between the mesh surface (sampled every half voxel) and the
/// mask boundary (voxel face centres), both ways.
pub fn mesh_to_mask_distance(mesh: &SurfaceMesh, mask: &Mask) -> SurfaceDistance {
    use rayon::prelude::*;
    let boundary = mask_boundary_points(mask);
    let s = mask.geometry.spacing;
    let verts = surface_samples(mesh, 0.5 * s[0].min(s[1]).min(s[2]));
    if boundary.is_empty() || verts.is_empty() {
        return SurfaceDistance::default();
    }
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

/// The voxels of a grid whose centres lie inside a closed mesh (LPS mm),
/// found by casting one ray per row along x and filling between crossings
/// (even-odd rule). The grid is `geometry` with `dim` (z, y, x).
pub fn voxelize(
    mesh: &SurfaceMesh,
    geometry: &crate::image::volume::Geometry,
    dim: (usize, usize, usize),
) -> ndarray::Array3<u8> {
    use rayon::prelude::*;
    let (nz, ny, nx) = dim;
    let idx: Vec<[f64; 3]> = mesh
        .positions
        .par_iter()
        .map(|p| geometry.lps_to_index(p.map(f64::from)))
        .collect();
    // A tiny fixed offset keeps row lines off shared edges and vertices, so
    // each crossing is counted once.
    const DY: f64 = 1.234_567e-5;
    const DZ: f64 = 2.345_678e-5;
    let mut hits: Vec<(u32, f32)> = mesh
        .indices
        .par_chunks(3)
        .fold(Vec::new, |mut out, t| {
            let [a, b, c] = [idx[t[0] as usize], idx[t[1] as usize], idx[t[2] as usize]];
            let (ylo, yhi) = (a[1].min(b[1]).min(c[1]), a[1].max(b[1]).max(c[1]));
            let (zlo, zhi) = (a[2].min(b[2]).min(c[2]), a[2].max(b[2]).max(c[2]));
            let y0 = (ylo - DY).ceil().max(0.0) as usize;
            let y1 = ((yhi - DY).floor().min(ny as f64 - 1.0)).max(-1.0);
            let z0 = (zlo - DZ).ceil().max(0.0) as usize;
            let z1 = ((zhi - DZ).floor().min(nz as f64 - 1.0)).max(-1.0);
            if y1 < 0.0 || z1 < 0.0 {
                return out;
            }
            // Edge functions in the (y, z) plane.
            let e = |p: [f64; 3], q: [f64; 3], y: f64, z: f64| {
                (q[1] - p[1]) * (z - p[2]) - (q[2] - p[2]) * (y - p[1])
            };
            let area = e(a, b, c[1], c[2]);
            if area.abs() < 1e-12 {
                return out;
            }
            for z in z0..=z1 as usize {
                for y in y0..=y1 as usize {
                    let (yy, zz) = (y as f64 + DY, z as f64 + DZ);
                    let w0 = e(b, c, yy, zz) / area;
                    let w1 = e(c, a, yy, zz) / area;
                    let w2 = e(a, b, yy, zz) / area;
                    if w0 >= 0.0 && w1 >= 0.0 && w2 >= 0.0 {
                        let x = w0 * a[0] + w1 * b[0] + w2 * c[0];
                        out.push(((z * ny + y) as u32, x as f32));
                    }
                }
            }
            out
        })
        .reduce(Vec::new, |mut a, mut b| {
            a.append(&mut b);
            a
        });
    hits.par_sort_unstable_by(|p, q| p.0.cmp(&q.0).then(p.1.total_cmp(&q.1)));
    let mut out = ndarray::Array3::<u8>::zeros(dim);
    let flat = out.as_slice_mut().expect("standard layout");
    let mut i = 0;
    while i < hits.len() {
        let row = hits[i].0;
        let mut j = i;
        while j < hits.len() && hits[j].0 == row {
            j += 1;
        }
        for pair in hits[i..j].chunks_exact(2) {
            let x0 = (pair[0].1 as f64).ceil().max(0.0) as usize;
            let x1 = (pair[1].1 as f64).floor().min(nx as f64 - 1.0);
            if x1 >= 0.0 && x0 <= x1 as usize {
                let base = row as usize * nx;
                flat[base + x0..=base + x1 as usize].fill(1);
            }
        }
        i = j;
    }
    out
}

/// Dice coefficient of two binary grids of the same shape (1 when both are empty).
pub fn dice(a: &ndarray::Array3<u8>, b: &ndarray::Array3<u8>) -> f64 {
    let (mut both, mut na, mut nb) = (0u64, 0u64, 0u64);
    ndarray::Zip::from(a).and(b).for_each(|&x, &y| {
        let (x, y) = (x != 0, y != 0);
        both += (x && y) as u64;
        na += x as u64;
        nb += y as u64;
    });
    if na + nb == 0 {
        1.0
    } else {
        2.0 * both as f64 / (na + nb) as f64
    }
}

/// How a surface was made, for the report.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct SurfaceRecipe {
    /// Gaussian pre-blur of the mask (mm); `None` for the raw voxel surface.
    pub presmooth_mm: Option<f64>,
    pub smoothing_iterations: usize,
    /// Fraction of triangles removed by decimation.
    pub reduction: f64,
}

/// Does the 3D model represent the scan's segment? One segment's numbers
/// and the checks it failed.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Validation {
    pub segment: String,
    /// Overlap of the mask and the voxelised mesh (1 = identical).
    pub dice: f64,
    pub surface: SurfaceDistance,
    pub voxel_ml: f64,
    pub mesh_ml: f64,
    /// Mesh volume relative to the voxel volume, in percent.
    pub volume_diff_pct: f64,
    pub watertight: bool,
    pub recipe: SurfaceRecipe,
    /// The diagonal of one voxel (mm): the p95 distance limit.
    pub voxel_diagonal_mm: f64,
    /// Plain-language reasons the model may not represent the scan; empty
    /// when every check passed.
    pub flags: Vec<String>,
}

/// Checks a segment's mesh against its mask: Dice with the voxelised mesh,
/// surface distances both ways, volume difference, watertightness. Flags a
/// p95 distance over one voxel diagonal, Dice under 0.90, a volume off by
/// more than 5%, and an open mesh.
pub fn validate(
    segment: &str,
    mask: &Mask,
    mesh: &SurfaceMesh,
    recipe: SurfaceRecipe,
) -> Validation {
    let voxels = voxelize(mesh, &mask.geometry, mask.dim());
    let dice = dice(&mask.data, &voxels);
    let surface = mesh_to_mask_distance(mesh, mask);
    let voxel_ml = mask.volume_ml();
    let mesh_ml = mesh.volume_mm3() / 1000.0;
    let volume_diff_pct = if voxel_ml > 0.0 {
        100.0 * (mesh_ml - voxel_ml) / voxel_ml
    } else {
        0.0
    };
    let watertight = mesh.topology().is_watertight();
    let s = mask.geometry.spacing;
    let voxel_diagonal_mm = (s[0] * s[0] + s[1] * s[1] + s[2] * s[2]).sqrt();
    let mut flags = Vec::new();
    if surface.p95_mm > voxel_diagonal_mm {
        flags.push(format!(
            "95% of the surface lies within {:.2} mm of the scan's boundary, more than one voxel diagonal ({:.2} mm)",
            surface.p95_mm, voxel_diagonal_mm
        ));
    }
    if dice < 0.90 {
        flags.push(format!(
            "the model overlaps its voxels with Dice {dice:.3} (under 0.90)"
        ));
    }
    if volume_diff_pct.abs() > 5.0 {
        flags.push(format!(
            "the model's volume differs from the voxels' by {volume_diff_pct:+.1}%"
        ));
    }
    if !watertight {
        flags.push("the mesh is not closed (not watertight): unfit for printing".into());
    }
    Validation {
        segment: segment.to_string(),
        dice,
        surface,
        voxel_ml,
        mesh_ml,
        volume_diff_pct,
        watertight,
        recipe,
        voxel_diagonal_mm,
        flags,
    }
}
