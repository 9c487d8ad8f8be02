//! Sessions through the headless app: save, reopen (labels, history, view),
//! and an unsaved session restored from its autosave journal.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bevy::prelude::*;
use stratum::app::PipelinePlugins;
use stratum::app::actions::{BrushAction, BrushTool, HistoryAction, StrokePhase};
use stratum::app::features::loading::OpenRequest;
use stratum::app::features::sculpt::{AddEmptySegment, BrushSettings};
use stratum::app::features::session::autosave::AutosaveConfig;
use stratum::app::features::session::{
    OpenSession, OpenSessionWithScan, RestoreUnsaved, SaveSession, SessionState,
};
use stratum::app::state::crosshair::SliceState;
use stratum::app::state::document::ApplyEdit;
use stratum::app::state::study::Study;
use stratum_core::document::{Edit, SurfaceRecipe};
use stratum_core::segment::{LabelMap, Mask};

use super::pipeline::{errors, run_until_idle, segments};

fn app_with_autosave(root: Option<PathBuf>) -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Mesh>()
        .init_asset::<stratum::app::features::clip::SegmentMaterial>()
        .init_asset::<Image>()
        .insert_resource(AutosaveConfig { root })
        .add_plugins(PipelinePlugins);
    app.update();
    app
}

/// A 40³ "scan" on disk (NIfTI): a bright ball (100) in 0.
fn write_scan(dir: &Path) -> PathBuf {
    let g = stratum_core::image::volume::Geometry::default();
    let mask = Mask {
        data: ndarray::Array3::from_shape_fn((40, 40, 40), |(z, y, x)| {
            let d = |v: usize| v as f64 - 20.0;
            (d(x).powi(2) + d(y).powi(2) + d(z).powi(2) <= 14.0f64.powi(2)) as u8 * 100
        }),
        geometry: g,
    };
    let mut map = LabelMap::empty((40, 40, 40), g);
    map.paint(100, &mask);
    let path = dir.join("ball.nii.gz");
    stratum_core::read::nifti::write_labels_nifti(&path, &map).unwrap();
    path
}

fn labels(app: &App) -> LabelMap {
    (**app.world().resource::<Study>().doc.labels()).clone()
}

fn history_len(app: &App) -> usize {
    app.world().resource::<Study>().doc.history().len()
}

/// Opens the scan, adds a segment and paints two strokes into it.
fn open_and_paint(app: &mut App, scan: &Path) {
    app.world_mut().write_message(OpenRequest {
        path: scan.to_path_buf(),
        series: None,
        labels: None,
        subset: Default::default(),
    });
    run_until_idle(app, Duration::from_secs(60));
    assert!(errors(app).is_empty(), "{:?}", errors(app));
    app.world_mut().write_message(AddEmptySegment);
    app.update();
    app.update();
    app.world_mut().resource_mut::<BrushSettings>().diameter_mm = 7.0;
    for (a, b) in [
        ([10.0, 10.0, 20.0], [30.0, 12.0, 20.0]),
        ([20.0, 5.0, 8.0], [20.0, 30.0, 8.0]),
    ] {
        for (phase, p) in [
            (StrokePhase::Begin, a),
            (StrokePhase::Sample, b),
            (StrokePhase::End, b),
        ] {
            app.world_mut().write_message(BrushAction {
                phase,
                tool: BrushTool::Paint,
                point: p,
                plane: None,
            });
            app.update();
        }
    }
    run_until_idle(app, Duration::from_secs(60));
    assert_eq!(history_len(app), 3);
}

/// As if segment 1 came from a threshold (its surface built from the scan
/// at level 50) and a model had made another, empty one, its surface the
/// model's soft edge: a segment has one recipe, so two segments carry the
/// two kinds (the new one is a fourth history step).
fn give_recipes(app: &mut App, soft: &stratum_core::mesh::SoftField) {
    app.world_mut().write_message(AddEmptySegment);
    app.update();
    app.update();
    app.world_mut().write_message(ApplyEdit(Edit::SetRecipe {
        id: 1,
        recipe: SurfaceRecipe::Level(50.0),
    }));
    app.world_mut().write_message(ApplyEdit(Edit::SetRecipe {
        id: 2,
        recipe: SurfaceRecipe::Soft(std::sync::Arc::new(soft.clone())),
    }));
    app.update();
    app.update();
    assert_eq!(history_len(app), 4);
}

/// A model's soft edge inside the 40^3 test scan.
fn soft_edge() -> stratum_core::mesh::SoftField {
    stratum_core::mesh::SoftField {
        origin: [2, 3, 4],
        data: ndarray::Array3::from_shape_fn((4, 5, 6), |(z, y, x)| (z * 50 + y * 7 + x) as u8),
    }
}

/// The soft edge of every segment that has one.
fn soft_edges(app: &mut App) -> Vec<stratum_core::mesh::SoftField> {
    let doc = &app.world().resource::<Study>().doc;
    doc.segments()
        .iter()
        .filter_map(|s| match doc.recipe(s.id) {
            SurfaceRecipe::Soft(f) => Some((*f).clone()),
            _ => None,
        })
        .collect()
}

/// The surface level of every segment that has one.
fn surface_levels(app: &mut App) -> Vec<f64> {
    crate::pipeline::surface_levels(app)
        .into_iter()
        .map(|(_, l)| l)
        .collect()
}

#[test]
fn a_saved_session_reopens_with_its_labels_history_and_view() {
    let dir = tempfile::tempdir().unwrap();
    let scan = write_scan(dir.path());
    let mut app = app_with_autosave(None);
    open_and_paint(&mut app, &scan);
    app.world_mut().resource_mut::<SliceState>().crosshair = [7, 8, 9];
    app.world_mut().resource_mut::<BrushSettings>().diameter_mm = 12.5;
    // Surfaces built from the scan at a level and from a model's soft
    // edge: both must be after reopening too.
    let soft = soft_edge();
    give_recipes(&mut app, &soft);
    let painted = labels(&app);
    let session = dir.path().join("case.stratum");
    app.world_mut().write_message(SaveSession(session.clone()));
    run_until_idle(&mut app, Duration::from_secs(60));
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    assert!(session.join("session.json").is_file());
    drop(app);

    // `stratum case.stratum` sends an open request for the folder.
    let mut app = app_with_autosave(None);
    app.world_mut().write_message(OpenRequest {
        path: session.clone(),
        series: None,
        labels: None,
        subset: Default::default(),
    });
    run_until_idle(&mut app, Duration::from_secs(60));
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    assert_eq!(labels(&app), painted);
    assert_eq!(app.world().resource::<SliceState>().crosshair, [7, 8, 9]);
    assert_eq!(app.world().resource::<BrushSettings>().diameter_mm, 12.5);
    let segs = segments(&mut app);
    assert_eq!(segs.len(), 2);
    assert!(segs[0].1, "the painted segment is meshed");
    assert_eq!(
        surface_levels(&mut app),
        vec![50.0],
        "the surface level came back with its segment"
    );
    assert_eq!(
        soft_edges(&mut app),
        vec![soft],
        "the soft edge came back with its segment"
    );
    assert_eq!(
        app.world().resource::<SessionState>().path.as_deref(),
        Some(session.as_path())
    );
    // The history came along: four undos go back to the empty map.
    for _ in 0..4 {
        app.world_mut().write_message(HistoryAction::Undo);
        app.update();
        app.update();
    }
    let l = labels(&app);
    assert!(l.segments.is_empty());
    assert_eq!(l.counts().iter().skip(1).sum::<u64>(), 0);
    assert!(segments(&mut app).is_empty());
}

#[test]
fn an_unsaved_session_is_offered_and_restored_from_its_journal() {
    let dir = tempfile::tempdir().unwrap();
    let scan = write_scan(dir.path());
    let root = dir.path().join("autosave");
    let mut app = app_with_autosave(Some(root.clone()));
    open_and_paint(&mut app, &scan);
    assert!(
        app.world().resource::<SessionState>().journal.is_some(),
        "autosave runs after an edit"
    );
    // A level and a soft edge set after the journal started (as a preset's
    // or a model's segment gets): the journal's properties records carry
    // them.
    let soft = soft_edge();
    give_recipes(&mut app, &soft);
    let painted = labels(&app);
    for _ in 0..61 {
        app.update();
    }
    app.world()
        .resource::<SessionState>()
        .journal
        .as_ref()
        .unwrap()
        .flush()
        .unwrap();
    // Quit without saving.
    drop(app);

    let mut app = app_with_autosave(Some(root.clone()));
    let unsaved = app.world().resource::<SessionState>().unsaved.clone();
    assert_eq!(unsaved.len(), 1, "the unsaved session is offered");
    app.world_mut().write_message(RestoreUnsaved {
        dir: unsaved[0].dir.clone(),
        restore: true,
    });
    run_until_idle(&mut app, Duration::from_secs(60));
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    assert_eq!(labels(&app), painted);
    assert_eq!(history_len(&app), 4);
    assert_eq!(
        surface_levels(&mut app),
        vec![50.0],
        "the surface level came back with its segment"
    );
    assert_eq!(
        soft_edges(&mut app),
        vec![soft],
        "the soft edge came back too"
    );
    assert!(!unsaved[0].dir.exists(), "the restored journal is replaced");
    assert!(app.world().resource::<SessionState>().unsaved.is_empty());
}

#[test]
fn a_session_whose_scan_moved_asks_where_it_is_and_opens_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let scans = dir.path().join("scans");
    std::fs::create_dir(&scans).unwrap();
    let scan = write_scan(&scans);
    let mut app = app_with_autosave(None);
    open_and_paint(&mut app, &scan);
    let painted = labels(&app);
    let session = dir.path().join("case.stratum");
    app.world_mut().write_message(SaveSession(session.clone()));
    run_until_idle(&mut app, Duration::from_secs(60));
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    drop(app);

    // The scan moves somewhere neither its old path nor the session's
    // relative path reaches.
    let elsewhere = dir.path().join("archive");
    std::fs::create_dir(&elsewhere).unwrap();
    let moved = elsewhere.join("ball.nii.gz");
    std::fs::rename(&scan, &moved).unwrap();

    let mut app = app_with_autosave(None);
    app.world_mut().write_message(OpenSession(session.clone()));
    run_until_idle(&mut app, Duration::from_secs(60));
    assert!(
        errors(&app).is_empty(),
        "asked, not failed: {:?}",
        errors(&app)
    );
    assert!(app.world().get_resource::<Study>().is_none());
    let missing = app
        .world()
        .resource::<SessionState>()
        .missing_scan
        .clone()
        .expect("the app asks where the scan is");
    assert_eq!(missing.name, "ball.nii.gz", "named by its file name only");
    assert_eq!(missing.session, session);

    app.world_mut().write_message(OpenSessionWithScan {
        session: session.clone(),
        scan: moved,
    });
    run_until_idle(&mut app, Duration::from_secs(60));
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    assert_eq!(labels(&app), painted);
    assert!(
        app.world()
            .resource::<SessionState>()
            .missing_scan
            .is_none()
    );
    assert_eq!(history_len(&app), 3);
}
