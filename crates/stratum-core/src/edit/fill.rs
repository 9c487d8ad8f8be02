//! "Fill between slices": a segment drawn on a few slices of one view is
//! interpolated on the slices between them by shape-based interpolation
//! (Raya & Udupa): each drawn slice's in-plane signed distance to its
//! outline, blended linearly between neighbouring drawn slices, with the
//! inside where the blend is positive. The distances come from the core's
//! exact Euclidean distance transform, the same one the thick-slice surface
//! field in `mesh` uses.

use ndarray::{Array2, Array3, ArrayView2, Axis, s};
use rayon::prelude::*;

use super::bricks::Region;
use super::brush::SliceAxis;
use crate::base::error::{CoreError, Result};
use crate::segment::{LabelMap, LabelValue, Labels, distance_transform_sq};

/// Fills the slices of `axis` between those where `segment` is drawn.
/// Only background voxels take the segment unless `overwrite`. Returns the
/// box of what changed, `None` when nothing did (fewer than two drawn
/// slices, or no gaps between them).
pub fn fill_between_slices(
    map: &mut LabelMap,
    segment: u16,
    axis: SliceAxis,
    overwrite: bool,
) -> Result<Option<Region>> {
    if segment == 0 {
        return Err(CoreError::NoSegmentSelected {
            hint: "choose the segment to fill between slices",
        });
    }
    // In-plane spacing (rows, columns) of the view's slices.
    let sp = map.geometry.spacing;
    let plane_spacing = match axis {
        SliceAxis::Axial => [sp[1], sp[0]],
        SliceAxis::Coronal => [sp[2], sp[0]],
        SliceAxis::Sagittal => [sp[2], sp[1]],
    };
    map.ensure_fits(segment);
    let ax = axis.array_axis();
    let changed = match &mut map.labels {
        Labels::U8(l) => fill(l, segment, ax, plane_spacing, overwrite),
        Labels::U16(l) => fill(l, segment, ax, plane_spacing, overwrite),
    };
    // Back from (slice, row, column) of the view to (z, y, x).
    Ok(changed.map(|(k0, k1, b)| {
        let (lo, hi) = ([b.lo[1], b.lo[2]], [b.hi[1], b.hi[2]]);
        let (l, h) = match ax {
            0 => ([k0, lo[0], lo[1]], [k1, hi[0], hi[1]]),
            1 => ([lo[0], k0, lo[1]], [hi[0], k1, hi[1]]),
            _ => ([lo[0], lo[1], k0], [hi[0], hi[1], k1]),
        };
        Region::new(l, h)
    }))
}

/// The filled slices [k0, k1) and the in-plane box (rows, columns) as a
/// `Region` with a unit first axis.
type Changed = Option<(usize, usize, Region)>;

fn fill<T: LabelValue>(
    labels: &mut Array3<T>,
    segment: u16,
    ax: usize,
    spacing: [f64; 2],
    overwrite: bool,
) -> Changed {
    let seg = T::from_id(segment);
    let n = labels.len_of(Axis(ax));
    // Drawn slices and the in-plane box of each.
    let boxes: Vec<Option<[usize; 4]>> = (0..n)
        .into_par_iter()
        .map(|k| plane_box(labels.index_axis(Axis(ax), k), seg))
        .collect();
    let keys: Vec<usize> = (0..n).filter(|k| boxes[*k].is_some()).collect();
    let mut out: Changed = None;
    for w in keys.windows(2) {
        let (k0, k1) = (w[0], w[1]);
        if k1 - k0 < 2 {
            continue;
        }
        let (b0, b1) = (boxes[k0].unwrap_or_default(), boxes[k1].unwrap_or_default());
        let (rows, cols) = {
            let p = labels.index_axis(Axis(ax), 0);
            p.dim()
        };
        // Both outlines plus a margin, so every distance inside is exact.
        let m = 2;
        let win = [
            b0[0].min(b1[0]).saturating_sub(m),
            (b0[1].max(b1[1]) + m).min(rows),
            b0[2].min(b1[2]).saturating_sub(m),
            (b0[3].max(b1[3]) + m).min(cols),
        ];
        let sd0 = signed_distance(labels.index_axis(Axis(ax), k0), seg, win, spacing);
        let sd1 = signed_distance(labels.index_axis(Axis(ax), k1), seg, win, spacing);
        let mut planes: Vec<_> = labels
            .axis_iter_mut(Axis(ax))
            .enumerate()
            .filter(|(k, _)| *k > k0 && *k < k1)
            .collect();
        let got: Option<[usize; 4]> = planes
            .par_iter_mut()
            .map(|(k, plane)| {
                let t = (*k - k0) as f32 / (k1 - k0) as f32;
                let mut view = plane.slice_mut(s![win[0]..win[1], win[2]..win[3]]);
                let mut b: Option<[usize; 4]> = None;
                for ((r, c), v) in view.indexed_iter_mut() {
                    let d = (1.0 - t) * sd0[(r, c)] + t * sd1[(r, c)];
                    if d > 0.0 && *v != seg && (v.id() == 0 || overwrite) {
                        *v = seg;
                        b = Some(grow(b, win[0] + r, win[2] + c));
                    }
                }
                b
            })
            .reduce(|| None, merge);
        if let Some(g) = got {
            let r = Region::new([0, g[0], g[2]], [1, g[1], g[3]]);
            out = Some(match out {
                None => (k0 + 1, k1, r),
                Some((a, _, o)) => (a, k1, o.union(&r)),
            });
        }
    }
    out
}

/// Rows [r0, r1) and columns [c0, c1) of the segment in a plane.
fn plane_box<T: LabelValue>(p: ArrayView2<T>, seg: T) -> Option<[usize; 4]> {
    let mut b = None;
    for ((r, c), v) in p.indexed_iter() {
        if *v == seg {
            b = Some(grow(b, r, c));
        }
    }
    b
}

fn grow(b: Option<[usize; 4]>, r: usize, c: usize) -> [usize; 4] {
    match b {
        None => [r, r + 1, c, c + 1],
        Some(b) => [b[0].min(r), b[1].max(r + 1), b[2].min(c), b[3].max(c + 1)],
    }
}

fn merge(a: Option<[usize; 4]>, b: Option<[usize; 4]>) -> Option<[usize; 4]> {
    match (a, b) {
        (Some(a), Some(b)) => Some([
            a[0].min(b[0]),
            a[1].max(b[1]),
            a[2].min(b[2]),
            a[3].max(b[3]),
        ]),
        (a, None) => a,
        (None, b) => b,
    }
}

/// In-plane signed distance (mm) to the outline of `seg` within the window,
/// positive inside: the distance to the nearest voxel of the other side,
/// less half a pixel, so the outline itself sits at 0.
fn signed_distance<T: LabelValue>(
    p: ArrayView2<T>,
    seg: T,
    win: [usize; 4],
    spacing: [f64; 2],
) -> Array2<f32> {
    let crop = p.slice(s![win[0]..win[1], win[2]..win[3]]);
    let inside = crop.mapv(|v| u8::from(v == seg)).insert_axis(Axis(0));
    let outside = inside.mapv(|v| 1 - v);
    // distance_transform_sq takes (x, y, z) spacing; the single layer makes z moot.
    let sp = [spacing[1], spacing[0], 1.0];
    let to_in = distance_transform_sq(&inside, sp);
    let to_out = distance_transform_sq(&outside, sp);
    let half = 0.5 * spacing[0].min(spacing[1]) as f32;
    let mut sd = Array2::<f32>::zeros(crop.dim());
    ndarray::Zip::from(&mut sd)
        .and(&inside.index_axis(Axis(0), 0))
        .and(&to_in.index_axis(Axis(0), 0))
        .and(&to_out.index_axis(Axis(0), 0))
        .for_each(|d, &i, &a, &b| {
            // With no voxel of the other side in the window (a full
            // window), the distance is the window's far reach.
            let far = |v: f32| if v.is_finite() { v.sqrt() } else { 1e6 };
            *d = if i == 1 { far(b) - half } else { half - far(a) };
        });
    sd
}
