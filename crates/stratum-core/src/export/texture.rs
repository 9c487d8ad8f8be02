//! The scan texture: a UV atlas in which every triangle has its own chart,
//! each texel holding the scan's intensity sampled just inside the surface
//! (through a window) blended with the segment's colour.
//!
//! Charts: triangles go two to a square cell of the atlas, one in each
//! corner, with gutters wide enough that bilinear filtering never reads a
//! texel of another chart; every texel of a cell belongs to the nearer of
//! its two triangles and is filled from the nearest point of that triangle,
//! so edges shared in 3D sample the same scan points and show no seams.
//! Optionally each texel is darkened by baked ambient occlusion
//! ([`super::ao`]), interpolated from the triangle's vertices.

use rayon::prelude::*;

use super::ExportSegment;
use super::ao::vertex_openness;
use super::error::ExportError;
use super::margin::Painted;
use crate::base::error::Result;
use crate::image::view::{Window, WindowPreset, auto_window_range};
use crate::image::volume::Volume;

/// How the scan colours the surface.
#[derive(Clone, Copy, Debug)]
pub struct ScanTexture<'a> {
    pub volume: &'a Volume,
    /// Intensity window (HU for CT).
    pub window: Window,
    /// How deep inside the surface the scan is sampled, mm.
    pub depth_mm: f64,
    /// Share of the scan's grey in each texel (0: the flat segment colour,
    /// 1: the scan only).
    pub scan_weight: f32,
    /// Texels per cell side (two triangles per cell); at least 8 (the
    /// gutters take 4).
    pub cell_px: usize,
    /// Bake ambient occlusion, with rays of this reach (mm; e.g.
    /// [`AO_REACH_MM`]); `None`: no occlusion.
    pub occlusion_mm: Option<f64>,
}

/// How far ambient occlusion looks for surfaces around a point by default:
/// the gap between neighbouring organs.
pub const AO_REACH_MM: f64 = 20.0;

impl<'a> ScanTexture<'a> {
    /// Defaults: the soft-tissue window for CT (the 1st-99th percentile for
    /// anything else), sampled one voxel diagonal inside (at most 4 mm),
    /// where trilinear interpolation no longer reaches the voxels outside
    /// the organ; blended half and half with the colour; 8-texel cells.
    pub fn new(volume: &'a Volume) -> Self {
        let window = if volume.is_ct() {
            WindowPreset::SoftTissue.window((0.0, 0.0))
        } else {
            WindowPreset::Auto.window(auto_window_range(volume))
        };
        let s = volume.geometry.spacing;
        ScanTexture {
            volume,
            window,
            depth_mm: (s[0] * s[0] + s[1] * s[1] + s[2] * s[2])
                .sqrt()
                .clamp(0.5, 4.0),
            scan_weight: 0.5,
            cell_px: 8,
            occlusion_mm: None,
        }
    }
}

/// A baked atlas: RGB texels (rows top to bottom) and, per segment, one UV
/// per triangle corner (3 per triangle, in index order; u right, v down,
/// 0..1, glTF's convention).
#[derive(Clone, Debug)]
pub struct Atlas {
    pub width: usize,
    pub height: usize,
    pub rgb: Vec<u8>,
    pub uvs: Vec<Vec<[f32; 2]>>,
}

/// The largest atlas side (8192 x 8192 RGB is 200 MB): room for 2 million
/// triangles at 8 texels per cell.
const MAX_SIDE: usize = 8192;

/// The corners (texel units within a cell of side `c`) of the cell's two
/// triangle charts: `lower` in the top-left corner, `upper` bottom-right.
/// A bilinear footprint reaches texel centres less than one texel away in
/// each axis, so on the lower hypotenuse (x + y = c - 2) it reads centres
/// with x + y in (c - 4, c], on the upper one (x + y = c + 2) in (c, c + 4]:
/// the lower chart owns texel (i, j) where i + j <= c - 1 (centre sum i +
/// j + 1 <= c), the upper one the rest, and neither reads the other's.
/// Legs are 1 texel from the cell's border for the same reason.
fn chart(c: usize, half: usize) -> [[f32; 2]; 3] {
    let c = c as f32;
    if half == 0 {
        [[1.0, 1.0], [c - 3.0, 1.0], [1.0, c - 3.0]]
    } else {
        [[c - 1.0, c - 1.0], [3.0, c - 1.0], [c - 1.0, 3.0]]
    }
}

/// Bakes the atlas for `segments` (their meshes' normals are used when
/// present, else computed).
pub fn bake_atlas(segments: &[ExportSegment<'_>], tex: &ScanTexture<'_>) -> Result<Atlas> {
    bake_atlas_painted(segments, tex, None)
}

/// [`bake_atlas`] with a margin map: the coloured segment's texels take the
/// margin's colour of the distance interpolated across each triangle (so
/// the thresholds are sharp lines, not smeared over a triangle) in place of
/// the segment's flat colour.
#[tracing::instrument(level = "info", skip_all)]
pub(crate) fn bake_atlas_painted(
    segments: &[ExportSegment<'_>],
    tex: &ScanTexture<'_>,
    painted: Option<&Painted>,
) -> Result<Atlas> {
    let tris: usize = segments.iter().map(|s| s.mesh.triangle_count()).sum();
    let cells = tris.div_ceil(2).max(1);
    let c = tex.cell_px.max(8);
    let width = (((cells as f64).sqrt().ceil() as usize) * c).next_power_of_two();
    if width > MAX_SIDE {
        return Err(ExportError::TooManyForTexture {
            triangles: tris,
            max: 2 * (MAX_SIDE / c) * (MAX_SIDE / c),
        }
        .into());
    }
    let cols = width / c;
    let rows = cells.div_ceil(cols);
    let height = (rows * c).next_power_of_two();

    // Per global triangle: segment, corner positions, normals and openness
    // to the sky (ambient occlusion; 1 without it).
    struct Tri {
        seg: usize,
        p: [[f32; 3]; 3],
        n: [[f32; 3]; 3],
        open: [f32; 3],
        /// Each corner's margin distance, on the coloured segment.
        margin: Option<[f32; 3]>,
    }
    let normals: Vec<std::borrow::Cow<'_, [[f32; 3]]>> = segments
        .iter()
        .map(|s| {
            if s.mesh.normals.len() == s.mesh.positions.len() {
                std::borrow::Cow::Borrowed(s.mesh.normals.as_slice())
            } else {
                let mut m = s.mesh.clone();
                m.compute_normals();
                std::borrow::Cow::Owned(m.normals)
            }
        })
        .collect();
    let openness = tex.occlusion_mm.map(|reach| {
        let refs: Vec<&[[f32; 3]]> = normals.iter().map(|n| n.as_ref()).collect();
        vertex_openness(segments, &refs, reach as f32)
    });
    let mut all = Vec::with_capacity(tris);
    let mut uvs = Vec::with_capacity(segments.len());
    for (k, s) in segments.iter().enumerate() {
        let normals = &normals[k];
        let mut seg_uv = Vec::with_capacity(s.mesh.indices.len());
        for t in s.mesh.indices.chunks_exact(3) {
            let g = all.len();
            let (cell, half) = (g / 2, g % 2);
            let (ox, oy) = ((cell % cols) * c, (cell / cols) * c);
            for q in chart(c, half) {
                seg_uv.push([
                    (ox as f32 + q[0]) / width as f32,
                    (oy as f32 + q[1]) / height as f32,
                ]);
            }
            all.push(Tri {
                seg: k,
                p: [0, 1, 2].map(|i| s.mesh.positions[t[i] as usize]),
                n: [0, 1, 2].map(|i| normals[t[i] as usize]),
                open: match &openness {
                    Some(o) => [0, 1, 2].map(|i| o[k][t[i] as usize]),
                    None => [1.0; 3],
                },
                margin: painted.filter(|m| m.segment == k).and_then(|m| {
                    let d = [0, 1, 2].map(|i| m.distances.get(t[i] as usize).copied());
                    Some([d[0]?, d[1]?, d[2]?])
                }),
            });
        }
        uvs.push(seg_uv);
    }

    let mut rgb = vec![0u8; width * height * 3];
    let charts = [chart(c, 0), chart(c, 1)];
    // One band of cells (c texel rows) at a time, in parallel.
    rgb.par_chunks_mut(width * 3 * c)
        .enumerate()
        .for_each(|(row, band)| {
            for col in 0..cols {
                for j in 0..c {
                    for i in 0..c {
                        let half = usize::from(i + j > c - 1);
                        let g = (row * cols + col) * 2 + half;
                        let Some(t) = all.get(g) else { continue };
                        let centre = [i as f32 + 0.5, j as f32 + 0.5];
                        let b = clamped_barycentric(centre, &charts[half]);
                        let colour = match (t.margin, painted) {
                            (Some(d), Some(m)) => m.colour(b[0] * d[0] + b[1] * d[1] + b[2] * d[2]),
                            _ => segments[t.seg].colour,
                        };
                        let texel = shade(t.p, t.n, b, colour, tex);
                        // Occluded points keep 30 % of their light: dark, never black.
                        let open = b[0] * t.open[0] + b[1] * t.open[1] + b[2] * t.open[2];
                        let light = 0.3 + 0.7 * open.clamp(0.0, 1.0);
                        let texel = texel.map(|v| (v as f32 * light).round() as u8);
                        let at = (j * width + col * c + i) * 3;
                        band[at..at + 3].copy_from_slice(&texel);
                    }
                }
            }
        });
    Ok(Atlas {
        width,
        height,
        rgb,
        uvs,
    })
}

/// Barycentric coordinates of `p` in triangle `t`, moved onto the triangle
/// when `p` lies outside it (negative weights clipped, the rest rescaled).
fn clamped_barycentric(p: [f32; 2], t: &[[f32; 2]; 3]) -> [f32; 3] {
    let (a, b, c) = (t[0], t[1], t[2]);
    let d = (b[1] - c[1]) * (a[0] - c[0]) + (c[0] - b[0]) * (a[1] - c[1]);
    let w0 = ((b[1] - c[1]) * (p[0] - c[0]) + (c[0] - b[0]) * (p[1] - c[1])) / d;
    let w1 = ((c[1] - a[1]) * (p[0] - c[0]) + (a[0] - c[0]) * (p[1] - c[1])) / d;
    let w = [w0, w1, 1.0 - w0 - w1].map(|v| v.max(0.0));
    let s = w[0] + w[1] + w[2];
    w.map(|v| v / s)
}

/// The texel for surface point `b` of a triangle: the windowed scan just
/// inside the surface blended with the colour; the colour alone where the
/// point falls outside the scan.
fn shade(
    p: [[f32; 3]; 3],
    n: [[f32; 3]; 3],
    b: [f32; 3],
    colour: [u8; 3],
    tex: &ScanTexture<'_>,
) -> [u8; 3] {
    let mix =
        |v: [[f32; 3]; 3]| [0, 1, 2].map(|k| b[0] * v[0][k] + b[1] * v[1][k] + b[2] * v[2][k]);
    let (x, nn) = (mix(p), mix(n));
    let len = (nn[0] * nn[0] + nn[1] * nn[1] + nn[2] * nn[2]).sqrt();
    if len < 1e-6 {
        return colour;
    }
    let d = tex.depth_mm as f32 / len;
    let q = [0, 1, 2].map(|k| (x[k] - d * nn[k]) as f64);
    match tex.volume.sample_lps(q) {
        Some(v) => {
            let grey = tex.window.grey(v) as f32;
            let w = tex.scan_weight.clamp(0.0, 1.0);
            colour.map(|c| ((1.0 - w) * c as f32 + w * grey).round() as u8)
        }
        None => colour,
    }
}

/// PNG bytes of an atlas.
pub fn atlas_png(atlas: &Atlas) -> std::result::Result<Vec<u8>, png::EncodingError> {
    let mut bytes = Vec::new();
    let mut enc = png::Encoder::new(&mut bytes, atlas.width as u32, atlas.height as u32);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut w = enc.write_header()?;
    w.write_image_data(&atlas.rgb)?;
    w.finish()?;
    Ok(bytes)
}
