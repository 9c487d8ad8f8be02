//! The controllers: one OpenXR action set bound for the KHR simple, Oculus
//! Touch and Valve Index profiles, the grip and aim spaces of both hands
//! (made with each session, dropped with it), read each frame into an
//! [`XrSnapshot`] and mapped to the app's actions by the pure mapper.

use bevy::prelude::*;
use bevy_mod_openxr::action_binding::OxrSuggestActionBinding;
use bevy_mod_openxr::action_set_attaching::OxrAttachActionSet;
use bevy_mod_openxr::action_set_syncing::OxrSyncActionSet;
use bevy_mod_openxr::helper_traits::ToTransform;
use bevy_mod_openxr::resources::{OxrInstance, OxrViews};
use bevy_mod_openxr::session::OxrSession;
use bevy_mod_openxr::spaces::OxrSpaceLocationFlags;
use bevy_mod_xr::spaces::XrSpace;

use super::{XrInput, XrTable};
use crate::app::actions::ClipAction;
use crate::app::actions::PoseAction;
use crate::app::actions::RulerAction;
use crate::app::actions::ViewAction;
use crate::app::features::clip::ClipSettings;
use crate::app::features::measurements::Rulers;
use crate::app::state::space::AnatomyPose;
use crate::app::xr::input::{Hand, InputContext, ResliceAction, XrAction, XrSnapshot};
use crate::app::xr::panel::WorldPanel;

/// The action set and its actions (created once per OpenXR instance).
#[derive(Resource)]
pub struct XrActions {
    pub set: openxr::ActionSet,
    pub grip: openxr::Action<openxr::Posef>,
    pub aim: openxr::Action<openxr::Posef>,
    pub squeeze: openxr::Action<f32>,
    pub trigger: openxr::Action<f32>,
    pub primary: openxr::Action<bool>,
    pub secondary: openxr::Action<bool>,
    pub thumbstick: openxr::Action<openxr::Vector2f>,
    pub thumbstick_click: openxr::Action<bool>,
    /// The controller's vibration (the brush's touch).
    pub haptic: openxr::Action<openxr::Haptic>,
    /// `/user/hand/left` and `/user/hand/right`.
    pub hands: [openxr::Path; 2],
}

/// A controller space (grip or aim) of one hand, tracked by the crate.
#[derive(Component, Clone, Copy, Debug)]
pub struct HandSpace {
    pub hand: Hand,
    pub aim: bool,
}

pub(super) fn create_actions(instance: Res<OxrInstance>, mut commands: Commands) {
    let made = (|| -> openxr::Result<XrActions> {
        let hands = [
            instance.string_to_path("/user/hand/left")?,
            instance.string_to_path("/user/hand/right")?,
        ];
        let set = instance.create_action_set("stratum", "Stratum", 0)?;
        Ok(XrActions {
            grip: set.create_action("grip_pose", "Hold pose", &hands)?,
            aim: set.create_action("aim_pose", "Pointer pose", &hands)?,
            squeeze: set.create_action("grab", "Grab the model", &hands)?,
            trigger: set.create_action("pick", "Pick / ruler point", &hands)?,
            primary: set.create_action("plane", "Clip plane / ruler mode", &hands)?,
            secondary: set.create_action("reset", "Reset onto the table", &hands)?,
            thumbstick: set.create_action("thumbstick", "Thumbstick", &hands)?,
            thumbstick_click: set.create_action("thumbstick_click", "Thumbstick click", &hands)?,
            haptic: set.create_action("haptic", "Brush touch", &hands)?,
            set,
            hands,
        })
    })();
    match made {
        Ok(a) => commands.insert_resource(a),
        Err(e) => error!("the VR controller actions could not be created: {e}"),
    }
}

/// The bindings per interaction profile; a runtime picks the profile of
/// the controllers it has and maps the others onto it.
pub(super) fn suggest_bindings(
    actions: Option<Res<XrActions>>,
    mut out: MessageWriter<OxrSuggestActionBinding>,
    mut sent: Local<bool>,
) {
    // Suggestions are per instance and rejected once a set was attached.
    let Some(a) = actions else { return };
    if std::mem::replace(&mut *sent, true) {
        return;
    }
    let both = |input: &str| -> Vec<std::borrow::Cow<'static, str>> {
        ["left", "right"]
            .iter()
            .map(|h| format!("/user/hand/{h}/input/{input}").into())
            .collect()
    };
    let per_hand = |left: &str, right: &str| -> Vec<std::borrow::Cow<'static, str>> {
        vec![
            format!("/user/hand/left/input/{left}").into(),
            format!("/user/hand/right/input/{right}").into(),
        ]
    };
    let mut bind = |profile: &'static str, action: openxr::sys::Action, paths| {
        out.write(OxrSuggestActionBinding {
            action,
            interaction_profile: profile.into(),
            bindings: paths,
        });
    };
    const INDEX: &str = "/interaction_profiles/valve/index_controller";
    const TOUCH: &str = "/interaction_profiles/oculus/touch_controller";
    const SIMPLE: &str = "/interaction_profiles/khr/simple_controller";
    for profile in [INDEX, TOUCH] {
        bind(profile, a.grip.as_raw(), both("grip/pose"));
        bind(profile, a.aim.as_raw(), both("aim/pose"));
        bind(profile, a.squeeze.as_raw(), both("squeeze/value"));
        bind(profile, a.trigger.as_raw(), both("trigger/value"));
        bind(profile, a.thumbstick.as_raw(), both("thumbstick"));
        bind(
            profile,
            a.thumbstick_click.as_raw(),
            both("thumbstick/click"),
        );
    }
    let haptic: Vec<std::borrow::Cow<'static, str>> = ["left", "right"]
        .iter()
        .map(|h| format!("/user/hand/{h}/output/haptic").into())
        .collect();
    for profile in [INDEX, TOUCH, SIMPLE] {
        bind(profile, a.haptic.as_raw(), haptic.clone());
    }
    bind(INDEX, a.primary.as_raw(), both("a/click"));
    bind(INDEX, a.secondary.as_raw(), both("b/click"));
    bind(TOUCH, a.primary.as_raw(), per_hand("x/click", "a/click"));
    bind(TOUCH, a.secondary.as_raw(), per_hand("y/click", "b/click"));
    // Two buttons only: select holds the model, menu is the A button.
    bind(SIMPLE, a.grip.as_raw(), both("grip/pose"));
    bind(SIMPLE, a.aim.as_raw(), both("aim/pose"));
    bind(SIMPLE, a.squeeze.as_raw(), both("select/click"));
    bind(SIMPLE, a.primary.as_raw(), both("menu/click"));
}

pub(super) fn attach_and_spawn_spaces(
    actions: Option<Res<XrActions>>,
    session: Option<Res<OxrSession>>,
    mut attach: MessageWriter<OxrAttachActionSet>,
    mut commands: Commands,
    mut input: ResMut<XrInput>,
    mut table: ResMut<XrTable>,
) {
    *input = XrInput::default();
    *table = XrTable::default();
    let (Some(a), Some(session)) = (actions, session) else {
        return;
    };
    attach.write(OxrAttachActionSet(a.set.clone()));
    for hand in [Hand::Left, Hand::Right] {
        for aim in [false, true] {
            let action = if aim { &a.aim } else { &a.grip };
            match session.create_action_space(action, a.hands[hand as usize], Isometry3d::IDENTITY)
            {
                Ok(space) => {
                    commands.spawn((
                        Name::new(format!(
                            "{} {}",
                            hand.name(),
                            if aim { "aim" } else { "grip" }
                        )),
                        space,
                        HandSpace { hand, aim },
                    ));
                }
                Err(e) => error!("no {} controller space: {e}", hand.name()),
            }
        }
    }
}

/// A new session starts afresh: a table where the user then stands, the
/// anatomy laid on it again, no gesture or click carried over.
pub(super) fn forget_session(
    mut commands: Commands,
    spaces: Query<Entity, With<HandSpace>>,
    mut table: ResMut<XrTable>,
    mut input: ResMut<XrInput>,
    mut panel: ResMut<WorldPanel>,
) {
    // The runtime destroys the spaces with the session.
    for e in &spaces {
        commands.entity(e).despawn();
    }
    *table = XrTable::default();
    *input = XrInput::default();
    panel.pointer = default();
    panel.hit_world = None;
    panel.placed = false;
}

pub(super) fn sync_actions(
    actions: Option<Res<XrActions>>,
    mut sync: MessageWriter<OxrSyncActionSet>,
) {
    if let Some(a) = actions {
        sync.write(OxrSyncActionSet(a.set.clone()));
    }
}

pub(super) fn read_snapshot(
    actions: Option<Res<XrActions>>,
    session: Res<OxrSession>,
    views: Res<OxrViews>,
    spaces: Query<(&HandSpace, &Transform, &OxrSpaceLocationFlags), With<XrSpace>>,
    time: Res<Time>,
    mut input: ResMut<XrInput>,
) {
    let Some(a) = actions else { return };
    let mut snap = XrSnapshot {
        head: input.cur.head,
        dt: time.delta_secs(),
        ..default()
    };
    if let [l, r, ..] = views.as_slice() {
        let (l, r) = (l.pose.to_transform(), r.pose.to_transform());
        snap.head = Transform::from_translation((l.translation + r.translation) / 2.0)
            .with_rotation(l.rotation);
        input.head_valid = true;
    }
    for hand in [Hand::Left, Hand::Right] {
        let path = a.hands[hand as usize];
        let h = &mut snap.hands[hand as usize];
        let f =
            |x: openxr::Result<openxr::ActionState<f32>>| x.map(|s| s.current_state).unwrap_or(0.0);
        let b = |x: openxr::Result<openxr::ActionState<bool>>| {
            x.map(|s| s.current_state).unwrap_or(false)
        };
        h.squeeze = f(a.squeeze.state(&session, path));
        h.trigger = f(a.trigger.state(&session, path));
        h.primary = b(a.primary.state(&session, path));
        h.secondary = b(a.secondary.state(&session, path));
        h.thumbstick_click = b(a.thumbstick_click.state(&session, path));
        h.thumbstick = a
            .thumbstick
            .state(&session, path)
            .map(|s| Vec2::new(s.current_state.x, s.current_state.y))
            .unwrap_or_default();
        let mut grip_ok = false;
        for (space, t, flags) in &spaces {
            if space.hand != hand {
                continue;
            }
            let valid = flags.pos_valid() && flags.rot_valid();
            if space.aim {
                h.aim = *t;
            } else {
                h.grip = *t;
                grip_ok = valid;
            }
        }
        h.tracked = grip_ok;
    }
    input.prev = input.cur;
    input.cur = snap;
    input.frames += 1;
}

/// What the gestures mean besides the hands themselves: the anatomy's
/// pose, which clip planes are on, whether a ruler is being placed, and
/// whether the wrist panel's pointer owns the trigger.
#[derive(bevy::ecs::system::SystemParam)]
pub(super) struct GestureContext<'w> {
    pose: Res<'w, AnatomyPose>,
    clip: Res<'w, ClipSettings>,
    rulers: Res<'w, Rulers>,
    panel: Res<'w, WorldPanel>,
    reslice: Res<'w, crate::app::xr::reslice::XrReslice>,
}

/// Where the controllers' actions go, each kind to its own message.
#[derive(bevy::ecs::system::SystemParam)]
pub(super) struct ActionWriters<'w> {
    pose: MessageWriter<'w, PoseAction>,
    view: MessageWriter<'w, ViewAction>,
    clip: MessageWriter<'w, ClipAction>,
    ruler: MessageWriter<'w, RulerAction>,
    reslice: MessageWriter<'w, ResliceAction>,
}

pub(super) fn map_input(
    mut input: ResMut<XrInput>,
    context: GestureContext,
    mut out: ActionWriters,
    mut brush: XrBrush,
) {
    if input.frames < 2 {
        return;
    }
    let ctx = InputContext {
        pose: *context.pose,
        planes_on: context.clip.slots.map(|s| s.enabled),
        ruler_mode: context.rulers.placing,
        on_panel: [false, context.panel.pointer.owns_trigger()],
        brush: brush.settings.active.then(|| brush.settings.tool.in_3d()),
        brush_radius_mm: brush.settings.diameter_mm / 2.0,
        reslice: context.reslice.quad,
    };
    let (prev, cur) = (input.prev, input.cur);
    let actions = input.gestures.map(&prev, &cur, &ctx);
    input.last_actions.clear();
    for a in actions {
        input.last_actions.push(format!("{a:?}"));
        match a {
            XrAction::Pose(p) => {
                out.pose.write(p);
            }
            XrAction::View(v) => {
                out.view.write(v);
            }
            XrAction::Clip(c) => {
                out.clip.write(c);
            }
            XrAction::Ruler(r) => {
                out.ruler.write(r);
            }
            XrAction::Reslice(r) => {
                out.reslice.write(r);
            }
            XrAction::Brush(b) => {
                brush.actions.write(b);
            }
            XrAction::BrushSize(mm) => {
                brush.settings.diameter_mm = (brush.settings.diameter_mm + mm)
                    .clamp(BRUSH_DIAMETER_MM.0, BRUSH_DIAMETER_MM.1);
            }
            XrAction::History(h) => {
                brush.history.write(h);
            }
        }
    }
}

/// The brush as XR drives it: the desktop's settings and stroke messages.
#[derive(bevy::ecs::system::SystemParam)]
pub(super) struct XrBrush<'w> {
    settings: ResMut<'w, crate::app::features::sculpt::BrushSettings>,
    actions: MessageWriter<'w, crate::app::actions::BrushAction>,
    history: MessageWriter<'w, crate::app::actions::HistoryAction>,
}

/// The brush diameters the thumbstick reaches (mm).
pub const BRUSH_DIAMETER_MM: (f64, f64) = (1.0, 80.0);
