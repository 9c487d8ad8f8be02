//! The bit-packed Bone preset against the byte-mask implementation it
//! replaced (kept here as the reference, as it was): the same mask, note,
//! level and surface, on phantoms whose rows do not fill whole words.

use std::collections::VecDeque;

use ndarray::{Array3, Zip};
use rayon::prelude::*;

use super::*;
use crate::image::volume::{Geometry, Voxels};
use crate::mesh::{intensity_mesh, intensity_mesh_bits};
use crate::segment::morphology::fill_holes_2d_in_place;

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
fn body_parts_bytes(volume: &Volume, bone: &Mask) -> Option<Mask> {
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
fn flood_state(
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

/// The Bone preset's clean-up as it was, on byte masks.
fn bone_bytes(volume: &Volume, lo: f64, hi: f64) -> (Mask, Option<String>) {
    let mut out = threshold_mask(volume, lo, hi);
    let mut note = None;
    if let Some(mut outside) = body_parts_bytes(volume, &out) {
        Zip::from(&mut outside.data)
            .and(&out.data)
            .par_for_each(|o, b| *o = (*b != 0 && *o == 0) as u8);
        let dim = outside.dim();
        let mut queue = VecDeque::new();
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
    (out, note)
}

/// A small CT: a trunk with a ring of bone and marrow inside, an arm with
/// its bone, a second trunk-like island touching nothing, a table slab and
/// a head holder (dense islands), blurred edges and noise; `nx` is not a
/// multiple of 64 so rows end inside a word.
fn phantom(nx: usize) -> Volume {
    let g = Geometry {
        spacing: [0.8, 0.8, 1.5],
        ..Geometry::default()
    };
    let (nz, ny) = (14, 60);
    let data = Array3::from_shape_fn((nz, ny, nx), |(z, y, x)| {
        let (xf, yf) = (x as f64, y as f64);
        let d = |cx: f64, cy: f64| ((xf - cx).powi(2) + (yf - cy).powi(2)).sqrt();
        let edge = |r: f64, w: f64| (0.5 - r / w).clamp(0.0, 1.0);
        let trunk = d(40.0, 28.0);
        let arm = d(100.0, 26.0);
        let mut v = -1000.0;
        if trunk <= 22.0 || arm <= 7.0 || (d(125.0, 12.0) <= 5.0 && z > 3) {
            v = 40.0;
        }
        // A ring of cortical bone with marrow (a hole in the bone mask).
        let ring = (trunk - 9.0).abs();
        v += 1100.0 * edge(ring - 2.0, 1.5);
        v += 900.0 * edge(arm - 2.5, 1.2);
        if y >= 52 && x + 4 < nx {
            v = 700.0; // the table
        }
        if (3..6).contains(&z) && (30..34).contains(&y) && x >= nx - 8 {
            v = 1200.0; // a head holder's dense block, apart
        }
        let noise = ((x * 7 + y * 13 + z * 29) % 11) as f64 - 5.0;
        (v + noise).round() as i16
    });
    Volume::new(Voxels::I16(data), g, "CT")
}

#[test]
fn bone_in_bits_leaves_out_the_same_voxels_as_the_byte_masks() {
    for nx in [150, 64, 131] {
        let v = phantom(nx);
        let (lo, hi, level) = Preset::Bone.level_window(&v);
        assert!(level.is_some(), "a level is found on the phantom");
        let (bits, note) = bone_in_body(&v, lo, hi);
        let (bytes, old_note) = bone_bytes(&v, lo, hi);
        assert!(bytes.count() > 100, "{} bone voxels", bytes.count());
        assert_eq!(bits.to_mask(), bytes, "nx {nx}");
        assert_eq!(bits.count(), bytes.count());
        assert_eq!(note, old_note);
        let note = note.expect("the table is left out");
        assert!(note.contains("left out"), "{note}");
        // The public entry gives those voxels as bytes.
        let seg = preset_segment(&v, Preset::Bone, None, &Progress::new()).unwrap();
        assert_eq!(seg.mask, bytes);
        assert_eq!(seg.lo, lo);
    }
}

#[test]
fn half_way_level_of_bits_is_the_byte_masks_level() {
    let v = phantom(150);
    let (lo, hi) = Preset::Bone.window(&v);
    let bytes = threshold_mask(&v, lo, hi);
    let bits = BitMask::threshold(&v, lo, hi);
    assert_eq!(bits.to_mask(), bytes);
    let a = half_way_level(&v, &bytes, -400.0, lo, hi);
    assert!(a.is_some());
    assert_eq!(half_way_level_bits(&v, &bits, -400.0, lo, hi), a);
}

#[test]
fn bit_masks_round_trip_count_bound_and_fill_as_bytes_do() {
    for nx in [1, 63, 64, 65, 150] {
        let g = Geometry::default();
        let data = Array3::from_shape_fn((5, 9, nx), |(z, y, x)| {
            // A ring per slice (a hole to fill) and scattered voxels.
            let r = ((x as f64 - nx as f64 / 2.0).powi(2) + (y as f64 - 4.0).powi(2)).sqrt();
            let scatter = (x * 31 + y * 17 + z * 7) % 13 == 0;
            u8::from((2.0..3.5).contains(&r) || scatter)
        });
        let m = Mask { data, geometry: g };
        let b = BitMask::from_mask(&m);
        assert_eq!(b.to_mask(), m, "nx {nx}");
        assert_eq!(b.count(), m.count());
        assert_eq!(b.bounds(), m.bounds());
        let mut largest = b.clone();
        largest.keep_largest();
        assert_eq!(largest.to_mask(), keep_largest(&m), "nx {nx}");
        let mut filled = b.clone();
        filled.fill_holes_2d();
        let mut expect = m.clone();
        fill_holes_2d_in_place(&mut expect);
        assert_eq!(filled.to_mask(), expect, "nx {nx}");
    }
    let empty = BitMask::empty((2, 3, 70), Geometry::default());
    assert_eq!(empty.bounds(), None);
    assert_eq!(empty.count(), 0);
}

#[test]
fn surface_from_bits_is_the_surface_from_bytes() {
    let p = Progress::new();
    for nx in [150, 131] {
        let v = phantom(nx);
        let (lo, hi, _) = Preset::Bone.level_window(&v);
        let (bits, _) = bone_in_body(&v, lo, hi);
        let bytes = bits.to_mask();
        // The arm's bone alone: its box starts inside a word (x0 % 64 != 0).
        let mut arm = bytes.clone();
        arm.data
            .indexed_iter_mut()
            .for_each(|((_, _, x), m)| *m &= u8::from(x >= 80));
        for mask in [bytes, arm] {
            let (a, na) = intensity_mesh(&v, &mask, lo, &p).unwrap();
            let (b, nb) = intensity_mesh_bits(&v, &BitMask::from_mask(&mask), lo, &p).unwrap();
            assert!(a.triangle_count() > 100);
            assert_eq!(a.positions, b.positions, "nx {nx}");
            assert_eq!(a.indices, b.indices);
            assert_eq!(na, nb);
        }
    }
}
