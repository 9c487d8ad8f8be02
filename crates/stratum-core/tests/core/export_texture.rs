//! The scan texture: the atlas shows the scan just inside the surface, its
//! charts never share a texel, edges show no seams, and OBJ and GLB carry it.

use std::collections::HashMap;

use stratum_core::base::progress::Progress;
use stratum_core::export::{
    Atlas, ExportOptions, ExportSegment, ScanTexture, bake_atlas, export_with,
};
use stratum_core::image::view::Window;
use stratum_core::image::volume::{Geometry, Volume, Voxels};
use stratum_core::mesh::{SurfaceMesh, SurfaceOptions, mask_surface};

use crate::fixtures::{in_ball, mask_where};

/// A CT of a ball (radius 12 mm) whose left half (L > 0) is 300 HU and
/// right half -100 HU, in air; and the ball's surface.
fn half_and_half_ball() -> (Volume, SurfaceMesh) {
    let g = Geometry {
        origin: [-20.0, -20.0, -20.0],
        spacing: [1.0, 1.0, 1.0],
        ..Geometry::default()
    };
    let inside = in_ball([0.0; 3], 12.0);
    let hu = ndarray::Array3::from_shape_fn((41, 41, 41), |(z, y, x)| {
        let p = g.index_to_lps([x as f64, y as f64, z as f64]);
        match (inside(p), p[0] > 0.0) {
            (false, _) => -1000i16,
            (true, true) => 300,
            (true, false) => -100,
        }
    });
    let mesh = mask_surface(
        &mask_where((41, 41, 41), g, inside),
        &SurfaceOptions::default(),
        &Progress::new(),
    )
    .unwrap();
    (Volume::new(Voxels::I16(hu), g, "CT"), mesh)
}

/// Bilinear sample of the atlas at UV (u right, v down), as a GPU does.
fn bilinear(a: &Atlas, uv: [f32; 2]) -> [f32; 3] {
    let x = uv[0] * a.width as f32 - 0.5;
    let y = uv[1] * a.height as f32 - 0.5;
    let (x0, y0) = (x.floor(), y.floor());
    let (fx, fy) = (x - x0, y - y0);
    let mut out = [0.0; 3];
    for (dx, dy, w) in [
        (0, 0, (1.0 - fx) * (1.0 - fy)),
        (1, 0, fx * (1.0 - fy)),
        (0, 1, (1.0 - fx) * fy),
        (1, 1, fx * fy),
    ] {
        let i = ((y0 as i64 + dy).clamp(0, a.height as i64 - 1) as usize * a.width
            + (x0 as i64 + dx).clamp(0, a.width as i64 - 1) as usize)
            * 3;
        for (k, o) in out.iter_mut().enumerate() {
            *o += w * a.rgb[i + k] as f32;
        }
    }
    out
}

fn centroid(m: &SurfaceMesh, t: usize) -> [f32; 3] {
    let p = |c: usize| m.positions[m.indices[3 * t + c] as usize];
    [0, 1, 2].map(|k| (p(0)[k] + p(1)[k] + p(2)[k]) / 3.0)
}

#[test]
fn atlas_shows_the_scan_just_inside_the_surface() {
    let (ct, mesh) = half_and_half_ball();
    let seg = [ExportSegment {
        name: "ball",
        colour: [200, 0, 0],
        mesh: &mesh,
    }];
    let mut tex = ScanTexture::new(&ct);
    assert_eq!(
        tex.window,
        Window {
            center: 40.0,
            width: 400.0
        },
        "soft tissue for CT"
    );
    tex.scan_weight = 1.0;
    let atlas = bake_atlas(&seg, &tex).unwrap();
    assert_eq!(atlas.uvs[0].len(), mesh.indices.len());
    let (mut bright, mut dark) = (0, 0);
    for t in 0..mesh.triangle_count() {
        let uv = &atlas.uvs[0][3 * t..3 * t + 3];
        let mid = [0, 1].map(|k| (uv[0][k] + uv[1][k] + uv[2][k]) / 3.0);
        let grey = bilinear(&atlas, mid)[1];
        let x = centroid(&mesh, t)[0];
        // 300 HU is white in the soft-tissue window, -100 HU dark grey
        // (38), air (outside) would be black: the sample is inside.
        if x > 3.0 {
            assert!(grey > 230.0, "left half at x={x}: {grey}");
            bright += 1;
        } else if x < -3.0 {
            assert!((25.0..55.0).contains(&grey), "right half at x={x}: {grey}");
            dark += 1;
        }
    }
    assert!(bright > 100 && dark > 100, "{bright} {dark}");
    // Half and half with the colour: red stays in the blend.
    tex.scan_weight = 0.5;
    let atlas = bake_atlas(&seg, &tex).unwrap();
    let uv = &atlas.uvs[0][0..3];
    let mid = [0, 1].map(|k| (uv[0][k] + uv[1][k] + uv[2][k]) / 3.0);
    let c = bilinear(&atlas, mid);
    assert!(c[0] > c[1] + 80.0, "{c:?}");
}

/// Sampling anywhere on a chart (edges included) with bilinear filtering
/// reads only texels no other chart reads.
#[test]
fn atlas_charts_never_share_a_texel() {
    let (ct, mesh) = half_and_half_ball();
    let seg = [
        ExportSegment {
            name: "a",
            colour: [200, 0, 0],
            mesh: &mesh,
        },
        ExportSegment {
            name: "b",
            colour: [0, 200, 0],
            mesh: &mesh,
        },
    ];
    let atlas = bake_atlas(&seg, &ScanTexture::new(&ct)).unwrap();
    let mut owner: HashMap<(i64, i64), usize> = HashMap::new();
    let mut chart = 0;
    for uvs in &atlas.uvs {
        for t in uvs.chunks_exact(3) {
            for e in 0..3 {
                let (a, b) = (t[e], t[(e + 1) % 3]);
                for s in 0..=16 {
                    let f = s as f32 / 16.0;
                    let x = (a[0] + f * (b[0] - a[0])) * atlas.width as f32 - 0.5;
                    let y = (a[1] + f * (b[1] - a[1])) * atlas.height as f32 - 0.5;
                    for dx in 0..2 {
                        for dy in 0..2 {
                            let texel = (x.floor() as i64 + dx, y.floor() as i64 + dy);
                            let o = *owner.entry(texel).or_insert(chart);
                            assert_eq!(o, chart, "texel {texel:?} read by charts {o} and {chart}");
                        }
                    }
                }
            }
            chart += 1;
        }
    }
    assert_eq!(chart, 2 * mesh.triangle_count());
    assert!(atlas.width.is_power_of_two() && atlas.height.is_power_of_two());
}

/// Where two triangles meet, their charts show the same colour at the
/// shared edge: no seam.
#[test]
fn shared_edges_show_no_seam() {
    let (ct, mesh) = half_and_half_ball();
    let seg = [ExportSegment {
        name: "ball",
        colour: [200, 100, 90],
        mesh: &mesh,
    }];
    let atlas = bake_atlas(&seg, &ScanTexture::new(&ct)).unwrap();
    let uv = &atlas.uvs[0];
    let mut edges: HashMap<(u32, u32), (usize, usize)> = HashMap::new();
    let (mut n, mut total, mut worst) = (0, 0.0f32, 0.0f32);
    for t in 0..mesh.triangle_count() {
        for c in 0..3 {
            let (a, b) = (mesh.indices[3 * t + c], mesh.indices[3 * t + (c + 1) % 3]);
            let key = (a.min(b), a.max(b));
            if let Some((t2, c2)) = edges.remove(&key) {
                // Midpoint of the edge in both charts.
                let m1 = [0, 1].map(|k| 0.5 * (uv[3 * t + c][k] + uv[3 * t + (c + 1) % 3][k]));
                let m2 = [0, 1].map(|k| 0.5 * (uv[3 * t2 + c2][k] + uv[3 * t2 + (c2 + 1) % 3][k]));
                let (p, q) = (bilinear(&atlas, m1), bilinear(&atlas, m2));
                let d = (0..3).map(|k| (p[k] - q[k]).abs()).fold(0.0, f32::max);
                total += d;
                worst = worst.max(d);
                n += 1;
            } else {
                edges.insert(key, (t, c));
            }
        }
    }
    assert!(edges.is_empty(), "closed mesh: every edge twice");
    let mean = total / n as f32;
    // The only real jump is where the scan itself jumps (the ball's two
    // halves, 217 grey levels apart at half weight: 108).
    assert!(mean < 4.0, "mean seam {mean} levels over {n} edges");
    assert!(worst <= 120.0, "worst seam {worst}");
}

#[test]
fn textured_obj_and_glb_carry_the_atlas() {
    let (ct, mesh) = half_and_half_ball();
    let seg = [ExportSegment {
        name: "ball",
        colour: [200, 100, 90],
        mesh: &mesh,
    }];
    let opts = ExportOptions {
        scan: Some(ScanTexture::new(&ct)),
        ..Default::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let obj = dir.path().join("ball.obj");
    let files = export_with(&obj, &seg, &opts).unwrap();
    assert_eq!(files.len(), 3);
    let (models, _) = tobj::load_obj(
        &obj,
        &tobj::LoadOptions {
            triangulate: true,
            ..Default::default()
        },
    )
    .unwrap();
    let m = &models[0].mesh;
    assert_eq!(m.indices.len(), mesh.indices.len());
    assert_eq!(m.texcoord_indices.len(), mesh.indices.len());
    assert_eq!(
        m.texcoords.len() / 2,
        mesh.indices.len(),
        "one UV per corner"
    );
    let png = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(dir.path().join("ball.png")).unwrap(),
    ));
    let info = png.read_info().unwrap();
    assert!(info.info().width >= 256, "{}", info.info().width);

    let glb = dir.path().join("ball.glb");
    export_with(&glb, &seg, &opts).unwrap();
    let bytes = std::fs::read(&glb).unwrap();
    let file = gltf::Gltf::from_slice(&bytes).unwrap();
    let (doc, blob) = (&file.document, file.blob.as_ref().unwrap());
    assert_eq!(doc.images().count(), 1);
    let gltf::image::Source::View { view, mime_type } = doc.images().next().unwrap().source()
    else {
        panic!("the image is embedded")
    };
    assert_eq!(mime_type, "image/png");
    let embedded = &blob[view.offset()..view.offset() + view.length()];
    assert_eq!(
        embedded,
        std::fs::read(dir.path().join("ball.png")).unwrap(),
        "the same texture"
    );
    let prim = doc.meshes().next().unwrap().primitives().next().unwrap();
    let tex = prim
        .material()
        .pbr_metallic_roughness()
        .base_color_texture()
        .expect("base colour texture");
    assert_eq!(tex.tex_coord(), 0);
    let reader = prim.reader(|_| Some(blob.as_slice()));
    assert_eq!(
        reader.read_tex_coords(0).unwrap().into_f32().count(),
        mesh.indices.len()
    );
    assert_eq!(reader.read_positions().unwrap().count(), mesh.indices.len());
}

/// Past the largest atlas the export says what to do instead of writing a
/// texture no viewer opens.
#[test]
fn too_many_triangles_for_the_atlas_is_refused_with_advice() {
    let (ct, ball) = half_and_half_ball();
    let mut many = ball.clone();
    // 64-texel cells: room for 2 * 128 * 128 = 32768 triangles.
    while many.triangle_count() <= 32768 {
        many.indices.extend_from_slice(&ball.indices);
    }
    let seg = [ExportSegment {
        name: "many",
        colour: [1, 2, 3],
        mesh: &many,
    }];
    let mut tex = ScanTexture::new(&ct);
    tex.cell_px = 64;
    let e = bake_atlas(&seg, &tex).unwrap_err().to_string();
    assert!(
        e.contains("too many for a scan texture (at most 32768)") && e.contains("flat colours"),
        "{e}"
    );
}

/// Baked ambient occlusion darkens where another surface is near (two
/// balls 3 mm apart: the sides facing each other) and leaves the open sides
/// as they were; without it nothing darkens.
#[test]
fn ambient_occlusion_darkens_where_surfaces_face_each_other() {
    let g = Geometry {
        origin: [-20.0, -20.0, -20.0],
        spacing: [1.0, 1.0, 1.0],
        ..Geometry::default()
    };
    let ball = |cx: f64| {
        mask_surface(
            &mask_where((41, 41, 41), g, in_ball([cx, 0.0, 0.0], 8.0)),
            &SurfaceOptions::default(),
            &Progress::new(),
        )
        .unwrap()
    };
    let (a, b) = (ball(-9.5), ball(9.5));
    let ct = Volume::new(
        Voxels::I16(ndarray::Array3::from_elem((41, 41, 41), 40i16)),
        g,
        "CT",
    );
    let segs = [
        ExportSegment {
            name: "a",
            colour: [200, 200, 200],
            mesh: &a,
        },
        ExportSegment {
            name: "b",
            colour: [200, 200, 200],
            mesh: &b,
        },
    ];
    let mut tex = ScanTexture::new(&ct);
    assert_eq!(tex.occlusion_mm, None, "off unless asked");
    let plain = bake_atlas(&segs, &tex).unwrap();
    tex.occlusion_mm = Some(stratum_core::export::AO_REACH_MM);
    let lit = bake_atlas(&segs, &tex).unwrap();
    let (mut facing, mut open) = (Vec::new(), Vec::new());
    for t in 0..a.triangle_count() {
        let uv = &plain.uvs[0][3 * t..3 * t + 3];
        let mid = [0, 1].map(|k| (uv[0][k] + uv[1][k] + uv[2][k]) / 3.0);
        let ratio = bilinear(&lit, mid)[1] / bilinear(&plain, mid)[1];
        let x = centroid(&a, t)[0];
        if x > -3.0 {
            facing.push(ratio);
        } else if x < -15.0 {
            open.push(ratio);
        }
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    assert!(facing.len() > 10 && open.len() > 10);
    assert!(
        mean(&facing) < 0.75,
        "facing the other ball: {}",
        mean(&facing)
    );
    assert!(mean(&open) > 0.95, "open side: {}", mean(&open));
}
