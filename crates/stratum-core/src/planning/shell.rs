//! What a cut looks like before it is made: the safety margin around a
//! lesion as a closed surface (the shell a margin resection cuts along,
//! drawn translucent), and the smooth cutting surface through the user's
//! points as a patch of points to draw.

use ndarray::s;

use crate::base::error::{CoreError, Result};
use crate::base::progress::Progress;
use crate::image::volume::{Geometry, Volume, Voxels};
use crate::mesh::{SurfaceMesh, iso_surface};
use crate::planning::distance::segment_bounds;
use crate::planning::resect::Spline;
use crate::segment::{LabelMap, Labels, distance_transform_sq};

/// The surface `mm` from segment `around` (a lesion): where a margin
/// resection ([`Cut::Margin`](super::resect::Cut::Margin)) cuts, the same
/// criterion (a voxel centre whose distance to the lesion's voxel centres,
/// less half the smallest voxel side, is at most `mm`), as a closed mesh in
/// LPS mm with outward normals.
pub fn margin_shell(
    labels: &LabelMap,
    around: u16,
    mm: f64,
    progress: &Progress,
) -> Result<SurfaceMesh> {
    if !mm.is_finite() || mm < 0.0 {
        return Err(CoreError::OutOfRange {
            what: "a safety margin",
            expected: "a distance of 0 mm or more",
            found: format!("{mm} mm"),
        });
    }
    let Some(segment) = labels.segments.iter().find(|s| s.id == around) else {
        return Err(CoreError::NoSuchSegment { id: around });
    };
    let Some((lo, hi)) = segment_bounds(labels, around) else {
        return Err(CoreError::EmptySegment {
            segment: segment.name.clone(),
            consequence: "no margin to draw",
        });
    };
    progress.begin("safety margin", 2);
    let g = labels.geometry;
    let sp = g.spacing;
    let half = 0.5 * sp[0].min(sp[1]).min(sp[2]);
    let reach = mm + half;
    // The box: the lesion's, grown by the margin and two voxels (so the
    // shell closes inside it, except where the scan itself ends).
    let (nz, ny, nx) = labels.dim();
    let dims = [nz, ny, nx];
    // Spacing in (z, y, x) order.
    let step = [sp[2], sp[1], sp[0]];
    let grow: [usize; 3] = std::array::from_fn(|k| (reach / step[k]).ceil() as usize + 2);
    let lo: [usize; 3] = std::array::from_fn(|k| lo[k].saturating_sub(grow[k]));
    let hi: [usize; 3] = std::array::from_fn(|k| (hi[k] + grow[k]).min(dims[k]));
    let bx = s![lo[0]..hi[0], lo[1]..hi[1], lo[2]..hi[2]];
    let feature = match &labels.labels {
        Labels::U8(a) => a.slice(bx).mapv(|v| u8::from(u16::from(v) == around)),
        Labels::U16(a) => a.slice(bx).mapv(|v| u8::from(v == around)),
    };
    let sq = distance_transform_sq(&feature, sp);
    drop(feature);
    progress.advance(1);
    progress.check()?;
    // Inside the shell is "value above the level": the negated distance.
    let field = sq.mapv(|d| -d.sqrt());
    drop(sq);
    let origin = g.index_to_lps([lo[2] as f64, lo[1] as f64, lo[0] as f64]);
    let volume = Volume::new(Voxels::F32(field), Geometry { origin, ..g }, "margin");
    let mesh = iso_surface(&volume, -reach, &Progress::new())?;
    progress.advance(1);
    Ok(mesh)
}

/// The smooth cutting surface over the region of its points, for drawing:
/// `(steps + 1)²` points, row by row, over the points' extent in the
/// surface's plane widened by `widen_mm` on each side.
pub fn surface_patch(spline: &Spline, steps: usize, widen_mm: f64) -> Vec<[f64; 3]> {
    let steps = steps.max(1);
    let ([u0, v0], [u1, v1]) = spline.extent();
    let (u0, v0, u1, v1) = (u0 - widen_mm, v0 - widen_mm, u1 + widen_mm, v1 + widen_mm);
    let mut out = Vec::with_capacity((steps + 1) * (steps + 1));
    for j in 0..=steps {
        let v = v0 + (v1 - v0) * j as f64 / steps as f64;
        for i in 0..=steps {
            let u = u0 + (u1 - u0) * i as f64 / steps as f64;
            out.push(spline.point(u, v));
        }
    }
    out
}
