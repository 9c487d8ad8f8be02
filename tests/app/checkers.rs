//! Every file `stratum` writes, opened by the third-party program that will
//! open it for real: admesh and PrusaSlicer (STL, 3MF), the Khronos glTF
//! validator (GLB), Blender (OBJ + MTL + PNG), dciodvfy (anonymized DICOM).
//! scripts/setup.sh installs them; a test whose program is missing fails under
//! CI and is listed as skipped elsewhere (tests/support/checks.rs).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The program's path, or `None` after a visible skip (a failure under CI).
pub(crate) fn checker(program: &str, why: &str) -> Option<PathBuf> {
    let package = match program {
        "dciodvfy" => "dicom3tools",
        "node" => "nodejs",
        p => p,
    };
    crate::checks::program(
        program,
        why,
        &format!("scripts/setup.sh, or apt-get install {package}"),
    )
}

pub(crate) fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub(crate) fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// `stratum convert` of the demo CT's organs into `out` (reduced to 20%,
/// as the CLI tests do, to keep the checkers fast).
pub(crate) fn convert_demo(out: &Path, extra: &[&str]) {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let o = run(Command::new(env!("CARGO_BIN_EXE_stratum"))
        .arg("convert")
        .arg(demo.join("example_ct.nii.gz"))
        .arg("-o")
        .arg(out)
        .arg("--labels")
        .arg(demo.join("example_seg_fast_force_split.nii.gz"))
        .arg("--names")
        .arg(demo.join("labels_total_ct.tsv"))
        .args(["--reduce", "0.8"])
        .args(extra));
    assert!(o.status.success(), "{}", text(&o));
}

/// The number after `label` on admesh's report line of that name (some
/// lines hold a second statistic after it: "Number of parts : 1  Volume : ...").
fn admesh_count(report: &str, label: &str) -> u64 {
    report
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .and_then(|rest| rest.trim_start().strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no '{label}' in admesh's report:\n{report}"))
}

/// admesh finds nothing to repair in any organ's STL, and PrusaSlicer
/// slices one into G-code (the left kidney: the liver, 20 cm across, does
/// not fit PrusaSlicer's default 20 cm bed).
#[test]
fn stl_needs_no_repair_in_admesh_and_prusaslicer_slices_it() {
    let admesh = checker("admesh", "the STL's soundness");
    let slicer = checker("prusa-slicer", "slicing the STL");
    if admesh.is_none() && slicer.is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    convert_demo(&dir.path().join("organs.stl"), &["--split"]);
    let mut stls: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "stl"))
        .collect();
    stls.sort();
    assert!(stls.len() >= 20, "{stls:?}");
    if let Some(admesh) = admesh {
        for stl in &stls {
            // Default checks only (no -f/-d fixes): it reports what it would repair.
            let o = run(Command::new(&admesh).arg(stl));
            let report = text(&o);
            assert!(o.status.success(), "{report}");
            for label in [
                "Degenerate facets",
                "Edges fixed",
                "Facets removed",
                "Facets added",
                "Facets reversed",
                "Backwards edges",
                "Normals fixed",
            ] {
                assert_eq!(
                    admesh_count(&report, label),
                    0,
                    "{}: {label}\n{report}",
                    stl.display()
                );
            }
            // Organs in pieces (pancreas, bowel) are several closed parts.
            assert!(admesh_count(&report, "Number of parts") >= 1, "{report}");
        }
    }
    if let Some(slicer) = slicer {
        let kidney = dir.path().join("organs_kidney_left.stl");
        let gcode = dir.path().join("kidney.gcode");
        let o = run(Command::new(&slicer)
            .arg("--export-gcode")
            .arg(&kidney)
            .arg("--output")
            .arg(&gcode));
        assert!(o.status.success(), "{}", text(&o));
        let g = std::fs::read_to_string(&gcode).expect("G-code written");
        let moves = g.lines().filter(|l| l.starts_with("G1 ")).count();
        assert!(moves > 1000, "{moves} moves:\n{}", text(&o));
    }
}

/// PrusaSlicer opens the 3MF with one object per segment, each the size
/// of its organ in millimetres.
#[test]
fn threemf_opens_in_prusaslicer_with_one_object_per_segment() {
    let Some(slicer) = checker("prusa-slicer", "the 3MF") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("organs.3mf");
    convert_demo(&path, &[]);
    let o = run(Command::new(&slicer).arg("--info").arg(&path));
    let info = text(&o);
    assert!(o.status.success(), "{info}");
    // One "[object]" block per segment, each with its size and manifold flag.
    let sizes: Vec<f64> = info
        .lines()
        .filter_map(|l| l.strip_prefix("size_x = "))
        .map(|v| v.trim().parse().unwrap())
        .collect();
    assert!(sizes.len() >= 20, "{} objects:\n{info}", sizes.len());
    assert!(
        info.lines()
            .filter(|l| l.starts_with("manifold = yes"))
            .count()
            == sizes.len(),
        "{info}"
    );
    // The liver is some 20 cm across: millimetres, not metres or inches.
    assert!(
        sizes.iter().any(|s| (150.0..300.0).contains(s)),
        "{sizes:?}"
    );
}

/// The Khronos glTF validator (node and npm's gltf-validator, which
/// scripts/setup.sh installs).
pub(crate) struct GltfValidator {
    node: PathBuf,
    modules: PathBuf,
}

impl GltfValidator {
    /// The validator, or `None` having said what is missing (`what` names
    /// the file it would check).
    pub(crate) fn find(what: &str) -> Option<GltfValidator> {
        let node = checker("node", what)?;
        let modules = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/npm/node_modules");
        if !modules.join("gltf-validator/package.json").exists() {
            crate::checks::skip(
                &format!(
                    "npm gltf-validator is not in {}, so the GLB is not checked",
                    modules.display()
                ),
                "scripts/setup.sh",
            );
            return None;
        }
        Some(GltfValidator { node, modules })
    }

    /// The validator's report on `file` (a GLB or a share page), which has
    /// no error and no warning.
    pub(crate) fn clean(&self, file: &Path) -> serde_json::Value {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/app/checkers/validate_gltf.js");
        let o = run(Command::new(&self.node)
            .arg(&script)
            .arg(file)
            .env("NODE_PATH", &self.modules));
        assert!(o.status.success(), "{}", text(&o));
        let report: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&o)));
        assert_eq!(report["errors"], 0, "{report:#}");
        assert_eq!(report["warnings"], 0, "{report:#}");
        report
    }
}

/// The Khronos glTF validator finds no error or warning in the GLB, nor in
/// the share page's compressed one (it cannot decode EXT_meshopt_compression
/// and says so as information, but checks everything else).
#[test]
fn glb_has_no_error_in_the_khronos_validator() {
    let Some(validator) = GltfValidator::find("the GLB (glTF validator)") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("organs.glb");
    convert_demo(&path, &[]);
    validator.clean(&path);
    let page = dir.path().join("explain.html");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let o = run(Command::new(env!("CARGO_BIN_EXE_stratum"))
        .arg("share")
        .arg(demo.join("example_ct.nii.gz"))
        .arg("--labels")
        .arg(demo.join("example_seg_fast_force_split.nii.gz"))
        .arg("-o")
        .arg(&page));
    assert!(o.status.success(), "{}", text(&o));
    let report = validator.clean(&page);
    assert!(
        report["messages"]
            .to_string()
            .contains("EXT_meshopt_compression"),
        "{report:#}"
    );
}

/// Blender imports the OBJ with one object per segment, each with its
/// PNG texture attached and loaded, and the numbers in millimetres as written.
#[test]
fn obj_imports_into_blender_textured_in_millimetres() {
    let Some(blender) = checker("blender", "the OBJ + MTL + PNG") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("organs.obj");
    convert_demo(&path, &[]);
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/app/checkers/blender_import_obj.py");
    let o = run(Command::new(blender)
        .args([
            "-b",
            "--factory-startup",
            "--python-exit-code",
            "1",
            "--python",
        ])
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
    let obj_text = std::fs::read_to_string(&path).unwrap();
    let written = obj_text.lines().filter(|l| l.starts_with("o ")).count();
    assert_eq!(objects.len(), written, "{report:#}");
    assert!(written >= 20);
    let png = image::open(dir.path().join("organs.png")).unwrap();
    for ob in objects {
        assert_eq!(ob["textured"], true, "{ob}");
        assert_eq!(
            ob["image_size"],
            serde_json::json!([png.width(), png.height()]),
            "{ob}"
        );
        assert!(ob["uv_layers"].as_u64().unwrap() >= 1, "{ob}");
    }
    // The liver as Blender holds it spans the same millimetres as the file's
    // vertices (no rescaling, no axis swap), some 20 cm across.
    let liver = objects
        .iter()
        .find(|o| o["name"] == "liver")
        .expect("a liver");
    let verts = obj_vertices(&obj_text, "liver");
    for k in 0..3 {
        let lo = verts.iter().map(|v| v[k]).fold(f64::INFINITY, f64::min);
        let hi = verts.iter().map(|v| v[k]).fold(f64::NEG_INFINITY, f64::max);
        assert!(
            (liver["lo"][k].as_f64().unwrap() - lo).abs() < 1e-3,
            "{liver}"
        );
        assert!(
            (liver["hi"][k].as_f64().unwrap() - hi).abs() < 1e-3,
            "{liver}"
        );
    }
    let width = liver["hi"][0].as_f64().unwrap() - liver["lo"][0].as_f64().unwrap();
    assert!((150.0..300.0).contains(&width), "{width} mm");
}

/// The `v` lines of object `name` in an OBJ file.
fn obj_vertices(obj: &str, name: &str) -> Vec<[f64; 3]> {
    let mut inside = false;
    let mut out = Vec::new();
    for l in obj.lines() {
        if let Some(o) = l.strip_prefix("o ") {
            inside = o.trim() == name;
        } else if inside && let Some(v) = l.strip_prefix("v ") {
            let v: Vec<f64> = v.split_whitespace().map(|x| x.parse().unwrap()).collect();
            out.push([v[0], v[1], v[2]]);
        }
    }
    out
}

/// dciodvfy finds no error in any anonymized file of a real CT series
/// (whose originals it passes too).
#[test]
fn anonymized_dicom_has_no_error_in_dciodvfy() {
    let Some(dciodvfy) = checker("dciodvfy", "the anonymized DICOM") else {
        return;
    };
    let input = crate::shared_data().join("ct_philips_phantom_5mm");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("anon");
    let o = run(Command::new(env!("CARGO_BIN_EXE_stratum"))
        .arg("anonymize")
        .arg(&input)
        .arg(&out));
    assert!(o.status.success(), "{}", text(&o));
    let errors = |file: &Path| -> Vec<String> {
        let o = run(Command::new(&dciodvfy).arg(file));
        text(&o)
            .lines()
            .filter(|l| l.starts_with("Error"))
            .map(str::to_string)
            .collect()
    };
    let mut files: Vec<PathBuf> = walk(&out);
    files.sort();
    assert_eq!(files.len(), 28, "{files:?}");
    assert!(errors(&input.join("I10")).is_empty(), "the original passes");
    for f in &files {
        let e = errors(f);
        assert!(e.is_empty(), "{}: {e:#?}", f.display());
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Strongly coloured pixels (the organs, not a white or grey canvas) in
/// rows `rows` of an 800-pixel-wide screenshot.
fn coloured_pixels(img: &image::RgbImage, rows: std::ops::Range<u32>) -> usize {
    rows.flat_map(|y| (0..800).map(move |x| (x, y)))
        .filter(|&(x, y)| {
            let p = img.get_pixel(x, y).0;
            let (hi, lo) = (*p.iter().max().unwrap(), *p.iter().min().unwrap());
            hi as i32 - lo as i32 > 60
        })
        .count()
}

/// The structure a page names once loaded (`Name: N mL`), from its DOM.
fn picked(dom: &str) -> String {
    dom.split("<output id=\"picked\">")
        .nth(1)
        .and_then(|s| s.split('<').next())
        .unwrap_or_default()
        .to_string()
}

/// Headless Chromium with the network cut off opens the share page (its
/// model meshopt-compressed, decoded by the inlined decoder), renders the
/// organs in colour, and a scripted tap names one; the cut takes away what
/// it should (from the top at half depth: nothing left in the upper part of
/// the picture, the lower part still there), and a tap passes through what
/// the cut took away to the structure behind.
#[test]
fn share_page_opens_offline_in_chromium_and_a_tap_names_a_structure() {
    let Some(chromium) = checker("chromium", "the share page") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("explain.html");
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let o = run(Command::new(env!("CARGO_BIN_EXE_stratum"))
        .arg("share")
        .arg(demo.join("example_ct.nii.gz"))
        .arg("--labels")
        .arg(demo.join("example_seg_fast_force_split.nii.gz"))
        .arg("--names")
        .arg(demo.join("labels_total_ct.tsv"))
        .args(["--title", "Your abdomen", "-o"])
        .arg(&page));
    assert!(o.status.success(), "{}", text(&o));
    let size = std::fs::metadata(&page).unwrap().len();
    assert!(size < 10_000_000, "{size} bytes");
    let html = std::fs::read_to_string(&page).unwrap();
    // The compressed model's decoder is inlined and handed to the viewer
    // (the core's tests decode the model itself).
    assert!(html.contains("meshoptDecoderLocation: URL.createObjectURL"));
    let url = format!("file://{}", page.display());
    // A proxy that refuses everything: any fetch from the network fails.
    let browser = |extra: &[&str], url: &str| {
        run(Command::new(&chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--proxy-server=127.0.0.1:9",
                "--use-angle=swiftshader",
                "--enable-unsafe-swiftshader",
                "--window-size=800,900",
                "--virtual-time-budget=20000",
            ])
            .args(extra)
            .arg(url)
            .env("HOME", dir.path()))
    };
    let screenshot = |name: &str, url: &str| {
        let shot = dir.path().join(name);
        let o = browser(&[&format!("--screenshot={}", shot.display())], url);
        assert!(shot.exists(), "{}", text(&o));
        if let Some(keep) = std::env::var_os("STRATUM_KEEP_SCREENSHOTS") {
            let _ = std::fs::copy(&shot, Path::new(&keep).join(name));
        }
        image::open(&shot).unwrap().to_rgb8()
    };
    // The model area (below the title, above the list) holds many strongly
    // coloured pixels: the organs, not a blank or grey canvas.
    let whole = screenshot("page.png", &url);
    let coloured = coloured_pixels(&whole, 100..600);
    assert!(coloured > 20_000, "{coloured} coloured pixels");
    // Cut from the top at half depth: the upper part of the picture empties,
    // the lower part stays.
    let cut = screenshot("cut_top.png", &format!("{url}#cut=top,50"));
    let (upper, lower) = (
        coloured_pixels(&whole, 100..300),
        coloured_pixels(&whole, 450..600),
    );
    let (cut_upper, cut_lower) = (
        coloured_pixels(&cut, 100..300),
        coloured_pixels(&cut, 450..600),
    );
    assert!(
        upper > 10_000 && cut_upper * 10 < upper,
        "upper part: {upper} before the cut, {cut_upper} after"
    );
    assert!(
        cut_lower * 2 > lower,
        "lower part: {lower} before the cut, {cut_lower} after"
    );
    let dom = |hash: &str| {
        let o = browser(&["--dump-dom"], &format!("{url}#{hash}"));
        let dom = String::from_utf8_lossy(&o.stdout).into_owned();
        assert!(dom.contains("data-loaded=\"yes\""), "{}", text(&o));
        dom
    };
    let front = picked(&dom("tap=400,250"));
    let (name, ml) = front.split_once(": ").expect(&front);
    assert!(
        ml.ends_with(" mL")
            && name.chars().next().is_some_and(char::is_uppercase)
            && !name.contains('_'),
        "{front}"
    );
    // Cut from the front at half depth, the same tap reaches a structure
    // further back.
    let behind = picked(&dom("cut=front,50&tap=400,250"));
    assert!(
        behind.ends_with(" mL") && behind != front,
        "{front} without the cut, {behind} with it"
    );
}
