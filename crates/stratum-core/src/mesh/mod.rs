//! Surface meshes of segments: extraction (marching cubes on a lightly
//! smoothed mask, or straight from the intensities), non-shrinking
//! smoothing held within half a voxel of the unsmoothed surface,
//! decimation, normals, topology checks and measurements.
//! Positions are LPS millimetres.

mod constrain;
mod decimate;
mod edges;
pub mod error;
mod intensity;
mod mask;
mod mc;
mod smooth;
mod soft;

pub use constrain::{VoxelBox, constrained_taubin, restore_volume, taubin_within};
pub(crate) use decimate::decimate_keeping_volume;
pub use intensity::{
    crossing_noise, finish_intensity_mesh, intensity_mesh, intensity_mesh_bits, intensity_surface,
};
pub use mask::mask_surface;
pub(crate) use mc::{InsideRows, bits_where};
pub use mc::{marching_cubes, mask_marching_cubes};
pub use smooth::{laplacian_adjacency, taubin_smooth};
pub use soft::{SOFT_LEVEL, SoftField, soft_surface};

use ndarray::s;
use rayon::prelude::*;

use crate::base::error::Result;
use crate::base::progress::Progress;
use crate::image::volume::{Geometry, Volume, VoxelType};
use crate::with_voxels;
use error::MeshError;

/// An indexed triangle mesh in LPS millimetres.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SurfaceMesh {
    pub positions: Vec<[f32; 3]>,
    /// Unit vertex normals (empty until [`SurfaceMesh::compute_normals`]).
    pub normals: Vec<[f32; 3]>,
    /// Three indices per triangle, counter-clockwise seen from outside.
    pub indices: Vec<u32>,
}

/// How to turn a mask into a surface.
#[derive(Clone, Debug)]
pub struct SurfaceOptions {
    /// Gaussian blur of the mask before extraction (mm); `None` gives the
    /// raw, voxel-accurate stair-step surface. With thick slices (more than
    /// twice the pixel size) the smooth surface comes from shape-based
    /// interpolation between the slices instead (see [`mask_surface`]).
    pub presmooth_mm: Option<f64>,
    /// Taubin smoothing passes after extraction (0 = none).
    pub smooth_iterations: usize,
    /// Keep this fraction of the triangles (1.0 = no decimation).
    pub keep_ratio: f64,
}

impl Default for SurfaceOptions {
    fn default() -> Self {
        SurfaceOptions {
            presmooth_mm: Some(0.6),
            smooth_iterations: 10,
            keep_ratio: 1.0,
        }
    }
}

impl SurfaceMesh {
    pub fn triangle_count(&self) -> usize {
        self.indices.len() / 3
    }

    /// The segments where the plane `dot(normal, p) = offset` cuts the mesh
    /// (LPS mm): the mesh's contour on a slice, drawn over the image to
    /// check the model against the scan. Vertices exactly on the plane count
    /// as above it, so no segment is produced twice.
    pub fn plane_section(&self, normal: [f32; 3], offset: f32) -> Vec<[[f32; 3]; 2]> {
        let dist = |p: [f32; 3]| normal[0] * p[0] + normal[1] * p[1] + normal[2] * p[2] - offset;
        let mut out = Vec::new();
        for t in self.indices.chunks_exact(3) {
            let v = [0, 1, 2].map(|k| self.positions[t[k] as usize]);
            let d = v.map(dist);
            let above = d.map(|x| x >= 0.0);
            if above[0] == above[1] && above[1] == above[2] {
                continue;
            }
            let mut pts = [[0.0f32; 3]; 2];
            let mut n = 0;
            for (a, b) in [(0, 1), (1, 2), (2, 0)] {
                if above[a] != above[b] && n < 2 {
                    let f = d[a] / (d[a] - d[b]);
                    pts[n] = [0, 1, 2].map(|c| v[a][c] + f * (v[b][c] - v[a][c]));
                    n += 1;
                }
            }
            out.push(pts);
        }
        out
    }

    /// Distance along the ray `origin + t * dir` to the nearest triangle it
    /// hits (either side), or `None`. Brute force over the triangles in
    /// parallel: a click costs a few milliseconds on a 500k-triangle mesh.
    pub fn raycast(&self, origin: [f32; 3], dir: [f32; 3]) -> Option<f32> {
        self.indices
            .par_chunks_exact(3)
            .filter_map(|t| {
                let p = |i: u32| self.positions[i as usize];
                ray_triangle(origin, dir, p(t[0]), p(t[1]), p(t[2]))
            })
            .min_by(|a, b| a.total_cmp(b))
    }

    pub fn triangles(&self) -> impl Iterator<Item = [[f32; 3]; 3]> + '_ {
        self.indices.chunks_exact(3).map(|t| {
            [
                self.positions[t[0] as usize],
                self.positions[t[1] as usize],
                self.positions[t[2] as usize],
            ]
        })
    }

    /// Enclosed volume (mm³) by signed tetrahedra; positive when the
    /// triangles face outward.
    pub fn volume_mm3(&self) -> f64 {
        self.triangles()
            .map(|[a, b, c]| {
                let (a, b, c) = (a.map(f64::from), b.map(f64::from), c.map(f64::from));
                (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
                    + a[2] * (b[0] * c[1] - b[1] * c[0]))
                    / 6.0
            })
            .sum()
    }

    /// Surface area (mm²).
    pub fn area_mm2(&self) -> f64 {
        self.triangles().map(|[a, b, c]| tri_area(a, b, c)).sum()
    }

    /// Axis-aligned bounds (min, max) in LPS mm.
    pub fn bounds(&self) -> Option<([f32; 3], [f32; 3])> {
        let mut it = self.positions.iter();
        let first = *it.next()?;
        Some(it.fold((first, first), |(lo, hi), p| {
            (
                [lo[0].min(p[0]), lo[1].min(p[1]), lo[2].min(p[2])],
                [hi[0].max(p[0]), hi[1].max(p[1]), hi[2].max(p[2])],
            )
        }))
    }

    /// Area-weighted vertex normals. Triangles are summed in parallel runs;
    /// each run keeps sums for just the span of vertex ids it touches (a
    /// surface from marching cubes or meshopt numbers its vertices in
    /// sweep order, so the spans barely overlap), added up at the end.
    #[tracing::instrument(level = "info", skip_all)]
    pub fn compute_normals(&mut self) {
        let runs = (rayon::current_num_threads() * 4).max(1);
        let per_run = self.indices.len().div_ceil(3 * runs).max(4096) * 3;
        let positions = &self.positions;
        let sums: Vec<(usize, Vec<[f32; 3]>)> = self
            .indices
            .par_chunks(per_run)
            .map(|run| {
                let (lo, hi) = run
                    .iter()
                    .fold((u32::MAX, 0), |(lo, hi), &i| (lo.min(i), hi.max(i)));
                let lo = lo as usize;
                let mut sum = vec![[0f32; 3]; hi as usize + 1 - lo];
                for t in run.chunks_exact(3) {
                    let f = triangle_cross(
                        positions[t[0] as usize],
                        positions[t[1] as usize],
                        positions[t[2] as usize],
                    );
                    for &i in t {
                        let v = &mut sum[i as usize - lo];
                        v[0] += f[0];
                        v[1] += f[1];
                        v[2] += f[2];
                    }
                }
                (lo, sum)
            })
            .collect();
        let mut n = vec![[0f32; 3]; self.positions.len()];
        for (lo, sum) in sums {
            for (v, s) in n[lo..].iter_mut().zip(sum) {
                v[0] += s[0];
                v[1] += s[1];
                v[2] += s[2];
            }
        }
        n.par_iter_mut().for_each(|v| {
            let l = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
            *v = if l > 0.0 {
                [v[0] / l, v[1] / l, v[2] / l]
            } else {
                [0.0, 0.0, 1.0]
            };
        });
        self.normals = n;
    }

    /// Edge statistics: a closed 2-manifold has every edge in exactly two
    /// triangles, used once in each direction.
    #[tracing::instrument(level = "info", skip_all)]
    pub fn topology(&self) -> Topology {
        edges::topology(self)
    }
}

/// (b - a) x (c - a): the triangle's normal scaled by twice its area.
pub fn triangle_cross(a: [f32; 3], b: [f32; 3], c: [f32; 3]) -> [f32; 3] {
    let u = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
    let v = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
    [
        u[1] * v[2] - u[2] * v[1],
        u[2] * v[0] - u[0] * v[2],
        u[0] * v[1] - u[1] * v[0],
    ]
}

pub(crate) fn tri_area(a: [f32; 3], b: [f32; 3], c: [f32; 3]) -> f64 {
    let f = triangle_cross(a, b, c).map(f64::from);
    0.5 * (f[0] * f[0] + f[1] * f[1] + f[2] * f[2]).sqrt()
}

/// Edge counts of a mesh; see [`SurfaceMesh::topology`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Topology {
    pub edges: usize,
    /// Edges of a single triangle: holes.
    pub boundary_edges: usize,
    /// Edges of three or more triangles.
    pub nonmanifold_edges: usize,
    /// Edges whose two triangles disagree on orientation.
    pub misoriented_edges: usize,
    pub degenerate_triangles: usize,
}

impl Topology {
    /// Closed, manifold and consistently oriented.
    pub fn is_watertight(&self) -> bool {
        self.boundary_edges == 0 && self.nonmanifold_edges == 0 && self.misoriented_edges == 0
    }
}

/// Index units (x, y, z) of a grid, offset by `origin_index`, to LPS mm.
fn to_lps(positions: &mut [[f32; 3]], geometry: &Geometry, offset: [usize; 3]) {
    positions.par_iter_mut().for_each(|p| {
        let q = geometry.index_to_lps([
            p[0] as f64 + offset[0] as f64,
            p[1] as f64 + offset[1] as f64,
            p[2] as f64 + offset[2] as f64,
        ]);
        *p = [q[0] as f32, q[1] as f32, q[2] as f32];
    });
}

/// Makes the winding outward in patient space (a left-handed grid, e.g. a
/// NIfTI in RAS, mirrors it).
fn orient_outward(mesh: &mut SurfaceMesh, geometry: &Geometry) {
    let d = geometry.direction;
    let det = d[0][0] * (d[1][1] * d[2][2] - d[1][2] * d[2][1])
        - d[0][1] * (d[1][0] * d[2][2] - d[1][2] * d[2][0])
        + d[0][2] * (d[1][0] * d[2][1] - d[1][1] * d[2][0]);
    if det < 0.0 {
        for t in mesh.indices.chunks_exact_mut(3) {
            t.swap(1, 2);
        }
    }
}

/// The iso-surface `value > level` straight from the intensities (e.g. 300 HU for bone).
#[tracing::instrument(level = "info", skip_all)]
pub fn iso_surface(volume: &Volume, level: f64, progress: &Progress) -> Result<SurfaceMesh> {
    progress.begin("building iso-surface", 1);
    let (mut positions, indices) = with_voxels!(&volume.voxels, a => {
        // Beyond the volume lies one unit below its lowest face value: only
        // edges from face voxels reach it, so the rest need not be read.
        let (nz, ny, nx) = a.dim();
        if a.is_empty() {
            return Err(MeshError::EmptyVolume.into());
        }
        let faces = [
            a.slice(s![0, .., ..]),
            a.slice(s![nz - 1, .., ..]),
            a.slice(s![.., 0, ..]),
            a.slice(s![.., ny - 1, ..]),
            a.slice(s![.., .., 0]),
            a.slice(s![.., .., nx - 1]),
        ];
        let lo = faces
            .iter()
            .flat_map(|f| f.iter())
            .fold(level, |lo, v| lo.min(v.to_f64()));
        marching_cubes(a.view(), level as f32, (lo - 1.0) as f32)
    });
    to_lps(&mut positions, &volume.geometry, [0, 0, 0]);
    let mut mesh = SurfaceMesh {
        positions,
        normals: Vec::new(),
        indices,
    };
    orient_outward(&mut mesh, &volume.geometry);
    mesh.compute_normals();
    progress.advance(1);
    Ok(mesh)
}

/// Möller–Trumbore ray/triangle intersection: the ray parameter of the hit.
fn ray_triangle(o: [f32; 3], d: [f32; 3], a: [f32; 3], b: [f32; 3], c: [f32; 3]) -> Option<f32> {
    let sub = |p: [f32; 3], q: [f32; 3]| [p[0] - q[0], p[1] - q[1], p[2] - q[2]];
    let cross = |u: [f32; 3], v: [f32; 3]| {
        [
            u[1] * v[2] - u[2] * v[1],
            u[2] * v[0] - u[0] * v[2],
            u[0] * v[1] - u[1] * v[0],
        ]
    };
    let dot = |u: [f32; 3], v: [f32; 3]| u[0] * v[0] + u[1] * v[1] + u[2] * v[2];
    let e1 = sub(b, a);
    let e2 = sub(c, a);
    let p = cross(d, e2);
    let det = dot(e1, p);
    if det.abs() < 1e-12 {
        return None;
    }
    let inv = 1.0 / det;
    let s = sub(o, a);
    let u = dot(s, p) * inv;
    if !(0.0..=1.0).contains(&u) {
        return None;
    }
    let q = cross(s, e1);
    let v = dot(d, q) * inv;
    if v < 0.0 || u + v > 1.0 {
        return None;
    }
    let t = dot(e2, q) * inv;
    (t > 0.0).then_some(t)
}
