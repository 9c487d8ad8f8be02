//! The XR brush's ball: while brushing is on, a translucent sphere in the
//! selected segment's colour at the right controller's tip, the brush's
//! size at the anatomy's current scale (what a trigger stroke would paint).

use bevy::prelude::*;

use super::input::{Hand, brush_tip};
use super::rig::XrInput;
use crate::app::features::sculpt::BrushSettings;
use crate::app::state::segments::{Segment, ToolSettings};
use crate::app::state::space::AnatomyPose;

pub struct BrushBallPlugin;

impl Plugin for BrushBallPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, spawn_ball)
            .add_systems(Update, place_ball);
    }
}

#[derive(Component)]
struct BrushBall;

fn spawn_ball(
    mut commands: Commands,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    commands.spawn((
        BrushBall,
        Mesh3d(meshes.add(Sphere::new(0.5).mesh().uv(32, 16))),
        MeshMaterial3d(materials.add(StandardMaterial {
            base_color: Color::srgba(1.0, 1.0, 1.0, 0.35),
            alpha_mode: AlphaMode::Blend,
            unlit: true,
            ..default()
        })),
        Transform::default(),
        Visibility::Hidden,
    ));
}

fn place_ball(
    input: Res<XrInput>,
    settings: Res<BrushSettings>,
    tools: Res<ToolSettings>,
    segments: Query<&Segment>,
    pose: Res<AnatomyPose>,
    mut ball: Query<
        (
            &mut Transform,
            &mut Visibility,
            &MeshMaterial3d<StandardMaterial>,
        ),
        With<BrushBall>,
    >,
    mut materials: ResMut<Assets<StandardMaterial>>,
) {
    let Ok((mut t, mut vis, material)) = ball.single_mut() else {
        return;
    };
    let hand = input.cur.hand(Hand::Right);
    let show = settings.active && hand.tracked && input.frames > 0;
    let want = if show {
        Visibility::Visible
    } else {
        Visibility::Hidden
    };
    if *vis != want {
        *vis = want;
    }
    if !show {
        return;
    }
    t.translation = brush_tip(&hand.aim);
    t.scale = Vec3::splat(settings.diameter_mm as f32 / 1000.0 * pose.scale());
    let colour = tools
        .selected
        .and_then(|e| segments.get(e).ok())
        .map_or([255, 255, 255], |s| s.colour);
    let c = Color::srgba_u8(colour[0], colour[1], colour[2], 90);
    if let Some(m) = materials.get(&material.0)
        && m.base_color != c
        && let Some(mut m) = materials.get_mut(&material.0)
    {
        m.base_color = c;
    }
}
