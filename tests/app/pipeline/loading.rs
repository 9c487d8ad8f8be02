//! Opening studies through the headless app: the embedded demo with its
//! organs, a folder of two series (the app asks which), and bad input
//! reported while the open study stays.

use std::time::Duration;

use stratum::app::features::loading::{OpenRequest, SeriesChoice};

use stratum::app::state::study::Study;
use stratum_core::dicom::synth::{SynthOptions, write_series};

use super::{ball_study, errors, headless, publish, run_until_idle, segments};

#[test]
fn the_demo_study_loads_with_its_organs_and_builds_them() {
    let mut app = headless();
    let demo = stratum::app::features::demo::materialize().unwrap();
    app.world_mut().write_message(OpenRequest {
        path: demo.ct.clone(),
        series: None,
        labels: Some((demo.labels, Some(demo.names))),
        subset: Default::default(),
    });
    run_until_idle(&mut app, Duration::from_secs(600));
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    let study = app.world().resource::<Study>();
    assert_eq!(study.volume.dim(), (112, 101, 122));
    assert!(!study.report.checks.is_empty(), "the demo has a checklist");
    let segs = segments(&mut app);
    assert!(segs.len() >= 20, "only {} segments", segs.len());
    let liver = segs
        .iter()
        .find(|(s, _)| s.name == "liver")
        .expect("a liver segment");
    // An adult liver is about 1.2 to 2 L; the mesh volume follows the voxels.
    assert!(
        (900.0..2600.0).contains(&liver.0.voxel_ml),
        "liver {} mL",
        liver.0.voxel_ml
    );
    for (s, has_mesh) in &segs {
        assert!(*has_mesh, "{} has no surface", s.name);
        let m = s.surface.unwrap();
        assert!(m.watertight, "{} is not watertight", s.name);
        if s.voxel_ml > 50.0 {
            assert!(
                (m.volume_ml / s.voxel_ml - 1.0).abs() < 0.06,
                "{}: {m:?} vs {} mL",
                s.name,
                s.voxel_ml
            );
        }
    }
}

#[test]
fn a_folder_with_two_series_asks_which_one() {
    let dir = tempfile::tempdir().unwrap();
    for series in [1, 2] {
        let sub = dir.path().join(format!("s{series}"));
        std::fs::create_dir_all(&sub).unwrap();
        write_series(
            &sub,
            &SynthOptions {
                series,
                slices: 6 + series as usize,
                ..Default::default()
            },
        )
        .unwrap();
    }
    let mut app = headless();
    app.world_mut().write_message(OpenRequest {
        path: dir.path().to_path_buf(),
        series: None,
        labels: None,
        subset: Default::default(),
    });
    run_until_idle(&mut app, Duration::from_secs(60));
    let (_, list) = app
        .world()
        .resource::<SeriesChoice>()
        .pending
        .clone()
        .expect("a choice");
    assert_eq!(list.len(), 2);
    assert!(app.world().get_resource::<Study>().is_none());
    // Picking one opens it.
    app.world_mut().write_message(OpenRequest {
        path: dir.path().to_path_buf(),
        series: Some(list[1].id.clone()),
        labels: None,
        subset: Default::default(),
    });
    run_until_idle(&mut app, Duration::from_secs(60));
    let study = app.world().resource::<Study>();
    assert_eq!(study.volume.dim().0, list[1].slices);
    // The title names the series, never the patient.
    assert!(
        !study
            .title
            .contains(stratum_core::dicom::synth::FAKE_PATIENT_NAME)
    );
}

#[test]
fn bad_input_is_reported_and_nothing_is_lost() {
    let mut app = headless();
    publish(&mut app, ball_study(24));
    run_until_idle(&mut app, Duration::from_secs(60));
    let empty = tempfile::tempdir().unwrap();
    let junk = empty.path().join("notes.txt");
    std::fs::write(&junk, b"not a scan").unwrap();
    for path in [
        empty.path().to_path_buf(),
        junk,
        empty.path().join("missing.nii.gz"),
    ] {
        app.world_mut().write_message(OpenRequest {
            path,
            series: None,
            labels: None,
            subset: Default::default(),
        });
        run_until_idle(&mut app, Duration::from_secs(60));
    }
    let errs = errors(&app);
    assert_eq!(errs.len(), 3, "{errs:?}");
    // The open study is still there.
    assert_eq!(app.world().resource::<Study>().title, "ball");
    assert_eq!(segments(&mut app).len(), 1);
}
