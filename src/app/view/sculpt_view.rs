//! The 3D brush's ball: translucent, the brush's size, on the selected
//! segment under the cursor (`input/brush.rs` finds where), shown while
//! brushing is on.

use bevy::prelude::*;

use crate::app::actions::InputSet;
use crate::app::features::sculpt::BrushSettings;
use crate::app::state::space::{MM, lps_to_world};
use crate::app::state::viewport::BrushHover;

/// The translucent ball of the 3D brush.
#[derive(Component)]
struct BrushBall;

pub struct SculptViewPlugin;

impl Plugin for SculptViewPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Startup, spawn_ball)
            .add_systems(Update, place_ball.after(InputSet));
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
