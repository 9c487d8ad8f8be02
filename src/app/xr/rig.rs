//! The XR rig: one OpenXR action set bound for the KHR simple, Oculus Touch
//! and Valve Index controllers, the grip and aim spaces of both hands,
//! reading them each frame into an [`XrSnapshot`] for the pure mapper in
//! `input`, the virtual table and the lights of the room, and the
//! controllers drawn as gizmos.

use bevy::prelude::*;
use bevy_mod_openxr::action_binding::{OxrSendActionBindings, OxrSuggestActionBinding};
use bevy_mod_openxr::action_set_attaching::OxrAttachActionSet;
use bevy_mod_openxr::action_set_syncing::{OxrActionSetSyncSet, OxrSyncActionSet};
use bevy_mod_openxr::helper_traits::ToTransform;
use bevy_mod_openxr::resources::{OxrInstance, OxrViews};
use bevy_mod_openxr::session::OxrSession;
use bevy_mod_openxr::spaces::OxrSpaceLocationFlags;
use bevy_mod_openxr::{openxr_session_available, openxr_session_running};
use bevy_mod_xr::camera::XrCamera;
use bevy_mod_xr::session::{XrPreDestroySession, XrSessionCreated, XrState};
use bevy_mod_xr::spaces::{XrSpace, XrSpaceSyncSet};

use super::input::{
    Hand, HandSnapshot, InputContext, ResliceAction, Table, XrAction, XrGestures, XrSnapshot,
};
use crate::app::actions::ViewAction;
use crate::app::camera::visible_bounds;
use crate::app::clip::{ClipAction, ClipSettings};
use crate::app::measurements::{RulerAction, Rulers};
use crate::app::meshing::{MeshesBuilt, SegmentSurface};
use crate::app::segmentation::{Segment, ToolSettings};
use crate::app::space::{AnatomyPose, PoseAction, PoseHome};

pub struct RigPlugin;

impl Plugin for RigPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<XrInput>()
            .init_resource::<HandReadout>()
            .init_resource::<XrTable>()
            .add_systems(
                Startup,
                (create_actions.run_if(openxr_session_available), spawn_room),
            )
            .add_systems(OxrSendActionBindings, suggest_bindings)
            .add_systems(XrSessionCreated, attach_and_spawn_spaces)
            .add_systems(XrPreDestroySession, forget_session)
            .add_systems(
                PreUpdate,
                (
                    sync_actions.before(OxrActionSetSyncSet),
                    (read_snapshot, super::panel::point_at_panel, map_input)
                        .chain()
                        .after(OxrActionSetSyncSet)
                        .after(XrSpaceSyncSet),
                )
                    .run_if(openxr_session_running),
            )
            .add_systems(
                Update,
                (
                    light_xr_cameras,
                    place_on_table,
                    show_room,
                    draw_hands,
                    update_readout,
                ),
            );
    }
}

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
    /// `/user/hand/left` and `/user/hand/right`.
    pub hands: [openxr::Path; 2],
}

/// A controller space (grip or aim) of one hand, tracked by the crate.
#[derive(Component, Clone, Copy, Debug)]
pub struct HandSpace {
    pub hand: Hand,
    pub aim: bool,
}

/// The last two snapshots and the gestures in progress.
#[derive(Resource, Default, Debug)]
pub struct XrInput {
    pub prev: XrSnapshot,
    pub cur: XrSnapshot,
    pub gestures: XrGestures,
    /// Snapshots read in this session.
    pub frames: u64,
    pub head_valid: bool,
    /// What the mapper sent in the last frame (for the trace).
    pub last_actions: Vec<String>,
}

/// Words for the panel (and the trace): the scale and the picked segment.
#[derive(Resource, Default, Debug, Clone)]
pub struct HandReadout {
    pub scale: String,
    pub selected: Option<String>,
    pub ruler_mode: bool,
    /// The length of the last ruler placed.
    pub ruler: Option<String>,
}

/// Where the table stands in this session, and the bounds it was fitted to.
#[derive(Resource, Default, Debug)]
pub struct XrTable {
    pub table: Option<Table>,
    pub bounds: Option<(Vec3, Vec3)>,
    /// The anatomy has been laid on it once.
    pub placed: bool,
}

#[derive(Component)]
struct RoomPart;

#[derive(Component)]
struct TableTop;

#[derive(Component)]
struct RoomLight;

fn create_actions(instance: Res<OxrInstance>, mut commands: Commands) {
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
fn suggest_bindings(
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

fn attach_and_spawn_spaces(
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
fn forget_session(
    mut commands: Commands,
    spaces: Query<Entity, With<HandSpace>>,
    mut table: ResMut<XrTable>,
    mut input: ResMut<XrInput>,
    mut panel: ResMut<super::panel::WorldPanel>,
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

fn sync_actions(actions: Option<Res<XrActions>>, mut sync: MessageWriter<OxrSyncActionSet>) {
    if let Some(a) = actions {
        sync.write(OxrSyncActionSet(a.set.clone()));
    }
}

fn read_snapshot(
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

#[allow(clippy::too_many_arguments)]
fn map_input(
    mut input: ResMut<XrInput>,
    pose: Res<AnatomyPose>,
    clip: Res<ClipSettings>,
    rulers: Res<Rulers>,
    panel: Res<super::panel::WorldPanel>,
    mut pose_out: MessageWriter<PoseAction>,
    mut view_out: MessageWriter<ViewAction>,
    mut clip_out: MessageWriter<ClipAction>,
    mut ruler_out: MessageWriter<RulerAction>,
    mut reslice_out: MessageWriter<ResliceAction>,
) {
    if input.frames < 2 {
        return;
    }
    let ctx = InputContext {
        pose: *pose,
        planes_on: clip.slots.map(|s| s.enabled),
        ruler_mode: rulers.placing,
        on_panel: [false, panel.pointer.owns_trigger()],
    };
    let (prev, cur) = (input.prev, input.cur);
    let actions = input.gestures.map(&prev, &cur, &ctx);
    input.last_actions.clear();
    for a in actions {
        input.last_actions.push(format!("{a:?}"));
        match a {
            XrAction::Pose(p) => {
                pose_out.write(p);
            }
            XrAction::View(v) => {
                view_out.write(v);
            }
            XrAction::Clip(c) => {
                clip_out.write(c);
            }
            XrAction::Ruler(r) => {
                ruler_out.write(r);
            }
            XrAction::Reslice(r) => {
                reslice_out.write(r);
            }
        }
    }
}

/// The eyes get the same ambient light as the desktop view.
fn light_xr_cameras(mut commands: Commands, cams: Query<Entity, Added<XrCamera>>) {
    for e in &cams {
        commands.entity(e).insert(AmbientLight {
            color: Color::WHITE,
            brightness: 350.0,
            ..default()
        });
    }
}

/// A table (top and legs), a floor and a lamp, shown while in VR.
fn spawn_room(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    let steel = materials.add(StandardMaterial {
        base_color: Color::srgb(0.55, 0.6, 0.64),
        metallic: 0.6,
        perceptual_roughness: 0.35,
        ..default()
    });
    let drape = materials.add(StandardMaterial {
        base_color: Color::srgb(0.16, 0.36, 0.38),
        perceptual_roughness: 0.9,
        ..default()
    });
    let floor = materials.add(StandardMaterial {
        base_color: Color::srgb(0.2, 0.21, 0.23),
        perceptual_roughness: 0.95,
        ..default()
    });
    commands
        .spawn((
            Name::new("XR table"),
            RoomPart,
            TableTop,
            Transform::default(),
            Visibility::Hidden,
        ))
        .with_children(|c| {
            // Top (its upper face at the parent's origin), 60 cm x 140 cm.
            c.spawn((
                Mesh3d(meshes.add(Cuboid::new(0.6, 0.03, 1.4))),
                MeshMaterial3d(drape.clone()),
                Transform::from_xyz(0.0, -0.015, 0.0),
            ));
            // A single pedestal, as operating tables have, down to the floor.
            c.spawn((
                Mesh3d(meshes.add(Cylinder::new(0.08, 1.0))),
                MeshMaterial3d(steel.clone()),
                // Scaled to the table's height when it is placed.
                Transform::from_xyz(0.0, -0.5, 0.0),
                PedestalLeg,
            ));
        });
    commands.spawn((
        Name::new("XR floor"),
        RoomPart,
        Mesh3d(meshes.add(Circle::new(3.0))),
        MeshMaterial3d(floor),
        Transform::from_rotation(Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2)),
        Visibility::Hidden,
    ));
    commands.spawn((
        Name::new("XR lamp"),
        RoomLight,
        DirectionalLight {
            illuminance: 0.0,
            shadow_maps_enabled: false,
            ..default()
        },
        // From above and a little behind the user, like an operating lamp.
        Transform::from_xyz(0.3, 3.0, 1.0).looking_at(Vec3::new(0.0, 1.0, -0.5), Vec3::Y),
    ));
}

#[derive(Component)]
struct PedestalLeg;

fn show_room(
    state: Option<Res<XrState>>,
    mut parts: Query<&mut Visibility, With<RoomPart>>,
    mut lamp: Query<&mut DirectionalLight, With<RoomLight>>,
) {
    let running = state.is_some_and(|s| *s == XrState::Running);
    let want = if running {
        Visibility::Inherited
    } else {
        Visibility::Hidden
    };
    for mut v in &mut parts {
        if *v != want {
            *v = want;
        }
    }
    let lux = if running { 4000.0 } else { 0.0 };
    for mut l in &mut lamp {
        if l.illuminance != lux {
            l.illuminance = lux;
        }
    }
}

/// Stands the table in front of the user once the head is tracked, and
/// lays the anatomy on it when surfaces exist (again when new ones come,
/// as the new home pose; the anatomy is moved only the first time).
#[allow(clippy::too_many_arguments)]
fn place_on_table(
    state: Option<Res<XrState>>,
    input: Res<XrInput>,
    mut table: ResMut<XrTable>,
    mut built: MessageReader<MeshesBuilt>,
    surfaces: Query<(&Segment, &SegmentSurface)>,
    study: Option<Res<crate::app::loading::Study>>,
    mut home: ResMut<PoseHome>,
    mut pose: MessageWriter<PoseAction>,
    mut top: Query<&mut Transform, (With<TableTop>, Without<PedestalLeg>)>,
    mut leg: Query<&mut Transform, (With<PedestalLeg>, Without<TableTop>)>,
) {
    let new_meshes = built.read().count() > 0;
    if !state.is_some_and(|s| *s == XrState::Running) || !input.head_valid {
        return;
    }
    let mut fresh = false;
    let t = match table.table {
        Some(t) => t,
        None => {
            let t = super::input::table_for(&input.cur.head);
            table.table = Some(t);
            fresh = true;
            info!(
                "VR table: top at {:.2} m, {:.2} m ahead",
                t.top_centre.y,
                (t.top_centre - input.cur.head.translation)
                    .with_y(0.0)
                    .length()
            );
            if let Ok(mut tt) = top.single_mut() {
                *tt = Transform::from_translation(t.top_centre)
                    .with_rotation(super::input::yaw_to(t.along));
            }
            if let Ok(mut lt) = leg.single_mut() {
                let h = t.top_centre.y.max(0.05);
                *lt = Transform::from_xyz(0.0, -h / 2.0, 0.0).with_scale(Vec3::new(1.0, h, 1.0));
            }
            t
        }
    };
    if !(fresh || new_meshes || table.bounds.is_none()) {
        return;
    }
    // The surfaces, or the scan's box when there are none (its volume
    // rendering is what shows).
    let Some(bounds) = visible_bounds(surfaces.iter())
        .or_else(|| study.as_deref().map(crate::app::camera::scan_bounds))
    else {
        return;
    };
    if table.bounds == Some(bounds) {
        return;
    }
    table.bounds = Some(bounds);
    home.0 = super::input::table_pose(&t, bounds);
    if !table.placed {
        table.placed = true;
        pose.write(PoseAction::Reset);
    }
}

fn draw_hands(
    mut gizmos: Gizmos,
    state: Option<Res<XrState>>,
    input: Res<XrInput>,
    rulers: Res<Rulers>,
    panel: Res<super::panel::WorldPanel>,
) {
    if !state.is_some_and(|s| *s == XrState::Running) {
        return;
    }
    for (i, h) in input.cur.hands.iter().enumerate() {
        if !h.tracked {
            continue;
        }
        // On the panel the laser is drawn to the point it touches instead.
        let ray = !(i == Hand::Right as usize && panel.hit_world.is_some());
        draw_hand(&mut gizmos, h, rulers.placing, ray);
    }
}

fn draw_hand(gizmos: &mut Gizmos, h: &HandSnapshot, ruler_mode: bool, ray: bool) {
    let grab = if h.grabbing() {
        Color::srgb(0.3, 1.0, 0.5)
    } else {
        Color::srgb(0.85, 0.85, 0.9)
    };
    gizmos.sphere(
        Isometry3d::new(h.grip.translation, h.grip.rotation),
        0.02,
        grab,
    );
    if !ray {
        return;
    }
    let ray = if ruler_mode {
        Color::srgb(1.0, 0.55, 0.15)
    } else if h.trigger > 0.3 {
        Color::srgb(1.0, 1.0, 0.4)
    } else {
        Color::srgba(1.0, 1.0, 1.0, 0.6)
    };
    let o = h.aim.translation;
    gizmos.line(o, o + h.aim.rotation * Vec3::NEG_Z * 0.8, ray);
}

fn update_readout(
    pose: Res<AnatomyPose>,
    tools: Res<ToolSettings>,
    segments: Query<&Segment>,
    rulers: Res<Rulers>,
    mut readout: ResMut<HandReadout>,
) {
    if !(pose.is_changed() || tools.is_changed() || rulers.is_changed()) {
        return;
    }
    let s = pose.scale();
    readout.scale = if s == 1.0 {
        "Scale 1:1 (life size)".to_string()
    } else {
        format!("Scale {s:.2}×")
    };
    readout.selected = tools
        .selected
        .and_then(|e| segments.get(e).ok())
        .map(|seg| {
            let ml = seg.surface.map(|s| s.volume_ml).unwrap_or(seg.voxel_ml);
            format!("{}: {ml:.1} mL", seg.name)
        });
    readout.ruler_mode = rulers.placing;
    readout.ruler = rulers
        .items
        .last()
        .map(|r| format!("Ruler {:.1} mm", r.length_mm()));
}
