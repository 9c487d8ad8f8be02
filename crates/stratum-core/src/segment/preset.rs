//! What a threshold preset knows beyond its window: the level half-way
//! between the tissues on either side of its boundary (so the surface sits
//! on the partial-volume edge), its colour, and, for bone, leaving out
//! what is not the patient (the table, a head holder).

use ndarray::Zip;
use rayon::prelude::*;

use super::morphology::fill_holes_2d_in_place;
use super::{Mask, Preset, fill_holes_2d, keep_largest, segment_colour, threshold_mask};
use crate::error::{CoreError, Result};
use crate::progress::Progress;
use crate::volume::Volume;

/// A preset's segment on one volume.
#[derive(Clone, Debug)]
pub struct PresetSegment {
    pub mask: Mask,
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
        let first = threshold_mask(volume, lo, hi);
        // Edges with air or lung (under -400 HU) are another edge: the
        // table's against air would put the level at 0 HU.
        match half_way_level(volume, &first, -400.0, lo, hi) {
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
    if mask.dim() != volume.dim() {
        return None;
    }
    let (nz, ny, nx) = mask.dim();
    let m = &mask.data;
    let value = |z: usize, y: usize, x: usize| volume.voxels.get(z, y, x).unwrap_or(f64::NAN);
    // At most ~200k samples: a sparse lattice over the boundary is enough
    // for a median, and keeps a 512³ scan under a second.
    let boundary_guess = mask.count().max(1);
    let stride = ((boundary_guess / 400_000) as f64).cbrt().ceil().max(1.0) as usize;
    const R: isize = 2;
    let mut mids: Vec<f32> = (0..nz)
        .into_par_iter()
        .filter(|z| z % stride == 0)
        .flat_map_iter(|z| {
            let mut out = Vec::new();
            for y in (0..ny).step_by(stride) {
                for x in 0..nx {
                    if m[(z, y, x)] == 0 {
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
                            && m[(zz as usize, yy as usize, xx as usize)] == 0
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
                                if m[(zz, yy, xx)] != 0 {
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
/// The whole search works in the skin mask's own bytes, by state (1 skin,
/// 2 seen, 3 measured, 4 body): one full-size buffer beside the scan and
/// `bone`, where separate masks for the islands, each part and the body
/// held four (`stratum convert --preset bone` peaked at 3.2x the voxel
/// bytes for them).
fn body_parts(volume: &Volume, bone: &Mask) -> Option<Mask> {
    let (slo, shi) = Preset::Skin.window(volume);
    let mut skin = threshold_mask(volume, slo, shi);
    let dim = skin.dim();
    let bone = bone.data.as_slice()?;
    let data = skin.data.as_slice_mut()?;
    let mut queue = std::collections::VecDeque::new();
    let (mut sizes, mut seeds) = (Vec::new(), Vec::new());
    for i in 0..data.len() {
        if data[i] == 1 {
            sizes.push(flood_state(data, dim, i, (1, 2), &mut queue, |_| {}));
            seeds.push(i);
        }
    }
    let largest = sizes.iter().copied().max()?;
    let mut order: Vec<usize> = (0..sizes.len())
        .filter(|&i| sizes[i] * 200 >= largest)
        .collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sizes[i]));
    order.truncate(16);
    let mut any = false;
    for i in order {
        let mut dense = 0usize;
        flood_state(data, dim, seeds[i], (2, 3), &mut queue, |j| {
            dense += (bone[j] != 0) as usize;
        });
        if dense * 4 < sizes[i] {
            any = true;
            flood_state(data, dim, seeds[i], (3, 4), &mut queue, |_| {});
        }
    }
    if !any {
        return None;
    }
    data.par_iter_mut().for_each(|v| *v = (*v == 4) as u8);
    fill_holes_2d_in_place(&mut skin);
    Some(skin)
}

/// Floods the 6-connected voxels of state `from` reachable from `seed` to
/// state `to`, calling `visit` on each; returns their count. Breadth
/// first, with 4-byte ids: the queue holds a wave front, where a depth-first
/// stack of 8-byte ids grew to 137 MB on the phantom's body (heaptrack).
pub(crate) fn flood_state(
    data: &mut [u8],
    (nz, ny, nx): (usize, usize, usize),
    seed: usize,
    (from, to): (u8, u8),
    queue: &mut std::collections::VecDeque<u32>,
    mut visit: impl FnMut(usize),
) -> usize {
    if data[seed] != from {
        return 0;
    }
    let plane = ny * nx;
    queue.clear();
    data[seed] = to;
    queue.push_back(seed as u32);
    let mut n = 0;
    while let Some(i) = queue.pop_front() {
        let i = i as usize;
        n += 1;
        visit(i);
        let (z, y, x) = (i / plane, (i / nx) % ny, i % nx);
        let mut go = |j: usize| {
            if data[j] == from {
                data[j] = to;
                queue.push_back(j as u32);
            }
        };
        if x > 0 {
            go(i - 1);
        }
        if x + 1 < nx {
            go(i + 1);
        }
        if y > 0 {
            go(i - nx);
        }
        if y + 1 < ny {
            go(i + nx);
        }
        if z > 0 {
            go(i - plane);
        }
        if z + 1 < nz {
            go(i + plane);
        }
    }
    n
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
    progress.begin(preset.name(), 4);
    let (lo, hi, found_level) = match window {
        Some((lo, hi)) => (lo, hi, None),
        None => preset.level_window(volume),
    };
    progress.advance(1);
    progress.check()?;
    let m = threshold_mask(volume, lo, hi);
    progress.advance(1);
    progress.check()?;
    let body = || {
        let (slo, shi) = Preset::Skin.window(volume);
        fill_holes_2d(&keep_largest(&threshold_mask(volume, slo, shi)))
    };
    let mut note = None;
    let mask = match preset {
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
        Preset::Bone if volume.is_ct() => {
            let mut out = m;
            // No body to go by (bone alone in air: a dry skull, a plastic
            // phantom): nothing is left out.
            if let Some(mut outside) = body_parts(volume, &out) {
                // Bone outside the body, in the body's own buffer.
                Zip::from(&mut outside.data)
                    .and(&out.data)
                    .par_for_each(|o, b| *o = (*b != 0 && *o == 0) as u8);
                let dim = outside.dim();
                let mut queue = std::collections::VecDeque::new();
                let data = outside.data.as_slice_mut().expect("standard layout");
                let (mut n, mut voxels) = (0usize, 0usize);
                for i in 0..data.len() {
                    if data[i] == 1 {
                        n += 1;
                        voxels += flood_state(data, dim, i, (1, 2), &mut queue, |_| {});
                    }
                }
                if n > 0 {
                    Zip::from(&mut out.data)
                        .and(&outside.data)
                        .par_for_each(|o, b| *o &= (*b == 0) as u8);
                    let ml = voxels as f64 * outside.voxel_mm3() / 1000.0;
                    note = Some(format!(
                        "left out {n} island{} outside the body outline ({ml:.1} mL: the table, a head holder or other equipment)",
                        if n == 1 { "" } else { "s" }
                    ));
                }
            }
            out
        }
        _ => m,
    };
    progress.set_done(4);
    if mask.count() == 0 {
        return Err(CoreError::Invalid(format!(
            "no voxel lies between {lo:.0} and {hi:.0}: widen the window"
        )));
    }
    Ok(PresetSegment {
        mask,
        lo,
        hi,
        found_level,
        note,
    })
}
