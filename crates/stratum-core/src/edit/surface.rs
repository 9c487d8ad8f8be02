//! The chunked surface of one segment: one surface-nets chunk per 32³ brick
//! of the label map, so a brush remeshes only the bricks it reached (and the
//! neighbours whose border samples it changed) while the rest stay as they
//! were. Chunks share their border samples, so seams never crack, and take
//! their normals from the field, so shading runs on across seams.

use std::cell::RefCell;
use std::collections::HashMap;

use rayon::prelude::*;

use super::bricks::{BRICK, BrickGrid, BrickId, Region};
pub use super::nets::SurfaceChunk;
use super::nets::{Grid, Scratch, extract};
use crate::mesh::SurfaceMesh;
use crate::segment::{LabelMap, Labels};

/// How far (voxels) outside a brick an edit still changes its chunk: the
/// chunk reads samples from two below its cells (vertices one cell down,
/// normals one sample more) to one above.
pub const BORDER: usize = 2;

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

/// One segment's surface as a chunk per brick (empty chunks where the brick
/// holds no surface).
#[derive(Clone, Debug)]
pub struct ChunkedSurface {
    segment: u16,
    grid: BrickGrid,
    chunks: Vec<SurfaceChunk>,
}

impl ChunkedSurface {
    /// Meshes every brick of segment `segment`, bricks in parallel.
    pub fn build(map: &LabelMap, segment: u16) -> Self {
        let grid = BrickGrid::new(map.dim());
        let chunks = (0..grid.len())
            .into_par_iter()
            .map(|i| mesh_brick(map, segment, grid.id(i)))
            .collect();
        ChunkedSurface {
            segment,
            grid,
            chunks,
        }
    }

    pub fn segment(&self) -> u16 {
        self.segment
    }

    pub fn grid(&self) -> BrickGrid {
        self.grid
    }

    /// The bricks whose chunk an edit of `changed` can alter: those it
    /// overlaps grown by [`BORDER`] voxels.
    pub fn affected(&self, changed: Region) -> Vec<BrickId> {
        changed.grow(BORDER, self.grid.dim).bricks().collect()
    }

    /// Remeshes the chunks an edit of `changed` (voxels of `map`) can alter,
    /// in parallel, and returns their bricks (to upload). A map of another
    /// size rebuilds everything.
    pub fn update(&mut self, map: &LabelMap, changed: Region) -> Vec<BrickId> {
        if map.dim() != self.grid.dim {
            *self = ChunkedSurface::build(map, self.segment);
            return self.grid.all().collect();
        }
        let bricks = self.affected(changed);
        let seg = self.segment;
        let fresh: Vec<SurfaceChunk> = bricks
            .par_iter()
            .map(|b| mesh_brick(map, seg, *b))
            .collect();
        for (b, c) in bricks.iter().zip(fresh) {
            let i = self.grid.index(*b);
            self.chunks[i] = c;
        }
        bricks
    }

    /// The chunk of brick `b` (empty where it holds no surface).
    pub fn chunk(&self, b: BrickId) -> &SurfaceChunk {
        &self.chunks[self.grid.index(b)]
    }

    /// Every non-empty chunk with its brick.
    pub fn chunks(&self) -> impl Iterator<Item = (BrickId, &SurfaceChunk)> + '_ {
        self.chunks
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.is_empty())
            .map(|(i, c)| (self.grid.id(i), c))
    }

    pub fn triangle_count(&self) -> usize {
        self.chunks.iter().map(|c| c.triangle_count()).sum()
    }

    /// All chunks as one mesh, the vertices chunks share welded into one
    /// (so the result is closed where the surface is).
    pub fn to_mesh(&self) -> SurfaceMesh {
        let total: usize = self.chunks.iter().map(|c| c.positions.len()).sum();
        let mut index: HashMap<u64, u32> = HashMap::with_capacity(total);
        let mut mesh = SurfaceMesh::default();
        for c in &self.chunks {
            let local: Vec<u32> = (0..c.positions.len())
                .map(|v| {
                    *index.entry(c.keys[v]).or_insert_with(|| {
                        mesh.positions.push(c.positions[v]);
                        mesh.normals.push(c.normals[v]);
                        mesh.positions.len() as u32 - 1
                    })
                })
                .collect();
            mesh.indices
                .extend(c.indices.iter().map(|i| local[*i as usize]));
        }
        mesh
    }
}

/// The whole segment as one surface-nets extraction (no bricks): the mesh
/// the welded chunks must equal. Memory grows with the map; meant for
/// checks and small maps.
pub fn surface_nets(map: &LabelMap, segment: u16) -> SurfaceMesh {
    let (nz, ny, nx) = map.dim();
    let grid = Grid::new(map.dim(), map.geometry);
    let hi = [nx as i64, ny as i64, nz as i64];
    let mut scratch = Scratch::default();
    let c = match &map.labels {
        Labels::U8(l) => extract(l, segment, &grid, [-1; 3], hi, &mut scratch),
        Labels::U16(l) => extract(l, segment, &grid, [-1; 3], hi, &mut scratch),
    };
    SurfaceMesh {
        positions: c.positions,
        normals: c.normals,
        indices: c.indices,
    }
}

/// The chunk of brick `b`: the quads of the cells it owns, i.e. those whose
/// lowest corner lies in the brick (plus the cells at -1 on the map's low
/// faces, which close the surface there).
fn mesh_brick(map: &LabelMap, segment: u16, b: BrickId) -> SurfaceChunk {
    let r = b.region(map.dim());
    if r.is_empty() {
        return SurfaceChunk::default();
    }
    // (z, y, x) region to (x, y, z) cell bounds.
    let lo: [i64; 3] = std::array::from_fn(|k| {
        let l = r.lo[2 - k] as i64;
        if l == 0 { -1 } else { l }
    });
    let hi: [i64; 3] = std::array::from_fn(|k| r.hi[2 - k] as i64);
    debug_assert!(
        hi.iter()
            .zip(&lo)
            .all(|(h, l)| (h - l) as usize <= BRICK + 1)
    );
    let grid = Grid::new(map.dim(), map.geometry);
    SCRATCH.with(|s| {
        let s = &mut s.borrow_mut();
        match &map.labels {
            Labels::U8(l) => extract(l, segment, &grid, lo, hi, s),
            Labels::U16(l) => extract(l, segment, &grid, lo, hi, s),
        }
    })
}
