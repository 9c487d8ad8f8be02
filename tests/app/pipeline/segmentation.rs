//! Segments and their surfaces through the headless app: meshing in the
//! background (frames keep coming, a cancel stops it), threshold, region
//! growing, deletion, rebuilding, and an AI model's labels.

use std::time::{Duration, Instant};

use bevy::prelude::*;
use stratum::app::features::loading::OpenRequest;
use stratum::app::features::meshing::BuildMeshes;
use stratum::app::features::segmentation::SegmentCommand;
use stratum::app::state::jobs::{JobInfo, Notices};
use stratum::app::state::segments::Segment;
use stratum::app::state::study::Study;

use super::{
    ball_study, errors, headless, jobs_running, publish, run_until_idle, segments, start_jobs,
};

#[test]
fn frames_keep_advancing_while_a_long_meshing_task_runs() {
    let mut app = headless();
    publish(&mut app, ball_study(288));
    // The loaded segment is meshed in the background: a frame or two start the job.
    start_jobs(&mut app);
    assert_eq!(
        jobs_running(&mut app),
        1,
        "a meshing job should be in flight"
    );
    let start = Instant::now();
    let mut frames_in_flight = 0;
    while jobs_running(&mut app) > 0 && frames_in_flight < 30 {
        app.update();
        frames_in_flight += 1;
    }
    let per_frame = start.elapsed() / frames_in_flight.max(1);
    assert_eq!(
        frames_in_flight, 30,
        "meshing finished before 30 frames: the test volume is too small"
    );
    // The time is a figure, not a test (bench/frames.sh reads this line).
    println!(
        "frame while meshing: {:.1} ms",
        per_frame.as_secs_f64() * 1e3
    );
    run_until_idle(&mut app, Duration::from_secs(300));
    let segs = segments(&mut app);
    assert_eq!(segs.len(), 1);
    let (seg, has_mesh) = &segs[0];
    assert!(
        *has_mesh,
        "the ball got no surface; notices: {:?}",
        errors(&app)
    );
    let s = seg.surface.expect("surface stats");
    assert!(s.watertight);
    assert!(
        (s.volume_ml / seg.voxel_ml - 1.0).abs() < 0.03,
        "{s:?} vs {} mL",
        seg.voxel_ml
    );
}

#[test]
fn cancelling_meshing_stops_it_and_says_so() {
    let mut app = headless();
    publish(&mut app, ball_study(288));
    start_jobs(&mut app);
    let progress = {
        let mut q = app.world_mut().query::<&JobInfo>();
        q.single(app.world()).expect("one job").progress.clone()
    };
    progress.cancel();
    run_until_idle(&mut app, Duration::from_secs(120));
    assert!(!segments(&mut app)[0].1, "a cancelled job attached a mesh");
    let notices = &app.world().resource::<Notices>().items;
    assert!(
        notices
            .iter()
            .any(|n| !n.error && n.text.contains("cancelled")),
        "{notices:?}"
    );
}

#[test]
fn a_threshold_adds_a_segment_and_its_surface() {
    let mut app = headless();
    publish(&mut app, ball_study(64));
    run_until_idle(&mut app, Duration::from_secs(120));
    app.world_mut().write_message(SegmentCommand::Threshold {
        name: "Soft".into(),
        lo: 0.0,
        hi: 200.0,
    });
    run_until_idle(&mut app, Duration::from_secs(120));
    let segs = segments(&mut app);
    assert_eq!(segs.len(), 2, "{segs:?}");
    let (soft, meshed) = segs.iter().find(|(s, _)| s.name == "Soft").unwrap();
    assert!(*meshed);
    // The threshold takes the same voxels as the ball, painted over it.
    assert!((soft.voxel_ml - segs[0].0.voxel_ml).abs() < 1e-9 || soft.voxel_ml > 0.0);
    let study = app.world().resource::<Study>();
    assert_eq!(study.doc.generation(), 1);
    // A window with no voxel in it is a readable error, not a crash.
    app.world_mut().write_message(SegmentCommand::Threshold {
        name: "Nothing".into(),
        lo: 2000.0,
        hi: 3000.0,
    });
    run_until_idle(&mut app, Duration::from_secs(60));
    let errs = errors(&app);
    assert!(errs.iter().any(|e| e.contains("no voxel")), "{errs:?}");
    assert_eq!(segments(&mut app).len(), 2);
}

#[test]
fn region_growing_from_a_seed_takes_the_connected_structure() {
    let mut app = headless();
    publish(&mut app, ball_study(48));
    run_until_idle(&mut app, Duration::from_secs(60));
    // The grown segment takes the ball's voxels (painted over it, the ball
    // keeps none): its volume is the ball's before.
    let ball = segments(&mut app)[0].0.voxel_ml;
    app.world_mut().write_message(SegmentCommand::Grow {
        seed: [24, 24, 24],
        lo: 50.0,
        hi: 150.0,
    });
    run_until_idle(&mut app, Duration::from_secs(60));
    let segs = segments(&mut app);
    assert_eq!(segs.len(), 2, "{:?}", errors(&app));
    let grown = segs[1].0.voxel_ml;
    assert!((grown - ball).abs() < 1e-9, "grown {grown} vs ball {ball}");
    // A seed outside the window is explained.
    app.world_mut().write_message(SegmentCommand::Grow {
        seed: [0, 0, 0],
        lo: 50.0,
        hi: 150.0,
    });
    run_until_idle(&mut app, Duration::from_secs(60));
    assert!(
        errors(&app).iter().any(|e| e.contains("seed")),
        "{:?}",
        errors(&app)
    );
}

#[test]
fn deleting_a_segment_clears_its_voxels() {
    let mut app = headless();
    publish(&mut app, ball_study(32));
    run_until_idle(&mut app, Duration::from_secs(60));
    let e = {
        let mut q = app.world_mut().query_filtered::<Entity, With<Segment>>();
        q.single(app.world()).unwrap()
    };
    app.world_mut().write_message(SegmentCommand::Delete(e));
    app.update();
    assert!(segments(&mut app).is_empty());
    let study = app.world().resource::<Study>();
    assert_eq!(study.doc.labels().counts().iter().skip(1).sum::<u64>(), 0);
}

#[test]
fn build_3d_rebuilds_every_segment() {
    let mut app = headless();
    publish(&mut app, ball_study(40));
    run_until_idle(&mut app, Duration::from_secs(60));
    let before = segments(&mut app)[0].0.surface.unwrap().triangles;
    app.world_mut()
        .resource_mut::<stratum::app::features::meshing::SurfaceSettings>()
        .reduce = 0.9;
    app.world_mut().write_message(BuildMeshes::default());
    run_until_idle(&mut app, Duration::from_secs(60));
    let after = segments(&mut app)[0].0.surface.unwrap().triangles;
    assert!(after < before, "{after} !< {before}");
}

/// The AI model runs as a job on the open study: the brain becomes a
/// segment with the manifest's name and colour, and gets its surface.
#[test]
fn an_ai_model_adds_its_labels_as_segments_with_surfaces() {
    use stratum::app::features::ai::{AiModels, RunModel};
    let mut app = headless();
    let models = app.world().resource::<AiModels>();
    assert!(models.runtime.is_ok(), "{:?}", models.runtime);
    let index = models
        .models
        .iter()
        .position(|m| m.manifest.name == "deepbrain")
        .expect("the deepbrain model is listed");
    app.world_mut().write_message(OpenRequest {
        path: crate::shared_data().join("mr_siemens_decubitus_positions/HFS"),
        series: None,
        labels: None,
        subset: Default::default(),
    });
    run_until_idle(&mut app, Duration::from_secs(120));
    app.world_mut().write_message(RunModel(index));
    app.update();
    assert!(
        app.world_mut()
            .query::<&JobInfo>()
            .iter(app.world())
            .any(|j| j.title.starts_with("AI: ")),
        "the model runs as a job"
    );
    // The UI keeps drawing frames while the network runs (ONNX Runtime gets
    // all cores but one); how long they take is bench/frames.sh's figure.
    let mut slowest = Duration::ZERO;
    let mut frames = 0;
    while app
        .world_mut()
        .query::<&JobInfo>()
        .iter(app.world())
        .any(|j| j.title.starts_with("AI: "))
    {
        let t = Instant::now();
        app.update();
        slowest = slowest.max(t.elapsed());
        frames += 1;
        // Frames at a steady pace, as the app's own loop would draw them.
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(frames > 20, "the model ran in {frames} frames");
    println!(
        "slowest frame while the model ran: {:.1} ms ({frames} frames)",
        slowest.as_secs_f64() * 1e3
    );
    run_until_idle(&mut app, Duration::from_secs(300));
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    let segs = segments(&mut app);
    let (brain, meshed) = segs
        .iter()
        .find(|(s, _)| s.name == "Brain")
        .expect("a Brain segment");
    assert_eq!(brain.colour, [232, 180, 170]);
    assert!(
        (1100.0..1900.0).contains(&brain.voxel_ml),
        "{} mL",
        brain.voxel_ml
    );
    assert!(*meshed, "the brain has a surface");
    let study = app.world().resource::<Study>();
    assert_eq!(
        study.doc.labels().mask(brain.id).volume_ml(),
        brain.voxel_ml
    );
}
