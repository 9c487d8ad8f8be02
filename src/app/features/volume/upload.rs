//! The scan's copies on the GPU: the 16-bit texels and empty-space bricks
//! prepared in the background when the volume is first shown for a study,
//! then uploaded with the lookup table and put under the patient root as
//! the voxel grid's box.

use bevy::asset::RenderAssetUsages;
use bevy::ecs::system::SystemParam;
use bevy::image::ImageSampler;
use bevy::light::NotShadowCaster;
use bevy::mesh::{Indices, PrimitiveTopology};
use bevy::prelude::*;
use bevy::render::render_resource::{Extent3d, TextureDimension, TextureFormat};
use stratum_core::base::progress::Progress;
use stratum_core::image::transfer::{BrickMap, half_texels, half_values};
use stratum_core::image::view::texture_from_lps;

use super::material::{VolumeMaterial, VolumeUniform};
use super::{BRICK, LUT_SIZE, VolumeScene, VolumeSettings};
use crate::app::features::clip::mat4_from_rows;
use crate::app::state::jobs::{JobDone, Notices, spawn_job};
use crate::app::state::space::PatientSpace;
use crate::app::state::study::Study;

/// The LPS corners of the voxel grid (outer faces of the edge voxels).
pub fn grid_corners(study: &Study) -> [[f64; 3]; 8] {
    let (nz, ny, nx) = study.volume.dim();
    let g = &study.volume.geometry;
    std::array::from_fn(|c| {
        let at = |bit: usize, n: usize| if c & bit == 0 { -0.5 } else { n as f64 - 0.5 };
        g.index_to_lps([at(1, nx), at(2, ny), at(4, nz)])
    })
}

/// The box mesh (LPS mm, outward faces) of the voxel grid.
fn box_mesh(corners: &[[f64; 3]; 8]) -> Mesh {
    let v: Vec<Vec3> = corners
        .iter()
        .map(|p| Vec3::new(p[0] as f32, p[1] as f32, p[2] as f32))
        .collect();
    let centre = v.iter().copied().sum::<Vec3>() / 8.0;
    // Each face by its corner bits, wound outward whatever the grid's handedness.
    let faces = [
        [0, 2, 6, 4],
        [1, 5, 7, 3],
        [0, 4, 5, 1],
        [2, 3, 7, 6],
        [0, 1, 3, 2],
        [4, 6, 7, 5],
    ];
    let mut indices = Vec::with_capacity(36);
    for f in faces {
        let n = (v[f[1]] - v[f[0]]).cross(v[f[2]] - v[f[0]]);
        let mid = (v[f[0]] + v[f[2]]) / 2.0;
        let tri = if n.dot(mid - centre) >= 0.0 {
            [f[0], f[1], f[2], f[0], f[2], f[3]]
        } else {
            [f[0], f[2], f[1], f[0], f[3], f[2]]
        };
        indices.extend(tri.iter().map(|&i| i as u32));
    }
    Mesh::new(
        PrimitiveTopology::TriangleList,
        RenderAssetUsages::RENDER_WORLD,
    )
    .with_inserted_attribute(Mesh::ATTRIBUTE_POSITION, v)
    .with_inserted_indices(Indices::U32(indices))
}

/// The scan's GPU copies, prepared in the background (a 512³ scan takes
/// seconds on two cores: not on the frame loop).
pub struct VolumeTexels {
    /// The volume they were made from (its address).
    key: usize,
    texels: Vec<u8>,
    bricks: BrickMap,
    /// Value range the lookup table spans.
    span: (f64, f64),
}

/// Starts preparing the scan (16-bit texels, empty-space bricks) when the
/// volume is first shown for a study, and keeps the box's visibility.
pub(super) fn upload(
    mut commands: Commands,
    study: Res<Study>,
    settings: Res<VolumeSettings>,
    mut scene: ResMut<VolumeScene>,
    mut visibility: Query<&mut Visibility>,
) {
    let key = std::sync::Arc::as_ptr(&study.volume) as usize;
    if settings.enabled && scene.uploaded != Some(key) && scene.pending != Some(key) {
        scene.pending = Some(key);
        let volume = study.volume.clone();
        spawn_job(
            &mut commands,
            "Preparing the volume rendering",
            move |p: &Progress| {
                p.begin("16-bit copy of the scan", 2);
                let texels = half_texels(&volume);
                p.advance(1);
                p.check()?;
                let bricks = BrickMap::new(&volume, BRICK);
                p.advance(1);
                let (lo, hi) = volume.voxels.min_max();
                Ok(VolumeTexels {
                    key,
                    texels,
                    bricks,
                    span: (lo, hi.max(lo + 1.0)),
                })
            },
        );
    }
    if let Some(entity) = scene.entity
        && let Ok(mut vis) = visibility.get_mut(entity)
    {
        let want = if settings.enabled && scene.uploaded == Some(key) {
            Visibility::Inherited
        } else {
            Visibility::Hidden
        };
        if *vis != want {
            *vis = want;
        }
    }
}

/// Where the volume's GPU copies go: its 3D texture, lookup table and
/// brick occupancy, its box mesh and its material.
#[derive(SystemParam)]
pub(super) struct VolumeAssets<'w> {
    images: ResMut<'w, Assets<Image>>,
    meshes: ResMut<'w, Assets<Mesh>>,
    materials: ResMut<'w, Assets<VolumeMaterial>>,
}

/// Puts the prepared copies on the GPU and the box under the patient root.
pub(super) fn finish_upload(
    mut commands: Commands,
    mut done: MessageMutator<JobDone<VolumeTexels>>,
    mut notices: ResMut<Notices>,
    study: Option<Res<Study>>,
    mut scene: ResMut<VolumeScene>,
    mut assets: VolumeAssets,
    root: Query<Entity, With<PatientSpace>>,
) {
    for d in done.read() {
        let title = d.title.clone();
        let outcome = d.take();
        let Some(ready) = notices.take(&title, outcome) else {
            scene.pending = None;
            continue;
        };
        let (Some(study), Ok(root)) = (study.as_deref(), root.single()) else {
            continue;
        };
        // A study opened meanwhile: its own copy is on its way.
        if std::sync::Arc::as_ptr(&study.volume) as usize != ready.key {
            continue;
        }
        let volume = &study.volume;
        let (nz, ny, nx) = volume.dim();
        let mut image = Image::new(
            Extent3d {
                width: nx as u32,
                height: ny as u32,
                depth_or_array_layers: nz as u32,
            },
            TextureDimension::D3,
            ready.texels,
            TextureFormat::R16Float,
            RenderAssetUsages::RENDER_WORLD,
        );
        image.sampler = ImageSampler::linear();
        let [bx, by, bz] = ready.bricks.dims;
        let occupancy = Image::new(
            Extent3d {
                width: bx as u32,
                height: by as u32,
                depth_or_array_layers: bz as u32,
            },
            TextureDimension::D3,
            half_values(&vec![1.0; bx * by * bz]),
            TextureFormat::R16Float,
            RenderAssetUsages::RENDER_WORLD | RenderAssetUsages::MAIN_WORLD,
        );
        let mut lut = Image::new(
            Extent3d {
                width: LUT_SIZE as u32,
                height: 1,
                depth_or_array_layers: 1,
            },
            TextureDimension::D2,
            vec![0; LUT_SIZE * 8],
            TextureFormat::Rgba16Float,
            RenderAssetUsages::RENDER_WORLD | RenderAssetUsages::MAIN_WORLD,
        );
        lut.sampler = ImageSampler::linear();
        scene.gpu_bytes = nx * ny * nz * 2 + bx * by * bz * 2 + LUT_SIZE * 8;
        scene.lut_span = ready.span;
        scene.tex_from_lps = mat4_from_rows(texture_from_lps(&volume.geometry, volume.dim()));
        let material = VolumeMaterial {
            u: VolumeUniform::default(),
            scan: assets.images.add(image),
            lut: assets.images.add(lut),
            occupancy: assets.images.add(occupancy),
        };
        scene.lut = Some(material.lut.clone());
        scene.occupancy = Some(material.occupancy.clone());
        scene.bricks = Some(ready.bricks);
        scene.baked = None;
        let handle = assets.materials.add(material);
        scene.material = Some(handle.clone());
        let mesh = assets.meshes.add(box_mesh(&grid_corners(study)));
        if let Some(old) = scene.entity.take() {
            commands.entity(old).despawn();
        }
        let entity = commands
            .spawn((
                Name::new("Volume rendering"),
                Mesh3d(mesh),
                MeshMaterial3d(handle),
                Transform::IDENTITY,
                // Hidden until `upload` sees it is current and wanted.
                Visibility::Hidden,
                NotShadowCaster,
                ChildOf(root),
            ))
            .id();
        scene.entity = Some(entity);
        scene.uploaded = Some(ready.key);
        scene.pending = None;
        info!(
            "volume rendering: {nx}x{ny}x{nz} voxels uploaded as 16-bit ({:.0} MB on the GPU)",
            scene.gpu_bytes as f64 / 1e6
        );
    }
}
