//! The brick grid shared by brushes, local remeshing and the edit history:
//! the label map cut into 32³-voxel bricks, and half-open voxel boxes.
//!
//! All coordinates are voxel indices in (z, y, x) order, like the label map's
//! `Array3`. A brush returns the `Region` it changed; the history snapshots
//! the bricks that region overlaps, and the chunked surface remeshes them.

/// Edge length of a brick in voxels (the same on every axis).
pub const BRICK: usize = 32;

/// One brick of the grid: its brick coordinates (z, y, x), i.e. the brick
/// covering voxels `[z*32, z*32+32) × [y*32, ..) × [x*32, ..)` (clipped to
/// the map at its far faces).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BrickId {
    pub z: u32,
    pub y: u32,
    pub x: u32,
}

impl BrickId {
    pub fn new(z: usize, y: usize, x: usize) -> Self {
        BrickId {
            z: z as u32,
            y: y as u32,
            x: x as u32,
        }
    }

    /// The brick holding voxel (z, y, x).
    pub fn of_voxel(z: usize, y: usize, x: usize) -> Self {
        BrickId::new(z / BRICK, y / BRICK, x / BRICK)
    }

    /// The voxels of this brick, clipped to a map of dimensions `dim`.
    pub fn region(&self, dim: (usize, usize, usize)) -> Region {
        let lo = [
            self.z as usize * BRICK,
            self.y as usize * BRICK,
            self.x as usize * BRICK,
        ];
        Region::new(lo, [lo[0] + BRICK, lo[1] + BRICK, lo[2] + BRICK]).clip(dim)
    }
}

/// The brick grid of a map of dimensions `dim` (z, y, x).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BrickGrid {
    pub dim: (usize, usize, usize),
}

impl BrickGrid {
    pub fn new(dim: (usize, usize, usize)) -> Self {
        BrickGrid { dim }
    }

    /// Number of bricks along (z, y, x); a partial brick at a far face counts.
    pub fn bricks(&self) -> [usize; 3] {
        [
            self.dim.0.div_ceil(BRICK),
            self.dim.1.div_ceil(BRICK),
            self.dim.2.div_ceil(BRICK),
        ]
    }

    pub fn len(&self) -> usize {
        let b = self.bricks();
        b[0] * b[1] * b[2]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Dense index of a brick (z-major), for per-brick arrays.
    pub fn index(&self, b: BrickId) -> usize {
        let n = self.bricks();
        (b.z as usize * n[1] + b.y as usize) * n[2] + b.x as usize
    }

    /// The brick of a dense index (inverse of `index`).
    pub fn id(&self, i: usize) -> BrickId {
        let n = self.bricks();
        BrickId::new(i / (n[1] * n[2]), (i / n[2]) % n[1], i % n[2])
    }

    /// Every brick of the grid, z-major.
    pub fn all(&self) -> impl Iterator<Item = BrickId> + '_ {
        (0..self.len()).map(|i| self.id(i))
    }

    /// The whole map as a region.
    pub fn full(&self) -> Region {
        Region::new([0, 0, 0], [self.dim.0, self.dim.1, self.dim.2])
    }
}

/// A half-open box of voxels `[lo, hi)` per axis, (z, y, x). Empty when any
/// `hi <= lo`; all empty regions compare equal through `is_empty`, not `==`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Region {
    pub lo: [usize; 3],
    pub hi: [usize; 3],
}

impl Region {
    pub fn new(lo: [usize; 3], hi: [usize; 3]) -> Self {
        Region { lo, hi }
    }

    /// The region holding nothing.
    pub fn empty() -> Self {
        Region::default()
    }

    /// The single voxel (z, y, x).
    pub fn voxel(z: usize, y: usize, x: usize) -> Self {
        Region::new([z, y, x], [z + 1, y + 1, x + 1])
    }

    pub fn is_empty(&self) -> bool {
        (0..3).any(|a| self.hi[a] <= self.lo[a])
    }

    /// Number of voxels inside.
    pub fn len(&self) -> usize {
        if self.is_empty() {
            return 0;
        }
        (0..3).map(|a| self.hi[a] - self.lo[a]).product()
    }

    pub fn contains(&self, z: usize, y: usize, x: usize) -> bool {
        let p = [z, y, x];
        (0..3).all(|a| self.lo[a] <= p[a] && p[a] < self.hi[a])
    }

    /// The smallest box holding both (an empty side is ignored).
    pub fn union(&self, other: &Region) -> Region {
        if self.is_empty() {
            return *other;
        }
        if other.is_empty() {
            return *self;
        }
        Region::new(
            std::array::from_fn(|a| self.lo[a].min(other.lo[a])),
            std::array::from_fn(|a| self.hi[a].max(other.hi[a])),
        )
    }

    /// The overlap of both (possibly empty).
    pub fn intersect(&self, other: &Region) -> Region {
        let r = Region::new(
            std::array::from_fn(|a| self.lo[a].max(other.lo[a])),
            std::array::from_fn(|a| self.hi[a].min(other.hi[a])),
        );
        if r.is_empty() { Region::empty() } else { r }
    }

    /// This region clipped to a map of dimensions `dim`.
    pub fn clip(&self, dim: (usize, usize, usize)) -> Region {
        self.intersect(&Region::new([0, 0, 0], [dim.0, dim.1, dim.2]))
    }

    /// Grown by `n` voxels on every side, clipped to `dim`.
    pub fn grow(&self, n: usize, dim: (usize, usize, usize)) -> Region {
        if self.is_empty() {
            return Region::empty();
        }
        Region::new(
            std::array::from_fn(|a| self.lo[a].saturating_sub(n)),
            std::array::from_fn(|a| self.hi[a] + n),
        )
        .clip(dim)
    }

    /// The bricks this region overlaps, z-major (none when empty).
    pub fn bricks(&self) -> impl Iterator<Item = BrickId> + use<> {
        let (lo, hi) = if self.is_empty() {
            ([0; 3], [0; 3])
        } else {
            (
                std::array::from_fn::<usize, 3, _>(|a| self.lo[a] / BRICK),
                std::array::from_fn::<usize, 3, _>(|a| (self.hi[a] - 1) / BRICK + 1),
            )
        };
        (lo[0]..hi[0]).flat_map(move |z| {
            (lo[1]..hi[1]).flat_map(move |y| (lo[2]..hi[2]).map(move |x| BrickId::new(z, y, x)))
        })
    }

    /// Every voxel (z, y, x) inside, z-major.
    pub fn voxels(&self) -> impl Iterator<Item = (usize, usize, usize)> + use<> {
        let r = if self.is_empty() {
            Region::empty()
        } else {
            *self
        };
        (r.lo[0]..r.hi[0]).flat_map(move |z| {
            (r.lo[1]..r.hi[1]).flat_map(move |y| (r.lo[2]..r.hi[2]).map(move |x| (z, y, x)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_bricks_cover_the_overlapped_bricks_only() {
        let r = Region::new([31, 0, 64], [33, 1, 65]);
        let b: Vec<_> = r.bricks().collect();
        assert_eq!(b, vec![BrickId::new(0, 0, 2), BrickId::new(1, 0, 2)]);
        assert_eq!(Region::empty().bricks().count(), 0);
    }

    #[test]
    fn union_and_intersect_ignore_empty_sides() {
        let a = Region::new([0, 0, 0], [2, 2, 2]);
        let b = Region::new([1, 1, 1], [4, 3, 5]);
        assert_eq!(a.union(&b), Region::new([0, 0, 0], [4, 3, 5]));
        assert_eq!(a.intersect(&b), Region::new([1, 1, 1], [2, 2, 2]));
        assert_eq!(a.union(&Region::empty()), a);
        assert!(a.intersect(&Region::new([5, 5, 5], [6, 6, 6])).is_empty());
        assert_eq!(a.voxels().count(), 8);
    }

    #[test]
    fn grid_index_round_trips_and_clips_partial_bricks() {
        let g = BrickGrid::new((40, 70, 10));
        assert_eq!(g.bricks(), [2, 3, 1]);
        for i in 0..g.len() {
            assert_eq!(g.index(g.id(i)), i);
        }
        assert_eq!(
            BrickId::new(1, 2, 0).region(g.dim),
            Region::new([32, 64, 0], [40, 70, 10])
        );
    }
}
