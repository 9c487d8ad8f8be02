//! The app's pipeline plugins, headless (MinimalPlugins, no window, no GPU):
//! loading, segmentation, meshing and cancellation as a user drives them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use stratum::app::PipelinePlugins;
use stratum::app::jobs::{JobInfo, Notices};
use stratum::app::loading::{OpenRequest, SeriesChoice, Study, StudyLoaded};
use stratum::app::meshing::{BuildMeshes, SegmentSurface};
use stratum::app::segmentation::{Segment, SegmentCommand};
use stratum_core::segment::{LabelMap, Mask, histogram};
use stratum_core::synth::{SynthOptions, write_series};
use stratum_core::{Geometry, Volume, Voxels};

pub(crate) fn headless() -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Mesh>()
        .init_asset::<stratum::app::clip::SegmentMaterial>()
        .init_asset::<Image>()
        // No autosave journals from the tests in the user's data folder.
        .insert_resource(stratum::app::session::AutosaveConfig { root: None })
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
    Study {
        histogram: histogram(&volume, 64),
        volume: Arc::new(volume),
        report: Default::default(),
        labels: Arc::new(labels),
        title: "ball".into(),
        auto_window: (-1000.0, 100.0),
        labels_generation: 0,
    }
}

pub(crate) fn publish(app: &mut App, study: Study) {
    let ml = study.labels.counts()[1] as f64 / 1000.0;
    let colour = study.labels.segments[0].colour;
    app.world_mut().insert_resource(study);
    app.world_mut().write_message(StudyLoaded {
        segments: vec![(1, "ball".into(), colour, ml)],
        levels: Default::default(),
    });
}

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
    assert!(
        per_frame < Duration::from_millis(200),
        "frames took {per_frame:?} while meshing"
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
fn the_demo_study_loads_with_its_organs_and_builds_them() {
    let mut app = headless();
    let demo = stratum::app::demo::materialize().unwrap();
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
    assert_eq!(study.labels_generation, 1);
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
    app.world_mut().write_message(SegmentCommand::Grow {
        seed: [24, 24, 24],
        lo: 50.0,
        hi: 150.0,
    });
    run_until_idle(&mut app, Duration::from_secs(60));
    let segs = segments(&mut app);
    assert_eq!(segs.len(), 2, "{:?}", errors(&app));
    let ball = segs[0].0.voxel_ml;
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
    assert_eq!(study.labels.counts().iter().skip(1).sum::<u64>(), 0);
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
    assert!(!study.title.contains(stratum_core::synth::FAKE_PATIENT_NAME));
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

#[test]
fn build_3d_rebuilds_every_segment() {
    let mut app = headless();
    publish(&mut app, ball_study(40));
    run_until_idle(&mut app, Duration::from_secs(60));
    let before = segments(&mut app)[0].0.surface.unwrap().triangles;
    app.world_mut()
        .resource_mut::<stratum::app::meshing::SurfaceSettings>()
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
    use stratum::app::ai::{AiModels, RunModel};
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
    // The UI keeps its frames while the network runs (ONNX Runtime gets
    // all cores but one).
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
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(frames > 20, "the model ran in {frames} frames");
    assert!(
        slowest < Duration::from_millis(250),
        "a frame took {slowest:?} while the model ran"
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
    assert_eq!(study.labels.mask(brain.id).volume_ml(), brain.voxel_ml);
}

/// Clip planes are actions: they reach every segment's material (planes,
/// scan texture, back faces drawn), except a segment left whole.
#[test]
fn clip_actions_reach_the_segment_materials() {
    use stratum::app::clip::{ClipAction, ClipKind, ClipSettings, NotClipped, SegmentMaterial};
    let mut app = headless();
    publish(&mut app, ball_study(24));
    run_until_idle(&mut app, Duration::from_secs(60));
    app.world_mut().write_message(ClipAction::Orient {
        index: 0,
        kind: ClipKind::Axial,
    });
    app.world_mut()
        .write_message(ClipAction::Offset { index: 0, mm: 4.0 });
    app.update();
    app.update();
    let clip = app.world().resource::<ClipSettings>().clone();
    assert!(clip.slots[0].enabled);
    assert!((clip.offset(0) - 4.0).abs() < 1e-9);
    // The ball's centre is 11.5 mm up; the plane 4 mm above it cuts the top.
    assert!(
        (clip.slots[0].plane.point[2] - 15.5).abs() < 1e-9,
        "{:?}",
        clip.slots[0]
    );
    let material = |app: &mut App| {
        let (handle,) = app
            .world_mut()
            .query::<(&MeshMaterial3d<SegmentMaterial>,)>()
            .single(app.world())
            .map(|(h,)| (h.0.clone(),))
            .expect("the ball has a material");
        app.world()
            .resource::<Assets<SegmentMaterial>>()
            .get(&handle)
            .cloned()
            .unwrap()
    };
    let m = material(&mut app);
    assert_eq!(m.extension.clip.mask, 1);
    assert!(m.extension.scan.is_some(), "the scan texture is bound");
    assert!(m.base.cull_mode.is_none(), "back faces show the cut");
    // World plane: normal up (world Y = superior), offset 15.5 mm.
    let p = m.extension.clip.planes[0];
    assert!(
        (p.y - 1.0).abs() < 1e-6 && (p.w - 0.0155).abs() < 1e-6,
        "{p}"
    );
    // The scan texture: one texel per voxel.
    let image = app
        .world()
        .resource::<Assets<Image>>()
        .get(m.extension.scan.as_ref().unwrap())
        .unwrap()
        .clone();
    assert_eq!(image.texture_descriptor.size.depth_or_array_layers, 24);
    assert_eq!(image.data.as_ref().map(|d| d.len()), Some(24 * 24 * 24));

    // A Ctrl+drag in 3D sends Move for the focused plane: 3 mm back down.
    app.world_mut()
        .write_message(ClipAction::Move { index: 0, mm: -3.0 });
    app.update();
    let clip = app.world().resource::<ClipSettings>().clone();
    assert!((clip.offset(0) - 1.0).abs() < 1e-9, "{}", clip.offset(0));
    assert_eq!(clip.focus, 0);
    app.world_mut().write_message(ClipAction::Enable {
        index: 2,
        on: false,
    });
    app.update();
    assert_eq!(
        app.world().resource::<ClipSettings>().focus,
        2,
        "the last plane touched has the focus"
    );

    // Keep the ball whole: its material stops clipping.
    let ball = app
        .world_mut()
        .query_filtered::<Entity, With<Segment>>()
        .single(app.world())
        .unwrap();
    app.world_mut().entity_mut(ball).insert(NotClipped);
    app.update();
    assert_eq!(material(&mut app).extension.clip.mask, 0);
    app.world_mut().entity_mut(ball).remove::<NotClipped>();
    app.world_mut().write_message(ClipAction::Flip { index: 0 });
    app.update();
    let m = material(&mut app);
    assert_eq!(m.extension.clip.mask, 1);
    assert!(
        (m.extension.clip.planes[0].y + 1.0).abs() < 1e-6,
        "flipped: keeps the top"
    );
}

/// "Check against the scan" validates every built surface in the background;
/// the table's CSV carries the numbers.
#[test]
fn checking_surfaces_against_the_scan_fills_the_measurements() {
    use stratum::app::measurements::{Measurements, Row, ValidateAll, to_csv};
    let mut app = headless();
    publish(&mut app, ball_study(40));
    run_until_idle(&mut app, Duration::from_secs(60));
    app.world_mut().write_message(ValidateAll);
    run_until_idle(&mut app, Duration::from_secs(60));
    let m = app.world().resource::<Measurements>();
    let (_, v) = m.checks.get(&1).expect("the ball was checked");
    assert!(v.dice > 0.95 && v.flags.is_empty(), "{v:?}");
    assert!(m.open, "the table opens with the results");
    let csv = to_csv(&[Row {
        name: "ball \"b\"".into(),
        voxel_ml: v.voxel_ml,
        mesh_ml: Some(v.mesh_ml),
        area_cm2: None,
        extent_mm: Some([1.0, 2.0, 3.0]),
        check: Some(v.clone()),
    }]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("segment,voxel_ml,mesh_ml"));
    assert!(lines[1].starts_with("\"ball \"\"b\"\"\","), "{}", lines[1]);
    assert_eq!(lines[1].split(',').count(), lines[0].split(',').count());
}

/// Rulers are actions: two points make one (from a slice click or a pick on
/// a surface in 3D), several can exist, and they can be deleted.
#[test]
fn rulers_measure_between_picked_points() {
    use stratum::app::actions::ViewAction;
    use stratum::app::measurements::{RulerAction, Rulers};
    let mut app = headless();
    publish(&mut app, ball_study(40));
    run_until_idle(&mut app, Duration::from_secs(60));
    app.world_mut().write_message(RulerAction::Place(true));
    app.world_mut()
        .write_message(RulerAction::Point([0.0, 0.0, 0.0]));
    app.world_mut()
        .write_message(RulerAction::Point([30.0, 40.0, 0.0]));
    app.update();
    let r = app.world().resource::<Rulers>();
    assert_eq!(r.items.len(), 1);
    assert!((r.items[0].length_mm() - 50.0).abs() < 1e-9);
    // Two picks on the ball's surface in 3D, from the front and from the
    // back along the line through its centre (20 mm, radius 18 mm): a
    // diameter.
    let centre = stratum::app::space::lps_to_world([20.0, 20.0, 20.0]);
    for dir in [Vec3::NEG_Z, Vec3::Z] {
        let origin = centre - dir * 1.0;
        app.world_mut().write_message(ViewAction::Pick {
            ray: Ray3d::new(origin, Dir3::new(dir).unwrap()),
            centre: false,
        });
        app.update();
    }
    app.update();
    let r = app.world().resource::<Rulers>();
    assert_eq!(r.items.len(), 2, "{r:?}");
    let d = r.items[1].length_mm();
    assert!((d - 36.0).abs() < 1.5, "diameter {d:.2} mm");
    app.world_mut().write_message(RulerAction::Delete(0));
    app.update();
    let r = app.world().resource::<Rulers>();
    assert_eq!(r.items.len(), 1);
    assert!((r.items[0].length_mm() - d).abs() < 1e-9);
}
