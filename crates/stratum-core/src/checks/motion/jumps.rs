//! The 2D registrations behind the jumps between slices: on the coarse
//! levels first, on to the finest only for the jumps that may have moved.

use std::collections::{BTreeSet, HashMap};

use rayon::prelude::*;

use super::{
    MAX_ANGLE_DEG, MIN_SHIFT_MM, PairShift, Pairs, REFINE_MM, centre, median, neighbours, norm2,
};
use crate::checks::register::{self, Image, Profiles, Window};
use crate::image::volume::Volume;

/// A jump whose motion across it, judged on the coarse levels, stays
/// under these is not looked at on the finest level: a boundary moved
/// less than [`MIN_SHIFT_MM`] and turned less than [`MAX_ANGLE_DEG`] can
/// neither make a finding on its own nor mirror another jump into a block
/// (see [`super::blocks::candidates`] and [`super::confirm`]), and the finest level
/// moves a shift by a few hundredths of a millimetre and finds no other
/// turn (the turn is found on the coarse levels), so half of each bound
/// leaves a wide margin.
const STILL_MM: f64 = 0.5 * MIN_SHIFT_MM;
const STILL_DEG: f64 = 0.5 * MAX_ANGLE_DEG;

/// The anatomy's drift across the boundary at pair `k`: the median of
/// what its `neighbours` moved (`shift` of each; their geometric part
/// taken off, this pair's put on, as in its raw shift).
pub(super) fn drift(
    k: usize,
    neighbours: &[usize],
    shift: impl Fn(usize) -> [f64; 2],
    geometric: &[[f64; 2]],
) -> [f64; 2] {
    std::array::from_fn(|a| {
        if neighbours.is_empty() {
            return -geometric[k][a];
        }
        let mut v: Vec<f64> = neighbours
            .iter()
            .map(|&p| shift(p)[a] + geometric[p][a])
            .collect();
        median(&mut v) - geometric[k][a]
    })
}

/// The pairs in runs of consecutive ones (a jump's pair and its
/// neighbours on both sides), each cut into stretches of at most
/// `STRETCH` pairs: the coarse stage goes along a stretch one slice at a
/// time, so a slice's coarse levels are made once for its two pairs and
/// at most two slices' are held at a time by each thread. Holding every
/// slice's at once (16 slices for two jumps, 1.3 MB) was new memory from
/// the system at every check, a page fault for each 4 KiB: a fifth of
/// the check's time after decoding. Cutting a run costs one slice's
/// coarse levels made twice, and lets both threads share a lone jump's.
fn stretches(pairs: &BTreeSet<usize>) -> Vec<Vec<usize>> {
    let mut runs: Vec<Vec<usize>> = Vec::new();
    for &k in pairs {
        match runs.last_mut() {
            Some(run) if run.last().map(|&l| l + 1) == Some(k) && run.len() < STRETCH => {
                run.push(k)
            }
            _ => runs.push(vec![k]),
        }
    }
    runs
}

/// The longest stretch of pairs (see [`stretches`]).
const STRETCH: usize = 4;

/// The 2D registrations the boundaries at `jumps` need: each jump's pair
/// as a pure shift and with a turn, its neighbours' pairs as pure shifts.
/// First on the coarse levels only ([`register::coarse_pyramid`]: no
/// slice image at full detail is made), which settles the jumps that did
/// not move (`STILL_MM`, the usual case: anatomy that changes fast); then
/// the others as in full: their pair's shift down to the finest level and
/// the turn from it, the pairs beside judged on the finest level, the
/// neighbours refined there where their shift is large enough
/// (`REFINE_MM`). The coarse stage goes along [`stretches`] of pairs,
/// one task each; the finest, one registration a task. They spread over
/// the threads a few large tasks at a time (small parallel loops inside
/// each cost more in wake-ups than they save).
#[tracing::instrument(level = "info", skip_all)]
pub(super) fn register_jumps(
    volume: &Volume,
    window: Window,
    px: [f64; 2],
    profiles: &[Profiles],
    pairs: &Pairs,
    geometric: &[[f64; 2]],
    jumps: &[usize],
) -> (HashMap<usize, PairShift>, HashMap<usize, register::Rigid>) {
    let n = pairs.raw.len();
    let mut shift_pairs = BTreeSet::new();
    for &k in jumps {
        shift_pairs.insert(k);
        shift_pairs.extend(neighbours(k, jumps, n));
    }
    let coarse_of = |z: usize| {
        crate::with_voxels!(&volume.voxels, a => register::coarse_pyramid(a, z, window, px)).1
    };
    // The coarse levels: every pair's shift, and each jump's turn from it,
    // a stretch of consecutive pairs at a time.
    let stretches = stretches(&shift_pairs);
    let done: Vec<(usize, [f64; 2], Option<register::Rigid>)> = stretches
        .par_iter()
        // One stretch a task, so they spread over the threads.
        .with_max_len(1)
        .flat_map_iter(|stretch| {
            let _span = tracing::info_span!("motion_coarse", first = stretch[0]).entered();
            let mut out = Vec::with_capacity(stretch.len());
            let mut fixed = coarse_of(stretch[0]);
            for &k in stretch {
                let moving = coarse_of(k + 1);
                let rotate = jumps.contains(&k);
                let (f, m) = (&fixed, &moving);
                let shift = register::register_shift(f, m, pairs.raw[k], register::Detail::Full);
                let turn = rotate
                    .then(|| register::register_turn_coarse(f, m, centre(profiles, px, k), shift));
                out.push((k, shift, turn));
                // Its pyramid is the next pair's fixed one; the old one's
                // memory goes to the next slice's.
                fixed = moving;
            }
            out
        })
        .collect();
    let coarse_shift: HashMap<usize, [f64; 2]> = done.iter().map(|&(k, s, _)| (k, s)).collect();
    let mut shifts: HashMap<usize, PairShift> = coarse_shift
        .iter()
        .map(|(&k, &shift)| {
            let p = PairShift {
                shift,
                rms_after: None,
            };
            (k, p)
        })
        .collect();
    let mut turns: HashMap<usize, register::Rigid> =
        done.iter().filter_map(|&(k, _, t)| Some((k, t?))).collect();
    // The jumps that moved, or may have: on to the finest level.
    let moved: Vec<usize> = jumps
        .iter()
        .copied()
        .filter(|&k| {
            let d = drift(k, &neighbours(k, jumps, n), |p| coarse_shift[&p], geometric);
            let s = coarse_shift[&k];
            norm2([s[0] - d[0], s[1] - d[1]]) >= STILL_MM
                || turns[&k].angle.to_degrees().abs() >= STILL_DEG
        })
        .collect();
    if moved.is_empty() {
        return (shifts, turns);
    }
    let beside = |k: usize| moved.iter().any(|&j| j.abs_diff(k) == 1);
    let mut fine_pairs: BTreeSet<usize> = BTreeSet::new();
    for &k in &moved {
        fine_pairs.insert(k);
        fine_pairs.extend(neighbours(k, jumps, n));
    }
    // Which pairs need the finest level: the jump's own, the pairs beside
    // it (judged there), neighbours whose shift is refined there.
    let needs_finest = |k: usize| {
        let s = coarse_shift[&k];
        moved.contains(&k) || beside(k) || s[0].hypot(s[1]) >= REFINE_MM
    };
    let fine: Vec<usize> = fine_pairs
        .iter()
        .copied()
        .filter(|&k| needs_finest(k))
        .collect();
    // Their slices' whole pyramids (the finest level and those under it;
    // made from the slice image, the same coarse levels to the bit).
    let slices: BTreeSet<usize> = fine.iter().flat_map(|&k| [k, k + 1]).collect();
    let span = tracing::info_span!("motion_images_finest", slices = slices.len()).entered();
    let whole: HashMap<usize, Vec<Image>> = slices
        .into_par_iter()
        .map(|z| {
            let base =
                crate::with_voxels!(&volume.voxels, a => register::slice_image(a, z, window, px));
            (z, register::pyramid(base))
        })
        .collect();
    drop(span);
    let pyramid_of = |z: usize| -> &[Image] { &whole[&z] };
    // The other neighbours keep their shift from the coarse levels.
    let mut tasks: Vec<(usize, bool)> = fine.iter().map(|&k| (k, moved.contains(&k))).collect();
    tasks.sort_by_key(|&(_, rotate)| !rotate);
    let done: Vec<(usize, PairShift, Option<register::Rigid>)> = tasks
        .into_par_iter()
        .with_max_len(1)
        .map(|(k, rotate)| {
            let _span = tracing::info_span!("motion_register", k, rotate).entered();
            let (f, m) = (pyramid_of(k), pyramid_of(k + 1));
            // A jump's pair: its shift in full, then the turn from there.
            // Its neighbours give only the anatomy's drift and how well
            // slices align here: a shift at the coarse level does, refined
            // where it is large enough to matter.
            let detail = if rotate {
                register::Detail::Full
            } else {
                register::Detail::Coarse {
                    refine_mm: REFINE_MM,
                }
            };
            let shift = register::register_shift(f, m, pairs.raw[k], detail);
            // Only the pairs right beside a jump say how well slices align.
            let rms_after = beside(k).then(|| register::shift_rms(f, m, shift));
            let turn =
                rotate.then(|| register::register_turn(f, m, centre(profiles, px, k), shift));
            (k, PairShift { shift, rms_after }, turn)
        })
        .collect();
    for (k, shift, turn) in done {
        shifts.insert(k, shift);
        if let Some(t) = turn {
            turns.insert(k, t);
        }
    }
    (shifts, turns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_go_in_stretches_of_consecutive_ones_cut_at_the_longest() {
        // A lone jump's seven pairs, a run of three, one alone at 0, and
        // two runs that touch end to start.
        let pairs: BTreeSet<usize> = [0, 18, 19, 20, 21, 22, 23, 24, 40, 41, 42, 50, 51]
            .into_iter()
            .chain(52..=58)
            .collect();
        let got = stretches(&pairs);
        let want: Vec<Vec<usize>> = vec![
            vec![0],
            vec![18, 19, 20, 21],
            vec![22, 23, 24],
            vec![40, 41, 42],
            vec![50, 51, 52, 53],
            vec![54, 55, 56, 57],
            vec![58],
        ];
        assert_eq!(got, want);
        assert!(stretches(&BTreeSet::new()).is_empty());
    }
}
