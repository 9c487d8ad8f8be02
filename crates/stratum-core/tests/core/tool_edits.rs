//! Every segmentation tool through the document the same way: its result
//! as edits (one history step, undone as one), its preview, and a brush
//! stroke as a tool that paints what the same drag paints.

use stratum_core::document::{Document, Edit, SurfaceRecipe, tool_edits};
use stratum_core::edit::{Brush, BrushAction, BrushShape, BrushStroke};
use stratum_core::segment::{
    FillHoles, KeepLargest, LabelMap, LogicOp, Logical, Margin, Mask, MorphOp, Morphology, Preset,
    PresetTool, Preview, Threshold, Tool, ToolTarget, threshold_mask,
};
use stratum_core::{base::error::CoreError, base::progress::Progress};

use crate::document::scan;

/// A document whose segment 1 is the scan's bright ball, hollow (a hole
/// of 2 voxels' radius at its centre), with a small island in a corner:
/// every tool has something to change.
fn ball_doc() -> Document {
    let v = scan();
    let mut ball = threshold_mask(&v, 300.0, 3000.0);
    for ((z, y, x), m) in ball.data.indexed_iter_mut() {
        let (dz, dy, dx) = (z as f64 - 12.0, y as f64 - 20.0, x as f64 - 18.0);
        if dz * dz + dy * dy + dx * dx <= 4.0 {
            *m = 0;
        }
        if (1..4).contains(&z) && (1..4).contains(&y) && (1..4).contains(&x) {
            *m = 1;
        }
    }
    let mut labels = LabelMap::empty(v.dim(), v.geometry);
    labels.add_segment("ball", &ball);
    Document::new(Some(v), labels).unwrap()
}

/// Runs `tool` on segment `on` of `doc` and applies its edits.
fn run(doc: &mut Document, tool: &dyn Tool, on: Option<(u16, &str)>) {
    let v = scan();
    let labels = doc.labels().clone();
    let out = tool_edits(tool, &v, &labels, on, &Progress::new()).unwrap();
    for e in out.edits {
        doc.apply(e).unwrap();
    }
}

#[test]
fn each_tool_that_changes_a_segment_is_one_step_undone_as_one() {
    let v = scan();
    let empty = Mask::empty(v.dim(), v.geometry);
    let slab = Mask {
        data: ndarray::Array3::from_shape_fn(v.dim(), |(z, _, _)| (z < 12) as u8),
        geometry: v.geometry,
    };
    let tools: Vec<Box<dyn Tool>> = vec![
        Box::new(Morphology {
            op: MorphOp::Dilate,
            radius_mm: 2.0,
        }),
        Box::new(Morphology {
            op: MorphOp::Erode,
            radius_mm: 2.0,
        }),
        Box::new(Margin { mm: -1.6 }),
        Box::new(FillHoles { per_slice: false }),
        Box::new(KeepLargest),
        Box::new(Logical {
            op: LogicOp::Subtract,
            other: slab.clone(),
        }),
        Box::new(Logical {
            op: LogicOp::Union,
            other: slab,
        }),
    ];
    for tool in tools {
        let mut doc = ball_doc();
        let before = doc.labels().clone();
        let ball = before.mask(1);
        assert_eq!(tool.target(), ToolTarget::Segment, "{}", tool.name());
        let expected = tool.apply(&v, &ball, &Progress::new()).unwrap();
        run(&mut doc, tool.as_ref(), Some((1, "ball")));
        assert_eq!(doc.labels().mask(1), expected, "{}", tool.name());
        let steps: Vec<String> = doc.steps().map(|s| s.name.to_string()).collect();
        assert_eq!(steps, [format!("{}: ball", tool.name())]);
        doc.apply(Edit::Undo).unwrap();
        assert_eq!(**doc.labels(), *before, "undo of {}", tool.name());
        assert_ne!(expected, empty, "{} left nothing to check", tool.name());
    }
}

#[test]
fn a_tool_that_changes_a_segment_asks_for_one() {
    let doc = ball_doc();
    let err = tool_edits(
        &Margin { mm: 2.0 },
        &scan(),
        doc.labels(),
        None,
        &Progress::new(),
    )
    .unwrap_err();
    assert!(matches!(err, CoreError::NoSegmentChosen { .. }), "{err}");
    assert!(err.to_string().contains("select the segment"), "{err}");
}

#[test]
fn threshold_and_presets_make_a_new_segment_built_from_the_scan() {
    let v = scan();
    let mut doc = ball_doc();
    run(
        &mut doc,
        &Threshold {
            lo: 300.0,
            hi: 3000.0,
        },
        None,
    );
    assert_eq!(doc.segments().len(), 2);
    assert_eq!(doc.props(2).recipe, SurfaceRecipe::Level(300.0));
    // The new segment takes the ball's voxels (it paints over them).
    assert_eq!(doc.labels().mask(2), threshold_mask(&v, 300.0, 3000.0));
    let preset = PresetTool {
        preset: Preset::SoftTissue,
        window: Some((0.0, 200.0)),
    };
    run(&mut doc, &preset, None);
    let soft = doc.segments().last().unwrap().clone();
    assert_eq!(soft.name, "Soft tissue");
    assert_eq!(soft.colour, Preset::SoftTissue.colour());
    assert!(matches!(doc.props(soft.id).recipe, SurfaceRecipe::Level(_)));
    // An empty window is an error that says what to do.
    let err = tool_edits(
        &Threshold {
            lo: 5000.0,
            hi: 6000.0,
        },
        &v,
        doc.labels(),
        None,
        &Progress::new(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("widen the window"), "{err}");
}

#[test]
fn a_threshold_previews_its_window_and_a_mask_tool_its_result() {
    let v = scan();
    let doc = ball_doc();
    let ball = doc.labels().mask(1);
    let p = Progress::new();
    let t = Threshold { lo: 1.0, hi: 2.0 };
    assert_eq!(
        t.preview(&v, &ball, &p).unwrap(),
        Preview::Window { lo: 1.0, hi: 2.0 }
    );
    let close = Morphology {
        op: MorphOp::Close,
        radius_mm: 1.5,
    };
    assert_eq!(
        close.preview(&v, &ball, &p).unwrap(),
        Preview::Mask(close.apply(&v, &ball, &p).unwrap())
    );
}

#[test]
fn a_brush_stroke_as_a_tool_paints_what_the_same_drag_paints() {
    let v = scan();
    let brush = Brush {
        radius_mm: 3.0,
        shape: BrushShape::Sphere,
        action: BrushAction::Paint,
        intensity: None,
        overwrite: false,
    };
    let points = vec![
        v.geometry.index_to_lps([4.0, 4.0, 4.0]),
        v.geometry.index_to_lps([14.0, 8.0, 6.0]),
        v.geometry.index_to_lps([20.0, 30.0, 10.0]),
    ];
    let tool = BrushStroke {
        brush,
        points: points.clone(),
    };
    let mut as_tool = ball_doc();
    run(&mut as_tool, &tool, Some((1, "ball")));
    // A drag begins with the same edit as the tool (the app's drag and
    // `tool_edits` both make it with `Edit::stroke_begin`), then sends
    // its samples one by one.
    let edits = tool_edits(
        &tool,
        &v,
        ball_doc().labels(),
        Some((1, "ball")),
        &Progress::new(),
    )
    .unwrap()
    .edits;
    let begin = Edit::stroke_begin("Paint", (1, "ball"), brush, points[0]);
    assert_eq!(edits.first(), Some(&begin));
    assert_eq!(edits.len(), points.len() + 1);
    let mut dragged = ball_doc();
    dragged.apply(begin).unwrap();
    for p in &points[1..] {
        dragged.apply(Edit::StrokeTo { point: *p }).unwrap();
    }
    dragged.apply(Edit::StrokeEnd).unwrap();
    assert_eq!(as_tool.labels(), dragged.labels());
    let steps: Vec<String> = as_tool.steps().map(|s| s.name.to_string()).collect();
    assert_eq!(steps, ["Paint ball"]);
    let dragged_steps: Vec<String> = dragged.steps().map(|s| s.name.to_string()).collect();
    assert_eq!(dragged_steps, steps);
    // With no other segment in the way, the tool's own mask is the same.
    let ball = ball_doc().labels().mask(1);
    let alone = tool.apply(&v, &ball, &Progress::new()).unwrap();
    assert_eq!(alone, as_tool.labels().mask(1));
    assert!(alone.count() > ball.count());
    as_tool.apply(Edit::Undo).unwrap();
    assert_eq!(as_tool.labels().mask(1), ball);
}
