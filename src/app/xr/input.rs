//! XR input as a pure function: (previous, current) controller snapshot to
//! the same actions the desktop sends ([`PoseAction`], [`ViewAction::Pick`],
//! [`ClipAction`], [`RulerAction`], [`BrushAction`]). No runtime, no ECS: the rig reads the
//! controllers into [`XrSnapshot`]s and writes what [`XrGestures::map`]
//! returns, so every gesture is unit-tested with scripted snapshots.

use bevy::prelude::*;
use stratum_core::image::view::ClipPlane;

use crate::app::actions::ClipAction;
use crate::app::actions::HistoryAction;
use crate::app::actions::PoseAction;
use crate::app::actions::RulerAction;
use crate::app::actions::ViewAction;
use crate::app::actions::{BrushAction, BrushTool, StrokePhase};
use crate::app::features::clip::MAX_PLANES;
use crate::app::state::space::{AnatomyPose, SCALE_RANGE};
use crate::app::xr::quad::QuadPlane;

/// Left or right controller (index into [`XrSnapshot::hands`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Hand {
    Left = 0,
    Right = 1,
}

impl Hand {
    pub fn other(self) -> Hand {
        match self {
            Hand::Left => Hand::Right,
            Hand::Right => Hand::Left,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Hand::Left => "left",
            Hand::Right => "right",
        }
    }
}

/// One controller in one frame, in world space (metres).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HandSnapshot {
    /// The runtime reports a valid pose this frame.
    pub tracked: bool,
    /// Where the hand holds the controller (grab pivot).
    pub grip: Transform,
    /// The pointing ray: origin and forward (-Z).
    pub aim: Transform,
    /// 0..1.
    pub squeeze: f32,
    /// 0..1.
    pub trigger: f32,
    /// A (right) / X (left) on Touch; A on Index; menu on KHR simple.
    pub primary: bool,
    /// B (right) / Y (left) on Touch; B on Index.
    pub secondary: bool,
    /// -1..1, x right, y forward.
    pub thumbstick: Vec2,
    pub thumbstick_click: bool,
}

impl HandSnapshot {
    pub fn grabbing(&self) -> bool {
        self.tracked && self.squeeze >= GRAB_AT
    }

    pub fn aim_ray(&self) -> Option<Ray3d> {
        let dir = Dir3::new(self.aim.rotation * Vec3::NEG_Z).ok()?;
        Some(Ray3d::new(self.aim.translation, dir))
    }
}

/// The head and both controllers in one frame.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct XrSnapshot {
    pub head: Transform,
    /// Indexed by [`Hand`].
    pub hands: [HandSnapshot; 2],
    /// Seconds since the previous snapshot (rates such as slices per
    /// second of thumbstick do not depend on the frame rate).
    pub dt: f32,
}

impl XrSnapshot {
    pub fn hand(&self, h: Hand) -> &HandSnapshot {
        &self.hands[h as usize]
    }
}

/// Squeeze at or above this holds the model.
pub const GRAB_AT: f32 = 0.5;
/// A trigger crossing this upward is a press.
pub const TRIGGER_AT: f32 = 0.7;
/// A two-hand scale within this of life size snaps to exactly 1:1.
pub const SNAP: f32 = 0.06;
/// The hand-held plane sits this far ahead of the controller, so the
/// controller does not hide the cut.
pub const PLANE_AHEAD_M: f32 = 0.05;

/// What the rest of the app tells the mapper each frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct InputContext {
    pub pose: AnatomyPose,
    /// Which clip planes are on.
    pub planes_on: [bool; MAX_PLANES],
    /// Trigger presses place ruler ends (the picks become ruler points).
    pub ruler_mode: bool,
    /// The hand's laser is on the world panel (or holds a click that began
    /// there): its trigger clicks the panel and picks nothing.
    pub on_panel: [bool; 2],
    /// Brushing is on with this (3D) tool: the right trigger strokes with
    /// the ball at the controller's tip instead of picking, and the right
    /// thumbstick's up and down change its size instead of the slice.
    pub brush: Option<BrushTool>,
    /// The brush ball's radius (mm): a stroke begun with the ball on the
    /// slice in space paints in that slice.
    pub brush_radius_mm: f64,
    /// The slice in space, while it is shown.
    pub reslice: Option<QuadPlane>,
}

/// One output of the mapper, in the order it should be written.
#[derive(Clone, Debug, PartialEq)]
pub enum XrAction {
    Pose(PoseAction),
    View(ViewAction),
    Clip(ClipAction),
    Ruler(RulerAction),
    Reslice(ResliceAction),
    Brush(BrushAction),
    /// Grow (positive) or shrink the brush's diameter by this many mm.
    BrushSize(f64),
    /// Undo or redo a step (a flick of the left thumbstick).
    History(HistoryAction),
}

/// The brush ball sits this far ahead of the controller along its aim (a
/// tip the user sees past the controller).
pub const BRUSH_AHEAD_M: f32 = 0.04;
/// Diameter change per second at full thumbstick (mm).
pub const BRUSH_MM_PER_S: f64 = 20.0;
/// The trigger under this ends a stroke (below [`TRIGGER_AT`], so a
/// trembling finger does not end and begin strokes).
pub const TRIGGER_RELEASE: f32 = 0.4;

/// The brush ball's centre for a hand's aim, in world space.
pub fn brush_tip(aim: &Transform) -> Vec3 {
    aim.translation + aim.rotation * Vec3::NEG_Z * BRUSH_AHEAD_M
}

/// The slice of the scan shown in place in the anatomy (right thumbstick).
#[derive(Message, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResliceAction {
    /// Show or hide it (thumbstick click).
    Toggle,
    /// Axial → coronal → sagittal (+1) or back (-1): a flick left or right.
    NextPlane(i32),
    /// Move it this many slices (thumbstick up and down).
    Step(i32),
}

/// Slices per second at full thumbstick.
pub const SLICES_PER_S: f32 = 30.0;

/// A clip plane that follows a hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldPlane {
    pub index: usize,
    pub hand: Hand,
}

/// What a gesture needs to remember from its start: the scale and hand
/// distance when both grips closed (the snap to 1:1 works on the total
/// scale, not frame by frame), and the plane a hand holds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct XrGestures {
    pub two_hand: Option<TwoHandStart>,
    pub held: Option<HeldPlane>,
    /// Fractional slices of thumbstick travel not yet sent.
    pub slice_travel: f32,
    /// The right hand strokes the brush (its trigger is held).
    pub stroking: bool,
    /// The stroke paints in the slice in space (it began on it): its
    /// samples are moved onto that plane, a disc in that slice.
    pub stroke_on: Option<QuadPlane>,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TwoHandStart {
    pub scale: f32,
    pub distance: f32,
}

/// The controller map (see the README's table).
impl XrGestures {
    pub fn map(
        &mut self,
        prev: &XrSnapshot,
        cur: &XrSnapshot,
        ctx: &InputContext,
    ) -> Vec<XrAction> {
        let mut out = Vec::new();
        self.grab(prev, cur, ctx, &mut out);
        self.buttons(prev, cur, ctx, &mut out);
        self.follow_plane(cur, ctx, &mut out);
        self.stroke(prev, cur, ctx, &mut out);
        undo_gesture(prev, cur, &mut out);
        if ctx.brush.is_some() {
            self.resize_brush(cur, &mut out);
        } else {
            self.reslice(prev, cur, &mut out);
        }
        out
    }

    /// The right trigger strokes the brush: pressed begins at the tip,
    /// held samples it every frame it moves, released (or the hand lost,
    /// or brushing off) ends the stroke.
    fn stroke(
        &mut self,
        prev: &XrSnapshot,
        cur: &XrSnapshot,
        ctx: &InputContext,
        out: &mut Vec<XrAction>,
    ) {
        let (p, c) = (prev.hand(Hand::Right), cur.hand(Hand::Right));
        let point = |h: &HandSnapshot| ctx.pose.world_to_lps(brush_tip(&h.aim));
        let Some(tool) = ctx.brush else {
            if self.stroking {
                self.stroking = false;
                let on = self.stroke_on.take();
                out.push(XrAction::Brush(BrushAction {
                    phase: StrokePhase::End,
                    tool: BrushTool::Add,
                    point: on.map_or(point(p), |q| q.project(point(p)).0),
                    plane: on.map(|q| q.plane),
                }));
            }
            return;
        };
        // On the slice in space: the slice views' 2D tool, in its plane.
        let action = |phase, h: &HandSnapshot, on: Option<QuadPlane>| {
            XrAction::Brush(BrushAction {
                phase,
                tool: if on.is_some() { tool.in_2d() } else { tool },
                point: on.map_or(point(h), |q| q.project(point(h)).0),
                plane: on.map(|q| q.plane),
            })
        };
        if self.stroking {
            let on = self.stroke_on;
            if !c.tracked || c.trigger < TRIGGER_RELEASE {
                self.stroking = false;
                self.stroke_on = None;
                out.push(action(StrokePhase::End, if c.tracked { c } else { p }, on));
            } else if brush_tip(&c.aim) != brush_tip(&p.aim) {
                out.push(action(StrokePhase::Sample, c, on));
            }
        } else if c.tracked
            && !ctx.on_panel[Hand::Right as usize]
            && c.trigger >= TRIGGER_AT
            && p.trigger < TRIGGER_AT
        {
            self.stroking = true;
            self.stroke_on = ctx
                .reslice
                .filter(|q| q.reach(point(c), ctx.brush_radius_mm).is_some());
            out.push(action(StrokePhase::Begin, c, self.stroke_on));
        }
    }

    /// Brushing: the right thumbstick's up and down grow and shrink the ball.
    fn resize_brush(&mut self, cur: &XrSnapshot, out: &mut Vec<XrAction>) {
        self.slice_travel = 0.0;
        let c = cur.hand(Hand::Right);
        let y = c.thumbstick.y;
        if !c.tracked || y.abs() < 0.2 {
            return;
        }
        let mm = f64::from(y) * BRUSH_MM_PER_S * f64::from(cur.dt.clamp(0.0, 0.25));
        if mm != 0.0 {
            out.push(XrAction::BrushSize(mm));
        }
    }

    fn reslice(&mut self, prev: &XrSnapshot, cur: &XrSnapshot, out: &mut Vec<XrAction>) {
        let (p, c) = (prev.hand(Hand::Right), cur.hand(Hand::Right));
        if !c.tracked {
            self.slice_travel = 0.0;
            return;
        }
        if c.thumbstick_click && !p.thumbstick_click {
            out.push(XrAction::Reslice(ResliceAction::Toggle));
        }
        // A flick: x crosses 0.7 outward.
        for dir in [1.0f32, -1.0] {
            if c.thumbstick.x * dir > 0.7 && p.thumbstick.x * dir <= 0.7 {
                out.push(XrAction::Reslice(ResliceAction::NextPlane(dir as i32)));
            }
        }
        // Up and down move the slice; a dead zone keeps a resting thumb still.
        let y = c.thumbstick.y;
        if y.abs() < 0.2 {
            self.slice_travel = 0.0;
            return;
        }
        self.slice_travel += y * SLICES_PER_S * cur.dt.clamp(0.0, 0.25);
        let whole = self.slice_travel.trunc();
        if whole != 0.0 {
            self.slice_travel -= whole;
            out.push(XrAction::Reslice(ResliceAction::Step(whole as i32)));
        }
    }

    fn grab(
        &mut self,
        prev: &XrSnapshot,
        cur: &XrSnapshot,
        ctx: &InputContext,
        out: &mut Vec<XrAction>,
    ) {
        let (l, r) = (Hand::Left as usize, Hand::Right as usize);
        let now = [cur.hands[l].grabbing(), cur.hands[r].grabbing()];
        let before = [prev.hands[l].grabbing(), prev.hands[r].grabbing()];
        if now == [true, true] {
            let (a, b) = (cur.hands[l].grip.translation, cur.hands[r].grip.translation);
            let distance = a.distance(b).max(1e-3);
            let start = *self.two_hand.get_or_insert(TwoHandStart {
                scale: ctx.pose.scale(),
                distance,
            });
            if before == [true, true] {
                let (pa, pb) = (
                    prev.hands[l].grip.translation,
                    prev.hands[r].grip.translation,
                );
                let target = two_hand_scale(start, distance);
                let delta = two_hand_delta((pa, pb), (a, b), target / ctx.pose.scale());
                out.push(XrAction::Pose(PoseAction::Apply(delta)));
            }
            return;
        }
        self.two_hand = None;
        // One grip, held since the last frame: the model moves with the hand
        // (a change of hands or of the number of hands moves nothing, so the
        // model never jumps).
        for h in [Hand::Left, Hand::Right] {
            let (i, j) = (h as usize, h.other() as usize);
            if now[i] && before[i] && !now[j] && !before[j] {
                let delta = hand_motion(&prev.hands[i].grip, &cur.hands[i].grip);
                if delta != Transform::IDENTITY {
                    out.push(XrAction::Pose(PoseAction::Apply(delta)));
                }
            }
        }
    }

    fn buttons(
        &mut self,
        prev: &XrSnapshot,
        cur: &XrSnapshot,
        ctx: &InputContext,
        out: &mut Vec<XrAction>,
    ) {
        let pressed = |h: Hand, f: fn(&HandSnapshot) -> bool| f(cur.hand(h)) && !f(prev.hand(h));
        // Trigger: pick along the aim ray (in ruler mode the pick is a ruler
        // end); the right one strokes instead while brushing.
        for h in [Hand::Left, Hand::Right] {
            let (p, c) = (prev.hand(h), cur.hand(h));
            if h == Hand::Right && (ctx.brush.is_some() || self.stroking) {
                continue;
            }
            if c.tracked
                && !ctx.on_panel[h as usize]
                && c.trigger >= TRIGGER_AT
                && p.trigger < TRIGGER_AT
                && let Some(ray) = c.aim_ray()
            {
                out.push(XrAction::View(ViewAction::Pick { ray, centre: false }));
            }
        }
        // A: a plane in the left hand; again: leave it where it is; with all
        // three in place, the next press takes them all away.
        if pressed(Hand::Right, |h| h.primary) {
            match self.held.take() {
                Some(_) => {}
                None => match ctx.planes_on.iter().position(|on| !on) {
                    Some(index) => {
                        let held = HeldPlane {
                            index,
                            hand: Hand::Left,
                        };
                        self.held = Some(held);
                    }
                    None => {
                        for index in 0..MAX_PLANES {
                            out.push(XrAction::Clip(ClipAction::Enable { index, on: false }));
                        }
                    }
                },
            }
        }
        // B: back onto the table.
        if pressed(Hand::Right, |h| h.secondary) {
            out.push(XrAction::Pose(PoseAction::Reset));
        }
        // X: ruler mode on or off.
        if pressed(Hand::Left, |h| h.primary) {
            out.push(XrAction::Ruler(RulerAction::Place(!ctx.ruler_mode)));
        }
    }

    fn follow_plane(&mut self, cur: &XrSnapshot, ctx: &InputContext, out: &mut Vec<XrAction>) {
        let Some(held) = self.held else { return };
        let hand = cur.hand(held.hand);
        if !hand.tracked {
            return;
        }
        out.push(XrAction::Clip(ClipAction::Set {
            index: held.index,
            plane: hand_plane(&hand.aim, &ctx.pose),
        }));
    }
}

/// The undo gesture: the left thumbstick flicked left undoes the last
/// step, flicked right redoes it (one step per flick: the stick has to come
/// back past the middle of its travel before it counts again).
fn undo_gesture(prev: &XrSnapshot, cur: &XrSnapshot, out: &mut Vec<XrAction>) {
    let (p, c) = (prev.hand(Hand::Left), cur.hand(Hand::Left));
    if !c.tracked {
        return;
    }
    for (dir, action) in [(-1.0f32, HistoryAction::Undo), (1.0, HistoryAction::Redo)] {
        if c.thumbstick.x * dir > 0.7 && p.thumbstick.x * dir <= 0.7 {
            out.push(XrAction::History(action));
        }
    }
}

/// The world-space motion of a hand between two frames: rotation about the
/// grip point and its translation (a rigid transform, no scale).
pub fn hand_motion(prev: &Transform, cur: &Transform) -> Transform {
    let rotation = (cur.rotation * prev.rotation.inverse()).normalize();
    // x -> cur.t + R (x - prev.t): a point held in the hand stays in the hand.
    let translation = cur.translation - rotation * prev.translation;
    let t = Transform {
        translation,
        rotation,
        scale: Vec3::ONE,
    };
    if translation.length() < 1e-7 && rotation.angle_between(Quat::IDENTITY) < 1e-6 {
        Transform::IDENTITY
    } else {
        t
    }
}

/// The scale a two-hand gesture asks for, snapped to exactly life size
/// near 1:1 and kept in range.
pub fn two_hand_scale(start: TwoHandStart, distance: f32) -> f32 {
    let s = (start.scale * distance / start.distance.max(1e-3)).clamp(SCALE_RANGE.0, SCALE_RANGE.1);
    if (s - 1.0).abs() < SNAP { 1.0 } else { s }
}

/// Scale by `ds` and turn with the line between the hands, about their
/// midpoint (which follows the hands).
pub fn two_hand_delta(prev: (Vec3, Vec3), cur: (Vec3, Vec3), ds: f32) -> Transform {
    let (mp, mc) = ((prev.0 + prev.1) / 2.0, (cur.0 + cur.1) / 2.0);
    let (vp, vc) = (prev.1 - prev.0, cur.1 - cur.0);
    let rotation = match (vp.try_normalize(), vc.try_normalize()) {
        (Some(a), Some(b)) => Quat::from_rotation_arc(a, b),
        _ => Quat::IDENTITY,
    };
    // x -> mc + R ds (x - mp)
    Transform {
        translation: mc - rotation * (mp * ds),
        rotation,
        scale: Vec3::splat(ds),
    }
}

/// The clip plane a hand holds, in LPS: through a point just ahead of the
/// controller, facing back at it, so what lies between the hand and the
/// plane is cut away and the user looks at the cut face.
pub fn hand_plane(aim: &Transform, pose: &AnatomyPose) -> ClipPlane {
    let forward = aim.rotation * Vec3::NEG_Z;
    let point = aim.translation + forward * PLANE_AHEAD_M;
    let p = pose.world_to_lps(point);
    let n = pose.world_dir_to_lps(-forward);
    ClipPlane::new([n.x as f64, n.y as f64, n.z as f64], p)
}

/// The head's horizontal forward direction (-Z when it looks straight up or down).
pub fn heading(head: &Transform) -> Vec3 {
    let f = head.rotation * Vec3::NEG_Z;
    Vec3::new(f.x, 0.0, f.z)
        .try_normalize()
        .unwrap_or(Vec3::NEG_Z)
}

/// The turn about +Y that takes -Z (the user's initial forward) to `along`.
pub fn yaw_to(along: Vec3) -> Quat {
    // rot_y(a) takes -Z to (-sin a, 0, -cos a).
    Quat::from_rotation_y((-along.x).atan2(-along.z))
}

/// Where the virtual table stands for a user at `head`: its top's centre
/// (metres) and the direction from the user along it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Table {
    pub top_centre: Vec3,
    pub along: Vec3,
}

/// The table top is at waist height (60 cm below the eyes: 1.0 m for a
/// standing adult, 0.6 m seated), 45 cm in front of the user.
pub fn table_for(head: &Transform) -> Table {
    let along = heading(head);
    let mut top_centre = head.translation + along * 0.45;
    top_centre.y = head.translation.y - 0.6;
    Table { top_centre, along }
}

/// The pose that lays the anatomy on the table life size as on an
/// operating table: the patient's head away from the user, anterior up;
/// `bounds` are the surfaces' model-frame bounds.
pub fn table_pose(table: &Table, bounds: (Vec3, Vec3)) -> AnatomyPose {
    // Model frame: +Y superior, +Z anterior. Turn superior to -Z and
    // anterior to +Y, then face the user's heading.
    let lay = Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2);
    let yaw = yaw_to(table.along);
    let rotation = (yaw * lay).normalize();
    let centre = (bounds.0 + bounds.1) / 2.0;
    let half = (bounds.1 - bounds.0) / 2.0;
    // Half height of the turned box: |R| applied to the half extents.
    let m = Mat3::from_quat(rotation);
    let up = m.row(1).abs().dot(half);
    let target = table.top_centre + Vec3::Y * (up + 0.005);
    AnatomyPose(Transform {
        translation: target - rotation * centre,
        rotation,
        scale: Vec3::ONE,
    })
}
