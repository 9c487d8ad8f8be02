//! Label maps (one integer label per voxel) and their segment table.

use std::path::Path;

use ndarray::Array3;

use super::Mask;
use super::error::SegmentError;
use crate::base::error::{CoreError, Result};
use crate::image::volume::{Geometry, Volume, Voxels};

/// Label storage: u8 while there are at most 255 labels, else u16.
#[derive(Clone, Debug, PartialEq)]
pub enum Labels {
    U8(Array3<u8>),
    U16(Array3<u16>),
}

/// One structure: its label value, name, colour and display state.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub id: u16,
    pub name: String,
    /// sRGB, 0..=255
    pub colour: [u8; 3],
    pub visible: bool,
}

/// A label map on a volume grid plus its segment table.
#[derive(Clone, Debug, PartialEq)]
pub struct LabelMap {
    pub labels: Labels,
    pub geometry: Geometry,
    pub segments: Vec<Segment>,
}

impl LabelMap {
    pub fn empty(dim: (usize, usize, usize), geometry: Geometry) -> Self {
        LabelMap {
            labels: Labels::U8(Array3::zeros(dim)),
            geometry,
            segments: Vec::new(),
        }
    }

    pub fn dim(&self) -> (usize, usize, usize) {
        match &self.labels {
            Labels::U8(a) => a.dim(),
            Labels::U16(a) => a.dim(),
        }
    }

    #[inline]
    pub fn get(&self, z: usize, y: usize, x: usize) -> u16 {
        match &self.labels {
            Labels::U8(a) => a[(z, y, x)] as u16,
            Labels::U16(a) => a[(z, y, x)],
        }
    }

    /// Builds a label map from an integer volume (e.g. a NIfTI label map),
    /// naming segments with `names` (id -> name) where known.
    #[tracing::instrument(level = "info", skip_all)]
    pub fn from_volume(v: &Volume, names: &dyn Fn(u16) -> Option<String>) -> Result<Self> {
        let labels = match &v.voxels {
            Voxels::U8(a) => Labels::U8(a.clone()),
            Voxels::I16(a) if a.iter().all(|x| *x >= 0) => Labels::U16(a.mapv(|x| x as u16)),
            Voxels::U16(a) => Labels::U16(a.clone()),
            Voxels::I32(a) if a.iter().all(|x| (0..=u16::MAX as i32).contains(x)) => {
                Labels::U16(a.mapv(|x| x as u16))
            }
            _ => {
                return Err(SegmentError::NotLabels.into());
            }
        };
        let mut present = vec![false; 65536];
        match &labels {
            Labels::U8(a) => a.iter().for_each(|v| present[*v as usize] = true),
            Labels::U16(a) => a.iter().for_each(|v| present[*v as usize] = true),
        }
        let segments = (1..=u16::MAX)
            .filter(|id| present[*id as usize])
            .map(|id| {
                let name = names(id).unwrap_or_else(|| format!("Segment {id}"));
                Segment {
                    id,
                    colour: segment_colour(&name, id),
                    name,
                    visible: true,
                }
            })
            .collect();
        let mut map = LabelMap {
            labels,
            geometry: v.geometry,
            segments,
        };
        map.narrow();
        Ok(map)
    }

    /// The mask of one label.
    pub fn mask(&self, id: u16) -> Mask {
        let data = match &self.labels {
            Labels::U8(a) => a.mapv(|v| (v as u16 == id) as u8),
            Labels::U16(a) => a.mapv(|v| (v == id) as u8),
        };
        Mask {
            data,
            geometry: self.geometry,
        }
    }

    /// Adds a segment from a mask (its voxels take the new label, over
    /// whatever was there) and returns its id.
    pub fn add_segment(&mut self, name: &str, mask: &Mask) -> u16 {
        let id = self.segments.iter().map(|s| s.id).max().unwrap_or(0) + 1;
        if id > 255 {
            self.widen();
        }
        self.paint(id, mask);
        self.segments.push(Segment {
            id,
            name: name.to_string(),
            colour: segment_colour(name, id),
            visible: true,
        });
        id
    }

    /// Sets the voxels of `mask` to `id`.
    /// Clears every voxel of segment `id` (back to background).
    pub fn erase(&mut self, id: u16) {
        match &mut self.labels {
            Labels::U8(a) => a.par_mapv_inplace(|v| if v as u16 == id { 0 } else { v }),
            Labels::U16(a) => a.par_mapv_inplace(|v| if v == id { 0 } else { v }),
        }
    }

    /// Voxel count of every label id (index = id).
    pub fn counts(&self) -> Vec<u64> {
        let mut counts = vec![0u64; 65536];
        match &self.labels {
            Labels::U8(a) => a.iter().for_each(|&v| counts[v as usize] += 1),
            Labels::U16(a) => a.iter().for_each(|&v| counts[v as usize] += 1),
        }
        let last = counts.iter().rposition(|&c| c > 0).unwrap_or(0);
        counts.truncate(last + 1);
        counts
    }

    pub fn paint(&mut self, id: u16, mask: &Mask) {
        match &mut self.labels {
            Labels::U8(a) => ndarray::Zip::from(a).and(&mask.data).for_each(|l, m| {
                if *m != 0 {
                    *l = id as u8
                }
            }),
            Labels::U16(a) => ndarray::Zip::from(a).and(&mask.data).for_each(|l, m| {
                if *m != 0 {
                    *l = id
                }
            }),
        }
    }

    /// Sets one voxel's label. The map must already hold `id` (see
    /// [`ensure_fits`](Self::ensure_fits)); a u8 map keeps the low byte.
    #[inline]
    pub fn set(&mut self, z: usize, y: usize, x: usize, id: u16) {
        match &mut self.labels {
            Labels::U8(a) => a[(z, y, x)] = id as u8,
            Labels::U16(a) => a[(z, y, x)] = id,
        }
    }

    /// Widens u8 labels to u16 when `id` does not fit in a byte, so an edit
    /// with a high segment id never truncates it.
    pub fn ensure_fits(&mut self, id: u16) {
        if id > u8::MAX as u16 {
            self.widen();
        }
    }

    fn widen(&mut self) {
        if let Labels::U8(a) = &self.labels {
            self.labels = Labels::U16(a.mapv(|v| v as u16));
        }
    }

    fn narrow(&mut self) {
        if let Labels::U16(a) = &self.labels
            && self.segments.iter().all(|s| s.id <= 255)
        {
            self.labels = Labels::U8(a.mapv(|v| v as u8));
        }
    }
}

/// A label voxel type (u8 or u16), so edits run one generic loop over
/// either storage.
pub trait LabelValue: Copy + Eq + Send + Sync + 'static {
    fn from_id(id: u16) -> Self;
    fn id(self) -> u16;
}

impl LabelValue for u8 {
    #[inline]
    fn from_id(id: u16) -> Self {
        id as u8
    }
    #[inline]
    fn id(self) -> u16 {
        self as u16
    }
}

impl LabelValue for u16 {
    #[inline]
    fn from_id(id: u16) -> Self {
        id
    }
    #[inline]
    fn id(self) -> u16 {
        self
    }
}

/// TotalSegmentator v2 CT class names (id -> name) from its labels TSV
/// (`id<TAB>name` per line, header first), as shipped in assets/demo.
pub fn totalsegmentator_ct_names(tsv: &Path) -> Result<Vec<(u16, String)>> {
    let text = std::fs::read_to_string(tsv).map_err(|e| CoreError::io(tsv, e))?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let (id, name) = l.split_once('\t')?;
            Some((id.trim().parse().ok()?, name.trim().to_string()))
        })
        .collect())
}

/// A colour that reads as the anatomy: bone ivory, liver brown-red, lungs
/// pink, kidneys tan, vessels red/blue, ...; other names get distinct hues.
pub fn segment_colour(name: &str, id: u16) -> [u8; 3] {
    let n = name.to_ascii_lowercase();
    let table: &[(&[&str], [u8; 3])] = &[
        (
            &[
                "vertebra",
                "rib",
                "bone",
                "femur",
                "hip",
                "sacrum",
                "skull",
                "humerus",
                "scapula",
                "clavicula",
                "clavicle",
                "sternum",
                "cartilage",
                "skeleton",
            ],
            [241, 214, 145],
        ),
        (&["liver"], [221, 130, 101]),
        (&["spleen"], [157, 108, 162]),
        (&["kidney"], [185, 102, 83]),
        (&["lung"], [197, 165, 145]),
        (&["heart"], [206, 110, 84]),
        (&["aorta", "artery", "atrial"], [216, 101, 79]),
        (&["vena", "vein", "portal"], [0, 151, 206]),
        (&["stomach", "esophagus", "duodenum"], [216, 132, 105]),
        (&["colon", "bowel", "intestine"], [204, 168, 143]),
        (&["pancreas"], [249, 180, 111]),
        (&["gallbladder"], [139, 150, 98]),
        (&["bladder"], [222, 154, 132]),
        (&["adrenal"], [244, 214, 49]),
        (&["brain"], [250, 250, 225]),
        (&["muscle", "gluteus", "iliopsoas"], [192, 104, 88]),
        (&["skin", "body"], [177, 122, 101]),
        (&["fat"], [230, 220, 70]),
    ];
    for (keys, c) in table {
        if keys.iter().any(|k| n.contains(k)) {
            return *c;
        }
    }
    // Golden-angle hues for the rest.
    let h = (id as f64 * 137.508) % 360.0;
    hsv(h, 0.55, 0.85)
}

fn hsv(h: f64, s: f64, v: f64) -> [u8; 3] {
    let c = v * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let m = v - c;
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    [
        ((r + m) * 255.0) as u8,
        ((g + m) * 255.0) as u8,
        ((b + m) * 255.0) as u8,
    ]
}
