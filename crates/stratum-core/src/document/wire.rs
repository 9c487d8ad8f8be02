//! The binary form of [`Edit`]s: per edit a tag and its fields (little
//! endian; masks as their set voxels' box, deflated), read back with every
//! length and value checked.

use std::collections::BTreeMap;
use std::sync::Arc;

use ndarray::Array3;

use super::edit::{EDIT_FORMAT_VERSION, Edit, EditLog, FieldValue, ModelSegment, Target, WHAT};
use super::{SegmentProps, SurfaceRecipe};
use crate::base::error::{CoreError, Result};
use crate::edit::codec::{Dec, Enc};
use crate::edit::diff::{pack, unpack};
use crate::edit::{Brush, BrushAction, BrushShape, SliceAxis};
use crate::image::volume::Geometry;
use crate::segment::Mask;

const T_STROKE_BEGIN: u8 = 1;
const T_STROKE_TO: u8 = 2;
const T_STROKE_END: u8 = 3;
const T_TOOL: u8 = 4;
const T_MODEL: u8 = 5;
const T_ADD_EMPTY: u8 = 6;
const T_DELETE: u8 = 7;
const T_SET_FIELD: u8 = 8;
const T_SET_OPACITY: u8 = 9;
const T_FILL: u8 = 10;
const T_UNDO: u8 = 11;
const T_REDO: u8 = 12;
const T_SET_RECIPE: u8 = 13;

impl Edit {
    /// The edit's binary form (with the format version in front).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.u32(EDIT_FORMAT_VERSION);
        encode(self, &mut e);
        e.0
    }

    /// Reads what [`to_bytes`](Self::to_bytes) wrote.
    pub fn from_bytes(bytes: &[u8]) -> Result<Edit> {
        let mut d = Dec::new(bytes, WHAT);
        version(&mut d)?;
        let edit = decode(&mut d)?;
        if !d.is_done() {
            return Err(d.damaged("bytes after the edit"));
        }
        Ok(edit)
    }
}

impl EditLog {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut e = Enc::default();
        e.u32(EDIT_FORMAT_VERSION);
        e.usize(self.0.len());
        for edit in &self.0 {
            encode(edit, &mut e);
        }
        e.0
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<EditLog> {
        let mut d = Dec::new(bytes, WHAT);
        version(&mut d)?;
        let n = d.len(1)?;
        let mut edits = Vec::with_capacity(n);
        for _ in 0..n {
            edits.push(decode(&mut d)?);
        }
        if !d.is_done() {
            return Err(d.damaged("bytes after the last edit"));
        }
        Ok(EditLog(edits))
    }
}

fn version(d: &mut Dec) -> Result<()> {
    let v = d.u32()?;
    if v > EDIT_FORMAT_VERSION {
        return Err(CoreError::NewerFormat {
            what: "edit record",
            found: v,
            reads: EDIT_FORMAT_VERSION,
        });
    }
    Ok(())
}

pub(super) fn encode(edit: &Edit, e: &mut Enc) {
    match edit {
        Edit::StrokeBegin {
            segment,
            brush,
            point,
            name,
        } => {
            e.u8(T_STROKE_BEGIN);
            e.u16(*segment);
            encode_brush(brush, e);
            point.iter().for_each(|v| f64_(e, *v));
            e.str(name);
        }
        Edit::StrokeTo { point } => {
            e.u8(T_STROKE_TO);
            point.iter().for_each(|v| f64_(e, *v));
        }
        Edit::StrokeEnd => e.u8(T_STROKE_END),
        Edit::Tool {
            step,
            target,
            mask,
            recipe,
            colour,
        } => {
            e.u8(T_TOOL);
            e.str(step);
            match target {
                Target::New(name) => {
                    e.u8(0);
                    e.str(name);
                }
                Target::Replace(id) => {
                    e.u8(1);
                    e.u16(*id);
                }
            }
            encode_mask(mask, e);
            encode_recipe(recipe, e);
            match colour {
                None => e.u8(0),
                Some(c) => {
                    e.u8(1);
                    c.iter().for_each(|v| e.u8(*v));
                }
            }
        }
        Edit::Model { step, segments } => {
            e.u8(T_MODEL);
            e.str(step);
            e.usize(segments.len());
            for s in segments {
                e.str(&s.name);
                s.colour.iter().for_each(|v| e.u8(*v));
                e.u32(s.opacity.to_bits());
                encode_mask(&s.mask, e);
                match &s.soft {
                    None => e.u8(0),
                    Some(f) => {
                        e.u8(1);
                        super::soft::encode_field(f, e);
                    }
                }
            }
        }
        Edit::AddEmpty => e.u8(T_ADD_EMPTY),
        Edit::Delete { id } => {
            e.u8(T_DELETE);
            e.u16(*id);
        }
        Edit::SetField { id, value, .. } => {
            e.u8(T_SET_FIELD);
            e.u16(*id);
            match value {
                FieldValue::Name(n) => {
                    e.u8(0);
                    e.str(n);
                }
                FieldValue::Colour(c) => {
                    e.u8(1);
                    c.iter().for_each(|v| e.u8(*v));
                }
                FieldValue::Visible(v) => {
                    e.u8(2);
                    e.u8(*v as u8);
                }
            }
        }
        Edit::SetOpacity { id, opacity } => {
            e.u8(T_SET_OPACITY);
            e.u16(*id);
            e.u32(opacity.to_bits());
        }
        Edit::FillBetween {
            id,
            axis,
            overwrite,
        } => {
            e.u8(T_FILL);
            e.u16(*id);
            e.u8(axis_code(*axis));
            e.u8(*overwrite as u8);
        }
        Edit::Undo => e.u8(T_UNDO),
        Edit::Redo => e.u8(T_REDO),
        Edit::SetRecipe { id, recipe } => {
            e.u8(T_SET_RECIPE);
            e.u16(*id);
            // A soft edge is checked against the grid it came with.
            let dims = match recipe {
                SurfaceRecipe::Soft(f) => {
                    let (z, y, x) = f.data.dim();
                    [
                        f.origin[0].saturating_add(z),
                        f.origin[1].saturating_add(y),
                        f.origin[2].saturating_add(x),
                    ]
                }
                _ => [0; 3],
            };
            dims.iter().for_each(|v| e.usize(*v));
            encode_recipe(recipe, e);
        }
    }
}

pub(super) fn decode(d: &mut Dec) -> Result<Edit> {
    Ok(match d.u8()? {
        T_STROKE_BEGIN => Edit::StrokeBegin {
            segment: d.u16()?,
            brush: decode_brush(d)?,
            point: point(d)?,
            name: d.str()?,
        },
        T_STROKE_TO => Edit::StrokeTo { point: point(d)? },
        T_STROKE_END => Edit::StrokeEnd,
        T_TOOL => {
            let step = d.str()?;
            let target = match d.u8()? {
                0 => Target::New(d.str()?),
                1 => Target::Replace(d.u16()?),
                _ => return Err(d.damaged("an unknown tool target")),
            };
            let mask = Arc::new(decode_mask(d)?);
            let recipe = decode_recipe(d, mask.dim())?;
            let colour = match d.u8()? {
                0 => None,
                1 => Some([d.u8()?, d.u8()?, d.u8()?]),
                _ => return Err(d.damaged("an unknown colour tag")),
            };
            Edit::Tool {
                step,
                target,
                mask,
                recipe,
                colour,
            }
        }
        T_MODEL => {
            let step = d.str()?;
            // A segment takes at least its name's length and a mask header.
            let n = d.len(64)?;
            let mut segments = Vec::with_capacity(n);
            for _ in 0..n {
                let name = d.str()?;
                let colour = [d.u8()?, d.u8()?, d.u8()?];
                let opacity = f32::from_bits(d.u32()?);
                let mask = Arc::new(decode_mask(d)?);
                let soft = match d.u8()? {
                    0 => None,
                    1 => {
                        let (z, y, x) = mask.dim();
                        Some(Arc::new(super::soft::decode_field(d, [z, y, x])?))
                    }
                    _ => return Err(d.damaged("an unknown soft edge tag")),
                };
                segments.push(ModelSegment {
                    name,
                    colour,
                    opacity,
                    mask,
                    soft,
                });
            }
            Edit::Model { step, segments }
        }
        T_ADD_EMPTY => Edit::AddEmpty,
        T_DELETE => Edit::Delete { id: d.u16()? },
        T_SET_FIELD => {
            let id = d.u16()?;
            match d.u8()? {
                0 => Edit::rename(id, d.str()?),
                1 => Edit::recolour(id, [d.u8()?, d.u8()?, d.u8()?]),
                2 => Edit::set_visible(id, d.u8()? != 0),
                _ => return Err(d.damaged("an unknown table field")),
            }
        }
        T_SET_OPACITY => Edit::SetOpacity {
            id: d.u16()?,
            opacity: f32::from_bits(d.u32()?),
        },
        T_FILL => Edit::FillBetween {
            id: d.u16()?,
            axis: axis_from(d.u8()?).ok_or_else(|| d.damaged("an unknown slice axis"))?,
            overwrite: d.u8()? != 0,
        },
        T_UNDO => Edit::Undo,
        T_REDO => Edit::Redo,
        T_SET_RECIPE => {
            let id = d.u16()?;
            let dims = (d.usize()?, d.usize()?, d.usize()?);
            [dims.0, dims.1, dims.2]
                .iter()
                .try_fold(1usize, |a, &n| a.checked_mul(n))
                .filter(|&n| n <= MAX_VOXELS)
                .ok_or_else(|| d.damaged("a grid larger than any scan"))?;
            Edit::SetRecipe {
                id,
                recipe: decode_recipe(d, dims)?,
            }
        }
        _ => return Err(d.damaged("an unknown edit")),
    })
}

pub(super) fn f64_(e: &mut Enc, v: f64) {
    e.u64(v.to_bits());
}

pub(super) fn f64_from(d: &mut Dec) -> Result<f64> {
    Ok(f64::from_bits(d.u64()?))
}

/// A point whose coordinates are numbers (a NaN would poison the brush).
fn point(d: &mut Dec) -> Result<[f64; 3]> {
    let p = [f64_from(d)?, f64_from(d)?, f64_from(d)?];
    if p.iter().any(|v| !v.is_finite()) {
        return Err(d.damaged("a point that is not a number"));
    }
    Ok(p)
}

fn axis_code(a: SliceAxis) -> u8 {
    match a {
        SliceAxis::Axial => 0,
        SliceAxis::Coronal => 1,
        SliceAxis::Sagittal => 2,
    }
}

fn axis_from(c: u8) -> Option<SliceAxis> {
    match c {
        0 => Some(SliceAxis::Axial),
        1 => Some(SliceAxis::Coronal),
        2 => Some(SliceAxis::Sagittal),
        _ => None,
    }
}

fn encode_brush(b: &Brush, e: &mut Enc) {
    f64_(e, b.radius_mm);
    match b.shape {
        BrushShape::Sphere => e.u8(0),
        BrushShape::Disc { axis, slice } => {
            e.u8(1);
            e.u8(axis_code(axis));
            e.usize(slice);
        }
    }
    match b.action {
        BrushAction::Paint => e.u8(0),
        BrushAction::Erase => e.u8(1),
        BrushAction::Smooth { strength } => {
            e.u8(2);
            f64_(e, strength);
        }
    }
    match b.intensity {
        None => e.u8(0),
        Some((lo, hi)) => {
            e.u8(1);
            f64_(e, lo);
            f64_(e, hi);
        }
    }
    e.u8(b.overwrite as u8);
}

fn decode_brush(d: &mut Dec) -> Result<Brush> {
    let radius_mm = f64_from(d)?;
    if !(radius_mm.is_finite() && radius_mm > 0.0 && radius_mm <= 1000.0) {
        return Err(d.damaged("a brush radius out of range"));
    }
    let shape = match d.u8()? {
        0 => BrushShape::Sphere,
        1 => BrushShape::Disc {
            axis: axis_from(d.u8()?).ok_or_else(|| d.damaged("an unknown slice axis"))?,
            slice: d.usize()?,
        },
        _ => return Err(d.damaged("an unknown brush shape")),
    };
    let action = match d.u8()? {
        0 => BrushAction::Paint,
        1 => BrushAction::Erase,
        2 => {
            let strength = f64_from(d)?;
            if !(0.0..=1.0).contains(&strength) {
                return Err(d.damaged("a smoothing strength out of range"));
            }
            BrushAction::Smooth { strength }
        }
        _ => return Err(d.damaged("an unknown brush action")),
    };
    let intensity = match d.u8()? {
        0 => None,
        1 => {
            let (lo, hi) = (f64_from(d)?, f64_from(d)?);
            if !(lo.is_finite() && hi.is_finite()) {
                return Err(d.damaged("an intensity range that is not a number"));
            }
            Some((lo, hi))
        }
        _ => return Err(d.damaged("an unknown intensity tag")),
    };
    Ok(Brush {
        radius_mm,
        shape,
        action,
        intensity,
        overwrite: d.u8()? != 0,
    })
}

/// Largest grid an edit may carry (2^31 voxels, past any scan Stratum
/// opens): a damaged size never allocates more than a real mask could.
const MAX_VOXELS: usize = 1 << 31;

fn encode_mask(m: &Mask, e: &mut Enc) {
    let (z, y, x) = m.dim();
    [z, y, x].iter().for_each(|v| e.usize(*v));
    let g = &m.geometry;
    g.origin.iter().for_each(|v| f64_(e, *v));
    g.spacing.iter().for_each(|v| f64_(e, *v));
    g.direction.iter().flatten().for_each(|v| f64_(e, *v));
    // Only the box of its set voxels.
    let region = super::mask_region(m);
    region.lo.iter().chain(&region.hi).for_each(|v| e.usize(*v));
    let mut raw = Vec::with_capacity(region.len());
    if !region.is_empty() {
        for zz in region.lo[0]..region.hi[0] {
            for yy in region.lo[1]..region.hi[1] {
                for xx in region.lo[2]..region.hi[2] {
                    raw.push((m.data[(zz, yy, xx)] != 0) as u8);
                }
            }
        }
    }
    e.bytes(&pack(&raw));
}

fn decode_mask(d: &mut Dec) -> Result<Mask> {
    let dim = [d.usize()?, d.usize()?, d.usize()?];
    dim.iter()
        .try_fold(1usize, |a, &n| a.checked_mul(n))
        .filter(|&n| n <= MAX_VOXELS)
        .ok_or_else(|| d.damaged("a mask larger than any scan"))?;
    let mut geometry = Geometry::default();
    for v in &mut geometry.origin {
        *v = f64_from(d)?;
    }
    for v in &mut geometry.spacing {
        *v = f64_from(d)?;
    }
    for row in &mut geometry.direction {
        for v in row {
            *v = f64_from(d)?;
        }
    }
    let mut r = [0usize; 6];
    for v in &mut r {
        *v = d.usize()?;
    }
    let (lo, hi) = ([r[0], r[1], r[2]], [r[3], r[4], r[5]]);
    let inside = (0..3).all(|a| lo[a] <= hi[a] && hi[a] <= dim[a]);
    if !inside {
        return Err(d.damaged("a mask box outside its grid"));
    }
    let boxed: usize = (0..3).map(|a| hi[a] - lo[a]).product();
    let raw = unpack(d.bytes()?, boxed).map_err(|_| d.damaged("a mask that does not inflate"))?;
    let mut data = Array3::<u8>::zeros((dim[0], dim[1], dim[2]));
    let mut i = 0;
    if boxed > 0 {
        for z in lo[0]..hi[0] {
            for y in lo[1]..hi[1] {
                for x in lo[2]..hi[2] {
                    data[(z, y, x)] = (raw[i] != 0) as u8;
                    i += 1;
                }
            }
        }
    }
    Ok(Mask { data, geometry })
}

pub(super) fn encode_recipe(r: &SurfaceRecipe, e: &mut Enc) {
    match r {
        SurfaceRecipe::Mask => e.u8(0),
        SurfaceRecipe::Level(l) => {
            e.u8(1);
            f64_(e, *l);
        }
        SurfaceRecipe::Soft(f) => {
            e.u8(2);
            super::soft::encode_field(f, e);
        }
    }
}

pub(super) fn decode_recipe(d: &mut Dec, dim: (usize, usize, usize)) -> Result<SurfaceRecipe> {
    Ok(match d.u8()? {
        0 => SurfaceRecipe::Mask,
        1 => {
            let l = f64_from(d)?;
            if !l.is_finite() {
                return Err(d.damaged("a surface level that is not a number"));
            }
            SurfaceRecipe::Level(l)
        }
        2 => SurfaceRecipe::Soft(Arc::new(super::soft::decode_field(
            d,
            [dim.0, dim.1, dim.2],
        )?)),
        _ => return Err(d.damaged("an unknown surface recipe")),
    })
}

/// Every segment's properties (opacity, surface recipe): the one encoding
/// of the document snapshot and of the autosave journal's properties
/// record.
pub(crate) fn encode_props(props: &BTreeMap<u16, SegmentProps>, e: &mut Enc) {
    e.usize(props.len());
    for (&id, p) in props {
        e.u16(id);
        e.u32(p.opacity.to_bits());
        match &p.recipe {
            // A level that is not a number builds no surface (and would
            // not read back): from the voxels.
            SurfaceRecipe::Level(l) if !l.is_finite() => encode_recipe(&SurfaceRecipe::Mask, e),
            recipe => encode_recipe(recipe, e),
        }
    }
}

/// Reads what [`encode_props`] wrote, for a label map of `dim`.
pub(crate) fn decode_props(
    d: &mut Dec,
    dim: (usize, usize, usize),
) -> Result<BTreeMap<u16, SegmentProps>> {
    // An entry is at least an id, an opacity and a recipe's tag.
    let count = d.len(7)?;
    let mut props = BTreeMap::new();
    for _ in 0..count {
        let id = d.u16()?;
        let opacity = f32::from_bits(d.u32()?);
        if !(0.0..=1.0).contains(&opacity) {
            return Err(d.damaged("an opacity outside 0 to 1"));
        }
        let recipe = decode_recipe(d, dim)?;
        props.insert(id, SegmentProps { opacity, recipe });
    }
    Ok(props)
}
