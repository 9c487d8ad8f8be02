//! Exports of segment meshes: binary STL (printing), OBJ + MTL + PNG
//! (Blender, MeshLab), glTF binary. Positions are LPS millimetres, stated in
//! every file's header; every write is atomic (temporary file, then rename);
//! no patient-identifying value goes into any file.

use std::path::{Path, PathBuf};

use crate::atomic::write_bytes_atomic;
use crate::error::{CoreError, Result};
use crate::mesh::SurfaceMesh;

/// One segment's mesh with its display name and colour.
#[derive(Clone, Debug)]
pub struct ExportSegment<'a> {
    pub name: &'a str,
    pub colour: [u8; 3],
    pub mesh: &'a SurfaceMesh,
}

/// The convention sentence written into every file.
pub const UNITS_NOTE: &str = "units: millimetres; axes: DICOM patient LPS (x to patient Left, y to Posterior, z to Superior)";

/// Which format a path asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Stl,
    Obj,
    Glb,
}

impl Format {
    pub fn from_path(p: &Path) -> Result<Format> {
        match p
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .as_deref()
        {
            Some("stl") => Ok(Format::Stl),
            Some("obj") => Ok(Format::Obj),
            Some("glb") => Ok(Format::Glb),
            _ => Err(CoreError::Invalid(format!(
                "{}: choose an output ending in .stl, .obj or .glb",
                p.display()
            ))),
        }
    }
}

/// Writes the segments in the format the extension names; returns the files written.
pub fn export(path: &Path, segments: &[ExportSegment<'_>]) -> Result<Vec<PathBuf>> {
    if segments.is_empty() {
        return Err(CoreError::Invalid(
            "nothing to export: no segment has a mesh".into(),
        ));
    }
    match Format::from_path(path)? {
        Format::Stl => write_stl(path, segments).map(|()| vec![path.to_path_buf()]),
        Format::Obj => write_obj(path, segments),
        Format::Glb => write_glb(path, segments).map(|()| vec![path.to_path_buf()]),
    }
}

/// One binary STL per segment, named `<stem>_<segment>.stl` beside `path`.
pub fn write_stl_each(path: &Path, segments: &[ExportSegment<'_>]) -> Result<Vec<PathBuf>> {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for (s, name) in segments.iter().zip(unique_names(segments)) {
        let p = dir.join(format!("{stem}_{name}.stl"));
        write_stl(&p, std::slice::from_ref(s))?;
        out.push(p);
    }
    Ok(out)
}

/// Binary STL of all segments merged (one closed shell per segment).
pub fn write_stl(path: &Path, segments: &[ExportSegment<'_>]) -> Result<()> {
    let tris: Vec<stl_io::Triangle> = segments
        .iter()
        .flat_map(|s| {
            s.mesh.triangles().map(|[a, b, c]| {
                let n = crate::mesh::triangle_cross(a, b, c);
                let l = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2])
                    .sqrt()
                    .max(f32::MIN_POSITIVE);
                stl_io::Triangle {
                    normal: stl_io::Normal::new([n[0] / l, n[1] / l, n[2] / l]),
                    vertices: [
                        stl_io::Vertex::new(a),
                        stl_io::Vertex::new(b),
                        stl_io::Vertex::new(c),
                    ],
                }
            })
        })
        .collect();
    let mut bytes = Vec::with_capacity(84 + tris.len() * 50);
    stl_io::write_stl(&mut bytes, tris.iter()).map_err(|e| CoreError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    // The 80-byte header (which must not start with "solid") states the convention.
    let header = "Stratum binary STL; mm, LPS";
    bytes[..header.len()].copy_from_slice(header.as_bytes());
    write_bytes_atomic(path, &bytes)
}

/// OBJ + MTL + PNG atlas: each segment a named object with its own
/// material whose texture is the segment's cell of the atlas.
pub fn write_obj(path: &Path, segments: &[ExportSegment<'_>]) -> Result<Vec<PathBuf>> {
    use obj_exporter::{Geometry, ObjSet, Object, Primitive, Shape, TVertex, Vertex};
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let dir = path.parent().unwrap_or(Path::new("."));
    let mtl_path = dir.join(format!("{stem}.mtl"));
    let png_path = dir.join(format!("{stem}.png"));
    let names = unique_names(segments);

    // Atlas: a grid of 16x16-pixel cells, one per segment.
    let cols = (segments.len() as f64).sqrt().ceil() as usize;
    let rows = segments.len().div_ceil(cols);
    const CELL: usize = 16;
    let (w, h) = (cols * CELL, rows * CELL);
    let mut rgb = vec![0u8; w * h * 3];
    let mut uvs = Vec::new();
    for (k, s) in segments.iter().enumerate() {
        let (cx, cy) = (k % cols, k / cols);
        for y in cy * CELL..(cy + 1) * CELL {
            for x in cx * CELL..(cx + 1) * CELL {
                rgb[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&s.colour);
            }
        }
        // Cell centre; OBJ's v runs bottom to top.
        uvs.push((
            (cx as f64 + 0.5) / cols as f64,
            1.0 - (cy as f64 + 0.5) / rows as f64,
        ));
    }

    let objects = segments
        .iter()
        .zip(&names)
        .zip(&uvs)
        .map(|((s, name), uv)| {
            let has_normals = s.mesh.normals.len() == s.mesh.positions.len();
            Object {
                name: name.clone(),
                vertices: s
                    .mesh
                    .positions
                    .iter()
                    .map(|p| Vertex {
                        x: p[0] as f64,
                        y: p[1] as f64,
                        z: p[2] as f64,
                    })
                    .collect(),
                tex_vertices: vec![TVertex {
                    u: uv.0,
                    v: uv.1,
                    w: 0.0,
                }],
                normals: if has_normals {
                    s.mesh
                        .normals
                        .iter()
                        .map(|n| Vertex {
                            x: n[0] as f64,
                            y: n[1] as f64,
                            z: n[2] as f64,
                        })
                        .collect()
                } else {
                    Vec::new()
                },
                geometry: vec![Geometry {
                    material_name: Some(name.clone()),
                    shapes: s
                        .mesh
                        .indices
                        .chunks_exact(3)
                        .map(|t| {
                            let v =
                                |i: u32| (i as usize, Some(0), has_normals.then_some(i as usize));
                            Shape {
                                primitive: Primitive::Triangle(v(t[0]), v(t[1]), v(t[2])),
                                groups: vec![],
                                smoothing_groups: vec![1],
                            }
                        })
                        .collect(),
                }],
            }
        })
        .collect();
    let set = ObjSet {
        material_library: Some(format!("{stem}.mtl")),
        objects,
    };
    let mut body = Vec::new();
    obj_exporter::export(&set, &mut body).map_err(|e| CoreError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    // obj-exporter writes geometry only: add the header, the material
    // library and each object's material ourselves.
    let body = String::from_utf8_lossy(&body);
    let mut text = format!("# Stratum OBJ export; {UNITS_NOTE}\nmtllib {stem}.mtl\n");
    let mut k = 0;
    for line in body.lines() {
        text.push_str(line);
        text.push('\n');
        if line.starts_with("o ") && k < names.len() {
            text.push_str(&format!("usemtl {}\n", names[k]));
            k += 1;
        }
    }
    let mut mtl =
        format!("# Stratum materials; one per segment, coloured by the atlas {stem}.png\n");
    for (s, name) in segments.iter().zip(&names) {
        let c = s.colour.map(|v| v as f64 / 255.0);
        mtl.push_str(&format!(
            "newmtl {name}\nKa 0 0 0\nKd {:.4} {:.4} {:.4}\nKs 0.1 0.1 0.1\nNs 20\nd 1\nillum 2\nmap_Kd {stem}.png\n\n",
            c[0], c[1], c[2]
        ));
    }
    let mut png_bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut png_bytes, w as u32, h as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc.write_header().map_err(|e| CoreError::Write {
            path: png_path.clone(),
            reason: e.to_string(),
        })?;
        wr.write_image_data(&rgb).map_err(|e| CoreError::Write {
            path: png_path.clone(),
            reason: e.to_string(),
        })?;
    }
    write_bytes_atomic(&png_path, &png_bytes)?;
    write_bytes_atomic(&mtl_path, mtl.as_bytes())?;
    write_bytes_atomic(path, text.as_bytes())?;
    Ok(vec![path.to_path_buf(), mtl_path, png_path])
}

/// Object and material names: the segment names made safe for OBJ (no
/// spaces) and unique.
fn unique_names(segments: &[ExportSegment<'_>]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    segments
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let mut n: String = s
                .name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            if n.is_empty() {
                n = format!("segment_{}", k + 1);
            }
            if !seen.insert(n.clone()) {
                n = format!("{n}_{}", k + 1);
                seen.insert(n.clone());
            }
            n
        })
        .collect()
}

/// glTF binary: one node and mesh per segment, with names, colours
/// (PBR base colour) and normals.
pub fn write_glb(path: &Path, segments: &[ExportSegment<'_>]) -> Result<()> {
    use gltf::json;
    use json::validation::Checked::Valid;
    use json::validation::USize64;
    let mut root = json::Root {
        asset: json::Asset {
            generator: Some(format!("Stratum; {UNITS_NOTE}")),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut bin: Vec<u8> = Vec::new();
    let mut nodes = Vec::new();
    let buffer = json::Index::new(0);
    let view =
        |root: &mut json::Root, bin: &mut Vec<u8>, data: &[u8], target: json::buffer::Target| {
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
                target: Some(Valid(target)),
            })
        };
    let accessor =
        |root: &mut json::Root, v, count: usize, ct, ty, minmax: Option<([f32; 3], [f32; 3])>| {
            root.push(json::Accessor {
                buffer_view: Some(v),
                byte_offset: Some(USize64(0)),
                count: USize64::from(count),
                component_type: Valid(json::accessor::GenericComponentType(ct)),
                extensions: Default::default(),
                extras: Default::default(),
                type_: Valid(ty),
                min: minmax.map(|m| json::Value::from(m.0.to_vec())),
                max: minmax.map(|m| json::Value::from(m.1.to_vec())),
                name: None,
                normalized: false,
                sparse: None,
            })
        };
    for (s, name) in segments.iter().zip(unique_names(segments)) {
        let m = s.mesh;
        let mut normals = m.normals.clone();
        if normals.len() != m.positions.len() {
            let mut c = m.clone();
            c.compute_normals();
            normals = c.normals;
        }
        let pv = view(
            &mut root,
            &mut bin,
            meshopt::typed_to_bytes(&m.positions),
            json::buffer::Target::ArrayBuffer,
        );
        let pa = accessor(
            &mut root,
            pv,
            m.positions.len(),
            json::accessor::ComponentType::F32,
            json::accessor::Type::Vec3,
            m.bounds(),
        );
        let nv = view(
            &mut root,
            &mut bin,
            meshopt::typed_to_bytes(&normals),
            json::buffer::Target::ArrayBuffer,
        );
        let na = accessor(
            &mut root,
            nv,
            normals.len(),
            json::accessor::ComponentType::F32,
            json::accessor::Type::Vec3,
            None,
        );
        let iv = view(
            &mut root,
            &mut bin,
            meshopt::typed_to_bytes(&m.indices),
            json::buffer::Target::ElementArrayBuffer,
        );
        let ia = accessor(
            &mut root,
            iv,
            m.indices.len(),
            json::accessor::ComponentType::U32,
            json::accessor::Type::Scalar,
            None,
        );
        let c = s.colour.map(|v| srgb_to_linear(v as f32 / 255.0));
        let material = root.push(json::Material {
            name: Some(name.clone()),
            pbr_metallic_roughness: json::material::PbrMetallicRoughness {
                base_color_factor: json::material::PbrBaseColorFactor([c[0], c[1], c[2], 1.0]),
                metallic_factor: json::material::StrengthFactor(0.0),
                roughness_factor: json::material::StrengthFactor(0.6),
                ..Default::default()
            },
            ..Default::default()
        });
        let mut attributes = std::collections::BTreeMap::new();
        attributes.insert(Valid(json::mesh::Semantic::Positions), pa);
        attributes.insert(Valid(json::mesh::Semantic::Normals), na);
        let mesh = root.push(json::Mesh {
            extensions: Default::default(),
            extras: Default::default(),
            name: Some(name.clone()),
            primitives: vec![json::mesh::Primitive {
                attributes,
                extensions: Default::default(),
                extras: Default::default(),
                indices: Some(ia),
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
    let scene = root.push(json::Scene {
        extensions: Default::default(),
        extras: Default::default(),
        name: Some("Stratum".into()),
        nodes,
    });
    root.scene = Some(scene);
    let mut json_bytes = json::serialize::to_vec(&root).map_err(|e| CoreError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    while !json_bytes.len().is_multiple_of(4) {
        json_bytes.push(b' ');
    }
    let glb = gltf::binary::Glb {
        header: gltf::binary::Header {
            magic: *b"glTF",
            version: 2,
            length: (12 + 8 + json_bytes.len() + 8 + bin.len()) as u32,
        },
        json: std::borrow::Cow::Owned(json_bytes),
        bin: Some(std::borrow::Cow::Owned(bin)),
    };
    let bytes = glb.to_vec().map_err(|e| CoreError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    write_bytes_atomic(path, &bytes)
}

fn srgb_to_linear(c: f32) -> f32 {
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}
