//! Surfaces of label maps (no intensities): the mask blurred, or for thick
//! slices its shape-based field, at the 0.5 level, then smoothed within
//! half a voxel and given its voxels' volume back.

use ndarray::{Array3, Axis, s};
use rayon::prelude::*;

use super::constrain::{VoxelBox, constrained_taubin, restore_volume};
use super::error::MeshError;
use super::mc::{marching_cubes, mask_marching_cubes};
use super::{SurfaceMesh, SurfaceOptions, decimate_keeping_volume, orient_outward, to_lps};
use crate::base::error::Result;
use crate::base::progress::Progress;
use crate::segment::Mask;

/// Separable Gaussian blur (sigma in mm, per-axis spacing) of a mask crop,
/// as f32; outside the crop counts as 0. Each pass runs over whole rows or
/// planes at a time, parallel over slices.
fn blur(mask: ndarray::ArrayView3<u8>, sigma_mm: f64, spacing: [f64; 3]) -> Array3<f32> {
    let kernel = |step: f64| -> Option<(isize, Vec<f32>)> {
        let sigma = sigma_mm / step;
        if sigma < 0.05 {
            return None;
        }
        let r = (3.0 * sigma).ceil() as isize;
        let k: Vec<f64> = (-r..=r)
            .map(|i| (-(i * i) as f64 / (2.0 * sigma * sigma)).exp())
            .collect();
        let sum: f64 = k.iter().sum();
        Some((r, k.iter().map(|v| (v / sum) as f32).collect()))
    };
    let (nz, ny, nx) = mask.dim();
    let mut f = Array3::<f32>::zeros((nz, ny, nx));
    // z first, straight from the u8 mask, so no second f32 copy is needed.
    let zk = kernel(spacing[2]).unwrap_or((0, vec![1.0]));
    f.axis_iter_mut(Axis(0))
        .into_par_iter()
        .enumerate()
        .for_each(|(z, mut out)| {
            let (r, k) = (&zk.0, &zk.1);
            for (j, w) in k.iter().enumerate() {
                let idx = z as isize + j as isize - r;
                if idx >= 0 && (idx as usize) < nz {
                    ndarray::Zip::from(&mut out)
                        .and(&mask.index_axis(Axis(0), idx as usize))
                        .for_each(|o, m| *o += w * *m as f32);
                }
            }
        });
    // y: whole rows at a time, within each slice.
    if let Some((r, k)) = kernel(spacing[1]) {
        f.axis_iter_mut(Axis(0))
            .into_par_iter()
            .for_each(|mut plane| {
                let src = plane.to_owned();
                for y in 0..ny {
                    let mut out = plane.row_mut(y);
                    out.fill(0.0);
                    for (j, w) in k.iter().enumerate() {
                        let idx = y as isize + j as isize - r;
                        if idx >= 0 && (idx as usize) < ny {
                            out.scaled_add(*w, &src.row(idx as usize));
                        }
                    }
                }
            });
    }
    // x: along each row.
    if let Some((r, k)) = kernel(spacing[0]) {
        f.axis_iter_mut(Axis(0))
            .into_par_iter()
            .for_each(|mut plane| {
                let mut src = vec![0f32; nx];
                for mut row in plane.outer_iter_mut() {
                    src.iter_mut().zip(row.iter()).for_each(|(s, v)| *s = *v);
                    for (i, o) in row.iter_mut().enumerate() {
                        let mut acc = 0.0;
                        for (j, w) in k.iter().enumerate() {
                            let idx = i as isize + j as isize - r;
                            if idx >= 0 && (idx as usize) < nx {
                                acc += w * src[idx as usize];
                            }
                        }
                        *o = acc;
                    }
                }
            });
    }
    f
}

/// Shape-based interpolation for thick slices (Raya & Udupa): each slice's
/// in-plane signed distance to the mask boundary (mm, positive inside,
/// clamped to two slice steps), mapped so that 0.5 is the boundary. Marching
/// cubes then interpolates the distance between slices, so the surface runs
/// as a ramp from one slice's outline to the next instead of a terrace per
/// slice; where the object ends, the cap lies half a slice out, as with
/// voxels.
fn shape_based_field(mask: &Array3<u8>, spacing: [f64; 3]) -> Array3<f32> {
    // A huge z step keeps every distance within its own slice.
    let in_plane = [spacing[0], spacing[1], 1e6];
    let to_inside = crate::segment::distance_transform_sq(mask, in_plane);
    let outside = mask.mapv(|v| u8::from(v == 0));
    let to_outside = crate::segment::distance_transform_sq(&outside, in_plane);
    let half = 0.5 * spacing[0].min(spacing[1]) as f32;
    let c = 2.0 * spacing[2] as f32;
    let mut field = to_inside;
    ndarray::Zip::from(&mut field)
        .and(&to_outside)
        .par_for_each(|a, &b| {
            let g = if *a == 0.0 {
                b.sqrt() - half
            } else {
                half - a.sqrt()
            };
            *a = 0.5 + 0.5 * g.clamp(-c, c) / c;
        });
    field
}

/// Extracts a closed surface of a mask. With `presmooth_mm`, the mask is
/// blurred by that Gaussian sigma before the 0.5 level is taken (no stair
/// steps); then Taubin smoothing and decimation as asked.
#[tracing::instrument(level = "info", skip_all)]
pub fn mask_surface(
    mask: &Mask,
    opts: &SurfaceOptions,
    progress: &Progress,
) -> Result<SurfaceMesh> {
    progress.begin("building surface", 3);
    let Some(b) = mask.bounds() else {
        return Err(MeshError::EmptySegment.into());
    };
    let sigma = opts.presmooth_mm.unwrap_or(0.0);
    let s = mask.geometry.spacing;
    // Room for the blur around the mask.
    let pad = |step: f64| (3.0 * sigma / step).ceil() as usize + 1;
    let (nz, ny, nx) = mask.dim();
    let z0 = b[0].0.saturating_sub(pad(s[2]));
    let y0 = b[1].0.saturating_sub(pad(s[1]));
    let x0 = b[2].0.saturating_sub(pad(s[0]));
    let z1 = (b[0].1 + pad(s[2])).min(nz);
    let y1 = (b[1].1 + pad(s[1])).min(ny);
    let x1 = (b[2].1 + pad(s[0])).min(nx);
    let crop = mask.data.slice(s![z0..z1, y0..y1, x0..x1]);
    // The smooth surface is the 0.5 level of a field: shape-based
    // interpolation for thick slices, else the blurred mask (taken a hair
    // under 0.5, so blurred values of exactly 0.5 count as inside).
    let thick = s[2] > 2.0 * s[0].min(s[1]);
    let smooth = (sigma > 0.0).then(|| {
        if thick {
            (shape_based_field(&crop.to_owned(), s), 0.5)
        } else {
            (blur(crop, sigma, s), 0.5 - 1e-4)
        }
    });
    progress.advance(1);
    progress.check()?;
    let (mut positions, indices) = match &smooth {
        Some((field, level)) => marching_cubes(field.view(), *level, 0.0),
        None => mask_marching_cubes(crop),
    };
    to_lps(&mut positions, &mask.geometry, [x0, y0, z0]);
    let mut mesh = SurfaceMesh {
        positions,
        normals: Vec::new(),
        indices,
    };
    orient_outward(&mut mesh, &mask.geometry);
    progress.advance(1);
    progress.check()?;
    if opts.smooth_iterations > 0 {
        // Every vertex stays within half a voxel of the unsmoothed surface,
        // and the smoothed surface keeps its voxels' volume (thin organs
        // would otherwise lose up to a fifth of it to smoothing and cut
        // corners).
        let limit = VoxelBox::half_voxel(&mask.geometry);
        let anchor = mesh.positions.clone();
        constrained_taubin(&mut mesh, opts.smooth_iterations, 0.5, -0.53, &limit);
        let target = mask.count() as f64 * mask.voxel_mm3();
        restore_volume(&mut mesh, &anchor, target, &limit);
    }
    decimate_keeping_volume(&mut mesh, opts.keep_ratio, &mask.geometry);
    mesh.compute_normals();
    progress.advance(1);
    Ok(mesh)
}
