//! The tools that change a segment (morphology, margin, fill holes, small
//! islands, the island at a point, the logical operations between two
//! segments, masking by a segment) through the headless app, the way the
//! Tools panel runs them: a preview in the background that leaves the
//! document alone, then Apply as one document edit that Ctrl+Z takes back.

use std::sync::Arc;
use std::time::Duration;

use bevy::prelude::*;
use stratum::app::actions::HistoryAction;
use stratum::app::features::segmentation::{SegmentCommand, ToolSpec};
use stratum::app::state::segments::{EditArea, ModifyKind, ModifyTool, Segment, ToolSettings};
use stratum::app::state::study::Study;
use stratum_core::base::progress::Progress;
use stratum_core::segment::{
    KeepIslandAt, LabelMap, LogicOp, Mask, MaskBy, MorphOp, Morphology, Tool, dilate_mm, erode_mm,
    fill_holes_3d,
};

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

/// The ball (label 1) with a 2 mm cube in a corner as a second island.
fn ball_and_speck() -> Study {
    let study = ball_study(40);
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
    let mut labels = LabelMap::empty(dim, g);
    labels.add_segment("ball", &with_speck);
    study_of((*study.volume).clone(), labels, "speck", (-1000.0, 100.0))
}

#[test]
fn removing_small_islands_keeps_the_big_ones() {
    let ball = ball_study(40).doc.labels().mask(1);
    let mut app = headless();
    publish(&mut app, ball_and_speck());
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

/// What the core tool makes of segment `id` of the open study.
fn core_result(app: &App, tool: &dyn Tool, id: u16) -> Mask {
    let study = app.world().resource::<Study>();
    tool.apply(
        &study.volume,
        &study.doc.labels().mask(id),
        &Progress::new(),
    )
    .expect("the core tool runs")
}

#[test]
fn keeping_the_island_at_a_picked_point_drops_the_other_islands() {
    let mut app = headless();
    publish(&mut app, ball_and_speck());
    run_until_idle(&mut app, Duration::from_secs(60));
    // The speck, picked at voxel (x, y, z) = (1, 2, 2): the ball goes.
    let speck = core_result(&app, &KeepIslandAt((2, 2, 1)), 1);
    assert_eq!(speck.count(), 8);
    let tool = ModifyTool {
        point: Some([1, 2, 2]),
        ..modify(ModifyKind::KeepIsland)
    };
    preview_apply_undo(&mut app, tool, None, 1, &speck);

    // A click on a slice in island mode (the panel's "Pick the island…")
    // keeps the ball, the speck goes.
    let ball = core_result(&app, &KeepIslandAt((20, 20, 20)), 1);
    assert_eq!(ball, ball_study(40).doc.labels().mask(1));
    let on = Some(entity_of(&mut app, 1));
    {
        let mut tools = app.world_mut().resource_mut::<ToolSettings>();
        tools.selected = on;
        tools.island_mode = true;
    }
    app.world_mut()
        .write_message(SegmentCommand::KeepIslandAt([20, 20, 20]));
    run_until_idle(&mut app, Duration::from_secs(60));
    assert_eq!(errors(&app), Vec::<String>::new());
    assert_eq!(labels(&app).mask(1), ball);
    let tools = app.world().resource::<ToolSettings>();
    assert!(!tools.island_mode, "the click ends the picking");
    assert_eq!(tools.modify.point, Some([20, 20, 20]));
}

#[test]
fn a_point_outside_the_segment_keeps_every_island_and_says_so() {
    let mut app = headless();
    publish(&mut app, ball_and_speck());
    run_until_idle(&mut app, Duration::from_secs(60));
    let before = labels(&app);
    let on = Some(entity_of(&mut app, 1));
    app.world_mut().resource_mut::<ToolSettings>().selected = on;
    // Voxel (x, y, z) = (0, 0, 10) lies in neither the ball nor the speck.
    app.world_mut()
        .write_message(SegmentCommand::KeepIslandAt([0, 0, 10]));
    run_until_idle(&mut app, Duration::from_secs(60));
    let errs = errors(&app);
    assert!(
        errs.iter().any(|e| e.contains("not in the segment")),
        "{errs:?}"
    );
    assert_eq!(labels(&app), before);
}

#[test]
fn masking_by_a_segment_limits_a_tool_to_inside_or_outside_it() {
    let mut app = headless();
    publish(&mut app, shell_and_slab());
    run_until_idle(&mut app, Duration::from_secs(60));
    let map = labels(&app);
    let (shell, slab) = (map.mask(1), map.mask(2));
    let grown = dilate_mm(&shell, 2.0);
    let dilate = |inside: bool| MaskBy {
        tool: Box::new(Morphology {
            op: MorphOp::Dilate,
            radius_mm: 2.0,
        }),
        area: slab.clone(),
        inside,
    };
    for inside in [true, false] {
        let expected = core_result(&app, &dilate(inside), 1);
        // The core's masking: the shell's own voxels stay; of the dilation's
        // new voxels, exactly those on the chosen side of the slab come in.
        let mut by_hand = shell.clone();
        ndarray::Zip::from(&mut by_hand.data)
            .and(&grown.data)
            .and(&slab.data)
            .for_each(|o, g, s| *o |= *g & ((*s == 1) == inside) as u8);
        assert_eq!(expected, by_hand);
        assert!(expected.count() > shell.count(), "the shell grew");
        assert!(expected.count() < grown.count(), "but not everywhere");
        let tool = ModifyTool {
            radius_mm: 2.0,
            area: Some(EditArea { segment: 2, inside }),
            ..modify(ModifyKind::Morphology(MorphOp::Dilate))
        };
        preview_apply_undo(&mut app, tool, None, 1, &expected);
    }
}
