//! 3MF, the format PrusaSlicer, Bambu Studio and Cura prefer: one object
//! per segment with its colour (a base material), units millimetres, LPS
//! positions (z is superior, so the anatomy stands upright on the bed).

use std::path::Path;

use threemf::model::{
    Base, BaseMaterials, Build, Item, Metadata, Model, Object, Resources, Triangle, Triangles,
    Unit, Vertex, Vertices,
};

use super::{ExportSegment, UNITS_NOTE, unique_names};
use crate::base::atomic::write_bytes_atomic;
use crate::base::error::{CoreError, Result};

/// The 3MF core namespace (specification 1.x).
const CORE_NAMESPACE: &str = "http://schemas.microsoft.com/3dmanufacturing/core/2015/02";

/// The id of the one base-material group; objects are numbered after it.
const MATERIALS_ID: usize = 1;

/// Writes one 3MF package: a named object per segment, each pointing at
/// its colour in one base-material group.
#[tracing::instrument(level = "info", skip_all)]
pub fn write_3mf(path: &Path, segments: &[ExportSegment<'_>]) -> Result<()> {
    let names = unique_names(segments);
    let base: Vec<Base> = segments
        .iter()
        .zip(&names)
        .map(|(s, name)| Base {
            name: name.clone(),
            displaycolor: format!("#{:02X}{:02X}{:02X}", s.colour[0], s.colour[1], s.colour[2]),
        })
        .collect();
    let objects: Vec<Object> = segments
        .iter()
        .zip(&names)
        .enumerate()
        .map(|(k, (s, name))| Object {
            id: MATERIALS_ID + 1 + k,
            name: Some(name.clone()),
            pid: Some(MATERIALS_ID),
            pindex: Some(k),
            mesh: Some(threemf::Mesh {
                vertices: Vertices {
                    vertex: s
                        .mesh
                        .positions
                        .iter()
                        .map(|p| Vertex {
                            x: p[0] as f64,
                            y: p[1] as f64,
                            z: p[2] as f64,
                        })
                        .collect(),
                },
                triangles: Triangles {
                    triangle: s
                        .mesh
                        .indices
                        .chunks_exact(3)
                        .map(|t| Triangle {
                            v1: t[0] as usize,
                            v2: t[1] as usize,
                            v3: t[2] as usize,
                        })
                        .collect(),
                },
            }),
            ..Default::default()
        })
        .collect();
    let build = Build {
        item: objects
            .iter()
            .map(|o| Item {
                objectid: o.id,
                transform: None,
                partnumber: None,
            })
            .collect(),
    };
    let model = Model {
        metadata: vec![
            Metadata {
                name: "Application".into(),
                value: Some("Stratum".into()),
            },
            Metadata {
                name: "Description".into(),
                value: Some(format!("Stratum 3MF export; {UNITS_NOTE}")),
            },
        ],
        resources: Resources {
            object: objects,
            basematerials: Some(vec![BaseMaterials {
                id: MATERIALS_ID,
                base,
            }]),
        },
        build,
        unit: Unit::Millimeter,
        // `basematerials` belongs to the 3MF core namespace, but the crate
        // writes it with the prefix `m:`, which it binds to the materials
        // extension by default; binding `m` to the core namespace too makes
        // the element the core one that slicers (and lib3mf) look for.
        xmlns_m: Some(CORE_NAMESPACE.into()),
        ..Default::default()
    };
    let mut bytes = std::io::Cursor::new(Vec::new());
    threemf::write(&mut bytes, model).map_err(|e| CoreError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    write_bytes_atomic(path, bytes.get_ref())
}
