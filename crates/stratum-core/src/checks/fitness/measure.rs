//! The measured figures of the fitness line: noise in uniform tissue (the
//! mode of small patches' standard deviations) and where the body touches
//! the edge of the image (field of view).

use ndarray::Array3;
use rayon::prelude::*;

use super::{FovCut, Noise};
use crate::image::volume::{Volume, VoxelType};

/// Slices sampled for the noise and field-of-view figures.
fn sampled(nz: usize) -> Vec<usize> {
    let n = nz.min(24);
    let (lo, hi) = if nz >= 10 {
        (nz / 10, nz - nz / 10)
    } else {
        (0, nz)
    };
    (0..n)
        .map(|k| lo + k * (hi - lo).saturating_sub(1) / (n - 1).max(1))
        .collect()
}

/// Mode of the standard deviations of 8 x 8 patches in uniform tissue.
pub(super) fn noise_of<T: VoxelType>(a: &Array3<T>, ct: bool) -> Option<Noise> {
    const P: usize = 8;
    let (nz, ny, nx) = a.dim();
    if nx < 2 * P || ny < 2 * P {
        return None;
    }
    let hi = if ct {
        0.0
    } else {
        let mut s: Vec<f32> = a
            .iter()
            .step_by((a.len() / 100_000).max(1))
            .map(|v| v.to_f32())
            .collect();
        s.sort_by(f32::total_cmp);
        s.get(s.len() * 99 / 100).copied()? as f64
    };
    let patches: Vec<(f64, f64)> = sampled(nz)
        .par_iter()
        .flat_map_iter(|&z| {
            let slice = a.index_axis(ndarray::Axis(0), z);
            let mut out = Vec::new();
            for y0 in (0..ny - P).step_by(P) {
                for x0 in (0..nx - P).step_by(P) {
                    let (mut s, mut s2) = (0.0f64, 0.0f64);
                    for y in y0..y0 + P {
                        for x in x0..x0 + P {
                            let v = slice[(y, x)].to_f64();
                            s += v;
                            s2 += v * v;
                        }
                    }
                    let n = (P * P) as f64;
                    let mean = s / n;
                    let sd = ((s2 - s * s / n) / (n - 1.0)).max(0.0).sqrt();
                    let tissue = if ct {
                        (-20.0..=120.0).contains(&mean)
                    } else {
                        mean > 0.2 * hi
                    };
                    if tissue && sd > 0.0 {
                        out.push((mean, sd));
                    }
                }
            }
            out
        })
        .collect();
    if patches.len() < 20 {
        return None;
    }
    // The mode of the SD histogram: patches on edges or texture sit above it.
    let top = patches.iter().map(|p| p.1).fold(0.0, f64::max);
    let bins = 200usize;
    let width = (top / bins as f64).max(1e-9);
    let mut hist = vec![0usize; bins + 1];
    for p in &patches {
        hist[((p.1 / width) as usize).min(bins)] += 1;
    }
    let smooth: Vec<usize> = (0..=bins)
        .map(|i| {
            hist[i.saturating_sub(2)..(i + 3).min(bins + 1)]
                .iter()
                .sum()
        })
        .collect();
    let peak = (0..=bins).max_by_key(|&i| (smooth[i], usize::MAX - i))?;
    let sd = (peak as f64 + 0.5) * width;
    let snr = (!ct).then(|| {
        let near: Vec<f64> = patches
            .iter()
            .filter(|p| (p.1 - sd).abs() <= 0.2 * sd)
            .map(|p| p.0)
            .collect();
        near.iter().sum::<f64>() / near.len().max(1) as f64 / sd
    });
    Some(Noise {
        sd,
        unit: if ct { "HU" } else { "" },
        snr,
        patches: patches.len(),
    })
}

/// Slices whose body (its largest connected part: the table is left out)
/// touches the image edge, or the edge of a CT's round reconstruction
/// circle, along 10 mm or more.
pub(super) fn fov_of<T: VoxelType>(a: &Array3<T>, volume: &Volume) -> Option<FovCut> {
    let (nz, ny, nx) = a.dim();
    if nx < 8 || ny < 8 {
        return None;
    }
    let ct = volume.is_ct();
    let level = if ct {
        -500.0
    } else {
        let mut s: Vec<f32> = a
            .iter()
            .step_by((a.len() / 100_000).max(1))
            .map(|v| v.to_f32())
            .collect();
        s.sort_by(f32::total_cmp);
        0.15 * *s.get(s.len() * 99 / 100)? as f64
    };
    let g = &volume.geometry;
    let min_run = (10.0 / g.spacing[0].min(g.spacing[1])).ceil() as usize;
    let slices = sampled(nz);
    let per_slice: Vec<[usize; 4]> = slices
        .par_iter()
        .map(|&z| {
            let s = a.index_axis(ndarray::Axis(0), z);
            let body: Vec<bool> = s.iter().map(|v| v.to_f64() > level).collect();
            let outside: Vec<bool> = s.iter().map(|v| ct && v.to_f64() < -1500.0).collect();
            let keep = largest_component(&body, nx, ny);
            edge_contacts(&keep, &outside, nx, ny)
        })
        .collect();
    let mut cut_slices = 0;
    let mut sides = [false; 4];
    for c in &per_slice {
        let hit: Vec<bool> = c.iter().map(|&n| n >= min_run).collect();
        if hit.iter().any(|&h| h) {
            cut_slices += 1;
            for (s, h) in sides.iter_mut().zip(hit) {
                *s |= h;
            }
        }
    }
    if cut_slices == 0 {
        return None;
    }
    // Sides: x = 0, x = end, y = 0, y = end, named by the patient direction they face.
    let d = g.direction;
    let names: Vec<String> = [
        [-d[0][0], -d[0][1], -d[0][2]],
        d[0],
        [-d[1][0], -d[1][1], -d[1][2]],
        d[1],
    ]
    .iter()
    .zip(sides)
    .filter(|(_, hit)| *hit)
    .map(|(dir, _)| side_name(*dir))
    .collect();
    Some(FovCut {
        slices: cut_slices,
        of: slices.len(),
        sides: names,
    })
}

/// The patient side an image edge faces, by its strongest LPS component.
fn side_name(dir: [f64; 3]) -> String {
    let axis = (0..3)
        .max_by(|&a, &b| dir[a].abs().total_cmp(&dir[b].abs()))
        .unwrap_or(0);
    let names = [
        ("the patient's right", "the patient's left"),
        ("the front", "the back"),
        ("the feet", "the head"),
    ];
    let (neg, pos) = names[axis];
    if dir[axis] < 0.0 { neg } else { pos }.to_string()
}

/// The largest 4-connected component of a mask.
fn largest_component(mask: &[bool], w: usize, h: usize) -> Vec<bool> {
    let mut label = vec![0u32; mask.len()];
    let mut sizes = vec![0usize];
    let mut stack = Vec::new();
    for start in 0..mask.len() {
        if !mask[start] || label[start] != 0 {
            continue;
        }
        let id = sizes.len() as u32;
        let mut size = 0;
        label[start] = id;
        stack.push(start);
        while let Some(i) = stack.pop() {
            size += 1;
            let (x, y) = (i % w, i / w);
            let mut visit = |j: usize| {
                if mask[j] && label[j] == 0 {
                    label[j] = id;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        sizes.push(size);
    }
    let best = (1..sizes.len()).max_by_key(|&i| sizes[i]).unwrap_or(0) as u32;
    label.iter().map(|&l| l != 0 && l == best).collect()
}

/// Pixels of `body` on each image edge (x = 0, x = end, y = 0, y = end) or
/// next to a pixel outside the reconstruction circle, counted per side.
fn edge_contacts(body: &[bool], outside: &[bool], w: usize, h: usize) -> [usize; 4] {
    let mut c = [0usize; 4];
    for y in 0..h {
        c[0] += body[y * w] as usize;
        c[1] += body[y * w + w - 1] as usize;
    }
    for x in 0..w {
        c[2] += body[x] as usize;
        c[3] += body[(h - 1) * w + x] as usize;
    }
    // Against the round field of view: counted on the side it faces.
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            if !body[i] {
                continue;
            }
            let near = [
                outside[i - 1],
                outside[i + 1],
                outside[i - w],
                outside[i + w],
            ];
            if near.iter().any(|&o| o) {
                let side = if (x as f64 / w as f64 - 0.5).abs() > (y as f64 / h as f64 - 0.5).abs()
                {
                    if x < w / 2 { 0 } else { 1 }
                } else if y < h / 2 {
                    2
                } else {
                    3
                };
                c[side] += 1;
            }
        }
    }
    c
}
