//! What the three egui surfaces in VR (the hand label, the wrist panel, the
//! ruler labels) share: an image an egui context draws into through its own
//! inactive-until-shown camera, the unlit material that shows it on a quad,
//! turning a quad to the eyes, and showing or hiding a quad and its camera.

use bevy::asset::RenderAssetUsages;
use bevy::camera::RenderTarget;
use bevy::camera::visibility::RenderLayers;
use bevy::ecs::schedule::ScheduleLabel;
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat, TextureUsages};
use bevy_egui::EguiSchedule;

/// Spawns a camera that renders nothing of the scene but runs the egui pass
/// `pass` into a transparent `size` image, with `marker`; returns the image.
/// The camera starts inactive; `order` keeps the passes apart.
pub fn spawn_egui_target(
    commands: &mut Commands,
    images: &mut Assets<Image>,
    size: (u32, u32),
    order: isize,
    pass: impl ScheduleLabel,
    marker: impl Bundle,
) -> Handle<Image> {
    let mut image = Image::new_fill(
        Extent3d {
            width: size.0,
            height: size.1,
            depth_or_array_layers: 1,
        },
        TextureDimension::D2,
        &[0, 0, 0, 0],
        TextureFormat::Rgba8UnormSrgb,
        RenderAssetUsages::all(),
    );
    image.texture_descriptor.usage |= TextureUsages::RENDER_ATTACHMENT;
    let image = images.add(image);
    commands.spawn((
        marker,
        Camera2d,
        Camera {
            order,
            is_active: false,
            clear_color: ClearColorConfig::Custom(Color::NONE),
            ..default()
        },
        RenderTarget::Image(image.clone().into()),
        RenderLayers::none(),
        EguiSchedule::new(pass),
    ));
    image
}

/// The image on a quad as it is: unlit, blended, seen from both sides.
pub fn quad_material(image: Handle<Image>) -> StandardMaterial {
    StandardMaterial {
        base_color_texture: Some(image),
        alpha_mode: AlphaMode::Blend,
        unlit: true,
        double_sided: true,
        cull_mode: None,
        ..default()
    }
}

/// A quad at `at` with its face (+Z) turned to `eye` and the world's up kept
/// up, so it reads however the hand under it turns.
pub fn facing(at: Vec3, eye: Vec3) -> Transform {
    let mut t = Transform::from_translation(at);
    let to_eye = eye - at;
    if to_eye.length() > 1e-3 {
        // look_to points -Z along the direction: +Z looks at the eye.
        t.look_to(-to_eye, Vec3::Y);
    }
    t
}

/// Turns an egui target's camera on or off (a hidden quad's image need
/// not be rendered), touching it only when that changes.
pub fn set_camera(camera: Option<Mut<Camera>>, on: bool) {
    if let Some(mut cam) = camera
        && cam.is_active != on
    {
        cam.is_active = on;
    }
}

/// Shows or hides a quad, touching it only when that changes.
pub fn set_visible(visibility: &mut Visibility, show: bool) {
    let want = if show {
        Visibility::Inherited
    } else {
        Visibility::Hidden
    };
    if *visibility != want {
        *visibility = want;
    }
}
