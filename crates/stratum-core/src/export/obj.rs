//! Wavefront OBJ + MTL + PNG for Blender and MeshLab, LPS mm.

use std::path::{Path, PathBuf};

use super::margin::Painted;
use super::texture::{Atlas, atlas_png};
use super::{ExportSegment, UNITS_NOTE, unique_names};
use crate::base::atomic::write_bytes_atomic;
use crate::base::error::{CoreError, Result};

/// OBJ + MTL + PNG: each segment a named object with its own material,
/// all textured by one PNG: the scan atlas when given, else a small grid
/// of flat colour cells, one per segment.
pub fn write_obj(
    path: &Path,
    segments: &[ExportSegment<'_>],
    atlas: Option<&Atlas>,
) -> Result<Vec<PathBuf>> {
    write_obj_painted(path, segments, atlas, None)
}

/// [`write_obj`] with a margin map: the vertices carry colours as
/// `v x y z r g b` (sRGB 0..1, which MeshLab shows and Blender imports as
/// a colour attribute): the coloured segment's margin colours, the others
/// their flat colour; a scan atlas carries the margin too.
#[tracing::instrument(level = "info", skip_all)]
pub(crate) fn write_obj_painted(
    path: &Path,
    segments: &[ExportSegment<'_>],
    atlas: Option<&Atlas>,
    painted: Option<&Painted>,
) -> Result<Vec<PathBuf>> {
    use obj_exporter::{Geometry, ObjSet, Object, Primitive, Shape, TVertex, Vertex};
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let dir = path.parent().unwrap_or(Path::new("."));
    let mtl_path = dir.join(format!("{stem}.mtl"));
    let png_path = dir.join(format!("{stem}.png"));
    let names = unique_names(segments);
    let flat;
    let atlas = match atlas {
        Some(a) => a,
        None => {
            flat = flat_atlas(segments);
            &flat
        }
    };

    let objects = segments
        .iter()
        .zip(&names)
        .zip(&atlas.uvs)
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
                // OBJ's v runs bottom to top.
                tex_vertices: uv
                    .iter()
                    .map(|t| TVertex {
                        u: t[0] as f64,
                        v: 1.0 - t[1] as f64,
                        w: 0.0,
                    })
                    .collect(),
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
                        .enumerate()
                        .map(|(k, t)| {
                            // One UV per corner, or one for the whole flat segment.
                            let v = |c: usize| {
                                let i = t[c] as usize;
                                let uv = if uv.len() == 1 { 0 } else { 3 * k + c };
                                (i, Some(uv), has_normals.then_some(i))
                            };
                            Shape {
                                primitive: Primitive::Triangle(v(0), v(1), v(2)),
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
    // The vertex colours of the object being written, and its next vertex.
    let (mut colours, mut v) = (None, 0);
    for line in body.lines() {
        text.push_str(line);
        if line.starts_with("v ")
            && let Some(c) = colours.as_ref().and_then(|c: &Vec<[u8; 3]>| c.get(v))
        {
            let f = c.map(|x| x as f64 / 255.0);
            text.push_str(&format!(" {:.4} {:.4} {:.4}", f[0], f[1], f[2]));
            v += 1;
        }
        text.push('\n');
        if line.starts_with("o ") && k < names.len() {
            text.push_str(&format!("usemtl {}\n", names[k]));
            // Readers (tobj, Blender) take colours for all vertices or
            // none: the other segments' vertices carry their flat colour.
            colours = painted.map(|p| {
                Painted::colours_of(Some(p), k)
                    .unwrap_or_else(|| vec![segments[k].colour; segments[k].mesh.positions.len()])
            });
            v = 0;
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
    let png_bytes = atlas_png(atlas).map_err(|e| CoreError::Write {
        path: png_path.clone(),
        reason: e.to_string(),
    })?;
    // The OBJ is written last and an older one removed first: after a kill
    // at any moment, an OBJ present has the MTL and PNG of its own run (an
    // interrupted overwrite leaves no OBJ rather than the old one beside a
    // new atlas).
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(CoreError::Write {
                path: path.to_path_buf(),
                reason: crate::base::atomic::explain(&e, crate::base::atomic::parent_dir(path)),
            });
        }
        _ => {}
    }
    // A failure (a full disk) takes the companions of this run with it.
    write_bytes_atomic(&png_path, &png_bytes)?;
    let rest = write_bytes_atomic(&mtl_path, mtl.as_bytes())
        .and_then(|()| write_bytes_atomic(path, text.as_bytes()));
    if let Err(e) = rest {
        let _ = std::fs::remove_file(&mtl_path);
        let _ = std::fs::remove_file(&png_path);
        return Err(e);
    }
    Ok(vec![path.to_path_buf(), mtl_path, png_path])
}

/// A grid of 16x16-texel cells, one per segment in its colour; every
/// corner of a segment points at its cell's centre.
fn flat_atlas(segments: &[ExportSegment<'_>]) -> Atlas {
    const CELL: usize = 16;
    let cols = (segments.len() as f64).sqrt().ceil().max(1.0) as usize;
    let rows = segments.len().div_ceil(cols).max(1);
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
        uvs.push(vec![[
            (cx as f32 + 0.5) / cols as f32,
            (cy as f32 + 0.5) / rows as f32,
        ]]);
    }
    Atlas {
        width: w,
        height: h,
        rgb,
        uvs,
    }
}
