//! Brushes on the label map: paint, erase and smooth with a round brush
//! (a disc in one slice plane, or a sphere), joined sample to sample by
//! capsules so fast strokes leave no gaps.
//!
//! Everything is measured in LPS millimetres through the map's geometry, so
//! anisotropic and oblique grids get a round brush. Every operation returns
//! the tight box of the voxels it changed (`None`: nothing changed), which
//! the history snapshots and the chunked surface remeshes.

use ndarray::{Array3, ArrayViewMut3, Axis, s};
use rayon::prelude::*;

use super::bricks::Region;
use crate::base::error::{CoreError, Result};
use crate::image::volume::{Geometry, Volume, Voxels, dot};
use crate::segment::{LabelMap, LabelValue, Labels};

/// The index plane a slice view shows: the axis held constant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SliceAxis {
    /// Constant slice index z.
    Axial,
    /// Constant row index y.
    Coronal,
    /// Constant column index x.
    Sagittal,
}

impl SliceAxis {
    /// The `Array3` axis (z = 0, y = 1, x = 2) held constant.
    pub fn array_axis(self) -> usize {
        match self {
            SliceAxis::Axial => 0,
            SliceAxis::Coronal => 1,
            SliceAxis::Sagittal => 2,
        }
    }

    /// The continuous-index axis (x = 0, y = 1, z = 2) held constant.
    fn index_axis(self) -> usize {
        2 - self.array_axis()
    }
}

/// Where a brush acts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BrushShape {
    /// A ball (3D): the sphere mode of the slice views and every 3D / XR brush.
    Sphere,
    /// A disc in slice `slice` of the plane `axis` only (2D mode).
    Disc { axis: SliceAxis, slice: usize },
}

/// What a brush does to the voxels it covers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BrushAction {
    /// Adds voxels to the segment (sculpt "add").
    Paint,
    /// Removes the segment's voxels (sculpt "remove"); other segments stay.
    Erase,
    /// Blurs the segment's indicator and re-thresholds it at 0.5, inside the
    /// brush only. `strength` 0..1 scales the blur (sigma = strength x radius / 2).
    Smooth { strength: f64 },
}

/// A round brush and its options.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Brush {
    pub radius_mm: f64,
    pub shape: BrushShape,
    pub action: BrushAction,
    /// Only voxels whose scan value lies in `lo..=hi` change (needs the scan).
    pub intensity: Option<(f64, f64)>,
    /// Paint over other segments' voxels; when false only background takes paint.
    pub overwrite: bool,
}

impl Brush {
    /// A sphere paint brush of `radius_mm`, no intensity range, no overwrite.
    pub fn sphere(radius_mm: f64, action: BrushAction) -> Self {
        Brush {
            radius_mm,
            shape: BrushShape::Sphere,
            action,
            intensity: None,
            overwrite: false,
        }
    }

    /// The box of voxels a capsule from `a` to `b` (LPS mm) can touch, to
    /// snapshot before applying it; empty when it misses the map.
    pub fn reach(
        &self,
        geometry: &Geometry,
        dim: (usize, usize, usize),
        a: [f64; 3],
        b: [f64; 3],
    ) -> Region {
        match Capsule::new(self, geometry, dim, a, b) {
            Some(c) => c.bbox,
            None => Region::empty(),
        }
    }

    /// Applies one capsule from `a` to `b` (LPS mm; `a == b` is a dot) to
    /// segment `segment`. `scan` is needed for an intensity range.
    pub fn apply(
        &self,
        map: &mut LabelMap,
        scan: Option<&Volume>,
        segment: u16,
        a: [f64; 3],
        b: [f64; 3],
    ) -> Result<Option<Region>> {
        self.check(map, scan, segment, a, b)?;
        let Some(cap) = Capsule::new(self, &map.geometry, map.dim(), a, b) else {
            return Ok(None);
        };
        let range = self.intensity.map(|(lo, hi)| (lo.min(hi), lo.max(hi)));
        let scan = scan.map(|v| &v.voxels);
        let edit = Edit {
            cap: &cap,
            segment,
            overwrite: self.overwrite,
            range,
            scan,
        };
        map.ensure_fits(segment);
        let changed = match self.action {
            BrushAction::Paint | BrushAction::Erase => {
                let erase = self.action == BrushAction::Erase;
                match &mut map.labels {
                    Labels::U8(l) => edit.paint(l, erase),
                    Labels::U16(l) => edit.paint(l, erase),
                }
            }
            BrushAction::Smooth { strength } => {
                let sigma_mm = strength.clamp(0.0, 1.0) * self.radius_mm * 0.5;
                let spacing = map.geometry.spacing;
                let axis = match self.shape {
                    BrushShape::Disc { axis, .. } => Some(axis),
                    BrushShape::Sphere => None,
                };
                match &mut map.labels {
                    Labels::U8(l) => edit.smooth(l, sigma_mm, spacing, axis),
                    Labels::U16(l) => edit.smooth(l, sigma_mm, spacing, axis),
                }
            }
        };
        Ok((!changed.is_empty()).then_some(changed))
    }

    fn check(
        &self,
        map: &LabelMap,
        scan: Option<&Volume>,
        segment: u16,
        a: [f64; 3],
        b: [f64; 3],
    ) -> Result<()> {
        if segment == 0 {
            return Err(CoreError::NoSegmentSelected {
                hint: "choose or add a segment to paint",
            });
        }
        if !(self.radius_mm.is_finite() && self.radius_mm > 0.0) {
            return Err(CoreError::OutOfRange {
                what: "the brush radius",
                expected: "a positive size in mm",
                found: self.radius_mm.to_string(),
            });
        }
        if !a.iter().chain(b.iter()).all(|v| v.is_finite()) {
            return Err(CoreError::NotANumber {
                what: "the brush position",
            });
        }
        if let BrushShape::Disc { axis, slice } = self.shape {
            let n = [map.dim().0, map.dim().1, map.dim().2][axis.array_axis()];
            if slice >= n {
                return Err(CoreError::SliceOutside { slice, count: n });
            }
        }
        if let BrushAction::Smooth { strength } = self.action
            && !strength.is_finite()
        {
            return Err(CoreError::OutOfRange {
                what: "the smoothing strength",
                expected: "a number from 0 to 1",
                found: strength.to_string(),
            });
        }
        match (self.intensity, scan) {
            (Some(_), None) => Err(CoreError::NeedsScan {
                what: "an intensity range",
            }),
            (_, Some(v)) if v.dim() != map.dim() => Err(CoreError::GridMismatch {
                what: "the label map".into(),
                found: map.dim(),
                expected: v.dim(),
            }),
            (Some((lo, hi)), _) if !(lo.is_finite() && hi.is_finite()) => {
                Err(CoreError::NotANumber {
                    what: "a bound of the intensity range",
                })
            }
            _ => Ok(()),
        }
    }
}

/// A continuous stroke: each sample is joined to the previous one by a
/// capsule. Keeps the box of everything it changed.
#[derive(Clone, Debug)]
pub struct Stroke {
    pub brush: Brush,
    pub segment: u16,
    last: Option<[f64; 3]>,
    changed: Region,
}

impl Stroke {
    pub fn new(brush: Brush, segment: u16) -> Self {
        Stroke {
            brush,
            segment,
            last: None,
            changed: Region::empty(),
        }
    }

    /// The voxels the next sample at `p` can touch (call before `sample` to
    /// snapshot them for the history).
    pub fn reach(&self, map: &LabelMap, p: [f64; 3]) -> Region {
        self.brush
            .reach(&map.geometry, map.dim(), self.last.unwrap_or(p), p)
    }

    /// Adds the sample `p` (LPS mm). Smoothing acts on the sphere/disc at `p`
    /// only (re-smoothing the whole capsule each sample would over-smooth).
    pub fn sample(
        &mut self,
        map: &mut LabelMap,
        scan: Option<&Volume>,
        p: [f64; 3],
    ) -> Result<Option<Region>> {
        let a = match self.brush.action {
            BrushAction::Smooth { .. } => p,
            _ => self.last.unwrap_or(p),
        };
        let r = self.brush.apply(map, scan, self.segment, a, p)?;
        self.last = Some(p);
        if let Some(r) = r {
            self.changed = self.changed.union(&r);
        }
        Ok(r)
    }

    /// The box of every voxel this stroke changed so far.
    pub fn changed(&self) -> Option<Region> {
        (!self.changed.is_empty()).then_some(self.changed)
    }
}

/// A capsule in index space with the LPS metric, clipped to the map.
struct Capsule {
    /// Continuous index (x, y, z) of the two ends.
    a: [f64; 3],
    /// LPS offset (mm) from `a` to the other end.
    ab: [f64; 3],
    /// LPS step (mm) of one voxel along index axis x, y, z.
    step: [[f64; 3]; 3],
    r2: f64,
    /// Voxels that can lie inside, (z, y, x).
    bbox: Region,
}

impl Capsule {
    fn new(
        brush: &Brush,
        g: &Geometry,
        dim: (usize, usize, usize),
        a: [f64; 3],
        b: [f64; 3],
    ) -> Option<Capsule> {
        let mut ia = g.lps_to_index(a);
        let mut ib = g.lps_to_index(b);
        let o = g.index_to_lps([0.0; 3]);
        let step: [[f64; 3]; 3] = std::array::from_fn(|k| {
            let mut e = [0.0; 3];
            e[k] = 1.0;
            let p = g.index_to_lps(e);
            [p[0] - o[0], p[1] - o[1], p[2] - o[2]]
        });
        // Half-extent in index units of a ball of radius r: r times the
        // norm of the inverse matrix's row (exact also for oblique grids).
        let ext: [f64; 3] = std::array::from_fn(|k| {
            let mut n2 = 0.0;
            for c in 0..3 {
                let mut e = o;
                e[c] += 1.0;
                let v = g.lps_to_index(e)[k];
                n2 += v * v;
            }
            brush.radius_mm * n2.sqrt()
        });
        let mut lo = [0i64; 3];
        let mut hi = [0i64; 3];
        let n = [dim.2 as i64, dim.1 as i64, dim.0 as i64];
        let disc = match brush.shape {
            BrushShape::Disc { axis, slice } => Some((axis.index_axis(), slice)),
            BrushShape::Sphere => None,
        };
        if let Some((k, slice)) = disc {
            // A slice past the grid (a damaged or foreign edit) paints nothing.
            if slice >= n[k] as usize {
                return None;
            }
            // The slice view's samples lie in the plane; project them onto it.
            ia[k] = slice as f64;
            ib[k] = slice as f64;
        }
        for k in 0..3 {
            let (l, h) = (ia[k].min(ib[k]) - ext[k], ia[k].max(ib[k]) + ext[k]);
            lo[k] = (l.ceil() as i64).max(0);
            hi[k] = (h.floor() as i64).saturating_add(1).min(n[k]);
            if let Some((dk, slice)) = disc
                && dk == k
            {
                lo[k] = slice as i64;
                hi[k] = slice as i64 + 1;
            }
            if hi[k] <= lo[k] {
                return None;
            }
        }
        let d = [ib[0] - ia[0], ib[1] - ia[1], ib[2] - ia[2]];
        let ab = mat(&step, d);
        Some(Capsule {
            a: ia,
            ab,
            step,
            r2: brush.radius_mm * brush.radius_mm,
            bbox: Region::new(
                [lo[2] as usize, lo[1] as usize, lo[0] as usize],
                [hi[2] as usize, hi[1] as usize, hi[0] as usize],
            ),
        })
    }

    /// Calls `f(x_offset)` for each voxel of row (z, y) of the box inside.
    #[inline]
    fn row(&self, z: usize, y: usize, mut f: impl FnMut(usize)) {
        let x0 = self.bbox.lo[2];
        let d0 = [
            x0 as f64 - self.a[0],
            y as f64 - self.a[1],
            z as f64 - self.a[2],
        ];
        let mut p = mat(&self.step, d0);
        let sx = self.step[0];
        let ab = self.ab;
        let ll = dot(ab, ab);
        for i in 0..self.bbox.hi[2] - x0 {
            let t = if ll > 0.0 {
                (dot(p, ab) / ll).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let e = [p[0] - t * ab[0], p[1] - t * ab[1], p[2] - t * ab[2]];
            if dot(e, e) <= self.r2 {
                f(i);
            }
            p = [p[0] + sx[0], p[1] + sx[1], p[2] + sx[2]];
        }
    }
}

#[inline]
fn mat(step: &[[f64; 3]; 3], d: [f64; 3]) -> [f64; 3] {
    std::array::from_fn(|c| step[0][c] * d[0] + step[1][c] * d[1] + step[2][c] * d[2])
}

/// One brush application: the capsule and the rules for which voxels change.
struct Edit<'a> {
    cap: &'a Capsule,
    segment: u16,
    overwrite: bool,
    range: Option<(f64, f64)>,
    scan: Option<&'a Voxels>,
}

impl Edit<'_> {
    #[inline]
    fn in_range(&self, z: usize, y: usize, x: usize) -> bool {
        match (self.range, self.scan) {
            (Some((lo, hi)), Some(v)) => v.get(z, y, x).is_some_and(|s| lo <= s && s <= hi),
            _ => true,
        }
    }

    /// The label voxel `cur` takes when the brush says "inside" (`on`) or
    /// "outside", or `None` to leave it.
    #[inline]
    fn target<T: LabelValue>(&self, cur: T, on: bool) -> Option<T> {
        let seg = T::from_id(self.segment);
        if on {
            (cur != seg && (cur.id() == 0 || self.overwrite)).then_some(seg)
        } else {
            (cur == seg).then_some(T::from_id(0))
        }
    }

    fn paint<T: LabelValue>(&self, labels: &mut Array3<T>, erase: bool) -> Region {
        let b = self.cap.bbox;
        let view = labels.slice_mut(s![b.lo[0]..b.hi[0], b.lo[1]..b.hi[1], b.lo[2]..b.hi[2]]);
        self.per_plane(view, |z, y, row, changed| {
            self.cap.row(z, y, |i| {
                let x = b.lo[2] + i;
                if let Some(v) = self.target(row[i], !erase)
                    && self.in_range(z, y, x)
                {
                    row[i] = v;
                    *changed = changed.union(&Region::voxel(z, y, x));
                }
            });
        })
    }

    /// Runs `f(z, y, row, changed)` over the rows of the box, planes in
    /// parallel, and returns the union of what the planes changed.
    fn per_plane<T: LabelValue>(
        &self,
        mut view: ArrayViewMut3<T>,
        f: impl Fn(usize, usize, &mut [T], &mut Region) + Sync,
    ) -> Region {
        let b = self.cap.bbox;
        let rows = b.hi[1] - b.lo[1];
        view.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .map(|(dz, mut plane)| {
                let mut changed = Region::empty();
                for dy in 0..rows {
                    let mut row = plane.row_mut(dy);
                    let row = row
                        .as_slice_mut()
                        .expect("a row of a standard-layout array is contiguous");
                    f(b.lo[0] + dz, b.lo[1] + dy, row, &mut changed);
                }
                changed
            })
            .reduce(Region::empty, |a, b| a.union(&b))
    }

    /// Smooths inside the capsule: Gaussian blur (sigma in mm; none across
    /// `plane_axis` for a disc) of the segment's indicator over the box plus
    /// the kernel's reach, re-thresholded at 0.5; voxels outside the capsule
    /// never change.
    fn smooth<T: LabelValue>(
        &self,
        labels: &mut Array3<T>,
        sigma_mm: f64,
        spacing: [f64; 3],
        plane_axis: Option<SliceAxis>,
    ) -> Region {
        // Sigma in voxels per array axis (z, y, x).
        let sig: [f64; 3] = std::array::from_fn(|a| {
            if plane_axis.is_some_and(|p| p.array_axis() == a) {
                0.0
            } else {
                sigma_mm / spacing[2 - a]
            }
        });
        if sig.iter().all(|s| *s < 0.2) {
            return Region::empty();
        }
        let b = self.cap.bbox;
        let dim = labels.dim();
        let reach: [usize; 3] = std::array::from_fn(|a| (3.0 * sig[a]).ceil() as usize);
        let crop = Region::new(
            std::array::from_fn(|a| b.lo[a].saturating_sub(reach[a])),
            std::array::from_fn(|a| b.hi[a] + reach[a]),
        )
        .clip(dim);
        let seg = T::from_id(self.segment);
        let field = blur(
            labels
                .slice(s![
                    crop.lo[0]..crop.hi[0],
                    crop.lo[1]..crop.hi[1],
                    crop.lo[2]..crop.hi[2]
                ])
                .mapv(|v| f32::from(u8::from(v == seg))),
            sig,
        );
        let view = labels.slice_mut(s![b.lo[0]..b.hi[0], b.lo[1]..b.hi[1], b.lo[2]..b.hi[2]]);
        self.per_plane(view, |z, y, row, changed| {
            self.cap.row(z, y, |i| {
                let x = b.lo[2] + i;
                let on = field[(z - crop.lo[0], y - crop.lo[1], x - crop.lo[2])] >= 0.5;
                if let Some(v) = self.target(row[i], on)
                    && self.in_range(z, y, x)
                {
                    row[i] = v;
                    *changed = changed.union(&Region::voxel(z, y, x));
                }
            });
        })
    }
}

/// Separable Gaussian blur of a small crop, sigma in voxels per array axis
/// (below 0.2 an axis is left alone); beyond the crop counts as 0.
fn blur(mut f: Array3<f32>, sigma: [f64; 3]) -> Array3<f32> {
    for (axis, &sg) in sigma.iter().enumerate() {
        if sg < 0.2 {
            continue;
        }
        let r = (3.0 * sg).ceil() as isize;
        let k: Vec<f32> = (-r..=r)
            .map(|i| (-((i * i) as f64) / (2.0 * sg * sg)).exp() as f32)
            .collect();
        let sum: f32 = k.iter().sum();
        let k: Vec<f32> = k.iter().map(|v| v / sum).collect();
        let mut buf = Vec::new();
        for mut lane in f.lanes_mut(Axis(axis)) {
            buf.clear();
            buf.extend(lane.iter().copied());
            let n = buf.len() as isize;
            for (i, o) in lane.iter_mut().enumerate() {
                let mut acc = 0.0;
                for (j, w) in k.iter().enumerate() {
                    let idx = i as isize + j as isize - r;
                    if (0..n).contains(&idx) {
                        acc += w * buf[idx as usize];
                    }
                }
                *o = acc;
            }
        }
    }
    f
}
