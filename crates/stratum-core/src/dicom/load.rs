//! Builds a [`Volume`] from a [`Series`]: sorts and checks positions, picks
//! the narrowest exact voxel type, and decodes every frame in parallel
//! straight into the volume buffer.

use std::path::Path;

use ndarray::Array3;
use rayon::prelude::*;

use super::frame::{NATIVE_LE, Shape, decode_frame_into, decode_slice_into, open};
use super::header::transfer_syntax_name;
use super::rescale::{Layout, Store, convert, convert_in_place, converts_in_place};
use super::scan::{Series, SliceRef};
use super::subset::Subset;
use crate::base::error::{CoreError, Result};
use crate::base::memory;
use crate::base::progress::Progress;
use crate::image::volume::{Geometry, Volume, Voxels, norm, normalize, sub};

/// A volume as loaded from DICOM, with the true position of every slice
/// (the geometry's slice step is their average; see [`crate::image::resample`]).
#[derive(Clone, Debug)]
pub struct LoadedSeries {
    pub volume: Volume,
    /// ImagePositionPatient of each slice, in volume order.
    pub positions: Vec<[f64; 3]>,
    /// Warnings raised while loading (duplicates dropped, ...).
    pub notes: Vec<String>,
}

/// Decodes a series into a volume.
pub fn load_series(series: &Series, progress: &Progress) -> Result<LoadedSeries> {
    load_series_subset(series, &Subset::default(), progress)
}

/// Decodes part of a series (see [`Subset`]) into a volume; only that part
/// is ever allocated.
pub fn load_series_subset(
    series: &Series,
    subset: &Subset,
    progress: &Progress,
) -> Result<LoadedSeries> {
    load_series_visiting(series, subset, None, progress)
}

/// Sees the slices of a volume of `T` as they are decoded, on the thread
/// that decodes each, a band of rows at a time as soon as the band is
/// written, while it is still in the core's first cache: how the motion
/// check takes its profiles without a second pass over the voxels.
pub trait SliceVisitor<T>: Sync {
    /// What sees the rows of slice `z` (its index in the volume), `ny`
    /// rows of `nx` voxels.
    fn begin(&self, z: usize, ny: usize, nx: usize) -> Box<dyn RowVisitor<T> + '_>;
}

/// One slice's rows as they are decoded (see [`SliceVisitor`]).
pub trait RowVisitor<T> {
    /// The slice's next rows: whole rows, row-major, in order.
    fn rows(&mut self, data: &[T]);
    /// Every row of the slice has been seen (not called where decoding
    /// the slice failed).
    fn done(self: Box<Self>);
}

/// Voxels a band handed to a [`SliceVisitor`] holds at most (a row at
/// least): 16 KiB of 16-bit voxels, which with the stored samples they
/// came from fit the core's first cache.
const BAND_VOXELS: usize = 8192;

/// [`load_series_subset`], showing `visit` each slice as it is decoded
/// when the voxels are 16-bit and the slices are the series' own (no
/// downsampling).
#[tracing::instrument(level = "info", name = "load_series", skip_all)]
pub fn load_series_visiting(
    series: &Series,
    subset: &Subset,
    visit: Option<&dyn SliceVisitor<i16>>,
    progress: &Progress,
) -> Result<LoadedSeries> {
    if let Some(p) = series
        .problems
        .iter()
        .find(|p| p.contains("cannot be placed") || p.contains("mosaic"))
    {
        return Err(CoreError::NotAVolume(p.clone()));
    }
    let orientation = series
        .orientation
        .ok_or_else(|| CoreError::NotAVolume("ImageOrientationPatient is missing".into()))?;
    if series.slices.is_empty() {
        return Err(CoreError::NotAVolume("the series has no images".into()));
    }
    if let Some(h) = series.files.iter().find(|h| h.samples_per_pixel != 1) {
        return Err(CoreError::Unsupported {
            path: h.path.clone(),
            what: format!("a colour image ({} samples per pixel)", h.samples_per_pixel),
            hint: "a scan volume needs greyscale images".into(),
        });
    }

    // Duplicate positions: keep the first, verify the others are identical.
    let (kept, duplicates) = series.distinct_slices();
    let mut kept: Vec<SliceRef> = kept.into_iter().cloned().collect();
    let mut duplicates: Vec<(usize, &SliceRef)> = duplicates;
    let series_slices = kept.len();
    if let Some((a, b)) = subset.slices {
        if a < 1 || b > kept.len() || b <= a {
            return Err(CoreError::SlicesOutside {
                first: a,
                last: b,
                count: kept.len(),
            });
        }
        kept = kept[a - 1..b].to_vec();
        duplicates = duplicates
            .into_iter()
            .filter(|(k, _)| (a - 1..b).contains(k))
            .map(|(k, d)| (k - (a - 1), d))
            .collect();
    }
    if kept.len() < 2 {
        return Err(CoreError::NotAVolume(format!(
            "only {} distinct slice position{} ({} images); a volume needs at least 2",
            kept.len(),
            if kept.len() == 1 { "" } else { "s" },
            series.slices.len()
        )));
    }

    let rows = series.rows as usize;
    let cols = series.columns as usize;
    let f = subset.downsample.max(1) as usize;
    let n = kept.len() / f;
    let (rows_out, cols_out) = (rows / f, cols / f);
    if n < 2 || rows_out == 0 || cols_out == 0 {
        return Err(CoreError::DownsampleTooFar {
            cols,
            rows,
            slices: kept.len(),
            factor: f,
        });
    }
    let row_dir = normalize([orientation[0], orientation[1], orientation[2]]);
    let col_dir = normalize([orientation[3], orientation[4], orientation[5]]);
    let ps = series.pixel_spacing.unwrap_or([1.0, 1.0]);
    // A block's voxel sits at the centre of the voxels it averages: half
    // of (f - 1) voxels along the row and column, and the mean position of
    // its slices along the stack.
    let inplane = (f as f64 - 1.0) / 2.0;
    let positions: Vec<[f64; 3]> = kept
        .chunks_exact(f)
        .map(|block| {
            let mut p = [0.0; 3];
            for s in block {
                for (pk, sk) in p.iter_mut().zip(s.position) {
                    *pk += sk / f as f64;
                }
            }
            for k in 0..3 {
                p[k] += row_dir[k] * inplane * ps[1] + col_dir[k] * inplane * ps[0];
            }
            p
        })
        .collect();
    let first = positions[0];
    let last = positions[n - 1];
    let stack = sub(last, first);
    let step = norm(stack) / (n - 1) as f64;
    let geometry = Geometry {
        origin: first,
        spacing: [ps[1] * f as f64, ps[0] * f as f64, step],
        direction: [row_dir, col_dir, normalize(stack)],
    };

    let kind = choose_type(series, &kept);
    // Refused before the voxel buffer is allocated: the size comes from
    // headers, which may be damaged or far beyond the machine.
    let bytes_per_voxel = match kind {
        Kind::U8 => 1,
        Kind::I16 | Kind::U16 => 2,
        Kind::F32 => 4,
    };
    let plane = rows_out as u64 * cols_out as u64;
    let voxels = plane.saturating_mul(n as u64);
    let mut needed = memory::study_bytes(voxels, bytes_per_voxel, false);
    if f > 1 {
        // The f32 sums of the blocks, and a full-size frame per thread.
        needed = needed.saturating_add(voxels * 4 + (rows * cols * 4 * 2) as u64);
    }
    memory::ensure_series_fits(
        &format!("the series ({cols_out} x {rows_out} x {n} voxels)"),
        voxels,
        needed,
        memory::study_bytes(plane, bytes_per_voxel, false),
        n as u64,
    )?;
    check_native_sizes(series, &kept)?;
    let shape = Shape { rows, cols, f };
    progress.begin("decoding slices", (n * f) as u64);
    let voxels = match kind {
        Kind::U8 => Voxels::U8(decode_all::<u8>(series, &kept, shape, None, progress)?),
        Kind::U16 => Voxels::U16(decode_all::<u16>(series, &kept, shape, None, progress)?),
        Kind::F32 => Voxels::F32(decode_all::<f32>(series, &kept, shape, None, progress)?),
        Kind::I16 => match decode_all::<i16>(series, &kept, shape, visit, progress) {
            Err(CoreError::ValueOutOfRange) => {
                // A value outside i16 (rare: 16-bit signed data with an offset).
                progress.begin("decoding slices (32-bit)", (n * f) as u64);
                Voxels::I32(decode_all::<i32>(series, &kept, shape, None, progress)?)
            }
            other => Voxels::I16(other?),
        },
    };

    let mut notes = Vec::new();
    if !subset.is_whole() {
        notes.push(format!(
            "part of the series was opened ({}): {} of its {} slices, {} x {} voxels each",
            subset.describe(),
            n * f,
            series_slices,
            cols_out,
            rows_out
        ));
    }
    if !duplicates.is_empty() {
        progress.begin("checking duplicate slices", duplicates.len() as u64);
        for (k, dup) in &duplicates {
            let a = decode_one_f64(series, &kept[*k], rows, cols)?;
            let b = decode_one_f64(series, dup, rows, cols)?;
            if a != b {
                return Err(CoreError::NotAVolume(format!(
                    "two different images lie at the same position ({:.2} mm along the stack): {} and {}; the folder mixes scans, pick the files of one scan",
                    dup.distance,
                    series.slice_file_name(&kept[*k]),
                    series.slice_file_name(dup)
                )));
            }
            progress.advance(1);
        }
        notes.push(format!(
            "{} duplicate image{} (same position, identical pixels) ignored",
            duplicates.len(),
            if duplicates.len() == 1 { "" } else { "s" }
        ));
    }
    Ok(LoadedSeries {
        volume: Volume::new(voxels, geometry, series.modality.clone()),
        positions,
        notes,
    })
}

/// Uncompressed files must be at least as long as the frames they claim:
/// checked from the file sizes before the volume is allocated, so a small
/// damaged file claiming a large image is refused at once (a 2 KB file
/// claiming 700 MB of pixels was found by fuzz/dicom_file).
fn check_native_sizes(series: &Series, slices: &[SliceRef]) -> Result<()> {
    let mut frames = vec![0u64; series.files.len()];
    for s in slices {
        frames[s.file] = frames[s.file].max(s.frame as u64 + 1);
    }
    for (h, &n) in series.files.iter().zip(&frames) {
        let native = NATIVE_LE.contains(&h.transfer_syntax.as_str())
            || h.transfer_syntax == "1.2.840.10008.1.2.2";
        if n == 0 || !native {
            continue;
        }
        // A mosaic's slices are tiles of its one stored image.
        let n = if h.mosaic.is_some() { 1 } else { n };
        let need = (h.rows as u64 * h.columns as u64)
            .saturating_mul((h.bits_allocated as u64).div_ceil(8))
            .saturating_mul(n);
        let len = std::fs::metadata(&h.path)
            .map_err(|e| CoreError::io(&h.path, e))?
            .len();
        if len < need {
            // A file without pixel data says so (its header reads the same).
            let obj = open(&h.path)?;
            if obj.get(dicom_dictionary_std::tags::PIXEL_DATA).is_none() {
                return Err(CoreError::NoPixelData {
                    path: h.path.clone(),
                });
            }
            return Err(CoreError::Decode {
                path: h.path.clone(),
                transfer_syntax: transfer_syntax_name(&h.transfer_syntax),
                reason: format!(
                    "pixel data is truncated: the file holds {len} bytes, its {} x {} image needs {need}",
                    h.columns, h.rows
                ),
            });
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    U8,
    I16,
    U16,
    F32,
}

/// The narrowest type that holds every possible rescaled value exactly;
/// i16 is tried optimistically when the theoretical range is wider.
fn choose_type(series: &Series, slices: &[SliceRef]) -> Kind {
    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for s in slices {
        let h = series.file_of(s);
        if s.slope.fract() != 0.0 || s.intercept.fract() != 0.0 {
            return Kind::F32;
        }
        let bits = h.bits_stored.clamp(1, 32) as i32;
        let (smin, smax) = if h.pixel_representation == 1 {
            (-(2f64.powi(bits - 1)), 2f64.powi(bits - 1) - 1.0)
        } else {
            (0.0, 2f64.powi(bits) - 1.0)
        };
        let a = smin * s.slope + s.intercept;
        let b = smax * s.slope + s.intercept;
        lo = lo.min(a.min(b));
        hi = hi.max(a.max(b));
    }
    if lo >= 0.0 && hi <= 255.0 {
        Kind::U8
    } else if lo >= i16::MIN as f64 && hi <= i16::MAX as f64 {
        Kind::I16
    } else if lo >= 0.0 && hi <= u16::MAX as f64 {
        Kind::U16
    } else if hi - lo > 2f64.powi(24) {
        Kind::F32
    } else {
        Kind::I16
    }
}

/// Sees each decoded slice of type `T` (see [`SliceVisitor`]).
type Visit<'a, T> = Option<&'a dyn SliceVisitor<T>>;

/// Shows `visit` slice `z` (`nx` voxels to a row), decoded whole.
fn show_whole<T>(visit: Visit<'_, T>, z: usize, out: &[T], nx: usize) {
    if let Some(v) = visit {
        let mut rows = v.begin(z, out.len() / nx.max(1), nx);
        rows.rows(out);
        rows.done();
    }
}

fn decode_all<T: Store>(
    series: &Series,
    slices: &[SliceRef],
    shape: Shape,
    visit: Visit<'_, T>,
    progress: &Progress,
) -> Result<Array3<T>> {
    if shape.f > 1 {
        return super::subset::decode_reduced(series, slices, shape, progress);
    }
    let Shape { rows, cols, .. } = shape;
    let plane = rows * cols;
    let mut data: Vec<T> = crate::base::pages::zeroed(plane * slices.len());
    // Hand each file the output planes of its frames, so a multi-frame file
    // is opened once and every plane is written by exactly one task.
    let mut per_file: Vec<Vec<(&SliceRef, &mut [T], usize)>> =
        (0..series.files.len()).map(|_| Vec::new()).collect();
    for (z, (s, out)) in slices.iter().zip(data.chunks_mut(plane)).enumerate() {
        per_file[s.file].push((s, out, z));
    }
    per_file
        .into_par_iter()
        .filter(|jobs| !jobs.is_empty())
        .try_for_each(|mut jobs| -> Result<()> {
            progress.check()?;
            let header = &series.files[jobs[0].0.file];
            let path = &header.path;
            // A mosaic's frames are tiles of one image: decoded whole below.
            if header.mosaic.is_none()
                && let Some(explicit) = native_le(&header.transfer_syntax)
            {
                // A single-frame file of 16-bit samples into a 16-bit volume
                // (the usual CT): its pixels are read from the page cache
                // straight into the volume's slice and rescaled there.
                let layout = native_layout(header);
                if let [(s, out, z)] = jobs.as_mut_slice()
                    && s.frame == 0
                    && converts_in_place::<T>(layout, s)
                    && let Some(words) = T::words(out)
                {
                    let bytes = bytemuck::cast_slice_mut(words);
                    if super::native::read_pixels_into(path, explicit, bytes)
                        .map_err(|e| CoreError::io(path, e))?
                    {
                        match visit {
                            // Rescaled a band of rows at a time, each shown
                            // to `visit` while it is in the core's first
                            // cache (a whole slice read back has left it).
                            Some(v) => {
                                let band = (BAND_VOXELS / cols.max(1)).max(1) * cols.max(1);
                                let mut rows = v.begin(*z, out.len() / cols.max(1), cols);
                                for o in out.chunks_mut(band) {
                                    convert_in_place(layout, s, o)?;
                                    rows.rows(o);
                                }
                                rows.done();
                            }
                            None => convert_in_place(layout, s, out)?,
                        }
                        progress.advance(1);
                        return Ok(());
                    }
                }
                // Straight from the file's bytes; None: a layout left to the decoder.
                let done = super::native::with_file_bytes(path, |bytes| {
                    let pixels = &bytes[super::native::pixel_data_range(bytes, explicit)?];
                    Some(decode_native(
                        pixels, header, path, &mut jobs, visit, cols, progress,
                    ))
                })
                .map_err(|e| CoreError::io(path, e))?;
                if let Some(r) = done {
                    return r;
                }
            }
            let obj = open(path)?;
            if let Some(m) = header.mosaic {
                // Decoded once, then cut into its tiles.
                let mut whole = vec![T::default(); header.rows as usize * header.columns as usize];
                let stored = SliceRef {
                    frame: 0,
                    ..jobs[0].0.clone()
                };
                decode_frame_into(&obj, path, &stored, &mut whole)?;
                for (s, out, z) in jobs {
                    m.copy_tile(&whole, header.columns as usize, s.frame, out);
                    show_whole(visit, z, out, cols);
                    progress.advance(1);
                }
                return Ok(());
            }
            for (s, out, z) in jobs {
                progress.check()?;
                decode_frame_into(&obj, path, s, out)?;
                show_whole(visit, z, out, cols);
                progress.advance(1);
            }
            Ok(())
        })?;
    Array3::from_shape_vec((slices.len(), rows, cols), data)
        .map_err(|_| CoreError::Internal("the decoded slices do not fill the volume"))
}

/// For an uncompressed little-endian transfer syntax, whether its VR is explicit.
fn native_le(ts: &str) -> Option<bool> {
    match ts.trim_end_matches('\0') {
        "1.2.840.10008.1.2.1" => Some(true),
        "1.2.840.10008.1.2" => Some(false),
        _ => None,
    }
}

/// Converts the frames of `jobs` from one file's uncompressed pixel bytes,
/// laid out as its header (from the scan) says; a band of rows (of
/// `cols` voxels) at a time where `visit` sees them.
fn decode_native<T: Store>(
    pixels: &[u8],
    header: &super::header::ImageHeader,
    path: &Path,
    jobs: &mut [(&SliceRef, &mut [T], usize)],
    visit: Visit<'_, T>,
    cols: usize,
    progress: &Progress,
) -> Result<()> {
    let bits_allocated = header.bits_allocated;
    let layout = native_layout(header);
    let band = (BAND_VOXELS / cols.max(1)).max(1) * cols.max(1);
    for (s, out, z) in jobs.iter_mut() {
        progress.check()?;
        let sample = (bits_allocated as usize).div_ceil(8);
        let frame_bytes = out.len() * sample;
        let start = frame_bytes * s.frame as usize;
        let frame = pixels
            .get(start..start + frame_bytes)
            .ok_or_else(|| CoreError::Decode {
                path: path.to_path_buf(),
                transfer_syntax: transfer_syntax_name(&header.transfer_syntax),
                reason: format!(
                    "pixel data is truncated: {} bytes, {} expected",
                    pixels.len(),
                    start + frame_bytes
                ),
            })?;
        match visit {
            Some(v) if sample > 0 => {
                let mut rows = v.begin(*z, out.len() / cols.max(1), cols);
                for (o, b) in out.chunks_mut(band).zip(frame.chunks(band * sample)) {
                    convert(b, layout, s, o, path)?;
                    rows.rows(o);
                }
                rows.done();
            }
            _ => {
                convert(frame, layout, s, out, path)?;
                show_whole(visit, *z, out, cols);
            }
        }
        progress.advance(1);
    }
    Ok(())
}

/// The sample layout of an uncompressed file, as its header (from the scan) says.
fn native_layout(header: &super::header::ImageHeader) -> Layout {
    let bits_allocated = header.bits_allocated;
    Layout {
        bits_allocated,
        bits_stored: header.bits_stored.clamp(1, bits_allocated.max(1)),
        signed: header.pixel_representation == 1,
    }
}

fn decode_one_f64(series: &Series, s: &SliceRef, rows: usize, cols: usize) -> Result<Vec<f32>> {
    let header = &series.files[s.file];
    let obj = open(&header.path)?;
    let mut out = vec![0f32; rows * cols];
    decode_slice_into(&obj, header, s, &mut out)?;
    Ok(out)
}

/// Decodes one frame of a file to rescaled values (row-major), for checks
/// that compare codecs or inspect a single image.
pub fn decode_frame_values(path: &Path, frame: u32) -> Result<Vec<f64>> {
    let header = super::header::read_header(path)?;
    let info = header
        .frames
        .get(frame as usize)
        .ok_or_else(|| CoreError::NoSuchFrame {
            path: path.to_path_buf(),
            frame,
            count: header.frames.len(),
        })?;
    let slice = SliceRef {
        file: 0,
        frame,
        position: [0.0; 3],
        distance: 0.0,
        slope: info.slope,
        intercept: info.intercept,
    };
    let plane = header.rows as u64 * header.columns as u64;
    // The decoder needs the frame about three times (compressed, decoded,
    // converted).
    memory::ensure_fits(
        &format!("a {} x {} image", header.columns, header.rows),
        plane,
        plane.saturating_mul(12),
        plane.saturating_mul(12),
    )?;
    let obj = open(path)?;
    let mut out = vec![0f32; plane as usize];
    decode_frame_into(&obj, path, &slice, &mut out)?;
    Ok(out.into_iter().map(f64::from).collect())
}
