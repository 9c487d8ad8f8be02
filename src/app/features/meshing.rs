//! Meshing: builds a surface per segment in the background (core marching
//! cubes, from the scan's intensities for segments made from them, from a
//! model's probabilities for segments a model made, Taubin
//! smoothing held within half a voxel, meshopt decimation) and gives each
//! segment entity its Bevy mesh and material.

use std::sync::Arc;

use bevy::asset::RenderAssetUsages;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;
use rayon::prelude::*;
use stratum_core::mesh::{
    SoftField, SurfaceMesh, SurfaceOptions, intensity_surface, mask_surface, soft_surface,
};
use stratum_core::{CoreError, Progress};

use crate::app::clip::{ClipExtension, SegmentMaterial};
use crate::app::jobs::{JobDone, JobPlugin, Notices, spawn_job};
use crate::app::loading::Study;
use crate::app::segmentation::{Segment, SoftEdge, SurfaceLevel, SurfaceStats};

/// Surface settings (the "Surface" section of the tools panel).
#[derive(Resource, Clone, Debug)]
pub struct SurfaceSettings {
    /// Smooth surface (mask lightly blurred before extraction) or the raw voxel surface.
    pub smooth_surface: bool,
    /// Taubin smoothing passes.
    pub smooth_iterations: usize,
    /// Fraction of triangles removed (0.5 keeps half).
    pub reduce: f64,
}

impl Default for SurfaceSettings {
    fn default() -> Self {
        SurfaceSettings {
            smooth_surface: true,
            smooth_iterations: 10,
            reduce: 0.5,
        }
    }
}

impl SurfaceSettings {
    pub fn options(&self) -> SurfaceOptions {
        SurfaceOptions {
            presmooth_mm: if self.smooth_surface {
                SurfaceOptions::default().presmooth_mm
            } else {
                None
            },
            smooth_iterations: self.smooth_iterations,
            keep_ratio: (1.0 - self.reduce).clamp(0.01, 1.0),
        }
    }
}

/// Build (or rebuild) the surfaces of these segment ids; empty = all.
#[derive(Message, Clone, Debug, Default)]
pub struct BuildMeshes {
    pub ids: Vec<u16>,
}

/// The built surface of a segment, in LPS mm (for picking, measuring, export).
#[derive(Component, Clone, Debug)]
pub struct SegmentSurface(pub Arc<SurfaceMesh>);

/// What a meshing job produces.
pub struct MeshBatch {
    pub meshes: Vec<(u16, SurfaceMesh)>,
}

/// Sent after new surfaces were attached (the camera frames the first ones).
#[derive(Message, Clone, Debug)]
pub struct MeshesBuilt {
    pub first: bool,
}

pub struct MeshingPlugin;

impl Plugin for MeshingPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(JobPlugin::<MeshBatch>::default())
            .add_message::<BuildMeshes>()
            .add_message::<MeshesBuilt>()
            .init_resource::<SurfaceSettings>()
            .init_resource::<SurfacesShown>()
            .add_systems(
                Update,
                (start_meshing, attach_meshes, update_materials).chain(),
            );
    }
}

fn start_meshing(
    mut commands: Commands,
    mut requests: MessageReader<BuildMeshes>,
    study: Option<Res<Study>>,
    segments: Query<(&Segment, Option<&SurfaceLevel>, Option<&SoftEdge>)>,
    settings: Res<SurfaceSettings>,
) {
    let Some(study) = study else {
        requests.clear();
        return;
    };
    let mut ids: Vec<u16> = Vec::new();
    let mut all = false;
    for r in requests.read() {
        all |= r.ids.is_empty();
        ids.extend(&r.ids);
    }
    if all {
        ids = segments.iter().map(|(s, _, _)| s.id).collect();
    }
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return;
    }
    let labels = study.labels.clone();
    let volume = study.volume.clone();
    let opts = settings.options();
    let sources: Vec<(u16, SurfaceSource)> = ids
        .iter()
        .map(|id| {
            let from = match segments.iter().find(|(s, _, _)| s.id == *id) {
                Some((_, Some(l), _)) => SurfaceSource::Level(l.0),
                Some((_, None, Some(soft))) => SurfaceSource::Soft(soft.0.clone()),
                _ => SurfaceSource::Mask,
            };
            (*id, from)
        })
        .collect();
    let title = if ids.len() == 1 {
        let name = segments
            .iter()
            .find(|(s, _, _)| s.id == ids[0])
            .map(|(s, _, _)| s.name.clone())
            .unwrap_or_default();
        format!("Building 3D of {name}")
    } else {
        format!("Building 3D of {} segments", ids.len())
    };
    spawn_job(&mut commands, title, move |progress: &Progress| {
        build(&labels, Some(&volume), &sources, &opts, progress)
    });
}

/// What a segment's surface is built from besides its voxels.
#[derive(Clone, Debug)]
pub enum SurfaceSource {
    Mask,
    /// The scan's intensities at this level.
    Level(f64),
    /// The model's soft output that made it.
    Soft(Arc<SoftField>),
}

/// One segment's surface: from the scan's intensities at its level, or
/// from its model's probabilities, when it has them (and the smooth
/// surface is asked for), else from its mask.
fn surface_of(
    mask: &stratum_core::segment::Mask,
    volume: Option<&stratum_core::volume::Volume>,
    from: &SurfaceSource,
    opts: &SurfaceOptions,
    progress: &Progress,
) -> Result<SurfaceMesh, CoreError> {
    if opts.presmooth_mm.is_some() {
        match (volume, from) {
            (Some(v), SurfaceSource::Level(l)) => {
                return intensity_surface(v, mask, *l, opts, progress);
            }
            (_, SurfaceSource::Soft(field)) => return soft_surface(field, mask, opts, progress),
            _ => {}
        }
    }
    mask_surface(mask, opts, progress)
}

/// Builds the surfaces of the segments `ids` (each with what else it is
/// built from), segments in parallel (each one parallel inside).
pub fn build(
    labels: &stratum_core::segment::LabelMap,
    volume: Option<&stratum_core::volume::Volume>,
    ids: &[(u16, SurfaceSource)],
    opts: &SurfaceOptions,
    progress: &Progress,
) -> Result<MeshBatch, CoreError> {
    if let [(id, from)] = ids {
        let mesh = surface_of(&labels.mask(*id), volume, from, opts, progress)?;
        return Ok(MeshBatch {
            meshes: vec![(*id, mesh)],
        });
    }
    progress.begin("building surfaces", ids.len() as u64);
    let meshes = ids
        .par_iter()
        .map(|(id, from)| {
            progress.check()?;
            let mask = labels.mask(*id);
            let out = if mask.count() == 0 {
                None
            } else {
                Some((
                    *id,
                    surface_of(&mask, volume, from, opts, &Progress::new())?,
                ))
            };
            progress.advance(1);
            Ok(out)
        })
        .collect::<Result<Vec<_>, CoreError>>()?;
    Ok(MeshBatch {
        meshes: meshes.into_iter().flatten().collect(),
    })
}

/// A Bevy mesh from a core surface (positions in LPS mm; the PatientSpace
/// parent scales and rotates them).
pub fn to_bevy_mesh(m: &SurfaceMesh) -> Mesh {
    Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::default(),
    )
    .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, m.positions.clone())
    .with_inserted_attribute(Mesh::ATTRIBUTE_NORMAL, m.normals.clone())
    .with_inserted_indices(Indices::U32(m.indices.clone()))
}

fn attach_meshes(
    mut commands: Commands,
    mut done: MessageMutator<JobDone<MeshBatch>>,
    mut segments: Query<(Entity, &mut Segment, Option<&SegmentSurface>)>,
    mut meshes: ResMut<Assets<Mesh>>,
    mut materials: ResMut<Assets<SegmentMaterial>>,
    mut notices: ResMut<Notices>,
    mut built: MessageWriter<MeshesBuilt>,
) {
    for d in done.read() {
        let title = d.title.clone();
        let Some(batch) = notices.take(&title, d.take()) else {
            continue;
        };
        let first = segments.iter().all(|(_, _, s)| s.is_none());
        info!("{title}: {} surfaces", batch.meshes.len());
        for (id, mesh) in batch.meshes {
            let Some((e, mut seg, _)) = segments.iter_mut().find(|(_, s, _)| s.id == id) else {
                continue;
            };
            seg.surface = Some(SurfaceStats {
                volume_ml: mesh.volume_mm3() / 1000.0,
                area_mm2: mesh.area_mm2(),
                triangles: mesh.triangle_count(),
                watertight: mesh.topology().is_watertight(),
            });
            let material = materials.add(segment_material(&seg));
            commands.entity(e).insert((
                Mesh3d(meshes.add(to_bevy_mesh(&mesh))),
                MeshMaterial3d(material),
                SegmentSurface(Arc::new(mesh)),
            ));
        }
        built.write(MeshesBuilt { first });
    }
}

/// A material that reads anatomy well: matte, slightly glossy, colour from
/// the segment, blended when the user makes it translucent; the clip planes
/// fill in its extension (see `clip`).
pub fn segment_material(seg: &Segment) -> SegmentMaterial {
    SegmentMaterial {
        base: base_material(seg),
        extension: ClipExtension::default(),
    }
}

fn base_material(seg: &Segment) -> StandardMaterial {
    let [r, g, b] = seg.colour;
    StandardMaterial {
        base_color: Color::srgba_u8(r, g, b, (seg.opacity.clamp(0.0, 1.0) * 255.0) as u8),
        perceptual_roughness: 0.55,
        reflectance: 0.3,
        alpha_mode: if seg.opacity < 0.999 {
            AlphaMode::Blend
        } else {
            AlphaMode::Opaque
        },
        ..default()
    }
}

/// Whether the 3D view shows the segment surfaces at all (the volume
/// rendering panel turns them off and on without touching each segment's
/// own visibility).
#[derive(Resource, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SurfacesShown(pub bool);

impl Default for SurfacesShown {
    fn default() -> Self {
        SurfacesShown(true)
    }
}

fn update_materials(
    segments: Query<(
        Ref<Segment>,
        &MeshMaterial3d<SegmentMaterial>,
        &mut Visibility,
    )>,
    shown: Res<SurfacesShown>,
    mut materials: ResMut<Assets<SegmentMaterial>>,
) {
    let all = shown.is_changed();
    for (seg, handle, mut vis) in segments {
        if !all && !seg.is_changed() {
            continue;
        }
        if seg.is_changed()
            && let Some(mut m) = materials.get_mut(&handle.0)
        {
            let fresh = base_material(&seg);
            m.base.base_color = fresh.base_color;
            m.base.alpha_mode =
                crate::app::clip::segment_alpha_mode(seg.opacity, m.extension.clip.mask != 0);
        }
        let want = if seg.visible && shown.0 {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        };
        if *vis != want {
            *vis = want;
        }
    }
}
