//! The binary form of a whole [`DocumentState`] and of a scan: what a live
//! session sends a Stratum that joins (the label map, the segment table,
//! each segment's properties, the history, and the scan brushes read), read
//! back with every length and value checked.

use ndarray::Array3;

use super::DocumentState;
use super::wire::{decode_props, encode_props, f64_, f64_from};
use crate::base::error::{CoreError, Result};
use crate::edit::HistorySnapshot;
use crate::edit::codec::{Dec, Enc};
use crate::edit::diff::{pack, unpack};
use crate::image::volume::{Geometry, Volume, Voxels};
use crate::segment::{LabelMap, Labels, Segment};

const STATE_VERSION: u32 = 1;
const STATE: &str = "a document snapshot";
const SCAN: &str = "a scan snapshot";
/// Past any scan Stratum opens: a damaged size never allocates more.
const MAX_VOXELS: usize = 1 << 31;

impl DocumentState {
    /// The state as bytes: version, geometry, label voxels (deflated), the
    /// segment table, the properties, the history file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.u32(STATE_VERSION);
        let (z, y, x) = self.labels.dim();
        [z, y, x].iter().for_each(|v| e.usize(*v));
        encode_geometry(&self.labels.geometry, &mut e);
        match &self.labels.labels {
            Labels::U8(a) => {
                e.u8(1);
                e.bytes(&pack(&a.iter().copied().collect::<Vec<u8>>()));
            }
            Labels::U16(a) => {
                e.u8(2);
                e.bytes(&pack(
                    &a.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>(),
                ));
            }
        }
        e.usize(self.labels.segments.len());
        for s in &self.labels.segments {
            e.u16(s.id);
            e.str(&s.name);
            s.colour.iter().for_each(|c| e.u8(*c));
            e.u8(s.visible as u8);
        }
        encode_props(&self.props, &mut e);
        e.bytes(&self.history.to_bytes());
        e.0
    }

    /// Reads what [`to_bytes`](Self::to_bytes) wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<DocumentState> {
        let mut d = Dec::new(bytes, STATE);
        version(&mut d, STATE_VERSION, "document snapshot")?;
        let dim = dims(&mut d)?;
        let geometry = decode_geometry(&mut d)?;
        let n = dim.0 * dim.1 * dim.2;
        let labels = match d.u8()? {
            1 => Labels::U8(shaped(dim, unpacked(&mut d, n)?, &d)?),
            2 => {
                let raw = unpacked(&mut d, n * 2)?;
                let v = raw
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                Labels::U16(shaped(dim, v, &d)?)
            }
            _ => return Err(d.damaged("an unknown label type")),
        };
        let count = d.len(2)?;
        let mut segments = Vec::with_capacity(count);
        for _ in 0..count {
            let id = d.u16()?;
            let name = d.str()?;
            let colour = [d.u8()?, d.u8()?, d.u8()?];
            let visible = d.u8()? != 0;
            segments.push(Segment {
                id,
                name,
                colour,
                visible,
            });
        }
        let props = decode_props(&mut d, dim)?;
        let history = HistorySnapshot::from_bytes(d.bytes()?)?;
        if !d.is_done() {
            return Err(d.damaged("bytes after the snapshot"));
        }
        Ok(DocumentState {
            labels: LabelMap {
                labels,
                geometry,
                segments,
            },
            props,
            history,
        })
    }
}

/// A scan's voxels, geometry and modality as bytes (nothing else: a scan in
/// Stratum carries no patient identifiers).
pub fn volume_to_bytes(v: &Volume) -> Vec<u8> {
    let mut e = Enc::default();
    e.u32(STATE_VERSION);
    let (z, y, x) = v.dim();
    [z, y, x].iter().for_each(|n| e.usize(*n));
    encode_geometry(&v.geometry, &mut e);
    e.str(&v.modality);
    let (tag, raw): (u8, Vec<u8>) = match &v.voxels {
        Voxels::U8(a) => (1, a.iter().copied().collect()),
        Voxels::I16(a) => (2, a.iter().flat_map(|v| v.to_le_bytes()).collect()),
        Voxels::U16(a) => (3, a.iter().flat_map(|v| v.to_le_bytes()).collect()),
        Voxels::I32(a) => (4, a.iter().flat_map(|v| v.to_le_bytes()).collect()),
        Voxels::F32(a) => (5, a.iter().flat_map(|v| v.to_le_bytes()).collect()),
    };
    e.u8(tag);
    e.bytes(&pack(&raw));
    e.0
}

/// Reads what [`volume_to_bytes`] wrote.
pub fn volume_from_bytes(bytes: &[u8]) -> Result<Volume> {
    let mut d = Dec::new(bytes, SCAN);
    version(&mut d, STATE_VERSION, "scan snapshot")?;
    let dim = dims(&mut d)?;
    let geometry = decode_geometry(&mut d)?;
    let modality = d.str()?;
    let n = dim.0 * dim.1 * dim.2;
    let tag = d.u8()?;
    let width = match tag {
        1 => 1,
        2 | 3 => 2,
        4 | 5 => 4,
        _ => return Err(d.damaged("an unknown voxel type")),
    };
    let raw = unpacked(&mut d, n * width)?;
    let voxels = match tag {
        1 => Voxels::U8(shaped(dim, raw, &d)?),
        2 => Voxels::I16(shaped(
            dim,
            raw.chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect(),
            &d,
        )?),
        3 => Voxels::U16(shaped(
            dim,
            raw.chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect(),
            &d,
        )?),
        4 => Voxels::I32(shaped(
            dim,
            raw.chunks_exact(4)
                .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            &d,
        )?),
        _ => Voxels::F32(shaped(
            dim,
            raw.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
            &d,
        )?),
    };
    if !d.is_done() {
        return Err(d.damaged("bytes after the scan"));
    }
    Ok(Volume::new(voxels, geometry, modality))
}

fn version(d: &mut Dec, newest: u32, what: &'static str) -> Result<()> {
    let v = d.u32()?;
    if v == 0 || v > newest {
        return Err(CoreError::NewerFormat {
            what,
            found: v,
            reads: newest,
        });
    }
    Ok(())
}

fn dims(d: &mut Dec) -> Result<(usize, usize, usize)> {
    let dim = [d.usize()?, d.usize()?, d.usize()?];
    dim.iter()
        .try_fold(1usize, |a, &n| a.checked_mul(n))
        .filter(|&n| n <= MAX_VOXELS)
        .ok_or_else(|| d.damaged("a grid larger than any scan"))?;
    Ok((dim[0], dim[1], dim[2]))
}

fn unpacked(d: &mut Dec, len: usize) -> Result<Vec<u8>> {
    let packed = d.bytes()?;
    unpack(packed, len).map_err(|_| d.damaged("voxels that do not inflate to the grid"))
}

fn shaped<T>(dim: (usize, usize, usize), v: Vec<T>, d: &Dec) -> Result<Array3<T>> {
    Array3::from_shape_vec(dim, v).map_err(|_| d.damaged("voxels that do not fill the grid"))
}

fn encode_geometry(g: &Geometry, e: &mut Enc) {
    g.origin.iter().for_each(|v| f64_(e, *v));
    g.spacing.iter().for_each(|v| f64_(e, *v));
    g.direction.iter().flatten().for_each(|v| f64_(e, *v));
}

fn decode_geometry(d: &mut Dec) -> Result<Geometry> {
    let mut g = Geometry::default();
    for v in g
        .origin
        .iter_mut()
        .chain(g.spacing.iter_mut())
        .chain(g.direction.iter_mut().flatten())
    {
        *v = f64_from(d)?;
        if !v.is_finite() {
            return Err(d.damaged("a geometry that is not a number"));
        }
    }
    Ok(g)
}
