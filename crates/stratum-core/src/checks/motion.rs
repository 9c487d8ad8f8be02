//! Motion between slices: finds slices whose content is displaced in-plane
//! against their neighbours (a patient who moved during a sequential CT or
//! a 2D MR stack), says where in the patient's words, and says whether a
//! re-alignment can correct it ([`super::realign`]).
//!
//! How: each slice's intensity profiles along its rows and columns (summed
//! as a CT is decoded, else in one pass over the voxels) give the
//! in-plane shift between neighbouring
//! slices; the shift the stack's geometry explains (gantry tilt) is taken
//! off, and so is the slow drift of the anatomy (a running median). A
//! jump that stands out, and a jump back by the same amount further on,
//! mark a block of moved slices; a jump with no return, a step. Each
//! boundary is then registered in 2D (shift and turn, on the body outline
//! and the bright structures) against the pairs beside it: a shift that
//! aligns the slices as well as their neighbours align is a rigid in-plane
//! shift and can be corrected; a turn, or a difference no in-plane shift
//! removes, is reported as motion that cannot be corrected.

use std::collections::HashMap;

use rayon::prelude::*;
use serde::Serialize;

mod blocks;
mod early;
mod jumps;
mod words;

use blocks::{Boundary, Candidate, candidates};
pub use early::DecodeProfiles;
use jumps::{drift, register_jumps};
use words::describe;
pub use words::{add_to_report, patient_words};

use super::realign::{Realignment, SliceShift};
use super::register::{self, Profiles, Window};
use crate::base::error::Result;
use crate::base::progress::Progress;
use crate::image::volume::{Volume, dot, sub};

/// Smallest shift reported (mm): below it a model does not show it.
pub const MIN_SHIFT_MM: f64 = 0.5;
/// Largest shift looked for (mm).
const MAX_SHIFT_MM: f64 = 25.0;
/// A jump must stand this many times above the stack's jitter.
const JITTER_FACTOR: f64 = 5.0;
/// A turn above this (degrees) is not a pure shift.
const MAX_ANGLE_DEG: f64 = 1.0;
/// Pairs on each side whose jitter sets the threshold of a jump.
const JITTER_WINDOW: usize = 8;
/// Neighbouring pairs on each side of a jump that measure the anatomy's drift.
const DRIFT_PAIRS: usize = 3;
/// A neighbouring pair's shift found at the coarse level is refined on the
/// finest from this (mm): below it, the coarse level places it to a few
/// hundredths of a millimetre (`register::Detail::Coarse`).
const REFINE_MM: f64 = 0.25;
/// Fewer slices give no neighbourhood to measure a jump against.
pub const MIN_SLICES: usize = 6;

/// What the motion check found.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MotionReport {
    /// Slices checked.
    pub slices: usize,
    /// The typical slice-to-slice jitter of the measured shift (mm), after
    /// the anatomy's drift is taken off: what a finding must stand out from.
    pub jitter_mm: f64,
    /// Jumps between neighbouring slices that stood out and were
    /// registered in 2D to tell motion from anatomy.
    pub examined: usize,
    pub findings: Vec<MotionFinding>,
    /// The re-alignment applied when the volume was opened, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub applied: Option<Realignment>,
}

/// One group of moved slices.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MotionFinding {
    /// First and last moved slice (1-based, stack order).
    pub first: usize,
    pub last: usize,
    /// The neighbouring slices they were measured against (1-based).
    pub against: Vec<usize>,
    /// Displacement of the moved slices' content, mm along the volume's
    /// column (x) and row (y) axes.
    pub shift_mm: [f64; 2],
    /// The same displacement in patient coordinates (LPS, mm).
    pub shift_lps: [f64; 3],
    /// How far the body outline's centre moved with them (mm, x and y).
    pub outline_mm: [f64; 2],
    /// In-plane turn measured at the boundaries (degrees).
    pub angle_deg: f64,
    /// A rigid in-plane shift, which re-aligning corrects.
    pub correctable: bool,
    /// The finding in plain words.
    pub description: String,
}

impl MotionReport {
    /// The re-alignment that corrects every correctable finding.
    pub fn offer(&self) -> Option<Realignment> {
        let slices: Vec<SliceShift> = self
            .findings
            .iter()
            .filter(|f| f.correctable)
            .flat_map(|f| {
                (f.first..=f.last).map(|slice| SliceShift {
                    slice,
                    shift_mm: f.shift_mm,
                })
            })
            .collect();
        (!slices.is_empty()).then_some(Realignment { slices })
    }
}

/// The registration window of CT: air to dense bone.
const CT_WINDOW: Window = Window {
    lo: -950.0,
    hi: 1500.0,
};

/// The registration window: [`CT_WINDOW`] for CT; for other scans the
/// 2nd to 99.5th percentile of a sample of the voxels.
fn window(volume: &Volume) -> Window {
    if volume.is_ct() {
        return CT_WINDOW;
    }
    let mut sample: Vec<f32> = crate::with_voxels!(&volume.voxels, a => {
        let s = a.as_slice_memory_order().expect("volumes are contiguous");
        let step = (s.len() / 200_000).max(1);
        s.iter().step_by(step).map(|v| crate::image::volume::VoxelType::to_f32(*v)).filter(|v| v.is_finite()).collect()
    });
    if sample.is_empty() {
        return Window { lo: 0.0, hi: 1.0 };
    }
    sample.sort_by(f32::total_cmp);
    let at = |q: f64| sample[((sample.len() - 1) as f64 * q) as usize];
    let (lo, hi) = (at(0.02), at(0.995));
    Window {
        lo,
        hi: if hi > lo { hi } else { lo + 1.0 },
    }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

fn norm2(v: [f64; 2]) -> f64 {
    v[0].hypot(v[1])
}

/// Intensity-weighted centre of a profile (in samples).
fn centre_of(p: &[f32]) -> Option<f64> {
    let (mut s, mut m) = (0.0f64, 0.0f64);
    for (i, &v) in p.iter().enumerate() {
        s += v as f64;
        m += v as f64 * i as f64;
    }
    (s > 0.0).then(|| m / s)
}

/// What the stack and its profiles say about each pair of neighbours.
struct Pairs {
    /// Raw content displacement of slice z+1 against z, mm (x, y).
    raw: Vec<[f64; 2]>,
    /// Raw less what the geometry explains (tilt, uneven steps), less
    /// the anatomy's local drift.
    residual: Vec<[f64; 2]>,
}

#[tracing::instrument(level = "info", skip_all)]
fn measure_pairs(profiles: &[Profiles], px: [f64; 2], geometric: &[[f64; 2]]) -> Pairs {
    let max = [
        (MAX_SHIFT_MM / px[0]).ceil() as usize,
        (MAX_SHIFT_MM / px[1]).ceil() as usize,
    ];
    // Each profile's coarse copy, made once for its two pairs: a few
    // tens of microseconds in all, less than waking a thread for them.
    let coarse: Vec<[Vec<f32>; 2]> = profiles
        .iter()
        .map(|p| [register::coarse_1d(&p.cols), register::coarse_1d(&p.rows)])
        .collect();
    let shift = |p: &[f32], q: &[f32], pc: &[f32], qc: &[f32], max: usize| {
        if p.len() == q.len() {
            register::shift_1d_with(p, q, pc, qc, max)
        } else {
            register::shift_1d(p, q, max)
        }
    };
    let raw: Vec<[f64; 2]> = profiles
        .par_windows(2)
        .zip(coarse.par_windows(2))
        .map(|(w, c)| {
            let step = w[0].row_step.max(1);
            [
                shift(&w[0].cols, &w[1].cols, &c[0][0], &c[1][0], max[0]) * px[0],
                shift(&w[0].rows, &w[1].rows, &c[0][1], &c[1][1], max[1] / step)
                    * px[1]
                    * step as f64,
            ]
        })
        .collect();
    let motion: Vec<[f64; 2]> = raw
        .iter()
        .zip(geometric)
        .map(|(r, g)| [r[0] + g[0], r[1] + g[1]])
        .collect();
    let residual = (0..motion.len())
        .map(|z| {
            let lo = z.saturating_sub(4);
            let hi = (z + 5).min(motion.len());
            let mut base = [0.0; 2];
            for (axis, b) in base.iter_mut().enumerate() {
                let mut v: Vec<f64> = (lo..hi)
                    .filter(|&k| k != z)
                    .map(|k| motion[k][axis])
                    .collect();
                *b = median(&mut v);
            }
            [motion[z][0] - base[0], motion[z][1] - base[1]]
        })
        .collect();
    Pairs { raw, residual }
}

/// A pair's pure shift (mm) and, beside a jump, how well it aligns.
#[derive(Clone, Copy, Debug)]
struct PairShift {
    shift: [f64; 2],
    rms_after: Option<f64>,
}

struct Context<'a> {
    volume: &'a Volume,
    px: [f64; 2],
    profiles: &'a [Profiles],
    pairs: &'a Pairs,
    geometric: &'a [[f64; 2]],
    /// Each pair's registration as a pure shift, and as shift and turn
    /// (the jumps only), made up front: the boundaries share slices and
    /// neighbours.
    shifts: HashMap<usize, PairShift>,
    turns: HashMap<usize, register::Rigid>,
}

/// Up to DRIFT_PAIRS pairs on each side of the jump at pair `k`, stopping
/// at another jump or the end of the `n` pairs.
fn neighbours(k: usize, jumps: &[usize], n: usize) -> Vec<usize> {
    let mut out = Vec::new();
    for side in [-1isize, 1] {
        for step in 1..=DRIFT_PAIRS as isize {
            let p = k as isize + side * step;
            if p < 0 || p >= n as isize || jumps.contains(&(p as usize)) {
                break;
            }
            out.push(p as usize);
        }
    }
    out
}

fn centre(profiles: &[Profiles], px: [f64; 2], z: usize) -> [f64; 2] {
    let p = &profiles[z];
    [
        centre_of(&p.cols).unwrap_or(p.cols.len() as f64 / 2.0) * px[0],
        centre_of(&p.rows).unwrap_or(p.rows.len() as f64 / 2.0) * px[1] * p.row_step.max(1) as f64,
    ]
}

impl Context<'_> {
    fn centre(&self, z: usize) -> [f64; 2] {
        centre(self.profiles, self.px, z)
    }

    fn boundary(&self, k: usize, jumps: &[usize]) -> Boundary {
        let rigid = self.turns[&k];
        let shift = self.shifts[&k].shift;
        let neighbours = neighbours(k, jumps, self.pairs.raw.len());
        let refs: Vec<PairShift> = neighbours.iter().map(|&p| self.shifts[&p]).collect();
        // The anatomy's drift across the boundary: the median of what its
        // neighbours moved (their geometric part taken off, this pair's
        // put on, as in its raw shift).
        let drift = drift(k, &neighbours, |p| self.shifts[&p].shift, self.geometric);
        // Its immediate neighbours say how well slices align here.
        let typical_rms = refs
            .iter()
            .zip(&neighbours)
            .filter(|(_, p)| p.abs_diff(k) == 1)
            .filter_map(|(r, _)| r.rms_after)
            .reduce(f64::max);
        Boundary {
            pair: k,
            rigid,
            motion: [shift[0] - drift[0], shift[1] - drift[1]],
            rigid_motion: [rigid.shift[0] - drift[0], rigid.shift[1] - drift[1]],
            typical_rms,
        }
    }
}

/// Checks a volume for motion between its slices. `positions` are the
/// slices' ImagePositionPatient (LPS mm) in volume order; `None` takes
/// them from the geometry (NIfTI).
pub fn detect_motion(
    volume: &Volume,
    positions: Option<&[[f64; 3]]>,
    progress: &Progress,
) -> Result<MotionReport> {
    detect_motion_with(volume, positions, None, progress)
}

/// [`detect_motion`] with the profiles taken while the volume was decoded
/// (see [`DecodeProfiles`]); made here when they are missing or do not fit.
#[tracing::instrument(level = "info", skip_all)]
pub fn detect_motion_with(
    volume: &Volume,
    positions: Option<&[[f64; 3]]>,
    early: Option<DecodeProfiles>,
    progress: &Progress,
) -> Result<MotionReport> {
    let (nz, ny, nx) = volume.dim();
    let mut report = MotionReport {
        slices: nz,
        ..MotionReport::default()
    };
    if nz < MIN_SLICES || nx < 16 || ny < 16 {
        return Ok(report);
    }
    progress.begin("checking for motion between slices", 2);
    let g = &volume.geometry;
    let px = [g.spacing[0], g.spacing[1]];
    let window = window(volume);
    let profiles = match early.and_then(|e| e.of(volume)) {
        Some(p) => p,
        None => tracing::info_span!("motion_profiles")
            .in_scope(|| register::profiles(&volume.voxels, window)),
    };
    progress.advance(1);
    progress.check()?;
    let positions: Vec<[f64; 3]> = match positions {
        Some(p) if p.len() == nz => p.to_vec(),
        _ => (0..nz)
            .map(|z| g.index_to_lps([0.0, 0.0, z as f64]))
            .collect(),
    };
    let geometric: Vec<[f64; 2]> = positions
        .windows(2)
        .map(|w| {
            let d = sub(w[1], w[0]);
            [dot(d, g.direction[0]), dot(d, g.direction[1])]
        })
        .collect();
    let pairs = measure_pairs(&profiles, px, &geometric);
    let norms: Vec<f64> = pairs.residual.iter().map(|r| norm2(*r)).collect();
    // Median of |r| for a 2D normal spread is 1.18 sigma.
    let jitter = |v: &mut Vec<f64>| median(v) / 1.1774;
    report.jitter_mm = jitter(&mut norms.clone());
    // A jump stands out against its own stretch of the stack: zones of
    // thick slices, or of fast-changing anatomy, jitter more.
    let thresholds: Vec<f64> = (0..norms.len())
        .map(|z| {
            let lo = z.saturating_sub(JITTER_WINDOW);
            let hi = (z + JITTER_WINDOW + 1).min(norms.len());
            let mut near: Vec<f64> = (lo..hi).filter(|&k| k != z).map(|k| norms[k]).collect();
            MIN_SHIFT_MM.max(JITTER_FACTOR * jitter(&mut near))
        })
        .collect();
    let over: Vec<bool> = norms.iter().zip(&thresholds).map(|(n, t)| n > t).collect();
    // Slices with little of the body in them (the edge of the head in a
    // sagittal stack, the ends of a scan) change shape too fast to tell.
    let content: Vec<f64> = profiles
        .iter()
        .map(|p| p.rows.iter().map(|&v| v as f64).sum())
        .collect();
    let typical_content = median(&mut content.clone());
    let substantial = |z: usize| content[z] >= 0.3 * typical_content;
    // Motion makes isolated jumps (two in a row for one moved slice);
    // anatomy that changes fast (the top of the skull, the shoulders)
    // makes runs of them: a jump with two more within two pairs is not
    // motion.
    let jumps: Vec<usize> = (0..over.len())
        .filter(|&z| over[z] && substantial(z) && substantial(z + 1))
        .filter(|&z| {
            let lo = z.saturating_sub(2);
            let hi = (z + 3).min(over.len());
            (lo..hi).filter(|&k| over[k]).count() <= 2
        })
        .collect();
    progress.check()?;
    let (shifts, turns) = register_jumps(volume, window, px, &profiles, &pairs, &geometric, &jumps);
    let ctx = Context {
        volume,
        px,
        profiles: &profiles,
        pairs: &pairs,
        geometric: &geometric,
        shifts,
        turns,
    };
    report.examined = jumps.len();
    let bounds: Vec<Boundary> = jumps.iter().map(|&k| ctx.boundary(k, &jumps)).collect();
    for b in &bounds {
        tracing::debug!(
            "motion: jump after slice {}: shift {:?} mm, turn {:.2}°, rms {:.0} -> {:.0} (neighbours {:?}), clean {}",
            b.pair + 1,
            b.motion,
            b.rigid.angle.to_degrees(),
            b.rigid.rms_before,
            b.rigid.rms_after,
            b.typical_rms,
            b.clean()
        );
    }
    for c in candidates(&bounds, nz) {
        if let Some(f) = confirm(&ctx, c, &bounds, &thresholds) {
            report.findings.push(f);
        }
    }
    progress.advance(1);
    Ok(report)
}

/// Keeps a candidate when its boundaries show motion: a rigid shift at one
/// boundary at least (the other mirroring it) is correctable; a block
/// whose boundaries both turn, or both need more than an in-plane shift,
/// is motion that cannot be corrected; anything else is anatomy.
fn confirm(
    ctx: &Context,
    c: Candidate,
    bounds: &[Boundary],
    thresholds: &[f64],
) -> Option<MotionFinding> {
    // Each boundary's estimate of the moved slices' displacement: into
    // the block across `before`, out of it (negated) across `after`.
    let ends: Vec<(&Boundary, f64)> = [
        c.before.map(|i| (&bounds[i], 1.0)),
        c.after.map(|i| (&bounds[i], -1.0)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mean = |of: &dyn Fn(&Boundary, f64) -> [f64; 3], pick: &dyn Fn(&Boundary) -> bool| {
        let chosen: Vec<[f64; 3]> = ends
            .iter()
            .filter(|(b, _)| pick(b))
            .map(|(b, s)| of(b, *s))
            .collect();
        let n = chosen.len().max(1) as f64;
        std::array::from_fn::<f64, 3, _>(|a| chosen.iter().map(|v| v[a]).sum::<f64>() / n)
    };
    let of = |b: &Boundary, s: f64| b.estimate().map(|v| s * v);
    let block = ends.len() == 2;
    let any_clean = ends.iter().any(|(b, _)| b.clean());
    let all_turned = ends.iter().all(|(b, _)| b.turned() && b.aligned());
    let all_improved = ends.iter().all(|(b, _)| b.improved());
    let (est, correctable, turned) = if any_clean {
        (mean(&of, &|b| b.clean()), true, false)
    } else if block && all_turned {
        (mean(&of, &|_| true), false, true)
    } else if block && all_improved {
        (mean(&of, &|_| true), false, false)
    } else {
        return None;
    };
    let shift = [est[0], est[1]];
    let threshold = ends
        .iter()
        .map(|(b, _)| thresholds[b.pair])
        .fold(f64::INFINITY, f64::min);
    if norm2(shift) < MIN_SHIFT_MM.max(0.8 * threshold) && !turned {
        return None;
    }
    let g = &ctx.volume.geometry;
    let shift_lps: [f64; 3] =
        std::array::from_fn(|i| shift[0] * g.direction[0][i] + shift[1] * g.direction[1][i]);
    let outline = outline_jump(ctx, c);
    let nz = ctx.profiles.len();
    let against: Vec<usize> = [
        c.first.checked_sub(1).map(|z| z + 1),
        (c.last + 1 < nz).then_some(c.last + 2),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut f = MotionFinding {
        first: c.first + 1,
        last: c.last + 1,
        against,
        shift_mm: shift,
        shift_lps,
        outline_mm: outline,
        angle_deg: est[2],
        correctable,
        description: String::new(),
    };
    f.description = describe(&f, turned);
    Some(f)
}

/// The jump of the body outline's centre into the block, less its drift.
fn outline_jump(ctx: &Context, c: Candidate) -> [f64; 2] {
    let nz = ctx.profiles.len();
    let centre = |z: usize| ctx.centre(z.min(nz - 1));
    let inside = centre((c.first + c.last) / 2);
    let outside: Vec<[f64; 2]> = [
        c.first.checked_sub(1).map(centre),
        (c.last + 1 < nz).then(|| centre(c.last + 1)),
    ]
    .into_iter()
    .flatten()
    .collect();
    if outside.is_empty() {
        return [0.0; 2];
    }
    let n = outside.len() as f64;
    std::array::from_fn(|a| inside[a] - outside.iter().map(|o| o[a]).sum::<f64>() / n)
}
