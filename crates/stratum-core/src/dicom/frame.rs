//! One file's frames: the file opened with its lengths bounded, one frame
//! (or a mosaic's tile) decoded, rescaled and written into a buffer; what
//! the whole-series decode and the reduced decode of a subset share.

use std::path::Path;

use dicom_pixeldata::PixelDecoder;

use super::header::{ImageHeader, first_line, transfer_syntax_name};
use super::rescale::{Layout, Store, convert};
use super::scan::SliceRef;
use crate::base::error::{CoreError, Result};

/// The frame size of a series and the block factor of its decode.
#[derive(Clone, Copy)]
pub(super) struct Shape {
    pub rows: usize,
    pub cols: usize,
    pub f: usize,
}

pub(super) fn open(path: &Path) -> Result<dicom_object::DefaultDicomObject> {
    super::lengths::parse_bounded(path, || {
        dicom_object::open_file(path).map_err(|e| CoreError::NotDicom {
            path: path.to_path_buf(),
            reason: first_line(&e.to_string()),
        })
    })
}

/// Decodes one slice of a file: a tile of a mosaic, else its frame.
pub(super) fn decode_slice_into<T: Store>(
    obj: &dicom_object::DefaultDicomObject,
    header: &ImageHeader,
    s: &SliceRef,
    out: &mut [T],
) -> Result<()> {
    let Some(m) = header.mosaic else {
        return decode_frame_into(obj, &header.path, s, out);
    };
    let mut whole = vec![T::default(); header.rows as usize * header.columns as usize];
    let stored = SliceRef {
        frame: 0,
        ..s.clone()
    };
    decode_frame_into(obj, &header.path, &stored, &mut whole)?;
    m.copy_tile(&whole, header.columns as usize, s.frame, out);
    Ok(())
}

/// Little-endian uncompressed transfer syntaxes, whose pixel bytes are read
/// in place without a decoder.
pub(super) const NATIVE_LE: [&str; 2] = ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"];

/// Decodes one frame, applies the modality rescale and writes it to `out`.
pub(super) fn decode_frame_into<T: Store>(
    obj: &dicom_object::DefaultDicomObject,
    path: &Path,
    s: &SliceRef,
    out: &mut [T],
) -> Result<()> {
    use dicom_dictionary_std::tags;
    let Some(pixel_data) = obj.get(tags::PIXEL_DATA) else {
        return Err(CoreError::NoPixelData {
            path: path.to_path_buf(),
        });
    };
    let ts = obj.meta().transfer_syntax().trim_end_matches('\0');
    let decode_error = |reason: String| CoreError::Decode {
        path: path.to_path_buf(),
        transfer_syntax: transfer_syntax_name(ts),
        reason,
    };
    // Fast path: uncompressed little endian, converted straight from the
    // file's bytes (no intermediate frame buffer).
    if NATIVE_LE.contains(&ts)
        && let Ok(bytes) = pixel_data.to_bytes()
    {
        let attr = |tag| obj.get(tag).and_then(|e| e.to_int::<u16>().ok());
        let bits_allocated = attr(tags::BITS_ALLOCATED).unwrap_or(16);
        let layout = Layout {
            bits_allocated,
            bits_stored: attr(tags::BITS_STORED)
                .unwrap_or(bits_allocated)
                .clamp(1, bits_allocated.max(1)),
            signed: attr(tags::PIXEL_REPRESENTATION) == Some(1),
        };
        let frame_bytes = out.len() * (bits_allocated as usize).div_ceil(8);
        let start = frame_bytes * s.frame as usize;
        let frame = bytes.get(start..start + frame_bytes).ok_or_else(|| {
            decode_error(format!(
                "pixel data is truncated: {} bytes, {} expected",
                bytes.len(),
                start + frame_bytes
            ))
        })?;
        return convert(frame, layout, s, out, path);
    }
    // dicom-transfer-syntax-registry 0.10.1's RLE decoder indexes past the
    // end of a damaged segment (found by fuzz/dicom_file): the panic is
    // caught here and the file reported by name.
    let decoded = crate::base::guard::catch_panic(|| obj.decode_pixel_data_frame(s.frame))
        .map_err(|panic| {
            decode_error(format!(
                "the decoder stopped on damaged pixel data ({})",
                first_line(&panic)
            ))
        })?
        .map_err(|e| decode_error(first_line(&e.to_string())))?;
    let bits_allocated = decoded.bits_allocated();
    let layout = Layout {
        bits_allocated,
        bits_stored: decoded.bits_stored().clamp(1, bits_allocated.max(1)),
        signed: decoded.pixel_representation() == dicom_pixeldata::PixelRepresentation::Signed,
    };
    let bytes = decoded.data();
    let need = out.len() * (bits_allocated as usize).div_ceil(8);
    if bytes.len() < need {
        return Err(decode_error(format!(
            "pixel data is truncated: {} bytes, {need} expected",
            bytes.len()
        )));
    }
    convert(&bytes[..need], layout, s, out, path)
}
