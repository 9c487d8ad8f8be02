//! The app's pipeline plugins, headless (MinimalPlugins, no window, no GPU):
//! loading, segmentation, meshing and cancellation as a user drives them.
//! This module is the harness the app's tests share (a headless app, runs
//! until its jobs are done, a ball study); the tests are in `loading`,
//! `segmentation` and `tools`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use stratum::app::PipelinePlugins;
use stratum::app::state::jobs::{JobInfo, Notices};
use stratum::app::state::segments::Segment;
use stratum::app::state::segments::SegmentSurface;
use stratum::app::state::study::{Study, StudyLoaded};
use stratum_core::document::{Document, SurfaceRecipe};
use stratum_core::segment::{LabelMap, Mask, histogram};
use stratum_core::{image::volume::Geometry, image::volume::Volume, image::volume::Voxels};

mod loading;
mod modify_tools;
pub(crate) mod realign;
mod segmentation;
mod surgery;
mod surgery_cut;
mod tools;

pub(crate) fn headless() -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Mesh>()
        .init_asset::<stratum::app::features::clip::SegmentMaterial>()
        .init_asset::<Image>()
        // No autosave journals from the tests in the user's data folder.
        .insert_resource(stratum::app::features::session::autosave::AutosaveConfig { root: None })
        .add_plugins(PipelinePlugins);
    app.update();
    app
}

pub(crate) fn jobs_running(app: &mut App) -> usize {
    app.world_mut()
        .query::<&JobInfo>()
        .iter(app.world())
        .count()
}

/// Updates until a job runs (messages pass from system to system within a
/// frame or two, depending on the order the scheduler picks).
pub(crate) fn start_jobs(app: &mut App) {
    for _ in 0..5 {
        app.update();
        if jobs_running(app) > 0 {
            return;
        }
    }
}

/// Updates until no job has run for several frames (results start follow-up
/// jobs a frame or two later: load, then segments, then meshing).
pub(crate) fn run_until_idle(app: &mut App, limit: Duration) {
    let start = Instant::now();
    let mut idle = 0;
    while idle < 6 {
        assert!(
            start.elapsed() < limit,
            "jobs still running after {limit:?}"
        );
        app.update();
        if jobs_running(app) > 0 {
            idle = 0;
            std::thread::sleep(Duration::from_millis(5));
        } else {
            idle += 1;
        }
    }
}

pub(crate) fn segments(app: &mut App) -> Vec<(Segment, bool)> {
    let mut q = app
        .world_mut()
        .query::<(&Segment, Option<&SegmentSurface>)>();
    let mut v: Vec<_> = q
        .iter(app.world())
        .map(|(s, m)| (s.clone(), m.is_some()))
        .collect();
    v.sort_by_key(|(s, _)| s.id);
    v
}

pub(crate) fn errors(app: &App) -> Vec<String> {
    app.world()
        .resource::<Notices>()
        .items
        .iter()
        .filter(|n| n.error)
        .map(|n| n.text.clone())
        .collect()
}

/// A study holding one big ball (label 1) on a `n`³ grid of 1 mm voxels.
pub(crate) fn ball_study(n: usize) -> Study {
    let g = Geometry::default();
    let c = n as f64 / 2.0;
    let r2 = (0.45 * n as f64).powi(2);
    let inside = |z: usize, y: usize, x: usize| {
        let d = |v: usize| v as f64 - c;
        d(x) * d(x) + d(y) * d(y) + d(z) * d(z) <= r2
    };
    let voxels =
        ndarray::Array3::from_shape_fn(
            (n, n, n),
            |(z, y, x)| if inside(z, y, x) { 100i16 } else { -1000 },
        );
    let volume = Volume::new(Voxels::I16(voxels), g, "CT");
    let mask = Mask {
        data: ndarray::Array3::from_shape_fn((n, n, n), |(z, y, x)| inside(z, y, x) as u8),
        geometry: g,
    };
    let mut labels = LabelMap::empty(volume.dim(), g);
    labels.add_segment("ball", &mask);
    study_of(volume, labels, "ball", (-1000.0, 100.0))
}

/// A study of `volume` with `labels` as its document.
pub(crate) fn study_of(
    volume: Volume,
    labels: LabelMap,
    title: &str,
    auto_window: (f64, f64),
) -> Study {
    let volume = Arc::new(volume);
    Study {
        histogram: histogram(&volume, 64),
        doc: Document::new(Some(volume.clone()), labels).unwrap(),
        volume,
        report: Default::default(),
        title: title.into(),
        auto_window,
    }
}

pub(crate) fn publish(app: &mut App, study: Study) {
    app.world_mut().insert_resource(study);
    app.world_mut().write_message(StudyLoaded);
}

/// The surface level of each segment built from the scan, by name.
pub(crate) fn surface_levels(app: &App) -> Vec<(String, f64)> {
    let doc = &app.world().resource::<Study>().doc;
    doc.segments()
        .iter()
        .filter_map(|s| match doc.recipe(s.id) {
            SurfaceRecipe::Level(l) => Some((s.name.clone(), l)),
            _ => None,
        })
        .collect()
}
