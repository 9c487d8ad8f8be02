//! Each slice's intensity profiles along its rows and columns: what finds
//! the jumps between neighbouring slices (their 1D shifts, in
//! [`super::profile_shift`]) before any 2D registration.

use ndarray::Array3;
use rayon::prelude::*;

use super::{SCALE, Window};
use crate::image::volume::{VoxelType, Voxels};

/// The sums of one slice's clamped intensities down each column (`cols`,
/// one per x) and along each row (`rows`, one per `row_step` rows: large
/// slices are read every other row, which halves the memory read and still
/// places a shift to a few hundredths of a pixel).
#[derive(Clone, Debug, Default)]
pub struct Profiles {
    pub cols: Vec<f32>,
    pub rows: Vec<f32>,
    pub row_step: usize,
}

/// Profiles of every slice, in one parallel pass over the voxels. Their
/// unit does not matter (only shifts are read from them): 16-bit CT is
/// summed in HU above the window's floor, in integers, which vectorises.
pub fn profiles(voxels: &Voxels, w: Window) -> Vec<Profiles> {
    match voxels {
        Voxels::I16(a) => {
            if let Some((lo, hi)) = window_i16(w) {
                return profiles_i16(a, lo, hi);
            }
            let (lo, hi) = (w.lo.round() as i32, w.hi.round() as i32);
            profiles_with(a, move |row: &[i16], line: &mut [i32]| {
                for (l, v) in line.iter_mut().zip(row) {
                    *l = (*v as i32).clamp(lo, hi) - lo;
                }
            })
        }
        other => crate::with_voxels!(other, a => {
            let scale = w.level();
            profiles_with(a, move |row: &[_], line: &mut [i32]| {
                for (l, v) in line.iter_mut().zip(row) {
                    *l = ((VoxelType::to_f32(*v) - w.lo) * scale).clamp(0.0, SCALE) as i32;
                }
            })
        }),
    }
}

/// Large slices are read every other row (see [`Profiles`]).
fn row_step(nx: usize, ny: usize) -> usize {
    if nx * ny >= 400 * 400 { 2 } else { 1 }
}

/// A slice's row as a contiguous slice (a copy where the layout is not).
pub(super) fn contiguous<'a, T: Copy>(
    row: ndarray::ArrayView1<'a, T>,
    copy: &'a mut Vec<T>,
) -> &'a [T] {
    match row.to_slice() {
        Some(r) => r,
        None => {
            copy.clear();
            copy.extend(row.iter().copied());
            copy
        }
    }
}

/// The 16-bit window of `w` (rounded), where it lies in that range: the
/// profiles of 16-bit voxels are then summed in 16-bit lanes.
pub fn window_i16(w: Window) -> Option<(i16, i16)> {
    let (lo, hi) = (w.lo.round() as i32, w.hi.round() as i32);
    let range = i16::MIN as i32..=i16::MAX as i32;
    (range.contains(&lo) && range.contains(&hi) && lo <= hi).then_some((lo as i16, hi as i16))
}

fn profiles_i16(a: &Array3<i16>, lo: i16, hi: i16) -> Vec<Profiles> {
    let (_, ny, nx) = a.dim();
    a.outer_iter()
        .into_par_iter()
        .map(|slice| match slice.to_slice() {
            Some(data) => slice_profiles_i16(data, ny, nx, (lo, hi)),
            None => {
                let data: Vec<i16> = slice.iter().copied().collect();
                slice_profiles_i16(&data, ny, nx, (lo, hi))
            }
        })
        .collect()
}

/// One slice's profiles (`ny` rows of `nx` voxels, row-major): its rows
/// in one band (see [`SliceSums`]).
pub fn slice_profiles_i16(data: &[i16], ny: usize, nx: usize, window: (i16, i16)) -> Profiles {
    let mut sums = SliceSums::new(ny, nx, window);
    sums.add(data);
    sums.finish()
}

/// The profiles of one 16-bit slice, summed a band of rows at a time: the
/// loader hands each band over as soon as it has decoded it, while it is
/// still in the core's first cache (a whole 512 x 512 slice has left it).
/// The same sums as [`profiles_with`] makes for 16-bit voxels whose window
/// lies in their range: each value clamped in 16 bits (eight to a vector
/// on any x86-64, sixteen with AVX2), the column sums kept in 16 bits for
/// as many rows as cannot overflow them, then added to wide ones. The
/// window's floor is taken off once per sum rather than once per value:
/// 16-bit sums wrap, and a sum known to lie in 0..2^16 is exact once the
/// floor times the count of values is taken off it. Exact, so the
/// profiles are the same integers however the rows are cut into bands.
#[derive(Clone, Debug)]
pub struct SliceSums {
    nx: usize,
    ny: usize,
    window: (i16, i16),
    row_step: usize,
    /// Rows the column sums can take in 16 bits before they are flushed.
    block: usize,
    /// The column sums, where every one of them is an integer under 2^24
    /// (exact in f32: the profile itself, no conversion at the end).
    cols: Vec<f32>,
    /// The column sums otherwise (`cols` is then empty).
    wide: Vec<u64>,
    /// Clamped values added without their floor (see above), wrapping.
    part: Vec<u16>,
    in_part: usize,
    rows: Vec<f32>,
    /// Rows seen so far (summed or stepped over).
    seen: usize,
    /// The next row to sum.
    next: usize,
    /// A row's sum fits ROW_LANES lanes of 16 bits.
    narrow_rows: bool,
}

/// Lanes of a row's sum in 16 bits: two AVX2 vectors.
const ROW_LANES: usize = 32;

impl SliceSums {
    /// For a slice of `ny` rows of `nx` voxels, clamped to `window`.
    pub fn new(ny: usize, nx: usize, window: (i16, i16)) -> SliceSums {
        let row_step = row_step(nx, ny);
        let span = (window.1 as i32 - window.0 as i32).max(1) as u32;
        let exact_f32 = (ny.div_ceil(row_step) as u64).saturating_mul(span as u64) < 1 << 24;
        SliceSums {
            nx,
            ny,
            window,
            row_step,
            block: (u16::MAX as u32 / span).max(1) as usize,
            cols: if exact_f32 { vec![0.0; nx] } else { Vec::new() },
            wide: if exact_f32 { Vec::new() } else { vec![0; nx] },
            part: vec![0; nx],
            in_part: 0,
            rows: Vec::with_capacity(ny / row_step + 1),
            seen: 0,
            next: 0,
            narrow_rows: (nx.div_ceil(ROW_LANES) as u64) * (span as u64) <= u16::MAX as u64,
        }
    }

    /// The slice's next rows (whole rows, row-major, in order); rows past
    /// the slice's `ny` are not counted.
    pub fn add(&mut self, data: &[i16]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2, checked just above.
            return unsafe { self.add_avx2(data) };
        }
        self.add_rows(data)
    }

    /// [`Self::add_rows`] compiled for AVX2: sixteen lanes to a vector
    /// instead of the baseline's four (it widens to 32 bits for the row
    /// sums), which more than halves the time the loader spends on the
    /// profiles. The same integer arithmetic, so the same sums.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn add_avx2(&mut self, data: &[i16]) {
        self.add_rows(data)
    }

    #[inline(always)]
    fn add_rows(&mut self, data: &[i16]) {
        if self.nx == 0 {
            return;
        }
        for r in data.chunks_exact(self.nx) {
            if self.seen >= self.ny {
                break;
            }
            self.seen += 1;
            // The rows to sum counted ahead: a remainder by the step at
            // run time was a division per row.
            if self.seen - 1 == self.next {
                self.next += self.row_step;
                self.sum_row(r);
            }
        }
    }

    /// The row sums of ROW_LANES lanes that each took `count` values
    /// without the floor (`lo`), widened: each lane's sum lies in
    /// 0..2^16 (see `new`), so taking the floor off in 16 bits is exact.
    #[inline(always)]
    fn lane_sum(lanes: &[u16; ROW_LANES], count: usize, lo: i16) -> u32 {
        let floor = (count as u16).wrapping_mul(lo as u16);
        lanes.iter().map(|&l| l.wrapping_sub(floor) as u32).sum()
    }

    /// One row.
    #[inline(always)]
    fn sum_row(&mut self, r: &[i16]) {
        let (lo, hi) = self.window;
        // max/min, not clamp: clamp's check of its bounds in the loop
        // keeps it from vectorising.
        let clamped = |v: i16| v.max(lo).min(hi) as u16;
        let level = |v: i16| v.max(lo).min(hi).wrapping_sub(lo) as u16;
        let sum = if self.narrow_rows {
            // The row's sum in ROW_LANES lanes of 16 bits, which
            // cannot overflow (see `new`), widened once at the end.
            let mut lanes = [0u16; ROW_LANES];
            let (ps, vs) = (
                self.part.chunks_exact_mut(ROW_LANES),
                r.chunks_exact(ROW_LANES),
            );
            let mut tail = 0u32;
            for (&v, p) in vs.remainder().iter().zip(ps.into_remainder()) {
                *p = p.wrapping_add(clamped(v));
                tail += level(v) as u32;
            }
            let (ps, vs) = (
                self.part.chunks_exact_mut(ROW_LANES),
                r.chunks_exact(ROW_LANES),
            );
            for (ps, vs) in ps.zip(vs) {
                for k in 0..ROW_LANES {
                    let c = clamped(vs[k]);
                    ps[k] = ps[k].wrapping_add(c);
                    lanes[k] = lanes[k].wrapping_add(c);
                }
            }
            Self::lane_sum(&lanes, self.nx / ROW_LANES, lo) + tail
        } else {
            // nx < 2^16 values below 2^16 each: no overflow in 32 bits.
            let mut sum = 0u32;
            for (p, &v) in self.part.iter_mut().zip(r) {
                *p = p.wrapping_add(clamped(v));
                sum = sum.wrapping_add(level(v) as u32);
            }
            sum
        };
        self.rows.push(sum as f32);
        self.in_part += 1;
        if self.in_part == self.block {
            self.flush();
        }
    }

    /// Adds the 16-bit column sums, their floor taken off, to the wide ones.
    fn flush(&mut self) {
        let floor = (self.in_part as u16).wrapping_mul(self.window.0 as u16);
        if self.wide.is_empty() {
            for (c, p) in self.cols.iter_mut().zip(self.part.iter_mut()) {
                *c += p.wrapping_sub(floor) as f32;
                *p = 0;
            }
        } else {
            for (c, p) in self.wide.iter_mut().zip(self.part.iter_mut()) {
                *c += p.wrapping_sub(floor) as u64;
                *p = 0;
            }
        }
        self.in_part = 0;
    }

    /// The profiles of the rows seen.
    pub fn finish(mut self) -> Profiles {
        self.flush();
        let cols = if self.wide.is_empty() {
            self.cols
        } else {
            self.wide.iter().map(|&c| c as f32).collect()
        };
        Profiles {
            cols,
            rows: self.rows,
            row_step: self.row_step,
        }
    }
}

/// [`slice_profiles_i16`] with the baseline build's loop, whatever the CPU.
#[cfg(test)]
fn sums_i16(data: &[i16], ny: usize, nx: usize, window: (i16, i16)) -> Profiles {
    let mut sums = SliceSums::new(ny, nx, window);
    sums.add_rows(data);
    sums.finish()
}

fn profiles_with<T: VoxelType>(
    a: &Array3<T>,
    level: impl Fn(&[T], &mut [i32]) + Sync,
) -> Vec<Profiles> {
    let (_, ny, nx) = a.dim();
    let row_step = row_step(nx, ny);
    a.outer_iter()
        .into_par_iter()
        .map(|slice| {
            let mut cols = vec![0i32; nx];
            let mut rows = Vec::with_capacity(ny / row_step + 1);
            let mut line = vec![0i32; nx];
            let mut copy: Vec<T> = Vec::new();
            for row in slice.outer_iter().step_by(row_step) {
                level(contiguous(row, &mut copy), &mut line);
                for (c, l) in cols.iter_mut().zip(&line) {
                    *c += *l;
                }
                rows.push(line.iter().sum::<i32>() as f32);
            }
            Profiles {
                cols: cols.into_iter().map(|c| c as f32).collect(),
                rows,
                row_step,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_in_16_bit_lanes_are_the_wide_sums_exactly() {
        // Values over the whole i16 range, rows enough to flush the 16-bit
        // column sums several times, slices read every row and every other.
        let mut next = super::super::test_values(0x2545_f491_4f6c_dd1d);
        // 1100 rows of the whole range: column sums past 2^24, kept in 64 bits.
        for (nz, ny, nx) in [(3, 90, 70), (2, 420, 400), (2, 1100, 20)] {
            let data: Vec<i16> = (0..nz * ny * nx)
                .map(|_| (next() >> 48) as u16 as i16)
                .collect();
            let a = Array3::from_shape_vec((nz, ny, nx), data).unwrap();
            for (lo, hi) in [(-950, 1500), (-32768, 32767), (100, 100), (-5, 3000)] {
                let wide = profiles_with(&a, |row: &[i16], line: &mut [i32]| {
                    for (l, v) in line.iter_mut().zip(row) {
                        *l = (*v as i32).clamp(lo, hi) - lo;
                    }
                });
                let narrow = profiles_i16(&a, lo as i16, hi as i16);
                // The baseline build's loop too, where the CPU has AVX2.
                for (z, w) in wide.iter().enumerate() {
                    let slice = a.index_axis(ndarray::Axis(0), z);
                    let data = slice.as_slice().unwrap();
                    let any = sums_i16(data, ny, nx, (lo as i16, hi as i16));
                    assert_eq!((&w.rows, &w.cols), (&any.rows, &any.cols));
                    // Handed over in bands of rows, as the loader does:
                    // odd sizes, so bands start on rows that are stepped over.
                    for band in [1, 7, 64, ny] {
                        let mut sums = SliceSums::new(ny, nx, (lo as i16, hi as i16));
                        for rows in data.chunks(band * nx) {
                            sums.add(rows);
                        }
                        let banded = sums.finish();
                        assert_eq!(banded.row_step, w.row_step);
                        assert_eq!((&w.rows, &w.cols), (&banded.rows, &banded.cols), "{band}");
                    }
                }
                for (w, n) in wide.iter().zip(&narrow) {
                    assert_eq!(w.row_step, n.row_step);
                    assert_eq!(w.rows, n.rows, "window {lo}..{hi}");
                    assert_eq!(w.cols, n.cols, "window {lo}..{hi}");
                }
            }
        }
    }
}
