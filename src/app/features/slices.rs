//! The slice crosshair and window of a new study: centred, with the
//! window preset for its modality. The slice views themselves (textures,
//! drawing, the mouse on them) are `ui/slice_view.rs`.

use bevy::prelude::*;
use stratum_core::image::view::WindowPreset;

use crate::app::state::crosshair::SliceState;
use crate::app::state::study::{NewStudy, Study};

pub struct SlicesPlugin;

impl Plugin for SlicesPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SliceState>()
            .add_systems(Update, reset_on_load.run_if(resource_exists::<Study>));
    }
}

/// Through [`NewStudy`]: on the frame of the message the resource can
/// still be the old study, whose grid then indexed the new one's slices
/// out of bounds (a second study of another size panicked the slice views).
fn reset_on_load(mut new: NewStudy, mut state: ResMut<SliceState>) {
    let Some(study) = new.arrived() else { return };
    let v = &study.volume;
    let (nz, ny, nx) = v.dim();
    state.set_grid(v.geometry, v.dim());
    state.crosshair = [nx / 2, ny / 2, nz / 2];
    let preset = if v.is_ct() {
        WindowPreset::SoftTissue
    } else {
        WindowPreset::Auto
    };
    state.set_preset(preset, study.auto_window);
}
