//! Slice views for display: axial, coronal and sagittal images of a volume
//! in radiological orientation, with a window/level, segment overlays and a
//! threshold preview. The app draws these; nothing here knows the engine.
//!
//! Radiological convention: axial and coronal images show the patient's
//! right on the left of the screen; axial images have anterior at the top;
//! coronal and sagittal images have superior at the top; sagittal images
//! have anterior on the left.

use crate::image::volume::{Geometry, Volume, VoxelType};
use crate::segment::{LabelMap, Mask};
use crate::with_voxels;

/// The three standard planes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Plane {
    Axial,
    Coronal,
    Sagittal,
}

impl Plane {
    pub const ALL: [Plane; 3] = [Plane::Axial, Plane::Coronal, Plane::Sagittal];

    pub fn name(self) -> &'static str {
        match self {
            Plane::Axial => "Axial",
            Plane::Coronal => "Coronal",
            Plane::Sagittal => "Sagittal",
        }
    }

    /// Patient axes (0 = L, 1 = P, 2 = S) of the image columns, rows and
    /// slices, and whether the display runs against the patient axis.
    fn layout(self) -> [(usize, bool); 3] {
        match self {
            // cols toward Left, rows toward Posterior, slices toward Superior
            Plane::Axial => [(0, false), (1, false), (2, false)],
            // cols toward Left, rows toward Inferior, slices toward Posterior
            Plane::Coronal => [(0, false), (2, true), (1, false)],
            // cols toward Posterior, rows toward Inferior, slices toward Left
            Plane::Sagittal => [(1, false), (2, true), (0, false)],
        }
    }
}

/// Intensity window (centre and width, in the volume's units: HU for CT).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Window {
    pub center: f64,
    pub width: f64,
}

impl Window {
    /// Maps a value to a grey level.
    #[inline]
    pub fn grey(&self, v: f64) -> u8 {
        let lo = self.center - self.width / 2.0;
        let t = ((v - lo) / self.width.max(1e-9)).clamp(0.0, 1.0);
        (t * 255.0 + 0.5) as u8
    }
}

/// The usual CT windows, and an automatic one for MR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowPreset {
    SoftTissue,
    Bone,
    Lung,
    Brain,
    /// From the 1st to the 99th intensity percentile (MR, or anything).
    Auto,
}

impl WindowPreset {
    pub const ALL: [WindowPreset; 5] = [
        WindowPreset::SoftTissue,
        WindowPreset::Bone,
        WindowPreset::Lung,
        WindowPreset::Brain,
        WindowPreset::Auto,
    ];

    pub fn name(self) -> &'static str {
        match self {
            WindowPreset::SoftTissue => "Soft tissue",
            WindowPreset::Bone => "Bone",
            WindowPreset::Lung => "Lung",
            WindowPreset::Brain => "Brain",
            WindowPreset::Auto => "Auto",
        }
    }

    /// The window; `auto` is the (1st, 99th) percentile pair used for `Auto`.
    pub fn window(self, auto: (f64, f64)) -> Window {
        match self {
            WindowPreset::SoftTissue => Window {
                center: 40.0,
                width: 400.0,
            },
            WindowPreset::Bone => Window {
                center: 400.0,
                width: 1800.0,
            },
            WindowPreset::Lung => Window {
                center: -600.0,
                width: 1500.0,
            },
            WindowPreset::Brain => Window {
                center: 40.0,
                width: 80.0,
            },
            WindowPreset::Auto => Window {
                center: (auto.0 + auto.1) / 2.0,
                width: (auto.1 - auto.0).max(1.0),
            },
        }
    }
}

/// How a volume's index axes map onto the display of one plane.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SliceLayout {
    pub plane: Plane,
    /// Image width and height in pixels, and the number of slices.
    pub width: usize,
    pub height: usize,
    pub depth: usize,
    /// Pixel size (mm) across and down: the image is drawn with this aspect.
    pub pixel_mm: [f64; 2],
    /// For cols, rows, slices: the index axis (0 = x, 1 = y, 2 = z) and
    /// whether the display counts it backwards.
    axes: [(usize, bool); 3],
}

impl SliceLayout {
    /// The continuous voxel index (x, y, z) at display position (col, row)
    /// of `slice` (pixel centres at whole numbers): where a mouse position on
    /// a slice view lies in the grid.
    pub fn continuous_index(&self, slice: usize, col: f32, row: f32) -> [f64; 3] {
        let base = self.to_index(0, 0, slice).map(|v| v as f64);
        let step = |c: usize, r: usize| {
            let i = self.to_index(c, r, slice).map(|v| v as f64);
            [i[0] - base[0], i[1] - base[1], i[2] - base[2]]
        };
        let dc = if self.width > 1 { step(1, 0) } else { [0.0; 3] };
        let dr = if self.height > 1 {
            step(0, 1)
        } else {
            [0.0; 3]
        };
        std::array::from_fn(|k| base[k] + col as f64 * dc[k] + row as f64 * dr[k])
    }

    /// Layout of `plane` for a volume of `dim` (z, y, x) on `geometry`.
    /// Oblique grids use the index axis closest to each patient axis.
    pub fn new(plane: Plane, dim: (usize, usize, usize), geometry: &Geometry) -> SliceLayout {
        let n = [dim.2, dim.1, dim.0];
        // For each patient axis: the index axis that points along it, and its sign.
        let mut of_patient = [(0usize, true); 3];
        let mut used = [false; 3];
        for p in 0..3 {
            let mut best = (0usize, 0.0f64);
            for (a, d) in geometry.direction.iter().enumerate() {
                if !used[a] && d[p].abs() > best.1.abs() {
                    best = (a, d[p]);
                }
            }
            used[best.0] = true;
            of_patient[p] = (best.0, best.1 >= 0.0);
        }
        let mut axes = [(0usize, false); 3];
        for (k, (p, against)) in plane.layout().into_iter().enumerate() {
            let (a, positive) = of_patient[p];
            // The display counts backwards when the index runs opposite to the
            // direction the display wants.
            axes[k] = (a, positive == against);
        }
        SliceLayout {
            plane,
            width: n[axes[0].0],
            height: n[axes[1].0],
            depth: n[axes[2].0],
            pixel_mm: [geometry.spacing[axes[0].0], geometry.spacing[axes[1].0]],
            axes,
        }
    }

    /// The number of voxels along index axis `k` (0 = x, 1 = y, 2 = z).
    fn n_of_axis(&self, k: usize) -> usize {
        (0..3)
            .find(|&i| self.axes[i].0 == k)
            .map(|i| self.n(i))
            .unwrap_or(1)
    }

    fn n(&self, k: usize) -> usize {
        [self.width, self.height, self.depth][k]
    }

    /// Voxel index (x, y, z) shown at pixel (col, row) of slice `slice`.
    pub fn to_index(&self, col: usize, row: usize, slice: usize) -> [usize; 3] {
        let mut idx = [0usize; 3];
        for (k, v) in [col, row, slice].into_iter().enumerate() {
            let (a, back) = self.axes[k];
            idx[a] = if back { self.n(k) - 1 - v } else { v };
        }
        idx
    }

    /// The index axis (0 = x, 1 = y, 2 = z) the slices step along.
    pub fn slice_axis(&self) -> usize {
        self.axes[2].0
    }

    /// Continuous display position (col, row) of a continuous voxel index,
    /// with pixel centres at whole numbers (for drawing over the image).
    pub fn display_of(&self, idx: [f64; 3]) -> [f64; 2] {
        let mut out = [0.0; 2];
        for k in 0..2 {
            let (a, back) = self.axes[k];
            out[k] = if back {
                (self.n(k) - 1) as f64 - idx[a]
            } else {
                idx[a]
            };
        }
        out
    }

    /// Pixel (col, row) and slice where voxel index (x, y, z) is shown.
    pub fn from_index(&self, idx: [usize; 3]) -> [usize; 3] {
        let mut out = [0usize; 3];
        for k in 0..3 {
            let (a, back) = self.axes[k];
            let v = idx[a].min(self.n(k) - 1);
            out[k] = if back { self.n(k) - 1 - v } else { v };
        }
        out
    }
}

/// What to paint over the grey image.
pub struct Overlay<'a> {
    pub labels: Option<&'a LabelMap>,
    /// RGBA per label id (alpha 0 hides it); ids beyond the table are hidden.
    pub colours: &'a [[u8; 4]],
    /// Threshold preview: voxels inside [lo, hi] tinted with this colour.
    pub preview: Option<(f64, f64, [u8; 3])>,
    /// A tool's previewed result (its grid the volume's), tinted with the
    /// preview colour (yellow when there is no window preview).
    pub preview_mask: Option<&'a Mask>,
}

/// Renders one slice as RGBA rows (top row first), `layout.width` pixels wide.
pub fn render_slice(
    volume: &Volume,
    layout: &SliceLayout,
    slice: usize,
    window: Window,
    overlay: &Overlay<'_>,
) -> Vec<u8> {
    let (w, h) = (layout.width, layout.height);
    let slice = slice.min(layout.depth.saturating_sub(1));
    let mut out = vec![0u8; w * h * 4];
    with_voxels!(&volume.voxels, a => {
        for row in 0..h {
            for col in 0..w {
                let [x, y, z] = layout.to_index(col, row, slice);
                let v = a[(z, y, x)].to_f64();
                let g = window.grey(v);
                let mut rgb = [g as f32; 3];
                if let Some((lo, hi, c)) = overlay.preview
                    && v >= lo
                    && v <= hi
                {
                    blend(&mut rgb, c, 0.45);
                }
                if let Some(map) = overlay.labels {
                    let l = map.get(z, y, x) as usize;
                    if l > 0
                        && let Some(c) = overlay.colours.get(l)
                        && c[3] > 0
                    {
                        blend(&mut rgb, [c[0], c[1], c[2]], c[3] as f32 / 255.0);
                    }
                }
                // Over the segments: a tool's preview shows what they become.
                if let Some(m) = overlay.preview_mask
                    && m.data.get((z, y, x)).is_some_and(|v| *v != 0)
                {
                    let c = overlay.preview.map_or(PREVIEW_COLOUR, |p| p.2);
                    blend(&mut rgb, c, 0.6);
                }
                let o = (row * w + col) * 4;
                out[o] = rgb[0] as u8;
                out[o + 1] = rgb[1] as u8;
                out[o + 2] = rgb[2] as u8;
                out[o + 3] = 255;
            }
        }
    });
    out
}

/// The colour of a tool's preview on the slices.
pub const PREVIEW_COLOUR: [u8; 3] = [255, 200, 40];

fn blend(rgb: &mut [f32; 3], c: [u8; 3], alpha: f32) {
    for i in 0..3 {
        rgb[i] = rgb[i] * (1.0 - alpha) + c[i] as f32 * alpha;
    }
}

/// The (1st, 99th) intensity percentiles, for the automatic window.
pub fn auto_window_range(volume: &Volume) -> (f64, f64) {
    let h = crate::segment::histogram(volume, 1024);
    (h.percentile(0.01), h.percentile(0.99))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axial_layout_puts_patient_right_on_the_left_and_anterior_on_top() {
        // An LPS grid: x toward Left, y toward Posterior, z toward Superior.
        let g = Geometry::default();
        let l = SliceLayout::new(Plane::Axial, (4, 3, 2), &g);
        assert_eq!((l.width, l.height, l.depth), (2, 3, 4));
        assert_eq!(l.to_index(0, 0, 1), [0, 0, 1]);
        // Coronal: superior on top means the last slice index is row 0.
        let c = SliceLayout::new(Plane::Coronal, (4, 3, 2), &g);
        assert_eq!((c.width, c.height, c.depth), (2, 4, 3));
        assert_eq!(c.to_index(1, 0, 2), [1, 2, 3]);
        assert_eq!(c.from_index([1, 2, 3]), [1, 0, 2]);
        // A RAS-stored grid (x toward Right) is flipped back for display.
        let mut ras = Geometry::default();
        ras.direction[0] = [-1.0, 0.0, 0.0];
        let r = SliceLayout::new(Plane::Axial, (4, 3, 2), &ras);
        assert_eq!(r.to_index(0, 0, 0), [1, 0, 0]);
        for plane in Plane::ALL {
            let l = SliceLayout::new(plane, (4, 3, 2), &ras);
            for idx in [[0, 0, 0], [1, 2, 3], [1, 0, 2]] {
                let [c, r, s] = l.from_index(idx);
                assert_eq!(l.to_index(c, r, s), idx, "{plane:?}");
            }
        }
    }
}

/// A clip plane in patient space: the anatomy on the side `normal` points
/// to is cut away; what lies where `normal · (p − point) <= 0` stays.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClipPlane {
    /// Unit LPS direction.
    pub normal: [f64; 3],
    /// A point of the plane (LPS mm).
    pub point: [f64; 3],
}

impl ClipPlane {
    /// The plane through `point` with normal `normal` (normalised here).
    pub fn new(normal: [f64; 3], point: [f64; 3]) -> ClipPlane {
        let len = (normal[0] * normal[0] + normal[1] * normal[1] + normal[2] * normal[2]).sqrt();
        let normal = if len > 0.0 {
            [normal[0] / len, normal[1] / len, normal[2] / len]
        } else {
            [0.0, 0.0, 1.0]
        };
        ClipPlane { normal, point }
    }

    /// Signed distance (mm) of `p` from the plane, positive on the cut side.
    pub fn distance(&self, p: [f64; 3]) -> f64 {
        (0..3)
            .map(|i| self.normal[i] * (p[i] - self.point[i]))
            .sum()
    }

    /// Where the plane crosses slice `slice` of `layout`: the two ends (display
    /// col, row; pixel centres at whole numbers) of its line across the image,
    /// or `None` when it misses the slice or lies in it.
    pub fn line_on_slice(
        &self,
        layout: &SliceLayout,
        geometry: &Geometry,
        slice: usize,
    ) -> Option<[[f64; 2]; 2]> {
        // In index space the plane is sum_k c_k i_k = d.
        let mut c = [0.0; 3];
        for (k, ck) in c.iter_mut().enumerate() {
            *ck = geometry.spacing[k]
                * (0..3)
                    .map(|j| self.normal[j] * geometry.direction[k][j])
                    .sum::<f64>();
        }
        let d = -self.distance(geometry.origin);
        let a = layout.slice_axis();
        let s = layout.to_index(0, 0, slice)[a] as f64;
        // The two in-slice axes and their extents (pixel edges).
        let others: Vec<usize> = (0..3).filter(|&k| k != a).collect();
        let (u, v) = (others[0], others[1]);
        let n = [layout.n_of_axis(u), layout.n_of_axis(v)];
        let rest = d - c[a] * s;
        let mut hits: Vec<[f64; 2]> = Vec::new();
        let (lo_u, hi_u) = (-0.5, n[0] as f64 - 0.5);
        let (lo_v, hi_v) = (-0.5, n[1] as f64 - 0.5);
        // Edges u = const: solve for v; edges v = const: solve for u.
        if c[v].abs() > 1e-12 {
            for uu in [lo_u, hi_u] {
                let vv = (rest - c[u] * uu) / c[v];
                if (lo_v..=hi_v).contains(&vv) {
                    hits.push([uu, vv]);
                }
            }
        }
        if c[u].abs() > 1e-12 {
            for vv in [lo_v, hi_v] {
                let uu = (rest - c[v] * vv) / c[u];
                if (lo_u..=hi_u).contains(&uu) {
                    hits.push([uu, vv]);
                }
            }
        }
        // The two hits farthest apart (corners can be found twice).
        let mut best: Option<([f64; 2], [f64; 2], f64)> = None;
        for i in 0..hits.len() {
            for j in i + 1..hits.len() {
                let dd = (hits[i][0] - hits[j][0]).powi(2) + (hits[i][1] - hits[j][1]).powi(2);
                if best.is_none_or(|b| dd > b.2) {
                    best = Some((hits[i], hits[j], dd));
                }
            }
        }
        let (p, q, dd) = best?;
        if dd < 1e-9 {
            return None;
        }
        let to_display = |h: [f64; 2]| {
            let mut idx = [0.0; 3];
            idx[a] = s;
            idx[u] = h[0];
            idx[v] = h[1];
            layout.display_of(idx)
        };
        Some([to_display(p), to_display(q)])
    }
}

/// Row-major 4x4 matrix taking LPS mm to the coordinates of a 3D texture of
/// the volume (width = columns x, height = rows y, depth = slices z; texel
/// centres at (i + 0.5) / n), for the GPU to reslice the scan anywhere.
pub fn texture_from_lps(geometry: &Geometry, dim: (usize, usize, usize)) -> [[f64; 4]; 4] {
    let n = [dim.2 as f64, dim.1 as f64, dim.0 as f64];
    let o = geometry.lps_to_index([0.0; 3]);
    let mut m = [[0.0; 4]; 4];
    for col in 0..3 {
        let mut e = [0.0; 3];
        e[col] = 1.0;
        let i = geometry.lps_to_index(e);
        for row in 0..3 {
            m[row][col] = (i[row] - o[row]) / n[row];
        }
    }
    for row in 0..3 {
        m[row][3] = (o[row] + 0.5) / n[row];
    }
    m[3][3] = 1.0;
    m
}

/// The volume as 8-bit texels through a window (lo → 0, hi → 255), x fastest:
/// the GPU's copy of the scan for clip-plane cut faces.
pub fn windowed_texels(volume: &Volume, lo: f64, hi: f64) -> Vec<u8> {
    use rayon::prelude::*;
    let scale = 255.0 / (hi - lo).max(1e-6);
    with_voxels!(&volume.voxels, a => {
        let a = a.as_standard_layout();
        a.as_slice()
            .unwrap_or(&[])
            .par_iter()
            .map(|v| ((v.to_f64() - lo) * scale).clamp(0.0, 255.0).round() as u8)
            .collect()
    })
}
