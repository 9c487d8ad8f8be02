//! Join a live session from another Stratum (`stratum join LINK`, File ▸
//! Join live session…): a thread reads the host's encrypted stream
//! (stratum_core::live), the session's scan and document become the open
//! study, and every edit after is applied to it, so its label map stays
//! bit-identical to the host's, undo included. The presenter's camera,
//! pose and clip planes are followed while "Follow presenter" is on. While this Stratum
//! holds the pen, what the user does to the document goes to the host,
//! which applies it for everyone; without the pen a local edit is not
//! shared and the document catches up with the session again.

use std::collections::VecDeque;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bevy::prelude::*;
use stratum_core::document::{Change, Document, Edit, Observer, SegmentProps};
use stratum_core::edit::Step;
use stratum_core::live::server::ConnectionSender;
use stratum_core::live::{Echo, Event, Follower, Message, keys_from_link, labels_digest};

use self::reconnect::Reconnect;
use self::stream::{Incoming, read_session};

use crate::app::actions::{ClipAction, ClipKind};
use crate::app::features::clip::{ClipSettings, MAX_PLANES};
use crate::app::state::document::DocEdit;
use crate::app::state::space::{AnatomyPose, lps_to_world};
use crate::app::state::study::{Study, StudyLoaded, StudySource};
use crate::app::state::viewport::OrbitCamera;

pub mod avatars;
pub mod panel;
mod reconnect;
mod stream;

/// Join the session at `link`, as `name` (what the others see).
#[derive(Message, Clone, Debug)]
pub struct JoinRequest {
    pub link: String,
    pub name: String,
}

/// A session to join as soon as the app starts (`stratum join`), and
/// where to write its trace (JSON lines: the document's arrival and each
/// edit applied, with the label map's digest).
#[derive(Resource, Clone, Debug, Default)]
pub struct JoinOnStart {
    pub request: Option<JoinRequest>,
    pub trace: Option<PathBuf>,
}

/// The joined session, while there is one.
#[derive(Resource)]
pub struct LiveJoin {
    session: Option<Session>,
    /// Follow the presenter's camera and pose.
    pub follow: bool,
    trace: Option<std::fs::File>,
    started: Instant,
    /// The pen's token from the last session left (its link and token):
    /// joining the same link again gets the pen back. Memory only.
    pen_token: Option<(String, String)>,
    /// Joining again by itself after the connection was cut.
    reconnect: Option<Reconnect>,
}

impl Default for LiveJoin {
    fn default() -> Self {
        LiveJoin {
            session: None,
            follow: true,
            trace: None,
            started: Instant::now(),
            pen_token: None,
            reconnect: None,
        }
    }
}

struct Session {
    request: JoinRequest,
    rx: Mutex<Receiver<Incoming>>,
    queue: VecDeque<Incoming>,
    sender: Option<ConnectionSender>,
    stop: Arc<AtomicBool>,
    /// Keeps what the host says about the session; seals this Stratum's
    /// frames to the host and recognises its own edits coming back.
    follower: Follower,
    outbox: Arc<Mutex<Outbox>>,
    /// The anatomy's centre the presenter's pose turns about.
    centre: [f64; 3],
    /// A view event arrived that the camera has not taken yet.
    view_fresh: bool,
    has_document: bool,
    /// The study was put in place last frame: say so now (whatever the
    /// systems' order, it is there for those that read the message).
    announce: bool,
    ended: Option<String>,
}

/// The document's edits made here (not the session's), for the host.
#[derive(Default)]
struct Outbox {
    /// Set while the session's own edits are applied.
    remote: bool,
    edits: Vec<Edit>,
}

/// Watches the joined study's document for the user's own edits.
struct Outgoing(Arc<Mutex<Outbox>>);

impl Observer for Outgoing {
    fn pushed(&mut self, _step: &Step) {}
    fn undone(&mut self) {}
    fn redone(&mut self) {}
    fn props_changed(&mut self, _props: &std::collections::BTreeMap<u16, SegmentProps>) {}
    fn applied(&mut self, edit: &Edit, _change: &Change, _doc: &Document) {
        let mut o = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !o.remote {
            o.edits.push(edit.clone());
        }
    }
}

impl LiveJoin {
    /// The session's state for the panel: who presents, how many follow,
    /// who holds the pen, whether it ended.
    pub fn status(&self) -> Option<JoinStatus> {
        let s = self.session.as_ref()?;
        let f = &s.follower;
        let name_of = |id: u64| {
            f.participants
                .iter()
                .find(|p| p.id == id)
                .map(|p| {
                    if p.name.is_empty() {
                        format!("participant {id}")
                    } else {
                        p.name.clone()
                    }
                })
                .unwrap_or_else(|| format!("participant {id}"))
        };
        Some(JoinStatus {
            presenter: if f.presenter.is_empty() {
                "the presenter".into()
            } else {
                f.presenter.clone()
            },
            viewers: f.viewers,
            connected: s.sender.is_some() && s.has_document,
            you_hold_pen: f.holds_pen(),
            pen: f.pen.filter(|_| !f.holds_pen()).map(name_of),
            ended: s.ended.clone(),
            removed: f.removed,
            reconnecting: self.reconnect.map(|r| r.attempt),
        })
    }

    /// Follow is on again: the view goes back to the presenter's.
    pub fn follow_again(&mut self) {
        if let Some(s) = self.session.as_mut() {
            s.view_fresh = true;
        }
    }

    /// Leaves the session (the document stays open here), and stops
    /// joining again by itself. Its pen token, if it holds one, is kept for
    /// joining the same link again.
    pub fn leave(&mut self) {
        self.reconnect = None;
        self.drop_session();
    }

    /// Closes the connection, keeping the pen's token for the same link.
    fn drop_session(&mut self) {
        if let Some(s) = self.session.take() {
            if let Some(t) = s.follower.pen_token.clone() {
                self.pen_token = Some((s.request.link.clone(), t));
            }
            s.close();
        }
    }

    /// The request that joins this session again (after its connection
    /// dropped): the same link and name.
    pub fn rejoin_request(&self) -> Option<JoinRequest> {
        self.session.as_ref().map(|s| s.request.clone())
    }

    /// Connects to `request`'s session, with the pen's token if the last
    /// session left was the same link.
    fn connect(&mut self, request: JoinRequest) -> Result<Session, String> {
        let token = self
            .pen_token
            .take()
            .filter(|(link, _)| *link == request.link)
            .map(|(_, t)| t);
        connect(request, token)
    }
}

/// What the panel shows.
pub struct JoinStatus {
    pub presenter: String,
    pub viewers: usize,
    pub connected: bool,
    pub you_hold_pen: bool,
    /// Someone else's name, when another participant holds the pen.
    pub pen: Option<String>,
    pub ended: Option<String>,
    pub removed: bool,
    /// The connection was cut and the app is joining again by itself: the
    /// attempt coming (from 1).
    pub reconnecting: Option<u32>,
}

impl Session {
    fn close(&self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(s) = &self.sender {
            s.close();
        }
    }
}

pub struct JoinPlugin;

impl Plugin for JoinPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<LiveJoin>()
            .init_resource::<JoinOnStart>()
            .add_message::<JoinRequest>()
            .add_systems(Startup, join_on_start)
            .add_systems(Update, (join_sync, follow_presenter).chain())
            .add_plugins(avatars::JoinAvatarsPlugin);
    }
}

fn join_on_start(
    start: Res<JoinOnStart>,
    mut join: ResMut<LiveJoin>,
    mut requests: MessageWriter<JoinRequest>,
) {
    if let Some(path) = &start.trace {
        match std::fs::File::create(path) {
            Ok(f) => join.trace = Some(f),
            Err(e) => error!("cannot write the join trace {}: {e}", path.display()),
        }
    }
    if let Some(r) = &start.request {
        requests.write(r.clone());
    }
}

/// Connects (a thread reads the stream; nothing blocks the frame loop);
/// `pen_token` asks for the pen back once connected.
fn connect(request: JoinRequest, pen_token: Option<String>) -> Result<Session, String> {
    let key = keys_from_link(&request.link).map_err(|e| e.to_string())?.0;
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    {
        let (link, key, stop) = (request.link.clone(), key.clone(), stop.clone());
        std::thread::Builder::new()
            .name("live-join".into())
            .spawn(move || read_session(&link, key, &tx, &stop))
            .map_err(|e| format!("cannot start a thread: {e}"))?;
    }
    let mut follower = Follower::new(key);
    follower.pen_token = pen_token;
    Ok(Session {
        request,
        rx: Mutex::new(rx),
        queue: VecDeque::new(),
        sender: None,
        stop,
        follower,
        outbox: Arc::default(),
        centre: [0.0; 3],
        view_fresh: false,
        has_document: false,
        announce: false,
        ended: None,
    })
}

impl LiveJoin {
    fn trace(&mut self, event: &str, study: Option<&Study>, pen: bool) {
        let Some(f) = self.trace.as_mut() else {
            return;
        };
        let mut line = serde_json::json!({
            "t": self.started.elapsed().as_secs_f64(),
            "event": event,
            "pen": pen,
        });
        if let Some(s) = study {
            line["labels"] = labels_digest(s.doc.labels()).into();
            line["history"] = s.doc.history().len().into();
            line["applied"] = s.doc.history().applied().into();
        }
        let _ = writeln!(f, "{line}");
        let _ = f.flush();
    }
}

/// Applies what the session sent, in order, and sends the user's own
/// edits while this Stratum holds the pen.
fn join_sync(
    mut join: ResMut<LiveJoin>,
    mut requests: MessageReader<JoinRequest>,
    mut commands: Commands,
    mut docs: ParamSet<(DocEdit, Option<ResMut<Study>>)>,
    mut loaded: MessageWriter<StudyLoaded>,
) {
    for r in requests.read() {
        join.leave();
        match join.connect(r.clone()) {
            Ok(s) => join.session = Some(s),
            Err(e) => docs
                .p0()
                .notices()
                .error(format!("Joining the live session failed: {e}")),
        }
    }
    let join = &mut *join;
    let Some(s) = join.session.as_mut() else {
        return;
    };
    if let Ok(rx) = s.rx.lock() {
        s.queue.extend(rx.try_iter());
    }
    if s.announce {
        let Some(study) = docs.p1() else {
            return;
        };
        s.announce = false;
        let pen = s.follower.holds_pen();
        loaded.write(StudyLoaded);
        join.trace("document", Some(&study), pen);
        // Its edits apply from the next frame, once the segments are made.
        return;
    }
    let mut resync = false;
    let mut traces: Vec<&'static str> = Vec::new();
    while let Some(item) = s.queue.pop_front() {
        match item {
            Incoming::Connected(sender) => {
                let hello = s.follower.introduce(&s.request.name);
                if let Err(e) = sender.send(&hello) {
                    warn!("live: {e}");
                }
                // Back after a dropped connection: the pen, if it held it.
                if let Some(claim) = s.follower.claim_pen()
                    && let Err(e) = sender.send(&claim)
                {
                    warn!("live: {e}");
                }
                s.sender = Some(sender);
            }
            Incoming::Study(mut study) => {
                study
                    .doc
                    .observe("join", Box::new(Outgoing(s.outbox.clone())));
                s.follower.forget_outstanding();
                s.outbox
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .edits
                    .clear();
                s.has_document = true;
                s.view_fresh = true;
                if join.reconnect.take().is_some() {
                    docs.p0()
                        .notices()
                        .info("Back in the live session: the document is the session's again.");
                    traces.push("reconnected");
                }
                info!(
                    "joined the live session: {} segments",
                    study.doc.segments().len()
                );
                // Not a file here: saving asks where.
                commands.remove_resource::<StudySource>();
                commands.insert_resource(*study);
                s.announce = true;
                // The rest applies to it once it is in place (next frame).
                break;
            }
            Incoming::Message(Message::Edit(bytes)) => match s.follower.echo(&bytes) {
                Echo::Mine => traces.push("echo"),
                Echo::Theirs => {
                    let edit = match Edit::from_bytes(&bytes) {
                        Ok(e) => e,
                        Err(e) => {
                            warn!("live: an edit from the host does not read: {e}");
                            resync = true;
                            break;
                        }
                    };
                    let end = !matches!(edit, Edit::StrokeBegin { .. } | Edit::StrokeTo { .. });
                    s.outbox.lock().unwrap_or_else(|e| e.into_inner()).remote = true;
                    let applied = docs.p0().apply("The presenter's edit", edit);
                    s.outbox.lock().unwrap_or_else(|e| e.into_inner()).remote = false;
                    if applied.is_none() {
                        resync = true;
                        break;
                    }
                    if end {
                        traces.push("edit");
                    }
                }
                Echo::Diverged => {
                    resync = true;
                    break;
                }
            },
            Incoming::Message(Message::Seal) => {
                if let Some(mut study) = docs.p1() {
                    study.doc.seal();
                }
            }
            Incoming::Message(Message::Event(e)) => {
                s.follower.note(&e);
                match &e {
                    Event::Refused { reason } if s.follower.outstanding() > 0 => {
                        warn!("live: the host refused this Stratum's edit: {reason}");
                        resync = true;
                        break;
                    }
                    Event::Scene { centre_mm, .. } => s.centre = *centre_mm,
                    Event::Participants { .. } => traces.push("participants"),
                    e if e.view_kind().is_some() => s.view_fresh = true,
                    _ => {}
                }
            }
            Incoming::Message(_) => {}
            Incoming::Ended { why, by_host } => {
                let now = Instant::now();
                // Cut, not ended: join again by itself, once it had
                // followed the session (a link that never worked is the
                // user's to fix).
                let cut = !by_host && !s.follower.removed;
                let next = match (&join.reconnect, cut) {
                    (_, false) => None,
                    (None, true) if s.has_document => Some(Reconnect::after_cut(now)),
                    (None, true) => None,
                    (Some(r), true) => r.after_failure(now),
                };
                let text = if s.follower.removed {
                    "The presenter removed you from the live session; the document stays open here."
                        .to_string()
                } else if next.is_some() && join.reconnect.is_none() {
                    format!("The connection to the live session was cut ({why}); joining again…")
                } else if cut && join.reconnect.is_some() && next.is_none() {
                    format!(
                        "Could not join the live session again within {} minutes ({why}); the \
                         document stays open here, and Join again tries once more.",
                        reconnect::GIVE_UP_AFTER.as_secs() / 60
                    )
                } else {
                    format!("The live session ended ({why}); the document stays open here.")
                };
                if next.is_none() || join.reconnect.is_none() {
                    docs.p0().notices().info(text);
                }
                traces.push(if next.is_some() {
                    "reconnecting"
                } else {
                    "ended"
                });
                join.reconnect = next;
                s.ended = Some(why);
            }
        }
    }
    // The user's own edits: the host's to apply while this Stratum holds
    // the pen; otherwise not shared, and the document catches up again.
    let mine = std::mem::take(&mut s.outbox.lock().unwrap_or_else(|e| e.into_inner()).edits);
    if !mine.is_empty() && s.ended.is_none() && !resync {
        match (&s.sender, s.follower.holds_pen()) {
            (Some(sender), true) => {
                let batch =
                    Message::Batch(mine.iter().map(|e| Message::Edit(e.to_bytes())).collect());
                let frame = s.follower.upstream(&batch);
                if let Err(e) = sender.send(&frame) {
                    warn!("live: {e}");
                    resync = true;
                }
                traces.push("sent");
            }
            _ => {
                docs.p0().notices().info(
                    "In a live session only the presenter, or whoever holds the pen, edits: \
                     your change was not shared, and the document follows the session again.",
                );
                resync = true;
            }
        }
    }
    let pen = s.follower.holds_pen();
    let due = s.ended.is_some() && join.reconnect.is_some_and(|r| r.due(Instant::now()));
    if due {
        info!(
            "live: joining the session again (attempt {})",
            join.reconnect.map_or(0, |r| r.attempt)
        );
    }
    if resync || due {
        if resync {
            warn!("live: catching up with the session (joining again)");
        }
        let request = s.request.clone();
        join.drop_session();
        match join.connect(request) {
            Ok(s) => join.session = Some(s),
            Err(e) => docs
                .p0()
                .notices()
                .error(format!("Joining the live session again failed: {e}")),
        }
    }
    if join.trace.is_some() {
        for t in traces {
            let study = docs.p1();
            join.trace(t, study.as_deref(), pen);
        }
    }
}

/// Puts the camera, the anatomy and the clip planes where the presenter
/// has them.
fn follow_presenter(
    mut join: ResMut<LiveJoin>,
    mut cameras: Query<&mut OrbitCamera>,
    mut pose: ResMut<AnatomyPose>,
    clip: Res<ClipSettings>,
    mut clip_actions: MessageWriter<ClipAction>,
) {
    let follow = join.follow;
    let Some(s) = join.session.as_mut() else {
        return;
    };
    if !follow || !s.view_fresh || !s.has_document {
        return;
    }
    s.view_fresh = false;
    if let Some(Event::Camera {
        target,
        azimuth_deg,
        polar_deg,
        distance_mm,
        ..
    }) = s.follower.view.get("camera")
    {
        for mut cam in &mut cameras {
            cam.focus = lps_to_world(*target);
            cam.yaw = azimuth_deg.to_radians() as f32;
            cam.pitch = (polar_deg - 90.0).to_radians() as f32;
            cam.distance = (*distance_mm / 1000.0).max(0.01) as f32;
        }
    }
    if let Some(Event::Pose {
        rotation,
        translation,
    }) = s.follower.view.get("pose")
    {
        // The inverse of the Share live panel's mapping (world axes X, Y, Z
        // are LPS x, z, -y), the turn about the anatomy's centre taken out
        // of the translation.
        let r = rotation.map(|v| v as f32);
        let lps = Quat::from_xyzw(r[0], r[1], r[2], r[3]).normalize();
        let c = Vec3::new(s.centre[0] as f32, s.centre[1] as f32, s.centre[2] as f32);
        let rc = lps * c;
        let t0 = [
            translation[0] - (rc.x - c.x) as f64,
            translation[1] - (rc.y - c.y) as f64,
            translation[2] - (rc.z - c.z) as f64,
        ];
        pose.0.rotation = Quat::from_xyzw(r[0], r[2], -r[1], r[3]).normalize();
        pose.0.translation = lps_to_world(t0);
    }
    if let Some(Event::Clip { planes }) = s.follower.view.get("clip") {
        clip_actions.write_batch(follow_clip(&clip, planes));
    }
}

/// The clip actions that make this app's planes the presenter's: each
/// plane into the slot of its kind where that is free (so the panel still
/// reads axial, coronal, sagittal), the others into the free slots, and the
/// slots left over turned off.
fn follow_clip(clip: &ClipSettings, planes: &[stratum_core::live::ClipPlane]) -> Vec<ClipAction> {
    let planes: Vec<_> = planes
        .iter()
        .filter_map(|p| p.to_view())
        .take(MAX_PLANES)
        .collect();
    let mut slot_of: Vec<Option<usize>> = vec![None; planes.len()];
    let mut used = [false; MAX_PLANES];
    for (i, p) in planes.iter().enumerate() {
        let kind = ClipKind::of_normal(p.normal);
        if let Some(j) = (0..MAX_PLANES).find(|&j| !used[j] && clip.slots[j].kind == kind) {
            used[j] = true;
            slot_of[i] = Some(j);
        }
    }
    for slot in slot_of.iter_mut().filter(|s| s.is_none()) {
        if let Some(j) = (0..MAX_PLANES).find(|&j| !used[j]) {
            used[j] = true;
            *slot = Some(j);
        }
    }
    let mut actions: Vec<ClipAction> = planes
        .iter()
        .zip(&slot_of)
        .filter_map(|(p, j)| j.map(|index| ClipAction::Set { index, plane: *p }))
        .collect();
    actions.extend(
        (0..MAX_PLANES)
            .filter(|&j| !used[j] && clip.slots[j].enabled)
            .map(|index| ClipAction::Enable { index, on: false }),
    );
    actions
}
