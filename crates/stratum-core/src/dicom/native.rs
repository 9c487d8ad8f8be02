//! Uncompressed little-endian pixel data read straight from the file's
//! bytes: the file is read whole into a buffer each thread keeps (no
//! allocation, so no fresh pages to fault in per file), its elements are
//! walked only as far as the Pixel Data, and the frames are converted from
//! there; or, for a single 16-bit frame at the end of the file (the usual
//! CT), only the elements before it are read, and the pixels go straight
//! into the volume's slice ([`read_pixels_into`]). Loading the 300-file
//! phantom this way does no more than the copy out of the page cache and
//! the conversion; a layout this walker does not follow (no "DICM"
//! preamble, encapsulated or big-endian data, an undefined-length UN)
//! returns `None` and the file goes through dicom-object's parser and
//! decoder instead.

use std::cell::RefCell;
use std::io::Read;
use std::ops::Range;
use std::path::Path;

const UNDEFINED: u32 = 0xFFFF_FFFF;
/// Deepest nesting of sequences followed (real files use a few levels).
const MAX_DEPTH: usize = 32;

thread_local! {
    static FILE_BYTES: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Reads `path` whole into this thread's buffer and calls `f` with its
/// bytes. The buffer is kept for the thread's next file.
pub(super) fn with_file_bytes<R>(path: &Path, f: impl FnOnce(&[u8]) -> R) -> std::io::Result<R> {
    FILE_BYTES.with(|b| {
        let mut buf = b.borrow_mut();
        buf.clear();
        let mut file = std::fs::File::open(path)?;
        if let Ok(m) = file.metadata() {
            buf.reserve(m.len() as usize);
        }
        file.read_to_end(&mut buf)?;
        Ok(f(&buf))
    })
}

/// One element's header at `p`: (group, element, is SQ/UN by VR, value length, header length).
struct Header {
    group: u16,
    element: u16,
    /// Explicit VR UN: an undefined length holds implicit-VR content.
    unknown: bool,
    len: u32,
    size: usize,
}

fn u16_at(b: &[u8], p: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(p..p + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], p: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(p..p + 4)?.try_into().ok()?))
}

fn header(b: &[u8], p: usize, explicit: bool) -> Option<Header> {
    let group = u16_at(b, p)?;
    let element = u16_at(b, p + 2)?;
    if group == 0xFFFE || !explicit {
        // Items and delimiters have no VR in any transfer syntax.
        return Some(Header {
            group,
            element,
            unknown: false,
            len: u32_at(b, p + 4)?,
            size: 8,
        });
    }
    let vr = b.get(p + 4..p + 6)?;
    if !vr.iter().all(u8::is_ascii_uppercase) {
        return None;
    }
    let long = matches!(
        vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"SV"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"UV"
    );
    Some(if long {
        Header {
            group,
            element,
            unknown: vr == b"UN",
            len: u32_at(b, p + 8)?,
            size: 12,
        }
    } else {
        Header {
            group,
            element,
            unknown: false,
            len: u16_at(b, p + 6)? as u32,
            size: 8,
        }
    })
}

/// The byte range of the top-level Pixel Data value of a whole DICOM file
/// in `file`, whose data set is little endian, explicit VR when `explicit`.
pub(super) fn pixel_data_range(file: &[u8], explicit: bool) -> Option<Range<usize>> {
    let r = pixel_data_at(file, explicit)?;
    (r.end <= file.len()).then_some(r)
}

/// Reads the uncompressed pixel bytes of the file at `path` straight into
/// `dest` when they are its last element and exactly `dest.len()` bytes
/// long (the usual single-frame image): the elements before them are read
/// into this thread's buffer and walked, then the pixels go from the page
/// cache to `dest` with no copy between. `Ok(false)`: another layout, or a
/// file shorter than it said; `dest` is then to be filled another way.
pub(super) fn read_pixels_into(
    path: &Path,
    explicit: bool,
    dest: &mut [u8],
) -> std::io::Result<bool> {
    let mut file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let Some(head) = usize::try_from(len)
        .ok()
        .and_then(|l| l.checked_sub(dest.len()))
        .filter(|&h| h > 132)
    else {
        return Ok(false);
    };
    FILE_BYTES.with(|b| {
        let mut buf = b.borrow_mut();
        buf.clear();
        buf.resize(head, 0);
        let read = file.read_exact(&mut buf).and_then(|()| {
            if pixel_data_at(&buf, explicit) != Some(head..head + dest.len()) {
                return Ok(false);
            }
            file.read_exact(dest).map(|()| true)
        });
        match read {
            // Cut since its length was taken: left to the decoder, which says so.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
            other => other,
        }
    })
}

/// The Pixel Data value's range as its header states it (possibly past
/// the end of `file`, which may be the elements before it only).
fn pixel_data_at(file: &[u8], explicit: bool) -> Option<Range<usize>> {
    if file.get(128..132)? != b"DICM" {
        return None;
    }
    // The file meta group is always explicit VR little endian.
    let mut p = 132;
    loop {
        let h = header(file, p, true)?;
        if h.group != 0x0002 {
            break;
        }
        if h.len == UNDEFINED {
            return None;
        }
        p = p.checked_add(h.size + h.len as usize)?;
    }
    loop {
        let h = header(file, p, explicit)?;
        let value = p.checked_add(h.size)?;
        if (h.group, h.element) == (0x7FE0, 0x0010) {
            if h.len == UNDEFINED {
                return None; // encapsulated: compressed frames
            }
            return Some(value..value.checked_add(h.len as usize)?);
        }
        p = if h.len == UNDEFINED {
            if h.unknown {
                return None;
            }
            skip_sequence(file, value, explicit, 0)?
        } else {
            value.checked_add(h.len as usize)?
        };
        if p >= file.len() {
            return None;
        }
    }
}

/// Skips the items of an undefined-length sequence starting at `p`;
/// returns the position after its delimiter.
fn skip_sequence(b: &[u8], mut p: usize, explicit: bool, depth: usize) -> Option<usize> {
    if depth > MAX_DEPTH {
        return None;
    }
    loop {
        let h = header(b, p, false)?;
        match (h.group, h.element) {
            (0xFFFE, 0xE0DD) => return Some(p + 8),
            (0xFFFE, 0xE000) if h.len == UNDEFINED => p = skip_item(b, p + 8, explicit, depth + 1)?,
            (0xFFFE, 0xE000) => p = (p + 8).checked_add(h.len as usize)?,
            _ => return None,
        }
    }
}

/// Skips the elements of an undefined-length item starting at `p`;
/// returns the position after its delimiter.
fn skip_item(b: &[u8], mut p: usize, explicit: bool, depth: usize) -> Option<usize> {
    loop {
        let h = header(b, p, explicit)?;
        if (h.group, h.element) == (0xFFFE, 0xE00D) {
            return Some(p + 8);
        }
        let value = p.checked_add(h.size)?;
        p = if h.len == UNDEFINED {
            if h.unknown {
                return None;
            }
            skip_sequence(b, value, explicit, depth)?
        } else {
            value.checked_add(h.len as usize)?
        };
        if p > b.len() {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn el(tag: (u16, u16), vr: &[u8; 2], value: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend(tag.0.to_le_bytes());
        v.extend(tag.1.to_le_bytes());
        v.extend(vr);
        if matches!(vr, b"OB" | b"OW" | b"SQ" | b"UN") {
            v.extend([0, 0]);
            v.extend((value.len() as u32).to_le_bytes());
        } else {
            v.extend((value.len() as u16).to_le_bytes());
        }
        v.extend(value);
        v
    }

    fn file(body: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 128];
        f.extend(b"DICM");
        f.extend(el((0x0002, 0x0010), b"UI", b"1.2.840.10008.1.2.1\0"));
        f.extend(body);
        f
    }

    #[test]
    fn pixel_data_is_found_after_nested_undefined_length_sequences() {
        let mut body = el((0x0008, 0x0060), b"CS", b"CT");
        // An undefined-length sequence with an undefined-length item that
        // holds a defined-length sequence, then the pixels.
        body.extend([
            0x08, 0x00, 0x15, 0x11, b'S', b'Q', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        body.extend([0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF]);
        let inner_item = [&[0xFE, 0xFF, 0x00, 0xE0, 4, 0, 0, 0][..], &[1, 2, 3, 4]].concat();
        body.extend(el((0x0008, 0x1199), b"SQ", &inner_item));
        body.extend([0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0]);
        body.extend([0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0]);
        body.extend(el((0x7FE0, 0x0010), b"OW", &[10, 0, 20, 0]));
        let f = file(&body);
        let r = pixel_data_range(&f, true).expect("found");
        assert_eq!(&f[r], &[10, 0, 20, 0]);
    }

    /// The pixels are read straight into the destination only when they
    /// are the file's last element and exactly as long as it; any other
    /// layout, or a file shorter than that, says no and leaves the
    /// destination to the other paths.
    #[test]
    fn pixels_are_read_straight_into_the_destination_only_when_last_and_exact() {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, bytes: &[u8]| {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).expect("write");
            p
        };
        let pixels: Vec<u8> = (0..64u8).collect();
        let mut body = el((0x0008, 0x0060), b"CS", b"CT");
        body.extend(el((0x7FE0, 0x0010), b"OW", &pixels));
        let last = write("last.dcm", &file(&body));
        let mut dest = vec![0u8; 64];
        assert!(read_pixels_into(&last, true, &mut dest).expect("read"));
        assert_eq!(dest, pixels);
        // Another length than the destination's.
        let mut other = vec![0u8; 62];
        assert!(!read_pixels_into(&last, true, &mut other).expect("read"));
        // An element after the pixels (trailing padding).
        let mut trailing = body.clone();
        trailing.extend(el((0xFFFC, 0xFFFC), b"OB", &[0, 0]));
        let trailing = write("trailing.dcm", &file(&trailing));
        assert!(!read_pixels_into(&trailing, true, &mut [0u8; 64]).expect("read"));
        // No preamble, and a file shorter than the pixels.
        let bare = write("bare.dcm", &body);
        assert!(!read_pixels_into(&bare, true, &mut [0u8; 64]).expect("read"));
        assert!(!read_pixels_into(&last, true, &mut [0u8; 4096]).expect("read"));
        // A missing file is an I/O error, as before.
        assert!(read_pixels_into(&dir.path().join("none.dcm"), true, &mut dest).is_err());
    }

    #[test]
    fn damaged_or_unfollowed_layouts_give_none_not_a_panic() {
        let good = file(&el((0x7FE0, 0x0010), b"OW", &[1, 0, 2, 0]));
        assert!(pixel_data_range(&good, true).is_some());
        // Every truncation of a valid file.
        for n in 0..good.len() {
            assert!(pixel_data_range(&good[..n], true).is_none(), "cut at {n}");
        }
        // Encapsulated pixel data (undefined length) is left to the decoder.
        let mut enc = file(&[]);
        enc.extend([
            0xE0, 0x7F, 0x10, 0x00, b'O', b'B', 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ]);
        assert!(pixel_data_range(&enc, true).is_none());
        // A length past the end, and a garbage VR.
        let mut long = file(&el((0x0008, 0x0060), b"CS", b"CT"));
        long.extend([
            0xE0, 0x7F, 0x10, 0x00, b'O', b'W', 0, 0, 0xFF, 0xFF, 0xFF, 0x7F,
        ]);
        assert!(pixel_data_range(&long, true).is_none());
        let bad = file(&[0x08, 0x00, 0x60, 0x00, 0x01, 0x02, 2, 0, b'C', b'T']);
        assert!(pixel_data_range(&bad, true).is_none());
    }
}
