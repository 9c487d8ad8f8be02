//! The share page's GLB: the same scene as [`super::glb`] (metres, +Y up,
//! one node per segment under the LPS root node), its geometry quantized
//! (KHR_mesh_quantization: 16-bit positions, 8-bit octahedral normals) and
//! compressed with meshoptimizer (EXT_meshopt_compression), some 7x smaller
//! than the plain export. Flat colours (and a margin map's vertex colours):
//! the page has no texture.

use std::path::Path;

use serde_json::{Value, json};

use super::glb::{
    GLB_NOTE, anatomy_centre, glb_container, glb_root_transform, joint_bounds, srgb_to_linear,
};
use super::margin::Painted;
use super::{ExportSegment, unique_names};
use crate::base::error::{CoreError, Result};

/// Steps of the one quantization grid every segment shares: 65535 steps
/// across the anatomy's largest extent (0.006 mm for 40 cm).
const STEPS: f64 = 65535.0;

/// One vertex as the encoder sees it before quantization.
#[derive(Clone, Copy, Default)]
struct Vertex {
    p: [f32; 3],
    n: [f32; 3],
    /// The margin map's colour (linear RGBA bytes), on the coloured segment.
    c: [u8; 4],
}

/// The JSON and BIN chunk being built, with the fallback buffer's length:
/// buffer 0 holds the compressed bytes (the BIN chunk), buffer 1 is the
/// data-less fallback whose views decoders fill in.
struct Builder {
    views: Vec<Value>,
    accessors: Vec<Value>,
    bin: Vec<u8>,
    fallback_len: usize,
}

impl Builder {
    /// A compressed buffer view of `count` elements of `stride` bytes;
    /// returns its index.
    fn view(
        &mut self,
        encoded: &[u8],
        count: usize,
        stride: usize,
        mode: &str,
        filter: &str,
        target: u32,
    ) -> usize {
        while !self.bin.len().is_multiple_of(4) {
            self.bin.push(0);
        }
        let offset = self.bin.len();
        self.bin.extend_from_slice(encoded);
        let decoded = count * stride;
        let mut ext = json!({
            "buffer": 0,
            "byteOffset": offset,
            "byteLength": encoded.len(),
            "byteStride": stride,
            "count": count,
            "mode": mode,
        });
        if filter != "NONE" {
            ext["filter"] = json!(filter);
        }
        let mut view = json!({
            "buffer": 1,
            "byteOffset": self.fallback_len,
            "byteLength": decoded,
            "target": target,
            "extensions": { "EXT_meshopt_compression": ext },
        });
        // Index views carry no stride in glTF; vertex views must.
        if mode == "ATTRIBUTES" {
            view["byteStride"] = json!(stride);
        }
        self.fallback_len += decoded.next_multiple_of(4);
        self.views.push(view);
        self.views.len() - 1
    }

    fn accessor(&mut self, a: Value) -> usize {
        self.accessors.push(a);
        self.accessors.len() - 1
    }
}

/// Lowest corner and grid step (mm) of the quantization grid that holds
/// every segment's vertices.
fn grid(segments: &[ExportSegment<'_>]) -> ([f64; 3], f64) {
    let Some((lo, hi)) = joint_bounds(segments) else {
        return ([0.0; 3], 1.0);
    };
    let extent = (0..3).map(|k| hi[k] - lo[k]).fold(0.0, f64::max);
    (lo, (extent / STEPS).max(1e-6))
}

/// The compressed GLB of flat-coloured `segments` (`path` names the file
/// in errors). The scene graph, names and materials match
/// [`super::write_glb`]'s, so a viewer's tap returns the same names.
pub(crate) fn glb_compact_bytes(path: &Path, segments: &[ExportSegment<'_>]) -> Result<Vec<u8>> {
    glb_compact_painted(path, segments, None)
}

/// [`glb_compact_bytes`] with a margin map: the coloured segment's
/// vertices carry its colours (COLOR_0, normalized linear bytes) under a
/// white material.
pub(crate) fn glb_compact_painted(
    path: &Path,
    segments: &[ExportSegment<'_>],
    painted: Option<&Painted>,
) -> Result<Vec<u8>> {
    let write_err = |reason: String| CoreError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let (lo, step) = grid(segments);
    let mut b = Builder {
        views: Vec::new(),
        accessors: Vec::new(),
        bin: Vec::new(),
        fallback_len: 0,
    };
    let (mut meshes, mut materials, mut nodes) = (Vec::new(), Vec::new(), Vec::new());
    for (k, (s, name)) in segments.iter().zip(unique_names(segments)).enumerate() {
        let m = s.mesh;
        let vertex_colours = Painted::colours_of(painted, k);
        let linear = |c: [u8; 3]| {
            let l = c.map(|v| (srgb_to_linear(v as f32 / 255.0) * 255.0).round() as u8);
            [l[0], l[1], l[2], 255]
        };
        let mut normals = m.normals.clone();
        if normals.len() != m.positions.len() {
            let mut c = m.clone();
            c.compute_normals();
            normals = c.normals;
        }
        let vertices: Vec<Vertex> = m
            .positions
            .iter()
            .zip(&normals)
            .enumerate()
            .map(|(i, (&p, &n))| Vertex {
                p,
                n,
                c: vertex_colours
                    .as_ref()
                    .and_then(|vc| vc.get(i))
                    .map_or([255; 4], |&c| linear(c)),
            })
            .collect();
        // Cache then fetch order: what makes meshopt's codecs compact.
        let mut indices = meshopt::optimize_vertex_cache(&m.indices, vertices.len());
        let vertices = meshopt::optimize_vertex_fetch(&mut indices, &vertices);
        let q = |v: f32, k: usize| ((v as f64 - lo[k]) / step).round().clamp(0.0, STEPS) as u16;
        // Positions padded to 8 bytes (a vertex stride must be a multiple of 4).
        let pos: Vec<[u16; 4]> = vertices
            .iter()
            .map(|v| [q(v.p[0], 0), q(v.p[1], 1), q(v.p[2], 2), 0])
            .collect();
        let (mut qmin, mut qmax) = ([u16::MAX; 3], [0u16; 3]);
        for p in &pos {
            for k in 0..3 {
                qmin[k] = qmin[k].min(p[k]);
                qmax[k] = qmax[k].max(p[k]);
            }
        }
        let unit: Vec<[f32; 4]> = vertices
            .iter()
            .map(|v| [v.n[0], v.n[1], v.n[2], 0.0])
            .collect();
        let oct: Vec<[i8; 4]> = meshopt::encode_filter_oct(&unit, 8);
        // Vertex codec version 0: the one EXT_meshopt_compression defines.
        let meshopt_err = |e: meshopt::Error| write_err(format!("meshopt: {e:?}"));
        let encoded = meshopt::encode_vertex_buffer_level(&pos, 2, Some(0)).map_err(meshopt_err)?;
        let pv = b.view(&encoded, pos.len(), 8, "ATTRIBUTES", "NONE", 34962);
        let pa = b.accessor(json!({
            "bufferView": pv, "componentType": 5123, "count": pos.len(), "type": "VEC3",
            "min": qmin, "max": qmax,
        }));
        let encoded = meshopt::encode_vertex_buffer_level(&oct, 2, Some(0)).map_err(meshopt_err)?;
        let nv = b.view(&encoded, oct.len(), 4, "ATTRIBUTES", "OCTAHEDRAL", 34962);
        let na = b.accessor(json!({
            "bufferView": nv, "componentType": 5120, "normalized": true,
            "count": oct.len(), "type": "VEC3",
        }));
        let mut attributes = json!({ "POSITION": pa, "NORMAL": na });
        if vertex_colours.is_some() {
            let rgba: Vec<[u8; 4]> = vertices.iter().map(|v| v.c).collect();
            let encoded =
                meshopt::encode_vertex_buffer_level(&rgba, 2, Some(0)).map_err(meshopt_err)?;
            let cv = b.view(&encoded, rgba.len(), 4, "ATTRIBUTES", "NONE", 34962);
            attributes["COLOR_0"] = json!(b.accessor(json!({
                "bufferView": cv, "componentType": 5121, "normalized": true,
                "count": rgba.len(), "type": "VEC4",
            })));
        }
        let wide = vertices.len() > u16::MAX as usize;
        let encoded =
            meshopt::encode_index_buffer(&indices, vertices.len()).map_err(meshopt_err)?;
        let iv = b.view(
            &encoded,
            indices.len(),
            if wide { 4 } else { 2 },
            "TRIANGLES",
            "NONE",
            34963,
        );
        let ia = b.accessor(json!({
            "bufferView": iv, "componentType": if wide { 5125 } else { 5123 },
            "count": indices.len(), "type": "SCALAR",
        }));
        let c = match vertex_colours {
            Some(_) => [1.0; 3],
            None => s.colour.map(|v| srgb_to_linear(v as f32 / 255.0)),
        };
        materials.push(json!({
            "name": name,
            "pbrMetallicRoughness": {
                "baseColorFactor": [c[0], c[1], c[2], 1.0],
                "metallicFactor": 0.0, "roughnessFactor": 0.6,
            },
        }));
        meshes.push(json!({
            "name": name,
            "primitives": [{
                "attributes": attributes,
                "indices": ia, "material": materials.len() - 1, "mode": 4,
            }],
        }));
        // The node dequantizes: grid units to LPS mm, under the LPS root.
        let (origin, steps) = (lo.map(|v| v as f32), [step as f32; 3]);
        nodes.push(json!({
            "name": name, "mesh": meshes.len() - 1,
            "translation": origin, "scale": steps,
        }));
    }
    let centre = anatomy_centre(segments);
    let (translation, rotation, scale) = glb_root_transform(centre);
    let children: Vec<usize> = (0..nodes.len()).collect();
    let scale = [scale; 3];
    nodes.push(json!({
        "name": "anatomy", "children": children,
        "translation": translation, "rotation": rotation, "scale": scale,
        "extras": { "stratum": {
            "note": GLB_NOTE, "mesh_units": "mm", "mesh_axes": "LPS",
            "lps_centre_mm": centre,
            "compression": "EXT_meshopt_compression, KHR_mesh_quantization: each segment node's transform turns grid units into mm",
        }},
    }));
    while !b.bin.len().is_multiple_of(4) {
        b.bin.push(0);
    }
    let extensions = ["EXT_meshopt_compression", "KHR_mesh_quantization"];
    let root = json!({
        "asset": { "version": "2.0", "generator": format!("Stratum; {GLB_NOTE}") },
        "extensionsUsed": extensions,
        "extensionsRequired": extensions,
        "buffers": [
            { "byteLength": b.bin.len() },
            { "byteLength": b.fallback_len,
              "extensions": { "EXT_meshopt_compression": { "fallback": true } } },
        ],
        "bufferViews": b.views,
        "accessors": b.accessors,
        "materials": materials,
        "meshes": meshes,
        "nodes": nodes,
        "scenes": [{ "name": "Stratum", "nodes": [nodes.len() - 1] }],
        "scene": 0,
    });
    let json_bytes = serde_json::to_vec(&root).map_err(|e| write_err(e.to_string()))?;
    glb_container(json_bytes, b.bin).map_err(write_err)
}
