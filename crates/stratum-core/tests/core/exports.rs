//! Every export read back with an independent parser.

use stratum_core::export::{ExportSegment, export};
use stratum_core::mesh::SurfaceMesh;

use crate::fixtures::ball_mesh;

fn two_segments() -> (SurfaceMesh, SurfaceMesh) {
    (
        ball_mesh([-10.0, 0.0, 0.0], 8.0),
        ball_mesh([12.0, 5.0, 3.0], 6.0),
    )
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

/// The scene is in glTF's conventions (metres, +Y superior, +Z anterior,
/// +X patient left, centred) and the root node's transform undone gives
/// back the exact LPS millimetres.
#[test]
fn glb_is_in_metres_y_up_centred_with_lps_recoverable() {
    let (a, b) = two_segments();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("organs.glb");
    let segs = liver_and_kidney(&a, &b, "kidney");
    export(&path, &segs).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let glb = gltf::Gltf::from_slice(&bytes).expect("valid GLB");
    let doc = &glb.document;
    let scene = doc.default_scene().unwrap();
    let roots: Vec<_> = scene.nodes().collect();
    assert_eq!(roots.len(), 1, "one root node");
    let root = &roots[0];
    let extras: serde_json::Value =
        serde_json::from_str(root.extras().as_ref().unwrap().get()).unwrap();
    assert_eq!(extras["stratum"]["mesh_axes"], "LPS");
    assert!(
        extras["stratum"]["note"]
            .as_str()
            .unwrap()
            .contains("metres, +Y superior")
    );
    let names: Vec<_> = root
        .children()
        .map(|n| n.name().unwrap().to_string())
        .collect();
    assert_eq!(names, ["liver", "kidney"]);
    let m = root.transform().matrix();
    let world = |p: [f32; 3]| -> [f32; 3] {
        [0, 1, 2].map(|r| m[0][r] * p[0] + m[1][r] * p[1] + m[2][r] * p[2] + m[3][r])
    };
    let blob = glb.blob.as_ref().unwrap();
    let (mut lo, mut hi) = ([f32::INFINITY; 3], [f32::NEG_INFINITY; 3]);
    for (mesh, expect) in doc.meshes().zip([&a, &b]) {
        let prim = mesh.primitives().next().unwrap();
        let reader = prim.reader(|_| Some(blob.as_slice()));
        let positions: Vec<[f32; 3]> = reader.read_positions().unwrap().collect();
        // Stored positions are the exact LPS mm.
        assert_eq!(positions, expect.positions);
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
        for p in positions {
            let w = world(p);
            for k in 0..3 {
                lo[k] = lo[k].min(w[k]);
                hi[k] = hi[k].max(w[k]);
            }
        }
    }
    // The balls span L -18..18 mm, P -8..11 mm, S -8..9 mm; in glTF metres
    // X = L, Y = S, Z = -P, centred.
    let near = |v: f32, e: f32| (v - e).abs() < 0.0011;
    assert!(near(lo[0], -0.018) && near(hi[0], 0.018), "X {lo:?} {hi:?}");
    assert!(
        near(lo[1], -0.0085) && near(hi[1], 0.0085),
        "Y {lo:?} {hi:?}"
    );
    assert!(
        near(lo[2], -0.0095) && near(hi[2], 0.0095),
        "Z {lo:?} {hi:?}"
    );
    // The kidney (P +5 mm, S +3 mm, L +12 mm) lies to the patient's left,
    // behind and above the liver: +X, -Z, +Y.
    let kidney_centre = world([12.0, 5.0, 3.0]);
    let liver_centre = world([-10.0, 0.0, 0.0]);
    assert!(kidney_centre[0] > liver_centre[0]);
    assert!(kidney_centre[1] > liver_centre[1]);
    assert!(kidney_centre[2] < liver_centre[2]);
    // Superior is up: an LPS step of +1 mm in z is +0.001 in Y.
    let up = world([0.0, 0.0, 1.0]);
    let o = world([0.0, 0.0, 0.0]);
    assert!((up[1] - o[1] - 0.001).abs() < 1e-6 && (up[0] - o[0]).abs() < 1e-7);
}

/// One object per segment, named and coloured through one base-material
/// group, in millimetres with the mesh's own vertices and triangles.
#[test]
fn threemf_has_one_coloured_object_per_segment_in_mm() {
    let (a, b) = two_segments();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("organs.3mf");
    let segs = liver_and_kidney(&a, &b, "kidney left");
    let files = export(&path, &segs).unwrap();
    assert_eq!(files, std::slice::from_ref(&path));
    // The colours, as a slicer reads them: core-namespace base materials.
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
    let mut xml = String::new();
    std::io::Read::read_to_string(&mut zip.by_name("3D/model.model").unwrap(), &mut xml).unwrap();
    let core = "\"http://schemas.microsoft.com/3dmanufacturing/core/2015/02\"";
    assert!(xml.contains(&format!("xmlns={core}")), "{}", &xml[..300]);
    assert!(xml.contains(&format!("xmlns:m={core}")), "{}", &xml[..300]);
    assert!(xml.contains("unit=\"millimeter\""));
    let base = xml
        .find("<m:basematerials id=\"1\">")
        .expect("base materials");
    let liver = xml.find("<m:base name=\"liver\" displaycolor=\"#C8645A\"/>");
    let kidney = xml.find("<m:base name=\"kidney_left\" displaycolor=\"#B46450\"/>");
    assert!(
        liver.is_some_and(|l| l > base) && kidney > liver,
        "{xml:.600}"
    );
    let models = threemf::read(std::fs::File::open(&path).unwrap()).unwrap();
    assert_eq!(models.len(), 1);
    let m = &models[0];
    let objects = &m.resources.object;
    assert_eq!(objects.len(), 2);
    assert_eq!(m.build.item.len(), 2);
    for ((o, expect), (k, name)) in objects
        .iter()
        .zip([&a, &b])
        .zip([(0, "liver"), (1, "kidney_left")])
    {
        assert_eq!(o.name.as_deref(), Some(name));
        assert_eq!((o.pid, o.pindex), (Some(1), Some(k)));
        let mesh = o.mesh.as_ref().unwrap();
        assert_eq!(mesh.vertices.vertex.len(), expect.positions.len());
        assert_eq!(mesh.triangles.triangle.len(), expect.triangle_count());
        let v = &mesh.vertices.vertex[0];
        let p = expect.positions[0];
        assert!((v.x - p[0] as f64).abs() < 1e-4 && (v.z - p[2] as f64).abs() < 1e-4);
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
    assert!(e.to_string().contains(".stl, .obj, .glb or .3mf"));
}

#[test]
fn plain_names_read_as_a_patient_would_say_them() {
    use stratum_core::export::plain_name;
    assert_eq!(plain_name("kidney_left"), "Left kidney");
    assert_eq!(plain_name("adrenal_gland_right"), "Right adrenal gland");
    assert_eq!(plain_name("rib_right_11"), "Right rib 11");
    assert_eq!(plain_name("vertebrae_L1"), "Vertebra L1");
    assert_eq!(plain_name("liver"), "Liver");
    assert_eq!(plain_name("Bone"), "Bone");
}

/// The page holds the viewer and the model inline (nothing to fetch), the
/// clinician's text escaped, and each structure's plain name and volume.
#[test]
fn share_page_is_self_contained() {
    use stratum_core::export::{ShareOptions, write_share};
    let (a, b) = two_segments();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("explain.html");
    let segs = liver_and_kidney(&a, &b, "kidney_left");
    let opts = ShareOptions {
        title: "Your <kidneys>".into(),
        note: "See you on Monday".into(),
    };
    write_share(&path, &segs, &[1125.68, 137.43], &opts).unwrap();
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.contains("<title>Your &lt;kidneys&gt;</title>"));
    assert!(html.contains("See you on Monday"));
    assert!(html.contains(r#""key":"kidney_left","ml":137.4,"name":"Left kidney""#));
    assert!(
        html.contains("src=\"data:model/gltf-binary;base64,Z2xURg"),
        "GLB inlined"
    );
    assert!(
        html.contains("customElements.define(\"model-viewer\""),
        "viewer inlined"
    );
    for fetch in ["src=\"http", "href=\"http", "src=\"//", "<link "] {
        assert!(!html.contains(fetch), "the page fetches {fetch}");
    }
    let e = write_share(&dir.path().join("x.html"), &[], &[], &opts).unwrap_err();
    assert!(e.to_string().contains("nothing to share"));
}

#[test]
fn label_maps_write_as_uncompressed_nifti_too() {
    // The nifti writer replaces the last extension of a .nii path: a
    // temporary name with a dot before ".nii" was written elsewhere and the
    // rename into place failed.
    use stratum_core::read::nifti::{load_nifti, write_labels_nifti};
    use stratum_core::segment::{LabelMap, Labels};
    let dir = tempfile::tempdir().unwrap();
    let mut a = ndarray::Array3::<u8>::zeros((3, 4, 5));
    a[[1, 2, 3]] = 7;
    let map = LabelMap {
        labels: Labels::U8(a),
        geometry: stratum_core::image::volume::Geometry::default(),
        segments: Vec::new(),
    };
    for name in ["labels.nii", "labels.nii.gz"] {
        let path = dir.path().join(name);
        write_labels_nifti(&path, &map).unwrap();
        let v = load_nifti(&path, &stratum_core::base::progress::Progress::new()).unwrap();
        assert_eq!(v.voxels.get(1, 2, 3), Some(7.0), "{name}");
    }
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 2, "no temporary file left: {left:?}");
}
