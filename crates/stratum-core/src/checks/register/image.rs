//! The slice images the 2D registration runs on: a slice's clamped,
//! scaled intensities averaged over blocks, and their halvings (the
//! pyramid), made whole or only from the coarse level down.

use ndarray::Array3;

use super::profiles::contiguous;
use super::{COARSE_SIDE, Image, SCALE, WORK_SIDE, Window};
use crate::image::volume::VoxelType;

/// One slice as clamped, scaled intensities, averaged over blocks so no
/// side exceeds [`WORK_SIDE`]; `px` is the slice's pixel size (mm).
pub fn slice_image<T: VoxelType>(a: &Array3<T>, z: usize, w: Window, px: [f64; 2]) -> Image {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { slice_image_avx2(a, z, w, px) };
    }
    image_of(a, z, w, px)
}

/// [`image_of`] compiled for AVX2 (eight lanes to a vector instead of
/// four): the same arithmetic, no fused steps, so the same image.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn slice_image_avx2<T: VoxelType>(
    a: &Array3<T>,
    z: usize,
    w: Window,
    px: [f64; 2],
) -> Image {
    image_of(a, z, w, px)
}

#[inline(always)]
fn image_of<T: VoxelType>(a: &Array3<T>, z: usize, w: Window, px: [f64; 2]) -> Image {
    let mut data = Vec::new();
    let (ow, oh, f) = rows_of(a, z, w, |row| data.extend_from_slice(row));
    Image {
        data,
        w: ow,
        h: oh,
        px: [px[0] * f as f64, px[1] * f as f64],
    }
}

/// The rows of [`slice_image`]'s image of slice `z`, each handed to `emit`
/// as soon as it is summed; returns the image's width, height and block
/// size.
#[inline(always)]
fn rows_of<T: VoxelType>(
    a: &Array3<T>,
    z: usize,
    w: Window,
    mut emit: impl FnMut(&[f32]),
) -> (usize, usize, usize) {
    let scale = w.level();
    let slice = a.index_axis(ndarray::Axis(0), z);
    let (h, wd) = slice.dim();
    let f = h.max(wd).div_ceil(WORK_SIDE).max(1);
    let (oh, ow) = ((h / f).max(1), (wd / f).max(1));
    let norm = 1.0 / (f * f) as f32;
    let mut copy: Vec<T> = Vec::new();
    let mut line = vec![0f32; wd];
    let mut out = vec![0f32; ow];
    let mut rows = 0;
    for (y, row) in slice.outer_iter().enumerate().take(oh * f) {
        // The row's levels first (a loop that vectorises), then the blocks.
        for (l, v) in line.iter_mut().zip(contiguous(row, &mut copy)) {
            *l = ((v.to_f32() - w.lo) * scale).clamp(0.0, SCALE) * norm;
        }
        match f {
            1 => add_blocks::<1>(&mut out, &line),
            2 => add_blocks::<2>(&mut out, &line),
            4 => add_blocks::<4>(&mut out, &line),
            _ => {
                for (o, block) in out.iter_mut().zip(line.chunks_exact(f)) {
                    *o += block.iter().sum::<f32>();
                }
            }
        }
        if y % f == f - 1 {
            emit(&out);
            out.fill(0.0);
            rows += 1;
        }
    }
    // A slice with fewer rows than a block: its one row, as it was summed.
    if rows < oh {
        emit(&out);
    }
    (ow, oh, f)
}

/// Levels of a slice's [`pyramid`] no larger than [`COARSE_SIDE`] (from
/// the finest of them), made without the finer level above them: its rows
/// are halved as they are summed, two at a time, so that level is never
/// held (a 256 x 256 image is 256 KiB of new pages, and most slices the
/// check registers never need it). The same images as
/// `pyramid(slice_image(..))[coarse_level(..)..]`, to the bit. Also the
/// index of the first of them in the whole pyramid: 0 where the slice
/// image is itself that small.
pub fn coarse_pyramid<T: VoxelType>(
    a: &Array3<T>,
    z: usize,
    w: Window,
    px: [f64; 2],
) -> (usize, Vec<Image>) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { coarse_pyramid_avx2(a, z, w, px) };
    }
    coarse_of(a, z, w, px)
}

/// [`coarse_of`] compiled for AVX2, as [`slice_image_avx2`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn coarse_pyramid_avx2<T: VoxelType>(
    a: &Array3<T>,
    z: usize,
    w: Window,
    px: [f64; 2],
) -> (usize, Vec<Image>) {
    coarse_of(a, z, w, px)
}

#[inline(always)]
fn coarse_of<T: VoxelType>(
    a: &Array3<T>,
    z: usize,
    w: Window,
    px: [f64; 2],
) -> (usize, Vec<Image>) {
    let (_, h, wd) = a.dim();
    let f = h.max(wd).div_ceil(WORK_SIDE).max(1);
    let (oh, ow) = ((h / f).max(1), (wd / f).max(1));
    // The slice image is the coarse level, or there is no level under it.
    if ow.max(oh) <= COARSE_SIDE || ow.min(oh) < 128 {
        return (0, pyramid(image_of(a, z, w, px)));
    }
    let (hw, hh) = (ow / 2, oh / 2);
    let mut data = Vec::with_capacity(hw * hh);
    let mut upper: Vec<f32> = Vec::with_capacity(ow);
    let mut have_upper = false;
    rows_of(a, z, w, |row| {
        if !have_upper {
            upper.clear();
            upper.extend_from_slice(row);
            have_upper = true;
            return;
        }
        have_upper = false;
        if data.len() < hw * hh {
            half_row(&mut data, &upper, row, hw);
        }
    });
    let first = Image {
        data,
        w: hw,
        h: hh,
        px: [px[0] * (2 * f) as f64, px[1] * (2 * f) as f64],
    };
    // At most WORK_SIDE / 2 on its longer side: the coarse level.
    (1, pyramid(first))
}

/// Adds each block of `F` levels of `line` to its pixel of `out`: the
/// same sums as a block size known only at run time, in a loop that
/// vectorises (that one summed a pixel at a time, and was most of the
/// time of making a slice image).
#[inline(always)]
fn add_blocks<const F: usize>(out: &mut [f32], line: &[f32]) {
    for (o, block) in out.iter_mut().zip(line.chunks_exact(F)) {
        // In order from the first, as `Iterator::sum` adds them.
        let mut sum = -0.0f32;
        for &v in block {
            sum += v;
        }
        *o += sum;
    }
}

/// Appends to `out` the `w` means of the 2 x 2 blocks of two rows (as
/// many as the rows hold). Written into place in a loop that vectorises
/// in its caller (an `extend` from a mapped iterator was a call of its
/// own, a pixel at a time, in the baseline build).
#[inline(always)]
pub(super) fn half_row(out: &mut Vec<f32>, upper: &[f32], lower: &[f32], w: usize) {
    let w = w.min(upper.len() / 2).min(lower.len() / 2);
    let start = out.len();
    out.resize(start + w, 0.0);
    let (upper, lower) = (&upper[..2 * w], &lower[..2 * w]);
    for ((o, a), b) in out[start..]
        .iter_mut()
        .zip(upper.chunks_exact(2))
        .zip(lower.chunks_exact(2))
    {
        *o = 0.25 * (a[0] + a[1] + b[0] + b[1]);
    }
}

/// An image and its halvings down to about 64 pixels across.
pub fn pyramid(base: Image) -> Vec<Image> {
    let mut levels = vec![base];
    while let Some(last) = levels.last() {
        if last.w.min(last.h) < 128 {
            break;
        }
        let next = last.half();
        levels.push(next);
    }
    levels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarse_levels_made_alone_are_the_whole_pyramids_levels() {
        // Bit for bit, for slices whose image is halved (c = 1) or is the
        // coarse level itself (c = 0), odd sizes and block sizes of 1, 2, 4.
        let mut next = super::super::test_values(0x9e37_79b9_7f4a_7c15);
        let w = Window {
            lo: -950.0,
            hi: 1500.0,
        };
        for (ny, nx) in [
            (512, 512),
            (515, 513),
            (256, 256),
            (300, 200),
            (100, 90),
            (700, 1024),
        ] {
            let data: Vec<i16> = (0..2 * ny * nx)
                .map(|_| ((next() >> 40) % 3000) as i16 - 1100)
                .collect();
            let a = Array3::from_shape_vec((2, ny, nx), data).unwrap();
            let px = [0.7, 0.6];
            let whole = pyramid(slice_image(&a, 1, w, px));
            let (c, coarse) = coarse_pyramid(&a, 1, w, px);
            let expect = whole
                .iter()
                .position(|l| l.w.max(l.h) <= COARSE_SIDE)
                .unwrap_or(whole.len() - 1);
            assert_eq!(c, expect, "{ny} x {nx}");
            assert_eq!(coarse.len(), whole.len() - c, "{ny} x {nx}");
            for (a, b) in coarse.iter().zip(&whole[c..]) {
                assert_eq!((a.w, a.h, a.px), (b.w, b.h, b.px), "{ny} x {nx}");
                let same = a
                    .data
                    .iter()
                    .zip(&b.data)
                    .all(|(x, y)| x.to_bits() == y.to_bits());
                assert!(same && a.data.len() == b.data.len(), "{ny} x {nx}");
            }
        }
    }
}
