//! The slice crosshair and window of a new study: centred, with the
//! window preset for its modality. The slice views themselves (textures,
//! drawing, the mouse on them) are `ui/slice_view.rs`.

use bevy::prelude::*;
use stratum_core::view::WindowPreset;

use crate::app::state::crosshair::SliceState;
use crate::app::state::study::{Study, StudyLoaded};

pub struct SlicesPlugin;

impl Plugin for SlicesPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SliceState>()
            .add_systems(Update, reset_on_load);
    }
}

fn reset_on_load(
    mut loaded: MessageReader<StudyLoaded>,
    study: Option<Res<Study>>,
    mut state: ResMut<SliceState>,
) {
    if loaded.read().last().is_none() {
        return;
    }
    let Some(study) = study else { return };
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
