//! The wrist panel's picture beside the XR trace, for a test or a
//! developer to look at what the headset shows on it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bevy::prelude::*;
use bevy::render::view::screenshot::{Screenshot, ScreenshotCaptured, save_to_disk};

use super::panel::{PanelImage, WorldPanel};
use super::surgery_panel::XrSurgeryChoice;
use crate::app::features::margins::Margins;
use crate::app::features::surgery::Surgery;
use crate::app::features::surgery_cut::CutPoints;

/// With the trace, the wrist panel's picture is saved beside it
/// (`FILE.panel.png`) each time the panel has looked the same for
/// [`SHOT_AFTER_FRAMES`] frames after a change, so a test (or a developer)
/// can look at what the headset shows on it; `panel_shots` in the trace
/// counts the pictures saved.
#[derive(Resource)]
pub struct PanelShots {
    path: PathBuf,
    /// What the panel showed last frame (hashed).
    key: u64,
    /// Frames it has shown that.
    stable: u32,
    /// What the last picture showed.
    shot: Option<u64>,
    saved: Arc<AtomicU64>,
}

impl PanelShots {
    pub fn new(path: PathBuf) -> Self {
        PanelShots {
            path,
            key: 0,
            stable: 0,
            shot: None,
            saved: Arc::default(),
        }
    }

    /// Pictures saved so far.
    pub fn saved(&self) -> u64 {
        self.saved.load(Ordering::Relaxed)
    }
}

const SHOT_AFTER_FRAMES: u32 = 30;

/// What the Distances page shows beyond its controls.
#[derive(bevy::ecs::system::SystemParam)]
pub struct PageState<'w> {
    choice: Res<'w, XrSurgeryChoice>,
    margins: Res<'w, Margins>,
    surgery: Res<'w, Surgery>,
    points: Res<'w, CutPoints>,
}

pub fn shoot_panel(
    mut commands: Commands,
    mut shots: ResMut<PanelShots>,
    panel: Res<WorldPanel>,
    image: Option<Res<PanelImage>>,
    page: PageState,
) {
    let PageState {
        choice,
        margins,
        surgery,
        points,
    } = page;
    use std::hash::{Hash, Hasher};
    let Some(image) = image else { return };
    if !panel.visible() {
        return;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (name, at) in &panel.widgets {
        name.hash(&mut h);
        at.map(|v| v.round() as i32).hash(&mut h);
    }
    format!("{:?}", panel.page).hash(&mut h);
    choice.readout.hash(&mut h);
    (margins.painted, margins.measuring).hash(&mut h);
    (
        points.placing,
        points.points.len(),
        points.problem.is_some(),
    )
        .hash(&mut h);
    surgery
        .resection
        .as_ref()
        .map(|r| r.remnant_ml.to_bits())
        .hash(&mut h);
    let key = h.finish();
    if key != shots.key {
        shots.key = key;
        shots.stable = 0;
        return;
    }
    shots.stable += 1;
    if shots.stable < SHOT_AFTER_FRAMES || shots.shot == Some(key) {
        return;
    }
    shots.shot = Some(key);
    let saved = shots.saved.clone();
    commands
        .spawn(Screenshot::image(image.0.clone()))
        .observe(save_to_disk(shots.path.clone()))
        .observe(move |_: On<ScreenshotCaptured>| {
            saved.fetch_add(1, Ordering::Relaxed);
        });
}
