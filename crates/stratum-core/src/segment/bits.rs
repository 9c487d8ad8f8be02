//! Masks of one bit a voxel, for the pipelines that hold a mask beside the
//! whole scan (`stratum convert --preset bone`): a byte mask is half of an
//! i16 scan again, a bit mask a sixteenth. Threshold, 6-connected flood
//! and slice-by-slice hole filling work on the bits; marching cubes reads
//! them a row at a time.

use std::borrow::Cow;
use std::collections::VecDeque;

use ndarray::{Array3, Axis, s};
use rayon::prelude::*;

use super::Mask;
use crate::image::volume::{Geometry, Volume};
use crate::with_voxels;

/// A binary mask on a volume grid, one bit a voxel. Rows (z, y) start on
/// a word of their own (`row_words` 64-bit words each, the bits past `nx`
/// always clear), so planes and rows split between threads without
/// sharing a word. Bit `x` of row `r = z * ny + y` is bit number
/// `r * row_words * 64 + x`, the voxel's id in [`flood_bits`].
#[derive(Clone, Debug, PartialEq)]
pub struct BitMask {
    words: Vec<u64>,
    dim: (usize, usize, usize),
    row_words: usize,
    pub geometry: Geometry,
}

impl BitMask {
    pub fn empty(dim: (usize, usize, usize), geometry: Geometry) -> Self {
        let row_words = dim.2.div_ceil(64);
        BitMask {
            words: crate::base::pages::zeroed::<u64>(dim.0 * dim.1 * row_words),
            dim,
            row_words,
            geometry,
        }
    }

    pub fn dim(&self) -> (usize, usize, usize) {
        self.dim
    }

    /// The words of row (z, y).
    pub fn row(&self, z: usize, y: usize) -> &[u64] {
        let r = (z * self.dim.1 + y) * self.row_words;
        &self.words[r..r + self.row_words]
    }

    /// Bits per row, the stride of a row in bit numbers.
    fn row_bits(&self) -> usize {
        self.row_words * 64
    }

    pub fn get(&self, z: usize, y: usize, x: usize) -> bool {
        self.bit(((z * self.dim.1 + y) * self.row_words * 64) + x)
    }

    /// Whether bit number `b` (see [`BitMask`]) is set.
    pub(crate) fn bit(&self, b: usize) -> bool {
        self.words[b / 64] >> (b % 64) & 1 != 0
    }

    /// Number of voxels set.
    pub fn count(&self) -> usize {
        self.words.par_iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn voxel_mm3(&self) -> f64 {
        let s = self.geometry.spacing;
        s[0] * s[1] * s[2]
    }

    pub fn volume_ml(&self) -> f64 {
        self.count() as f64 * self.voxel_mm3() / 1000.0
    }

    /// Smallest box (z, y, x ranges, end exclusive) that holds every set
    /// voxel, as [`Mask::bounds`].
    pub fn bounds(&self) -> Option<[(usize, usize); 3]> {
        type Box3 = ([usize; 3], [usize; 3]);
        let empty: Box3 = ([usize::MAX; 3], [0; 3]);
        let merge = |a: Box3, b: Box3| -> Box3 {
            (
                std::array::from_fn(|k| a.0[k].min(b.0[k])),
                std::array::from_fn(|k| a.1[k].max(b.1[k])),
            )
        };
        let (ny, rw) = (self.dim.1, self.row_words);
        let (lo, hi) = self
            .planes()
            .enumerate()
            .map(|(z, plane)| {
                let mut b = empty;
                for (y, row) in plane.chunks(rw).enumerate().take(ny) {
                    let first = row.iter().position(|w| *w != 0);
                    if let Some(k0) = first {
                        let k1 = row.iter().rposition(|w| *w != 0).unwrap_or(k0);
                        let x0 = k0 * 64 + row[k0].trailing_zeros() as usize;
                        let x1 = k1 * 64 + 63 - row[k1].leading_zeros() as usize;
                        b = merge(b, ([z, y, x0], [z + 1, y + 1, x1 + 1]));
                    }
                }
                b
            })
            .reduce(|| empty, merge);
        (lo[0] != usize::MAX).then(|| [(lo[0], hi[0]), (lo[1], hi[1]), (lo[2], hi[2])])
    }

    fn planes(&self) -> rayon::slice::Chunks<'_, u64> {
        self.words.par_chunks((self.dim.1 * self.row_words).max(1))
    }

    fn planes_mut(&mut self) -> rayon::slice::ChunksMut<'_, u64> {
        let n = (self.dim.1 * self.row_words).max(1);
        self.words.par_chunks_mut(n)
    }

    /// The same voxels, one byte each.
    pub fn to_mask(&self) -> Mask {
        let (nz, ny, nx) = self.dim;
        let mut data =
            Array3::from_shape_vec(self.dim, crate::base::pages::zeroed::<u8>(nz * ny * nx))
                .expect("the mask's shape");
        data.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(|(z, mut plane)| {
                for y in 0..ny {
                    let row = self.row(z, y);
                    for x in 0..nx {
                        plane[(y, x)] = (row[x / 64] >> (x % 64) & 1) as u8;
                    }
                }
            });
        Mask {
            data,
            geometry: self.geometry,
        }
    }

    /// `mask`'s voxels (non-zero bytes), one bit each.
    pub fn from_mask(mask: &Mask) -> Self {
        let mut out = BitMask::empty(mask.dim(), mask.geometry);
        let (ny, rw) = (out.dim.1, out.row_words);
        out.planes_mut().enumerate().for_each(|(z, plane)| {
            for (y, row) in plane.chunks_mut(rw).enumerate().take(ny) {
                crate::mesh::bits_where(mask.data.slice(s![z, y, ..]), row, |v| v != 0);
            }
        });
        out
    }

    /// The voxels of segment `id` of `labels`, one bit each: what
    /// [`LabelMap::mask`](super::LabelMap::mask) gives in a byte per voxel,
    /// at an eighth of its size (the app meshes a segment from this instead
    /// of a byte copy of the label map's size).
    pub fn of_label(labels: &super::LabelMap, id: u16) -> Self {
        let mut out = BitMask::empty(labels.dim(), labels.geometry);
        let (ny, rw) = (out.dim.1, out.row_words);
        out.planes_mut().enumerate().for_each(|(z, plane)| {
            for (y, row) in plane.chunks_mut(rw).enumerate().take(ny) {
                match &labels.labels {
                    super::Labels::U8(a) => {
                        crate::mesh::bits_where(a.slice(s![z, y, ..]), row, |v| u16::from(v) == id)
                    }
                    super::Labels::U16(a) => {
                        crate::mesh::bits_where(a.slice(s![z, y, ..]), row, |v| v == id)
                    }
                }
            }
        });
        out
    }

    /// Voxels of `volume` with `lo <= value <= hi`, as [`super::threshold_mask`].
    #[tracing::instrument(level = "info", skip_all)]
    pub fn threshold(volume: &Volume, lo: f64, hi: f64) -> Self {
        let mut out = BitMask::empty(volume.dim(), volume.geometry);
        let (ny, rw) = (out.dim.1, out.row_words);
        with_voxels!(&volume.voxels, a => {
            out.planes_mut().enumerate().for_each(|(z, plane)| {
                for (y, row) in plane.chunks_mut(rw).enumerate().take(ny) {
                    crate::mesh::bits_where(a.slice(s![z, y, ..]), row, |v| {
                        let v = crate::image::volume::VoxelType::to_f64(v);
                        v >= lo && v <= hi
                    });
                }
            });
        });
        out
    }

    /// Keeps the voxels also set in `other` (same grid).
    pub fn and(&mut self, other: &BitMask) {
        self.words
            .par_iter_mut()
            .zip(&other.words)
            .for_each(|(a, b)| *a &= *b);
    }

    /// Sets `self` to `a` and not `b` (all three on the same grid).
    pub fn set_and_not(&mut self, a: &BitMask, b: &BitMask) {
        self.words
            .par_iter_mut()
            .zip(&a.words)
            .zip(&b.words)
            .for_each(|((o, a), b)| *o = *a & !*b);
    }

    /// Clears every voxel.
    pub fn clear(&mut self) {
        self.words.par_iter_mut().for_each(|w| *w = 0);
    }

    /// Whether every voxel's bit number fits the flood's 4-byte ids.
    pub(crate) fn ids_fit(&self) -> bool {
        u32::try_from(self.words.len().saturating_mul(64)).is_ok()
    }

    /// The bit number of the first voxel set in `self` and not in `seen`,
    /// from word `from` on (scan order); the word to go on from.
    pub(crate) fn next_unseen(&self, seen: &BitMask, from: usize) -> Option<(usize, usize)> {
        (from..self.words.len()).find_map(|k| {
            let w = self.words[k] & !seen.words[k];
            (w != 0).then(|| (k * 64 + w.trailing_zeros() as usize, k))
        })
    }

    /// Fills holes slice by slice (axial planes, 4-connectivity in the
    /// plane), as [`super::fill_holes_2d`] (the same flood): one slice per thread.
    #[tracing::instrument(level = "info", skip_all)]
    pub fn fill_holes_2d(&mut self) {
        let (_, ny, nx) = self.dim;
        let rw = self.row_words;
        self.planes_mut().for_each(|plane| {
            let outside = super::morphology::outside_2d(ny, nx, |y, x| {
                plane[y * rw + x / 64] >> (x % 64) & 1 != 0
            });
            for y in 0..ny {
                for x in 0..nx {
                    if !outside[y * nx + x] {
                        plane[y * rw + x / 64] |= 1 << (x % 64);
                    }
                }
            }
        });
    }
}

impl BitMask {
    /// Keeps the largest 6-connected island, as [`super::keep_largest`]
    /// (ties go to the last in scan order), with two more bit masks.
    #[tracing::instrument(level = "info", skip_all)]
    pub fn keep_largest(&mut self) {
        if !self.ids_fit() {
            *self = BitMask::from_mask(&super::keep_largest(&self.to_mask()));
            return;
        }
        let mut seen = BitMask::empty(self.dim, self.geometry);
        let mut queue = VecDeque::new();
        let (mut best, mut from): (Option<(usize, usize)>, usize) = (None, 0);
        while let Some((seed, word)) = self.next_unseen(&seen, from) {
            let n = flood_bits(self, &mut seen, seed, &mut queue, |_| {});
            if best.is_none_or(|(_, m)| n >= m) {
                best = Some((seed, n));
            }
            from = word;
        }
        seen.clear();
        if let Some((seed, _)) = best {
            flood_bits(self, &mut seen, seed, &mut queue, |_| {});
        }
        *self = seen;
    }
}

/// Floods the 6-connected voxels of `from` not yet in `to`, reachable from
/// bit number `seed`, into `to` (same grid), calling `visit` on each bit
/// number; returns their count. Breadth first with 4-byte ids (see
/// [`BitMask::ids_fit`]): the queue holds a wave front.
pub(crate) fn flood_bits(
    from: &BitMask,
    to: &mut BitMask,
    seed: usize,
    queue: &mut VecDeque<u32>,
    mut visit: impl FnMut(usize),
) -> usize {
    if !from.bit(seed) || to.bit(seed) {
        return 0;
    }
    let (_, ny, nx) = from.dim;
    let row = from.row_bits();
    let plane = ny * row;
    let total = from.words.len() * 64;
    let words = &mut to.words;
    queue.clear();
    words[seed / 64] |= 1 << (seed % 64);
    queue.push_back(seed as u32);
    let mut n = 0;
    while let Some(i) = queue.pop_front() {
        let i = i as usize;
        n += 1;
        visit(i);
        let (x, y) = (i % row, (i / row) % ny);
        let mut go = |j: usize| {
            let (k, b) = (j / 64, 1u64 << (j % 64));
            if from.words[k] & b != 0 && words[k] & b == 0 {
                words[k] |= b;
                queue.push_back(j as u32);
            }
        };
        if x > 0 {
            go(i - 1);
        }
        if x + 1 < nx {
            go(i + 1);
        }
        if y > 0 {
            go(i - row);
        }
        if y + 1 < ny {
            go(i + row);
        }
        if i >= plane {
            go(i - plane);
        }
        if i + plane < total {
            go(i + plane);
        }
    }
    n
}

/// A segment's voxels as [`stratum convert`](crate::convert) carries them:
/// bytes, or bits where a preset made them so beside the scan.
#[derive(Clone, Debug)]
pub enum SegmentMask {
    Bytes(Mask),
    Bits(BitMask),
}

impl From<Mask> for SegmentMask {
    fn from(m: Mask) -> Self {
        SegmentMask::Bytes(m)
    }
}

impl From<BitMask> for SegmentMask {
    fn from(m: BitMask) -> Self {
        SegmentMask::Bits(m)
    }
}

impl SegmentMask {
    pub fn count(&self) -> usize {
        match self {
            SegmentMask::Bytes(m) => m.count(),
            SegmentMask::Bits(m) => m.count(),
        }
    }

    pub fn volume_ml(&self) -> f64 {
        match self {
            SegmentMask::Bytes(m) => m.volume_ml(),
            SegmentMask::Bits(m) => m.volume_ml(),
        }
    }

    pub fn geometry(&self) -> &Geometry {
        match self {
            SegmentMask::Bytes(m) => &m.geometry,
            SegmentMask::Bits(m) => &m.geometry,
        }
    }

    /// The voxels one byte each (a copy for bits).
    pub fn bytes(&self) -> Cow<'_, Mask> {
        match self {
            SegmentMask::Bytes(m) => Cow::Borrowed(m),
            SegmentMask::Bits(m) => Cow::Owned(m.to_mask()),
        }
    }

    pub fn into_bytes(self) -> Mask {
        match self {
            SegmentMask::Bytes(m) => m,
            SegmentMask::Bits(m) => m.to_mask(),
        }
    }
}

/// A box of a [`BitMask`] (origin `at`, size `dim`), as marching cubes
/// reads it: no copy, rows shifted into place as they are read.
pub(crate) struct BitBox<'a> {
    pub mask: &'a BitMask,
    pub at: (usize, usize, usize),
    pub dim: (usize, usize, usize),
}

impl crate::mesh::InsideRows for BitBox<'_> {
    fn dim(&self) -> (usize, usize, usize) {
        self.dim
    }

    fn inside(&self, z: usize, y: usize, x: usize) -> bool {
        self.mask.get(z + self.at.0, y + self.at.1, x + self.at.2)
    }

    fn row_bits(&self, z: usize, y: usize, out: &mut [u64]) {
        let row = self.mask.row(z + self.at.0, y + self.at.1);
        let (k0, shift) = (self.at.2 / 64, self.at.2 % 64);
        for (k, o) in out.iter_mut().enumerate() {
            let low = row.get(k0 + k).copied().unwrap_or(0) >> shift;
            let high = match shift {
                0 => 0,
                _ => row.get(k0 + k + 1).copied().unwrap_or(0) << (64 - shift),
            };
            *o = low | high;
        }
        let nx = self.dim.2;
        if !nx.is_multiple_of(64)
            && let Some(last) = out.get_mut(nx / 64)
        {
            *last &= (1u64 << (nx % 64)) - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::BitMask;
    use crate::image::volume::Geometry;
    use crate::segment::LabelMap;

    #[test]
    fn a_label_as_bits_is_its_byte_mask_as_bits() {
        // 70 voxels to a row: a word and a part of one.
        let mut labels = LabelMap::empty((3, 4, 70), Geometry::default());
        for (i, (z, y, x)) in [(0, 0, 0), (0, 3, 69), (1, 2, 63), (1, 2, 64), (2, 1, 5)]
            .into_iter()
            .enumerate()
        {
            labels.set(z, y, x, if i % 2 == 0 { 3 } else { 7 });
        }
        for id in [3, 7, 9] {
            let bits = BitMask::of_label(&labels, id);
            assert_eq!(bits.to_mask().data, labels.mask(id).data, "label {id}");
        }
        // Past 255 the map holds 16 bits a voxel.
        labels.ensure_fits(300);
        labels.set(2, 3, 40, 300);
        assert_eq!(BitMask::of_label(&labels, 300).count(), 1);
        assert!(BitMask::of_label(&labels, 300).get(2, 3, 40));
        assert_eq!(BitMask::of_label(&labels, 7).count(), 2);
    }
}
