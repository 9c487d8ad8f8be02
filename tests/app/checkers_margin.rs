//! The margin map (`--margin A,B`) in the files `stratum` writes, opened by
//! the programs that open them for real: the Khronos glTF validator (GLB
//! with COLOR_0, the share page's compressed model), Blender (the OBJ's
//! vertex colours) and headless Chromium (the share page shows red and
//! yellow on the coloured structure, and none without the margin).

use std::path::Path;
use std::process::Command;

use stratum_core::image::volume::Geometry;
use stratum_core::segment::{LabelMap, Mask};

use crate::checkers::{GltfValidator, checker, convert_demo, run, text};

const MARGIN: [&str; 2] = ["--margin", "liver,portal_vein_and_splenic_vein"];

/// Blender reads the liver's vertex colours (three: the margin's red and
/// yellow and the liver's own) and every other organ's flat colour.
#[test]
fn a_margin_obj_imports_into_blender_with_its_vertex_colours() {
    let Some(blender) = checker("blender", "the OBJ's vertex colours") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("organs.obj");
    convert_demo(&path, &["--flat", MARGIN[0], MARGIN[1]]);
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/app/checkers/blender_import_obj.py");
    let o = run(Command::new(blender)
        .args(["-b", "--factory-startup", "--python-exit-code", "1"])
        .arg("--python")
        .arg(script)
        .arg("--")
        .arg(&path));
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    let json = out
        .lines()
        .find_map(|l| l.strip_prefix("STRATUM "))
        .unwrap_or_else(|| panic!("no report from Blender:\n{out}"));
    let report: serde_json::Value = serde_json::from_str(json).unwrap();
    let objects = report["objects"].as_array().unwrap();
    let colours = |name: &str| -> Vec<[f64; 3]> {
        let o = objects.iter().find(|o| o["name"] == name).expect(name);
        serde_json::from_value(o["colours"].clone()).unwrap()
    };
    let liver = colours("liver");
    assert_eq!(liver.len(), 3, "{liver:?}");
    // Red (the margin's near band): red well above green and blue, in
    // whichever colour space Blender keeps them.
    assert!(
        liver
            .iter()
            .any(|c| c[0] > 0.5 && c[1] < 0.25 && c[2] < 0.25),
        "{liver:?}"
    );
    // Yellow: red and green high, blue low.
    assert!(
        liver.iter().any(|c| c[0] > 0.8 && c[1] > 0.5 && c[2] < 0.1),
        "{liver:?}"
    );
    assert_eq!(colours("spleen").len(), 1);
}

/// The Khronos validator finds no error or warning in a GLB with the
/// margin's COLOR_0, nor in the share page's compressed model with it.
#[test]
fn a_margin_glb_and_share_page_have_no_error_in_the_khronos_validator() {
    let Some(validator) = GltfValidator::find("the margin GLB (glTF validator)") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let glb = dir.path().join("organs.glb");
    convert_demo(&glb, &["--flat", MARGIN[0], MARGIN[1]]);
    let page = dir.path().join("explain.html");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let o = run(Command::new(env!("CARGO_BIN_EXE_stratum"))
        .arg("share")
        .arg(demo.join("example_ct.nii.gz"))
        .arg("--labels")
        .arg(demo.join("example_seg_fast_force_split.nii.gz"))
        .arg("--names")
        .arg(demo.join("labels_total_ct.tsv"))
        .args(MARGIN)
        .arg("-o")
        .arg(&page));
    assert!(o.status.success(), "{}", text(&o));
    for file in [&glb, &page] {
        validator.clean(file);
    }
    // The plain GLB's liver carries COLOR_0 (what the validator checked):
    // the JSON chunk follows the 12-byte header and its 8-byte chunk header.
    let bytes = std::fs::read(&glb).unwrap();
    let len = u32::from_le_bytes(bytes[12..16].try_into().unwrap()) as usize;
    let json: serde_json::Value = serde_json::from_slice(&bytes[20..20 + len]).unwrap();
    let liver = json["meshes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "liver")
        .unwrap();
    assert!(
        liver["primitives"][0]["attributes"]["COLOR_0"].is_u64(),
        "{liver}"
    );
}

/// Two balls side by side (the "lesion", r 12 mm, and the "vessel", r 6 mm,
/// 3 mm apart, the vessel a little in front), written as a label map that
/// is also the scan; and its names.
fn two_balls(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let n = 64;
    let g = Geometry::default();
    let c1 = [26.0, 34.0, 32.0];
    let u = {
        let d = [1.0f64, -0.5, 0.0];
        let l = (d[0] * d[0] + d[1] * d[1]).sqrt();
        [d[0] / l, d[1] / l, 0.0]
    };
    let c2 = [0, 1, 2].map(|k| c1[k] + u[k] * (12.0 + 3.0 + 6.0));
    let ball = |c: [f64; 3], r: f64| Mask {
        data: ndarray::Array3::from_shape_fn((n, n, n), |(z, y, x)| {
            let d = [x as f64 - c[0], y as f64 - c[1], z as f64 - c[2]];
            u8::from(d[0] * d[0] + d[1] * d[1] + d[2] * d[2] <= r * r)
        }),
        geometry: g,
    };
    let mut labels = LabelMap::empty((n, n, n), g);
    labels.add_segment("lesion", &ball(c1, 12.0));
    labels.add_segment("vessel", &ball(c2, 6.0));
    let path = dir.join("balls.nii.gz");
    stratum_core::read::nifti::write_labels_nifti(&path, &labels).unwrap();
    let names = dir.join("names.tsv");
    std::fs::write(&names, "id\tname\n1\tlesion\n2\tvessel\n").unwrap();
    (path, names)
}

/// Pixels of the margin's red (220, 38, 38) and yellow (245, 196, 40) as
/// lit and shaded on screen (hue and saturation, not exact values) in the
/// model's part of an 800-pixel-wide screenshot (below the title, above
/// the legend and the list).
fn margin_pixels(img: &image::RgbImage) -> [usize; 2] {
    let mut n = [0, 0];
    for (_, _, p) in img
        .enumerate_pixels()
        .filter(|(_, y, _)| (100..600).contains(y))
    {
        let [r, g, b] = p.0.map(i32::from);
        if r > 120 && g < r / 3 && b < r / 3 {
            n[0] += 1;
        } else if r > 150 && g > r * 7 / 10 && b < g / 3 {
            n[1] += 1;
        }
    }
    n
}

/// Headless Chromium shows the lesion of a share page written with
/// `--margin lesion,vessel` in red and yellow where it faces the vessel;
/// the same page without the margin has neither colour.
#[test]
fn the_share_page_shows_the_margin_colours_in_chromium() {
    let Some(chromium) = checker("chromium", "the share page's margin colours") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (balls, names) = two_balls(dir.path());
    let shot = |name: &str, extra: &[&str]| {
        let page = dir.path().join(format!("{name}.html"));
        let o = run(Command::new(env!("CARGO_BIN_EXE_stratum"))
            .arg("share")
            .arg(&balls)
            .arg("--labels")
            .arg(&balls)
            .arg("--names")
            .arg(&names)
            .args(["--reduce", "0.5"])
            .args(extra)
            .arg("-o")
            .arg(&page));
        assert!(o.status.success(), "{}", text(&o));
        let png = dir.path().join(format!("{name}.png"));
        let o = run(Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--proxy-server=127.0.0.1:9",
                "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader",
                "--window-size=800,900",
                "--virtual-time-budget=20000",
            ])
            .arg(format!("--screenshot={}", png.display()))
            .arg(format!("file://{}", page.display()))
            .env("HOME", dir.path()));
        assert!(png.exists(), "{}", text(&o));
        if let Some(keep) = std::env::var_os("STRATUM_KEEP_SCREENSHOTS") {
            let _ = std::fs::copy(&png, Path::new(&keep).join(format!("{name}.png")));
        }
        (
            std::fs::read_to_string(&page).unwrap(),
            image::open(&png).unwrap().to_rgb8(),
        )
    };
    let (html, with) = shot("margin", &["--margin", "lesion,vessel"]);
    assert!(
        html.contains("Lesion is coloured by its distance to Vessel"),
        "no legend"
    );
    let (_, without) = shot("plain", &[]);
    let (m, p) = (margin_pixels(&with), margin_pixels(&without));
    assert!(
        m[0] > 500 && m[1] > 2000,
        "red and yellow pixels with the margin: {m:?}"
    );
    assert!(
        p[0] * 20 < m[0] && p[1] * 20 < m[1],
        "without the margin {p:?}, with it {m:?}"
    );
}
