//! Brushes, local remeshing and undo in the headless app, driven through
//! their actions as the slice views, the 3D view or an XR controller send
//! them.

use std::time::Duration;

use bevy::prelude::*;
use stratum::app::actions::{BrushAction, BrushTool, HistoryAction, StrokePhase};
use stratum::app::features::remesh::ChunkEntity;
use stratum::app::features::sculpt::{AddEmptySegment, BrushSettings};
use stratum::app::features::segmentation::SegmentCommand;
use stratum::app::state::document::ApplyEdit;
use stratum::app::state::segments::{Segment, ToolSettings};
use stratum::app::state::study::Study;
use stratum_core::document::Edit;
use stratum_core::edit::pick_segment;
use stratum_core::image::view::Plane;
use stratum_core::segment::LabelMap;

use super::pipeline::{ball_study, errors, headless, publish, run_until_idle, segments};

fn labels(app: &App) -> LabelMap {
    (**app.world().resource::<Study>().doc.labels()).clone()
}

fn entity_of(app: &mut App, id: u16) -> Entity {
    let mut q = app.world_mut().query::<(Entity, &Segment)>();
    q.iter(app.world())
        .find(|(_, s)| s.id == id)
        .map(|(e, _)| e)
        .expect("segment entity")
}

fn select(app: &mut App, id: u16) {
    let e = entity_of(app, id);
    app.world_mut().resource_mut::<ToolSettings>().selected = Some(e);
}

/// Sends one stroke through the brush actions: begin, samples, end.
pub(crate) fn stroke(app: &mut App, tool: BrushTool, plane: Option<Plane>, points: &[[f64; 3]]) {
    for (i, p) in points.iter().enumerate() {
        let phase = if i == 0 {
            StrokePhase::Begin
        } else {
            StrokePhase::Sample
        };
        app.world_mut().write_message(BrushAction {
            phase,
            tool,
            point: *p,
            plane,
        });
        app.update();
    }
    app.world_mut().write_message(BrushAction {
        phase: StrokePhase::End,
        tool,
        point: *points.last().unwrap(),
        plane,
    });
    app.update();
}

fn history_len(app: &App) -> usize {
    app.world().resource::<Study>().doc.history().len()
}

fn undo(app: &mut App, action: HistoryAction) {
    app.world_mut().write_message(action);
    app.update();
    app.update();
}

/// Distance (mm, 1 mm voxels at the origin) from p to the segment a-b.
fn to_segment(p: [f64; 3], a: [f64; 3], b: [f64; 3]) -> f64 {
    let ab: [f64; 3] = std::array::from_fn(|k| b[k] - a[k]);
    let ap: [f64; 3] = std::array::from_fn(|k| p[k] - a[k]);
    let len2: f64 = ab.iter().map(|v| v * v).sum();
    let t = if len2 > 0.0 {
        (ap.iter().zip(&ab).map(|(x, y)| x * y).sum::<f64>() / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (0..3)
        .map(|k| (ap[k] - t * ab[k]).powi(2))
        .sum::<f64>()
        .sqrt()
}

#[test]
fn a_slice_stroke_paints_a_gapless_capsule_in_that_slice_and_undoes_bit_identical() {
    let mut app = headless();
    publish(&mut app, ball_study(48));
    run_until_idle(&mut app, Duration::from_secs(60));
    let original = labels(&app);
    app.world_mut().write_message(AddEmptySegment);
    app.update();
    app.update();
    {
        let mut b = app.world_mut().resource_mut::<BrushSettings>();
        b.diameter_mm = 6.0;
        b.sphere = false;
        b.overwrite = false;
    }
    // Two samples 37 mm apart: the capsule between them is painted too.
    let (a, b) = ([3.0, 3.0, 24.0], [3.0, 40.0, 24.0]);
    stroke(&mut app, BrushTool::Paint, Some(Plane::Axial), &[a, b]);
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    let painted = labels(&app);
    let (nz, ny, nx) = painted.dim();
    let mut new_voxels = 0;
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let before = original.get(z, y, x);
                let now = painted.get(z, y, x);
                let inside = z == 24 && to_segment([x as f64, y as f64, z as f64], a, b) <= 3.0;
                let want = if inside && before == 0 { 2 } else { before };
                assert_eq!(now, want, "voxel ({z}, {y}, {x})");
                new_voxels += (now == 2) as usize;
            }
        }
    }
    assert!(new_voxels > 100, "only {new_voxels} voxels painted");
    // The segment's volume follows the voxels.
    let seg = segments(&mut app)
        .into_iter()
        .find(|(s, _)| s.id == 2)
        .unwrap()
        .0;
    assert!((seg.voxel_ml - new_voxels as f64 / 1000.0).abs() < 1e-9);
    assert_eq!(history_len(&app), 2, "new segment, then the stroke");
    // Undo twice: the map and the table are bit-identical to the start.
    undo(&mut app, HistoryAction::Undo);
    undo(&mut app, HistoryAction::Undo);
    assert_eq!(labels(&app), original);
    assert_eq!(segments(&mut app).len(), 1, "the new segment is gone");
    undo(&mut app, HistoryAction::Redo);
    undo(&mut app, HistoryAction::Redo);
    assert_eq!(labels(&app), painted);
    assert_eq!(segments(&mut app).len(), 2);
}

#[test]
fn overwrite_and_the_intensity_range_decide_which_voxels_a_brush_takes() {
    let mut app = headless();
    publish(&mut app, ball_study(40));
    run_until_idle(&mut app, Duration::from_secs(60));
    app.world_mut().write_message(AddEmptySegment);
    app.update();
    app.update();
    let centre = [20.0, 20.0, 20.0];
    // Overwrite off: the ball keeps its voxels.
    app.world_mut().resource_mut::<BrushSettings>().diameter_mm = 10.0;
    stroke(&mut app, BrushTool::Add, None, &[centre]);
    assert_eq!(labels(&app).counts().get(2).copied().unwrap_or(0), 0);
    assert_eq!(
        history_len(&app),
        1,
        "a stroke that changed nothing is no step"
    );
    // Overwrite on, range on the ball's 100 HU: the sphere is taken.
    {
        let mut b = app.world_mut().resource_mut::<BrushSettings>();
        b.overwrite = true;
        b.limit_range = true;
        b.range = (50.0, 150.0);
    }
    stroke(&mut app, BrushTool::Add, None, &[centre]);
    let l = labels(&app);
    let expected = (0..40usize.pow(3))
        .filter(|i| {
            let (z, y, x) = (i / 1600, (i / 40) % 40, i % 40);
            to_segment([x as f64, y as f64, z as f64], centre, centre) <= 5.0
        })
        .count() as u64;
    assert_eq!(l.counts()[2], expected);
    // The same range outside the ball (-1000 HU) changes nothing.
    stroke(&mut app, BrushTool::Add, None, &[[1.0, 1.0, 1.0]]);
    assert_eq!(labels(&app).counts()[2], expected);
    assert_eq!(history_len(&app), 2);
}

#[test]
fn sculpting_in_3d_shows_chunks_while_stroking_then_the_rebuilt_surface() {
    let mut app = headless();
    publish(&mut app, ball_study(48));
    run_until_idle(&mut app, Duration::from_secs(60));
    select(&mut app, 1);
    let before = labels(&app).counts()[1];
    // The ray from in front of the ball finds its surface (as the 3D view does).
    let hit = pick_segment(&labels(&app), 1, [24.0, 24.0, -50.0], [0.0, 0.0, 1.0], &[])
        .expect("the ray hits the ball");
    assert!((hit[2] - 3.0).abs() <= 1.0, "hit {hit:?}");
    app.world_mut().resource_mut::<BrushSettings>().diameter_mm = 8.0;
    for (phase, z) in [
        (StrokePhase::Begin, hit[2]),
        (StrokePhase::Sample, hit[2] - 2.0),
    ] {
        app.world_mut().write_message(BrushAction {
            phase,
            tool: BrushTool::Add,
            point: [hit[0], hit[1], z],
            plane: None,
        });
        app.update();
        app.update();
    }
    let ball = entity_of(&mut app, 1);
    let chunks = {
        let mut q = app.world_mut().query::<&ChunkEntity>();
        q.iter(app.world()).count()
    };
    assert!(chunks > 0, "no chunk meshes while sculpting");
    assert!(
        app.world().get::<Mesh3d>(ball).is_none(),
        "the full mesh is hidden during the stroke"
    );
    app.world_mut().write_message(BrushAction {
        phase: StrokePhase::End,
        tool: BrushTool::Add,
        point: hit,
        plane: None,
    });
    run_until_idle(&mut app, Duration::from_secs(60));
    let after = labels(&app).counts()[1];
    assert!(after > before, "{after} <= {before}");
    let chunks = {
        let mut q = app.world_mut().query::<&ChunkEntity>();
        q.iter(app.world()).count()
    };
    assert_eq!(chunks, 0, "chunks stay after the rebuild");
    assert!(app.world().get::<Mesh3d>(ball).is_some());
    let seg = segments(&mut app)
        .into_iter()
        .find(|(s, _)| s.id == 1)
        .unwrap()
        .0;
    assert!(seg.surface.unwrap().watertight);
}

#[test]
fn tools_deletes_and_renames_undo_and_redo_bit_identical() {
    let mut app = headless();
    publish(&mut app, ball_study(32));
    run_until_idle(&mut app, Duration::from_secs(60));
    let original = labels(&app);
    app.world_mut().write_message(SegmentCommand::Threshold {
        name: "Soft".into(),
        lo: 0.0,
        hi: 200.0,
    });
    run_until_idle(&mut app, Duration::from_secs(60));
    let thresholded = labels(&app);
    assert_ne!(thresholded, original);
    let ball = entity_of(&mut app, 1);
    app.world_mut().write_message(SegmentCommand::Delete(ball));
    app.update();
    app.update();
    // Rename the threshold segment as the panel does, then let it settle.
    app.world_mut()
        .write_message(ApplyEdit(Edit::rename(2, "Flesh")));
    for _ in 0..30 {
        app.update();
    }
    let renamed = labels(&app);
    assert_eq!(renamed.segments.len(), 1);
    assert_eq!(renamed.segments[0].name, "Flesh");
    let names: Vec<String> = app
        .world()
        .resource::<Study>()
        .doc
        .steps()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(names, ["Add Soft", "Delete ball", "Rename Soft to Flesh"]);
    for _ in 0..3 {
        undo(&mut app, HistoryAction::Undo);
    }
    assert_eq!(labels(&app), original);
    let segs = segments(&mut app);
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].0.name, "ball");
    for _ in 0..3 {
        undo(&mut app, HistoryAction::Redo);
    }
    assert_eq!(labels(&app), renamed);
    run_until_idle(&mut app, Duration::from_secs(60));
    let segs = segments(&mut app);
    assert_eq!(segs.len(), 1);
    assert_eq!(segs[0].0.name, "Flesh");
    assert!(segs[0].1, "the redone segment got its surface back");
}
