//! Marching cubes. The case table is generated, not copied: on each cube
//! face the crossing points are paired so that inside corners are always
//! separated (a rule that depends only on the face's four corners, so two
//! cubes sharing a face always agree), segments are oriented with the
//! inside on their left seen from outside, chained into loops and fanned
//! into triangles. The result is crack-free and 2-manifold.

use ndarray::{ArrayView1, ArrayView3, s};

use crate::image::volume::VoxelType;

mod table;

use table::{CENTROID, EdgeInfo, edge_infos, table};

/// Extracts the iso-surface `value > iso` of a scalar volume (z, y, x);
/// beyond its borders the field is `outside` (below `iso`), so the surface
/// is always closed. Positions are in (x, y, z) index units.
///
/// Slabs of cube layers run in parallel and are welded on their shared grid
/// layers; within a slab, rows of cubes with no inside corner are skipped.
/// Voxels are read in their own type: inside bits are found row by row, and
/// values are read only at the ends of crossed edges.
#[tracing::instrument(level = "info", skip_all)]
pub fn marching_cubes<T: VoxelType>(
    volume: ArrayView3<T>,
    iso: f32,
    outside: f32,
) -> (Vec<[f32; 3]>, Vec<u32>) {
    debug_assert!(outside <= iso);
    extract(&Scalar {
        volume,
        iso,
        outside,
    })
}

/// The surface of a binary mask (non-zero = inside): the same mesh as
/// [`marching_cubes`] at 0.5 on a 0/1 field, with every vertex at an edge
/// midpoint. Positions are in (x, y, z) index units of `mask`.
#[tracing::instrument(level = "info", skip_all)]
pub fn mask_marching_cubes(mask: ArrayView3<u8>) -> (Vec<[f32; 3]>, Vec<u32>) {
    extract(&Binary { mask })
}

fn extract<F: Field>(field: &F) -> (Vec<[f32; 3]>, Vec<u32>) {
    use rayon::prelude::*;
    let (nz, ny, nx) = field.dim();
    let g = Grid { ny, nx, field };
    // Cube layers 0..nz+1 of the padded grid, in slabs.
    let layers = nz + 1;
    let slabs = (rayon::current_num_threads() * 4).clamp(1, layers);
    let bounds: Vec<(usize, usize)> = (0..slabs)
        .map(|k| (k * layers / slabs, (k + 1) * layers / slabs))
        .filter(|(a, b)| b > a)
        .collect();
    let parts: Vec<Slab> = bounds.par_iter().map(|&(z0, z1)| g.slab(z0, z1)).collect();
    weld(parts)
}

/// Joins the slabs. Slab k's first `shared` vertices are, in the same
/// order, the top-layer vertices of slab k - 1 (listed in `top`), so every
/// global id is known from the counts alone and the slabs are copied in
/// parallel. Each slab is freed once copied, as the output's fresh pages
/// are first touched: the mesh is not held twice (heaptrack found the
/// slabs and the joined mesh together at `stratum convert`'s peak).
fn weld(mut parts: Vec<Slab>) -> (Vec<[f32; 3]>, Vec<u32>) {
    use rayon::prelude::*;
    // First global id of each slab's own (not shared) vertices.
    let mut first_vertex = Vec::with_capacity(parts.len());
    let (mut nv, mut ni) = (0usize, 0usize);
    for p in &parts {
        first_vertex.push(nv);
        nv += p.positions.len() - p.shared;
        ni += p.indices.len();
    }
    let mut positions = crate::base::pages::zeroed::<[f32; 3]>(nv);
    let mut indices = crate::base::pages::zeroed::<u32>(ni);
    let mut position_parts = Vec::with_capacity(parts.len());
    let mut index_parts = Vec::with_capacity(parts.len());
    let (mut rest_p, mut rest_i) = (positions.as_mut_slice(), indices.as_mut_slice());
    for p in &parts {
        let (a, b) = rest_p.split_at_mut(p.positions.len() - p.shared);
        let (c, d) = rest_i.split_at_mut(p.indices.len());
        position_parts.push(a);
        index_parts.push(c);
        (rest_p, rest_i) = (b, d);
    }
    // What a slab's neighbour above needs of it, kept apart from the
    // vertices and triangles that go with each copy.
    let seams: Vec<(Vec<u32>, usize)> = parts
        .iter_mut()
        .map(|p| (std::mem::take(&mut p.top), p.shared))
        .collect();
    position_parts
        .into_par_iter()
        .zip(index_parts)
        .zip(parts)
        .enumerate()
        .for_each(|(k, ((out_p, out_i), part))| {
            out_p.copy_from_slice(&part.positions[part.shared..]);
            drop(part.positions);
            let own = |l: usize| (first_vertex[k] + l - part.shared) as u32;
            let below = k.checked_sub(1).map(|j| (&seams[j], first_vertex[j]));
            for (o, &l) in out_i.iter_mut().zip(&part.indices) {
                let l = l as usize;
                *o = if l >= part.shared {
                    own(l)
                } else {
                    let ((top, shared), first) = below.expect("slab 0 shares no vertices");
                    (first + top[l] as usize - shared) as u32
                };
            }
        });
    (positions, indices)
}

const NONE: u32 = u32::MAX;

/// A volume as marching cubes sees it: which voxels are inside, and where
/// the surface crosses an edge between an inside and an outside grid point.
/// Grid points are given in padded coordinates (x, y, z), one more than the
/// voxel index; 0 and n + 1 lie outside the volume.
trait Field: Sync {
    /// (nz, ny, nx)
    fn dim(&self) -> (usize, usize, usize);
    /// One bit per voxel of row (z, y), set when inside, into `out`
    /// (`nx.div_ceil(64)` words).
    fn row_bits(&self, z: usize, y: usize, out: &mut [u64]);
    /// Where (0..1) on the edge from grid point `a` one step along `axis`
    /// the surface crosses it.
    fn crossing(&self, a: [usize; 3], axis: usize) -> f32;

    /// Inside bits of padded grid layer `z`, in rows of `(nx + 2).div_ceil(64)`
    /// words; `row` is scratch of `nx.div_ceil(64)` words.
    fn layer_bits(&self, z: usize, bits: &mut [u64], row: &mut [u64]) {
        let (nz, ny, nx) = self.dim();
        let words = (nx + 2).div_ceil(64);
        bits.fill(0);
        if z == 0 || z > nz {
            return;
        }
        for y in 1..=ny {
            self.row_bits(z - 1, y - 1, row);
            // Shift by one column into the padded row.
            let out = &mut bits[y * words..(y + 1) * words];
            let mut carry = 0;
            for (o, w) in out.iter_mut().zip(row.iter().chain(std::iter::once(&0))) {
                *o = (w << 1) | carry;
                carry = w >> 63;
            }
        }
    }
}

/// Voxels of any type against an iso value.
struct Scalar<'a, T> {
    volume: ArrayView3<'a, T>,
    iso: f32,
    outside: f32,
}

impl<T: VoxelType> Scalar<'_, T> {
    fn value(&self, p: [usize; 3]) -> f32 {
        let (nz, ny, nx) = self.volume.dim();
        let [x, y, z] = p;
        if (1..=nx).contains(&x) && (1..=ny).contains(&y) && (1..=nz).contains(&z) {
            self.volume[[z - 1, y - 1, x - 1]].to_f32()
        } else {
            self.outside
        }
    }
}

impl<T: VoxelType> Field for Scalar<'_, T> {
    fn dim(&self) -> (usize, usize, usize) {
        self.volume.dim()
    }

    fn row_bits(&self, z: usize, y: usize, out: &mut [u64]) {
        // Compared in the voxels' own type; a level below an integer type's
        // range puts every voxel inside.
        let floor = T::floor_of(self.iso);
        let all = floor.to_f32() > self.iso;
        bits_where(self.volume.slice(s![z, y, ..]), out, |v| v > floor || all);
    }

    fn crossing(&self, a: [usize; 3], axis: usize) -> f32 {
        let mut b = a;
        b[axis] += 1;
        let (va, vb) = (self.value(a), self.value(b));
        ((self.iso - va) / (vb - va)).clamp(0.0, 1.0)
    }
}

/// The scan within a segment, clamped as it is read (no copy): mask voxels
/// count as at least `hi`, the others as at most `lo`, with
/// `lo <= iso < hi`, so inside is exactly the mask and the crossings come
/// from the intensities.
struct Constrained<'a, T, M> {
    volume: ArrayView3<'a, T>,
    mask: &'a M,
    iso: f32,
    lo: f32,
    hi: f32,
}

/// A mask as marching cubes reads it: a voxel at a time at crossed edges,
/// a row of bits at a time to find the inside.
pub(crate) trait InsideRows: Sync {
    /// (nz, ny, nx)
    fn dim(&self) -> (usize, usize, usize);
    fn inside(&self, z: usize, y: usize, x: usize) -> bool;
    /// One bit per voxel of row (z, y), set when inside, into `out`
    /// (`nx.div_ceil(64)` words, the bits past `nx` clear).
    fn row_bits(&self, z: usize, y: usize, out: &mut [u64]);
}

impl InsideRows for ArrayView3<'_, u8> {
    fn dim(&self) -> (usize, usize, usize) {
        ArrayView3::dim(self)
    }

    fn inside(&self, z: usize, y: usize, x: usize) -> bool {
        self[(z, y, x)] != 0
    }

    fn row_bits(&self, z: usize, y: usize, out: &mut [u64]) {
        bits_where(self.slice(s![z, y, ..]), out, |m| m != 0);
    }
}

impl<T: VoxelType, M: InsideRows> Constrained<'_, T, M> {
    fn value(&self, p: [usize; 3]) -> f32 {
        let (nz, ny, nx) = self.volume.dim();
        let [x, y, z] = p;
        if (1..=nx).contains(&x) && (1..=ny).contains(&y) && (1..=nz).contains(&z) {
            let i = [z - 1, y - 1, x - 1];
            let v = self.volume[i].to_f32();
            if self.mask.inside(z - 1, y - 1, x - 1) {
                v.max(self.hi)
            } else {
                v.min(self.lo)
            }
        } else {
            self.lo.min(self.iso)
        }
    }
}

impl<T: VoxelType, M: InsideRows> Field for Constrained<'_, T, M> {
    fn dim(&self) -> (usize, usize, usize) {
        self.mask.dim()
    }

    fn row_bits(&self, z: usize, y: usize, out: &mut [u64]) {
        self.mask.row_bits(z, y, out);
    }

    fn crossing(&self, a: [usize; 3], axis: usize) -> f32 {
        let mut b = a;
        b[axis] += 1;
        let (va, vb) = (self.value(a), self.value(b));
        ((self.iso - va) / (vb - va)).clamp(0.0, 1.0)
    }
}

/// The iso-surface of `volume` at `level` constrained to `mask` (same
/// shape): inside is exactly the mask, and each vertex sits where the
/// intensities cross the level between a mask voxel and its neighbour.
/// Reads the scan in place. Positions are in (x, y, z) index units.
#[tracing::instrument(level = "info", skip_all)]
pub fn constrained_marching_cubes<T: VoxelType>(
    volume: ArrayView3<T>,
    mask: ArrayView3<u8>,
    level: f32,
) -> (Vec<[f32; 3]>, Vec<u32>) {
    constrained_marching_cubes_in(volume, &mask, level)
}

/// [`constrained_marching_cubes`] with the mask read through [`InsideRows`]
/// (bytes, or a bit mask's box).
pub(crate) fn constrained_marching_cubes_in<T: VoxelType, M: InsideRows>(
    volume: ArrayView3<T>,
    mask: &M,
    level: f32,
) -> (Vec<[f32; 3]>, Vec<u32>) {
    debug_assert_eq!(volume.dim(), mask.dim());
    let (iso, lo, hi) = T::around(level);
    extract(&Constrained {
        volume,
        mask,
        iso,
        lo: lo.to_f32(),
        hi: hi.to_f32(),
    })
}

/// A binary mask: every crossing is an edge midpoint.
struct Binary<'a> {
    mask: ArrayView3<'a, u8>,
}

impl Field for Binary<'_> {
    fn dim(&self) -> (usize, usize, usize) {
        self.mask.dim()
    }

    fn row_bits(&self, z: usize, y: usize, out: &mut [u64]) {
        bits_where(self.mask.slice(s![z, y, ..]), out, |v| v != 0);
    }

    fn crossing(&self, _: [usize; 3], _: usize) -> f32 {
        0.5
    }
}

/// One bit per value of `row`, set where `inside` holds, into words of 64.
pub(crate) fn bits_where<T: Copy>(row: ArrayView1<T>, out: &mut [u64], inside: impl Fn(T) -> bool) {
    match row.as_slice() {
        // 64 tests into bytes (vectorised), then into one word.
        Some(r) => out.iter_mut().zip(r.chunks(64)).for_each(|(w, c)| {
            let mut flags = [0u8; 64];
            for (f, v) in flags.iter_mut().zip(c) {
                *f = inside(*v) as u8;
            }
            *w = flag_bits(&flags);
        }),
        None => {
            out.fill(0);
            for (x, v) in row.iter().enumerate() {
                out[x / 64] |= (inside(*v) as u64) << (x % 64);
            }
        }
    }
}

/// Bit i set where flag i (0 or 1) is 1, 8 flags per multiply: for bytes
/// of 0 or 1, `w * 0x0102040810204080` carries byte i's bit to bit 56 + i
/// with no two products overlapping, so the top byte is the 8 flags.
fn flag_bits(flags: &[u8; 64]) -> u64 {
    let mut m = 0u64;
    for (k, part) in flags.chunks_exact(8).enumerate() {
        let w = u64::from_le_bytes(part.try_into().expect("8 bytes"));
        m |= (w.wrapping_mul(0x0102_0408_1020_4080) >> 56) << (8 * k);
    }
    m
}

struct Grid<'a, F> {
    ny: usize,
    nx: usize,
    field: &'a F,
}

/// One slab's output: vertices and triangles. Its first `shared` vertices
/// are those of the crossed x/y edges of its bottom grid layer, in
/// [`crossed_edges`] order; `top` lists the vertex ids of the crossed x/y
/// edges of its top grid layer in the same order.
struct Slab {
    positions: Vec<[f32; 3]>,
    indices: Vec<u32>,
    shared: usize,
    top: Vec<u32>,
}

/// Calls `f(x, y, axis)` for every x edge (axis 0) and y edge (axis 1) of a
/// layer whose ends differ, row by row, x edges before y edges, by x.
fn crossed_edges(bits: &[u64], words: usize, py: usize, mut f: impl FnMut(usize, usize, usize)) {
    for y in 0..py {
        let row = &bits[y * words..(y + 1) * words];
        for k in 0..words {
            let next = row.get(k + 1).map_or(0, |w| w << 63);
            let mut m = row[k] ^ ((row[k] >> 1) | next);
            // The last column has no x edge: the padding makes its bit 0
            // and the one beyond the row too.
            while m != 0 {
                f(k * 64 + m.trailing_zeros() as usize, y, 0);
                m &= m - 1;
            }
        }
        if y + 1 < py {
            let up = &bits[(y + 1) * words..(y + 2) * words];
            for k in 0..words {
                let mut m = row[k] ^ up[k];
                while m != 0 {
                    f(k * 64 + m.trailing_zeros() as usize, y, 1);
                    m &= m - 1;
                }
            }
        }
    }
}

/// Where the surface crosses the edge from padded grid point `a` along
/// `axis`, in the volume's index units (the grid was padded by one).
fn crossing_point<F: Field>(field: &F, a: [usize; 3], axis: usize) -> [f32; 3] {
    let mut p = a.map(|v| v as f32);
    p[axis] += field.crossing(a, axis);
    p.map(|v| v - 1.0)
}

/// Bits x and x + 1 of a row of words.
#[inline]
fn pair(row: &[u64], x: usize) -> usize {
    let (w, b) = (x / 64, x % 64);
    let v = if b == 63 {
        (row[w] >> 63) | ((row[w + 1] & 1) << 1)
    } else {
        (row[w] >> b) & 3
    };
    v as usize
}

impl<F: Field> Grid<'_, F> {
    fn slab(&self, z0: usize, z1: usize) -> Slab {
        let table = table();
        let edge_info = edge_infos();
        let field = self.field;
        let (px, py) = (self.nx + 2, self.ny + 2);
        let plane = py * px;
        let mut positions: Vec<[f32; 3]> = Vec::new();
        let mut indices: Vec<u32> = Vec::new();
        let mut lo_xy = vec![[NONE; 2]; plane];
        let mut hi_xy = vec![[NONE; 2]; plane];
        let mut zed = vec![NONE; plane];
        // Slots written per layer, so clearing costs what was used, not a plane.
        let (mut touched_lo, mut touched_hi, mut touched_z): (Vec<usize>, Vec<usize>, Vec<usize>) =
            (Vec::new(), Vec::new(), Vec::new());
        let words = px.div_ceil(64);
        let mut bits_lo = vec![0u64; py * words];
        let mut bits_hi = vec![0u64; py * words];
        let mut scratch = vec![0u64; self.nx.div_ceil(64)];
        field.layer_bits(z0, &mut bits_lo, &mut scratch);
        // The bottom layer's vertices first, in the order the slab below
        // lists its top ones.
        crossed_edges(&bits_lo, words, py, |x, y, axis| {
            let i = y * px + x;
            positions.push(crossing_point(field, [x, y, z0], axis));
            lo_xy[i][axis] = (positions.len() - 1) as u32;
            touched_lo.push(i);
        });
        let shared = positions.len();
        let mut cubes_of_row: Vec<usize> = Vec::with_capacity(px);
        for z in z0..z1 {
            field.layer_bits(z + 1, &mut bits_hi, &mut scratch);
            for i in touched_z.drain(..) {
                zed[i] = NONE;
            }
            for y in 0..py - 1 {
                // Cube x of this row crosses the surface unless its 8 corners
                // agree: found 64 cubes at a time from the corner bits.
                let rows = [
                    &bits_lo[y * words..(y + 1) * words],
                    &bits_lo[(y + 1) * words..(y + 2) * words],
                    &bits_hi[y * words..(y + 1) * words],
                    &bits_hi[(y + 1) * words..(y + 2) * words],
                ];
                let any = |k: usize| {
                    if k < words {
                        rows[0][k] | rows[1][k] | rows[2][k] | rows[3][k]
                    } else {
                        0
                    }
                };
                let all = |k: usize| {
                    if k < words {
                        rows[0][k] & rows[1][k] & rows[2][k] & rows[3][k]
                    } else {
                        0
                    }
                };
                cubes_of_row.clear();
                for k in 0..words {
                    let (a, a_next, b, b_next) = (any(k), any(k + 1), all(k), all(k + 1));
                    let any_pair = a | (a >> 1) | (a_next << 63);
                    let all_pair = b & ((b >> 1) | (b_next << 63));
                    let mut mixed = any_pair & !all_pair;
                    while mixed != 0 {
                        let x = k * 64 + mixed.trailing_zeros() as usize;
                        mixed &= mixed - 1;
                        if x + 1 < px {
                            cubes_of_row.push(x);
                        }
                    }
                }
                for &x in &cubes_of_row {
                    // Corner c = (x + (c & 1), y + (c >> 1 & 1), z + (c >> 2)).
                    let case = pair(rows[0], x)
                        | pair(rows[1], x) << 2
                        | pair(rows[2], x) << 4
                        | pair(rows[3], x) << 6;
                    let entry = &table[case];
                    // Vertex id of an edge code, created on first use.
                    let mut vertex = |e: u8, positions: &mut Vec<[f32; 3]>| -> u32 {
                        let EdgeInfo { axis, ca } = edge_info[e as usize];
                        let gx = x + ca[0];
                        let gy = y + ca[1];
                        let i = gy * px + gx;
                        let (slot, touched): (&mut u32, &mut Vec<usize>) = match (axis, ca[2]) {
                            (2, _) => (&mut zed[i], &mut touched_z),
                            (k, 0) => (&mut lo_xy[i][k], &mut touched_lo),
                            (k, _) => (&mut hi_xy[i][k], &mut touched_hi),
                        };
                        if *slot == NONE {
                            touched.push(i);
                            positions.push(crossing_point(field, [gx, gy, z + ca[2]], axis));
                            *slot = (positions.len() - 1) as u32;
                        }
                        *slot
                    };
                    // Every crossed edge is on one loop: their vertices first.
                    let mut ids = [NONE; 12];
                    for lp in &entry.loops {
                        for &e in lp {
                            ids[e as usize] = vertex(e, &mut positions);
                        }
                    }
                    let mut centres = [NONE; 4];
                    for tri in &entry.tris {
                        for &e in tri {
                            let id = if e >= CENTROID {
                                let k = (e - CENTROID) as usize;
                                if centres[k] == NONE {
                                    let lp = &entry.loops[k];
                                    let c = lp.iter().fold([0f32; 3], |c, &e| {
                                        let p = positions[ids[e as usize] as usize];
                                        [c[0] + p[0], c[1] + p[1], c[2] + p[2]]
                                    });
                                    let n = lp.len() as f32;
                                    positions.push([c[0] / n, c[1] / n, c[2] / n]);
                                    centres[k] = (positions.len() - 1) as u32;
                                }
                                centres[k]
                            } else {
                                ids[e as usize]
                            };
                            indices.push(id);
                        }
                    }
                }
            }
            std::mem::swap(&mut bits_lo, &mut bits_hi);
            std::mem::swap(&mut lo_xy, &mut hi_xy);
            for i in touched_lo.drain(..) {
                hi_xy[i] = [NONE; 2];
            }
            std::mem::swap(&mut touched_lo, &mut touched_hi);
        }
        // After the last swap, the top layer's bits and x/y edges are in
        // bits_lo and lo_xy.
        let mut top = Vec::new();
        crossed_edges(&bits_lo, words, py, |x, y, axis| {
            let id = lo_xy[y * px + x][axis];
            debug_assert_ne!(id, NONE, "a crossed edge of the top layer has a vertex");
            top.push(id);
        });
        // Grown by doubling: up to twice the mesh until joined, else.
        positions.shrink_to_fit();
        indices.shrink_to_fit();
        Slab {
            positions,
            indices,
            shared,
            top,
        }
    }
}
