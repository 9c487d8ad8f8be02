//! The share page's model: compressed (meshopt + quantization) yet the same
//! surfaces once decoded, with its decoder inlined; and `share --session`.

use base64::Engine;
use serde_json::Value;
use stratum_core::base::progress::Progress;
use stratum_core::export::{ExportSegment, ShareOptions, write_share};
use stratum_core::image::volume::Geometry;
use stratum_core::segment::{LabelMap, Mask};

use crate::fixtures::{EXPORT_DIM, ball_mask, ball_mesh, export_grid};

/// Enclosed volume (mm³) of triangles over `p`: the sum of signed
/// tetrahedra, positive when the triangles wind outward.
fn enclosed(p: &[[f64; 3]], tris: &[u32]) -> f64 {
    tris.chunks(3)
        .map(|t| {
            let [a, b, c] = [0, 1, 2].map(|k| p[t[k] as usize]);
            (a[0] * (b[1] * c[2] - b[2] * c[1]) - a[1] * (b[0] * c[2] - b[2] * c[0])
                + a[2] * (b[0] * c[1] - b[1] * c[0]))
                / 6.0
        })
        .sum()
}

/// The GLB inlined in a share page.
fn page_glb(html: &str) -> Vec<u8> {
    let b64 = html
        .split("data:model/gltf-binary;base64,")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("an inlined GLB");
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

/// One decoded mesh of the page's GLB: name, LPS mm positions (through the
/// node's dequantizing transform), indices, unit normals.
pub(crate) struct Decoded {
    pub name: String,
    pub positions: Vec<[f64; 3]>,
    pub indices: Vec<u32>,
    pub normals: Vec<[f64; 3]>,
    /// COLOR_0 (normalized linear bytes, RGBA), where the mesh has it.
    pub colours: Option<Vec<[u8; 4]>>,
}

/// [`decode`] of the model inlined in a share page.
pub(crate) fn decode_page(html: &str) -> (Value, Vec<Decoded>) {
    decode(&page_glb(html))
}

/// Decodes every segment mesh with meshoptimizer's own decoders, reading
/// only what the glTF JSON says (views, strides, filters, node transforms).
fn decode(glb: &[u8]) -> (Value, Vec<Decoded>) {
    let glb = gltf::binary::Glb::from_slice(glb).unwrap();
    let json: Value = serde_json::from_slice(&glb.json).unwrap();
    let bin = glb.bin.unwrap();
    let view = |accessor: &Value| -> (&[u8], usize, Value) {
        let a = &json["accessors"][accessor.as_u64().unwrap() as usize];
        let v = &json["bufferViews"][a["bufferView"].as_u64().unwrap() as usize];
        let ext = v["extensions"]["EXT_meshopt_compression"].clone();
        assert_eq!(ext["buffer"], 0, "compressed bytes in the BIN chunk");
        let off = ext["byteOffset"].as_u64().unwrap() as usize;
        let len = ext["byteLength"].as_u64().unwrap() as usize;
        (
            &bin[off..off + len],
            ext["count"].as_u64().unwrap() as usize,
            ext,
        )
    };
    let anatomy = json["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "anatomy")
        .unwrap()
        .clone();
    let mut out = Vec::new();
    for child in anatomy["children"].as_array().unwrap() {
        let node = &json["nodes"][child.as_u64().unwrap() as usize];
        let t: Vec<f64> = serde_json::from_value(node["translation"].clone()).unwrap();
        let s: Vec<f64> = serde_json::from_value(node["scale"].clone()).unwrap();
        let mesh = &json["meshes"][node["mesh"].as_u64().unwrap() as usize];
        let prim = &mesh["primitives"][0];
        let (bytes, count, ext) = view(&prim["attributes"]["POSITION"]);
        assert_eq!(
            (ext["mode"].as_str(), ext["byteStride"].as_u64()),
            (Some("ATTRIBUTES"), Some(8))
        );
        let q: Vec<[u16; 4]> = meshopt::decode_vertex_buffer(bytes, count).unwrap();
        let positions = q
            .iter()
            .map(|v| [0, 1, 2].map(|k| t[k] + s[k] * v[k] as f64))
            .collect();
        let (bytes, count, ext) = view(&prim["attributes"]["NORMAL"]);
        assert_eq!(ext["filter"], "OCTAHEDRAL");
        let mut n: Vec<[i8; 4]> = meshopt::decode_vertex_buffer(bytes, count).unwrap();
        meshopt::decode_filter_oct(&mut n);
        let normals = n
            .iter()
            .map(|v| [0, 1, 2].map(|k| v[k] as f64 / 127.0))
            .collect();
        let colours = prim["attributes"].get("COLOR_0").map(|c| {
            let a = &json["accessors"][c.as_u64().unwrap() as usize];
            assert_eq!(
                (&a["componentType"], &a["normalized"], &a["type"]),
                (&Value::from(5121), &Value::from(true), &Value::from("VEC4"))
            );
            let (bytes, count, _) = view(c);
            meshopt::decode_vertex_buffer::<[u8; 4]>(bytes, count).unwrap()
        });
        let (bytes, count, ext) = view(&prim["indices"]);
        assert_eq!(ext["mode"], "TRIANGLES");
        let indices = match ext["byteStride"].as_u64() {
            Some(2) => meshopt::decode_index_buffer::<u16>(bytes, count)
                .unwrap()
                .into_iter()
                .map(u32::from)
                .collect(),
            _ => meshopt::decode_index_buffer::<u32>(bytes, count).unwrap(),
        };
        out.push(Decoded {
            name: mesh["name"].as_str().unwrap().to_string(),
            positions,
            indices,
            normals,
            colours,
        });
    }
    (json, out)
}

/// The page's model decodes (with meshoptimizer's decoders, from what its
/// JSON declares) to the segments' surfaces: every triangle, the bounds
/// within a grid step, the enclosed volume within 0.1 %, outward unit
/// normals; and it is several times smaller than the plain GLB export.
#[test]
fn share_page_model_is_compressed_and_decodes_to_the_same_surfaces() {
    let meshes = [
        ball_mesh([-10.0, 0.0, 0.0], 12.0),
        ball_mesh([14.0, 5.0, 3.0], 8.0),
    ];
    let segs = [
        ExportSegment {
            name: "liver",
            colour: [200, 100, 90],
            mesh: &meshes[0],
        },
        ExportSegment {
            name: "kidney_left",
            colour: [180, 100, 80],
            mesh: &meshes[1],
        },
    ];
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("explain.html");
    write_share(&page, &segs, &[7.2, 2.1], &ShareOptions::default()).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    let glb = page_glb(&html);
    let (json, decoded) = decode(&glb);
    for ext in ["EXT_meshopt_compression", "KHR_mesh_quantization"] {
        assert!(
            json["extensionsRequired"]
                .as_array()
                .unwrap()
                .contains(&ext.into()),
            "{ext}"
        );
    }
    assert_eq!(decoded.len(), 2);
    for (d, (s, m)) in decoded.iter().zip(segs.iter().zip(&meshes)) {
        assert_eq!(d.name, s.name);
        assert_eq!(d.indices.len(), m.indices.len(), "every triangle");
        assert_eq!(d.positions.len(), m.positions.len());
        let (lo, hi) = m.bounds().unwrap();
        for k in 0..3 {
            let dlo = d
                .positions
                .iter()
                .map(|p| p[k])
                .fold(f64::INFINITY, f64::min);
            let dhi = d
                .positions
                .iter()
                .map(|p| p[k])
                .fold(f64::NEG_INFINITY, f64::max);
            assert!((dlo - lo[k] as f64).abs() < 0.01, "{k}: {dlo} vs {}", lo[k]);
            assert!((dhi - hi[k] as f64).abs() < 0.01, "{k}: {dhi} vs {}", hi[k]);
        }
        let original: Vec<[f64; 3]> = m.positions.iter().map(|p| p.map(f64::from)).collect();
        let (v0, v1) = (
            enclosed(&original, &m.indices),
            enclosed(&d.positions, &d.indices),
        );
        assert!(v0 > 0.0 && (v1 - v0).abs() < 1e-3 * v0, "{v1} vs {v0} mm³");
        let centre: [f64; 3] = [0, 1, 2]
            .map(|k| d.positions.iter().map(|p| p[k]).sum::<f64>() / d.positions.len() as f64);
        let mut outward = 0;
        for (p, n) in d.positions.iter().zip(&d.normals) {
            let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
            assert!((len - 1.0).abs() < 0.02, "normal length {len}");
            let r: f64 = (0..3).map(|k| n[k] * (p[k] - centre[k])).sum();
            outward += (r > 0.0) as usize;
        }
        assert!(outward * 100 > 95 * d.normals.len(), "{outward} outward");
    }
    // The plain export of the same segments, for scale.
    let plain = dir.path().join("plain.glb");
    stratum_core::export::export(&plain, &segs).unwrap();
    let plain = std::fs::metadata(&plain).unwrap().len() as usize;
    assert!(glb.len() * 4 < plain, "{} vs {plain} bytes", glb.len());
    // Its decoder is inlined and handed to the viewer: no CDN.
    assert!(html.contains("meshoptDecoderLocation: URL.createObjectURL"));
    assert!(html.contains("var MeshoptDecoder = (function"));
    // The cut controls.
    assert!(html.contains(r#"<select id="cut">"#) && html.contains(r#"id="depth""#));
}

/// A saved session shares as saved: its visible segments only, with the
/// session's names and colours and the edited volumes; a scan given beside
/// it must be the session's.
#[test]
fn share_session_shows_the_visible_segments_as_saved() {
    use stratum_core::convert::{ConvertOptions, share_session};
    use stratum_core::read::nifti::write_labels_nifti;
    use stratum_core::session::{ScanRef, SessionData, save_session};
    let root = tempfile::tempdir().unwrap();
    let mut map = LabelMap::empty(EXPORT_DIM, export_grid());
    map.add_segment("kidney_left", &ball_mask([-10.0, 0.0, 0.0], 10.0));
    map.add_segment("spleen", &ball_mask([14.0, 5.0, 3.0], 7.0));
    map.add_segment("hidden_thing", &ball_mask([0.0, -15.0, 10.0], 5.0));
    map.segments[0].colour = [10, 200, 30];
    map.segments[2].visible = false;
    // An edit: a slab of voxels painted into the kidney.
    for z in 20..24 {
        for y in 25..35 {
            for x in 10..20 {
                map.set(z, y, x, 1);
            }
        }
    }
    let kidney_ml = map.mask(1).volume_ml();
    let scan_path = root.path().join("scan.nii.gz");
    write_labels_nifti(&scan_path, &map).unwrap();
    let scan = stratum_core::read::nifti::load_nifti(&scan_path, &Progress::new()).unwrap();
    let session = root.path().join("study.stratum");
    let data = SessionData {
        scan: Some(ScanRef::new(&scan_path, None, &scan)),
        document: stratum_core::document::DocumentState::new(map.clone()),
        view: Value::Null,
    };
    save_session(&session, &data, "test").unwrap();
    let out = root.path().join("explain.html");
    let opts = ConvertOptions {
        reduce: 0.5,
        ..Default::default()
    };
    let results = share_session(
        &session,
        None,
        &out,
        &opts,
        &ShareOptions::default(),
        &Progress::new(),
    )
    .unwrap();
    let names: Vec<&str> = results.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["kidney_left", "spleen"], "hidden segments stay out");
    assert_eq!(results[0].colour, [10, 200, 30], "the session's colour");
    assert!((results[0].voxel_volume_ml - kidney_ml).abs() < 1e-9);
    let html = std::fs::read_to_string(&out).unwrap();
    let ml = format!(
        r#""key":"kidney_left","ml":{},"#,
        (kidney_ml * 10.0).round() / 10.0
    );
    assert!(html.contains(&ml), "{ml}");
    assert!(html.contains(r##""colour":"#0ac81e""##));
    assert!(!html.contains("hidden_thing"));
    // The session's own scan passes; another scan is refused by name.
    share_session(
        &session,
        Some(&scan_path),
        &out,
        &opts,
        &ShareOptions::default(),
        &Progress::new(),
    )
    .unwrap();
    let other = root.path().join("other.nii.gz");
    let mut changed = map.clone();
    changed.set(0, 0, 0, 2);
    write_labels_nifti(&other, &changed).unwrap();
    let e = share_session(
        &session,
        Some(&other),
        &out,
        &opts,
        &ShareOptions::default(),
        &Progress::new(),
    )
    .unwrap_err();
    assert!(e.to_string().contains("is not the scan the session"), "{e}");
}

/// A session's model segment is shared from its soft edge, and with the
/// scan a preset's segment from the scan at its level: both end at x = 10.3
/// as the app shows them, where the voxels alone end at 10.5.
#[test]
fn share_session_builds_surfaces_as_the_app_does() {
    use std::sync::Arc;

    use ndarray::Array3;
    use stratum_core::convert::{ConvertOptions, share_session};
    use stratum_core::document::SurfaceRecipe;
    use stratum_core::mesh::SoftField;
    use stratum_core::read::nifti::{load_nifti, write_labels_nifti};
    use stratum_core::segment::Labels;
    use stratum_core::session::{ScanRef, SessionData, save_session};
    let root = tempfile::tempdir().unwrap();
    let g = Geometry::default();
    let (nz, ny, nx) = (12, 12, 24);
    // The scan: 200 up to x = 10, 140 at x = 11 (partial volume), then 0:
    // 182 is crossed at x = 10.3.
    let mut scan_map = LabelMap::empty((nz, ny, nx), g);
    scan_map.labels = Labels::U8(Array3::from_shape_fn((nz, ny, nx), |(_, _, x)| match x {
        0..=10 => 200u8,
        11 => 140,
        _ => 0,
    }));
    let scan_path = root.path().join("scan.nii.gz");
    write_labels_nifti(&scan_path, &scan_map).unwrap();
    let scan = load_nifti(&scan_path, &Progress::new()).unwrap();
    let slab = Mask {
        data: Array3::from_shape_fn((nz, ny, nx), |(_, _, x)| (x <= 10) as u8),
        geometry: g,
    };
    let mut map = LabelMap::empty((nz, ny, nx), g);
    let id = map.add_segment("slab", &slab);
    let share = |levels, soft, scan_arg: Option<&std::path::Path>, name: &str| {
        let session = root.path().join(format!("{name}.stratum"));
        let mut document = stratum_core::document::DocumentState::new(map.clone());
        let levels: Vec<(u16, f64)> = levels;
        let soft: Vec<(u16, Arc<SoftField>)> = soft;
        for (id, l) in levels {
            document.set_recipe(id, SurfaceRecipe::Level(l));
        }
        for (id, f) in soft {
            document.set_recipe(id, SurfaceRecipe::Soft(f));
        }
        let data = SessionData {
            scan: Some(ScanRef::new(&scan_path, None, &scan)),
            document,
            view: Value::Null,
        };
        save_session(&session, &data, "test").unwrap();
        let out = root.path().join(format!("{name}.html"));
        let r = share_session(
            &session,
            scan_arg,
            &out,
            &ConvertOptions::default(),
            &ShareOptions::default(),
            &Progress::new(),
        )
        .unwrap();
        crate::ai_stages::face_x(&r[0].mesh, 10.4)
    };
    let field = SoftField {
        origin: [0, 0, 0],
        data: Array3::from_shape_fn((nz, ny, nx), |(_, _, x)| {
            (127.5 + (10.3 - x as f32) * 42.5).clamp(0.0, 255.0).round() as u8
        }),
    };
    let x = share(Vec::new(), vec![(id, Arc::new(field))], None, "soft");
    assert!((x - 10.3).abs() < 0.06, "soft edge surface at x = {x}");
    let levels = || vec![(id, 182.0)];
    let x = share(levels(), Vec::new(), Some(&scan_path), "level");
    assert!((x - 10.3).abs() < 0.06, "iso-surface at x = {x}");
    // The level without the scan: the voxels' surface.
    let x = share(levels(), Vec::new(), None, "mask");
    assert!(x > 10.45, "mask surface at x = {x}");
}
