//! Jumps between neighbouring slices, each registered in 2D against the
//! pairs beside it ([`Boundary`]), and paired into blocks of moved slices
//! ([`Candidate`]): a jump and its mirror further on, or a step.

use super::{MAX_ANGLE_DEG, MIN_SHIFT_MM, norm2};
use crate::checks::register;

/// A block of moved slices `first..=last` (0-based) between jumps at
/// pairs `first - 1` and `last` (a step has only one of them).
#[derive(Clone, Copy, Debug)]
pub(super) struct Candidate {
    pub(super) first: usize,
    pub(super) last: usize,
    /// Indices into the boundaries at its ends (the pairs `first - 1`
    /// and `last`).
    pub(super) before: Option<usize>,
    pub(super) after: Option<usize>,
}

/// One jump between neighbouring slices, registered in 2D against the
/// pairs beside it.
#[derive(Clone, Debug)]
pub(super) struct Boundary {
    /// The pair (slice k, k+1).
    pub(super) pair: usize,
    /// Shift and turn together, for the turn and the residual.
    pub(super) rigid: register::Rigid,
    /// The motion across the boundary (translation only) less the
    /// neighbours' drift, mm.
    pub(super) motion: [f64; 2],
    /// The same from the rigid fit: the better one where the slices turned.
    pub(super) rigid_motion: [f64; 2],
    /// The neighbours align this well (largest rms after alignment).
    pub(super) typical_rms: Option<f64>,
}

impl Boundary {
    pub(super) fn improved(&self) -> bool {
        self.rigid.rms_after < 0.9 * self.rigid.rms_before
    }

    /// Aligned (with its turn) as well as its neighbours align.
    pub(super) fn aligned(&self) -> bool {
        self.typical_rms
            .is_some_and(|t| self.rigid.rms_after <= 1.3 * t + 0.002 * register::SCALE as f64)
    }

    pub(super) fn turned(&self) -> bool {
        self.rigid.angle.to_degrees().abs() > MAX_ANGLE_DEG
    }

    /// A rigid in-plane shift explains the jump.
    pub(super) fn clean(&self) -> bool {
        self.improved() && self.aligned() && !self.turned()
    }

    /// The displacement across the boundary, mm, and the turn, degrees.
    pub(super) fn estimate(&self) -> [f64; 3] {
        let m = if self.turned() {
            self.rigid_motion
        } else {
            self.motion
        };
        [m[0], m[1], self.rigid.angle.to_degrees()]
    }
}

/// Jumps into blocks: each jump pairs with the nearest later one whose
/// motion mirrors it (the slices went and came back); the rest are steps,
/// the shorter side counted as moved.
pub(super) fn candidates(bounds: &[Boundary], nz: usize) -> Vec<Candidate> {
    let max_block = (nz / 2).max(10);
    let mirrors = |a: &Boundary, b: &Boundary| {
        let (ea, eb) = (a.estimate(), b.estimate());
        let (ma, mb) = (norm2([ea[0], ea[1]]), norm2([eb[0], eb[1]]));
        let sum = norm2([ea[0] + eb[0], ea[1] + eb[1]]);
        let turns_back = !(a.turned() || b.turned())
            || (ea[2] + eb[2]).abs() <= 0.35 * ea[2].abs().max(eb[2].abs()) + 0.5;
        sum <= 0.35 * ma.max(mb) + 0.3 && ma.min(mb) >= MIN_SHIFT_MM && turns_back
    };
    let mut used = vec![false; bounds.len()];
    let mut out = Vec::new();
    for a in 0..bounds.len() {
        if used[a] {
            continue;
        }
        used[a] = true;
        let i = bounds[a].pair;
        let back = (a + 1..bounds.len()).find(|&b| {
            !used[b] && bounds[b].pair - i <= max_block && mirrors(&bounds[a], &bounds[b])
        });
        out.push(match back {
            Some(b) => {
                used[b] = true;
                Candidate {
                    first: i + 1,
                    last: bounds[b].pair,
                    before: Some(a),
                    after: Some(b),
                }
            }
            None if i < nz - 1 - i => Candidate {
                first: 0,
                last: i,
                before: None,
                after: Some(a),
            },
            None => Candidate {
                first: i + 1,
                last: nz - 1,
                before: Some(a),
                after: None,
            },
        });
    }
    out
}
