//! Volume rendering in the real windowed app (Xvfb, Mesa's software Vulkan),
//! checked in its screenshots: bright voxels of an oblique, sheared grid
//! render where the camera projects their LPS centres (the app writes the
//! view beside the shot), a clip plane removes exactly the voxels on its
//! side, an opaque surface in front hides the volume behind it, and every
//! transfer-function preset shows what it is for on the demo CT.

use std::path::{Path, PathBuf};

use bevy::math::{Mat4, Vec4};
use ndarray::Array3;
use stratum_core::image::volume::Geometry;
use stratum_core::read::nifti::write_labels_nifti;
use stratum_core::segment::{LabelMap, Labels};

struct Shot {
    img: image::RgbaImage,
    clip_from_world: Mat4,
    world_from_lps: Mat4,
    /// x, y, width, height (physical pixels).
    viewport: [f32; 4],
    log: String,
}

impl Shot {
    /// The pixel an LPS point lands on.
    fn project(&self, p: [f64; 3]) -> (f32, f32) {
        let w = self.world_from_lps * Vec4::new(p[0] as f32, p[1] as f32, p[2] as f32, 1.0);
        let c = self.clip_from_world * w;
        let ndc = c.truncate() / c.w;
        let [x, y, vw, vh] = self.viewport;
        (x + (ndc.x + 1.0) / 2.0 * vw, y + (1.0 - ndc.y) / 2.0 * vh)
    }

    fn rgb(&self, x: f32, y: f32) -> [u8; 3] {
        let p = self.img.get_pixel(x.round() as u32, y.round() as u32).0;
        [p[0], p[1], p[2]]
    }

    /// Centroid of the pixels brighter than `level` within `r` of (x, y).
    fn bright_centroid(&self, (x, y): (f32, f32), r: i32, level: u8) -> Option<(f32, f32)> {
        let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
        for dy in -r..=r {
            for dx in -r..=r {
                let (px, py) = (x as i32 + dx, y as i32 + dy);
                if px < 0 || py < 0 {
                    continue;
                }
                let Some(p) = self.img.get_pixel_checked(px as u32, py as u32) else {
                    continue;
                };
                if p.0[0].min(p.0[1]).min(p.0[2]) > level {
                    sx += px as f32;
                    sy += py as f32;
                    n += 1.0;
                }
            }
        }
        (n > 0.0).then(|| (sx / n, sy / n))
    }

    /// Share of the 3D view's pixels passing `f`.
    fn share(&self, mut f: impl FnMut([u8; 3]) -> bool) -> f64 {
        let [x, y, w, h] = self.viewport.map(|v| v as u32);
        let mut hit = 0u64;
        for yy in y..y + h {
            for xx in x..x + w {
                let p = self.img.get_pixel(xx, yy).0;
                hit += f([p[0], p[1], p[2]]) as u64;
            }
        }
        hit as f64 / (w as u64 * h as u64).max(1) as f64
    }
}

fn skip() -> bool {
    !crate::window::available()
}

/// Runs the app with `args` and returns its screenshot and view.
fn render(dir: &Path, name: &str, args: &[&str]) -> Shot {
    let shot = dir.join(format!("{name}.png"));
    let (_, log) = crate::window::run_app((1100, 800), dir, |c| {
        c.args(args)
            .arg("--screenshot")
            .arg(&shot)
            .args(["--size", "960x640"]);
    });
    if let Ok(keep) = std::env::var("STRATUM_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, format!("{keep}-{name}.png")).unwrap();
    }
    let view: serde_json::Value = serde_json::from_slice(
        &std::fs::read(shot.with_extension("view.json")).expect("the view beside the shot"),
    )
    .unwrap();
    let mat = |k: &str| {
        let v: Vec<f32> = view[k]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect();
        Mat4::from_cols_slice(&v)
    };
    let vp: Vec<f32> = view["viewport"]
        .as_array()
        .expect("a viewport")
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    Shot {
        img: image::open(&shot).expect("a screenshot").to_rgba8(),
        clip_from_world: mat("clip_from_world"),
        world_from_lps: mat("world_from_lps"),
        viewport: [vp[0], vp[1], vp[2], vp[3]],
        log,
    }
}

/// An oblique, anisotropic grid whose slices are also sheared (as a tilted
/// gantry's are): columns and rows rotated about two axes, slices leaning.
fn sheared() -> Geometry {
    let (c, s) = (25f64.to_radians().cos(), 25f64.to_radians().sin());
    let (ct, st) = (15f64.to_radians().cos(), 15f64.to_radians().sin());
    let row0 = [c, s, 0.0];
    let col0 = [-s, c, 0.0];
    // Tilt both about the first axis.
    let tilt = |v: [f64; 3]| {
        let n = [v[0], v[1], v[2]];
        // Rotation about row0 by 15°: Rodrigues.
        let k = row0;
        let kxv = [
            k[1] * n[2] - k[2] * n[1],
            k[2] * n[0] - k[0] * n[2],
            k[0] * n[1] - k[1] * n[0],
        ];
        let kv = k[0] * n[0] + k[1] * n[1] + k[2] * n[2];
        std::array::from_fn(|i| n[i] * ct + kxv[i] * st + k[i] * kv * (1.0 - ct))
    };
    let slice = {
        let v: [f64; 3] = [0.25, 0.0, 1.0];
        let l = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        tilt(v.map(|x| x / l))
    };
    Geometry {
        origin: [-20.0, 15.0, -30.0],
        spacing: [1.2, 0.9, 1.5],
        direction: [tilt(row0), tilt(col0), slice],
    }
}

fn write_scan(path: &Path, values: Array3<u16>, geometry: Geometry) {
    let map = LabelMap {
        labels: Labels::U16(values),
        geometry,
        segments: Vec::new(),
    };
    write_labels_nifti(path, &map).unwrap();
}

#[test]
fn bright_voxels_render_where_their_lps_points_project_and_a_clip_plane_removes_its_side() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let g = sheared();
    let dim = (30, 36, 40);
    let mut a = Array3::<u16>::zeros(dim);
    let points = [
        [8, 8, 6],
        [31, 10, 8],
        [12, 27, 21],
        [29, 28, 23],
        [20, 18, 14],
        [6, 30, 25],
        [33, 22, 5],
        [15, 6, 24],
    ];
    for [x, y, z] in points {
        a[[z, y, x]] = 1000;
    }
    let scan = dir.path().join("points.nii");
    write_scan(&scan, a, g);
    let centre = g.index_to_lps([19.5, 17.5, 14.5]);
    let n = stratum::app::actions::ClipKind::Sagittal.normal();
    let shot = render(
        dir.path(),
        "points",
        &[
            scan.to_str().unwrap(),
            "--render",
            "volume:mip",
            "--clip",
            "sagittal",
        ],
    );
    let (mut kept, mut cut) = (0, 0);
    for [x, y, z] in points {
        let p = g.index_to_lps([x as f64, y as f64, z as f64]);
        let side: f64 = (0..3).map(|i| n[i] * (p[i] - centre[i])).sum();
        let at = shot.project(p);
        if side.abs() < 3.0 {
            continue;
        }
        if side < 0.0 {
            // Kept: the bright spot is centred on the projected centre.
            let c = shot
                .bright_centroid(at, 14, 150)
                .unwrap_or_else(|| panic!("no bright voxel near {at:?} for {p:?}\n{}", shot.log));
            let off = ((c.0 - at.0).powi(2) + (c.1 - at.1).powi(2)).sqrt();
            assert!(
                off <= 2.0,
                "voxel {p:?} drawn {off:.1} px from where it projects"
            );
            kept += 1;
        } else {
            assert!(
                shot.bright_centroid(at, 4, 60).is_none(),
                "voxel {p:?} on the cut side still shows: {:?}",
                shot.rgb(at.0, at.1)
            );
            cut += 1;
        }
    }
    assert!(kept >= 3 && cut >= 2, "kept {kept}, cut {cut}");
    // And nothing else is bright: the background of the view stays dark.
    let bright = shot.share(|p| p[0].min(p[1]).min(p[2]) > 150);
    assert!(bright < 0.01, "{:.2}% bright pixels", bright * 100.0);
}

#[test]
fn an_opaque_surface_in_front_hides_the_volume_behind_it() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let g = Geometry::default();
    let dim = (30, 36, 40);
    // Two bright blobs at the same depth near the back (posterior, high y);
    // a labelled slab (its scan values 0, invisible to the MIP) in front of
    // the first one only.
    let mut a = Array3::<u16>::zeros(dim);
    let mut l = Array3::<u8>::zeros(dim);
    let blob = |a: &mut Array3<u16>, x0: usize| {
        for z in 13..17 {
            for y in 28..32 {
                for x in x0..x0 + 4 {
                    a[[z, y, x]] = 1000;
                }
            }
        }
    };
    blob(&mut a, 10);
    blob(&mut a, 30);
    for z in 2..28 {
        for y in 4..10 {
            for x in 0..24 {
                l[[z, y, x]] = 1;
            }
        }
    }
    let scan = dir.path().join("blobs.nii");
    write_scan(&scan, a, g);
    let labels = dir.path().join("slab.nii");
    let map = LabelMap {
        labels: Labels::U8(l),
        geometry: g,
        segments: Vec::new(),
    };
    write_labels_nifti(&labels, &map).unwrap();
    let shot = render(
        dir.path(),
        "occlusion",
        &[
            scan.to_str().unwrap(),
            "--labels",
            labels.to_str().unwrap(),
            "--render",
            "volume:mip",
        ],
    );
    let hidden = shot.project(g.index_to_lps([11.5, 29.5, 14.5]));
    let open = shot.project(g.index_to_lps([31.5, 29.5, 14.5]));
    let white = |p: [u8; 3]| p[0].min(p[1]).min(p[2]) > 150;
    let o = shot.rgb(open.0, open.1);
    assert!(
        white(o),
        "the blob beside the slab is not drawn: {o:?}\n{}",
        shot.log
    );
    let h = shot.rgb(hidden.0, hidden.1);
    assert!(
        !white(h),
        "the blob behind the opaque slab shows through it: {h:?}"
    );
    // What is there is the slab's surface, lit: not the background.
    let bg = shot.rgb(shot.viewport[0] + 3.0, shot.viewport[1] + 3.0);
    assert_ne!(h, bg, "no surface in front of the hidden blob");
}

fn demo_ct() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets/demo/example_ct.nii.gz")
}

#[test]
fn every_preset_shows_its_tissue_on_the_demo_ct() {
    if skip() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ct = demo_ct();
    let background = |p: [u8; 3]| {
        // The clear colour (0.11, 0.12, 0.14) and the dim scan box outline.
        p[0] < 40 && p[1] < 40 && p[2] < 45
    };
    let mut covered = std::collections::HashMap::new();
    for preset in stratum_core::image::transfer::TfPreset::ALL {
        let name = preset.name();
        let shot = render(
            dir.path(),
            name,
            &[ct.to_str().unwrap(), "--render", &format!("volume:{name}")],
        );
        assert!(
            shot.log.contains("volume rendering: 122x101x112 voxels"),
            "{name}: {}",
            shot.log
        );
        let c = shot.share(|p| !background(p));
        eprintln!("{name}: {:.1}% of the view", c * 100.0);
        assert!(c > 0.02, "{name} shows almost nothing: {:.2}%", c * 100.0);
        match name {
            "ct-bone" => {
                // Bone is pale: red >= green >= blue, little saturation.
                let cream = shot.share(|p| p[0] > 90 && p[0] >= p[2] && p[0] - p[2] < 90);
                assert!(cream > 0.5 * c, "{name}: {:.2}% cream", cream * 100.0);
            }
            "ct-angio" => {
                let red = shot.share(|p| {
                    let [r, g, b] = p.map(i32::from);
                    r > 90 && r > g + 50 && r > b + 50
                });
                assert!(red > 0.002, "{name}: {:.3}% red", red * 100.0);
            }
            "mip" => {
                let mut levels = std::collections::HashSet::new();
                shot.share(|p| {
                    if p[0] == p[1] && p[1] == p[2] {
                        levels.insert(p[0]);
                    }
                    false
                });
                assert!(levels.len() > 60, "{name}: {} grey levels", levels.len());
            }
            _ => {}
        }
        covered.insert(name, c);
    }
    // The skin wraps the skeleton: it covers more of the view than bone does.
    assert!(covered["ct-skin"] > covered["ct-bone"] * 1.3, "{covered:?}");
    assert!(
        covered["ct-soft-tissue"] > covered["ct-bone"],
        "{covered:?}"
    );
}

/// Opens `path` (with `labels`) in a headless app that starts with `on_load`
/// and returns what the volume rendering settings became.
fn settings_after_open(
    path: &Path,
    labels: Option<PathBuf>,
    on_load: stratum::app::features::volume::RenderOnLoad,
) -> stratum::app::features::volume::VolumeSettings {
    let mut app = crate::pipeline::headless();
    app.insert_resource(on_load);
    app.world_mut()
        .write_message(stratum::app::features::loading::OpenRequest {
            path: path.to_path_buf(),
            series: None,
            labels: labels.map(|l| (l, None)),
            subset: Default::default(),
        });
    crate::pipeline::run_until_idle(&mut app, std::time::Duration::from_secs(300));
    assert!(
        crate::pipeline::errors(&app).is_empty(),
        "{:?}",
        crate::pipeline::errors(&app)
    );
    app.update();
    app.world()
        .resource::<stratum::app::features::volume::VolumeSettings>()
        .clone()
}

#[test]
fn a_scan_without_segments_opens_with_its_volume_rendering_and_the_command_line_decides() {
    use stratum::app::features::volume::RenderOnLoad;
    use stratum_core::image::transfer::TfPreset;
    let dir = tempfile::tempdir().unwrap();
    // A CT alone: the volume, with the bone preset, in the study's range.
    let ct = settings_after_open(&demo_ct(), None, RenderOnLoad::Auto);
    assert!(ct.enabled);
    assert_eq!(ct.preset, TfPreset::CtBone);
    assert!(ct.range.0 < -500.0 && ct.range.1 > 100.0, "{:?}", ct.range);
    // A scan that is not CT: the MR default.
    let mut a = Array3::<u16>::zeros((12, 14, 16));
    a[[6, 7, 8]] = 900;
    let mr = dir.path().join("mr.nii");
    write_scan(&mr, a, Geometry::default());
    let s = settings_after_open(&mr, None, RenderOnLoad::Auto);
    assert!(s.enabled);
    assert_eq!(s.preset, TfPreset::MrDefault);
    // With a label map its surfaces show, not the volume...
    let mut l = Array3::<u8>::zeros((12, 14, 16));
    l[[5, 5, 5]] = 1;
    l[[6, 5, 5]] = 1;
    let labels = dir.path().join("l.nii");
    let map = LabelMap {
        labels: Labels::U8(l),
        geometry: Geometry::default(),
        segments: Vec::new(),
    };
    write_labels_nifti(&labels, &map).unwrap();
    let s = settings_after_open(&mr, Some(labels.clone()), RenderOnLoad::Auto);
    assert!(!s.enabled);
    // ...unless the command line asks for it; and `surfaces` turns it off.
    let s = settings_after_open(&mr, Some(labels), RenderOnLoad::Volume(Some(TfPreset::Mip)));
    assert!(s.enabled);
    assert_eq!(s.preset, TfPreset::Mip);
    let s = settings_after_open(&mr, None, RenderOnLoad::Surfaces);
    assert!(!s.enabled);
}
