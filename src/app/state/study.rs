//! The open study (volume, label map, histogram, where it came from) and
//! the message that says a new one is in. Written by loading and sessions,
//! read by most features.

use bevy::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use stratum_core::Volume;
use stratum_core::checks::SeriesReport;
use stratum_core::segment::{Histogram, LabelMap};

/// The open study: the scan, its checklist and its label map.
#[derive(Resource)]
pub struct Study {
    pub volume: Arc<Volume>,
    pub report: SeriesReport,
    /// Label map on the volume's grid; edited by the segmentation tools.
    pub labels: Arc<LabelMap>,
    /// A title without patient data: the file name (NIfTI) or series label.
    pub title: String,
    pub histogram: Histogram,
    /// 1st and 99th intensity percentiles, for the automatic window.
    pub auto_window: (f64, f64),
    /// Bumped on every change of `labels`, so views know to redraw.
    pub labels_generation: u64,
}

/// Sent when a new study replaced the old one (segments from its label map).
#[derive(Message, Clone, Debug)]
pub struct StudyLoaded {
    pub segments: Vec<(u16, String, [u8; 3], f64)>,
    /// The intensity level of segments whose surface is built from the
    /// scan (a reopened session's thresholds and presets), by segment id.
    pub levels: std::collections::BTreeMap<u16, f64>,
    /// The soft edge of segments meshed from a model's probabilities (a
    /// reopened session's model segments), by segment id.
    pub soft: std::collections::BTreeMap<u16, std::sync::Arc<stratum_core::mesh::SoftField>>,
}

/// Where the open study came from (what a session points to).
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct StudySource {
    pub path: PathBuf,
    /// The series of a DICOM folder (its id for `--series`).
    pub series: Option<String>,
    /// The part of the series opened (the whole unless it did not fit).
    pub subset: stratum_core::dicom::Subset,
}
