//! Browsers see edits as surfaces: after the voxels of some segments
//! change (a paint or sculpt stroke, a resection, undo), a worker thread
//! waits for the edits to settle, meshes just those segments as the
//! browser's model is meshed, and hands the host a GLB of them, which it
//! encrypts and announces ([`Event::Surfaces`]); the live page swaps them
//! in. A Stratum follower rebuilds its own surfaces from the edits.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use super::message::{Event, SceneSegment};
use crate::base::progress::Progress;
use crate::convert::{ConvertOptions, browser_meshes};
use crate::document::{Document, SurfaceRecipe};
use crate::image::volume::Volume;
use crate::segment::LabelMap;

/// How long the voxels must stay still before meshing (a stroke's end
/// and the undo that may follow come as one).
pub const SETTLE: Duration = Duration::from_millis(150);

/// Segments whose voxels changed, with the document as it was then.
pub struct SurfaceJob {
    ids: BTreeMap<u16, SurfaceRecipe>,
    labels: Arc<LabelMap>,
    scan: Option<Arc<Volume>>,
}

impl SurfaceJob {
    /// Segments `ids` of `doc` as they are now (the label map is shared,
    /// not copied).
    pub fn of(doc: &Document, ids: &[u16]) -> SurfaceJob {
        SurfaceJob {
            ids: ids.iter().map(|&id| (id, doc.recipe(id))).collect(),
            labels: doc.labels().clone(),
            scan: doc.scan().cloned(),
        }
    }

    /// A later job: its segments too, and the newer document.
    fn merge(&mut self, later: SurfaceJob) {
        self.ids.extend(later.ids);
        self.labels = later.labels;
        self.scan = later.scan;
    }
}

/// The worker: one job at a time, each after the edits settled, until the
/// host stops (its sender is dropped). `deliver` hands each result (the
/// GLB, its scene segments, the segments left empty) to the host.
pub(super) fn run(
    jobs: Receiver<SurfaceJob>,
    opts: ConvertOptions,
    deliver: impl Fn(Option<&[u8]>, Vec<SceneSegment>, Vec<u16>),
) {
    while let Ok(mut job) = jobs.recv() {
        let mut open = true;
        loop {
            match jobs.recv_timeout(SETTLE) {
                Ok(later) => job.merge(later),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    open = false;
                    break;
                }
            }
        }
        let ids: Vec<(u16, SurfaceRecipe)> = job.ids.into_iter().collect();
        match browser_meshes(
            &job.labels,
            job.scan.as_deref(),
            &ids,
            &opts,
            &Progress::new(),
        ) {
            Ok((glb, scene, empty)) => {
                let segments = match scene {
                    Some(Event::Scene { segments, .. }) => segments,
                    _ => Vec::new(),
                };
                deliver(glb.as_deref(), segments, empty);
            }
            Err(e) => tracing::warn!("live: the edited surfaces were not rebuilt: {e}"),
        }
        if !open {
            return;
        }
    }
}
