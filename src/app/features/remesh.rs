//! Local remeshing while a brush edits a segment: its surface is shown as
//! the core's chunked surface (one surface-nets chunk per 32³ brick, seams
//! shared, normals from the field), and each brush sample redoes only the
//! chunks of the bricks it reached. When the full rebuild of the surface
//! (the usual smoothed, reduced recipe) arrives, the chunks go and the full
//! mesh shows again.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bevy::asset::RenderAssetUsages;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;
use stratum_core::edit::bricks::BrickId;
use stratum_core::edit::{ChunkedSurface, SurfaceChunk};

use crate::app::features::clip::SegmentMaterial;
use crate::app::features::meshing::segment_material;
use crate::app::features::segments::SegmentsSet;
use crate::app::state::document::{DocumentChanged, SegmentIndex};
use crate::app::state::segments::Segment;
use crate::app::state::segments::SegmentSurface;
use crate::app::state::study::Study;

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

/// How long each brush sample took from its edit to its chunk meshes: the
/// wall time from the edit's start to the last chunk mesh made, what the
/// hand waits for (the stamp and the chunk meshing run on several threads,
/// so no one thread's CPU time would say it; on a busy machine it counts
/// other processes' turns too). The XR trace reads it; the last
/// [`SampleTimes::KEPT`] are kept.
#[derive(Resource, Default)]
pub struct SampleTimes {
    /// Samples timed since the start.
    pub count: u64,
    pub recent: VecDeque<SampleTime>,
}

#[derive(Clone, Copy, Debug)]
pub struct SampleTime {
    /// Its number (`SampleTimes::count` after it).
    pub seq: u64,
    pub wall: Duration,
    /// Chunk meshes made for it.
    pub chunks: usize,
    /// The stroke's first sample on a segment shown whole: all its bricks
    /// became chunks.
    pub first: bool,
}

impl SampleTimes {
    pub const KEPT: usize = 256;

    fn push(&mut self, applied: Instant, chunks: usize, first: bool) {
        self.count += 1;
        if self.recent.len() == Self::KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(SampleTime {
            seq: self.count,
            wall: applied.elapsed(),
            chunks,
            first,
        });
    }
}

pub struct RemeshPlugin;

impl Plugin for RemeshPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<LiveSurfaces>()
            .init_resource::<SampleTimes>()
            .add_systems(
                Update,
                (
                    remesh_chunks.run_if(resource_exists::<Study>),
                    count_rebuilds.run_if(resource_exists::<Study>),
                    retire_chunks,
                )
                    .chain()
                    .after(SegmentsSet),
            );
    }
}

/// The chunk entities' world: the segments and the assets they draw with.
#[derive(bevy::ecs::system::SystemParam)]
struct ChunkWorld<'w, 's> {
    commands: Commands<'w, 's>,
    segments: Query<
        'w,
        's,
        (
            &'static Segment,
            Option<&'static MeshMaterial3d<SegmentMaterial>>,
        ),
    >,
    index: Res<'w, SegmentIndex>,
    meshes: ResMut<'w, Assets<Mesh>>,
    materials: ResMut<'w, Assets<SegmentMaterial>>,
}

/// Redoes the chunks of the bricks a stroke sample changed (and those an
/// undo changed on a segment still shown as chunks); the first sample on a
/// segment turns its surface into chunks (all its bricks) and hides its
/// full mesh until the rebuild.
fn remesh_chunks(
    mut changes: MessageReader<DocumentChanged>,
    study: Res<Study>,
    mut live: ResMut<LiveSurfaces>,
    mut times: ResMut<SampleTimes>,
    mut w: ChunkWorld,
) {
    let labels = &**study.doc.labels();
    for DocumentChanged {
        change, applied, ..
    } in changes.read()
    {
        let (mut made, mut first) = (0, false);
        for &id in &change.voxels {
            // Other changes are rebuilt whole; a segment already shown as
            // chunks follows them at once too.
            if !change.live && !live.segments.contains_key(&id) {
                continue;
            }
            let Some(e) = w.index.get(id) else {
                continue;
            };
            let Ok((seg, material)) = w.segments.get(e) else {
                continue;
            };
            let material = match material {
                Some(m) => m.0.clone(),
                None => w.materials.add(segment_material(seg)),
            };
            let bricks: Vec<BrickId> = match live.segments.get_mut(&id) {
                Some(s) => s.surface.update(labels, change.region),
                None => {
                    first = true;
                    let surface = ChunkedSurface::build(labels, id);
                    let bricks = surface.grid().all().collect();
                    w.commands.entity(e).remove::<Mesh3d>();
                    w.commands
                        .entity(e)
                        .insert(MeshMaterial3d(material.clone()));
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
                    w.commands.entity(old).despawn();
                }
                let chunk = entry.surface.chunk(brick);
                if chunk.is_empty() {
                    continue;
                }
                let entity = w
                    .commands
                    .spawn((
                        ChunkEntity { segment: id, brick },
                        Mesh3d(w.meshes.add(chunk_to_bevy(chunk))),
                        MeshMaterial3d(material.clone()),
                        Transform::default(),
                        Visibility::default(),
                        ChildOf(e),
                    ))
                    .id();
                entry.chunks.insert(brick, entity);
                made += 1;
            }
        }
        if change.live {
            times.push(*applied, made, first);
        }
    }
}

/// Counts the full rebuilds on their way (a stroke that ended, an undo):
/// one per change that is not a stroke sample; an emptied segment has none.
fn count_rebuilds(
    mut changes: MessageReader<DocumentChanged>,
    study: Res<Study>,
    mut live: ResMut<LiveSurfaces>,
) {
    for DocumentChanged { change, .. } in changes.read() {
        if change.live {
            continue;
        }
        for id in &change.voxels {
            if let Some(s) = live.segments.get_mut(id) {
                if study.doc.voxel_count(*id) > 0 {
                    s.pending += 1;
                } else {
                    s.pending = 0;
                }
            }
        }
    }
}

/// When a segment's full surface arrives and no stroke or later rebuild is
/// on its way, its chunks go; an emptied segment's chunks go at once.
fn retire_chunks(
    mut commands: Commands,
    mut live: ResMut<LiveSurfaces>,
    study: Option<Res<Study>>,
    index: Res<SegmentIndex>,
    segments: Query<Option<Ref<SegmentSurface>>, With<Segment>>,
) {
    let stroking = study.and_then(|s| s.doc.stroking());
    let mut done = Vec::new();
    for (&id, surface) in live.segments.iter_mut() {
        let Some((e, built)) = index
            .get(id)
            .and_then(|e| segments.get(e).ok().map(|b| (e, b)))
        else {
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
