//! The segment entities follow the document: one entity per segment of the
//! study's table (under the patient-space root), spawned, updated and
//! despawned as [`DocumentChanged`] says, with the id -> entity index. A
//! segment a tool, a model or the brush panel just added becomes the
//! selected one. A name or colour being typed or dragged becomes one
//! history step once the user pauses.

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;

use stratum_core::document::Edit;

use crate::app::state::document::{ApplyEdit, DocEdit, DocumentChanged, SegmentIndex};
use crate::app::state::segments::{Segment, ToolSettings};
use crate::app::state::space::PatientSpace;
use crate::app::state::study::{Study, StudyLoaded};

/// Frames without a further change before a name, colour or visibility
/// edit becomes a history step (typing a name is one step).
const TABLE_QUIET_FRAMES: u32 = 20;

/// Marks what an emptied segment loses besides its stats (its mesh and
/// surface); the meshing feature registers the components.
#[derive(Message, Clone, Debug)]
pub struct SurfaceEmptied(pub Entity);

pub struct SegmentsPlugin;

impl Plugin for SegmentsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<SegmentIndex>()
            .init_resource::<ToolSettings>()
            .add_message::<DocumentChanged>()
            .add_message::<ApplyEdit>()
            .add_message::<SurfaceEmptied>()
            .add_systems(
                Update,
                (
                    apply_requested,
                    spawn_on_load,
                    follow_changes,
                    seal_table_edits.run_if(resource_exists::<Study>),
                )
                    .chain()
                    .in_set(SegmentsSet),
            );
    }
}

/// The entity sync, for ordering (features that look entities up by id run
/// after it).
#[derive(SystemSet, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SegmentsSet;

fn spawn_segment(commands: &mut Commands, root: Entity, study: &Study, id: u16) -> Entity {
    let doc = &study.doc;
    let (name, colour, visible) = doc
        .segment(id)
        .map(|s| (s.name.clone(), s.colour, s.visible))
        .unwrap_or_default();
    commands
        .spawn((
            Name::new(format!("segment {id}")),
            Segment {
                id,
                name,
                colour,
                visible,
                opacity: doc.props(id).opacity,
                voxel_ml: doc.voxel_ml(id),
                surface: None,
            },
            Transform::default(),
            Visibility::default(),
            ChildOf(root),
        ))
        .id()
}

/// The panels' edits (names, colours, visibility, opacity).
fn apply_requested(mut requests: MessageReader<ApplyEdit>, mut doc: DocEdit) {
    for ApplyEdit(edit) in requests.read() {
        let what = match edit {
            Edit::SetField { .. } => "Changing the segment",
            Edit::SetOpacity { .. } => "Changing the opacity",
            _ => "The edit",
        };
        doc.apply(what, edit.clone());
    }
}

/// A new study: its table's segments replace the old entities.
fn spawn_on_load(
    mut commands: Commands,
    mut loaded: MessageReader<StudyLoaded>,
    old: Query<Entity, With<Segment>>,
    root: Query<Entity, With<PatientSpace>>,
    study: Option<Res<Study>>,
    mut index: ResMut<SegmentIndex>,
    mut tools: ResMut<ToolSettings>,
) {
    if loaded.read().last().is_none() {
        return;
    }
    for e in &old {
        commands.entity(e).despawn();
    }
    index.0.clear();
    tools.selected = None;
    let (Some(study), Ok(root)) = (study, root.single()) else {
        return;
    };
    for s in study.doc.segments() {
        let e = spawn_segment(&mut commands, root, &study, s.id);
        index.0.insert(s.id, e);
    }
}

/// What the sync writes: the entities, their index and the selection.
#[derive(SystemParam)]
struct SegmentEntities<'w, 's> {
    commands: Commands<'w, 's>,
    root: Query<'w, 's, Entity, With<PatientSpace>>,
    segments: Query<'w, 's, &'static mut Segment>,
    index: ResMut<'w, SegmentIndex>,
    tools: ResMut<'w, ToolSettings>,
    emptied: MessageWriter<'w, SurfaceEmptied>,
}

/// Brings the entities in line with each change.
fn follow_changes(
    mut changes: MessageReader<DocumentChanged>,
    study: Option<Res<Study>>,
    mut out: SegmentEntities,
) {
    let (Some(study), Ok(root)) = (study, out.root.single()) else {
        changes.clear();
        return;
    };
    let SegmentEntities {
        commands,
        segments,
        index,
        tools,
        emptied,
        ..
    } = &mut out;
    let doc = &study.doc;
    for DocumentChanged {
        change,
        from_history,
        ..
    } in changes.read()
    {
        for id in &change.removed {
            if let Some(e) = index.0.remove(id) {
                if tools.selected == Some(e) {
                    tools.selected = None;
                }
                commands.entity(e).despawn();
            }
        }
        for id in &change.added {
            if index.get(*id).is_some() || doc.segment(*id).is_none() {
                continue;
            }
            let e = spawn_segment(commands, root, &study, *id);
            index.0.insert(*id, e);
            if !from_history {
                tools.selected = Some(e);
            }
        }
        for id in change.props.iter().chain(&change.voxels) {
            let (Some(e), Some(row)) = (index.get(*id), doc.segment(*id)) else {
                continue;
            };
            let Ok(mut seg) = segments.get_mut(e) else {
                continue;
            };
            let opacity = doc.props(*id).opacity;
            let ml = doc.voxel_ml(*id);
            let differs = seg.name != row.name
                || seg.colour != row.colour
                || seg.visible != row.visible
                || seg.opacity != opacity
                || seg.voxel_ml != ml;
            if differs {
                seg.name.clone_from(&row.name);
                seg.colour = row.colour;
                seg.visible = row.visible;
                seg.opacity = opacity;
                seg.voxel_ml = ml;
            }
            // Out of the stroke's voxels too: its surface goes at once.
            if doc.voxel_count(*id) == 0 && seg.surface.is_some() {
                seg.surface = None;
                emptied.write(SurfaceEmptied(e));
            }
        }
    }
}

/// Seals a name, colour or visibility edit into one history step once the
/// user has not changed it for [`TABLE_QUIET_FRAMES`].
fn seal_table_edits(mut study: ResMut<Study>, mut quiet: Local<(u64, u32)>) {
    if !study.doc.has_pending() {
        *quiet = (study.doc.generation(), 0);
        return;
    }
    let generation = study.doc.generation();
    if quiet.0 != generation {
        *quiet = (generation, 0);
        return;
    }
    quiet.1 += 1;
    if quiet.1 >= TABLE_QUIET_FRAMES {
        study.doc.seal();
        *quiet = (study.doc.generation(), 0);
    }
}
