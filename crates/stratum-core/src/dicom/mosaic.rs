//! Siemens MR mosaics: one stored image holding the slices of a volume as
//! tiles of a square grid. The slice count comes from the CSA image
//! header's NumberOfImagesInMosaic (or its copy in (0019,100A)), the slice
//! direction from its SliceNormalVector, and each tile's position from the
//! mosaic's ImagePositionPatient, which Siemens writes for the corner of
//! the whole mosaic: the first tile sits half the mosaic-minus-tile size
//! further along the rows and columns (the correction dcm2niix and nibabel
//! make), and tile k lies k slice steps along the slice normal.

use dicom_core::Tag;
use dicom_object::InMemDicomObject;

use super::csa;
use crate::image::volume::{cross, dot, normalize};

/// CSA Image Header Info.
const CSA_IMAGE: Tag = Tag(0x0029, 0x1010);
/// Siemens' NumberOfImagesInMosaic outside the CSA header.
const IMAGES_IN_MOSAIC: Tag = Tag(0x0019, 0x100A);
/// Tiles a mosaic may hold (a 64 x 64 grid).
const MAX_TILES: u32 = 4096;

/// How the slices are tiled in a mosaic image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MosaicLayout {
    /// Slices in the mosaic.
    pub tiles: u32,
    /// Tiles per row (and per column) of the grid.
    pub grid: u32,
    pub tile_rows: u32,
    pub tile_columns: u32,
}

impl MosaicLayout {
    /// Copies tile `k` of a decoded mosaic (`columns` wide) into `out`.
    pub fn copy_tile<T: Copy>(&self, mosaic: &[T], columns: usize, k: u32, out: &mut [T]) {
        let (tr, tc) = (self.tile_rows as usize, self.tile_columns as usize);
        let (row0, col0) = ((k / self.grid) as usize * tr, (k % self.grid) as usize * tc);
        for (r, line) in out.chunks_exact_mut(tc).take(tr).enumerate() {
            let start = (row0 + r) * columns + col0;
            line.copy_from_slice(&mosaic[start..start + tc]);
        }
    }
}

/// The mosaic's slices: layout and the position of each tile.
#[derive(Clone, Debug, PartialEq)]
pub struct Mosaic {
    pub layout: MosaicLayout,
    /// ImagePositionPatient of each tile's first pixel, LPS mm.
    pub positions: Vec<[f64; 3]>,
}

fn siemens_tiles(obj: &InMemDicomObject, csa: Option<&csa::CsaHeader>) -> Option<u32> {
    let from_csa = csa.and_then(|h| h.float("NumberOfImagesInMosaic"));
    let from_tag = || {
        let e = obj.get(IMAGES_IN_MOSAIC)?;
        e.to_int::<u32>().ok().map(f64::from).or_else(|| {
            // Implicit VR files carry it as raw bytes (US).
            let b = e.to_bytes().ok()?;
            (b.len() >= 2).then(|| f64::from(u16::from_le_bytes([b[0], b[1]])))
        })
    };
    let n = from_csa.or_else(from_tag)?;
    (n >= 1.0 && n <= MAX_TILES as f64 && n.fract() == 0.0).then_some(n as u32)
}

/// Why a mosaic cannot be unpacked, for the series' problems.
pub type MosaicError = &'static str;

/// Unpacks the geometry of a mosaic image (`rows` x `columns` stored),
/// given its ImagePositionPatient, ImageOrientationPatient, PixelSpacing
/// (between rows, between columns) and slice step (SpacingBetweenSlices,
/// else SliceThickness).
pub fn unpack(
    obj: &InMemDicomObject,
    rows: u32,
    columns: u32,
    position: [f64; 3],
    orientation: [f64; 6],
    pixel_spacing: [f64; 2],
    step: Option<f64>,
) -> Result<Mosaic, MosaicError> {
    let csa = obj
        .get(CSA_IMAGE)
        .and_then(|e| e.to_bytes().ok())
        .and_then(|b| csa::parse(&b));
    let tiles = siemens_tiles(obj, csa.as_ref())
        .ok_or("NumberOfImagesInMosaic (Siemens CSA header) is missing")?;
    let grid = (tiles as f64).sqrt().ceil() as u32;
    if grid == 0 || !rows.is_multiple_of(grid) || !columns.is_multiple_of(grid) {
        return Err("the mosaic's size is not a whole number of tiles");
    }
    let layout = MosaicLayout {
        tiles,
        grid,
        tile_rows: rows / grid,
        tile_columns: columns / grid,
    };
    let row_dir = normalize([orientation[0], orientation[1], orientation[2]]);
    let col_dir = normalize([orientation[3], orientation[4], orientation[5]]);
    let plane_normal = normalize(cross(row_dir, col_dir));
    // The CSA normal gives the direction the tiles run in; it may point
    // either way along the plane's normal.
    let normal = csa
        .as_ref()
        .and_then(|h| h.floats("SliceNormalVector"))
        .filter(|v| v.len() >= 3)
        .map(|v| normalize([v[0], v[1], v[2]]))
        .filter(|n| dot(*n, plane_normal).abs() > 0.99)
        .unwrap_or(plane_normal);
    let step = step
        .filter(|s| s.is_finite() && *s > 0.0)
        .ok_or("neither SpacingBetweenSlices nor SliceThickness gives the slice step")?;
    let half_cols = (columns - layout.tile_columns) as f64 / 2.0 * pixel_spacing[1];
    let half_rows = (rows - layout.tile_rows) as f64 / 2.0 * pixel_spacing[0];
    let first: [f64; 3] =
        std::array::from_fn(|i| position[i] + row_dir[i] * half_cols + col_dir[i] * half_rows);
    let positions = (0..tiles)
        .map(|k| std::array::from_fn(|i| first[i] + normal[i] * step * k as f64))
        .collect();
    Ok(Mosaic { layout, positions })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tile_k_is_read_row_by_row_from_its_grid_cell() {
        let layout = MosaicLayout {
            tiles: 3,
            grid: 2,
            tile_rows: 2,
            tile_columns: 2,
        };
        // 4 x 4 mosaic, value = row * 10 + column.
        let mosaic: Vec<u32> = (0..16).map(|i| (i / 4) * 10 + i % 4).collect();
        let mut out = [0u32; 4];
        layout.copy_tile(&mosaic, 4, 1, &mut out);
        assert_eq!(out, [2, 3, 12, 13]);
        layout.copy_tile(&mosaic, 4, 2, &mut out);
        assert_eq!(out, [20, 21, 30, 31]);
    }
}
