//! The XR controller map without a runtime: scripted snapshots of the
//! head and both hands go through `XrGestures::map`, and the actions it
//! returns are applied the way the app applies them.

use bevy::prelude::*;
use stratum::app::actions::BrushAction;
use stratum::app::actions::ClipAction;
use stratum::app::actions::HistoryAction;
use stratum::app::actions::PoseAction;
use stratum::app::actions::RulerAction;
use stratum::app::actions::ViewAction;
use stratum::app::state::space::AnatomyPose;
use stratum::app::xr::input::{
    Hand, HandSnapshot, InputContext, ResliceAction, Table, XrAction, XrGestures, XrSnapshot,
    table_for, table_pose,
};

fn hand_at(p: Vec3) -> HandSnapshot {
    HandSnapshot {
        tracked: true,
        grip: Transform::from_translation(p),
        aim: Transform::from_translation(p),
        ..default()
    }
}

fn snapshot(left: HandSnapshot, right: HandSnapshot) -> XrSnapshot {
    XrSnapshot {
        head: Transform::from_xyz(0.0, 1.6, 0.0),
        hands: [left, right],
        dt: 0.1,
    }
}

/// Applies the pose actions as `space::apply_pose_actions` does.
fn apply(pose: &mut AnatomyPose, home: AnatomyPose, actions: &[XrAction]) {
    for a in actions {
        match a {
            XrAction::Pose(PoseAction::Apply(d)) => pose.0 = d.mul_transform(pose.0),
            XrAction::Pose(PoseAction::Reset) => *pose = home,
            _ => {}
        }
    }
}

/// The brush actions among `a`.
fn strokes(a: &[XrAction]) -> Vec<BrushAction> {
    a.iter()
        .filter_map(|x| match x {
            XrAction::Brush(b) => Some(*b),
            _ => None,
        })
        .collect()
}

fn ctx(pose: AnatomyPose) -> InputContext {
    InputContext { pose, ..default() }
}

#[test]
fn one_grip_carries_the_model_with_the_hand() {
    let mut g = XrGestures::default();
    let mut pose = AnatomyPose::default();
    let point = Vec3::new(0.1, 1.0, -0.4);
    let before_grab = pose.lps_to_world([10.0, 20.0, 30.0]);
    let mut right = hand_at(Vec3::new(0.2, 1.1, -0.4));
    let idle = snapshot(hand_at(Vec3::new(-0.2, 1.1, -0.4)), right);
    right.squeeze = 1.0;
    let closed = snapshot(idle.hands[0], right);
    // Closing the hand moves nothing.
    let a = g.map(&idle, &closed, &ctx(pose));
    assert!(a.is_empty(), "{a:?}");
    // The hand moves 10 cm right and turns 90 degrees about +Y.
    let mut moved = right;
    let turn = Quat::from_rotation_y(std::f32::consts::FRAC_PI_2);
    moved.grip =
        Transform::from_translation(right.grip.translation + Vec3::X * 0.1).with_rotation(turn);
    let next = snapshot(idle.hands[0], moved);
    let a = g.map(&closed, &next, &ctx(pose));
    assert_eq!(a.len(), 1, "{a:?}");
    // A point of the anatomy held in the hand keeps its place in the hand.
    let local = right
        .grip
        .compute_affine()
        .inverse()
        .transform_point3(point);
    apply(&mut pose, AnatomyPose::default(), &a);
    let held = pose.0.transform_point(point);
    let expected = moved.grip.transform_point(local);
    assert!(held.abs_diff_eq(expected, 1e-5), "{held} vs {expected}");
    // An anatomy point moved with the hand too (and by the hand's motion).
    let after = pose.lps_to_world([10.0, 20.0, 30.0]);
    assert!(after.distance(before_grab) > 0.05);
    assert!((pose.scale() - 1.0).abs() < 1e-6);
    // Opening the hand stops it.
    let mut open = moved;
    open.squeeze = 0.0;
    open.grip.translation += Vec3::Y;
    let a = g.map(&next, &snapshot(idle.hands[0], open), &ctx(pose));
    assert!(a.is_empty(), "{a:?}");
}

#[test]
fn two_grips_scale_about_the_hands_and_snap_to_life_size() {
    let mut g = XrGestures::default();
    let mut pose = AnatomyPose::default();
    let grab = |p: Vec3| HandSnapshot {
        squeeze: 1.0,
        ..hand_at(p)
    };
    let (l0, r0) = (Vec3::new(-0.1, 1.0, -0.5), Vec3::new(0.1, 1.0, -0.5));
    let s0 = snapshot(grab(l0), grab(r0));
    let s_open = snapshot(hand_at(l0), hand_at(r0));
    assert!(g.map(&s_open, &s0, &ctx(pose)).is_empty());
    // Hands twice as far apart: twice the size, the midpoint fixed.
    let s1 = snapshot(
        grab(Vec3::new(-0.2, 1.0, -0.5)),
        grab(Vec3::new(0.2, 1.0, -0.5)),
    );
    let a = g.map(&s0, &s1, &ctx(pose));
    apply(&mut pose, AnatomyPose::default(), &a);
    assert!((pose.scale() - 2.0).abs() < 1e-4, "{}", pose.scale());
    let mid = Vec3::new(0.0, 1.0, -0.5);
    // The point that was at the midpoint stays there.
    assert!(pose.0.transform_point(mid).abs_diff_eq(mid, 1e-4));
    // Back to 1.04x the start distance: snaps to exactly 1:1.
    let s2 = snapshot(
        grab(Vec3::new(-0.104, 1.0, -0.5)),
        grab(Vec3::new(0.104, 1.0, -0.5)),
    );
    let a = g.map(&s1, &s2, &ctx(pose));
    apply(&mut pose, AnatomyPose::default(), &a);
    assert_eq!(pose.scale(), 1.0);
    // Turning the line between the hands turns the model about the midpoint.
    let s3 = snapshot(
        grab(Vec3::new(0.0, 1.0, -0.604)),
        grab(Vec3::new(0.0, 1.0, -0.396)),
    );
    let a = g.map(&s2, &s3, &ctx(pose));
    apply(&mut pose, AnatomyPose::default(), &a);
    let x = pose.0.rotation * Vec3::X;
    assert!(x.abs_diff_eq(Vec3::Z, 1e-3), "{x}");
    assert_eq!(pose.scale(), 1.0);
    // Further apart but within the snap: still exactly life size.
    let s4 = snapshot(
        grab(Vec3::new(0.0, 1.0, -0.605)),
        grab(Vec3::new(0.0, 1.0, -0.395)),
    );
    let a = g.map(&s3, &s4, &ctx(pose));
    apply(&mut pose, AnatomyPose::default(), &a);
    assert_eq!(pose.scale(), 1.0);
}

#[test]
fn button_a_puts_a_plane_in_the_other_hand_that_follows_then_stays() {
    let mut g = XrGestures::default();
    let pose = AnatomyPose::default();
    let left = HandSnapshot {
        aim: Transform::from_xyz(0.0, 1.0, -0.3),
        ..hand_at(Vec3::new(0.0, 1.0, -0.3))
    };
    let right = hand_at(Vec3::new(0.2, 1.0, -0.3));
    let s0 = snapshot(left, right);
    let s1 = snapshot(
        left,
        HandSnapshot {
            primary: true,
            ..right
        },
    );
    let a = g.map(&s0, &s1, &ctx(pose));
    let set = a.iter().find_map(|a| match a {
        XrAction::Clip(ClipAction::Set { index, plane }) => Some((*index, *plane)),
        _ => None,
    });
    let (index, plane) = set.expect("a plane in the left hand");
    assert_eq!(index, 0);
    // 5 cm ahead of the left controller (forward is -Z: LPS posterior),
    // facing back at it.
    let ahead = pose.world_to_lps(Vec3::new(0.0, 1.0, -0.35));
    for (p, a) in plane.point.iter().zip(ahead) {
        assert!((p - a).abs() < 1e-3, "{plane:?}");
    }
    assert!((plane.normal[1] + 1.0).abs() < 1e-6, "{plane:?}");
    // The plane follows the left hand while the button is up.
    let mut moved = left;
    moved.aim.translation.z = -0.4;
    let s2 = snapshot(moved, right);
    let a = g.map(&s1, &s2, &ctx(pose));
    let Some(XrAction::Clip(ClipAction::Set { plane, .. })) = a.first() else {
        panic!("{a:?}")
    };
    let at = pose.world_to_lps(Vec3::new(0.0, 1.0, -0.45));
    assert!((plane.point[1] - at[1]).abs() < 1e-3, "{plane:?}");
    // A second press leaves it where it is: nothing follows the hand now.
    let s3 = snapshot(
        moved,
        HandSnapshot {
            primary: true,
            ..right
        },
    );
    let a = g.map(&s2, &s3, &ctx(pose));
    assert!(a.is_empty(), "{a:?}");
    let s4 = snapshot(left, right);
    assert!(g.map(&s3, &s4, &ctx(pose)).is_empty());
    // The next press takes the next free plane; with three on, it clears them.
    let full = InputContext {
        planes_on: [true; 3],
        ..ctx(pose)
    };
    let s5 = snapshot(
        left,
        HandSnapshot {
            primary: true,
            ..right
        },
    );
    let a = g.map(&s4, &s5, &full);
    assert_eq!(
        a.iter()
            .filter(|a| matches!(a, XrAction::Clip(ClipAction::Enable { on: false, .. })))
            .count(),
        3,
        "{a:?}"
    );
}

#[test]
fn trigger_picks_along_the_aim_ray_once_per_press() {
    let mut g = XrGestures::default();
    let pose = AnatomyPose::default();
    let aim = Transform::from_xyz(0.1, 1.2, 0.0).looking_to(Vec3::new(0.0, -1.0, -1.0), Vec3::Y);
    let right = HandSnapshot {
        aim,
        ..hand_at(aim.translation)
    };
    let left = hand_at(Vec3::new(-0.2, 1.0, 0.0));
    let s0 = snapshot(left, right);
    let s1 = snapshot(
        left,
        HandSnapshot {
            trigger: 0.9,
            ..right
        },
    );
    let a = g.map(&s0, &s1, &ctx(pose));
    let [XrAction::View(ViewAction::Pick { ray, centre: false })] = a.as_slice() else {
        panic!("{a:?}")
    };
    assert!(ray.origin.abs_diff_eq(aim.translation, 1e-6));
    let d = Vec3::new(0.0, -1.0, -1.0).normalize();
    assert!((*ray.direction).abs_diff_eq(d, 1e-5), "{:?}", ray.direction);
    // Held down: no second pick.
    assert!(g.map(&s1, &s1, &ctx(pose)).is_empty());
    // X toggles ruler mode (then the same trigger presses place ruler ends).
    let s2 = snapshot(
        HandSnapshot {
            primary: true,
            ..left
        },
        right,
    );
    let a = g.map(&s0, &s2, &ctx(pose));
    assert_eq!(a, vec![XrAction::Ruler(RulerAction::Place(true))]);
    // An untracked hand picks nothing.
    let lost = HandSnapshot {
        tracked: false,
        trigger: 0.9,
        ..right
    };
    assert!(g.map(&s0, &snapshot(left, lost), &ctx(pose)).is_empty());
}

#[test]
fn b_resets_and_the_table_pose_lays_the_patient_head_away_anterior_up() {
    let head = Transform::from_xyz(0.0, 1.6, 0.0);
    let table = table_for(&head);
    assert!((table.top_centre.y - 1.0).abs() < 1e-6);
    assert!(table.top_centre.z < -0.3);
    // A 20 x 30 x 40 cm box of anatomy (model frame: x left, y superior, z anterior).
    let bounds = (Vec3::new(-0.1, 0.5, -0.2), Vec3::new(0.1, 0.8, 0.2));
    let home = table_pose(&table, bounds);
    assert_eq!(home.scale(), 1.0);
    // Superior goes away from the user (-Z), anterior up, left to the user's right.
    let s = home.lps_dir_to_world(Vec3::Z);
    let a = home.lps_dir_to_world(Vec3::NEG_Y);
    let l = home.lps_dir_to_world(Vec3::X);
    assert!(s.abs_diff_eq(Vec3::NEG_Z, 1e-5), "{s}");
    assert!(a.abs_diff_eq(Vec3::Y, 1e-5), "{a}");
    assert!(l.abs_diff_eq(Vec3::X, 1e-5), "{l}");
    // It rests on the table top: its lowest point is just above it.
    let low = home.0.transform_point(Vec3::new(0.0, 0.65, -0.2));
    assert!((low.y - table.top_centre.y).abs() < 0.01, "{low}");
    let centre = home.0.transform_point(Vec3::new(0.0, 0.65, 0.0));
    assert!(centre.xz().abs_diff_eq(table.top_centre.xz(), 1e-5));
    // Facing +X, the head goes toward +X.
    let turned = Table {
        along: Vec3::X,
        ..table
    };
    let s = table_pose(&turned, bounds).lps_dir_to_world(Vec3::Z);
    assert!(s.abs_diff_eq(Vec3::X, 1e-5), "{s}");
    // B puts a moved model back.
    let mut g = XrGestures::default();
    let right = hand_at(Vec3::new(0.2, 1.0, -0.3));
    let left = hand_at(Vec3::new(-0.2, 1.0, -0.3));
    let mut pose = AnatomyPose(Transform::from_xyz(3.0, 0.0, 0.0));
    let a = g.map(
        &snapshot(left, right),
        &snapshot(
            left,
            HandSnapshot {
                secondary: true,
                ..right
            },
        ),
        &ctx(pose),
    );
    apply(&mut pose, home, &a);
    assert_eq!(pose, home);
    assert_eq!(Hand::Left.other(), Hand::Right);
}

#[test]
fn the_right_thumbstick_moves_and_switches_the_slice_in_space() {
    let mut g = XrGestures::default();
    let pose = AnatomyPose::default();
    let left = hand_at(Vec3::new(-0.2, 1.0, -0.3));
    let rest = hand_at(Vec3::new(0.2, 1.0, -0.3));
    let s0 = snapshot(left, rest);
    // Click: show it.
    let click = snapshot(
        left,
        HandSnapshot {
            thumbstick_click: true,
            ..rest
        },
    );
    assert_eq!(
        g.map(&s0, &click, &ctx(pose)),
        vec![XrAction::Reslice(ResliceAction::Toggle)]
    );
    // Full up for 0.1 s a frame: 3 slices a frame (30 per second).
    let up = snapshot(
        left,
        HandSnapshot {
            thumbstick: Vec2::new(0.0, 1.0),
            ..rest
        },
    );
    let a = g.map(&s0, &up, &ctx(pose));
    assert_eq!(a, vec![XrAction::Reslice(ResliceAction::Step(3))]);
    // Half down: 1.5 slices a frame, sent as whole slices.
    let down = snapshot(
        left,
        HandSnapshot {
            thumbstick: Vec2::new(0.0, -0.5),
            ..rest
        },
    );
    let steps: i32 = (0..4)
        .flat_map(|_| g.map(&down, &down, &ctx(pose)))
        .map(|a| match a {
            XrAction::Reslice(ResliceAction::Step(n)) => n,
            other => panic!("{other:?}"),
        })
        .sum();
    assert_eq!(steps, -6);
    // A resting thumb (inside the dead zone) moves nothing.
    let drift = snapshot(
        left,
        HandSnapshot {
            thumbstick: Vec2::new(0.05, 0.1),
            ..rest
        },
    );
    assert!(g.map(&drift, &drift, &ctx(pose)).is_empty());
    // A flick right: the next plane, once.
    let flick = snapshot(
        left,
        HandSnapshot {
            thumbstick: Vec2::new(0.9, 0.0),
            ..rest
        },
    );
    assert_eq!(
        g.map(&s0, &flick, &ctx(pose)),
        vec![XrAction::Reslice(ResliceAction::NextPlane(1))]
    );
    assert!(g.map(&flick, &flick, &ctx(pose)).is_empty());
}

#[test]
fn brushing_the_right_trigger_strokes_the_ball_at_the_tip_and_the_thumbstick_sizes_it() {
    use stratum::app::actions::{BrushTool, StrokePhase};
    use stratum::app::xr::input::{BRUSH_AHEAD_M, brush_tip};
    let mut g = XrGestures::default();
    let pose = AnatomyPose::default();
    let brushing = InputContext {
        pose,
        brush: Some(BrushTool::Add),
        ..default()
    };
    let left = hand_at(Vec3::new(-0.2, 1.1, -0.4));
    let at = |p: Vec3, trigger: f32| HandSnapshot {
        trigger,
        ..hand_at(p)
    };
    let (p0, p1, p2) = (
        Vec3::new(0.1, 1.0, -0.4),
        Vec3::new(0.12, 1.0, -0.4),
        Vec3::new(0.14, 1.01, -0.41),
    );
    let idle = snapshot(left, at(p0, 0.0));
    let pulled = snapshot(left, at(p0, 1.0));
    // The pull begins a stroke at the tip, 4 cm ahead of the controller,
    // and picks nothing.
    let a = g.map(&idle, &pulled, &brushing);
    assert!(!a.iter().any(|x| matches!(x, XrAction::View(_))), "{a:?}");
    let s = strokes(&a);
    assert_eq!(s.len(), 1, "{a:?}");
    assert_eq!(s[0].phase, StrokePhase::Begin);
    assert_eq!(s[0].tool, BrushTool::Add);
    let tip = p0 + Vec3::NEG_Z * BRUSH_AHEAD_M;
    assert_eq!(brush_tip(&pulled.hands[1].aim), tip);
    assert_eq!(s[0].point, pose.world_to_lps(tip));
    // Held and moved: a sample at each new place; held still: nothing.
    let moved = snapshot(left, at(p1, 0.9));
    let s = strokes(&g.map(&pulled, &moved, &brushing));
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].phase, StrokePhase::Sample);
    assert_eq!(
        s[0].point,
        pose.world_to_lps(p1 + Vec3::NEG_Z * BRUSH_AHEAD_M)
    );
    assert!(strokes(&g.map(&moved, &moved, &brushing)).is_empty());
    // A trembling finger (0.7 -> 0.5) does not end it; letting go does.
    let trembling = snapshot(left, at(p2, 0.5));
    let s = strokes(&g.map(&moved, &trembling, &brushing));
    assert_eq!(s[0].phase, StrokePhase::Sample);
    let released = snapshot(left, at(p2, 0.0));
    let s = strokes(&g.map(&trembling, &released, &brushing));
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].phase, StrokePhase::End);
    assert!(!g.stroking);
    // The thumbstick's up grows the ball (and steps no slice).
    let mut up = at(p2, 0.0);
    up.thumbstick = Vec2::new(0.0, 1.0);
    let a = g.map(&released, &snapshot(left, up), &brushing);
    assert!(
        a.iter()
            .any(|x| matches!(x, XrAction::BrushSize(mm) if *mm > 0.0)),
        "{a:?}"
    );
    assert!(
        !a.iter().any(|x| matches!(x, XrAction::Reslice(_))),
        "{a:?}"
    );
    // Brushing off: the trigger picks again, the thumbstick steps slices.
    let a = g.map(&idle, &pulled, &ctx(pose));
    assert!(strokes(&a).is_empty());
    assert!(a.iter().any(|x| matches!(x, XrAction::View(_))), "{a:?}");
    // Brushing turned off mid-stroke ends the stroke.
    let mut g = XrGestures::default();
    g.map(&idle, &pulled, &brushing);
    let s = strokes(&g.map(&pulled, &pulled, &ctx(pose)));
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].phase, StrokePhase::End);
}

#[test]
fn a_stroke_begun_on_the_slice_in_space_paints_a_disc_in_that_slice() {
    use stratum::app::actions::{BrushTool, StrokePhase};
    use stratum::app::xr::input::brush_tip;
    use stratum::app::xr::quad::QuadPlane;
    use stratum_core::image::view::Plane;
    let pose = AnatomyPose::default();
    let left = hand_at(Vec3::new(-0.2, 1.1, -0.4));
    let at = |p: Vec3, trigger: f32| HandSnapshot {
        trigger,
        ..hand_at(p)
    };
    let (p0, p1) = (Vec3::new(0.1, 1.0, -0.4), Vec3::new(0.13, 1.02, -0.42));
    let tip = |p: Vec3| pose.world_to_lps(brush_tip(&at(p, 0.0).aim));
    let t0 = tip(p0);
    // An axial slice 1 mm below the tip (LPS z), 100 mm square around it.
    let quad = QuadPlane {
        plane: Plane::Axial,
        corner: [t0[0] - 50.0, t0[1] - 50.0, t0[2] - 1.0],
        u: [100.0, 0.0, 0.0],
        v: [0.0, 100.0, 0.0],
    };
    let brushing = InputContext {
        pose,
        brush: Some(BrushTool::Add),
        brush_radius_mm: 4.0,
        reslice: Some(quad),
        ..default()
    };
    let on_slice = |p: [f64; 3]| [p[0], p[1], t0[2] - 1.0];
    let mut g = XrGestures::default();
    let (idle, pulled) = (snapshot(left, at(p0, 0.0)), snapshot(left, at(p0, 1.0)));
    let s = strokes(&g.map(&idle, &pulled, &brushing));
    assert_eq!(s.len(), 1);
    // Add on the slice is the slice views' Paint, in the axial plane, at
    // the tip moved square onto the slice.
    assert_eq!(s[0].phase, StrokePhase::Begin);
    assert_eq!(s[0].tool, BrushTool::Paint);
    assert_eq!(s[0].plane, Some(Plane::Axial));
    let d = (0..3)
        .map(|k| (s[0].point[k] - on_slice(t0)[k]).abs())
        .fold(0.0, f64::max);
    assert!(d < 1e-9, "{:?}", s[0].point);
    // The hand moves off the plane (2 cm up): the samples stay on it.
    let moved = snapshot(left, at(p1, 1.0));
    let s = strokes(&g.map(&pulled, &moved, &brushing));
    assert_eq!(s[0].phase, StrokePhase::Sample);
    assert_eq!(s[0].plane, Some(Plane::Axial));
    assert!((s[0].point[2] - (t0[2] - 1.0)).abs() < 1e-9);
    assert!((s[0].point[0] - tip(p1)[0]).abs() < 1e-9);
    let released = snapshot(left, at(p1, 0.0));
    let s = strokes(&g.map(&moved, &released, &brushing));
    assert_eq!(s[0].phase, StrokePhase::End);
    assert_eq!(s[0].plane, Some(Plane::Axial));
    assert_eq!(g.stroke_on, None);
    // Begun away from the slice (the ball does not reach it): the 3D ball.
    let far = InputContext {
        reslice: Some(QuadPlane {
            corner: [quad.corner[0], quad.corner[1], t0[2] - 9.0],
            ..quad
        }),
        ..brushing
    };
    let mut g = XrGestures::default();
    let s = strokes(&g.map(&idle, &pulled, &far));
    assert_eq!(s[0].tool, BrushTool::Add);
    assert_eq!(s[0].plane, None);
    assert_eq!(s[0].point, t0);
    // Beside the quad (past its edge) is not on it either.
    let beside = InputContext {
        reslice: Some(QuadPlane {
            corner: [t0[0] + 1.0, quad.corner[1], quad.corner[2]],
            ..quad
        }),
        ..brushing
    };
    let mut g = XrGestures::default();
    assert_eq!(strokes(&g.map(&idle, &pulled, &beside))[0].plane, None);
}

#[test]
fn a_flick_of_the_left_thumbstick_undoes_and_the_other_way_redoes_once_per_flick() {
    let mut g = XrGestures::default();
    let pose = AnatomyPose::default();
    let rest = hand_at(Vec3::new(-0.2, 1.0, -0.3));
    let right = hand_at(Vec3::new(0.2, 1.0, -0.3));
    let stick = |x: f32| {
        snapshot(
            HandSnapshot {
                thumbstick: Vec2::new(x, 0.0),
                ..rest
            },
            right,
        )
    };
    let undo = vec![XrAction::History(HistoryAction::Undo)];
    let redo = vec![XrAction::History(HistoryAction::Redo)];
    assert_eq!(g.map(&stick(0.0), &stick(-0.9), &ctx(pose)), undo);
    // Held over: nothing more; back to the middle and again: one more.
    assert!(g.map(&stick(-0.9), &stick(-1.0), &ctx(pose)).is_empty());
    assert!(g.map(&stick(-1.0), &stick(0.0), &ctx(pose)).is_empty());
    assert_eq!(g.map(&stick(0.0), &stick(-0.8), &ctx(pose)), undo);
    assert_eq!(g.map(&stick(0.0), &stick(0.95), &ctx(pose)), redo);
    // A thumb resting off centre does nothing; nor does an untracked hand.
    assert!(g.map(&stick(0.0), &stick(-0.5), &ctx(pose)).is_empty());
    let lost = snapshot(
        HandSnapshot {
            tracked: false,
            thumbstick: Vec2::new(-1.0, 0.0),
            ..rest
        },
        right,
    );
    assert!(g.map(&stick(0.0), &lost, &ctx(pose)).is_empty());
    // The right thumbstick's flick stays the slice's, not the history's.
    let right_flick = snapshot(
        rest,
        HandSnapshot {
            thumbstick: Vec2::new(-0.9, 0.0),
            ..right
        },
    );
    assert_eq!(
        g.map(&stick(0.0), &right_flick, &ctx(pose)),
        vec![XrAction::Reslice(ResliceAction::NextPlane(-1))]
    );
}
