//! Every export read back with an independent parser.

use stratum_core::Progress;
use stratum_core::export::{ExportSegment, export};
use stratum_core::mesh::{SurfaceMesh, SurfaceOptions, mask_surface};
use stratum_core::segment::Mask;
use stratum_core::volume::Geometry;

fn ball(c: [f64; 3], r: f64) -> SurfaceMesh {
    let g = Geometry {
        origin: [-30.0, -30.0, -30.0],
        spacing: [1.0, 1.0, 1.5],
        ..Geometry::default()
    };
    let data = ndarray::Array3::from_shape_fn((40, 60, 60), |(z, y, x)| {
        let p = g.index_to_lps([x as f64, y as f64, z as f64]);
        (((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2) + (p[2] - c[2]).powi(2)) <= r * r) as u8
    });
    mask_surface(
        &Mask { data, geometry: g },
        &SurfaceOptions::default(),
        &Progress::new(),
    )
    .unwrap()
}

fn two_segments() -> (SurfaceMesh, SurfaceMesh) {
    (ball([-10.0, 0.0, 0.0], 8.0), ball([12.0, 5.0, 3.0], 6.0))
}

/// The two test segments, the second one named `second`.
fn liver_and_kidney<'a>(
    a: &'a SurfaceMesh,
    b: &'a SurfaceMesh,
    second: &'a str,
) -> [ExportSegment<'a>; 2] {
    [
        ExportSegment {
            name: "liver",
            colour: [200, 100, 90],
            mesh: a,
        },
        ExportSegment {
            name: second,
            colour: [180, 100, 80],
            mesh: b,
        },
    ]
}

#[test]
fn stl_reads_back_closed_with_the_same_triangles() {
    let (a, b) = two_segments();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.stl");
    let segs = liver_and_kidney(&a, &b, "kidney");
    export(&path, &segs).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with(b"Stratum binary STL; mm, LPS"));
    let mesh = stl_io::read_stl(&mut std::io::Cursor::new(bytes)).unwrap();
    assert_eq!(mesh.faces.len(), a.triangle_count() + b.triangle_count());
    mesh.validate().expect("closed, manifold STL");
    // Bounds in mm around the two balls.
    let xs: Vec<f32> = mesh.vertices.iter().map(|v| v[0]).collect();
    let lo = xs.iter().cloned().fold(f32::INFINITY, f32::min);
    let hi = xs.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    assert!(
        (lo + 18.0).abs() < 1.0 && (hi - 18.0).abs() < 1.0,
        "{lo}..{hi}"
    );
    assert!(
        std::fs::read_dir(dir.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp"))
    );
}

#[test]
fn obj_reads_back_with_named_objects_materials_and_texture() {
    let (a, b) = two_segments();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("organs.obj");
    let segs = liver_and_kidney(&a, &b, "kidney left");
    let files = export(&path, &segs).unwrap();
    assert_eq!(files.len(), 3);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# Stratum OBJ export; units: millimetres; axes: DICOM patient LPS"));
    let (models, materials) = tobj::load_obj(
        &path,
        &tobj::LoadOptions {
            triangulate: true,
            single_index: true,
            ..Default::default()
        },
    )
    .unwrap();
    let materials = materials.unwrap();
    assert_eq!(models.len(), 2);
    assert_eq!(models[0].name, "liver");
    assert_eq!(models[1].name, "kidney_left");
    assert_eq!(models[0].mesh.indices.len() / 3, a.triangle_count());
    assert_eq!(models[1].mesh.indices.len() / 3, b.triangle_count());
    assert_eq!(materials.len(), 2);
    let m = &materials[models[1].mesh.material_id.unwrap()];
    assert_eq!(m.name, "kidney_left");
    assert_eq!(m.diffuse_texture.as_deref(), Some("organs.png"));
    let d = m.diffuse.unwrap();
    assert!((d[0] - 180.0 / 255.0).abs() < 1e-3);
    // The texture holds the segment colour where the UVs point.
    let png = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(dir.path().join("organs.png")).unwrap(),
    ));
    let mut reader = png.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let uv = &models[1].mesh.texcoords;
    let (u, v) = (uv[0], uv[1]);
    let (x, y) = (
        (u * info.width as f32) as usize,
        ((1.0 - v) * info.height as f32) as usize,
    );
    let i = (y * info.width as usize + x) * 3;
    assert_eq!(&buf[i..i + 3], &[180, 100, 80]);
}

#[test]
fn glb_reads_back_with_one_node_per_segment() {
    let (a, b) = two_segments();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("organs.glb");
    let segs = liver_and_kidney(&a, &b, "kidney");
    export(&path, &segs).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let glb = gltf::Gltf::from_slice(&bytes).expect("valid GLB");
    let doc = &glb.document;
    assert!(
        doc.as_json()
            .asset
            .generator
            .as_deref()
            .unwrap()
            .contains("millimetres")
    );
    let names: Vec<_> = doc.nodes().map(|n| n.name().unwrap().to_string()).collect();
    assert_eq!(names, ["liver", "kidney"]);
    let blob = glb.blob.as_ref().unwrap();
    for (mesh, expect) in doc.meshes().zip([&a, &b]) {
        let prim = mesh.primitives().next().unwrap();
        let reader = prim.reader(|_| Some(blob.as_slice()));
        assert_eq!(
            reader.read_positions().unwrap().count(),
            expect.positions.len()
        );
        assert_eq!(
            reader.read_normals().unwrap().count(),
            expect.positions.len()
        );
        assert_eq!(
            reader.read_indices().unwrap().into_u32().count(),
            expect.indices.len()
        );
        let c = prim.material().pbr_metallic_roughness().base_color_factor();
        assert!(c[0] > c[2], "organ colour kept");
    }
}

#[test]
fn unknown_extension_is_refused() {
    let (a, _) = two_segments();
    let e = export(
        std::path::Path::new("/tmp/x.ply"),
        &[ExportSegment {
            name: "a",
            colour: [1, 2, 3],
            mesh: &a,
        }],
    )
    .unwrap_err();
    assert!(e.to_string().contains(".stl, .obj or .glb"));
}
