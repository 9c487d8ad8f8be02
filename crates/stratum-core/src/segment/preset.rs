//! What a threshold preset knows beyond its window: the level half-way
//! between the tissues on either side of its boundary (so the surface sits
//! on the partial-volume edge), its colour, and, for bone, leaving out
//! what is not the patient (the table, a head holder).

use ndarray::Zip;
use rayon::prelude::*;

use super::{
    Mask, Preset, components, fill_holes_2d, keep_largest, segment_colour, threshold_mask,
};
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
fn body_parts(volume: &Volume, bone: &Mask) -> Option<Mask> {
    let (slo, shi) = Preset::Skin.window(volume);
    let skin = threshold_mask(volume, slo, shi);
    let c = components(&skin);
    let largest = c.sizes.iter().copied().max()?;
    let mut order: Vec<usize> = (0..c.sizes.len())
        .filter(|&i| c.sizes[i] * 200 >= largest)
        .collect();
    order.sort_by_key(|&i| std::cmp::Reverse(c.sizes[i]));
    order.truncate(16);
    let mut body = Mask::empty(skin.dim(), skin.geometry);
    let mut any = false;
    for i in order {
        let part = super::component_at(&skin, c.seeds[i]);
        let dense = Zip::from(&part.data).and(&bone.data).par_fold(
            || 0usize,
            |n, p, b| n + (*p & *b) as usize,
            |a, b| a + b,
        );
        if dense * 4 < c.sizes[i] {
            any = true;
            Zip::from(&mut body.data)
                .and(&part.data)
                .par_for_each(|o, p| *o |= *p);
        }
    }
    any.then(|| fill_holes_2d(&body))
}

/// A preset's segment with its clean-up: the window (with the level found
/// from the scan, or `window` when the user set one), then lungs only
/// inside the body, skin filled, and bone without the islands outside the
/// body outline (the table, a head holder), which the note counts.
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
            let body = body_parts(volume, &m);
            let mut outside = m.clone();
            if let Some(body) = &body {
                Zip::from(&mut outside.data)
                    .and(&body.data)
                    .par_for_each(|o, b| *o &= 1 - (*b & 1));
            }
            let islands = match body {
                Some(_) => components(&outside),
                // No body to go by (bone alone in air: a dry skull, a
                // plastic phantom): nothing is left out.
                None => Default::default(),
            };
            let mut out = m;
            if !islands.sizes.is_empty() {
                Zip::from(&mut out.data)
                    .and(&outside.data)
                    .par_for_each(|o, b| *o &= 1 - *b);
                let ml = outside.volume_ml();
                let n = islands.sizes.len();
                note = Some(format!(
                    "left out {n} island{} outside the body outline ({ml:.1} mL: the table, a head holder or other equipment)",
                    if n == 1 { "" } else { "s" }
                ));
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
