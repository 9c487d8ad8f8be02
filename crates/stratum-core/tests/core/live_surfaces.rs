//! Edits reach browsers as surfaces: after a stroke, the host meshes just
//! the changed segment once the edits settle, serves its GLB encrypted
//! under the follow key and tells every browser (and a newcomer) where;
//! a segment erased to nothing is announced as empty.

use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use stratum_core::convert::ConvertOptions;
use stratum_core::document::{Document, Edit};
use stratum_core::edit::{Brush, BrushAction, BrushShape};
use stratum_core::live::crypto;
use stratum_core::live::host::MODEL_SENDER;
use stratum_core::live::{Event, Follower, Frame, Host, HostOptions, Kind, Update};
use stratum_core::segment::LabelMap;

use crate::document::scan;

/// The next surfaces event a browser gets, within a generous bound.
fn next_surfaces(f: &mut Follower, rx: &Receiver<Frame>) -> Event {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = rx
            .recv_timeout(left)
            .expect("the edited surfaces within 60 s");
        if let Update::Event(e @ Event::Surfaces { .. }) = f.receive(&frame).unwrap() {
            return e;
        }
    }
}

fn stroke(segment: u16, action: BrushAction, radius_mm: f64, point: [f64; 3]) -> Vec<Edit> {
    vec![
        Edit::StrokeBegin {
            segment,
            brush: Brush {
                radius_mm,
                shape: BrushShape::Sphere,
                action,
                intensity: None,
                overwrite: false,
            },
            point,
            name: "Paint".into(),
        },
        Edit::StrokeEnd,
    ]
}

#[test]
fn a_stroke_reaches_browsers_as_the_new_surface_of_just_that_segment() {
    let v = scan();
    let (nz, ny, nx) = v.dim();
    let mut doc =
        Document::new(Some(v.clone()), LabelMap::empty((nz, ny, nx), v.geometry)).unwrap();
    doc.apply(Edit::AddEmpty).unwrap();
    doc.apply(Edit::AddEmpty).unwrap();
    let host = Host::start(&mut doc, &HostOptions::default()).unwrap();
    host.remesh_for_browsers(ConvertOptions {
        reduce: 0.0,
        ..Default::default()
    })
    .unwrap();
    let (_, rx) = host.join(Kind::Browser).unwrap();
    let mut f = Follower::new(host.key());
    let centre = v.geometry.index_to_lps([18.0, 20.0, 12.0]);
    for e in stroke(1, BrushAction::Paint, 6.0, centre) {
        doc.apply(e).unwrap();
    }
    let Event::Surfaces {
        model: Some(model),
        segments,
        empty,
    } = next_surfaces(&mut f, &rx)
    else {
        panic!("no model in the surfaces event")
    };
    assert_eq!(segments.iter().map(|s| s.id).collect::<Vec<_>>(), vec![1]);
    assert!(empty.is_empty());
    // A ball of 6 mm: about 0.9 mL.
    assert!(
        (0.5..1.5).contains(&segments[0].ml),
        "{} mL",
        segments[0].ml
    );
    let version: u64 = model.strip_prefix("surfaces/").unwrap().parse().unwrap();
    let frame = host.surfaces(version).expect("the GLB is served");
    let (header, glb) = crypto::open(&host.key(), &frame).unwrap();
    assert_eq!(header.sender, MODEL_SENDER);
    assert_eq!(&glb[..4], b"glTF");
    assert!(host.surfaces(version + 1).is_none());

    // A newcomer is told too (after the scene, before what follows).
    let (_, late_rx) = host.join(Kind::Browser).unwrap();
    let mut late = Follower::new(host.key());
    let told: Vec<Event> = late_rx
        .try_iter()
        .filter_map(|fr| match late.receive(&fr).unwrap() {
            Update::Event(e @ Event::Surfaces { .. }) => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(told.len(), 1);

    // Erased to nothing: announced empty, with no GLB; the newcomer's list
    // no longer needs the first surfaces.
    for e in stroke(1, BrushAction::Erase, 20.0, centre) {
        doc.apply(e).unwrap();
    }
    let Event::Surfaces {
        model: None,
        segments,
        empty,
    } = next_surfaces(&mut f, &rx)
    else {
        panic!("a GLB for an empty segment")
    };
    assert!(segments.is_empty());
    assert_eq!(empty, vec![1]);
    assert!(host.surfaces(version).is_none());
    host.stop(&mut doc);
}
