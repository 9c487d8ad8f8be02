//! Surfaces from the scan's intensities for segments that came from them
//! (threshold presets, region growing): the iso-surface of the scan at the
//! segment's level, constrained to the segment, so each vertex sits at the
//! sub-voxel crossing of the level instead of at a mask edge's midpoint.

use ndarray::{Array3, Zip, s};

use super::constrain::{VoxelBox, constrained_taubin};
use super::{SurfaceMesh, SurfaceOptions, marching_cubes, orient_outward, to_lps};
use crate::error::{CoreError, Result};
use crate::progress::Progress;
use crate::segment::Mask;
use crate::volume::{Volume, VoxelType};
use crate::with_voxels;

/// The field whose `level` iso-surface is the segment's surface: the
/// intensities, with every voxel of the mask lifted just above the level
/// and every other voxel held just below it. Inside and outside are then
/// exactly the mask's (its islands, holes and hand edits), and only where
/// the surface crosses between two voxels comes from the scan.
fn constrained_field<T: VoxelType>(
    voxels: ndarray::ArrayView3<T>,
    mask: ndarray::ArrayView3<u8>,
    level: f32,
    eps: f32,
) -> Array3<f32> {
    let mut f = Array3::<f32>::zeros(voxels.dim());
    Zip::from(&mut f)
        .and(voxels)
        .and(mask)
        .par_for_each(|o, v, m| {
            let v = v.to_f32();
            *o = if *m != 0 {
                v.max(level + eps)
            } else {
                v.min(level - eps)
            };
        });
    f
}

/// The surface of a segment made from the scan's intensities at `level`
/// (e.g. the threshold it came from): marching cubes on the scan within
/// the segment (see [`constrained_field`]), then Taubin smoothing that
/// keeps every vertex within half a voxel of its crossing, and decimation
/// as [`super::mask_surface`] does. `opts.presmooth_mm` is not used: the
/// intensities already place the surface between the voxels.
pub fn intensity_surface(
    volume: &Volume,
    mask: &Mask,
    level: f64,
    opts: &SurfaceOptions,
    progress: &Progress,
) -> Result<SurfaceMesh> {
    progress.begin("building surface from the scan", 3);
    if mask.dim() != volume.dim() {
        return Err(CoreError::Invalid(
            "the segment and the scan are on different grids".into(),
        ));
    }
    if !level.is_finite() {
        return Err(CoreError::Invalid(format!(
            "the surface level {level} is not a number"
        )));
    }
    let Some(b) = mask.bounds() else {
        return Err(CoreError::Invalid(
            "the segment is empty: nothing to build".into(),
        ));
    };
    let (nz, ny, nx) = mask.dim();
    // One voxel around the mask: the crossings out of its border voxels.
    let (z0, y0, x0) = (
        b[0].0.saturating_sub(1),
        b[1].0.saturating_sub(1),
        b[2].0.saturating_sub(1),
    );
    let (z1, y1, x1) = (
        (b[0].1 + 1).min(nz),
        (b[1].1 + 1).min(ny),
        (b[2].1 + 1).min(nx),
    );
    let level32 = level as f32;
    // Far above the f32 rounding of the level, far below any contrast.
    let eps = (level32.abs().max(1.0)) * 1e-5;
    let crop = mask.data.slice(s![z0..z1, y0..y1, x0..x1]);
    let field = with_voxels!(&volume.voxels, a => {
        constrained_field(a.slice(s![z0..z1, y0..y1, x0..x1]), crop, level32, eps)
    });
    progress.advance(1);
    progress.check()?;
    let (mut positions, indices) = marching_cubes(field.view(), level32, level32 - 2.0 * eps);
    drop(field);
    to_lps(&mut positions, &mask.geometry, [x0, y0, z0]);
    let mut mesh = SurfaceMesh {
        positions,
        normals: Vec::new(),
        indices,
    };
    orient_outward(&mut mesh, &mask.geometry);
    progress.advance(1);
    progress.check()?;
    let limit = VoxelBox::half_voxel(&mask.geometry);
    constrained_taubin(&mut mesh, opts.smooth_iterations, 0.5, -0.53, &limit);
    super::decimate_keeping_volume(&mut mesh, opts.keep_ratio, &mask.geometry);
    mesh.compute_normals();
    progress.advance(1);
    Ok(mesh)
}
