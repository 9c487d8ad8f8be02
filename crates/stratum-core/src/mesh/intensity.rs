//! Surfaces from the scan's intensities for segments that came from them
//! (threshold presets, region growing): the iso-surface of the scan at the
//! segment's level, constrained to the segment, so each vertex sits at the
//! sub-voxel crossing of the level instead of at a mask edge's midpoint.

use ndarray::s;

use super::constrain::{VoxelBox, constrained_taubin};
use super::mc::constrained_marching_cubes;
use super::{SurfaceMesh, SurfaceOptions, orient_outward, to_lps};
use crate::error::{CoreError, Result};
use crate::progress::Progress;
use crate::segment::Mask;
use crate::volume::{Geometry, Volume};
use crate::with_voxels;

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
    let mut mesh = intensity_mesh(volume, mask, level, progress)?;
    finish_intensity_mesh(&mut mesh, &mask.geometry, opts);
    progress.advance(1);
    Ok(mesh)
}

/// The first half of [`intensity_surface`], the only one that reads the
/// scan: the raw iso-surface in LPS mm, oriented outward. A caller meshing
/// several segments can free the scan after this, before smoothing (what
/// keeps `stratum convert` under twice the voxel bytes).
pub fn intensity_mesh(
    volume: &Volume,
    mask: &Mask,
    level: f64,
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
    let crop = mask.data.slice(s![z0..z1, y0..y1, x0..x1]);
    let (mut positions, indices) = with_voxels!(&volume.voxels, a => {
        constrained_marching_cubes(a.slice(s![z0..z1, y0..y1, x0..x1]), crop, level as f32)
    });
    progress.advance(1);
    progress.check()?;
    to_lps(&mut positions, &mask.geometry, [x0, y0, z0]);
    let mut mesh = SurfaceMesh {
        positions,
        normals: Vec::new(),
        indices,
    };
    orient_outward(&mut mesh, &mask.geometry);
    progress.advance(1);
    progress.check()?;
    Ok(mesh)
}

/// The second half of [`intensity_surface`]: Taubin smoothing held within
/// half a voxel of `geometry`'s grid, decimation, normals.
pub fn finish_intensity_mesh(mesh: &mut SurfaceMesh, geometry: &Geometry, opts: &SurfaceOptions) {
    let limit = VoxelBox::half_voxel(geometry);
    constrained_taubin(mesh, opts.smooth_iterations, 0.5, -0.53, &limit);
    super::decimate_keeping_volume(mesh, opts.keep_ratio, geometry);
    mesh.compute_normals();
}
