//! Another Stratum joins a live session, for real on loopback: the app
//! (headless pipeline) joins a host serving over the real WebSocket server,
//! receives the scan and the document, and its label map follows the
//! host's strokes and undo bit for bit, and cuts where the presenter's clip
//! planes cut; handed the pen, its own brush
//! strokes and undo reach the host's document. And `stratum join` (the
//! windowed app, under Xvfb) following a `stratum live` host ends with the
//! label map the host's session has (the same SHA-256).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use bevy::prelude::*;
use stratum::app::PipelinePlugins;
use stratum::app::actions::{BrushAction, BrushTool, ClipKind, HistoryAction, StrokePhase};
use stratum::app::features::avatars::{
    AvatarPart, Part, RemoteAvatars, model_pose, world_transform,
};
use stratum::app::features::clip::ClipSettings;
use stratum::app::features::join::{JoinRequest, LiveJoin};
use stratum::app::features::sculpt::BrushSettings;
use stratum::app::features::session::autosave::AutosaveConfig;
use stratum::app::state::document::SegmentIndex;
use stratum::app::state::segments::ToolSettings;
use stratum::app::state::space::AnatomyPose;
use stratum::app::state::study::Study;
use stratum_core::document::{Document, Edit};
use stratum_core::edit::{Brush, BrushAction as CoreBrushAction, BrushShape};
use stratum_core::live::crypto::{self, Header};
use stratum_core::live::server::{Connection, Server};
use stratum_core::live::{
    AvatarPose, Event, Follower, Host, HostOptions, Message, keys_from_link, labels_digest,
};
use stratum_core::segment::LabelMap;
use stratum_core::volume::{Geometry, Volume, Voxels};

use crate::live::KillOnDrop;

pub(crate) fn headless_app() -> App {
    let mut app = App::new();
    app.add_plugins((MinimalPlugins, AssetPlugin::default()))
        .init_asset::<Mesh>()
        .init_asset::<stratum::app::features::clip::SegmentMaterial>()
        .init_asset::<Image>()
        .insert_resource(AutosaveConfig { root: None })
        .add_plugins(PipelinePlugins);
    app.update();
    app
}

/// A 40³ scan (a bright ball in soft tissue) with one empty segment.
pub(crate) fn host_document() -> Document {
    let data = ndarray::Array3::from_shape_fn((40, 40, 40), |(z, y, x)| {
        let d = |v: usize| v as f64 - 20.0;
        if d(x).powi(2) + d(y).powi(2) + d(z).powi(2) <= 14.0f64.powi(2) {
            300i16
        } else {
            40
        }
    });
    let g = Geometry::default();
    let v = std::sync::Arc::new(Volume::new(Voxels::I16(data), g, "CT"));
    let mut doc = Document::new(Some(v), LabelMap::empty((40, 40, 40), g)).unwrap();
    doc.apply(Edit::AddEmpty).unwrap();
    doc
}

pub(crate) fn stroke(a: [f64; 3], b: [f64; 3]) -> Vec<Edit> {
    vec![
        Edit::StrokeBegin {
            segment: 1,
            brush: Brush {
                radius_mm: 3.0,
                shape: BrushShape::Sphere,
                action: CoreBrushAction::Paint,
                intensity: None,
                overwrite: false,
            },
            point: a,
            name: "Paint".into(),
        },
        Edit::StrokeTo { point: b },
        Edit::StrokeEnd,
    ]
}

/// Runs frames until `done` holds, failing after `limit`.
pub(crate) fn frames_until(
    app: &mut App,
    limit: Duration,
    what: &str,
    mut done: impl FnMut(&mut App) -> bool,
) {
    let start = Instant::now();
    while !done(app) {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        app.update();
        std::thread::sleep(Duration::from_millis(2));
    }
}

pub(crate) fn app_matches(doc: &Document) -> impl FnMut(&mut App) -> bool + '_ {
    move |app: &mut App| {
        app.world().get_resource::<Study>().is_some_and(|s| {
            s.doc.labels().as_ref() == doc.labels().as_ref()
                && s.doc.history().len() == doc.history().len()
                && s.doc.history().applied() == doc.history().applied()
        })
    }
}

/// Applies what the server passed on from participants to the host's
/// document (`n` edits), running the app's frames meanwhile (it sends
/// what the user did once a frame).
fn apply_upstream(app: &mut App, doc: &mut Document, edits: &Receiver<Edit>, n: usize) {
    let start = Instant::now();
    let mut got = 0;
    while got < n {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{got} of the pen holder's {n} edits reached the host"
        );
        match edits.try_recv() {
            Ok(e) => {
                doc.apply(e).unwrap();
                got += 1;
            }
            Err(_) => {
                app.update();
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }
}

#[test]
fn a_joined_app_follows_the_hosts_strokes_undo_and_clip_planes_and_with_the_pen_its_strokes_reach_the_host()
 {
    let mut doc = host_document();
    let host = Host::start(&mut doc, &HostOptions::default()).unwrap();
    let (server, edits) = Server::start(
        host.clone(),
        "127.0.0.1:0".parse().unwrap(),
        "<html></html>".into(),
    )
    .unwrap();
    let (link, _) = server.links(None);
    let mut app = headless_app();
    app.world_mut().write_message(JoinRequest {
        link: link.clone(),
        name: "Second Stratum".into(),
    });
    let limit = Duration::from_secs(120);
    frames_until(&mut app, limit, "the session's document", app_matches(&doc));

    // The presenter cuts with an axial plane and a tilted one: the app cuts
    // where the presenter does, the axial plane in the axial slot.
    let axial = stratum_core::view::ClipPlane::new([0.0, 0.0, 1.0], [0.0, 0.0, 5.0]);
    let tilted = stratum_core::view::ClipPlane::new([0.6, -0.8, 0.0], [2.0, 1.0, 0.0]);
    host.view(Event::Clip {
        planes: [tilted, axial]
            .iter()
            .map(stratum_core::live::ClipPlane::from_view)
            .collect(),
    })
    .unwrap();
    let cuts_like = |planes: Vec<stratum_core::view::ClipPlane>| {
        move |app: &mut App| {
            let clip = app.world().resource::<ClipSettings>();
            let active: Vec<_> = clip.active().map(|(_, p)| *p).collect();
            active.len() == planes.len()
                && planes.iter().all(|p| {
                    active.iter().any(|a| {
                        [[0.0, 0.0, 0.0], [3.0, -4.0, 9.0], [-6.0, 2.0, -1.0]]
                            .iter()
                            .all(|&x| (a.distance(x) - p.distance(x)).abs() < 1e-6)
                    })
                })
        }
    };
    frames_until(
        &mut app,
        limit,
        "the presenter's clip planes",
        cuts_like(vec![axial, tilted]),
    );
    {
        let clip = app.world().resource::<ClipSettings>();
        let axial_slot = clip
            .slots
            .iter()
            .find(|s| s.enabled && s.kind == ClipKind::Axial)
            .expect("the axial plane in the axial slot");
        assert!((axial_slot.plane.distance([0.0, 0.0, 5.0])).abs() < 1e-6);
        assert_eq!(
            clip.slots
                .iter()
                .filter(|s| s.enabled && s.kind == ClipKind::Oblique)
                .count(),
            1
        );
    }
    // The presenter takes the cuts away: the app shows the whole model again.
    host.view(Event::Clip { planes: vec![] }).unwrap();
    frames_until(
        &mut app,
        limit,
        "the clip planes taken away",
        cuts_like(vec![]),
    );

    // The host paints, then undoes: the app follows bit for bit.
    for e in stroke([-4.0, -2.0, 0.0], [6.0, 3.0, 2.0]) {
        doc.apply(e).unwrap();
    }
    assert!(doc.voxel_count(1) > 0);
    frames_until(&mut app, limit, "the host's stroke", app_matches(&doc));
    let digest = |app: &App| labels_digest(app.world().resource::<Study>().doc.labels());
    assert_eq!(digest(&app), labels_digest(doc.labels()));
    doc.apply(Edit::Undo).unwrap();
    frames_until(&mut app, limit, "the host's undo", app_matches(&doc));
    assert_eq!(doc.voxel_count(1), 0);

    // The presenter hands the app the pen.
    let me = host
        .participants()
        .0
        .into_iter()
        .find(|p| p.name == "Second Stratum")
        .expect("the app introduced itself");
    host.give_pen(Some(me.id)).unwrap();
    frames_until(&mut app, limit, "the pen", |app| {
        app.world()
            .resource::<LiveJoin>()
            .status()
            .is_some_and(|s| s.you_hold_pen)
    });
    // The user paints segment 1 with the brush.
    frames_until(&mut app, limit, "the segment's entity", |app| {
        app.world().resource::<SegmentIndex>().get(1).is_some()
    });
    let seg = app.world().resource::<SegmentIndex>().get(1).unwrap();
    app.world_mut().resource_mut::<ToolSettings>().selected = Some(seg);
    app.world_mut().resource_mut::<BrushSettings>().diameter_mm = 7.0;
    for (phase, p) in [
        (StrokePhase::Begin, [-8.0, 0.0, -3.0]),
        (StrokePhase::Sample, [5.0, 4.0, -3.0]),
        (StrokePhase::End, [5.0, 4.0, -3.0]),
    ] {
        app.world_mut().write_message(BrushAction {
            phase,
            tool: BrushTool::Paint,
            point: p,
            plane: None,
        });
        app.update();
    }
    let painted = app.world().resource::<Study>().doc.voxel_count(1);
    assert!(painted > 0);
    // Its stroke reaches the host, whose document then holds it too.
    apply_upstream(&mut app, &mut doc, &edits, 3);
    assert_eq!(doc.voxel_count(1), painted);
    frames_until(&mut app, limit, "the stroke's echo", app_matches(&doc));
    assert_eq!(digest(&app), labels_digest(doc.labels()));
    // Its undo too.
    app.world_mut().write_message(HistoryAction::Undo);
    app.update();
    apply_upstream(&mut app, &mut doc, &edits, 1);
    assert_eq!(doc.voxel_count(1), 0);
    frames_until(&mut app, limit, "the undo's echo", app_matches(&doc));
    // Everything the app did went through the host once: no stray edit.
    for _ in 0..20 {
        app.update();
    }
    assert!(edits.try_recv().is_err());
    assert_eq!(digest(&app), labels_digest(doc.labels()));

    // The app joins again (what Join again does after a dropped
    // connection): its pen token gets the pen back on the new connection,
    // the presenter doing nothing, and its next stroke reaches the host.
    let before = host.pen().expect("the app holds the pen");
    app.world_mut().write_message(JoinRequest {
        link: link.clone(),
        name: "Second Stratum".into(),
    });
    frames_until(&mut app, limit, "the pen back after joining again", |app| {
        app.world()
            .resource::<LiveJoin>()
            .status()
            .is_some_and(|s| s.you_hold_pen && s.connected)
            && host.pen().is_some_and(|p| p != before)
    });
    frames_until(&mut app, limit, "the document again", app_matches(&doc));
    frames_until(&mut app, limit, "the segment's entity again", |app| {
        app.world().resource::<SegmentIndex>().get(1).is_some()
    });
    let seg = app.world().resource::<SegmentIndex>().get(1).unwrap();
    app.world_mut().resource_mut::<ToolSettings>().selected = Some(seg);
    for (phase, p) in [
        (StrokePhase::Begin, [-8.0, 0.0, -3.0]),
        (StrokePhase::Sample, [5.0, 4.0, -3.0]),
        (StrokePhase::End, [5.0, 4.0, -3.0]),
    ] {
        app.world_mut().write_message(BrushAction {
            phase,
            tool: BrushTool::Paint,
            point: p,
            plane: None,
        });
        app.update();
    }
    let painted = app.world().resource::<Study>().doc.voxel_count(1);
    assert!(painted > 0);
    apply_upstream(&mut app, &mut doc, &edits, 3);
    assert_eq!(doc.voxel_count(1), painted);
    frames_until(
        &mut app,
        limit,
        "the stroke's echo after joining again",
        app_matches(&doc),
    );
    assert_eq!(digest(&app), labels_digest(doc.labels()));
    app.world_mut().resource_mut::<LiveJoin>().leave();
    host.stop(&mut doc);
    server.stop();
}

/// The avatar part entities of participant `from` (part, transform, shown).
fn avatar_parts(app: &mut App, from: u64) -> Vec<(Part, Transform, bool)> {
    let mut q = app
        .world_mut()
        .query::<(&AvatarPart, &Transform, &Visibility)>();
    q.iter(app.world())
        .filter(|(p, _, _)| p.from == from)
        .map(|(p, t, v)| (p.part, *t, *v != Visibility::Hidden))
        .collect()
}

#[test]
fn a_joined_app_shows_the_presenters_and_a_participants_avatars_where_they_were_sent_and_removes_them_when_they_leave()
 {
    let mut doc = host_document();
    let host = Host::start(&mut doc, &HostOptions::default()).unwrap();
    let (server, _edits) = Server::start(
        host.clone(),
        "127.0.0.1:0".parse().unwrap(),
        "<html></html>".into(),
    )
    .unwrap();
    let (link, _) = server.links(None);
    host.set_presenter_name("Dr Host");
    // The presenter looks to the patient's right (a quarter turn about
    // LPS z from looking posterior), the right controller beside them.
    let half = std::f64::consts::FRAC_PI_4;
    let head = AvatarPose {
        position: [12.0, -300.0, 40.0],
        rotation: [0.0, 0.0, half.sin(), half.cos()],
    };
    let right = AvatarPose {
        position: [60.0, -250.0, 0.0],
        rotation: [0.0, 0.0, 0.0, 1.0],
    };
    host.presenter_avatar(Some(head), None, Some(right))
        .unwrap();
    let mut app = headless_app();
    app.world_mut().write_message(JoinRequest {
        link: link.clone(),
        name: "Second Stratum".into(),
    });
    let limit = Duration::from_secs(120);
    frames_until(&mut app, limit, "the session's document", app_matches(&doc));
    frames_until(&mut app, limit, "the presenter's avatar", |app| {
        avatar_parts(app, 0).len() == 3
    });
    let close = |a: Vec3, b: Vec3| (a - b).length() < 1e-4;
    let pose = *app.world().resource::<AnatomyPose>();
    let parts = avatar_parts(&mut app, 0);
    let (_, h, shown) = parts.iter().find(|p| p.0 == Part::Head).unwrap();
    assert!(*shown);
    // LPS (12, -300, 40) mm is world (0.012, 0.040, 0.300) m at the
    // identity pose.
    assert!(
        close(h.translation, pose.lps_to_world(head.position)),
        "{h:?}"
    );
    assert!(
        close(h.translation, Vec3::new(0.012, 0.040, 0.300)),
        "{h:?}"
    );
    // Its nose (-Z) points to the patient's right: LPS -x, world -X.
    assert!(close(h.rotation * Vec3::NEG_Z, Vec3::NEG_X), "{h:?}");
    let (_, r, shown) = parts.iter().find(|p| p.0 == Part::Right).unwrap();
    assert!(
        *shown && close(r.translation, Vec3::new(0.060, 0.0, 0.250)),
        "{r:?}"
    );
    let (_, _, shown) = parts.iter().find(|p| p.0 == Part::Left).unwrap();
    assert!(!*shown, "an untracked hand is not drawn");
    let named = app.world().resource::<RemoteAvatars>().0.clone();
    assert!(
        named.iter().any(|a| a.from == 0 && a.name == "Dr Host"),
        "{named:?}"
    );

    // The presenter steps to the left: the head follows.
    let moved = AvatarPose {
        position: [200.0, -300.0, 40.0],
        ..head
    };
    host.presenter_avatar(Some(moved), None, Some(right))
        .unwrap();
    frames_until(&mut app, limit, "the presenter's avatar moving", |app| {
        avatar_parts(app, 0)
            .iter()
            .any(|(p, t, _)| *p == Part::Head && close(t.translation, Vec3::new(0.2, 0.04, 0.3)))
    });

    // Another participant (a headset on a core follower) sends its head;
    // the app shows it; it drops its connection: gone.
    let key = keys_from_link(&link).unwrap().0;
    let mut other = Connection::open(&link).unwrap();
    let mut o = Follower::new(key);
    while o.me.is_none() {
        let frame = other.next(Duration::from_secs(60)).unwrap().unwrap();
        o.receive(&frame).unwrap();
    }
    let o_id = o.me.unwrap();
    other.send(&o.introduce("Dr Other")).unwrap();
    other.send(&o.avatar(Some(right), None, None)).unwrap();
    frames_until(&mut app, limit, "the other participant's avatar", |app| {
        avatar_parts(app, o_id).iter().any(|(p, t, s)| {
            *p == Part::Head && *s && close(t.translation, Vec3::new(0.06, 0.0, 0.25))
        })
    });
    drop(other);
    frames_until(
        &mut app,
        limit,
        "the other participant's avatar gone",
        |app| avatar_parts(app, o_id).is_empty(),
    );
    assert_eq!(avatar_parts(&mut app, 0).len(), 3);

    // The presenter leaves (stops the session): the avatar goes too.
    host.stop(&mut doc);
    server.stop();
    frames_until(&mut app, limit, "the presenter's avatar gone", |app| {
        avatar_parts(app, 0).is_empty()
    });
    assert!(app.world().resource::<RemoteAvatars>().0.is_empty());
    app.world_mut().resource_mut::<LiveJoin>().leave();
}

#[test]
fn an_avatar_pose_goes_to_the_model_frame_and_back_whatever_the_anatomys_pose() {
    let pose = AnatomyPose(Transform {
        translation: Vec3::new(0.3, 0.9, -0.5),
        rotation: Quat::from_rotation_y(0.7) * Quat::from_rotation_x(-0.3),
        scale: Vec3::splat(2.5),
    });
    let eye = Transform::from_xyz(0.1, 1.6, 0.4).looking_at(Vec3::new(0.3, 0.9, -0.5), Vec3::Y);
    let p = model_pose(&pose, &eye);
    let back = world_transform(&pose, &p, 0.18);
    assert!(
        (back.translation - eye.translation).length() < 1e-3,
        "{back:?} {eye:?}"
    );
    assert!(
        back.rotation.angle_between(eye.rotation) < 1e-3,
        "{back:?} {eye:?}"
    );
    // The same head seen by someone whose model stands elsewhere: where it
    // is relative to the anatomy is kept.
    let other = AnatomyPose::default();
    let there = world_transform(&other, &p, 0.18);
    let centre_here = pose.lps_to_world([0.0; 3]);
    let centre_there = other.lps_to_world([0.0; 3]);
    let rel_here = pose.0.rotation.inverse() * (eye.translation - centre_here) / 2.5;
    let rel_there = there.translation - centre_there;
    assert!(
        (rel_here - rel_there).length() < 1e-3,
        "{rel_here} {rel_there}"
    );
}

/// `stratum live` of the demo's organs on a free loopback port: the
/// process and its follower's and presenter's links.
fn stratum_live() -> (KillOnDrop, String, String) {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let mut live = Command::new(env!("CARGO_BIN_EXE_stratum"));
    live.arg("live")
        .arg(demo.join("example_ct.nii.gz"))
        .arg("--labels")
        .arg(demo.join("example_seg_fast_force_split.nii.gz"))
        .arg("--names")
        .arg(demo.join("labels_total_ct.tsv"))
        .args(["--reduce", "0.95", "--name", "Dr Host"]);
    crate::live::start_live(live)
}

/// The trace's lines so far.
fn trace_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Waits (bounded) until the app's trace has a line, past the first
/// `after`, whose label digest is `digest`, the app still running.
fn wait_for_digest(app: &mut Child, trace: &Path, digest: &str, after: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(400);
    loop {
        if trace_lines(trace)
            .iter()
            .skip(after)
            .any(|l| l["labels"].as_str() == Some(digest))
        {
            return;
        }
        if let Some(status) = app.try_wait().unwrap() {
            panic!("the joined app exited ({status}) before {what}");
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the app's trace never reached the host's label map: {:?}",
            trace_lines(trace).last()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Reads the host's frames into `f` until `done` holds (bounded).
fn pump(c: &mut Connection, f: &mut Follower, mut done: impl FnMut(&Follower) -> bool) {
    while !done(f) {
        let frame = c
            .next(Duration::from_secs(60))
            .unwrap()
            .expect("a frame from the host within 60 s");
        f.receive(&frame).unwrap();
    }
}

#[test]
fn stratum_join_follows_a_stratum_live_host_to_the_same_label_map() {
    if !crate::window::available() {
        return;
    }
    let (_host, follow, present) = stratum_live();
    let tmp = tempfile::tempdir().unwrap();
    let trace = tmp.path().join("join.jsonl");
    let display = crate::window::Display::start(1024, 768);
    let mut cmd = crate::window::app_command(&display, tmp.path());
    cmd.arg("join")
        .arg(&follow)
        .args(["--name", "Joined app", "--size", "800x600", "--trace"])
        .arg(&trace)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut app = KillOnDrop(cmd.spawn().expect("stratum join starts"));

    // This test is a third participant: it follows too, and, handed the
    // pen by the presenter, paints; the host applies it for everyone.
    let key = keys_from_link(&follow).unwrap().0;
    let mut conn = Connection::open(&follow).unwrap();
    let mut me = Follower::new(key);
    pump(&mut conn, &mut me, |f| {
        f.me.is_some() && f.document().is_some()
    });
    let start = labels_digest(me.document().unwrap().labels());
    wait_for_digest(&mut app.0, &trace, &start, 0, "the session's document");
    conn.send(&me.introduce("Test")).unwrap();
    pump(&mut conn, &mut me, |f| {
        f.participants.iter().any(|p| p.name == "Joined app") && f.presenter == "Dr Host"
    });

    let (_, p) = keys_from_link(&present).unwrap();
    let mut presenter = Connection::open(&present).unwrap();
    let give = crypto::seal(
        &p.unwrap(),
        Header { sender: 42, seq: 1 },
        &Message::Event(Event::GivePen { id: me.me }).to_bytes(),
    );
    presenter.send(&give).unwrap();
    pump(&mut conn, &mut me, |f| f.holds_pen());
    // A stroke through the liver's side of the demo (LPS mm near the centre).
    let doc = me.document().unwrap();
    let centre = {
        let g = doc.labels().geometry;
        let (z, y, x) = doc.labels().dim();
        g.index_to_lps([x as f64 / 2.0, y as f64 / 2.0, z as f64 / 2.0])
    };
    let a = [centre[0] - 20.0, centre[1], centre[2]];
    let b = [centre[0] + 20.0, centre[1] + 5.0, centre[2]];
    let mut edits = stroke(a, b);
    // Painting into the first segment of the table.
    let first = doc.segments()[0].id;
    if let Edit::StrokeBegin { segment, .. } = &mut edits[0] {
        *segment = first;
    }
    let seen = trace_lines(&trace).len();
    let (_, frame) = me.edit(edits).unwrap();
    conn.send(&frame).unwrap();
    pump(&mut conn, &mut me, |f| f.outstanding() == 0);
    let painted = labels_digest(me.document().unwrap().labels());
    assert_ne!(painted, start, "the stroke changed the label map");
    wait_for_digest(&mut app.0, &trace, &painted, seen, "the stroke");
    // Undo from the pen holder: the app goes back to the start.
    let seen = trace_lines(&trace).len();
    let (_, frame) = me.edit(vec![Edit::Undo]).unwrap();
    conn.send(&frame).unwrap();
    pump(&mut conn, &mut me, |f| f.outstanding() == 0);
    assert_eq!(labels_digest(me.document().unwrap().labels()), start);
    wait_for_digest(&mut app.0, &trace, &start, seen, "the undo");
    let lines = trace_lines(&trace);
    assert!(lines.iter().any(|l| l["event"] == "edit"), "{lines:?}");
}
