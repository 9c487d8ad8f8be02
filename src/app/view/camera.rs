//! The 3D view: an orbit camera driven by [`ViewAction`]s, a headlight that
//! follows it, and picking on the segment surfaces (a picked point moves the
//! slice crosshair there and selects the segment). The orbit lives in the
//! model frame and follows the [`AnatomyPose`], so the desktop keeps its view
//! while XR moves the anatomy. The mouse that drives it is `input/desktop.rs`.

use bevy::camera::Viewport;
use bevy::prelude::*;
use bevy::window::PrimaryWindow;

use crate::app::actions::{InputSet, StandardView, ViewAction};
use crate::app::features::meshing::MeshesBuilt;
use crate::app::state::crosshair::SliceState;
use crate::app::state::segments::{Segment, SegmentSurface, ToolSettings, pick_surface};
use crate::app::state::space::{AnatomyPose, lps_to_world};
use crate::app::state::viewport::{OrbitCamera, ViewRect};

pub struct CameraPlugin;

impl Plugin for CameraPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<ViewRect>()
            .init_resource::<Turntable>()
            .insert_resource(ClearColor(Color::srgb(0.11, 0.12, 0.14)))
            .add_systems(Startup, (spawn_camera, gizmos_on_top))
            .add_systems(
                Update,
                (
                    frame_new_meshes,
                    turn_table,
                    apply_view_actions,
                    draw_crosshair,
                    draw_rulers,
                    draw_clip_planes,
                )
                    .chain()
                    .after(InputSet),
            )
            .add_systems(PostUpdate, apply_viewport);
    }
}

/// The crosshair and the rulers are drawn over the anatomy: a ruler across
/// an organ would otherwise vanish inside it.
fn gizmos_on_top(mut store: ResMut<GizmoConfigStore>) {
    let (config, _) = store.config_mut::<DefaultGizmoConfigGroup>();
    config.depth_bias = -1.0;
}

fn spawn_camera(mut commands: Commands) {
    let orbit = OrbitCamera::default();
    commands
        .spawn((
            Name::new("3D view"),
            Camera3d::default(),
            Projection::Perspective(PerspectiveProjection {
                fov: 30f32.to_radians(),
                near: 0.002,
                far: 20.0,
                ..default()
            }),
            orbit.transform(),
            orbit,
            AmbientLight {
                color: Color::WHITE,
                brightness: 350.0,
                ..default()
            },
        ))
        .with_children(|c| {
            // A headlight from above-left of the viewer: every side the user
            // turns toward them is lit, with soft shading that shows shape.
            c.spawn((
                DirectionalLight {
                    illuminance: 6000.0,
                    shadow_maps_enabled: false,
                    ..default()
                },
                Transform::from_xyz(-0.4, 0.6, 1.0).looking_at(Vec3::ZERO, Vec3::Y),
            ));
        });
}

/// Keeps the camera's viewport on the area the panels leave free.
fn apply_viewport(
    rect: Res<ViewRect>,
    window: Query<&Window, With<PrimaryWindow>>,
    mut camera: Query<&mut Camera, With<OrbitCamera>>,
) {
    let (Some(r), Ok(window), Ok(mut camera)) = (rect.0, window.single(), camera.single_mut())
    else {
        return;
    };
    let s = window.scale_factor();
    let (pw, ph) = (window.physical_width(), window.physical_height());
    let min = UVec2::new((r.min.x * s) as u32, (r.min.y * s) as u32).min(UVec2::new(pw, ph));
    let max = UVec2::new((r.max.x * s) as u32, (r.max.y * s) as u32).min(UVec2::new(pw, ph));
    let size = (max - min.min(max)).max(UVec2::ONE);
    let vp = Viewport {
        physical_position: min,
        physical_size: size,
        ..default()
    };
    if camera
        .viewport
        .as_ref()
        .map(|v| (v.physical_position, v.physical_size))
        != Some((vp.physical_position, vp.physical_size))
    {
        camera.viewport = Some(vp);
    }
}

/// Bounding box (model frame: the world at the identity pose) of the visible surfaces.
pub fn visible_bounds<'a>(
    surfaces: impl Iterator<Item = (&'a Segment, &'a SegmentSurface)>,
) -> Option<(Vec3, Vec3)> {
    let mut lo = Vec3::splat(f32::MAX);
    let mut hi = Vec3::splat(f32::MIN);
    let mut any = false;
    for (seg, surf) in surfaces {
        if !seg.visible {
            continue;
        }
        if let Some((a, b)) = surf.0.bounds() {
            for corner in 0..8 {
                let p = [
                    if corner & 1 == 0 { a[0] } else { b[0] },
                    if corner & 2 == 0 { a[1] } else { b[1] },
                    if corner & 4 == 0 { a[2] } else { b[2] },
                ];
                let w = lps_to_world([p[0] as f64, p[1] as f64, p[2] as f64]);
                lo = lo.min(w);
                hi = hi.max(w);
                any = true;
            }
        }
    }
    any.then_some((lo, hi))
}

/// Bounding box (model frame) of the scan's voxel grid.
pub fn scan_bounds(study: &crate::app::state::study::Study) -> (Vec3, Vec3) {
    crate::app::features::volume::upload::grid_corners(study)
        .iter()
        .map(|&p| lps_to_world(p))
        .fold(
            (Vec3::splat(f32::MAX), Vec3::splat(f32::MIN)),
            |(lo, hi), w| (lo.min(w), hi.max(w)),
        )
}

/// The 3D view turns about the patient's long axis (View ▸ Turntable).
#[derive(Resource, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Turntable(pub bool);

/// Degrees per second the turntable turns.
const TURNTABLE_DEG_S: f32 = 20.0;

fn turn_table(
    turntable: Res<Turntable>,
    time: Res<Time<Real>>,
    mut actions: MessageWriter<ViewAction>,
) {
    if turntable.0 {
        let d = (TURNTABLE_DEG_S * time.delta_secs()).to_radians();
        actions.write(ViewAction::Orbit(Vec2::new(d, 0.0)));
    }
}

fn frame_new_meshes(mut built: MessageReader<MeshesBuilt>, mut actions: MessageWriter<ViewAction>) {
    if built.read().any(|b| b.first) {
        actions.write(ViewAction::Reset);
    }
}

fn apply_view_actions(
    mut actions: MessageReader<ViewAction>,
    mut camera: Query<(&mut OrbitCamera, &mut Transform, &Projection)>,
    surfaces: Query<(Entity, &Segment, &SegmentSurface)>,
    mut slices: ResMut<SliceState>,
    mut tools: ResMut<ToolSettings>,
    pose: Res<AnatomyPose>,
    study: Option<Res<crate::app::state::study::Study>>,
) {
    let Ok((mut orbit, mut transform, projection)) = camera.single_mut() else {
        return;
    };
    let fov = match projection {
        Projection::Perspective(p) => p.fov,
        _ => 0.5,
    };
    for action in actions.read() {
        match *action {
            ViewAction::Orbit(d) => {
                orbit.yaw += d.x;
                orbit.pitch = (orbit.pitch + d.y).clamp(-1.57, 1.57);
            }
            ViewAction::Pan(d) => {
                let rot = transform.rotation;
                let extent = 2.0 * orbit.distance * (fov / 2.0).tan();
                orbit.focus += rot * Vec3::new(-d.x, d.y, 0.0) * extent;
            }
            ViewAction::Zoom(f) => {
                orbit.distance = (orbit.distance * f).clamp(0.01, 10.0);
            }
            ViewAction::Reset | ViewAction::Standard(_) => {
                // The visible surfaces, or the scan's box when there are none
                // (a study without segments shows its volume rendering).
                let bounds = visible_bounds(surfaces.iter().map(|(_, s, m)| (s, m)))
                    .or_else(|| study.as_deref().map(scan_bounds));
                if let Some((lo, hi)) = bounds {
                    let radius = (hi - lo).length() / 2.0;
                    orbit.focus = (lo + hi) / 2.0;
                    orbit.distance = (radius / (fov / 2.0).sin() * 1.05).max(0.02);
                }
                let (yaw, pitch) = match *action {
                    ViewAction::Standard(v) => v.angles(),
                    _ => StandardView::Anterior.angles(),
                };
                orbit.yaw = yaw;
                orbit.pitch = pitch;
            }
            ViewAction::Pick { ray, centre } => {
                if let Some((entity, hit)) = pick_surface(&ray, &pose, surfaces.iter()) {
                    if centre {
                        orbit.focus = pose.model_from_world(hit);
                    }
                    slices.move_to_lps(pose.world_to_lps(hit));
                    if tools.selected != Some(entity) {
                        tools.selected = Some(entity);
                    }
                }
            }
        }
    }
    let t = orbit.world_transform(&pose);
    if *transform != t {
        *transform = t;
    }
}

/// The active clip planes in 3D: an outline the size of the scan, the
/// focused one brighter, so a Ctrl+drag shows what it moves.
fn draw_clip_planes(
    mut gizmos: Gizmos,
    clip: Res<crate::app::features::clip::ClipSettings>,
    study: Option<Res<crate::app::state::study::Study>>,
    pose: Res<AnatomyPose>,
) {
    let Some(study) = study else { return };
    let (nz, ny, nx) = study.volume.dim();
    let s = study.volume.geometry.spacing;
    let size = (nx as f64 * s[0])
        .max(ny as f64 * s[1])
        .max(nz as f64 * s[2]) as f32
        * crate::app::state::space::MM
        * pose.scale();
    for (i, plane) in clip.active() {
        let n = pose.lps_dir_to_world(Vec3::new(
            plane.normal[0] as f32,
            plane.normal[1] as f32,
            plane.normal[2] as f32,
        ));
        let centre = pose.lps_to_world(plane.point);
        let rotation = Quat::from_rotation_arc(Vec3::Z, n);
        let colour = if i == clip.focus {
            Color::srgb(0.35, 0.8, 1.0)
        } else {
            Color::srgba(0.35, 0.8, 1.0, 0.5)
        };
        gizmos.rect(Isometry3d::new(centre, rotation), Vec2::splat(size), colour);
        gizmos.arrow(centre, centre + n * size * 0.12, colour);
    }
}

/// Rulers in 3D: a line with a tick at each end (their lengths are drawn
/// by the UI at the midpoints).
fn draw_rulers(
    mut gizmos: Gizmos,
    rulers: Res<crate::app::features::measurements::Rulers>,
    orbit: Query<&OrbitCamera>,
    pose: Res<AnatomyPose>,
) {
    let tick = pose.world_length(orbit.single().map(|o| o.distance * 0.008).unwrap_or(0.003));
    let colour = Color::srgb(1.0, 0.55, 0.15);
    for r in &rulers.items {
        let (a, b) = (pose.lps_to_world(r.a), pose.lps_to_world(r.b));
        gizmos.line(a, b, colour);
        gizmos.sphere(Isometry3d::from_translation(a), tick, colour);
        gizmos.sphere(Isometry3d::from_translation(b), tick, colour);
    }
    if let Some(first) = rulers.first {
        gizmos.sphere(
            Isometry3d::from_translation(pose.lps_to_world(first)),
            tick * 1.5,
            colour,
        );
    }
}

/// The slice crosshair in 3D: three short lines through the point.
fn draw_crosshair(
    mut gizmos: Gizmos,
    slices: Res<SliceState>,
    orbit: Query<&OrbitCamera>,
    pose: Res<AnatomyPose>,
) {
    let Some(p) = slices.crosshair_lps() else {
        return;
    };
    let c = pose.lps_to_world(p);
    let len = pose.world_length(orbit.single().map(|o| o.distance * 0.04).unwrap_or(0.02));
    gizmos.line(
        c - Vec3::X * len,
        c + Vec3::X * len,
        Color::srgb(1.0, 0.3, 0.3),
    );
    gizmos.line(
        c - Vec3::Y * len,
        c + Vec3::Y * len,
        Color::srgb(0.3, 1.0, 0.3),
    );
    gizmos.line(
        c - Vec3::Z * len,
        c + Vec3::Z * len,
        Color::srgb(0.4, 0.6, 1.0),
    );
}
