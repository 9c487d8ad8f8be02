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
    /// Bytes of a value: 16-bit types are rescaled in 16-bit arithmetic.
    const WIDTH: usize = std::mem::size_of::<Self>();
    /// A 16-bit type's values as their bit patterns (i16, u16), so a
    /// frame's stored samples can be read into them and rescaled in place.
    fn words(_: &mut [Self]) -> Option<&mut [u16]> {
        None
    }
}
macro_rules! store_int {
    ($($t:ty),*) => {$(impl Store for $t {
        #[inline]
        fn words(s: &mut [Self]) -> Option<&mut [u16]> {
            if Self::WIDTH == 2 {
                bytemuck::try_cast_slice_mut(s).ok()
            } else {
                None
            }
        }
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
        // Callers clamp BitsStored to BitsAllocated; clamped again here.
        let narrow = 16 - bits_stored.clamp(1, 16) as u32;
        let (lo, hi) = match (signed, T::WIDTH == 2) {
            (true, true) => Narrow::<true> {
                shift: narrow,
                slope,
                intercept,
            }
            .rescale(bytes, out),
            (false, true) => Narrow::<false> {
                shift: narrow,
                slope,
                intercept,
            }
            .rescale(bytes, out),
            (true, false) => rescale16::<T, true>(bytes, out, shift, slope, intercept),
            (false, false) => rescale16::<T, false>(bytes, out, shift, slope, intercept),
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

/// The rescale of 16-bit samples into a 16-bit type (i16, u16), the usual
/// CT case, in 16-bit lanes throughout so that it vectorises with the
/// baseline x86-64 instructions (SSE2 has 16-bit multiplies, shifts and
/// signed min/max, but no 32-bit multiply or min/max, which left
/// [`rescale16`] scalar: 41% of a load's CPU time before, see
/// BENCHMARKS.md).
///
/// The value is computed modulo 2^16 (wrapping multiply and add), which is
/// the exact value whenever that value fits the 16-bit output; whether
/// every value fits is known from the range of the stored samples, tracked
/// on the way: the rescale is monotonic, so the lowest and highest values
/// written are those of the extreme samples ([`Narrow::range`]).
#[derive(Clone, Copy)]
struct Narrow<const SIGNED: bool> {
    /// 16 - BitsStored.
    shift: u32,
    slope: i32,
    intercept: i32,
}

impl<const SIGNED: bool> Narrow<SIGNED> {
    /// The stored sample, sign- or zero-extended from its bits, as 16
    /// bits; an unsigned sample is kept offset by 2^15 (its top bit
    /// flipped) so that its order is that of i16 and one signed min/max
    /// serves both.
    #[inline(always)]
    fn sample(self, raw: u16) -> i16 {
        let s = self.shift;
        if SIGNED {
            ((raw << s) as i16) >> s
        } else {
            (((raw << s) >> s) ^ 0x8000) as i16
        }
    }

    /// The rescaled value's bit pattern, modulo 2^16.
    #[inline(always)]
    fn value(self, e: i16) -> u16 {
        let e = if SIGNED { e as u16 } else { e as u16 ^ 0x8000 };
        e.wrapping_mul(self.slope as u16)
            .wrapping_add(self.intercept as u16)
    }

    /// The lowest and highest exact values of samples whose [`Self::sample`]s
    /// span `lo..=hi`; (i32::MAX, i32::MIN) when there were none.
    fn range(self, lo: i16, hi: i16) -> (i32, i32) {
        if lo > hi {
            return (i32::MAX, i32::MIN);
        }
        let exact = |e: i16| -> i32 {
            let e = if SIGNED {
                e as i32
            } else {
                (e as u16 ^ 0x8000) as i32
            };
            e * self.slope + self.intercept
        };
        let (a, b) = (exact(lo), exact(hi));
        (a.min(b), a.max(b))
    }

    /// Samples from little-endian `bytes` into `out`; returns [`Self::range`].
    fn rescale<T: Store>(self, bytes: &[u8], out: &mut [T]) -> (i32, i32) {
        debug_assert_eq!(T::WIDTH, 2);
        let (mut lo, mut hi) = (i16::MAX, i16::MIN);
        let mut step = |o: &mut T, b0: u8, b1: u8| {
            let e = self.sample(u16::from_le_bytes([b0, b1]));
            lo = lo.min(e);
            hi = hi.max(e);
            *o = T::wrap(self.value(e) as i16 as i32);
        };
        let mut blocks = out.chunks_exact_mut(16);
        let mut raw = bytes.chunks_exact(32);
        for (o, c) in (&mut blocks).zip(&mut raw) {
            for k in 0..16 {
                step(&mut o[k], c[2 * k], c[2 * k + 1]);
            }
        }
        for (o, c) in blocks
            .into_remainder()
            .iter_mut()
            .zip(raw.remainder().chunks_exact(2))
        {
            step(o, c[0], c[1]);
        }
        self.range(lo, hi)
    }

    /// The same in place: `words` hold the little-endian samples as read
    /// from the file, and get the values' bit patterns.
    fn rescale_in_place(self, words: &mut [u16]) -> (i32, i32) {
        let (mut lo, mut hi) = (i16::MAX, i16::MIN);
        for w in words.iter_mut() {
            let e = self.sample(u16::from_le(*w));
            lo = lo.min(e);
            hi = hi.max(e);
            *w = self.value(e);
        }
        self.range(lo, hi)
    }
}

/// Whether [`convert_in_place`] takes frames of `layout` and `s` into `T`:
/// 16-bit samples into a 16-bit type, by an integral rescale small enough
/// for the exact range in i32 (as [`convert`]'s vectorised path).
pub(super) fn converts_in_place<T: Store>(layout: Layout, s: &SliceRef) -> bool {
    T::WIDTH == 2
        && layout.bits_allocated == 16
        && s.slope.fract() == 0.0
        && s.intercept.fract() == 0.0
        && s.slope.abs() <= (1 << 14) as f64
        && s.intercept.abs() <= (1 << 29) as f64
}

/// [`convert`] for a frame whose stored little-endian samples were read
/// straight into its voxels (`out`, as [`Store::words`]), rescaled there;
/// only where [`converts_in_place`] says so. The same values, and the same
/// refusal of a value outside `T`.
pub(super) fn convert_in_place<T: Store>(
    layout: Layout,
    s: &SliceRef,
    out: &mut [T],
) -> Result<()> {
    let narrow = 16 - layout.bits_stored.clamp(1, 16) as u32;
    let (slope, intercept) = (s.slope as i32, s.intercept as i32);
    let empty = out.is_empty();
    let Some(words) = T::words(out).filter(|_| converts_in_place::<T>(layout, s)) else {
        return Err(CoreError::Internal(
            "a frame converted in place that cannot be",
        ));
    };
    let (lo, hi) = if layout.signed {
        Narrow::<true> {
            shift: narrow,
            slope,
            intercept,
        }
        .rescale_in_place(words)
    } else {
        Narrow::<false> {
            shift: narrow,
            slope,
            intercept,
        }
        .rescale_in_place(words)
    };
    if !empty && (T::store_int(lo as i64).is_none() || T::store_int(hi as i64).is_none()) {
        return Err(CoreError::ValueOutOfRange);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slice(slope: f64, intercept: f64) -> SliceRef {
        SliceRef {
            file: 0,
            frame: 0,
            position: [0.0; 3],
            distance: 0.0,
            slope,
            intercept,
        }
    }

    /// The value of one stored 16-bit sample by the definition, in i64.
    fn reference(raw: u16, bits_stored: u16, signed: bool, slope: i64, intercept: i64) -> i64 {
        let shift = 32 - bits_stored as u32;
        let raw = raw as u32;
        let e = if signed {
            (((raw << shift) as i32) >> shift) as i64
        } else {
            ((raw << shift) >> shift) as i64
        };
        e * slope + intercept
    }

    fn check<T: Store + PartialEq + std::fmt::Debug + TryFrom<i64>>(
        samples: &[u16],
        bits_stored: u16,
        signed: bool,
        slope: i64,
        intercept: i64,
    ) {
        let bytes: Vec<u8> = samples.iter().flat_map(|v| v.to_le_bytes()).collect();
        let layout = Layout {
            bits_allocated: 16,
            bits_stored,
            signed,
        };
        let mut out = vec![T::default(); samples.len()];
        let r = convert(
            &bytes,
            layout,
            &slice(slope as f64, intercept as f64),
            &mut out,
            Path::new("x.dcm"),
        );
        let want: Option<Vec<T>> = samples
            .iter()
            .map(|&v| T::try_from(reference(v, bits_stored, signed, slope, intercept)).ok())
            .collect();
        let case = format!(
            "{} bits {bits_stored} signed {signed} slope {slope} intercept {intercept}",
            std::any::type_name::<T>()
        );
        match &want {
            Some(want) => {
                assert!(r.is_ok(), "{case}: refused values that fit");
                assert_eq!(&out, want, "{case}");
            }
            None => assert!(
                matches!(r, Err(CoreError::ValueOutOfRange)),
                "{case}: a value outside the type was not refused"
            ),
        }
        // The same samples read straight into the voxels and rescaled there.
        let s = slice(slope as f64, intercept as f64);
        if converts_in_place::<T>(layout, &s) {
            let mut out: Vec<T> = vec![T::default(); samples.len()];
            let words = T::words(&mut out).expect("16-bit");
            bytemuck::cast_slice_mut::<u16, u8>(words).copy_from_slice(&bytes);
            let r = convert_in_place(layout, &s, &mut out);
            match &want {
                Some(want) => {
                    assert!(r.is_ok(), "in place, {case}: refused values that fit");
                    assert_eq!(&out, want, "in place, {case}");
                }
                None => assert!(
                    matches!(r, Err(CoreError::ValueOutOfRange)),
                    "in place, {case}: a value outside the type was not refused"
                ),
            }
        } else {
            assert_ne!(T::WIDTH, 2, "{case}: a 16-bit type not converted in place");
        }
    }

    /// The 16-bit path (wrapping 16-bit arithmetic, range from the stored
    /// samples) gives exactly the values of the definition, and refuses
    /// exactly when one does not fit, for every sample width, sign and
    /// slope; the wider outputs (the other path) agree too.
    #[test]
    fn sixteen_bit_samples_rescale_exactly_or_are_refused() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // 37 samples: two blocks of 16 and a remainder; the extremes of
        // the stored range included.
        let mut samples: Vec<u16> = (0..35).map(|_| next() as u16).collect();
        samples.extend([0x0000, 0xFFFF]);
        for bits_stored in [1, 8, 12, 15, 16] {
            for signed in [true, false] {
                for (slope, intercept) in [
                    (1, 0),
                    (1, -1024),
                    (1, -32768),
                    (2, -1024),
                    (-1, 0),
                    (-3, 100),
                    (1, 40000),
                    (7, -3),
                ] {
                    check::<i16>(&samples, bits_stored, signed, slope, intercept);
                    check::<u16>(&samples, bits_stored, signed, slope, intercept);
                    check::<i32>(&samples, bits_stored, signed, slope, intercept);
                    // In range of i16 at every width: a narrow sample set.
                    let narrow: Vec<u16> = samples.iter().map(|v| v & 0x7F).collect();
                    check::<i16>(&narrow, bits_stored, signed, slope, intercept);
                    check::<u16>(&narrow, bits_stored, signed, slope, intercept);
                }
            }
        }
        // An empty frame is not refused.
        check::<i16>(&[], 16, true, 1, -1024);
    }

    /// Only 16-bit types are converted in place, and only by an integral
    /// rescale that [`convert`] also takes in 16-bit lanes.
    #[test]
    fn in_place_only_where_exact() {
        let layout = Layout {
            bits_allocated: 16,
            bits_stored: 12,
            signed: false,
        };
        assert!(converts_in_place::<i16>(layout, &slice(1.0, -1024.0)));
        assert!(converts_in_place::<u16>(layout, &slice(2.0, 0.0)));
        assert!(!converts_in_place::<i32>(layout, &slice(1.0, -1024.0)));
        assert!(!converts_in_place::<f32>(layout, &slice(1.0, -1024.0)));
        assert!(!converts_in_place::<i16>(layout, &slice(0.5, -1024.0)));
        assert!(!converts_in_place::<i16>(layout, &slice(1.0, -1024.5)));
        assert!(!converts_in_place::<i16>(layout, &slice(65536.0, 0.0)));
        let eight = Layout {
            bits_allocated: 8,
            ..layout
        };
        assert!(!converts_in_place::<i16>(eight, &slice(1.0, 0.0)));
        let mut f = vec![0f32; 4];
        assert!(matches!(
            convert_in_place(layout, &slice(1.0, 0.0), &mut f),
            Err(CoreError::Internal(_))
        ));
    }
}
