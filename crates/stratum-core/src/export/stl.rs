//! Binary STL, the format every slicer reads: all segments merged, LPS mm.

use std::path::Path;

use super::ExportSegment;
use crate::base::atomic::write_bytes_atomic;
use crate::base::error::Result;

/// Binary STL of all segments merged (one closed shell per segment).
#[tracing::instrument(level = "info", skip_all)]
pub fn write_stl(path: &Path, segments: &[ExportSegment<'_>]) -> Result<()> {
    write_bytes_atomic(path, &stl_bytes(segments))
}

/// The bytes [`write_stl`] writes (also what an Encapsulated STL holds).
pub fn stl_bytes(segments: &[ExportSegment<'_>]) -> Vec<u8> {
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
    // Writing to memory cannot fail.
    let _ = stl_io::write_stl(&mut bytes, tris.iter());
    // The 80-byte header (which must not start with "solid") states the convention.
    let header = "Stratum binary STL; mm, LPS";
    bytes[..header.len()].copy_from_slice(header.as_bytes());
    bytes
}
