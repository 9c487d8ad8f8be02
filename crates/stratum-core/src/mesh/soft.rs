//! Surfaces from a model's soft output: the iso-surface at probability 0.5
//! of the network's output (kept beside its segment), constrained to the
//! segment as the scan's iso-surface is, so a model's organ is no longer
//! a stair of voxel midpoints.

use ndarray::{Array3, s};

use super::error::MeshError;
use super::intensity::finish_intensity_mesh;
use super::mc::constrained_marching_cubes;
use super::{SurfaceMesh, SurfaceOptions, orient_outward, to_lps};
use crate::base::error::Result;
use crate::base::progress::Progress;
use crate::segment::Mask;

/// A segment's soft edge on the scan's grid, kept only around the segment:
/// 0..=255 for 0..1 of how far the model's vote for it is from its label
/// losing (0.5 + half its probability's margin over the strongest other
/// label or the threshold), so 127.5 is exactly where the model's label
/// changes. Voxels of the box away from the segment's edge hold 255 inside
/// and 0 outside.
#[derive(Clone, Debug, PartialEq)]
pub struct SoftField {
    /// Scan index (z, y, x) of `data[(0, 0, 0)]`.
    pub origin: [usize; 3],
    pub data: Array3<u8>,
}

/// The soft edge's level in [`SoftField::data`].
pub const SOFT_LEVEL: f32 = 127.5;

impl SoftField {
    /// The field's value at scan voxel (z, y, x), or what a mask gives
    /// there (255 inside, 0 outside) beyond its box.
    fn at(&self, z: usize, y: usize, x: usize, inside: bool) -> u8 {
        let [oz, oy, ox] = self.origin;
        let fallback = if inside { 255 } else { 0 };
        if z < oz || y < oy || x < ox {
            return fallback;
        }
        self.data
            .get((z - oz, y - oy, x - ox))
            .copied()
            .unwrap_or(fallback)
    }
}

/// The surface of `mask` at the 0.5 level of its model's `field`, smoothed
/// and decimated as [`super::intensity_surface`] does (the field is smooth,
/// so with the clean-edge recipe). Inside is exactly the mask; where the
/// mask and the field disagree (a voxel the post-processing filled in or
/// removed, a later label painted over it, an edit), the voxel counts as
/// a plain mask voxel there, and that edge sits at its midpoint.
#[tracing::instrument(level = "info", skip_all)]
pub fn soft_surface(
    field: &SoftField,
    mask: &Mask,
    opts: &SurfaceOptions,
    progress: &Progress,
) -> Result<SurfaceMesh> {
    progress.begin("building surface from the model's probabilities", 2);
    let Some(b) = mask.bounds() else {
        return Err(MeshError::EmptySegment.into());
    };
    let (nz, ny, nx) = mask.dim();
    let lo = [b[0].0, b[1].0, b[2].0].map(|v| v.saturating_sub(1));
    let hi = [
        (b[0].1 + 1).min(nz),
        (b[1].1 + 1).min(ny),
        (b[2].1 + 1).min(nx),
    ];
    let crop = mask
        .data
        .slice(s![lo[0]..hi[0], lo[1]..hi[1], lo[2]..hi[2]]);
    let values = Array3::from_shape_fn(crop.dim(), |(z, y, x)| {
        let inside = crop[(z, y, x)] != 0;
        let v = field.at(z + lo[0], y + lo[1], x + lo[2], inside);
        match (inside, f32::from(v) > SOFT_LEVEL) {
            (true, false) => 255,
            (false, true) => 0,
            _ => v,
        }
    });
    let (mut positions, indices) = constrained_marching_cubes(values.view(), crop, SOFT_LEVEL);
    progress.advance(1);
    progress.check()?;
    to_lps(&mut positions, &mask.geometry, [lo[2], lo[1], lo[0]]);
    let mut mesh = SurfaceMesh {
        positions,
        normals: Vec::new(),
        indices,
    };
    orient_outward(&mut mesh, &mask.geometry);
    finish_intensity_mesh(&mut mesh, 0.0, &mask.geometry, opts);
    progress.advance(1);
    Ok(mesh)
}
