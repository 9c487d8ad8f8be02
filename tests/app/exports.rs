//! Exports from the app: the chosen segments written in the background
//! (flat or textured with the scan), and File ▸ Share's page for a patient.

use std::time::Duration;

use bevy::prelude::*;
use stratum::app::state::segments::Segment;

use crate::pipeline::{ball_study, errors, headless, publish, run_until_idle, segments};

#[test]
fn export_writes_the_visible_segments() {
    use stratum::app::features::export::{ExportRequest, ExportSettings};
    use stratum_core::export::Format;
    let mut app = headless();
    publish(&mut app, ball_study(40));
    run_until_idle(&mut app, Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = app.world_mut().resource_mut::<ExportSettings>();
        s.folder = dir.path().join("out").to_string_lossy().into_owned();
        s.name = "ball".into();
        s.format = Format::Stl;
        s.reduce = 0.5;
    }
    app.world_mut().write_message(ExportRequest);
    run_until_idle(&mut app, Duration::from_secs(60));
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    let path = dir.path().join("out/ball.stl");
    let mut f = std::fs::File::open(&path).expect("the STL was written");
    let stl = stl_io::read_stl(&mut f).unwrap();
    let built = segments(&mut app)[0].0.surface.unwrap().triangles;
    assert!(
        !stl.faces.is_empty() && stl.faces.len() < built,
        "{} of {built}",
        stl.faces.len()
    );
    // Hiding the only segment leaves nothing to export: a message, no file.
    let e = {
        let mut q = app.world_mut().query_filtered::<Entity, With<Segment>>();
        q.single(app.world()).unwrap()
    };
    app.world_mut().get_mut::<Segment>(e).unwrap().visible = false;
    app.world_mut().resource_mut::<ExportSettings>().name = "none".into();
    app.world_mut().write_message(ExportRequest);
    run_until_idle(&mut app, Duration::from_secs(60));
    assert!(errors(&app).iter().any(|e| e.contains("Nothing to export")));
    assert!(!dir.path().join("out/none.stl").exists());
}

/// The ball study with a scan that brightens from left to right inside
/// the ball (-100 to 200 HU), so a texture that carries the scan varies.
fn graded_ball_study(n: usize) -> stratum::app::state::study::Study {
    use stratum_core::{image::volume::Volume, image::volume::Voxels};
    let study = ball_study(n);
    let v = &study.volume;
    let graded = ndarray::Array3::from_shape_fn(v.dim(), |(z, y, x)| {
        let inside = study.doc.labels().get(z, y, x) != 0;
        if inside {
            (-100 + 300 * x as i32 / n as i32) as i16
        } else {
            -1000
        }
    });
    let labels = (**study.doc.labels()).clone();
    let volume = Volume::new(Voxels::I16(graded), v.geometry, "CT");
    crate::pipeline::study_of(volume, labels, "ball", study.auto_window)
}

/// File ▸ Export as OBJ with the scan texture (the default) writes the
/// OBJ, its MTL and the PNG atlas, and the atlas carries the scan's grades;
/// with the texture off, the PNG is one flat cell of the segment's colour.
#[test]
fn export_textures_the_obj_with_the_scan_unless_turned_off() {
    use stratum::app::features::export::{ExportRequest, ExportSettings};
    use stratum_core::export::Format;
    let mut app = headless();
    publish(&mut app, graded_ball_study(40));
    run_until_idle(&mut app, Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    {
        let mut s = app.world_mut().resource_mut::<ExportSettings>();
        assert!(s.scan_texture, "textured by default");
        s.folder = out.to_string_lossy().into_owned();
        s.name = "ball".into();
        s.format = Format::Obj;
        s.reduce = 0.5;
    }
    app.world_mut().write_message(ExportRequest);
    run_until_idle(&mut app, Duration::from_secs(60));
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    let mtl = std::fs::read_to_string(out.join("ball.mtl")).expect("the MTL was written");
    assert!(mtl.contains("map_Kd ball.png"), "{mtl}");
    let obj = std::fs::read_to_string(out.join("ball.obj")).unwrap();
    assert!(obj.lines().any(|l| l.starts_with("vt ")), "no UVs");
    // The texels the charts cover: from dark (left) to bright (right).
    let png = image::open(out.join("ball.png")).unwrap().to_luma8();
    let mut lumas: Vec<u8> = png.pixels().map(|p| p.0[0]).filter(|&l| l > 0).collect();
    lumas.sort_unstable();
    assert!(lumas.len() > 1000, "{} texels", lumas.len());
    let (lo, hi) = (lumas[lumas.len() / 20], lumas[lumas.len() * 19 / 20]);
    assert!(hi - lo > 40, "the texture is flat: {lo}..{hi}");
    {
        let mut s = app.world_mut().resource_mut::<ExportSettings>();
        s.scan_texture = false;
        s.name = "flat".into();
    }
    app.world_mut().write_message(ExportRequest);
    run_until_idle(&mut app, Duration::from_secs(60));
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    let flat = image::open(out.join("flat.png")).unwrap().to_rgb8();
    let colours: std::collections::HashSet<[u8; 3]> = flat.pixels().map(|p| p.0).collect();
    assert_eq!(colours.len(), 1, "{colours:?}");
    assert!(flat.width() < 64, "{} px wide", flat.width());
}

/// Two balls 3 voxels apart, each its own segment, in a uniform scan.
fn two_ball_study(n: usize) -> stratum::app::state::study::Study {
    use stratum_core::segment::{LabelMap, Mask};
    let study = ball_study(n);
    let g = study.volume.geometry;
    let r = 0.22 * n as f64;
    let ball = |cx: f64| Mask {
        data: ndarray::Array3::from_shape_fn(study.volume.dim(), |(z, y, x)| {
            let c = n as f64 / 2.0;
            let (dx, dy, dz) = (x as f64 - cx, y as f64 - c, z as f64 - c);
            (dx * dx + dy * dy + dz * dz <= r * r) as u8
        }),
        geometry: g,
    };
    let c = n as f64 / 2.0;
    let mut labels = LabelMap::empty(study.volume.dim(), g);
    labels.add_segment("left", &ball(c - r - 1.5));
    labels.add_segment("right", &ball(c + r + 1.5));
    let volume = (*study.volume).clone();
    crate::pipeline::study_of(volume, labels, "two balls", study.auto_window)
}

/// Mean brightness of the texels an atlas PNG's charts cover.
fn mean_texel(path: &std::path::Path) -> f64 {
    let png = image::open(path).unwrap().to_luma8();
    let lit: Vec<f64> = png
        .pixels()
        .map(|p| p.0[0] as f64)
        .filter(|&l| l > 0.0)
        .collect();
    lit.iter().sum::<f64>() / lit.len() as f64
}

/// File ▸ Export's "Shade folds and gaps" bakes ambient occlusion into the
/// scan texture: two balls facing each other come out darker than without.
#[test]
fn export_with_ambient_occlusion_darkens_the_texture() {
    use stratum::app::features::export::{ExportRequest, ExportSettings};
    use stratum::app::state::study::StudyLoaded;
    use stratum_core::export::Format;
    let mut app = headless();
    let study = two_ball_study(40);
    app.world_mut().insert_resource(study);
    app.world_mut().write_message(StudyLoaded);
    run_until_idle(&mut app, Duration::from_secs(60));
    assert_eq!(segments(&mut app).iter().filter(|(_, m)| *m).count(), 2);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    for (name, ao) in [("plain", false), ("shaded", true)] {
        {
            let mut s = app.world_mut().resource_mut::<ExportSettings>();
            assert!(!s.ambient_occlusion || !ao, "off by default");
            s.folder = out.to_string_lossy().into_owned();
            s.name = name.into();
            s.format = Format::Obj;
            s.ambient_occlusion = ao;
        }
        app.world_mut().write_message(ExportRequest);
        run_until_idle(&mut app, Duration::from_secs(60));
        assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    }
    let (plain, shaded) = (
        mean_texel(&out.join("plain.png")),
        mean_texel(&out.join("shaded.png")),
    );
    assert!(shaded < 0.97 * plain, "{shaded} with, {plain} without");
}

#[test]
fn file_share_writes_one_offline_page_with_what_the_clinician_typed() {
    use stratum::app::features::export::{ExportSettings, ShareRequest};
    let mut app = headless();
    publish(&mut app, ball_study(40));
    run_until_idle(&mut app, Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    {
        let mut s = app.world_mut().resource_mut::<ExportSettings>();
        s.folder = dir.path().join("out").to_string_lossy().into_owned();
        s.name = "for-the-patient".into();
        s.share_title = "Your <ball>".into();
        s.share_note = "A round thing.".into();
    }
    app.world_mut().write_message(ShareRequest);
    run_until_idle(&mut app, Duration::from_secs(60));
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    let page = std::fs::read_to_string(dir.path().join("out/for-the-patient.html"))
        .expect("the page was written");
    // The viewer and the model are inside: nothing is fetched.
    assert!(page.contains("<model-viewer"), "no viewer");
    assert!(
        page.contains("data:model/gltf-binary;base64,"),
        "no inlined model"
    );
    assert!(!page.contains("src=\"http"), "fetches from the network");
    // The title as typed, escaped; the segment by name with its volume.
    assert!(page.contains("Your &lt;ball&gt;") && page.contains("A round thing."));
    let seg = segments(&mut app)[0].0.clone();
    assert!(page.contains(&format!("{:.1}", (seg.voxel_ml * 10.0).round() / 10.0)));
    let files: Vec<_> = std::fs::read_dir(dir.path().join("out")).unwrap().collect();
    assert_eq!(files.len(), 1, "one file, no temporary left");
}

/// The GLB's JSON and its mesh `name`'s COLOR_0 (linear RGB floats), if any.
fn glb_colours(path: &std::path::Path, name: &str) -> Option<Vec<[f32; 3]>> {
    let bytes = std::fs::read(path).unwrap();
    let len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let json: serde_json::Value = serde_json::from_slice(&bytes[20..20 + len]).unwrap();
    let bin = &bytes[20 + len + 8..];
    let mesh = json["meshes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == name)
        .unwrap();
    let a = &json["accessors"][mesh["primitives"][0]["attributes"]["COLOR_0"].as_u64()? as usize];
    assert_eq!(
        (&a["type"], &a["componentType"]),
        (&"VEC3".into(), &5126.into())
    );
    let v = &json["bufferViews"][a["bufferView"].as_u64().unwrap() as usize];
    let off = v["byteOffset"].as_u64().unwrap_or(0) as usize;
    let n = a["count"].as_u64().unwrap() as usize;
    Some(
        bin[off..off + n * 12]
            .chunks_exact(12)
            .map(|c| [0, 1, 2].map(|k| f32::from_le_bytes(c[4 * k..4 * k + 4].try_into().unwrap())))
            .collect(),
    )
}

/// File ▸ Export writes the margin map on screen (the Distances window's
/// pair and thresholds) into the GLB: the coloured ball's vertices in red,
/// yellow and its own colour, the other ball flat; with no margin shown,
/// no vertex colours.
#[test]
fn export_writes_the_margin_map_on_screen_as_vertex_colours() {
    use stratum::app::features::export::{ExportRequest, ExportSettings};
    use stratum::app::features::margins::{MID, Margins, NEAR};
    use stratum::app::features::surgery::SurgeryAction;
    use stratum::app::state::study::StudyLoaded;
    use stratum_core::export::Format;
    let mut app = headless();
    app.world_mut().insert_resource(two_ball_study(40));
    app.world_mut().write_message(StudyLoaded);
    run_until_idle(&mut app, Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let export = |app: &mut App, name: &str| {
        {
            let mut s = app.world_mut().resource_mut::<ExportSettings>();
            s.folder = out.to_string_lossy().into_owned();
            s.name = name.into();
            s.format = Format::Glb;
            s.scan_texture = false;
        }
        app.world_mut().write_message(ExportRequest);
        run_until_idle(app, Duration::from_secs(60));
        assert!(errors(app).is_empty(), "{:?}", errors(app));
        out.join(format!("{name}.glb"))
    };
    let plain = export(&mut app, "plain");
    assert!(glb_colours(&plain, "left").is_none());
    // "left" by its distance to "right", 3 mm apart at the nearest.
    app.world_mut().write_message(SurgeryAction::Margin {
        a: 1,
        b: 2,
        thresholds_mm: [4.0, 8.0],
    });
    let start = std::time::Instant::now();
    loop {
        app.update();
        let m = app.world().resource::<Margins>();
        if !m.measuring && m.shown.as_ref().is_some_and(|s| s.under_pct.is_some()) {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "{m:?}");
    }
    let glb = export(&mut app, "margin");
    let colours = glb_colours(&glb, "left").expect("vertex colours on the coloured ball");
    assert!(glb_colours(&glb, "right").is_none());
    let own = segments(&mut app)
        .iter()
        .find(|(s, _)| s.name == "left")
        .unwrap()
        .0
        .colour;
    let linear = |c: [u8; 3]| {
        let l = Color::srgb_u8(c[0], c[1], c[2]).to_linear();
        [l.red, l.green, l.blue]
    };
    let count = |c: [u8; 3]| {
        let w = linear(c);
        colours
            .iter()
            .filter(|v| (0..3).all(|k| (v[k] - w[k]).abs() < 1e-3))
            .count()
    };
    let (near, mid, far) = (count(NEAR), count(MID), count(own));
    assert_eq!(near + mid + far, colours.len(), "other colours");
    assert!(
        near > 0 && mid > 0 && far > near + mid,
        "{near} {mid} {far}"
    );
}
