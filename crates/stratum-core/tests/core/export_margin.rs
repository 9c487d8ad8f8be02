//! The margin map in the exports: on the two-balls phantom, ball A
//! coloured by its distance to ball B reads back red at the pole facing B
//! (3 mm), yellow 45 degrees round (7.4 mm) and A's own colour opposite, in
//! the GLB's vertex colours, the OBJ's `v x y z r g b`, the scan texture
//! and the share page's compressed model.

use stratum_core::export::{
    ExportOptions, ExportSegment, MARGIN_COLOURS, MarginPaint, ScanTexture, ShareOptions,
    export_with, write_share_with,
};
use stratum_core::mesh::SurfaceMesh;

use crate::distance::{Phantom, add, ball, cross, norm, phantom, scale, sub, unit};

const OWN: [u8; 3] = [90, 140, 200];
const OTHER: [u8; 3] = [60, 200, 90];

/// The phantom of the core's margin test: balls of 9 and 5 mm, 3 mm apart
/// along a slanted line; and the three points checked on A with the
/// colour each must have (near, middle, beyond).
struct Setup {
    p: Phantom,
    a: SurfaceMesh,
    b: SurfaceMesh,
    points: [([f64; 3], [u8; 3]); 3],
}

fn setup() -> Setup {
    let dir = unit([0.3, 1.0, -0.2]);
    let c1 = [0.0, 0.0, 32.0];
    let (r1, r2, gap) = (9.0, 5.0, 3.0);
    let c2 = add(c1, scale(dir, r1 + r2 + gap));
    let p = phantom((48, 60, 52), [0.9, 0.9, 1.1], &[ball(c1, r1), ball(c2, r2)]);
    let (a, b) = (p.mesh(1), p.mesh(2));
    let side = unit(cross(dir, [0.0, 0.0, 1.0]));
    let h = std::f64::consts::FRAC_1_SQRT_2;
    let round = add(c1, add(scale(dir, r1 * h), scale(side, r1 * h)));
    let truth = norm(sub(round, c2)) - r2;
    assert!((6.0..9.0).contains(&truth), "{truth}");
    Setup {
        p,
        a,
        b,
        points: [
            (add(c1, scale(dir, r1)), MARGIN_COLOURS[0]),
            (round, MARGIN_COLOURS[1]),
            (add(c1, scale(dir, -r1)), OWN),
        ],
    }
}

impl Setup {
    fn segments(&self) -> [ExportSegment<'_>; 2] {
        [
            ExportSegment {
                name: "lesion",
                colour: OWN,
                mesh: &self.a,
            },
            ExportSegment {
                name: "vessel",
                colour: OTHER,
                mesh: &self.b,
            },
        ]
    }

    fn margin(&self) -> MarginPaint<'_> {
        MarginPaint::new(0, &self.p.labels, 2, &self.b)
    }
}

/// The index of the point of `points` nearest to `p`.
fn nearest(points: &[[f64; 3]], p: [f64; 3]) -> usize {
    (0..points.len())
        .min_by(|&i, &j| norm(sub(points[i], p)).total_cmp(&norm(sub(points[j], p))))
        .unwrap()
}

fn to_srgb(linear: f32) -> u8 {
    let c = if linear <= 0.0031308 {
        linear * 12.92
    } else {
        1.055 * linear.powf(1.0 / 2.4) - 0.055
    };
    (c * 255.0).round() as u8
}

fn close(a: [u8; 3], b: [u8; 3], tol: u8) -> bool {
    (0..3).all(|k| a[k].abs_diff(b[k]) <= tol)
}

#[test]
fn a_glb_carries_the_margin_map_as_vertex_colours_on_the_coloured_segment_only() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("margin.glb");
    let opts = ExportOptions {
        margin: Some(s.margin()),
        ..Default::default()
    };
    export_with(&path, &s.segments(), &opts).unwrap();
    let file = gltf::Gltf::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let blob = file.blob.as_deref().unwrap();
    let meshes: Vec<_> = file.document.meshes().collect();
    let prim = meshes[0].primitives().next().unwrap();
    // The colours are on the vertices: the material is white.
    let base = prim.material().pbr_metallic_roughness().base_color_factor();
    assert_eq!(base, [1.0; 4]);
    let reader = prim.reader(|_| Some(blob));
    let positions: Vec<[f64; 3]> = reader
        .read_positions()
        .unwrap()
        .map(|p| p.map(f64::from))
        .collect();
    let colours: Vec<[u8; 3]> = reader
        .read_colors(0)
        .expect("COLOR_0 on the coloured segment")
        .into_rgb_f32()
        .map(|c| c.map(to_srgb))
        .collect();
    assert_eq!(colours.len(), positions.len());
    for (p, want) in s.points {
        let got = colours[nearest(&positions, p)];
        assert!(close(got, want, 1), "at {p:?}: {got:?}, want {want:?}");
    }
    // Every vertex is one of the three colours.
    assert!(colours.iter().all(|c| {
        [MARGIN_COLOURS[0], MARGIN_COLOURS[1], OWN]
            .iter()
            .any(|w| close(*c, *w, 1))
    }));
    // The other segment stays in its flat colour.
    let other = meshes[1].primitives().next().unwrap();
    assert!(other.get(&gltf::Semantic::Colors(0)).is_none());
    let base = other
        .material()
        .pbr_metallic_roughness()
        .base_color_factor();
    let base = [base[0], base[1], base[2]].map(to_srgb);
    assert!(close(base, OTHER, 1), "{base:?}");
}

#[test]
fn an_obj_carries_the_margin_map_as_vertex_colours_after_the_coordinates() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("margin.obj");
    let opts = ExportOptions {
        margin: Some(s.margin()),
        ..Default::default()
    };
    export_with(&path, &s.segments(), &opts).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    // Object by object: the `v` lines and how many numbers each has.
    let mut objects: Vec<(String, Vec<Vec<f64>>)> = Vec::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("o ") {
            objects.push((name.to_string(), Vec::new()));
        } else if let Some(v) = line.strip_prefix("v ") {
            let nums = v.split_whitespace().map(|x| x.parse().unwrap()).collect();
            objects.last_mut().unwrap().1.push(nums);
        }
    }
    assert_eq!(objects[0].0, "lesion");
    assert!(objects[0].1.iter().all(|v| v.len() == 6));
    // The other segment's vertices in its own colour (readers take
    // colours for all vertices or none).
    assert!(objects[1].1.iter().all(|v| {
        v.len() == 6 && [v[3], v[4], v[5]].map(|c| (c * 255.0).round() as u8) == OTHER
    }));
    let positions: Vec<[f64; 3]> = objects[0].1.iter().map(|v| [v[0], v[1], v[2]]).collect();
    for (p, want) in s.points {
        let v = &objects[0].1[nearest(&positions, p)];
        let got = [v[3], v[4], v[5]].map(|c| (c * 255.0).round() as u8);
        assert!(close(got, want, 1), "at {p:?}: {got:?}, want {want:?}");
    }
    // A reader of OBJ vertex colours (tobj, as MeshLab and Blender do) gets them.
    let (models, _) = tobj::load_obj(&path, &tobj::GPU_LOAD_OPTIONS).unwrap();
    assert_eq!(
        models[0].mesh.vertex_color.len(),
        models[0].mesh.positions.len()
    );
    assert_eq!(
        models[1].mesh.vertex_color.len(),
        models[1].mesh.positions.len()
    );
}

#[test]
fn the_scan_texture_takes_the_margin_colours_with_sharp_thresholds() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("margin.glb");
    // The scan's weight at zero: each texel is the margin's colour itself.
    let opts = ExportOptions {
        scan: Some(ScanTexture {
            scan_weight: 0.0,
            ..ScanTexture::new(&s.p.scan)
        }),
        margin: Some(s.margin()),
    };
    export_with(&path, &s.segments(), &opts).unwrap();
    let file = gltf::Gltf::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let (doc, blob) = (&file.document, file.blob.as_deref().unwrap());
    let gltf::image::Source::View { view, .. } = doc.images().next().unwrap().source() else {
        panic!("the image is embedded")
    };
    let png = &blob[view.offset()..view.offset() + view.length()];
    let mut png = png::Decoder::new(std::io::Cursor::new(png))
        .read_info()
        .unwrap();
    let mut pixels = vec![0; png.output_buffer_size().unwrap()];
    let info = png.next_frame(&mut pixels).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let (width, height) = (info.width as usize, info.height as usize);
    let prim = doc.meshes().next().unwrap().primitives().next().unwrap();
    // No vertex colours over the texture: it carries them.
    assert!(prim.get(&gltf::Semantic::Colors(0)).is_none());
    let reader = prim.reader(|_| Some(blob));
    let corners: Vec<[f64; 3]> = reader
        .read_positions()
        .unwrap()
        .map(|p| p.map(f64::from))
        .collect();
    let uvs: Vec<[f32; 2]> = reader.read_tex_coords(0).unwrap().into_f32().collect();
    let centroids: Vec<[f64; 3]> = corners
        .chunks(3)
        .map(|t| scale(add(add(t[0], t[1]), t[2]), 1.0 / 3.0))
        .collect();
    for (p, want) in s.points {
        // The texel at the centre of the triangle nearest the point.
        let t = nearest(&centroids, p);
        let uv = [0, 1].map(|k| (uvs[3 * t][k] + uvs[3 * t + 1][k] + uvs[3 * t + 2][k]) / 3.0);
        let (x, y) = (
            (uv[0] * width as f32) as usize,
            (uv[1] * height as f32) as usize,
        );
        let at = (y * width + x) * 3;
        let got = [pixels[at], pixels[at + 1], pixels[at + 2]];
        assert!(close(got, want, 1), "at {p:?}: {got:?}, want {want:?}");
    }
}

#[test]
fn the_share_page_model_carries_the_margin_colours_and_says_what_they_mean() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("margin.html");
    let m = s.margin();
    write_share_with(
        &page,
        &s.segments(),
        &[3.0, 0.5],
        &ShareOptions::default(),
        Some(&m),
    )
    .unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("Lesion is coloured by its distance to Shape 2"),
        "{}",
        html.lines()
            .find(|l| l.contains("margin"))
            .unwrap_or_default()
    );
    let (json, meshes) = crate::share_page::decode_page(&html);
    let colours = meshes[0].colours.as_ref().expect("COLOR_0 on the lesion");
    assert!(meshes[1].colours.is_none());
    assert_eq!(
        json["materials"][0]["pbrMetallicRoughness"]["baseColorFactor"][0],
        1.0
    );
    for (p, want) in s.points {
        let got = colours[nearest(&meshes[0].positions, p)];
        let got = [0, 1, 2].map(|k| to_srgb(got[k] as f32 / 255.0));
        // 8-bit linear values: a few sRGB steps apart in the dark.
        assert!(close(got, want, 6), "at {p:?}: {got:?}, want {want:?}");
    }
}

#[test]
fn a_margin_on_a_segment_that_is_not_exported_says_so() {
    let s = setup();
    let dir = tempfile::tempdir().unwrap();
    let mut m = s.margin();
    m.segment = 5;
    let opts = ExportOptions {
        margin: Some(m),
        ..Default::default()
    };
    let e = export_with(&dir.path().join("x.glb"), &s.segments(), &opts).unwrap_err();
    assert!(e.to_string().contains("exported segments"), "{e}");
    let mut m = s.margin();
    m.thresholds_mm = [10.0, 5.0];
    let opts = ExportOptions {
        margin: Some(m),
        ..Default::default()
    };
    let e = export_with(&dir.path().join("x.obj"), &s.segments(), &opts).unwrap_err();
    assert!(e.to_string().contains("thresholds"), "{e}");
    // STL has no colours: the request is ignored, the file written.
    export_with(&dir.path().join("x.stl"), &s.segments(), &opts).unwrap();
}
