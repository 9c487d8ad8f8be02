//! Siemens CSA headers (the private (0029,1010) and (0029,1020) blobs): a
//! bounded reader for the few fields Stratum needs to unpack a mosaic.
//!
//! The layout (as nibabel's `nicom.csareader` and dcm2niix read it): an
//! optional "SV10" + 4 bytes (CSA2), the tag count and a check word, then
//! per tag a 64-byte name, VM, a 4-byte VR, the syngo data type, the item
//! count and a check word, then per item four 32-bit words (the second is
//! the item's length in CSA2; CSA1 counts it from the first) and the value
//! padded to 4 bytes. Every length is checked: a damaged blob gives `None`
//! or fewer tags, never a panic or a large allocation.

/// Most tags and items a CSA header holds in practice (nibabel's limit).
const MAX_ITEMS: u32 = 1000;

/// The tags of one CSA header, in file order, each with its non-empty values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CsaHeader {
    pub tags: Vec<(String, Vec<String>)>,
}

impl CsaHeader {
    /// The values of a tag; empty when the tag is absent.
    pub fn values(&self, name: &str) -> &[String] {
        self.tags
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    /// The tag's values as numbers (all of them must parse).
    pub fn floats(&self, name: &str) -> Option<Vec<f64>> {
        let v = self.values(name);
        if v.is_empty() {
            return None;
        }
        v.iter()
            .map(|s| s.trim().parse::<f64>().ok().filter(|x| x.is_finite()))
            .collect()
    }

    pub fn float(&self, name: &str) -> Option<f64> {
        self.floats(name)?.first().copied()
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let s = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(s)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn i32(&mut self) -> Option<i32> {
        Some(self.u32()? as i32)
    }
}

/// Text up to the first NUL, trimmed.
fn c_string(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).trim().to_string()
}

/// Reads a CSA header; `None` when it is not one. A header damaged part
/// way keeps the tags read before the damage.
pub fn parse(bytes: &[u8]) -> Option<CsaHeader> {
    let mut r = Reader { bytes, at: 0 };
    let csa2 = bytes.starts_with(b"SV10");
    if csa2 {
        r.take(8)?;
    }
    let n_tags = r.u32()?;
    let _check = r.u32()?;
    if n_tags == 0 || n_tags > MAX_ITEMS {
        return None;
    }
    let mut out = CsaHeader::default();
    // CSA1 item lengths are offset by the item count of the second tag.
    let mut csa1_offset = 0i64;
    for tag_no in 0..n_tags {
        let Some(tag) = read_tag(&mut r, csa2, tag_no, &mut csa1_offset) else {
            break;
        };
        out.tags.push(tag);
    }
    (!out.tags.is_empty()).then_some(out)
}

fn read_tag(
    r: &mut Reader,
    csa2: bool,
    tag_no: u32,
    csa1_offset: &mut i64,
) -> Option<(String, Vec<String>)> {
    let name = c_string(r.take(64)?);
    let vm = r.i32()?;
    let _vr = r.take(4)?;
    let _syngo_dt = r.i32()?;
    let n_items = r.i32()?;
    let _check = r.i32()?;
    if !(0..=MAX_ITEMS as i32).contains(&n_items) {
        return None;
    }
    if tag_no == 1 {
        *csa1_offset = n_items as i64;
    }
    let n_values = if vm > 0 {
        vm as usize
    } else {
        n_items as usize
    };
    let mut values = Vec::new();
    for item_no in 0..n_items as usize {
        let words = [r.i32()?, r.i32()?, r.i32()?, r.i32()?];
        let len = if csa2 {
            words[1] as i64
        } else {
            words[0] as i64 - *csa1_offset
        };
        if len < 0 || len as usize > r.bytes.len().saturating_sub(r.at) {
            if csa2 {
                return None;
            }
            break;
        }
        let len = len as usize;
        let value = r.take(len)?;
        if item_no < n_values {
            let text = c_string(value);
            if !text.is_empty() {
                values.push(text);
            }
        }
        r.take((4 - len % 4) % 4)?;
    }
    Some((name, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(name: &str, items: &[&str]) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..name.len()].copy_from_slice(name.as_bytes());
        // VM: as many values as items, as Siemens writes them.
        b.extend((items.len() as i32).to_le_bytes());
        b.extend(b"FD\0\0");
        b.extend(4i32.to_le_bytes());
        b.extend((items.len() as i32).to_le_bytes());
        b.extend(77i32.to_le_bytes());
        for it in items {
            let mut v = it.as_bytes().to_vec();
            v.push(0);
            for w in [v.len() as i32, v.len() as i32, 77, v.len() as i32] {
                b.extend(w.to_le_bytes());
            }
            let pad = (4 - v.len() % 4) % 4;
            b.extend(&v);
            b.extend(std::iter::repeat_n(0u8, pad));
        }
        b
    }

    fn header(tags: &[Vec<u8>]) -> Vec<u8> {
        let mut b = b"SV10\x04\x03\x02\x01".to_vec();
        b.extend((tags.len() as u32).to_le_bytes());
        b.extend(77u32.to_le_bytes());
        for t in tags {
            b.extend(t);
        }
        b
    }

    #[test]
    fn csa2_values_are_read_by_name() {
        let h = parse(&header(&[
            tag("NumberOfImagesInMosaic", &["35"]),
            tag("SliceNormalVector", &["0.0", "0.108", "0.994"]),
        ]))
        .unwrap();
        assert_eq!(h.float("NumberOfImagesInMosaic"), Some(35.0));
        assert_eq!(h.floats("SliceNormalVector"), Some(vec![0.0, 0.108, 0.994]));
        assert_eq!(h.float("Missing"), None);
    }

    #[test]
    fn truncated_or_garbage_headers_give_none_or_fewer_tags() {
        let full = header(&[
            tag("NumberOfImagesInMosaic", &["35"]),
            tag("SliceNormalVector", &["0", "0", "1"]),
        ]);
        for cut in 0..full.len() {
            let h = parse(&full[..cut]);
            assert!(h.is_none_or(|h| h.tags.len() <= 2));
        }
        assert!(parse(b"SV10\x04\x03\x02\x01\xff\xff\xff\xff\0\0\0\0").is_none());
        assert!(parse(&[0u8; 3]).is_none());
    }
}
