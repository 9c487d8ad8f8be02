//! The open study (the scan, its checklist, the segmentation document,
//! where it came from) and the message that says a new one is in. Written
//! by loading and sessions, read by most features.

use bevy::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;
use stratum_core::checks::SeriesReport;
use stratum_core::document::Document;
use stratum_core::image::volume::Volume;
use stratum_core::segment::Histogram;

/// The open study: the scan, its checklist and its segmentation.
#[derive(Resource)]
pub struct Study {
    pub volume: Arc<Volume>,
    pub report: SeriesReport,
    /// The label map on the volume's grid, the segment table with each
    /// segment's surface recipe, and the edit history: changed only through
    /// [`DocEdit`](super::document::DocEdit).
    pub doc: Document,
    /// A title without patient data: the file name (NIfTI) or series label.
    pub title: String,
    pub histogram: Histogram,
    /// 1st and 99th intensity percentiles, for the automatic window.
    pub auto_window: (f64, f64),
}

impl Study {
    /// The segment named `name` as typed on a command line: any case, "_"
    /// for a space ("small_bowel" is "Small bowel").
    pub fn segment_typed(&self, name: &str) -> Option<u16> {
        let norm = |n: &str| n.trim().replace('_', " ").to_lowercase();
        let name = norm(name);
        self.doc
            .segments()
            .iter()
            .find(|s| norm(&s.name) == name)
            .map(|s| s.id)
    }
}

/// Sent when a new study replaced the old one: its segments are the
/// document's.
#[derive(Message, Clone, Copy, Debug, Default)]
pub struct StudyLoaded;

/// Where the open study came from (what a session points to).
#[derive(Resource, Clone, Debug, PartialEq)]
pub struct StudySource {
    pub path: PathBuf,
    /// The series of a DICOM folder (its id for `--series`).
    pub series: Option<String>,
    /// The part of the series opened (the whole unless it did not fit).
    pub subset: stratum_core::dicom::Subset,
}

/// Tells a system, once per study, that a new one is in: its
/// [`StudyLoaded`] was sent and the [`Study`] resource is in place (which
/// can be a frame after the message, as commands apply it).
#[derive(bevy::ecs::system::SystemParam)]
pub struct NewStudy<'w, 's> {
    loaded: MessageReader<'w, 's, StudyLoaded>,
    study: Option<Res<'w, Study>>,
    /// A message seen and not yet acted on; the study last acted on.
    seen: Local<'s, (bool, usize)>,
}

impl NewStudy<'_, '_> {
    /// The study that just arrived, the first time this is asked after it did.
    pub fn arrived(&mut self) -> Option<&Study> {
        if self.loaded.read().last().is_some() {
            self.seen.0 = true;
        }
        let study = self.study.as_deref()?;
        let key = Arc::as_ptr(&study.volume) as usize;
        if !self.seen.0 || self.seen.1 == key {
            return None;
        }
        *self.seen = (false, key);
        Some(study)
    }

    /// The open study (new or not).
    pub fn study(&self) -> Option<&Study> {
        self.study.as_deref()
    }
}
