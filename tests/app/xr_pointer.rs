//! The world panel's laser pointer without a runtime: scripted aim rays
//! meet a panel quad, and trigger pulls become the egui events a mouse
//! would send; a trigger on the panel picks nothing in the scene.

use bevy::prelude::*;
use bevy_egui::egui;
use stratum::app::actions::ViewAction;
use stratum::app::state::space::AnatomyPose;
use stratum::app::xr::input::{HandSnapshot, InputContext, XrAction, XrGestures, XrSnapshot};
use stratum::app::xr::panel::wrist_pose;
use stratum::app::xr::pointer::{LaserPointer, PanelQuad};

/// A 20 x 25 cm panel of 400 x 500 pixels, 1.3 m up and 40 cm ahead,
/// facing the user (+Z).
fn quad() -> PanelQuad {
    PanelQuad {
        transform: Transform::from_xyz(0.0, 1.3, -0.4),
        size_m: Vec2::new(0.2, 0.25),
        pixels: Vec2::new(400.0, 500.0),
    }
}

fn ray(from: Vec3, to: Vec3) -> Ray3d {
    Ray3d::new(from, Dir3::new(to - from).unwrap())
}

#[test]
fn an_aim_ray_meets_the_panel_at_the_pixel_it_points_at() {
    let q = quad();
    let eye = Vec3::new(0.0, 1.3, 0.0);
    let (px, t) = q.hit(ray(eye, q.transform.translation)).unwrap();
    assert!((px - Vec2::new(200.0, 250.0)).length() < 1e-3, "{px}");
    assert!((t - 0.4).abs() < 1e-5);
    // 5 cm right and 10 cm up of the centre: a quarter width right, 0.4 of
    // the height up from the middle.
    let target = q.transform.translation + Vec3::new(0.05, 0.10, 0.0);
    let (px, _) = q.hit(ray(eye + Vec3::new(0.1, 0.0, 0.0), target)).unwrap();
    assert!((px - Vec2::new(300.0, 50.0)).length() < 1e-2, "{px}");
    assert!((q.world_point(px) - target).length() < 1e-5);
    // Beside the quad: the plane is met, the quad is not.
    let beside = q.transform.translation + Vec3::new(0.2, 0.0, 0.0);
    assert!(q.hit(ray(eye, beside)).is_none());
    assert!(q.hit_plane(ray(eye, beside)).is_some());
    // From behind and pointing away: nothing.
    let behind = Vec3::new(0.0, 1.3, -0.8);
    assert!(q.hit_plane(ray(behind, q.transform.translation)).is_none());
    assert!(q.hit_plane(ray(eye, eye + Vec3::Z)).is_none());
}

#[test]
fn a_turned_panel_keeps_its_pixels_on_its_face() {
    // Turned 90 degrees about +Y: the face looks along +X.
    let mut q = quad();
    q.transform.rotation = Quat::from_rotation_y(std::f32::consts::FRAC_PI_2);
    for px in [
        Vec2::new(10.0, 20.0),
        Vec2::new(390.0, 480.0),
        Vec2::new(200.0, 250.0),
    ] {
        let w = q.world_point(px);
        let from = w + q.transform.rotation * Vec3::Z * 0.3 + Vec3::new(0.0, 0.02, 0.0);
        let (hit, _) = q.hit(ray(from, w)).unwrap();
        assert!((hit - px).length() < 1e-2, "{px} -> {hit}");
    }
}

fn pressed(e: &egui::Event) -> Option<(egui::Pos2, bool)> {
    match e {
        egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            ..
        } => Some((*pos, *pressed)),
        _ => None,
    }
}

#[test]
fn a_trigger_pull_on_the_panel_is_a_click_where_the_ray_points() {
    let mut p = LaserPointer::default();
    let at = Vec2::new(120.0, 340.0);
    // The ray arrives: the pointer moves there, nothing is pressed.
    let e = p.update(Some(at), true, 0.0);
    assert_eq!(e, vec![egui::Event::PointerMoved(egui::pos2(120.0, 340.0))]);
    assert!(p.owns_trigger());
    // Still: no new events.
    assert!(p.update(Some(at), true, 0.1).is_empty());
    // Pull: pressed at the point.
    let e = p.update(Some(at), true, 0.9);
    assert_eq!(
        e.iter().filter_map(pressed).collect::<Vec<_>>(),
        vec![(egui::pos2(120.0, 340.0), true)]
    );
    // Half let go, above the release level: still held.
    assert!(
        p.update(Some(at), true, 0.6)
            .iter()
            .all(|e| pressed(e).is_none())
    );
    assert!(p.pressed);
    // Let go: released at the same point, a whole click.
    let e = p.update(Some(at), true, 0.1);
    assert_eq!(
        e.iter().filter_map(pressed).collect::<Vec<_>>(),
        vec![(egui::pos2(120.0, 340.0), false)]
    );
    // The ray leaves: the pointer is gone and the trigger is the scene's again.
    let e = p.update(None, false, 0.0);
    assert_eq!(e, vec![egui::Event::PointerGone]);
    assert!(!p.owns_trigger());
}

#[test]
fn a_trigger_held_before_the_ray_arrives_does_not_click() {
    let mut p = LaserPointer::default();
    assert!(p.update(None, false, 1.0).is_empty());
    let e = p.update(Some(Vec2::new(50.0, 50.0)), true, 1.0);
    assert!(e.iter().all(|e| pressed(e).is_none()), "{e:?}");
    assert!(!p.pressed);
    // Let go and pull again on the panel: now it clicks.
    p.update(Some(Vec2::new(50.0, 50.0)), true, 0.0);
    let e = p.update(Some(Vec2::new(50.0, 50.0)), true, 1.0);
    assert_eq!(e.iter().filter_map(pressed).count(), 1);
}

#[test]
fn a_press_drags_on_past_the_panel_edge_and_lets_go_there() {
    let mut p = LaserPointer::default();
    p.update(Some(Vec2::new(390.0, 100.0)), true, 0.0);
    p.update(Some(Vec2::new(390.0, 100.0)), true, 1.0);
    // Off the right edge while held (a slider dragged to its end).
    let e = p.update(Some(Vec2::new(430.0, 100.0)), false, 1.0);
    assert_eq!(e, vec![egui::Event::PointerMoved(egui::pos2(430.0, 100.0))]);
    assert!(p.owns_trigger());
    let e = p.update(Some(Vec2::new(440.0, 100.0)), false, 0.0);
    let released: Vec<_> = e.iter().filter_map(pressed).collect();
    assert_eq!(released, vec![(egui::pos2(440.0, 100.0), false)]);
    assert_eq!(e.last(), Some(&egui::Event::PointerGone));
    assert!(!p.owns_trigger());
}

#[test]
fn a_trigger_on_the_panel_picks_nothing_in_the_scene() {
    let hand = HandSnapshot {
        tracked: true,
        aim: Transform::from_xyz(0.2, 1.3, -0.3),
        grip: Transform::from_xyz(0.2, 1.3, -0.3),
        ..default()
    };
    let idle = XrSnapshot {
        head: Transform::from_xyz(0.0, 1.6, 0.0),
        hands: [HandSnapshot::default(), hand],
        dt: 0.1,
    };
    let mut pulled = idle;
    pulled.hands[1].trigger = 1.0;
    let picks = |on_panel: bool| {
        let ctx = InputContext {
            pose: AnatomyPose::default(),
            on_panel: [false, on_panel],
            ..default()
        };
        XrGestures::default()
            .map(&idle, &pulled, &ctx)
            .into_iter()
            .filter(|a| matches!(a, XrAction::View(ViewAction::Pick { .. })))
            .count()
    };
    assert_eq!(picks(false), 1);
    assert_eq!(picks(true), 0);
}

#[test]
fn the_wrist_panel_faces_the_eyes_above_the_left_hand() {
    let head = Transform::from_xyz(0.0, 1.6, 0.0);
    // A left hand turned every which way: the panel's face still looks at
    // the eyes and its top stays up.
    for rot in [
        Quat::IDENTITY,
        Quat::from_rotation_z(0.8),
        Quat::from_euler(EulerRot::YXZ, 0.7, -0.4, 0.3),
    ] {
        let grip = Transform::from_xyz(-0.2, 1.2, -0.35).with_rotation(rot);
        let t = wrist_pose(&grip, &head);
        let to_eye = (head.translation - t.translation).normalize();
        let face = t.rotation * Vec3::Z;
        assert!(face.dot(to_eye) > 0.999, "{face} vs {to_eye}");
        assert!((t.rotation * Vec3::X).y.abs() < 1e-4, "the panel rolls");
        assert!((t.translation - grip.translation).length() < 0.2);
    }
}

#[test]
fn a_ruler_label_sits_over_the_midpoint_in_front_of_the_nearer_end() {
    use stratum::app::xr::ruler_labels::label_point;
    let eye = Vec3::new(0.0, 1.6, 0.0);
    // A ruler across a body 50 cm ahead, its ends 10 cm to either side.
    let (a, b) = (Vec3::new(-0.1, 1.1, -0.5), Vec3::new(0.1, 1.1, -0.55));
    let p = label_point(eye, a, b);
    let mid = (a + b) / 2.0;
    // On the line from the eye to the midpoint (the same place in view)...
    let along = (mid - eye).normalize();
    assert!((p - eye).normalize().dot(along) > 0.99999);
    // ...just nearer than the nearer end.
    let near = eye.distance(a).min(eye.distance(b));
    assert!((eye.distance(p) - (near - 0.01)).abs() < 1e-5);
    assert!(eye.distance(p) < eye.distance(mid));
}
