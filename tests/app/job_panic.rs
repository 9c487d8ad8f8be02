//! A background job that panics ends with a readable message in the
//! notices, and the app goes on with its study intact.

use std::time::Duration;

use bevy::prelude::*;
use stratum::app::features::loading::OpenRequest;
use stratum::app::state::jobs::{JobDone, JobPlugin, Notices, spawn_job};
use stratum::app::state::study::Study;
use stratum_core::dicom::synth::{SynthOptions, write_series};

use crate::pipeline::{headless, run_until_idle};

/// The consumer a feature would have: the outcome goes to the notices.
fn report_probe(mut done: MessageMutator<JobDone<u32>>, mut notices: ResMut<Notices>) {
    for d in done.read() {
        let title = d.title.clone();
        notices.take(&title, d.take());
    }
}

#[test]
fn a_panicking_job_reports_an_error_and_the_app_keeps_its_study() {
    let mut app = headless();
    app.add_plugins(JobPlugin::<u32>::default())
        .add_systems(Update, report_probe);
    let dir = tempfile::tempdir().unwrap();
    write_series(dir.path(), &SynthOptions::default()).unwrap();
    app.world_mut().write_message(OpenRequest {
        path: dir.path().to_path_buf(),
        series: None,
        labels: None,
        subset: Default::default(),
    });
    run_until_idle(&mut app, Duration::from_secs(120));
    let before = app.world().resource::<Study>().volume.clone();

    {
        let world = app.world_mut();
        let mut commands = world.commands();
        spawn_job::<u32>(&mut commands, "Probe job", |_| {
            // A parallel panic too, as a rayon-based core step would raise.
            use rayon::prelude::*;
            (0..64).into_par_iter().for_each(|i| {
                if i == 37 {
                    panic!("voxel 37 exploded");
                }
            });
            Ok(1)
        });
    }
    app.world_mut().flush();
    run_until_idle(&mut app, Duration::from_secs(60));

    let notices = &app.world().resource::<Notices>().items;
    let err = notices
        .iter()
        .find(|n| n.error && n.text.starts_with("Probe job failed"))
        .unwrap_or_else(|| panic!("no error notice: {notices:?}"));
    assert!(
        err.text.contains("voxel 37 exploded") && err.text.contains("keeps running"),
        "{}",
        err.text
    );
    // The app goes on: more frames run, the study is the same one.
    for _ in 0..5 {
        app.update();
    }
    let after = app.world().resource::<Study>().volume.clone();
    assert!(std::sync::Arc::ptr_eq(&before, &after));
}
