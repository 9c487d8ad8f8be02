//! Morphology with a ball given in millimetres (exact on anisotropic grids,
//! through a squared Euclidean distance transform), and hole filling.

use ndarray::{Array3, Axis, s};
use rayon::prelude::*;

use super::Mask;

/// Squared Euclidean distance (mm²) from every voxel to the nearest voxel
/// where `feature` is true, with per-axis spacing (x, y, z) in mm
/// (Felzenszwalb & Huttenlocher, separable, exact).
#[tracing::instrument(level = "info", skip_all)]
pub fn distance_transform_sq(feature: &Array3<u8>, spacing: [f64; 3]) -> Array3<f32> {
    let mut d = feature.mapv(|v| if v != 0 { 0.0f32 } else { f32::INFINITY });
    let (sx, sy, sz) = (spacing[0] as f32, spacing[1] as f32, spacing[2] as f32);
    // Along x, then y (both within a z plane), then z (within a y plane):
    // the same passes in the same order as lane by lane, so the same
    // numbers, with one set of buffers per plane instead of per lane.
    d.axis_iter_mut(Axis(0))
        .into_par_iter()
        .for_each(|mut plane| {
            let (ny, nx) = plane.dim();
            let mut lane = Lane::new(ny.max(nx));
            for y in 0..ny {
                lane.run(plane.row_mut(y), sx);
            }
            for x in 0..nx {
                lane.run(plane.column_mut(x), sy);
            }
        });
    d.axis_iter_mut(Axis(1))
        .into_par_iter()
        .for_each(|mut plane| {
            // (z, x) of one y.
            let (nz, nx) = plane.dim();
            let mut lane = Lane::new(nz);
            for x in 0..nx {
                lane.run(plane.column_mut(x), sz);
            }
        });
    d
}

/// The buffers of the 1D transform, reused across the lanes of a plane.
struct Lane {
    f: Vec<f32>,
    out: Vec<f32>,
    v: Vec<usize>,
    z: Vec<f32>,
}

impl Lane {
    fn new(n: usize) -> Lane {
        Lane {
            f: Vec::with_capacity(n),
            out: Vec::with_capacity(n),
            v: Vec::with_capacity(n),
            z: Vec::with_capacity(n + 1),
        }
    }

    /// Transforms one lane in place.
    fn run(&mut self, mut lane: ndarray::ArrayViewMut1<'_, f32>, step: f32) {
        self.f.clear();
        self.f.extend(lane.iter().copied());
        if self.f.iter().all(|x| !x.is_finite()) {
            return;
        }
        edt_1d(&self.f, step, &mut self.out, &mut self.v, &mut self.z);
        for (o, v) in lane.iter_mut().zip(&self.out) {
            *o = *v;
        }
    }
}

/// 1D lower envelope of parabolas: out[q] = min_p f[p] + ((q - p) * step)²
/// (`v` and `z` are scratch).
fn edt_1d(f: &[f32], step: f32, out: &mut Vec<f32>, v: &mut Vec<usize>, z: &mut Vec<f32>) {
    let n = f.len();
    out.clear();
    out.resize(n, f32::INFINITY);
    v.clear();
    v.resize(n, 0);
    z.clear();
    z.resize(n + 1, 0.0);
    let mut k = 0usize;
    let first = match f.iter().position(|x| x.is_finite()) {
        Some(p) => p,
        None => return,
    };
    v[0] = first;
    z[0] = f32::NEG_INFINITY;
    z[1] = f32::INFINITY;
    let pos = |i: usize| i as f32 * step;
    for q in first + 1..n {
        if !f[q].is_finite() {
            continue;
        }
        loop {
            let p = v[k];
            let s =
                ((f[q] + pos(q) * pos(q)) - (f[p] + pos(p) * pos(p))) / (2.0 * (pos(q) - pos(p)));
            if s <= z[k] && k > 0 {
                k -= 1;
                continue;
            }
            if s <= z[k] {
                // k == 0: replace the first parabola.
                v[0] = q;
                z[0] = f32::NEG_INFINITY;
                z[1] = f32::INFINITY;
                break;
            }
            k += 1;
            v[k] = q;
            z[k] = s;
            z[k + 1] = f32::INFINITY;
            break;
        }
    }
    let mut k = 0;
    for (q, o) in out.iter_mut().enumerate() {
        while z[k + 1] < pos(q) {
            k += 1;
        }
        let p = v[k];
        let d = pos(q) - pos(p);
        *o = d * d + f[p];
    }
}

/// Crop box (z, y, x ranges) around the mask grown by `margin` voxels per axis.
fn crop_box(mask: &Mask, margin: [usize; 3]) -> Option<[(usize, usize); 3]> {
    let b = mask.bounds()?;
    let (nz, ny, nx) = mask.dim();
    let n = [nz, ny, nx];
    Some(std::array::from_fn(|a| {
        (
            b[a].0.saturating_sub(margin[a]),
            (b[a].1 + margin[a]).min(n[a]),
        )
    }))
}

fn margin_voxels(mask: &Mask, mm: f64) -> [usize; 3] {
    let s = mask.geometry.spacing;
    // (z, y, x) order
    [
        (mm / s[2]).ceil() as usize + 1,
        (mm / s[1]).ceil() as usize + 1,
        (mm / s[0]).ceil() as usize + 1,
    ]
}

/// Grows the mask by a ball of `radius_mm`.
#[tracing::instrument(level = "info", skip_all)]
pub fn dilate_mm(mask: &Mask, radius_mm: f64) -> Mask {
    let Some(b) = crop_box(mask, margin_voxels(mask, radius_mm)) else {
        return mask.clone();
    };
    let crop = mask
        .data
        .slice(s![b[0].0..b[0].1, b[1].0..b[1].1, b[2].0..b[2].1])
        .to_owned();
    let d = distance_transform_sq(&crop, mask.geometry.spacing);
    let r2 = (radius_mm * radius_mm) as f32 * (1.0 + 1e-5);
    let mut out = Mask::empty(mask.dim(), mask.geometry);
    out.data
        .slice_mut(s![b[0].0..b[0].1, b[1].0..b[1].1, b[2].0..b[2].1])
        .assign(&d.mapv(|v| (v <= r2) as u8));
    out
}

/// Shrinks the mask by a ball of `radius_mm` (voxels closer than that to
/// the outside are removed).
#[tracing::instrument(level = "info", skip_all)]
pub fn erode_mm(mask: &Mask, radius_mm: f64) -> Mask {
    let Some(b) = crop_box(mask, [1, 1, 1]) else {
        return mask.clone();
    };
    // Distance to the background, with the crop framed by background.
    let crop = mask
        .data
        .slice(s![b[0].0..b[0].1, b[1].0..b[1].1, b[2].0..b[2].1]);
    let (cz, cy, cx) = crop.dim();
    let mut bg = Array3::from_elem((cz + 2, cy + 2, cx + 2), 1u8);
    bg.slice_mut(s![1..cz + 1, 1..cy + 1, 1..cx + 1])
        .assign(&crop.mapv(|v| (v == 0) as u8));
    let d = distance_transform_sq(&bg, mask.geometry.spacing);
    let r2 = (radius_mm * radius_mm) as f32 * (1.0 + 1e-5);
    let mut out = Mask::empty(mask.dim(), mask.geometry);
    out.data
        .slice_mut(s![b[0].0..b[0].1, b[1].0..b[1].1, b[2].0..b[2].1])
        .assign(
            &d.slice(s![1..cz + 1, 1..cy + 1, 1..cx + 1])
                .mapv(|v| (v > r2) as u8),
        );
    out
}

/// Fills cavities: background not connected (6-connectivity) to the
/// border of the volume becomes foreground.
#[tracing::instrument(level = "info", skip_all)]
pub fn fill_holes_3d(mask: &Mask) -> Mask {
    let (nz, ny, nx) = mask.dim();
    let bg = mask.data.mapv(|v| (v == 0) as u8);
    let bg_mask = Mask {
        data: bg,
        geometry: mask.geometry,
    };
    // Seeds: every background voxel on the border faces.
    let mut seeds = Vec::new();
    for ((z, y, x), v) in bg_mask.data.indexed_iter() {
        if *v != 0 && (z == 0 || y == 0 || x == 0 || z + 1 == nz || y + 1 == ny || x + 1 == nx) {
            seeds.push((z, y, x));
        }
    }
    let outside = super::components::component_at_many(&bg_mask, &seeds);
    Mask {
        data: outside.data.mapv(|v| (v == 0) as u8),
        geometry: mask.geometry,
    }
}

/// The pixels of an `ny` x `nx` plane that are not `inside` and reach its
/// edge through such pixels (4-connectivity): what is not a hole. The one
/// flood of both slice hole fillings (bytes here, bits in `bits`).
pub(crate) fn outside_2d(ny: usize, nx: usize, inside: impl Fn(usize, usize) -> bool) -> Vec<bool> {
    let mut outside = vec![false; ny * nx];
    let mut stack: Vec<usize> = Vec::new();
    for y in 0..ny {
        for x in 0..nx {
            if (y == 0 || x == 0 || y + 1 == ny || x + 1 == nx) && !inside(y, x) {
                let i = y * nx + x;
                if !outside[i] {
                    outside[i] = true;
                    stack.push(i);
                }
            }
        }
    }
    while let Some(i) = stack.pop() {
        let (y, x) = (i / nx, i % nx);
        let mut go = |yy: usize, xx: usize| {
            let j = yy * nx + xx;
            if !inside(yy, xx) && !outside[j] {
                outside[j] = true;
                stack.push(j);
            }
        };
        if x > 0 {
            go(y, x - 1);
        }
        if x + 1 < nx {
            go(y, x + 1);
        }
        if y > 0 {
            go(y - 1, x);
        }
        if y + 1 < ny {
            go(y + 1, x);
        }
    }
    outside
}

/// Fills holes slice by slice (axial planes, 4-connectivity in the plane).
#[tracing::instrument(level = "info", skip_all)]
pub fn fill_holes_2d(mask: &Mask) -> Mask {
    let mut out = mask.clone();
    fill_holes_2d_in_place(&mut out);
    out
}

/// [`fill_holes_2d`] in the mask's own buffer.
pub(crate) fn fill_holes_2d_in_place(out: &mut Mask) {
    out.data
        .axis_iter_mut(Axis(0))
        .into_par_iter()
        .for_each(|mut plane| {
            let (ny, nx) = plane.dim();
            let outside = outside_2d(ny, nx, |y, x| plane[(y, x)] != 0);
            for y in 0..ny {
                for x in 0..nx {
                    if !outside[y * nx + x] {
                        plane[(y, x)] = 1;
                    }
                }
            }
        });
}
