//! Soft edges in binary: each model segment's probability margin around
//! its edge ([`SoftField`]), so a reopened (or replayed) model segment is
//! meshed at the network's 0.5 level as it was, not from its voxels.
//!
//! File `soft.N.bin`: magic, format version, the fields (segment id, box
//! origin and size in scan voxels, the box's bytes deflated), then a CRC32
//! of everything before it. A field must lie inside the label map's grid;
//! its size is checked before anything is inflated, and inflating stops at
//! that size, so a damaged file costs no more memory than a good one.

use std::collections::BTreeMap;
use std::sync::Arc;

use ndarray::Array3;

use crate::base::error::Result;
use crate::edit::codec::{Dec, Enc};
use crate::edit::diff::{pack, unpack};
use crate::mesh::SoftField;

const MAGIC: &[u8; 8] = b"STRSOFT\0";
const VERSION: u32 = 1;
const WHAT: &str = "the session's soft edges file";

/// The fields as the bytes of a `soft.N.bin` file.
pub(crate) fn encode(fields: &BTreeMap<u16, Arc<SoftField>>) -> Vec<u8> {
    let mut e = Enc::default();
    e.0.extend_from_slice(MAGIC);
    e.u32(VERSION);
    e.usize(fields.len());
    for (&id, f) in fields {
        e.u16(id);
        encode_field(f, &mut e);
    }
    let crc = crc32fast::hash(&e.0);
    e.u32(crc);
    e.0
}

/// Reads what [`encode`] wrote, each field checked to lie inside a label
/// map of `dims` (z, y, x).
pub(crate) fn decode(bytes: &[u8], dims: [usize; 3]) -> Result<BTreeMap<u16, Arc<SoftField>>> {
    let d = Dec::new(bytes, WHAT);
    if bytes.len() < MAGIC.len() + 8 || &bytes[..MAGIC.len()] != MAGIC {
        return Err(d.damaged("not a soft edges file"));
    }
    let body = bytes.len() - 4;
    let crc = u32::from_le_bytes(bytes[body..].try_into().expect("4 bytes"));
    if crc32fast::hash(&bytes[..body]) != crc {
        return Err(d.damaged("checksum mismatch"));
    }
    let mut d = Dec::new(&bytes[..body], WHAT);
    d.take(MAGIC.len())?;
    let version = d.u32()?;
    if version > VERSION {
        return Err(d.damaged(&format!(
            "format {version} is newer than this Stratum reads"
        )));
    }
    // Each field takes at least 2 + 6 x 8 + 8 bytes.
    let n = d.len(58)?;
    let mut out = BTreeMap::new();
    for _ in 0..n {
        let id = d.u16()?;
        let field = decode_field(&mut d, dims)?;
        if out.insert(id, Arc::new(field)).is_some() {
            return Err(d.damaged(&format!("segment {id} has two soft edges")));
        }
    }
    if !d.is_done() {
        return Err(d.damaged("bytes after the last soft edge"));
    }
    Ok(out)
}

/// One field: its box origin and size in scan voxels, then its bytes deflated.
pub(crate) fn encode_field(f: &SoftField, e: &mut Enc) {
    for v in f.origin {
        e.usize(v);
    }
    let (z, y, x) = f.data.dim();
    for v in [z, y, x] {
        e.usize(v);
    }
    match f.data.as_slice() {
        Some(s) => e.bytes(&pack(s)),
        // Not in standard order (never so from a model): copy.
        None => e.bytes(&pack(&f.data.iter().copied().collect::<Vec<u8>>())),
    }
}

/// Reads what [`encode_field`] wrote, checked to lie inside a label map of
/// `dims` (z, y, x) before anything is inflated.
pub(crate) fn decode_field(d: &mut Dec, dims: [usize; 3]) -> Result<SoftField> {
    let mut origin = [0usize; 3];
    for v in &mut origin {
        *v = d.usize()?;
    }
    let mut size = [0usize; 3];
    for v in &mut size {
        *v = d.usize()?;
    }
    let fits = (0..3).all(|a| {
        origin[a]
            .checked_add(size[a])
            .is_some_and(|end| end <= dims[a])
    });
    if !fits {
        return Err(d.damaged(&format!(
            "a soft edge of {size:?} voxels at {origin:?} lies outside the {dims:?} label map"
        )));
    }
    // The grid's dims come from the same bytes: the product is checked too.
    let voxels = size
        .iter()
        .try_fold(1usize, |a, &n| a.checked_mul(n))
        .ok_or_else(|| d.damaged(&format!("a soft edge of {size:?} voxels")))?;
    let packed = d.bytes()?;
    let data = unpack(packed, voxels)
        .map_err(|_| d.damaged("a soft edge does not inflate to its size"))?;
    let data = Array3::from_shape_vec((size[0], size[1], size[2]), data)
        .map_err(|e| d.damaged(&e.to_string()))?;
    Ok(SoftField { origin, data })
}
