//! Stored pixel samples to voxels: the modality rescale into the narrowest
//! exact voxel type, integer arithmetic when the rescale is integral (the
//! usual CT case), checked against the type's range.

use std::path::Path;

use crate::base::error::{CoreError, Result};

use super::scan::SliceRef;

/// Output voxel types: conversion from a rescaled value, exact or refused.
pub(crate) trait Store: crate::base::pages::Zeroed + Send + Sync + 'static {
    /// Integer voxels: a block's mean is rounded to the nearest.
    const INTEGRAL: bool = true;
    fn store(v: f64) -> Option<Self>;
    fn store_int(v: i64) -> Option<Self>;
    /// `v` as this type, wrapping: only for values already known to fit.
    fn wrap(v: i32) -> Self;
}
macro_rules! store_int {
    ($($t:ty),*) => {$(impl Store for $t {
        #[inline]
        fn store(v: f64) -> Option<Self> {
            if v >= <$t>::MIN as f64 && v <= <$t>::MAX as f64 { Some(v as $t) } else { None }
        }
        #[inline]
        fn store_int(v: i64) -> Option<Self> {
            <$t>::try_from(v).ok()
        }
        #[inline]
        fn wrap(v: i32) -> Self {
            v as $t
        }
    })*};
}
store_int!(u8, i16, u16, i32);
impl Store for f32 {
    const INTEGRAL: bool = false;
    #[inline]
    fn store(v: f64) -> Option<Self> {
        Some(v as f32)
    }
    #[inline]
    fn store_int(v: i64) -> Option<Self> {
        Some(v as f32)
    }
    #[inline]
    fn wrap(v: i32) -> Self {
        v as f32
    }
}

/// Sample layout of a frame.
#[derive(Clone, Copy)]
pub(super) struct Layout {
    pub bits_allocated: u16,
    pub bits_stored: u16,
    pub signed: bool,
}

/// Raw little-endian samples to rescaled voxels: integer arithmetic when the
/// rescale is integral (the usual CT case), f64 otherwise.
pub(super) fn convert<T: Store>(
    bytes: &[u8],
    layout: Layout,
    s: &SliceRef,
    out: &mut [T],
    path: &Path,
) -> Result<()> {
    let overflow = || CoreError::ValueOutOfRange;
    let Layout {
        bits_allocated,
        bits_stored,
        signed,
    } = layout;
    let shift = 32 - bits_stored as u32;
    let extend = move |raw: u32| -> i64 {
        if signed {
            (((raw << shift) as i32) >> shift) as i64
        } else {
            ((raw << shift) >> shift) as i64
        }
    };
    let integral = s.slope.fract() == 0.0 && s.intercept.fract() == 0.0;
    let (slope_i, intercept_i) = (s.slope as i64, s.intercept as i64);
    let (slope, intercept) = (s.slope, s.intercept);
    macro_rules! run {
        ($raw:expr, $chunk:expr) => {{
            if integral {
                for (o, c) in out.iter_mut().zip(bytes.chunks_exact($chunk)) {
                    *o = T::store_int(extend($raw(c)) * slope_i + intercept_i)
                        .ok_or_else(overflow)?;
                }
            } else {
                for (o, c) in out.iter_mut().zip(bytes.chunks_exact($chunk)) {
                    *o = T::store(extend($raw(c)) as f64 * slope + intercept)
                        .ok_or_else(overflow)?;
                }
            }
        }};
    }
    // The usual CT: 16-bit samples, an integral rescale small enough for
    // i32. One branch-free pass (vectorised) that tracks the range, which is
    // checked once at the end instead of per voxel.
    if bits_allocated == 16 && integral && slope_i.abs() <= 1 << 14 && intercept_i.abs() <= 1 << 29
    {
        let (slope, intercept) = (slope_i as i32, intercept_i as i32);
        let (lo, hi) = if signed {
            rescale16::<T, true>(bytes, out, shift, slope, intercept)
        } else {
            rescale16::<T, false>(bytes, out, shift, slope, intercept)
        };
        if !out.is_empty()
            && (T::store_int(lo as i64).is_none() || T::store_int(hi as i64).is_none())
        {
            return Err(overflow());
        }
        return Ok(());
    }
    match bits_allocated {
        8 => run!(|c: &[u8]| c[0] as u32, 1),
        16 => run!(|c: &[u8]| u16::from_le_bytes([c[0], c[1]]) as u32, 2),
        32 if bits_stored == 32 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                let raw = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
                let v = if signed {
                    raw as i32 as f64
                } else {
                    raw as f64
                };
                *o = T::store(v * slope + intercept).ok_or_else(overflow)?;
            }
        }
        32 => run!(|c: &[u8]| u32::from_le_bytes([c[0], c[1], c[2], c[3]]), 4),
        other => {
            return Err(CoreError::Unsupported {
                path: path.to_path_buf(),
                what: format!("BitsAllocated {other}"),
                hint: "only 8, 16 and 32-bit greyscale pixels are read".into(),
            });
        }
    }
    Ok(())
}

/// 16-bit samples with `32 - shift` bits stored, rescaled by an integral slope and intercept into `out`, 16 at a time from 32 bytes
/// (so the loads and the arithmetic vectorise); returns the lowest and
/// highest value written, for the caller to check against `T`'s range.
fn rescale16<T: Store, const SIGNED: bool>(
    bytes: &[u8],
    out: &mut [T],
    shift: u32,
    slope: i32,
    intercept: i32,
) -> (i32, i32) {
    let value = |b0: u8, b1: u8| -> i32 {
        let raw = u16::from_le_bytes([b0, b1]) as u32;
        let v = if SIGNED {
            ((raw << shift) as i32) >> shift
        } else {
            ((raw << shift) >> shift) as i32
        };
        v * slope + intercept
    };
    let (mut lo, mut hi) = (i32::MAX, i32::MIN);
    let mut blocks = out.chunks_exact_mut(16);
    let mut raw = bytes.chunks_exact(32);
    for (o, c) in (&mut blocks).zip(&mut raw) {
        for k in 0..16 {
            let v = value(c[2 * k], c[2 * k + 1]);
            lo = lo.min(v);
            hi = hi.max(v);
            o[k] = T::wrap(v);
        }
    }
    for (o, c) in blocks
        .into_remainder()
        .iter_mut()
        .zip(raw.remainder().chunks_exact(2))
    {
        let v = value(c[0], c[1]);
        lo = lo.min(v);
        hi = hi.max(v);
        *o = T::wrap(v);
    }
    (lo, hi)
}
