//! glTF binary in glTF's own conventions (metres, +Y up).

use std::path::Path;

use super::margin::Painted;
use super::texture::{Atlas, atlas_png};
use super::{ExportSegment, unique_names};
use crate::base::atomic::write_bytes_atomic;
use crate::base::error::{CoreError, Result};

/// What the root node's `extras` and the asset's generator say.
pub const GLB_NOTE: &str = "Scene in glTF conventions: metres, +Y superior, +Z anterior, +X patient left, centred on the anatomy. Mesh positions are the exact DICOM patient LPS millimetres (x to patient Left, y to Posterior, z to Superior); the root node's transform (scale 0.001, -90 degrees about X, translation) places them. To recover LPS mm, ignore the root node's transform.";

/// The root node's transform as glTF TRS (translation in metres, rotation
/// quaternion x, y, z, w, uniform scale) for anatomy whose LPS bounding
/// box centre is `centre_mm`: LPS mm to glTF metres, +Y superior, +Z
/// anterior, +X patient left, the centre at the origin.
pub fn glb_root_transform(centre_mm: [f64; 3]) -> ([f32; 3], [f32; 4], f32) {
    // glTF (X, Y, Z) = (L, S, -P): a rotation of -90 degrees about X (det +1,
    // so triangle winding and normals stay outward).
    let h = std::f32::consts::FRAC_1_SQRT_2;
    let [cx, cy, cz] = centre_mm;
    (
        [
            (-cx * 0.001) as f32,
            (-cz * 0.001) as f32,
            (cy * 0.001) as f32,
        ],
        [-h, 0.0, 0.0, h],
        0.001,
    )
}

/// Per-axis minimum and maximum of points.
fn bounds(v: &[[f32; 3]]) -> Option<([f32; 3], [f32; 3])> {
    let first = *v.first()?;
    Some(v.iter().fold((first, first), |(lo, hi), p| {
        (
            [0, 1, 2].map(|k| lo[k].min(p[k])),
            [0, 1, 2].map(|k| hi[k].max(p[k])),
        )
    }))
}

/// The segments' joint bounding box (lowest, highest corner), LPS mm;
/// `None` when no segment has a vertex.
pub(super) fn joint_bounds(segments: &[ExportSegment<'_>]) -> Option<([f64; 3], [f64; 3])> {
    let mut lo = [f64::INFINITY; 3];
    let mut hi = [f64::NEG_INFINITY; 3];
    for (a, b) in segments.iter().filter_map(|s| s.mesh.bounds()) {
        for k in 0..3 {
            lo[k] = lo[k].min(a[k] as f64);
            hi[k] = hi[k].max(b[k] as f64);
        }
    }
    lo[0].is_finite().then_some((lo, hi))
}

/// Centre of the segments' joint bounding box, LPS mm.
pub(crate) fn anatomy_centre(segments: &[ExportSegment<'_>]) -> [f64; 3] {
    joint_bounds(segments).map_or([0.0; 3], |(lo, hi)| {
        [0, 1, 2].map(|k| 0.5 * (lo[k] + hi[k]))
    })
}

/// A GLB container around `json` (padded to 4 bytes here) and `bin`.
pub(super) fn glb_container(
    mut json: Vec<u8>,
    bin: Vec<u8>,
) -> std::result::Result<Vec<u8>, String> {
    while !json.len().is_multiple_of(4) {
        json.push(b' ');
    }
    let glb = gltf::binary::Glb {
        header: gltf::binary::Header {
            magic: *b"glTF",
            version: 2,
            length: (12 + 8 + json.len() + 8 + bin.len()) as u32,
        },
        json: std::borrow::Cow::Owned(json),
        bin: Some(std::borrow::Cow::Owned(bin)),
    };
    glb.to_vec().map_err(|e| e.to_string())
}

/// glTF binary: one node and mesh per segment, with names, colours
/// (PBR base colour) and normals, under one root node that turns the LPS
/// millimetres into glTF's metres with +Y up ([`glb_root_transform`]).
/// With an atlas, every mesh carries its UVs and the atlas as base-colour
/// texture (embedded PNG).
#[tracing::instrument(level = "info", skip_all)]
pub fn write_glb(path: &Path, segments: &[ExportSegment<'_>], atlas: Option<&Atlas>) -> Result<()> {
    let bytes = glb_bytes(path, segments, atlas, None)?;
    write_bytes_atomic(path, &bytes)
}

/// The bytes [`write_glb`] writes (`path` names the file in errors), with
/// a margin map: flat, the coloured segment's vertices carry its colours
/// (COLOR_0, linear, under a white material); textured, the atlas does.
pub(crate) fn glb_bytes(
    path: &Path,
    segments: &[ExportSegment<'_>],
    atlas: Option<&Atlas>,
    painted: Option<&Painted>,
) -> Result<Vec<u8>> {
    use gltf::json;
    use json::validation::Checked::Valid;
    use json::validation::USize64;
    let write_err = |reason: String| CoreError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let mut root = json::Root {
        asset: json::Asset {
            generator: Some(format!("Stratum; {GLB_NOTE}")),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut bin: Vec<u8> = Vec::new();
    let mut nodes = Vec::new();
    let buffer = json::Index::new(0);
    let view = |root: &mut json::Root,
                bin: &mut Vec<u8>,
                data: &[u8],
                target: Option<json::buffer::Target>| {
        while !bin.len().is_multiple_of(4) {
            bin.push(0);
        }
        let offset = bin.len();
        bin.extend_from_slice(data);
        root.push(json::buffer::View {
            buffer,
            byte_length: USize64::from(data.len()),
            byte_offset: Some(USize64::from(offset)),
            byte_stride: None,
            extensions: Default::default(),
            extras: Default::default(),
            name: None,
            target: target.map(Valid),
        })
    };
    let accessor =
        |root: &mut json::Root, v, count: usize, ct, ty, minmax: Option<(Vec<f32>, Vec<f32>)>| {
            root.push(json::Accessor {
                buffer_view: Some(v),
                byte_offset: Some(USize64(0)),
                count: USize64::from(count),
                component_type: Valid(json::accessor::GenericComponentType(ct)),
                extensions: Default::default(),
                extras: Default::default(),
                type_: Valid(ty),
                min: minmax.as_ref().map(|m| json::Value::from(m.0.clone())),
                max: minmax.as_ref().map(|m| json::Value::from(m.1.clone())),
                name: None,
                normalized: false,
                sparse: None,
            })
        };
    let array = Some(json::buffer::Target::ArrayBuffer);
    let vec3 = |v: &[[f32; 3]]| {
        let b = bounds(v);
        b.map(|(lo, hi)| (lo.to_vec(), hi.to_vec()))
    };
    // The atlas: one image, one sampler, one texture shared by all meshes.
    let texture = match atlas {
        Some(a) => {
            let png = atlas_png(a).map_err(|e| write_err(e.to_string()))?;
            let iv = view(&mut root, &mut bin, &png, None);
            let image = root.push(json::Image {
                buffer_view: Some(iv),
                mime_type: Some(json::image::MimeType("image/png".into())),
                name: Some("scan texture".into()),
                uri: None,
                extensions: Default::default(),
                extras: Default::default(),
            });
            let sampler = root.push(json::texture::Sampler {
                mag_filter: Some(Valid(json::texture::MagFilter::Linear)),
                min_filter: Some(Valid(json::texture::MinFilter::LinearMipmapLinear)),
                wrap_s: Valid(json::texture::WrappingMode::ClampToEdge),
                wrap_t: Valid(json::texture::WrappingMode::ClampToEdge),
                ..Default::default()
            });
            Some(root.push(json::Texture {
                sampler: Some(sampler),
                source: image,
                name: None,
                extensions: Default::default(),
                extras: Default::default(),
            }))
        }
        None => None,
    };
    for (k, (s, name)) in segments.iter().zip(unique_names(segments)).enumerate() {
        let m = s.mesh;
        let mut normals = m.normals.clone();
        if normals.len() != m.positions.len() {
            let mut c = m.clone();
            c.compute_normals();
            normals = c.normals;
        }
        let mut attributes = std::collections::BTreeMap::new();
        // Textured: one vertex per triangle corner (each triangle has its
        // own chart), drawn without indices.
        let (positions, normals, indices) = match atlas {
            Some(_) => {
                let corner = |v: &[[f32; 3]]| -> Vec<[f32; 3]> {
                    m.indices.iter().map(|&i| v[i as usize]).collect()
                };
                (corner(&m.positions), corner(&normals), None)
            }
            None => (m.positions.clone(), normals, Some(&m.indices)),
        };
        let pv = view(
            &mut root,
            &mut bin,
            meshopt::typed_to_bytes(&positions),
            array,
        );
        let pa = accessor(
            &mut root,
            pv,
            positions.len(),
            json::accessor::ComponentType::F32,
            json::accessor::Type::Vec3,
            vec3(&positions),
        );
        attributes.insert(Valid(json::mesh::Semantic::Positions), pa);
        let nv = view(
            &mut root,
            &mut bin,
            meshopt::typed_to_bytes(&normals),
            array,
        );
        let na = accessor(
            &mut root,
            nv,
            normals.len(),
            json::accessor::ComponentType::F32,
            json::accessor::Type::Vec3,
            None,
        );
        attributes.insert(Valid(json::mesh::Semantic::Normals), na);
        if let Some(a) = atlas {
            let uv = &a.uvs[k];
            let tv = view(&mut root, &mut bin, meshopt::typed_to_bytes(uv), array);
            let ta = accessor(
                &mut root,
                tv,
                uv.len(),
                json::accessor::ComponentType::F32,
                json::accessor::Type::Vec2,
                None,
            );
            attributes.insert(Valid(json::mesh::Semantic::TexCoords(0)), ta);
        }
        let vertex_colours = match atlas {
            Some(_) => None,
            None => Painted::colours_of(painted, k),
        };
        if let Some(vc) = &vertex_colours {
            let linear: Vec<[f32; 3]> = vc
                .iter()
                .map(|c| c.map(|v| srgb_to_linear(v as f32 / 255.0)))
                .collect();
            let cv = view(&mut root, &mut bin, meshopt::typed_to_bytes(&linear), array);
            let ca = accessor(
                &mut root,
                cv,
                linear.len(),
                json::accessor::ComponentType::F32,
                json::accessor::Type::Vec3,
                None,
            );
            attributes.insert(Valid(json::mesh::Semantic::Colors(0)), ca);
        }
        let indices = indices.map(|ix| {
            let iv = view(
                &mut root,
                &mut bin,
                meshopt::typed_to_bytes(ix),
                Some(json::buffer::Target::ElementArrayBuffer),
            );
            accessor(
                &mut root,
                iv,
                ix.len(),
                json::accessor::ComponentType::U32,
                json::accessor::Type::Scalar,
                None,
            )
        });
        // The texture (or the vertex colours) already hold the colour.
        let c = match (texture, &vertex_colours) {
            (Some(_), _) | (_, Some(_)) => [1.0; 3],
            _ => s.colour.map(|v| srgb_to_linear(v as f32 / 255.0)),
        };
        let material = root.push(json::Material {
            name: Some(name.clone()),
            pbr_metallic_roughness: json::material::PbrMetallicRoughness {
                base_color_factor: json::material::PbrBaseColorFactor([c[0], c[1], c[2], 1.0]),
                base_color_texture: texture.map(|index| json::texture::Info {
                    index,
                    tex_coord: 0,
                    extensions: Default::default(),
                    extras: Default::default(),
                }),
                metallic_factor: json::material::StrengthFactor(0.0),
                roughness_factor: json::material::StrengthFactor(0.6),
                ..Default::default()
            },
            ..Default::default()
        });
        let mesh = root.push(json::Mesh {
            extensions: Default::default(),
            extras: Default::default(),
            name: Some(name.clone()),
            primitives: vec![json::mesh::Primitive {
                attributes,
                extensions: Default::default(),
                extras: Default::default(),
                indices,
                material: Some(material),
                mode: Valid(json::mesh::Mode::Triangles),
                targets: None,
            }],
            weights: None,
        });
        nodes.push(root.push(json::Node {
            mesh: Some(mesh),
            name: Some(name),
            ..Default::default()
        }));
    }
    while !bin.len().is_multiple_of(4) {
        bin.push(0);
    }
    root.push(json::Buffer {
        byte_length: USize64::from(bin.len()),
        extensions: Default::default(),
        extras: Default::default(),
        name: None,
        uri: None,
    });
    let centre = anatomy_centre(segments);
    let (translation, rotation, scale) = glb_root_transform(centre);
    let extras = serde_json::json!({
        "stratum": {
            "note": GLB_NOTE,
            "mesh_units": "mm",
            "mesh_axes": "LPS",
            "lps_centre_mm": centre,
        }
    });
    let extras = serde_json::value::to_raw_value(&extras).map_err(|e| CoreError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let anatomy = root.push(json::Node {
        name: Some("anatomy".into()),
        children: Some(nodes),
        translation: Some(translation),
        rotation: Some(json::scene::UnitQuaternion(rotation)),
        scale: Some([scale; 3]),
        extras: Some(extras),
        ..Default::default()
    });
    let scene = root.push(json::Scene {
        extensions: Default::default(),
        extras: Default::default(),
        name: Some("Stratum".into()),
        nodes: vec![anatomy],
    });
    root.scene = Some(scene);
    let write_err = |reason: String| CoreError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let json_bytes = json::serialize::to_vec(&root).map_err(|e| write_err(e.to_string()))?;
    glb_container(json_bytes, bin).map_err(write_err)
}

pub(super) fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}
