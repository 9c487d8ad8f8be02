//! `--margin A,B` for `stratum convert` and `stratum share`: segment A's
//! surface coloured by its distance to segment B in the OBJ, GLB or share
//! page. B's voxels are kept aside as a one-label map before the masks are
//! freed (the margin map's coarse field reads them); the distances are
//! measured on the meshes as written.

use super::error::ConvertError;
use super::{ConvertSegment, SegmentResult};
use crate::base::error::{CoreError, Result};
use crate::export::{MARGIN_COLOURS, MARGIN_THRESHOLDS_MM, MarginPaint};
use crate::segment::LabelMap;

/// Colour segment `a` by its distance to segment `b` (names, any case).
#[derive(Clone, Debug, PartialEq)]
pub struct MarginRequest {
    pub a: String,
    pub b: String,
    /// Red under the first, yellow under the second (mm).
    pub thresholds_mm: [f32; 2],
}

impl MarginRequest {
    /// A by B at the usual 5 and 10 mm.
    pub fn new(a: &str, b: &str) -> Self {
        MarginRequest {
            a: a.trim().to_string(),
            b: b.trim().to_string(),
            thresholds_mm: MARGIN_THRESHOLDS_MM,
        }
    }
}

/// What a margin export keeps of the segments: the names and B's voxels.
pub(super) struct MarginSource {
    a: String,
    b: String,
    labels: LabelMap,
    thresholds_mm: [f32; 2],
}

/// The one label of [`MarginSource::labels`].
const OTHER: u16 = 1;

fn position(names: &[&str], key: &str) -> Option<usize> {
    names.iter().position(|n| n.eq_ignore_ascii_case(key))
}

fn not_found(key: &str, names: &[&str]) -> CoreError {
    ConvertError::MarginSegment {
        name: key.to_string(),
        there: names
            .iter()
            .take(12)
            .copied()
            .collect::<Vec<_>>()
            .join(", "),
    }
    .into()
}

impl MarginSource {
    /// Finds A and B among the segments about to be meshed and keeps B's
    /// voxels.
    pub fn new(req: &MarginRequest, segments: &[ConvertSegment]) -> Result<Self> {
        let names: Vec<&str> = segments.iter().map(|(n, _, _)| n.as_str()).collect();
        position(&names, &req.a).ok_or_else(|| not_found(&req.a, &names))?;
        let ib = position(&names, &req.b).ok_or_else(|| not_found(&req.b, &names))?;
        if req.a.eq_ignore_ascii_case(&req.b) {
            return Err(ConvertError::MarginSame(req.a.clone()).into());
        }
        let mask = segments[ib].1.bytes();
        let mut labels = LabelMap::empty(mask.dim(), mask.geometry);
        labels.add_segment(&segments[ib].0, &mask);
        Ok(MarginSource {
            a: req.a.clone(),
            b: req.b.clone(),
            labels,
            thresholds_mm: req.thresholds_mm,
        })
    }

    /// The margin to paint on the meshes built.
    pub fn paint<'a>(&'a self, results: &'a [SegmentResult]) -> Result<MarginPaint<'a>> {
        let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
        let ia = position(&names, &self.a).ok_or_else(|| not_found(&self.a, &names))?;
        let ib = position(&names, &self.b).ok_or_else(|| not_found(&self.b, &names))?;
        Ok(MarginPaint {
            segment: ia,
            labels: &self.labels,
            other: OTHER,
            other_mesh: &results[ib].mesh,
            thresholds_mm: self.thresholds_mm,
            colours: MARGIN_COLOURS,
        })
    }
}
