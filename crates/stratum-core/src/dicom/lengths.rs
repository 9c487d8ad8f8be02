//! Bounds on what parsing a DICOM file may allocate. dicom-rs 0.10 reserves
//! and zero-fills a value's declared length before reading it, so a damaged
//! 28-byte file claiming a 4 GiB element made it commit 4 GiB (found by
//! fuzz/dicom_file). The file meta group is walked here (every declared
//! length must fit in the file: dicom-object reads it itself); the data
//! set's lengths are bounded by the patched dicom-parser (third_party/),
//! whose limit [`parse_bounded`] sets to the file's size.

use std::io::{BufReader, Read};
use std::path::Path;

use dicom_core::{Tag, VR};

use crate::base::error::{CoreError, Result};

const UNDEFINED: u32 = 0xFFFF_FFFF;

/// Opens and parses `path` with `parse`, after [`check_lengths`], with the
/// parser's value lengths bounded by the file's size (the patched
/// dicom-parser, third_party/), so no damaged length reserves more memory
/// than the file holds. Deflated data sets inflate: up to 1024x.
pub fn parse_bounded<T>(path: &Path, parse: impl FnOnce() -> Result<T>) -> Result<T> {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            dicom_parser::stateful::decode::set_value_length_limit(None);
        }
    }
    let deflated = check_lengths(path)?;
    let size = std::fs::metadata(path)
        .map_err(|e| CoreError::io(path, e))?
        .len();
    let _reset = Reset;
    dicom_parser::stateful::decode::set_value_length_limit(Some(if deflated {
        size.saturating_mul(1024)
    } else {
        size
    }));
    parse()
}

/// Checks the declared lengths of `path`'s file meta group; returns
/// whether the data set is deflated (it may inflate past the file's size).
pub fn check_lengths(path: &Path) -> Result<bool> {
    let file = std::fs::File::open(path).map_err(|e| CoreError::io(path, e))?;
    let size = file.metadata().map_err(|e| CoreError::io(path, e))?.len();
    let mut r = BufReader::with_capacity(1 << 16, file);
    let mut walker = Walker {
        r: &mut r,
        pos: 0,
        size,
    };
    walker.run().map_err(|reason| CoreError::NotDicom {
        path: path.to_path_buf(),
        reason,
    })
}

struct Walker<'a, R> {
    r: &'a mut R,
    pos: u64,
    size: u64,
}

impl<R: Read + std::io::Seek> Walker<'_, R> {
    fn left(&self) -> u64 {
        self.size.saturating_sub(self.pos)
    }

    /// Reads exactly `buf.len()` bytes; `false` at the end of the file.
    fn read(&mut self, buf: &mut [u8]) -> std::result::Result<bool, String> {
        match self.r.read_exact(buf) {
            Ok(()) => {
                self.pos += buf.len() as u64;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }

    fn skip(&mut self, n: u64) -> std::result::Result<(), String> {
        self.r.seek_relative(n as i64).map_err(|e| e.to_string())?;
        self.pos += n;
        Ok(())
    }

    fn fits(&self, tag: Tag, len: u32) -> std::result::Result<(), String> {
        if len != UNDEFINED && len as u64 > self.left() {
            return Err(format!(
                "element ({:04X},{:04X}) claims {len} bytes but only {} are left in the file; the file is damaged or cut short",
                tag.0,
                tag.1,
                self.left()
            ));
        }
        Ok(())
    }

    fn run(&mut self) -> std::result::Result<bool, String> {
        let mut preamble = [0u8; 132];
        if !(self.read(&mut preamble)? && &preamble[128..] == b"DICM") {
            // No meta group: the data set's lengths are bounded by the
            // patched parser alone.
            return Ok(false);
        }
        let ts = self.meta()?;
        Ok(ts.trim_end_matches(['\0', ' ']) == "1.2.840.10008.1.2.1.99")
    }

    /// The file meta group (explicit VR little endian); returns the
    /// transfer syntax UID.
    fn meta(&mut self) -> std::result::Result<String, String> {
        let mut ts = String::new();
        loop {
            let mut h = [0u8; 8];
            if !self.read(&mut h)? {
                return Ok(ts);
            }
            let tag = Tag(
                u16::from_le_bytes([h[0], h[1]]),
                u16::from_le_bytes([h[2], h[3]]),
            );
            if tag.0 != 0x0002 {
                // The data set starts.
                return Ok(ts);
            }
            let len = self.explicit_len(&h)?;
            self.fits(tag, len)?;
            if len == UNDEFINED {
                // Not a valid meta group; the parser reports it.
                return Ok(ts);
            }
            if tag == Tag(0x0002, 0x0010) && len <= 64 {
                let mut v = vec![0u8; len as usize];
                if !self.read(&mut v)? {
                    return Ok(ts);
                }
                ts = String::from_utf8_lossy(&v).into_owned();
            } else {
                self.skip(len as u64)?;
            }
        }
    }

    /// The length of an explicit VR little endian header `h` (8 bytes
    /// read); reads the 4 more bytes of the long form.
    fn explicit_len(&mut self, h: &[u8; 8]) -> std::result::Result<u32, String> {
        // As dicom-encoding reads it: an unknown VR is UN, with the long
        // form (a damaged VR read short let a 775 MB length through: found
        // by fuzz/dicom_folder).
        let vr = VR::from_binary([h[4], h[5]]).unwrap_or(VR::UN);
        let long = matches!(
            vr,
            VR::OB
                | VR::OD
                | VR::OF
                | VR::OL
                | VR::OV
                | VR::OW
                | VR::SQ
                | VR::SV
                | VR::UC
                | VR::UN
                | VR::UR
                | VR::UT
                | VR::UV
        );
        if long {
            let mut l = [0u8; 4];
            if !self.read(&mut l)? {
                return Ok(0);
            }
            Ok(u32::from_le_bytes(l))
        } else {
            Ok(u16::from_le_bytes([h[6], h[7]]) as u32)
        }
    }
}
