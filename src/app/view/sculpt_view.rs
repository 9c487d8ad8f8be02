//! The desktop side of the brushes: the circle under the cursor on the
//! slice views and the strokes dragged there, the translucent ball on the
//! surface under the cursor in the 3D view and the strokes dragged there.
//! Both only send [`BrushAction`]s; `sculpt` applies them.

use bevy::prelude::*;
use bevy::window::PrimaryWindow;
use bevy_egui::egui;
use stratum_core::view::{Plane, SliceLayout};

use crate::app::camera::{OrbitCamera, ViewRect};
use crate::app::clip::{ClipSettings, NotClipped};
use crate::app::loading::Study;
use crate::app::sculpt::{BrushAction, BrushSettings, StrokePhase, pick_segment};
use crate::app::segmentation::{Segment, ToolSettings};
use crate::app::slices::SliceEvent;
use crate::app::space::{MM, lps_to_world, world_dir_to_lps, world_to_lps};

/// The continuous voxel index (x, y, z) at display position (col, row) of
/// `slice` (pixel centres at whole numbers).
pub fn slice_index(layout: &SliceLayout, slice: usize, col: f32, row: f32) -> [f64; 3] {
    let base = layout.to_index(0, 0, slice).map(|v| v as f64);
    let step = |c: usize, r: usize| {
        let i = layout.to_index(c, r, slice).map(|v| v as f64);
        [i[0] - base[0], i[1] - base[1], i[2] - base[2]]
    };
    let dc = if layout.width > 1 {
        step(1, 0)
    } else {
        [0.0; 3]
    };
    let dr = if layout.height > 1 {
        step(0, 1)
    } else {
        [0.0; 3]
    };
    std::array::from_fn(|k| base[k] + col as f64 * dc[k] + row as f64 * dr[k])
}

/// A slice view with brushing on: the brush circle (its diameter in mm at
/// the view's scale) under the cursor, and a left drag (or click) as a stroke.
#[allow(clippy::too_many_arguments)]
pub fn slice_brush(
    painter: &egui::Painter,
    response: &egui::Response,
    brush: &BrushSettings,
    plane: Plane,
    px_per_mm: f32,
    rect: egui::Rect,
    lps_at: impl Fn(egui::Pos2) -> [f64; 3],
    events: &mut Vec<SliceEvent>,
) {
    let radius = (brush.diameter_mm as f32 / 2.0 * px_per_mm).max(1.0);
    let colour = if brush.tool.adds() {
        egui::Color32::from_rgb(120, 230, 120)
    } else {
        egui::Color32::from_rgb(240, 120, 110)
    };
    if let Some(pos) = response.hover_pos().filter(|p| rect.contains(*p)) {
        painter.circle_stroke(pos, radius, egui::Stroke::new(1.5, colour));
    }
    let action = |phase, pos| {
        SliceEvent::Brush(BrushAction {
            phase,
            tool: brush.tool,
            point: lps_at(pos),
            plane: (!brush.sphere).then_some(plane),
        })
    };
    let primary = egui::PointerButton::Primary;
    if response.drag_started_by(primary) {
        let start = response
            .ctx
            .input(|i| i.pointer.press_origin())
            .or(response.interact_pointer_pos());
        if let Some(p) = start {
            events.push(action(StrokePhase::Begin, p));
        }
    }
    if response.dragged_by(primary)
        && let Some(p) = response.interact_pointer_pos()
    {
        events.push(action(StrokePhase::Sample, p));
    }
    if response.drag_stopped_by(primary)
        && let Some(p) = response.interact_pointer_pos()
    {
        events.push(action(StrokePhase::End, p));
    }
    if response.clicked_by(primary)
        && let Some(p) = response.interact_pointer_pos()
    {
        events.push(action(StrokePhase::Begin, p));
        events.push(action(StrokePhase::End, p));
    }
}

/// The point of the selected segment under the cursor in the 3D view, and
/// whether a stroke dragged there is in progress (the camera then leaves
/// the left button alone).
#[derive(Resource, Default, Debug)]
pub struct BrushHover {
    pub point: Option<[f64; 3]>,
    pub stroking: bool,
}

/// The translucent ball of the 3D brush.
#[derive(Component)]
struct BrushBall;

pub struct SculptViewPlugin;

impl Plugin for SculptViewPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<BrushHover>()
            .add_systems(Startup, spawn_ball)
            .add_systems(
                Update,
                (
                    mouse_to_brush.before(crate::app::input::desktop::mouse_to_actions),
                    place_ball,
                )
                    .chain(),
            );
    }
}

fn spawn_ball(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    commands.spawn((
        Name::new("brush ball"),
        BrushBall,
        Mesh3d(meshes.add(Sphere::new(1.0).mesh().uv(32, 16))),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color: Color::srgba(1.0, 0.85, 0.35, 0.35),
            alpha_mode: AlphaMode::Blend,
            unlit: true,
            ..default()
        })),
        Transform::default(),
        Visibility::Hidden,
    ));
}

/// Desktop mouse in the 3D view with brushing on: the ball follows the
/// selected segment under the cursor; a left drag starting on it sculpts.
#[allow(clippy::too_many_arguments)]
fn mouse_to_brush(
    buttons: Res<ButtonInput<MouseButton>>,
    rect: Res<ViewRect>,
    window: Query<&Window, With<PrimaryWindow>>,
    camera: Query<(&Camera, &GlobalTransform), With<OrbitCamera>>,
    settings: Res<BrushSettings>,
    tools: Res<ToolSettings>,
    segments: Query<(&Segment, Has<NotClipped>)>,
    study: Option<Res<Study>>,
    clip: Res<ClipSettings>,
    mut hover: ResMut<BrushHover>,
    mut actions: MessageWriter<BrushAction>,
) {
    let selected = tools.selected.and_then(|e| segments.get(e).ok());
    let (Some(study), Some((seg, whole)), true) = (study, selected, settings.active) else {
        hover.point = None;
        if hover.stroking {
            hover.stroking = false;
        }
        return;
    };
    let cursor = window.single().ok().and_then(|w| w.cursor_position());
    let inside = cursor.is_some_and(|c| rect.0.is_some_and(|r| r.contains(c)));
    let ray = cursor.filter(|_| inside).and_then(|c| {
        camera
            .single()
            .ok()
            .and_then(|(cam, at)| cam.viewport_to_world(at, c).ok())
    });
    let clips: Vec<_> = if whole {
        Vec::new()
    } else {
        clip.active().map(|(_, p)| *p).collect()
    };
    hover.point = ray.and_then(|ray| {
        let o = world_to_lps(ray.origin);
        let d = world_dir_to_lps(*ray.direction);
        pick_segment(
            &study.labels,
            seg.id,
            o,
            [d.x as f64, d.y as f64, d.z as f64],
            &clips,
        )
    });
    let tool = settings.tool.in_3d();
    let send = |actions: &mut MessageWriter<BrushAction>, phase, point| {
        actions.write(BrushAction {
            phase,
            tool,
            point,
            plane: None,
        });
    };
    if buttons.just_pressed(MouseButton::Left)
        && let Some(p) = hover.point
    {
        hover.stroking = true;
        send(&mut actions, StrokePhase::Begin, p);
    } else if hover.stroking && buttons.pressed(MouseButton::Left) {
        if let Some(p) = hover.point {
            send(&mut actions, StrokePhase::Sample, p);
        }
    } else if hover.stroking {
        hover.stroking = false;
        let p = hover.point.unwrap_or_default();
        send(&mut actions, StrokePhase::End, p);
    }
}

fn place_ball(
    hover: Res<BrushHover>,
    settings: Res<BrushSettings>,
    mut ball: Query<(&mut Transform, &mut Visibility), With<BrushBall>>,
) {
    let Ok((mut t, mut vis)) = ball.single_mut() else {
        return;
    };
    let want = match hover.point {
        Some(p) if settings.active => {
            t.translation = lps_to_world(p);
            t.scale = Vec3::splat(settings.diameter_mm as f32 / 2.0 * MM);
            Visibility::Visible
        }
        _ => Visibility::Hidden,
    };
    if *vis != want {
        *vis = want;
    }
}
