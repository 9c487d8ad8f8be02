//! Resampling a sheared (gantry-tilted) or unevenly spaced stack onto an
//! orthogonal grid with a uniform slice step.
//!
//! Every input slice lies in a plane with normal `n` (row x column), so an
//! output slice (a plane of constant distance along `n`) is a blend of the
//! two input slices around it, each shifted in-plane by a constant offset:
//! one bilinear pass per output slice, parallel over slices.

use ndarray::{Array3, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

use crate::base::error::{CoreError, Result};
use crate::base::progress::Progress;
use crate::dicom::LoadedSeries;
use crate::image::volume::{Geometry, Volume, Voxels, cross, dot, normalize, sub};

/// The largest angle between the stacking direction and the slice normal
/// taken for a gantry tilt. CT gantries tilt up to about 30 degrees; at 45
/// each slice would sit a whole step aside in its own plane.
pub const MAX_TILT_DEG: f64 = 45.0;

/// What the stack looks like before resampling.
#[derive(Clone, Debug, PartialEq)]
pub struct StackGeometry {
    /// Angle (degrees) between the stacking direction and the slice normal.
    pub tilt_deg: f64,
    /// Consecutive distances (mm) between slices along the normal.
    pub steps: Vec<f64>,
    /// The median step (mm).
    pub typical_step: f64,
    /// The step of a resampled grid: the smallest step that occurs at least
    /// twice (so a thin zone keeps its detail and a lone transition step is
    /// ignored), else the median.
    pub uniform_step: f64,
    /// Largest |step - typical| (mm).
    pub max_deviation: f64,
}

impl StackGeometry {
    pub fn of(positions: &[[f64; 3]], normal: [f64; 3]) -> Self {
        let d: Vec<f64> = positions.iter().map(|p| dot(normal, *p)).collect();
        let steps: Vec<f64> = d.windows(2).map(|w| w[1] - w[0]).collect();
        let typical_step = median(&steps);
        let max_deviation = steps
            .iter()
            .map(|s| (s - typical_step).abs())
            .fold(0.0, f64::max);
        let tilt_deg = if positions.len() >= 2 {
            let stack = normalize(sub(positions[positions.len() - 1], positions[0]));
            dot(stack, normal).abs().clamp(0.0, 1.0).acos().to_degrees()
        } else {
            0.0
        };
        let uniform_step = smallest_repeated(&steps).unwrap_or(typical_step);
        StackGeometry {
            tilt_deg,
            steps,
            typical_step,
            uniform_step,
            max_deviation,
        }
    }

    pub fn is_tilted(&self) -> bool {
        self.tilt_deg > 0.05
    }

    /// Stacked further from the slice normal than any gantry tilts
    /// ([`MAX_TILT_DEG`]): the headers' positions or orientation are
    /// damaged, and a grid under them would stretch as far as the slices
    /// are apart in their own plane (a fuzzed folder's 89.99 degrees asked
    /// for 150,230 rows).
    pub fn is_implausible(&self) -> bool {
        self.tilt_deg > MAX_TILT_DEG
    }

    /// Uneven when a step departs from the typical one by more than 1% (and 0.01 mm).
    pub fn is_uneven(&self) -> bool {
        self.max_deviation > (0.01 * self.typical_step).max(0.01)
    }
}

fn smallest_repeated(steps: &[f64]) -> Option<f64> {
    let mut s: Vec<f64> = steps.iter().copied().filter(|v| *v > 1e-6).collect();
    s.sort_by(f64::total_cmp);
    s.windows(2)
        .find(|w| (w[1] - w[0]).abs() <= 0.01 * w[1].max(0.01))
        .map(|w| w[0])
}

/// Median of the steps around `i` (up to 4 on each side, `i` excluded): the
/// step a slice's neighbourhood expects, so zones of different thickness
/// (4 mm then 7 mm in a head CT) are not taken for missing slices.
pub fn local_typical_step(steps: &[f64], i: usize) -> f64 {
    let lo = i.saturating_sub(4);
    let hi = (i + 5).min(steps.len());
    let around: Vec<f64> = (lo..hi).filter(|&j| j != i).map(|j| steps[j]).collect();
    if around.is_empty() {
        steps[i]
    } else {
        median(&around)
    }
}

pub(crate) fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len() % 2 == 1 {
        s[m]
    } else {
        0.5 * (s[m - 1] + s[m])
    }
}

/// Resamples the loaded stack onto an orthogonal grid (row, column, normal)
/// with a uniform step equal to the typical step. The grid covers every
/// input voxel; voxels outside the scanned region get the volume's minimum.
/// Returns the volume unchanged (not copied) when it is already orthogonal
/// and uniform.
#[tracing::instrument(level = "info", skip_all)]
pub fn resample_uniform(loaded: LoadedSeries, progress: &Progress) -> Result<Volume> {
    let g = &loaded.volume.geometry;
    let normal = normalize(cross(g.direction[0], g.direction[1]));
    let positions = &loaded.positions;
    let stack = StackGeometry::of(positions, normal);
    if !stack.is_tilted() && !stack.is_uneven() {
        return Ok(loaded.volume);
    }
    if stack.is_implausible() {
        return Err(CoreError::NotAVolume(format!(
            "the slices are stacked {:.1}° away from their normal, further than any gantry tilts ({MAX_TILT_DEG}° at most here): the slice positions or orientation in the headers are damaged",
            stack.tilt_deg
        )));
    }
    if stack.typical_step <= 1e-6 {
        return Err(CoreError::NotAVolume(
            "slices do not advance along the slice normal".into(),
        ));
    }
    let (nz, ny, nx) = loaded.volume.dim();
    let (r, c) = (g.direction[0], g.direction[1]);
    let (sx, sy) = (g.spacing[0], g.spacing[1]);
    let p0 = positions[0];
    // In-plane offset (in voxels) of each input slice relative to the first,
    // and its distance along the normal.
    let offs: Vec<(f64, f64, f64)> = positions
        .iter()
        .map(|p| {
            let d = sub(*p, p0);
            (dot(d, r) / sx, dot(d, c) / sy, dot(d, normal))
        })
        .collect();
    let min_x = offs
        .iter()
        .map(|o| o.0)
        .fold(f64::INFINITY, f64::min)
        .floor();
    let max_x = offs
        .iter()
        .map(|o| o.0)
        .fold(f64::NEG_INFINITY, f64::max)
        .ceil();
    let min_y = offs
        .iter()
        .map(|o| o.1)
        .fold(f64::INFINITY, f64::min)
        .floor();
    let max_y = offs
        .iter()
        .map(|o| o.1)
        .fold(f64::NEG_INFINITY, f64::max)
        .ceil();
    // Saturating: a damaged header's offsets can be huge (refused below).
    let out_nx = nx.saturating_add((max_x - min_x) as usize);
    let out_ny = ny.saturating_add((max_y - min_y) as usize);
    let span = offs[nz - 1].2 - offs[0].2;
    let step = stack.uniform_step;
    let out_nz = ((span / step).round() as usize).saturating_add(1);
    // The grid comes from the slices' positions, which a damaged header can
    // spread over kilometres: refuse before allocating it.
    let out_voxels = (out_nz as u64)
        .saturating_mul(out_ny as u64)
        .saturating_mul(out_nx as u64);
    let vb = loaded.volume.voxels.bytes_per_voxel() as u64;
    crate::base::memory::ensure_fits(
        &format!("resampling onto a uniform grid ({out_nx} x {out_ny} x {out_nz} voxels)"),
        out_voxels,
        // The input stays alive while the grid is filled.
        crate::base::memory::study_bytes(out_voxels, vb, false)
            .saturating_add((nz * ny * nx) as u64 * vb),
        (out_ny as u64 * out_nx as u64).saturating_mul(vb),
    )?;
    let origin = [
        p0[0] + min_x * sx * r[0] + min_y * sy * c[0],
        p0[1] + min_x * sx * r[1] + min_y * sy * c[1],
        p0[2] + min_x * sx * r[2] + min_y * sy * c[2],
    ];
    let geometry = Geometry {
        origin,
        spacing: [sx, sy, step],
        direction: [r, c, normal],
    };
    let pad = loaded.volume.voxels.min_max().0;
    progress.begin("resampling to a uniform grid", out_nz as u64);

    // For output slice k: the bracketing input slices and their shifts.
    let plan: Vec<(usize, usize, f64)> = (0..out_nz)
        .map(|k| {
            let d = (k as f64 * step).min(span);
            let b = offs.partition_point(|o| o.2 <= d).clamp(1, nz - 1);
            let a = b - 1;
            let w = offs[b].2 - offs[a].2;
            let t = if w > 0.0 {
                ((d - offs[a].2) / w).clamp(0.0, 1.0)
            } else {
                0.0
            };
            (a, b, t)
        })
        .collect();

    macro_rules! run {
        ($src:expr, $variant:ident, $round:expr) => {{
            let src = $src;
            let mut out = Array3::from_elem((out_nz, out_ny, out_nx), pad as _);
            out.axis_iter_mut(Axis(0))
                .into_par_iter()
                .zip(plan.par_iter())
                .try_for_each(|(mut plane, &(a, b, t))| -> Result<()> {
                    progress.check()?;
                    let sa = src.index_axis(Axis(0), a);
                    let sb = src.index_axis(Axis(0), b);
                    // Output (i, j) maps to input (i + min_x - off_x, j + min_y - off_y).
                    let (ax, ay) = (min_x - offs[a].0, min_y - offs[a].1);
                    let (bx, by) = (min_x - offs[b].0, min_y - offs[b].1);
                    blend(&mut plane, sa, sb, (ax, ay), (bx, by), t, pad, $round);
                    progress.advance(1);
                    Ok(())
                })?;
            Voxels::$variant(out)
        }};
    }
    let voxels = match &loaded.volume.voxels {
        Voxels::U8(a) => run!(a, U8, |v: f64| v.round() as u8),
        Voxels::I16(a) => run!(a, I16, |v: f64| v.round() as i16),
        Voxels::U16(a) => run!(a, U16, |v: f64| v.round() as u16),
        Voxels::I32(a) => run!(a, I32, |v: f64| v.round() as i32),
        Voxels::F32(a) => run!(a, F32, |v: f64| v as f32),
    };
    Ok(Volume::new(
        voxels,
        geometry,
        loaded.volume.modality.clone(),
    ))
}

#[allow(clippy::too_many_arguments)]
fn blend<T: crate::image::volume::VoxelType, F: Fn(f64) -> T>(
    out: &mut ArrayViewMut2<T>,
    a: ArrayView2<T>,
    b: ArrayView2<T>,
    shift_a: (f64, f64),
    shift_b: (f64, f64),
    t: f64,
    pad: f64,
    round: F,
) {
    let (ny, nx) = out.dim();
    for j in 0..ny {
        for i in 0..nx {
            let va = bilinear(&a, i as f64 + shift_a.0, j as f64 + shift_a.1);
            let vb = if t > 0.0 {
                bilinear(&b, i as f64 + shift_b.0, j as f64 + shift_b.1)
            } else {
                va
            };
            // Outside either slice the value is unknown: pad rather than
            // guess from one side.
            let v = match (va, vb) {
                (Some(x), Some(y)) => x * (1.0 - t) + y * t,
                _ => pad,
            };
            out[(j, i)] = round(v);
        }
    }
}

#[inline]
fn bilinear<T: crate::image::volume::VoxelType>(
    img: &ArrayView2<T>,
    x: f64,
    y: f64,
) -> Option<f64> {
    let (ny, nx) = img.dim();
    if !(x > -1e-6 && y > -1e-6 && x < nx as f64 - 1.0 + 1e-6 && y < ny as f64 - 1.0 + 1e-6) {
        return None;
    }
    let x = x.clamp(0.0, (nx - 1) as f64);
    let y = y.clamp(0.0, (ny - 1) as f64);
    let x0 = (x.floor() as usize).min(nx.saturating_sub(2));
    let y0 = (y.floor() as usize).min(ny.saturating_sub(2));
    let fx = if nx > 1 { x - x0 as f64 } else { 0.0 };
    let fy = if ny > 1 { y - y0 as f64 } else { 0.0 };
    let x1 = (x0 + 1).min(nx - 1);
    let y1 = (y0 + 1).min(ny - 1);
    let v00 = img[(y0, x0)].to_f64();
    let v01 = img[(y0, x1)].to_f64();
    let v10 = img[(y1, x0)].to_f64();
    let v11 = img[(y1, x1)].to_f64();
    Some((v00 * (1.0 - fx) + v01 * fx) * (1.0 - fy) + (v10 * (1.0 - fx) + v11 * fx) * fy)
}
