//! The tools that change a segment (morphology, margin, fill holes, small
//! islands, the logical operations between two segments) through the
//! headless app, the way the Tools panel runs them: a preview in the
//! background that leaves the document alone, then Apply as one document
//! edit that Ctrl+Z takes back.

use std::sync::Arc;
use std::time::Duration;

use bevy::prelude::*;
use stratum::app::actions::HistoryAction;
use stratum::app::features::segmentation::{SegmentCommand, ToolSpec};
use stratum::app::state::segments::{ModifyKind, ModifyTool, Segment, ToolSettings};
use stratum::app::state::study::Study;
use stratum_core::segment::{LabelMap, LogicOp, Mask, MorphOp, dilate_mm, erode_mm, fill_holes_3d};

use super::{ball_study, errors, headless, publish, run_until_idle, study_of};

fn entity_of(app: &mut App, id: u16) -> Entity {
    let mut q = app.world_mut().query::<(Entity, &Segment)>();
    q.iter(app.world())
        .find(|(_, s)| s.id == id)
        .map(|(e, _)| e)
        .expect("the segment's entity")
}

fn labels(app: &App) -> Arc<LabelMap> {
    app.world().resource::<Study>().doc.labels().clone()
}

fn modify(kind: ModifyKind) -> ModifyTool {
    ModifyTool {
        kind,
        ..ModifyTool::default()
    }
}

/// Previews `tool` on segment `id`, checks the preview is `expected` and
/// the document untouched; applies it, checks the segment is `expected`;
/// undoes it, checks the label map is back.
fn preview_apply_undo(
    app: &mut App,
    tool: ModifyTool,
    other: Option<u16>,
    id: u16,
    expected: &Mask,
) {
    let on = Some(entity_of(app, id));
    let before = labels(app);
    app.world_mut().resource_mut::<ToolSettings>().selected = on;
    app.world_mut().resource_mut::<ToolSettings>().modify = tool;
    let spec = ToolSpec::Modify { tool, other };
    app.world_mut().write_message(SegmentCommand::Preview {
        tool: spec.clone(),
        on,
    });
    run_until_idle(app, Duration::from_secs(60));
    assert_eq!(errors(app), Vec::<String>::new());
    let generation = app.world().resource::<Study>().doc.generation();
    let shown = app
        .world()
        .resource::<ToolSettings>()
        .current_preview(generation)
        .cloned()
        .unwrap_or_else(|| panic!("no preview of {:?}", tool.kind));
    assert_eq!(*shown, *expected, "the preview of {:?}", tool.kind);
    assert_eq!(labels(app), before, "a preview changed the document");

    app.world_mut()
        .write_message(SegmentCommand::Run { tool: spec, on });
    run_until_idle(app, Duration::from_secs(60));
    assert_eq!(errors(app), Vec::<String>::new());
    let after = labels(app);
    assert_eq!(after.mask(id), *expected, "{:?} applied", tool.kind);
    assert_ne!(after, before, "{:?} changed nothing", tool.kind);
    // Applied, the preview is gone (it no longer shows what applying does).
    assert!(app.world().resource::<ToolSettings>().shown.is_none());

    app.world_mut().write_message(HistoryAction::Undo);
    run_until_idle(app, Duration::from_secs(60));
    assert_eq!(*labels(app), *before, "undo of {:?}", tool.kind);
}

#[test]
fn morphology_and_margin_change_the_selected_segment_and_undo_restores_it() {
    let mut app = headless();
    publish(&mut app, ball_study(40));
    run_until_idle(&mut app, Duration::from_secs(60));
    let ball = labels(&app).mask(1);
    let cases = [
        (
            ModifyKind::Morphology(MorphOp::Dilate),
            2.0,
            dilate_mm(&ball, 2.0),
        ),
        (
            ModifyKind::Morphology(MorphOp::Erode),
            2.0,
            erode_mm(&ball, 2.0),
        ),
        (ModifyKind::Margin, -3.0, erode_mm(&ball, 3.0)),
        (ModifyKind::Margin, 1.5, dilate_mm(&ball, 1.5)),
    ];
    for (kind, mm, expected) in cases {
        let tool = ModifyTool {
            radius_mm: mm,
            margin_mm: mm,
            ..modify(kind)
        };
        preview_apply_undo(&mut app, tool, None, 1, &expected);
    }
}

#[test]
fn removing_small_islands_keeps_the_big_ones() {
    let mut study = ball_study(40);
    let (dim, g) = (study.volume.dim(), study.volume.geometry);
    // The ball (about 24 000 mm³) and a 2 mm cube in a corner (8 mm³).
    let mut with_speck = study.doc.labels().mask(1);
    for z in 1..3 {
        for y in 1..3 {
            for x in 1..3 {
                with_speck.data[(z, y, x)] = 1;
            }
        }
    }
    let ball = study.doc.labels().mask(1);
    let mut labels = LabelMap::empty(dim, g);
    labels.add_segment("ball", &with_speck);
    study = study_of((*study.volume).clone(), labels, "speck", (-1000.0, 100.0));
    let mut app = headless();
    publish(&mut app, study);
    run_until_idle(&mut app, Duration::from_secs(60));
    let tool = ModifyTool {
        min_mm3: 50.0,
        ..modify(ModifyKind::RemoveIslands)
    };
    preview_apply_undo(&mut app, tool, None, 1, &ball);
}

/// A hollow ball (label 1, a hole of radius 6 inside) and a slab beside it
/// (label 2, the first 4 columns).
fn shell_and_slab() -> Study {
    let study = ball_study(40);
    let (dim, g) = (study.volume.dim(), study.volume.geometry);
    let ball = study.doc.labels().mask(1);
    let shell = Mask {
        data: ndarray::Array3::from_shape_fn(dim, |(z, y, x)| {
            let d = |v: usize| v as f64 - 20.0;
            let hole = d(x) * d(x) + d(y) * d(y) + d(z) * d(z) <= 36.0;
            (ball.data[(z, y, x)] == 1 && !hole) as u8
        }),
        geometry: g,
    };
    let slab = Mask {
        data: ndarray::Array3::from_shape_fn(dim, |(z, y, x)| {
            (x < 4 && ball.data[(z, y, x)] == 0) as u8
        }),
        geometry: g,
    };
    let mut labels = LabelMap::empty(dim, g);
    labels.add_segment("shell", &shell);
    labels.add_segment("slab", &slab);
    study_of((*study.volume).clone(), labels, "shell", (-1000.0, 100.0))
}

#[test]
fn fill_holes_and_logical_operations_between_segments_apply_and_undo() {
    let mut app = headless();
    publish(&mut app, shell_and_slab());
    run_until_idle(&mut app, Duration::from_secs(60));
    let map = labels(&app);
    let (shell, slab) = (map.mask(1), map.mask(2));
    let filled = fill_holes_3d(&shell);
    assert!(filled.count() > shell.count() + 500);
    preview_apply_undo(&mut app, modify(ModifyKind::FillHoles), None, 1, &filled);

    let mut union = shell.clone();
    union.data.zip_mut_with(&slab.data, |a, b| *a |= *b);
    preview_apply_undo(
        &mut app,
        modify(ModifyKind::Logical(LogicOp::Union)),
        Some(2),
        1,
        &union,
    );

    // The slab lies beside the shell: their intersection is empty.
    let empty = Mask::empty(shell.dim(), shell.geometry);
    let intersect = modify(ModifyKind::Logical(LogicOp::Intersect));
    preview_apply_undo(&mut app, intersect, Some(2), 1, &empty);
}

#[test]
fn a_logical_operation_without_the_other_segment_says_what_to_pick() {
    let mut app = headless();
    publish(&mut app, shell_and_slab());
    run_until_idle(&mut app, Duration::from_secs(60));
    let on = Some(entity_of(&mut app, 1));
    let before = labels(&app);
    app.world_mut().write_message(SegmentCommand::Run {
        tool: ToolSpec::Modify {
            tool: modify(ModifyKind::Logical(LogicOp::Subtract)),
            other: None,
        },
        on,
    });
    run_until_idle(&mut app, Duration::from_secs(60));
    let errs = errors(&app);
    assert!(
        errs.iter().any(|e| e.contains("pick the other segment")),
        "{errs:?}"
    );
    assert_eq!(labels(&app), before);
}
