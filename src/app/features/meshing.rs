//! Meshing: builds a surface per segment in the background (core marching
//! cubes, by each segment's recipe in the document: from the scan's
//! intensities for segments made from them, from a model's probabilities
//! for segments a model made, else from the voxels; Taubin smoothing held
//! within half a voxel, meshopt decimation) and gives each segment entity
//! its Bevy mesh and material. It follows the document: a new study, an
//! edit that changed a segment's voxels (once a stroke has ended), or the
//! Build 3D button.

use std::sync::Arc;

use bevy::asset::RenderAssetUsages;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;
use rayon::prelude::*;
use stratum_core::document::SurfaceRecipe;
use stratum_core::mesh::{
    SurfaceMesh, SurfaceOptions, finish_intensity_mesh, intensity_mesh_bits, mask_surface,
    soft_surface,
};
use stratum_core::segment::BitMask;
use stratum_core::{base::error::CoreError, base::progress::Progress};

use crate::app::features::clip::{ClipExtension, SegmentMaterial};
use crate::app::features::segments::{SegmentsSet, SurfaceEmptied};
use crate::app::state::document::{DocumentChanged, SegmentIndex};
use crate::app::state::jobs::{JobDone, JobPlugin, Notices, spawn_job};
use crate::app::state::segments::{MarginColoured, Segment, SegmentSurface, SurfaceStats};
use crate::app::state::study::{Study, StudyLoaded};

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

/// What a meshing job produces.
pub struct MeshBatch {
    pub meshes: Vec<(u16, SurfaceMesh)>,
}

/// Sent after new surfaces were attached (the camera frames the first ones).
#[derive(Message, Clone, Debug)]
pub struct MeshesBuilt {
    pub first: bool,
}

/// Starting meshing jobs and attaching the surfaces they built: systems
/// that read surfaces run after it to see a surface the frame it arrives.
#[derive(SystemSet, Clone, Debug, PartialEq, Eq, Hash)]
pub struct MeshingSet;

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
                (start_meshing, attach_meshes, drop_emptied, update_materials)
                    .chain()
                    .in_set(MeshingSet)
                    .after(SegmentsSet),
            );
    }
}

/// The surfaces to build this frame: asked for (Build 3D), every segment of
/// a study that just arrived, and the segments whose voxels an edit changed
/// (a stroke's once it ends: until then the chunks follow it).
fn start_meshing(
    mut commands: Commands,
    mut requests: MessageReader<BuildMeshes>,
    mut changes: MessageReader<DocumentChanged>,
    mut loaded: MessageReader<StudyLoaded>,
    mut pending: Local<(bool, usize)>,
    study: Option<Res<Study>>,
    settings: Res<SurfaceSettings>,
) {
    // The study resource may arrive a frame after its message (commands):
    // the first frame with another study than the one last built whole
    // builds every segment.
    let key = |s: &Study| Arc::as_ptr(&s.volume) as usize;
    if loaded.read().last().is_some() {
        pending.0 = true;
    }
    let Some(study) = study else {
        requests.clear();
        changes.clear();
        return;
    };
    let doc = &study.doc;
    let mut ids: Vec<u16> = Vec::new();
    let mut all = false;
    for r in requests.read() {
        all |= r.ids.is_empty();
        ids.extend(&r.ids);
    }
    for c in changes.read() {
        if !c.change.live {
            ids.extend(&c.change.voxels);
        }
        ids.extend(&c.change.recipes);
    }
    if pending.0 && pending.1 != key(&study) {
        *pending = (false, key(&study));
        all = true;
    }
    if all {
        ids = doc.segments().iter().map(|s| s.id).collect();
    }
    ids.retain(|id| doc.voxel_count(*id) > 0);
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return;
    }
    let labels = doc.labels().clone();
    let volume = study.volume.clone();
    let opts = settings.options();
    let sources: Vec<(u16, SurfaceRecipe)> = ids.iter().map(|id| (*id, doc.recipe(*id))).collect();
    let title = if ids.len() == 1 {
        let name = doc
            .segment(ids[0])
            .map(|s| s.name.clone())
            .unwrap_or_default();
        format!("Building 3D of {name}")
    } else {
        format!("Building 3D of {} segments", ids.len())
    };
    spawn_job(&mut commands, title, move |progress: &Progress| {
        build(&labels, Some(&volume), &sources, &opts, progress)
    });
}

/// One segment's surface: from the scan's intensities at its level, or
/// from its model's probabilities, when it has them (and the smooth
/// surface is asked for), else from its mask. `None` for an empty segment.
/// The intensities are read through the segment's voxels as bits (a
/// byte mask would be another buffer of the label map's size, held while
/// the surface is built).
fn surface_of(
    labels: &stratum_core::segment::LabelMap,
    id: u16,
    volume: Option<&stratum_core::image::volume::Volume>,
    from: &SurfaceRecipe,
    opts: &SurfaceOptions,
    progress: &Progress,
) -> Result<Option<SurfaceMesh>, CoreError> {
    if opts.presmooth_mm.is_some()
        && let (Some(v), SurfaceRecipe::Level(l)) = (volume, from)
    {
        let bits = BitMask::of_label(labels, id);
        if bits.count() == 0 {
            return Ok(None);
        }
        let (mut mesh, noise) = intensity_mesh_bits(v, &bits, *l, progress)?;
        finish_intensity_mesh(&mut mesh, noise, &bits.geometry, opts);
        progress.advance(1);
        return Ok(Some(mesh));
    }
    let mask = labels.mask(id);
    if mask.count() == 0 {
        return Ok(None);
    }
    if opts.presmooth_mm.is_some()
        && let SurfaceRecipe::Soft(field) = from
    {
        return soft_surface(field, &mask, opts, progress).map(Some);
    }
    mask_surface(&mask, opts, progress).map(Some)
}

/// Builds the surfaces of the segments `ids` (each with what else it is
/// built from), segments in parallel (each one parallel inside).
pub fn build(
    labels: &stratum_core::segment::LabelMap,
    volume: Option<&stratum_core::image::volume::Volume>,
    ids: &[(u16, SurfaceRecipe)],
    opts: &SurfaceOptions,
    progress: &Progress,
) -> Result<MeshBatch, CoreError> {
    if let [(id, from)] = ids {
        let mesh = surface_of(labels, *id, volume, from, opts, progress)?;
        return Ok(MeshBatch {
            meshes: mesh.map(|m| (*id, m)).into_iter().collect(),
        });
    }
    progress.begin("building surfaces", ids.len() as u64);
    let meshes = ids
        .par_iter()
        .map(|(id, from)| {
            progress.check()?;
            let out =
                surface_of(labels, *id, volume, from, opts, &Progress::new())?.map(|m| (*id, m));
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

/// Where finished surfaces go: the segment entities and their assets.
#[derive(bevy::ecs::system::SystemParam)]
struct SurfaceTargets<'w, 's> {
    commands: Commands<'w, 's>,
    segments: Query<'w, 's, (&'static mut Segment, Option<&'static SegmentSurface>)>,
    index: Res<'w, SegmentIndex>,
    meshes: ResMut<'w, Assets<Mesh>>,
    materials: ResMut<'w, Assets<SegmentMaterial>>,
}

fn attach_meshes(
    mut done: MessageMutator<JobDone<MeshBatch>>,
    mut to: SurfaceTargets,
    mut notices: ResMut<Notices>,
    mut built: MessageWriter<MeshesBuilt>,
) {
    for d in done.read() {
        let title = d.title.clone();
        let Some(batch) = notices.take(&title, d.take()) else {
            continue;
        };
        let first = to.segments.iter().all(|(_, s)| s.is_none());
        info!("{title}: {} surfaces", batch.meshes.len());
        for (id, mesh) in batch.meshes {
            let Some(e) = to.index.get(id) else {
                continue;
            };
            let Ok((mut seg, _)) = to.segments.get_mut(e) else {
                continue;
            };
            seg.surface = Some(SurfaceStats {
                volume_ml: mesh.volume_mm3() / 1000.0,
                area_mm2: mesh.area_mm2(),
                triangles: mesh.triangle_count(),
                watertight: mesh.topology().is_watertight(),
            });
            let material = to.materials.add(segment_material(&seg));
            to.commands.entity(e).insert((
                Mesh3d(to.meshes.add(to_bevy_mesh(&mesh))),
                MeshMaterial3d(material),
                SegmentSurface(Arc::new(mesh)),
            ));
        }
        built.write(MeshesBuilt { first });
    }
}

/// A segment whose voxels are gone loses its surface at once.
fn drop_emptied(mut commands: Commands, mut emptied: MessageReader<SurfaceEmptied>) {
    for SurfaceEmptied(e) in emptied.read() {
        if let Ok(mut entity) = commands.get_entity(*e) {
            entity.remove::<(Mesh3d, SegmentSurface)>();
        }
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

/// What a segment's look is made of.
type SegmentLook = (
    Ref<'static, Segment>,
    &'static MeshMaterial3d<SegmentMaterial>,
    &'static mut Visibility,
    Has<MarginColoured>,
);

fn update_materials(
    segments: Query<SegmentLook>,
    shown: Res<SurfacesShown>,
    mut materials: ResMut<Assets<SegmentMaterial>>,
) {
    let all = shown.is_changed();
    for (seg, handle, mut vis, margin) in segments {
        if !all && !seg.is_changed() {
            continue;
        }
        if seg.is_changed()
            && let Some(mut m) = materials.get_mut(&handle.0)
        {
            let fresh = base_material(&seg);
            m.base.base_color = if margin {
                // The vertex colours carry the colour.
                Color::WHITE.with_alpha(fresh.base_color.alpha())
            } else {
                fresh.base_color
            };
            m.base.alpha_mode = crate::app::features::clip::segment_alpha_mode(
                seg.opacity,
                m.extension.clip.mask != 0,
            );
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
