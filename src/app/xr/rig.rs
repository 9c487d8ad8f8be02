//! The XR rig: the controllers (`controllers`: one OpenXR action set bound
//! for the KHR simple, Oculus Touch and Valve Index controllers, the grip
//! and aim spaces of both hands, read each frame into an [`XrSnapshot`]
//! for the pure mapper in `input`), the virtual table and the lights of the
//! room (`room`), and the controllers drawn as gizmos (`hands`). This
//! module holds the plugin and the resources the other XR parts read.

use bevy::prelude::*;
use bevy_mod_openxr::action_binding::OxrSendActionBindings;
use bevy_mod_openxr::action_set_syncing::OxrActionSetSyncSet;
use bevy_mod_openxr::{openxr_session_available, openxr_session_running};
use bevy_mod_xr::session::{XrPreDestroySession, XrSessionCreated};
use bevy_mod_xr::spaces::XrSpaceSyncSet;

use super::input::{Table, XrGestures, XrSnapshot};

pub mod controllers;
mod hands;
mod room;

/// The rig's PreUpdate steps: the controllers are read, then mapped to
/// actions; between the two the wrist panel takes the pointer it is aimed
/// by (so a trigger on the panel is not also a pick in the scene).
#[derive(SystemSet, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RigSet {
    Read,
    Map,
}

pub struct RigPlugin;

impl Plugin for RigPlugin {
    fn build(&self, app: &mut App) {
        app.configure_sets(PreUpdate, (RigSet::Read, RigSet::Map).chain())
            .init_resource::<XrInput>()
            .init_resource::<HandReadout>()
            .init_resource::<XrTable>()
            .add_systems(
                Startup,
                (
                    controllers::create_actions.run_if(openxr_session_available),
                    room::spawn_room,
                ),
            )
            .add_systems(OxrSendActionBindings, controllers::suggest_bindings)
            .add_systems(XrSessionCreated, controllers::attach_and_spawn_spaces)
            .add_systems(XrPreDestroySession, controllers::forget_session)
            .add_systems(
                PreUpdate,
                (
                    controllers::sync_actions.before(OxrActionSetSyncSet),
                    (
                        controllers::read_snapshot.in_set(RigSet::Read),
                        controllers::map_input.in_set(RigSet::Map),
                    )
                        .after(OxrActionSetSyncSet)
                        .after(XrSpaceSyncSet),
                )
                    .run_if(openxr_session_running),
            )
            .add_systems(
                Update,
                (
                    room::light_xr_cameras,
                    room::place_on_table,
                    room::shape_table,
                    room::show_room,
                    hands::draw_hands,
                    hands::update_readout,
                ),
            );
    }
}

/// The last two snapshots and the gestures in progress.
#[derive(Resource, Default, Debug)]
pub struct XrInput {
    pub prev: XrSnapshot,
    pub cur: XrSnapshot,
    pub gestures: XrGestures,
    /// Snapshots read in this session.
    pub frames: u64,
    pub head_valid: bool,
    /// What the mapper sent in the last frame (for the trace).
    pub last_actions: Vec<String>,
}

/// Words for the panel (and the trace): the scale and the picked segment.
#[derive(Resource, Default, Debug, Clone)]
pub struct HandReadout {
    pub scale: String,
    pub selected: Option<String>,
    pub ruler_mode: bool,
    /// The length of the last ruler placed.
    pub ruler: Option<String>,
}

/// Where the table stands in this session, and the bounds it was fitted to.
#[derive(Resource, Default, Debug)]
pub struct XrTable {
    pub table: Option<Table>,
    pub bounds: Option<(Vec3, Vec3)>,
    /// The anatomy has been laid on it once.
    pub placed: bool,
}
