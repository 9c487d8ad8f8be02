//! What a threshold preset knows beyond its window: the level half-way
//! between the tissues on either side of its boundary (so the surface sits
//! on the partial-volume edge), its colour, and, for bone, leaving out
//! what is not the patient (the table, a head holder).

use ndarray::Zip;
use rayon::prelude::*;

use std::collections::VecDeque;

use super::bits::flood_bits;
use super::error::SegmentError;
use super::{
    BitMask, Mask, Preset, SegmentMask, fill_holes_2d, keep_largest, segment_colour, threshold_mask,
};
use crate::base::error::Result;
use crate::base::progress::Progress;
use crate::image::volume::Volume;

/// A preset's segment on one volume (its mask one byte a voxel, or as
/// [`preset_segment_packed`] made it).
#[derive(Clone, Debug)]
pub struct PresetSegment<M = Mask> {
    pub mask: M,
    /// The window the mask is of; `lo` is the surface level.
    pub lo: f64,
    pub hi: f64,
    /// The level found from the scan, when the preset finds its own.
    pub found_level: Option<f64>,
    /// What the preset left out and why, in plain words.
    pub note: Option<String>,
}

impl Preset {
    /// Bone and contrast vessels on CT: a bright structure against soft
    /// tissue, whose edge is half-way between the two.
    pub fn finds_level(self, volume: &Volume) -> bool {
        volume.is_ct() && matches!(self, Preset::Bone | Preset::ContrastVessels)
    }

    /// The colour its segment is shown in.
    pub fn colour(self) -> [u8; 3] {
        let key = match self {
            Preset::Bone => "bone",
            Preset::SoftTissue => "muscle",
            Preset::Lungs => "lung",
            Preset::Skin => "skin",
            Preset::ContrastVessels => "artery",
        };
        segment_colour(key, 0)
    }

    /// The window this preset segments with on `volume`: its own window,
    /// with the lower end moved to the level found from the scan where the
    /// preset finds its own (see [`half_way_level`]).
    pub fn level_window(self, volume: &Volume) -> (f64, f64, Option<f64>) {
        let (lo, hi) = self.window(volume);
        if !self.finds_level(volume) {
            return (lo, hi, None);
        }
        // One bit a voxel: beside the scan, a byte mask is what made
        // `convert --preset bone`'s peak.
        let first = BitMask::threshold(volume, lo, hi);
        // Edges with air or lung (under -400 HU) are another edge: the
        // table's against air would put the level at 0 HU.
        match half_way_level_bits(volume, &first, -400.0, lo, hi) {
            Some(level) => {
                // Bone never below its classic 250 HU (a plastic head
                // phantom's "bone" would pull it to 60); contrast down to
                // half its floor: a faint enhancement (150 HU against 40)
                // has its edge at 95.
                let floor = match self {
                    Preset::Bone => lo,
                    _ => 0.5 * lo,
                };
                let level = level.clamp(floor, hi - 1.0).round();
                (level, hi, Some(level))
            }
            None => (lo, hi, None),
        }
    }
}

/// The level half-way between the tissue inside a bright structure and
/// the tissue around it, measured along its boundary: for each boundary
/// voxel of `mask` (a threshold `lo..hi` of `volume`), the brightest mask
/// voxel and the darkest voxel below `lo` within two voxels give that
/// spot's plateaus (spots next to voxels above `hi` or below `floor` are
/// left out: their edge is with something brighter, or with air); the
/// median of their midpoints is the level. A blurred
/// edge crosses its midpoint where the tissue changes, wherever the
/// scanner's window or blur put the raw threshold. `None` without a
/// boundary with darker tissue.
#[tracing::instrument(level = "info", skip_all)]
pub fn half_way_level(volume: &Volume, mask: &Mask, floor: f64, lo: f64, hi: f64) -> Option<f64> {
    let m = &mask.data;
    let inside = |z: usize, y: usize, x: usize| m[(z, y, x)] != 0;
    half_way_level_in(volume, mask.dim(), mask.count(), inside, floor, lo, hi)
}

/// [`half_way_level`] of a bit mask.
pub fn half_way_level_bits(
    volume: &Volume,
    mask: &BitMask,
    floor: f64,
    lo: f64,
    hi: f64,
) -> Option<f64> {
    let inside = |z: usize, y: usize, x: usize| mask.get(z, y, x);
    half_way_level_in(volume, mask.dim(), mask.count(), inside, floor, lo, hi)
}

/// [`half_way_level`] of a mask of `count` voxels read through `inside`.
fn half_way_level_in(
    volume: &Volume,
    dim: (usize, usize, usize),
    count: usize,
    is_in: impl Fn(usize, usize, usize) -> bool + Sync,
    floor: f64,
    lo: f64,
    hi: f64,
) -> Option<f64> {
    if dim != volume.dim() {
        return None;
    }
    let (nz, ny, nx) = dim;
    let value = |z: usize, y: usize, x: usize| volume.voxels.get(z, y, x).unwrap_or(f64::NAN);
    // At most ~200k samples: a sparse lattice over the boundary is enough
    // for a median, and keeps a 512³ scan under a second.
    let boundary_guess = count.max(1);
    let stride = ((boundary_guess / 400_000) as f64).cbrt().ceil().max(1.0) as usize;
    const R: isize = 2;
    let mut mids: Vec<f32> = (0..nz)
        .into_par_iter()
        .filter(|z| z % stride == 0)
        .flat_map_iter(|z| {
            let mut out = Vec::new();
            for y in (0..ny).step_by(stride) {
                for x in 0..nx {
                    if !is_in(z, y, x) {
                        continue;
                    }
                    let edge = [
                        (1, 0, 0),
                        (-1, 0, 0),
                        (0, 1, 0),
                        (0, -1, 0),
                        (0, 0, 1),
                        (0, 0, -1),
                    ]
                    .iter()
                    .any(|&(dz, dy, dx): &(isize, isize, isize)| {
                        let (zz, yy, xx) = (z as isize + dz, y as isize + dy, x as isize + dx);
                        zz >= 0
                            && yy >= 0
                            && xx >= 0
                            && (zz as usize) < nz
                            && (yy as usize) < ny
                            && (xx as usize) < nx
                            && !is_in(zz as usize, yy as usize, xx as usize)
                    });
                    if !edge {
                        continue;
                    }
                    let (mut inside, mut outside) = (f64::NEG_INFINITY, f64::INFINITY);
                    let mut other_edge = false;
                    for dz in -R..=R {
                        for dy in -R..=R {
                            for dx in -R..=R {
                                let (zz, yy, xx) =
                                    (z as isize + dz, y as isize + dy, x as isize + dx);
                                if zz < 0
                                    || yy < 0
                                    || xx < 0
                                    || zz as usize >= nz
                                    || yy as usize >= ny
                                    || xx as usize >= nx
                                {
                                    continue;
                                }
                                let (zz, yy, xx) = (zz as usize, yy as usize, xx as usize);
                                let v = value(zz, yy, xx);
                                if is_in(zz, yy, xx) {
                                    inside = inside.max(v);
                                } else if v < lo && v >= floor {
                                    outside = outside.min(v);
                                } else if v > hi || v < floor {
                                    other_edge = true;
                                }
                            }
                        }
                    }
                    // Next to something brighter than the window (bone by a
                    // vessel, metal by bone) or to air, the edge is another.
                    if inside.is_finite() && outside.is_finite() && !other_edge {
                        out.push((0.5 * (inside + outside)) as f32);
                    }
                }
            }
            out
        })
        .collect();
    if mids.is_empty() {
        return None;
    }
    let k = mids.len() / 2;
    mids.select_nth_unstable_by(k, f32::total_cmp);
    Some(mids[k] as f64)
}

/// The parts of the patient: the islands of the skin window (the body,
/// and arms or legs apart from it) that are mostly soft tissue, holes
/// filled slice by slice. The table and a head holder are islands too, but
/// mostly dense plastic or carbon: a quarter or more of their voxels reach
/// the bone window (`bone`), against under a tenth for a trunk or an arm.
/// `None` when no island looks like a body.
///
/// Works in bits: the skin window and the voxels seen, then the body in
/// the seen bits' words, three bit masks beside the scan where byte masks
/// made `stratum convert --preset bone` peak at 2.09x the voxel bytes
/// (3.2x with a byte mask per stage before that).
fn body_parts(volume: &Volume, bone: &BitMask) -> Option<BitMask> {
    let (slo, shi) = Preset::Skin.window(volume);
    let skin = BitMask::threshold(volume, slo, shi);
    let mut seen = BitMask::empty(skin.dim(), skin.geometry);
    let mut queue = VecDeque::new();
    let (mut sizes, mut dense, mut seeds) = (Vec::new(), Vec::new(), Vec::new());
    let mut from = 0;
    // Islands in scan order, each measured as it is flooded: its size and
    // how many of its voxels reach the bone window.
    while let Some((seed, word)) = skin.next_unseen(&seen, from) {
        let mut d = 0usize;
        sizes.push(flood_bits(&skin, &mut seen, seed, &mut queue, |j| {
            d += bone.bit(j) as usize;
        }));
        dense.push(d);
        seeds.push(seed);
        from = word;
    }
    let largest = sizes.iter().copied().max()?;
    let mut order: Vec<usize> = (0..sizes.len())
        .filter(|&i| sizes[i] * 200 >= largest)
        .collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    order.truncate(16);
    let mut body = seen;
    body.clear();
    let mut any = false;
    for i in order {
        if dense[i] * 4 < sizes[i] {
            any = true;
            flood_bits(&skin, &mut body, seeds[i], &mut queue, |_| {});
        }
    }
    if !any {
        return None;
    }
    drop(skin);
    body.fill_holes_2d();
    Some(body)
}

/// The bone window `lo..hi` of `volume` without the islands outside the
/// body outline (the table, a head holder), and a note counting them.
fn bone_in_body(volume: &Volume, lo: f64, hi: f64) -> (BitMask, Option<String>) {
    let mut bone = BitMask::threshold(volume, lo, hi);
    // No body to go by (bone alone in air: a dry skull, a plastic
    // phantom): nothing is left out. Past 4 G voxels the flood's ids would
    // not fit: such a scan is over any memory budget anyway.
    if !bone.ids_fit() {
        return (bone, None);
    }
    let Some(mut body) = body_parts(volume, &bone) else {
        return (bone, None);
    };
    let mut outside = BitMask::empty(bone.dim(), bone.geometry);
    outside.set_and_not(&bone, &body);
    bone.and(&body);
    // The body's words count the islands outside it now.
    let mut seen = {
        body.clear();
        body
    };
    let mut queue = VecDeque::new();
    let (mut n, mut voxels, mut from) = (0usize, 0usize, 0);
    while let Some((seed, word)) = outside.next_unseen(&seen, from) {
        n += 1;
        voxels += flood_bits(&outside, &mut seen, seed, &mut queue, |_| {});
        from = word;
    }
    let note = (n > 0).then(|| {
        let ml = voxels as f64 * outside.voxel_mm3() / 1000.0;
        format!(
            "left out {n} island{} outside the body outline ({ml:.1} mL: the table, a head holder or other equipment)",
            if n == 1 { "" } else { "s" }
        )
    });
    (bone, note)
}

/// A preset's segment with its clean-up: the window (with the level found
/// from the scan, or `window` when the user set one), then lungs only
/// inside the body, skin filled, and bone without the islands outside the
/// body outline (the table, a head holder), which the note counts.
#[tracing::instrument(level = "info", skip_all)]
pub fn preset_segment(
    volume: &Volume,
    preset: Preset,
    window: Option<(f64, f64)>,
    progress: &Progress,
) -> Result<PresetSegment> {
    let s = preset_segment_packed(volume, preset, window, progress)?;
    Ok(PresetSegment {
        mask: s.mask.into_bytes(),
        lo: s.lo,
        hi: s.hi,
        found_level: s.found_level,
        note: s.note,
    })
}

/// [`preset_segment`] with the mask as the preset makes it: bone on CT in
/// bits (the same voxels), the others in bytes. For a caller that keeps
/// the scan beside the mask (`stratum convert`).
#[tracing::instrument(level = "info", skip_all)]
pub fn preset_segment_packed(
    volume: &Volume,
    preset: Preset,
    window: Option<(f64, f64)>,
    progress: &Progress,
) -> Result<PresetSegment<SegmentMask>> {
    progress.begin(preset.name(), 4);
    let (lo, hi, found_level) = match window {
        Some((lo, hi)) => (lo, hi, None),
        None => preset.level_window(volume),
    };
    progress.advance(1);
    progress.check()?;
    let mut note = None;
    let mask: SegmentMask = if preset == Preset::Bone && volume.is_ct() {
        let (bone, n) = bone_in_body(volume, lo, hi);
        note = n;
        bone.into()
    } else {
        let m = threshold_mask(volume, lo, hi);
        progress.advance(1);
        progress.check()?;
        let body = || {
            let (slo, shi) = Preset::Skin.window(volume);
            fill_holes_2d(&keep_largest(&threshold_mask(volume, slo, shi)))
        };
        match preset {
            Preset::Skin => fill_holes_2d(&keep_largest(&m)),
            Preset::Lungs => {
                // Air connected to the outside of the body is not lung.
                let body = body();
                let mut out = m;
                Zip::from(&mut out.data)
                    .and(&body.data)
                    .par_for_each(|o, b| *o &= *b);
                out
            }
            _ => m,
        }
        .into()
    };
    progress.set_done(4);
    if mask.count() == 0 {
        return Err(SegmentError::EmptyWindow { lo, hi }.into());
    }
    Ok(PresetSegment {
        mask,
        lo,
        hi,
        found_level,
        note,
    })
}

#[cfg(test)]
#[path = "preset_tests.rs"]
mod tests;
