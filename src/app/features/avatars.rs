//! Who is where in a live session: each other participant drawn as a head
//! (a ball with a nose, so it shows where they look) and two hand markers,
//! in a colour of their own, with their name on a label; and this app's
//! own head and hands as the protocol sends them (in the model's frame,
//! so they line up around the anatomy for everyone). The session's side
//! (joined or hosting) fills [`RemoteAvatars`] and sends [`own_avatar`].

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use bevy_mod_xr::session::XrState;
use stratum_core::live::{Avatar, AvatarPose};

use crate::app::state::space::{AnatomyPose, lps_rotation};
use crate::app::state::viewport::OrbitCamera;
use crate::app::xr::input::Hand;
use crate::app::xr::rig::XrInput;

/// The other participants' avatars now (never this app's own).
#[derive(Resource, Default, Debug, Clone, PartialEq)]
pub struct RemoteAvatars(pub Vec<Avatar>);

/// One part of a participant's avatar.
#[derive(Component, Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvatarPart {
    /// The participant's number (0: the presenter).
    pub from: u64,
    pub part: Part,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Head,
    Left,
    Right,
}

/// A head's size in the model's frame (m): life size at 1:1.
const HEAD_M: f32 = 0.18;
/// A hand marker's size (m).
const HAND_M: f32 = 0.06;
/// A head this near the local eye (m) is this app's own view (a desktop
/// follower looks from where the presenter does): not drawn, it would
/// fill the screen.
const OWN_EYE_M: f32 = 0.25;

/// Sends at most this often (s), and only when something moved.
pub const SEND_EVERY_S: f64 = 1.0 / 20.0;
/// What counts as a move: 5 mm, or about 2° of turn.
const MOVED_MM: f64 = 5.0;
const TURNED: f64 = 0.9998;

pub struct AvatarsPlugin;

impl Plugin for AvatarsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<RemoteAvatars>()
            .add_systems(PostUpdate, sync_avatars.before(TransformSystems::Propagate));
    }
}

/// The names on the desktop (an overlay at each head); in VR the heads'
/// colours match the Share live and join panels' lists.
pub struct AvatarLabelsPlugin;

impl Plugin for AvatarLabelsPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(EguiPrimaryContextPass, avatar_labels);
    }
}

/// A participant's colour: hues spread by the golden angle.
pub fn colour_of(from: u64) -> Color {
    let hue = (from as f32 * 137.508) % 360.0;
    Color::hsl(hue, 0.7, 0.55)
}

/// The name shown for a participant.
pub fn display_name(a: &Avatar) -> String {
    match (a.name.is_empty(), a.from) {
        (false, _) => a.name.clone(),
        (true, 0) => "Presenter".into(),
        (true, n) => format!("participant {n}"),
    }
}

/// Where a pose in the model's frame is in this app's world.
pub fn world_transform(pose: &AnatomyPose, p: &AvatarPose, size_m: f32) -> Transform {
    let l = lps_rotation();
    let q = p.rotation.map(|v| v as f32);
    let q = Quat::from_xyzw(q[0], q[1], q[2], q[3]).normalize();
    Transform {
        translation: pose.lps_to_world(p.position),
        rotation: (pose.0.rotation * l * q * l.inverse()).normalize(),
        scale: Vec3::splat(size_m * pose.scale().max(1e-3)),
    }
}

/// A world transform (a head or a controller: looking along -Z, up +Y)
/// as the protocol's pose in the model's frame.
pub fn model_pose(pose: &AnatomyPose, t: &Transform) -> AvatarPose {
    let l = lps_rotation();
    let q = (l.inverse() * pose.0.rotation.inverse() * t.rotation * l).normalize();
    AvatarPose {
        position: pose.world_to_lps(t.translation),
        rotation: [q.x as f64, q.y as f64, q.z as f64, q.w as f64],
    }
    .rounded()
}

/// This app's own head and hands: the headset's while one runs, else the
/// desktop camera as the head (no hands).
pub fn own_avatar(
    pose: &AnatomyPose,
    xr: Option<(&XrState, &XrInput)>,
    camera: Option<&GlobalTransform>,
) -> [Option<AvatarPose>; 3] {
    if let Some((state, input)) = xr
        && *state == XrState::Running
        && input.head_valid
    {
        let hand = |h: Hand| {
            let s = input.cur.hand(h);
            s.tracked.then(|| model_pose(pose, &s.grip))
        };
        return [
            Some(model_pose(pose, &input.cur.head)),
            hand(Hand::Left),
            hand(Hand::Right),
        ];
    }
    [
        camera.map(|c| model_pose(pose, &c.compute_transform())),
        None,
        None,
    ]
}

/// Whether `now` differs from what was last sent enough to send again.
pub fn moved(last: &[Option<AvatarPose>; 3], now: &[Option<AvatarPose>; 3]) -> bool {
    last.iter().zip(now).any(|(a, b)| match (a, b) {
        (None, None) => false,
        (Some(a), Some(b)) => {
            let d2: f64 = (0..3)
                .map(|i| (a.position[i] - b.position[i]).powi(2))
                .sum();
            let dot: f64 = (0..4).map(|i| a.rotation[i] * b.rotation[i]).sum();
            d2 >= MOVED_MM * MOVED_MM || dot.abs() < TURNED
        }
        _ => true,
    })
}

/// Meshes and materials shared by every avatar.
#[derive(Default)]
struct Looks {
    head: Option<Handle<Mesh>>,
    nose: Option<Handle<Mesh>>,
    hand: Option<Handle<Mesh>>,
    colours: Vec<(u64, Handle<StandardMaterial>)>,
}

/// Where this app's own viewer is: the headset's head while it is
/// tracked, else the desktop's 3D camera.
#[derive(SystemParam)]
struct ViewerEye<'w, 's> {
    xr: Option<Res<'w, XrInput>>,
    camera: Query<'w, 's, &'static GlobalTransform, With<OrbitCamera>>,
}

impl ViewerEye<'_, '_> {
    fn position(&self) -> Option<Vec3> {
        match self.xr.as_deref().filter(|x| x.head_valid) {
            Some(x) => Some(x.cur.head.translation),
            None => self.camera.iter().next().map(|g| g.translation()),
        }
    }
}

/// The avatars' meshes and per-participant materials (none in a headless
/// app without a renderer), made once and shared.
#[derive(SystemParam)]
struct AvatarAssets<'w, 's> {
    meshes: Option<ResMut<'w, Assets<Mesh>>>,
    materials: Option<ResMut<'w, Assets<StandardMaterial>>>,
    looks: Local<'s, Looks>,
}

impl AvatarAssets<'_, '_> {
    /// Gives a new part entity its mesh and the participant's colour.
    fn dress(&mut self, e: &mut EntityCommands, from: u64, part: Part) {
        let (Some(meshes), Some(materials)) =
            (self.meshes.as_deref_mut(), self.materials.as_deref_mut())
        else {
            return;
        };
        let looks = &mut *self.looks;
        let material = match looks.colours.iter().find(|(f, _)| *f == from) {
            Some((_, m)) => m.clone(),
            None => {
                let m = materials.add(StandardMaterial {
                    base_color: colour_of(from),
                    perceptual_roughness: 0.6,
                    ..default()
                });
                looks.colours.push((from, m.clone()));
                m
            }
        };
        if part == Part::Head {
            let head = looks
                .head
                .get_or_insert_with(|| meshes.add(Sphere::new(0.5).mesh().uv(24, 16)))
                .clone();
            let nose = looks
                .nose
                .get_or_insert_with(|| meshes.add(Cone::new(0.18, 0.35).mesh().resolution(16)))
                .clone();
            e.insert((Mesh3d(head), MeshMaterial3d(material.clone())));
            // The nose points where the head looks (-Z); a cone's tip
            // is +Y.
            e.with_child((
                Mesh3d(nose),
                MeshMaterial3d(material),
                Transform::from_xyz(0.0, 0.0, -0.55)
                    .with_rotation(Quat::from_rotation_x(-std::f32::consts::FRAC_PI_2)),
            ));
        } else {
            let hand = looks
                .hand
                .get_or_insert_with(|| meshes.add(Cuboid::new(0.6, 0.4, 1.0)))
                .clone();
            e.insert((Mesh3d(hand), MeshMaterial3d(material)));
        }
    }
}

/// Keeps one entity per part of each other participant's avatar where it
/// is (hidden when not tracked), and none for those who left.
fn sync_avatars(
    mut commands: Commands,
    avatars: Res<RemoteAvatars>,
    pose: Res<AnatomyPose>,
    mut parts: Query<(Entity, &AvatarPart, &mut Transform, &mut Visibility)>,
    eye: ViewerEye,
    mut assets: AvatarAssets,
) {
    let eye = eye.position();
    let wanted = |a: &Avatar, part: Part| -> Option<Transform> {
        let (p, size) = match part {
            Part::Head => (a.head.as_ref()?, HEAD_M),
            Part::Left => (a.left.as_ref()?, HAND_M),
            Part::Right => (a.right.as_ref()?, HAND_M),
        };
        let t = world_transform(&pose, p, size);
        let own_view = part == Part::Head
            && eye.is_some_and(|e| e.distance(t.translation) < OWN_EYE_M * pose.scale());
        (!own_view).then_some(t)
    };
    let mut seen: Vec<(u64, Part)> = Vec::new();
    for (entity, part, mut transform, mut visibility) in &mut parts {
        let Some(a) = avatars.0.iter().find(|a| a.from == part.from) else {
            commands.entity(entity).despawn();
            continue;
        };
        seen.push((part.from, part.part));
        match wanted(a, part.part) {
            Some(t) => {
                if *transform != t {
                    *transform = t;
                }
                visibility.set_if_neq(Visibility::Inherited);
            }
            None => {
                visibility.set_if_neq(Visibility::Hidden);
            }
        }
    }
    for a in &avatars.0 {
        for part in [Part::Head, Part::Left, Part::Right] {
            if seen.contains(&(a.from, part)) {
                continue;
            }
            let t = wanted(a, part);
            let mut e = commands.spawn((
                Name::new(format!("Avatar {} {part:?}", a.from)),
                AvatarPart { from: a.from, part },
                t.unwrap_or_default(),
                if t.is_some() {
                    Visibility::Inherited
                } else {
                    Visibility::Hidden
                },
            ));
            assets.dress(&mut e, a.from, part);
        }
    }
}

/// Each other participant's name at their head, in their colour.
fn avatar_labels(
    mut contexts: EguiContexts,
    avatars: Res<RemoteAvatars>,
    parts: Query<(&AvatarPart, &GlobalTransform, &Visibility)>,
    camera: Query<(&Camera, &GlobalTransform), With<OrbitCamera>>,
) -> Result {
    if avatars.0.is_empty() {
        return Ok(());
    }
    let Ok((camera, at)) = camera.single() else {
        return Ok(());
    };
    let ctx = contexts.ctx_mut()?.clone();
    let painter = ctx.layer_painter(egui::LayerId::new(
        egui::Order::Background,
        egui::Id::new("live-avatar-names"),
    ));
    for (part, t, vis) in &parts {
        if part.part != Part::Head || *vis == Visibility::Hidden {
            continue;
        }
        let Some(a) = avatars.0.iter().find(|a| a.from == part.from) else {
            continue;
        };
        let above = t.translation() + Vec3::Y * t.scale().y * 0.7;
        let Ok(v) = camera.world_to_viewport(at, above) else {
            continue;
        };
        let name = display_name(a);
        let c = colour_of(a.from).to_srgba();
        let fill = egui::Color32::from_rgb(
            (c.red * 255.0) as u8,
            (c.green * 255.0) as u8,
            (c.blue * 255.0) as u8,
        );
        let galley =
            painter.layout_no_wrap(name, egui::FontId::proportional(14.0), egui::Color32::WHITE);
        let pos = egui::pos2(v.x - galley.size().x / 2.0, v.y - galley.size().y);
        painter.rect_filled(
            egui::Rect::from_min_size(pos, galley.size()).expand(3.0),
            6.0,
            fill,
        );
        painter.galley(pos, galley, egui::Color32::WHITE);
    }
    Ok(())
}
