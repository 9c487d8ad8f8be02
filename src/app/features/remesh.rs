//! Local remeshing while a brush edits a segment: its surface is shown as
//! the core's chunked surface (one surface-nets chunk per 32³ brick, seams
//! shared, normals from the field), and each brush sample redoes only the
//! chunks of the bricks it reached. When the full rebuild of the surface
//! (the usual smoothed, reduced recipe) arrives, the chunks go and the full
//! mesh shows again.

use std::collections::HashMap;

use bevy::asset::RenderAssetUsages;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;
use stratum_core::edit::bricks::BrickId;
use stratum_core::edit::{ChunkedSurface, SurfaceChunk};

use crate::app::clip::SegmentMaterial;
use crate::app::loading::Study;
use crate::app::meshing::SegmentSurface;
use crate::app::sculpt::{StrokeEnded, StrokeState, VoxelsEdited};
use crate::app::segmentation::Segment;

/// A Bevy mesh of one chunk (LPS mm, under the segment's entity).
pub fn chunk_to_bevy(c: &SurfaceChunk) -> Mesh {
    Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::default(),
    )
    .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, c.positions.clone())
    .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, c.normals.clone())
    .with_inserted_indices(Indices::U32(c.indices.clone()))
}

/// Marks a chunk entity (a child of its segment's entity).
#[derive(Component, Clone, Copy, Debug)]
pub struct ChunkEntity {
    pub segment: u16,
    pub brick: BrickId,
}

/// The segments shown as chunks, and their chunk entities.
#[derive(Resource, Default)]
pub struct LiveSurfaces {
    pub segments: HashMap<u16, LiveSurface>,
}

pub struct LiveSurface {
    pub surface: ChunkedSurface,
    pub chunks: HashMap<BrickId, Entity>,
    /// Full rebuilds asked for and not arrived yet.
    pub pending: u32,
}

pub struct RemeshPlugin;

impl Plugin for RemeshPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<LiveSurfaces>().add_systems(
            Update,
            (remesh_chunks, count_rebuilds, retire_chunks)
                .chain()
                .after(crate::app::sculpt::SculptSet),
        );
    }
}

/// Redoes the chunks of the edited bricks; the first edit of a segment
/// turns its surface into chunks (all its bricks) and hides its full mesh.
#[allow(clippy::too_many_arguments)]
fn remesh_chunks(
    mut commands: Commands,
    mut edits: MessageReader<VoxelsEdited>,
    study: Option<Res<Study>>,
    mut live: ResMut<LiveSurfaces>,
    segments: Query<(Entity, &Segment, Option<&MeshMaterial3d<SegmentMaterial>>)>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<SegmentMaterial>>,
) {
    let Some(study) = study else {
        edits.clear();
        return;
    };
    let labels = &*study.labels;
    for edit in edits.read() {
        for &id in &edit.ids {
            let Some((e, seg, material)) = segments.iter().find(|(_, s, _)| s.id == id) else {
                continue;
            };
            let material = match material {
                Some(m) => m.0.clone(),
                None => materials.add(crate::app::meshing::segment_material(seg)),
            };
            let bricks: Vec<BrickId> = match live.segments.get_mut(&id) {
                Some(s) => s.surface.update(labels, edit.region),
                None => {
                    // The first edit: the whole segment as chunks, its full
                    // (smoothed) mesh hidden until the rebuild.
                    let surface = ChunkedSurface::build(labels, id);
                    let bricks = surface.grid().all().collect();
                    commands.entity(e).remove::<Mesh3d>();
                    commands.entity(e).insert(MeshMaterial3d(material.clone()));
                    live.segments.insert(
                        id,
                        LiveSurface {
                            surface,
                            chunks: HashMap::new(),
                            pending: 0,
                        },
                    );
                    bricks
                }
            };
            let entry = live.segments.get_mut(&id).expect("inserted above");
            for brick in bricks {
                if let Some(old) = entry.chunks.remove(&brick) {
                    commands.entity(old).despawn();
                }
                let chunk = entry.surface.chunk(brick);
                if chunk.is_empty() {
                    continue;
                }
                let entity = commands
                    .spawn((
                        ChunkEntity { segment: id, brick },
                        Mesh3d(meshes.add(chunk_to_bevy(chunk))),
                        MeshMaterial3d(material.clone()),
                        Transform::default(),
                        Visibility::default(),
                        ChildOf(e),
                    ))
                    .id();
                entry.chunks.insert(brick, entity);
            }
        }
    }
}

/// Counts the full rebuilds a stroke (or an undo) asked for.
fn count_rebuilds(mut ended: MessageReader<StrokeEnded>, mut live: ResMut<LiveSurfaces>) {
    for msg in ended.read() {
        for id in &msg.rebuilt {
            if let Some(s) = live.segments.get_mut(id) {
                s.pending += 1;
            }
        }
        for id in &msg.emptied {
            if let Some(s) = live.segments.get_mut(id) {
                s.pending = 0;
            }
        }
    }
}

/// When a segment's full surface arrives and no stroke or later rebuild is
/// on its way, its chunks go; an emptied segment's chunks go at once.
fn retire_chunks(
    mut commands: Commands,
    mut live: ResMut<LiveSurfaces>,
    stroke: Res<StrokeState>,
    segments: Query<(Entity, &Segment, Option<Ref<SegmentSurface>>)>,
) {
    let stroking = stroke.current.as_ref().map(|s| s.segment);
    let mut done = Vec::new();
    for (&id, surface) in live.segments.iter_mut() {
        let Some((e, _, built)) = segments.iter().find(|(_, s, _)| s.id == id) else {
            done.push(id);
            continue;
        };
        let arrived = built.as_ref().is_some_and(|b| b.is_changed());
        if arrived {
            surface.pending = surface.pending.saturating_sub(1);
        }
        if stroking != Some(id) && surface.pending == 0 {
            for (_, c) in surface.chunks.drain() {
                commands.entity(c).despawn();
            }
            done.push(id);
        } else if arrived {
            // A rebuild of an earlier state arrived mid-stroke: keep the chunks.
            commands.entity(e).remove::<Mesh3d>();
        }
    }
    for id in done {
        live.segments.remove(&id);
    }
}
