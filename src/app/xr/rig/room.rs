//! The room in VR: a table stood in front of the user with the anatomy laid
//! on it, a floor and a lamp, shown only while the session runs, and the
//! eyes lit as the desktop view is.

use bevy::prelude::*;
use bevy_mod_xr::camera::XrCamera;
use bevy_mod_xr::session::XrState;

use super::{XrInput, XrTable};
use crate::app::actions::PoseAction;
use crate::app::features::meshing::MeshesBuilt;
use crate::app::state::segments::Segment;
use crate::app::state::segments::SegmentSurface;
use crate::app::state::space::PoseHome;
use crate::app::view::camera::visible_bounds;
use crate::app::xr::input::{table_for, table_pose, yaw_to};

#[derive(Component)]
pub(super) struct RoomPart;

#[derive(Component)]
pub(super) struct TableTop;

#[derive(Component)]
pub(super) struct RoomLight;

/// The eyes get the same ambient light as the desktop view.
pub(super) fn light_xr_cameras(mut commands: Commands, cams: Query<Entity, Added<XrCamera>>) {
    for e in &cams {
        commands.entity(e).insert(AmbientLight {
            color: Color::WHITE,
            brightness: 350.0,
            ..default()
        });
    }
}

/// A table (top and legs), a floor and a lamp, shown while in VR.
pub(super) fn spawn_room(
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
pub(super) struct PedestalLeg;

pub(super) fn show_room(
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

/// What the anatomy on the table spans: its visible surfaces, or the
/// scan's box when there are none (its volume rendering is what shows).
#[derive(bevy::ecs::system::SystemParam)]
pub(super) struct AnatomyExtent<'w, 's> {
    surfaces: Query<'w, 's, (&'static Segment, &'static SegmentSurface)>,
    study: Option<Res<'w, crate::app::state::study::Study>>,
}

impl AnatomyExtent<'_, '_> {
    fn bounds(&self) -> Option<(Vec3, Vec3)> {
        visible_bounds(self.surfaces.iter()).or_else(|| {
            self.study
                .as_deref()
                .map(crate::app::view::camera::scan_bounds)
        })
    }
}

/// Moves the table's top and pedestal to where the table was stood.
pub(super) fn shape_table(
    table: Res<XrTable>,
    mut top: Query<&mut Transform, (With<TableTop>, Without<PedestalLeg>)>,
    mut leg: Query<&mut Transform, (With<PedestalLeg>, Without<TableTop>)>,
) {
    let Some(t) = table.table.filter(|_| table.is_changed()) else {
        return;
    };
    if let Ok(mut tt) = top.single_mut() {
        *tt = Transform::from_translation(t.top_centre).with_rotation(yaw_to(t.along));
    }
    if let Ok(mut lt) = leg.single_mut() {
        let h = t.top_centre.y.max(0.05);
        *lt = Transform::from_xyz(0.0, -h / 2.0, 0.0).with_scale(Vec3::new(1.0, h, 1.0));
    }
}

/// Stands the table in front of the user once the head is tracked, and
/// lays the anatomy on it when surfaces exist (again when new ones come,
/// as the new home pose; the anatomy is moved only the first time).
pub(super) fn place_on_table(
    state: Option<Res<XrState>>,
    input: Res<XrInput>,
    mut table: ResMut<XrTable>,
    mut built: MessageReader<MeshesBuilt>,
    anatomy: AnatomyExtent,
    mut home: ResMut<PoseHome>,
    mut pose: MessageWriter<PoseAction>,
) {
    let new_meshes = built.read().count() > 0;
    if !state.is_some_and(|s| *s == XrState::Running) || !input.head_valid {
        return;
    }
    let mut fresh = false;
    let t = match table.table {
        Some(t) => t,
        None => {
            let t = table_for(&input.cur.head);
            table.table = Some(t);
            fresh = true;
            info!(
                "VR table: top at {:.2} m, {:.2} m ahead",
                t.top_centre.y,
                (t.top_centre - input.cur.head.translation)
                    .with_y(0.0)
                    .length()
            );
            t
        }
    };
    if !(fresh || new_meshes || table.bounds.is_none()) {
        return;
    }
    // The surfaces, or the scan's box when there are none (its volume
    // rendering is what shows).
    let Some(bounds) = anatomy.bounds() else {
        return;
    };
    if table.bounds == Some(bounds) {
        return;
    }
    table.bounds = Some(bounds);
    home.0 = table_pose(&t, bounds);
    if !table.placed {
        table.placed = true;
        pose.write(PoseAction::Reset);
    }
}
