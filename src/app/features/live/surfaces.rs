//! Edits reach browsers as surfaces: when the app's remesh (debounced, in
//! the background) gives a segment a new surface while the study is shared
//! live, a worker thread packs the new surfaces as the browser's model and
//! hands them to the host, which encrypts them and tells the browsers to
//! swap them in.

use std::sync::Arc;
use std::sync::mpsc::{self, Sender};

use bevy::prelude::*;
use stratum_core::export::ExportSegment;
use stratum_core::live::Event;
use stratum_core::live::Host;
use stratum_core::live::page::browser_model;
use stratum_core::mesh::SurfaceMesh;

use super::LiveShare;
use crate::app::state::segments::{Segment, SegmentSurface};

/// A segment's new surface: id, name, colour, mL, mesh (`None`: gone).
type Part = (u16, String, [u8; 3], f64, Option<Arc<SurfaceMesh>>);

/// The worker's queue: the host, and what to pack for it.
type Queue = Sender<(Host, Vec<Part>)>;

/// Sends the surfaces rebuilt since the last frame to the worker.
pub(super) fn send_surfaces(
    live: Res<LiveShare>,
    changed: Query<(&Segment, &SegmentSurface), Changed<SegmentSurface>>,
    mut removed: RemovedComponents<SegmentSurface>,
    segments: Query<&Segment>,
    mut worker: Local<Option<Queue>>,
) {
    let gone: Vec<u16> = removed
        .read()
        .filter_map(|e| segments.get(e).ok().map(|s| s.id))
        .collect();
    let Some(r) = live.running.as_ref() else {
        return;
    };
    let mut parts: Vec<Part> = changed
        .iter()
        .map(|(s, m)| {
            (
                s.id,
                s.name.clone(),
                s.colour,
                s.voxel_ml,
                Some(m.0.clone()),
            )
        })
        .collect();
    parts.extend(
        gone.into_iter()
            .map(|id| (id, String::new(), [0; 3], 0.0, None)),
    );
    if parts.is_empty() {
        return;
    }
    let tx = worker.get_or_insert_with(|| {
        let (tx, rx) = mpsc::channel::<(Host, Vec<Part>)>();
        // One worker, so the host gets the surfaces in the order they came.
        let _ = std::thread::Builder::new()
            .name("live-app-surfaces".into())
            .spawn(move || {
                for (host, parts) in rx {
                    pack(&host, &parts);
                }
            });
        tx
    });
    let _ = tx.send((r.host.clone(), parts));
}

fn pack(host: &Host, parts: &[Part]) {
    let empty: Vec<u16> = parts
        .iter()
        .filter(|p| p.4.is_none())
        .map(|p| p.0)
        .collect();
    let meshes: Vec<(u16, ExportSegment<'_>, f64)> = parts
        .iter()
        .filter_map(|(id, name, colour, ml, mesh)| {
            Some((
                *id,
                ExportSegment {
                    name,
                    colour: *colour,
                    mesh: mesh.as_deref()?,
                },
                *ml,
            ))
        })
        .collect();
    if meshes.is_empty() {
        host.set_surfaces(None, Vec::new(), empty);
        return;
    }
    match browser_model(&meshes) {
        Ok((glb, Event::Scene { segments, .. })) => host.set_surfaces(Some(&glb), segments, empty),
        Ok(_) => {}
        Err(e) => tracing::warn!("live: the edited surfaces were not sent to browsers: {e}"),
    }
}
