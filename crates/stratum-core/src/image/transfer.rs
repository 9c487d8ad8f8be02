//! Volume rendering's engine-free parts: transfer functions (the presets
//! users know, shift/width, a lookup table for the GPU), the empty-space map
//! that lets rays skip bricks the transfer function makes invisible, and the
//! scan as 16-bit float texels (raw values, not a windowed 8-bit copy).

use rayon::prelude::*;

use crate::base::error::{CoreError, Result};
use crate::image::volume::{Volume, VoxelType};
use crate::with_voxels;

/// How samples along a ray become a pixel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RenderMode {
    /// Front-to-back compositing of colour and opacity (lit from the gradient).
    Composite,
    /// Maximum intensity projection: the brightest value along the ray.
    Mip,
}

/// The transfer-function presets of `--render volume:PRESET` and the panel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TfPreset {
    CtBone,
    CtSoftTissue,
    CtAngio,
    CtLung,
    CtSkin,
    MrDefault,
    Mip,
}

impl TfPreset {
    pub const ALL: [TfPreset; 7] = [
        TfPreset::CtBone,
        TfPreset::CtSoftTissue,
        TfPreset::CtAngio,
        TfPreset::CtLung,
        TfPreset::CtSkin,
        TfPreset::MrDefault,
        TfPreset::Mip,
    ];

    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            TfPreset::CtBone => "ct-bone",
            TfPreset::CtSoftTissue => "ct-soft-tissue",
            TfPreset::CtAngio => "ct-angio",
            TfPreset::CtLung => "ct-lung",
            TfPreset::CtSkin => "ct-skin",
            TfPreset::MrDefault => "mr-default",
            TfPreset::Mip => "mip",
        }
    }

    /// The name in the panel.
    pub fn label(self) -> &'static str {
        match self {
            TfPreset::CtBone => "CT bone",
            TfPreset::CtSoftTissue => "CT soft tissue",
            TfPreset::CtAngio => "CT angiography",
            TfPreset::CtLung => "CT lung",
            TfPreset::CtSkin => "CT skin",
            TfPreset::MrDefault => "MR default",
            TfPreset::Mip => "MIP",
        }
    }

    pub fn parse(s: &str) -> Result<TfPreset> {
        TfPreset::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                let names: Vec<_> = TfPreset::ALL.iter().map(|p| p.name()).collect();
                CoreError::UnknownRenderPreset {
                    name: s.to_string(),
                    choices: names.join(", "),
                }
            })
    }

    /// The preset a study opens with: CT bone for CT, the MR default otherwise.
    pub fn default_for(volume: &Volume) -> TfPreset {
        if volume.is_ct() {
            TfPreset::CtBone
        } else {
            TfPreset::MrDefault
        }
    }
}

/// One control point of a transfer function.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TfPoint {
    /// Scan value (HU for CT).
    pub value: f64,
    /// Linear RGB.
    pub rgb: [f32; 3],
    /// Opacity per reference step (one voxel of the finest spacing).
    pub opacity: f32,
}

/// A piecewise-linear map from scan value to colour and opacity.
#[derive(Clone, Debug, PartialEq)]
pub struct TransferFunction {
    /// Sorted by value; below the first and above the last the end points hold.
    pub points: Vec<TfPoint>,
    pub mode: RenderMode,
    /// Light the samples from the gradient (off: flat emission).
    pub shade: bool,
}

fn p(value: f64, rgb: [f32; 3], opacity: f32) -> TfPoint {
    TfPoint {
        value,
        rgb,
        opacity,
    }
}

const BONE: [f32; 3] = [0.92, 0.86, 0.72];
const IVORY: [f32; 3] = [1.0, 0.97, 0.9];
const FLESH: [f32; 3] = [0.78, 0.36, 0.28];
const FAT: [f32; 3] = [0.85, 0.72, 0.4];
const BLOOD: [f32; 3] = [0.85, 0.12, 0.1];
const SKIN: [f32; 3] = [0.93, 0.7, 0.58];
const GREY: [f32; 3] = [0.7, 0.7, 0.7];
const WHITE: [f32; 3] = [1.0, 1.0, 1.0];
const BLACK: [f32; 3] = [0.0, 0.0, 0.0];

impl TransferFunction {
    /// A preset. `range` is the study's robust intensity range (1st..99th
    /// percentile): the MR presets and MIP are placed in it, since MR values
    /// have no fixed scale; the CT presets are in HU.
    pub fn preset(preset: TfPreset, range: (f64, f64)) -> TransferFunction {
        let (lo, hi) = (range.0.min(range.1), range.0.max(range.1));
        let at = |f: f64| lo + f * (hi - lo).max(1e-6);
        let composite = |points: Vec<TfPoint>| TransferFunction {
            points,
            mode: RenderMode::Composite,
            shade: true,
        };
        match preset {
            TfPreset::CtBone => composite(vec![
                p(-1024.0, BONE, 0.0),
                p(180.0, BONE, 0.0),
                p(300.0, BONE, 0.25),
                p(600.0, BONE, 0.7),
                p(1500.0, IVORY, 0.95),
            ]),
            TfPreset::CtSoftTissue => composite(vec![
                p(-1024.0, FAT, 0.0),
                p(-160.0, FAT, 0.0),
                p(-60.0, FAT, 0.02),
                p(0.0, FLESH, 0.04),
                p(80.0, FLESH, 0.12),
                p(200.0, BONE, 0.3),
                p(600.0, IVORY, 0.9),
            ]),
            TfPreset::CtAngio => composite(vec![
                p(-1024.0, BLOOD, 0.0),
                p(120.0, BLOOD, 0.0),
                p(200.0, BLOOD, 0.3),
                p(350.0, [0.95, 0.3, 0.2], 0.7),
                p(700.0, IVORY, 0.9),
            ]),
            TfPreset::CtLung => composite(vec![
                p(-1024.0, [0.8, 0.5, 0.5], 0.0),
                p(-930.0, [0.8, 0.5, 0.5], 0.0),
                p(-850.0, [0.85, 0.55, 0.5], 0.015),
                p(-650.0, [0.9, 0.6, 0.55], 0.03),
                p(-500.0, [0.9, 0.6, 0.55], 0.0),
                p(-200.0, BLOOD, 0.0),
                p(-50.0, BLOOD, 0.25),
                p(300.0, IVORY, 0.5),
            ]),
            TfPreset::CtSkin => composite(vec![
                p(-1024.0, SKIN, 0.0),
                p(-400.0, SKIN, 0.0),
                p(-200.0, SKIN, 0.6),
                p(200.0, SKIN, 0.9),
                p(500.0, IVORY, 0.95),
            ]),
            TfPreset::MrDefault => composite(vec![
                p(at(0.0), GREY, 0.0),
                p(at(0.15), GREY, 0.0),
                p(at(0.35), [0.75, 0.62, 0.55], 0.04),
                p(at(0.7), [0.95, 0.85, 0.75], 0.25),
                p(at(1.0), WHITE, 0.6),
            ]),
            TfPreset::Mip => TransferFunction {
                points: vec![p(at(0.0), BLACK, 0.0), p(at(1.0), WHITE, 1.0)],
                mode: RenderMode::Mip,
                shade: false,
            },
        }
    }

    /// Colour (linear RGB) and opacity at a scan value.
    pub fn sample(&self, v: f64) -> [f32; 4] {
        let pts = &self.points;
        let Some(first) = pts.first() else {
            return [0.0; 4];
        };
        let last = pts[pts.len() - 1];
        let pack = |q: &TfPoint| [q.rgb[0], q.rgb[1], q.rgb[2], q.opacity];
        if v <= first.value {
            return pack(first);
        }
        if v >= last.value {
            return pack(&last);
        }
        let i = pts.partition_point(|q| q.value <= v).max(1);
        let (a, b) = (&pts[i - 1], &pts[i]);
        let t = ((v - a.value) / (b.value - a.value).max(1e-12)) as f32;
        let (ca, cb) = (pack(a), pack(b));
        std::array::from_fn(|k| ca[k] + (cb[k] - ca[k]) * t)
    }

    /// The centre of the function's visible part (the value shift/width pivot on).
    pub fn centre(&self) -> f64 {
        let visible: Vec<f64> = self
            .points
            .iter()
            .filter(|q| q.opacity > 0.0)
            .map(|q| q.value)
            .collect();
        let vals = if visible.is_empty() {
            self.points.iter().map(|q| q.value).collect()
        } else {
            visible
        };
        let lo = vals.iter().copied().fold(f64::MAX, f64::min);
        let hi = vals.iter().copied().fold(f64::MIN, f64::max);
        if lo > hi { 0.0 } else { (lo + hi) / 2.0 }
    }

    /// The function moved by `shift` and widened by `width` (1 = as is)
    /// about its centre: the mouse's shift/width, as for a window.
    pub fn shifted(&self, shift: f64, width: f64) -> TransferFunction {
        let c = self.centre();
        let w = width.max(0.01);
        let mut out = self.clone();
        for q in &mut out.points {
            q.value = c + (q.value - c) * w + shift;
        }
        out
    }

    /// `n` entries (RGBA, linear) evenly over `lo..=hi`: the GPU's lookup table.
    pub fn bake(&self, lo: f64, hi: f64, n: usize) -> Vec<[f32; 4]> {
        let n = n.max(2);
        (0..n)
            .map(|i| self.sample(lo + (hi - lo) * i as f64 / (n - 1) as f64))
            .collect()
    }

    /// Whether any value in `lo..=hi` is visible (non-zero opacity): a brick
    /// whose values all lie where the function is transparent can be skipped.
    pub fn visible_in(&self, lo: f64, hi: f64) -> bool {
        if self.mode == RenderMode::Mip {
            return true;
        }
        if self.sample(lo)[3] > 0.0 || self.sample(hi)[3] > 0.0 {
            return true;
        }
        // Piecewise linear: inside, only a control point can be visible.
        self.points
            .iter()
            .any(|q| q.value > lo && q.value < hi && q.opacity > 0.0)
    }
}

/// Value ranges of the volume in bricks of `brick`³ voxels (each widened by
/// one voxel, so a ray sampling with trilinear filtering near a brick's face
/// sees no value the range misses). Index order of the bricks is x fastest.
#[derive(Clone, Debug)]
pub struct BrickMap {
    pub brick: usize,
    /// Bricks along x, y, z.
    pub dims: [usize; 3],
    pub min: Vec<f32>,
    pub max: Vec<f32>,
}

impl BrickMap {
    pub fn new(volume: &Volume, brick: usize) -> BrickMap {
        let brick = brick.max(1);
        let (nz, ny, nx) = volume.dim();
        let dims = [nx.div_ceil(brick), ny.div_ceil(brick), nz.div_ceil(brick)];
        let ranges: Vec<(f32, f32)> = with_voxels!(&volume.voxels, a => {
            (0..dims[0] * dims[1] * dims[2])
                .into_par_iter()
                .map(|i| {
                    let (bx, by, bz) = (i % dims[0], (i / dims[0]) % dims[1], i / (dims[0] * dims[1]));
                    let span = |b: usize, n: usize| {
                        (b * brick).saturating_sub(1)..((b + 1) * brick + 1).min(n)
                    };
                    let (mut lo, mut hi) = (f32::MAX, f32::MIN);
                    for z in span(bz, nz) {
                        for y in span(by, ny) {
                            for x in span(bx, nx) {
                                let v = a[[z, y, x]].to_f32();
                                lo = lo.min(v);
                                hi = hi.max(v);
                            }
                        }
                    }
                    (lo, hi)
                })
                .collect()
        });
        let (min, max) = ranges.into_iter().unzip();
        BrickMap {
            brick,
            dims,
            min,
            max,
        }
    }

    /// One byte per brick: 255 where the transfer function shows something
    /// in the brick's range, 0 where rays may skip it.
    pub fn occupancy(&self, tf: &TransferFunction) -> Vec<u8> {
        self.min
            .par_iter()
            .zip(&self.max)
            .map(|(&lo, &hi)| {
                if tf.visible_in(lo as f64, hi as f64) {
                    255
                } else {
                    0
                }
            })
            .collect()
    }
}

/// A lookup table as little-endian half-float RGBA texels (the GPU filters
/// 16-bit floats everywhere; small opacities keep their precision).
pub fn half_rgba(lut: &[[f32; 4]]) -> Vec<u8> {
    lut.iter()
        .flat_map(|c| c.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()))
        .collect()
}

/// Values as little-endian half floats (one channel).
pub fn half_values(v: &[f32]) -> Vec<u8> {
    v.iter()
        .flat_map(|x| half::f16::from_f32(*x).to_le_bytes())
        .collect()
}

/// The voxels as little-endian IEEE half floats (x fastest): 16 bits per
/// voxel, exact for integers up to 2048 and within 2 HU above, the scan's
/// own values for the GPU to filter and look up.
pub fn half_texels(volume: &Volume) -> Vec<u8> {
    with_voxels!(&volume.voxels, a => {
        let a = a.as_standard_layout();
        let src = a.as_slice().unwrap_or(&[]);
        let mut out = vec![0u8; src.len() * 2];
        out.par_chunks_mut(2 * 4096)
            .zip(src.par_chunks(4096))
            .for_each(|(dst, s)| {
                for (d, v) in dst.chunks_exact_mut(2).zip(s) {
                    d.copy_from_slice(&half::f16::from_f32(v.to_f32()).to_le_bytes());
                }
            });
        out
    })
}
