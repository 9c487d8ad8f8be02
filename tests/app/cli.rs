//! The `stratum` command line, run as a user would.

use std::path::Path;
use std::process::{Command, Output};

use stratum_core::dicom::synth::{
    FAKE_BIRTH_DATE, FAKE_PATIENT_ID, FAKE_PATIENT_NAME, SynthOptions, write_series,
};

fn stratum(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stratum"))
        .args(args)
        .output()
        .expect("run stratum")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn no_phi(s: &str) {
    for secret in [
        FAKE_PATIENT_NAME,
        FAKE_PATIENT_ID,
        FAKE_BIRTH_DATE,
        "DOE^JANE",
    ] {
        assert!(!s.contains(secret), "output leaks {secret}:\n{s}");
    }
}

#[test]
fn inspect_prints_series_and_checklist_without_phi() {
    let dir = tempfile::tempdir().unwrap();
    write_series(
        dir.path(),
        &SynthOptions {
            drop_slice: Some(5),
            tilt_deg: 12.0,
            ..SynthOptions::default()
        },
    )
    .unwrap();
    let out = stratum(&["inspect", dir.path().to_str().unwrap()]);
    let s = text(&out);
    assert_eq!(out.status.code(), Some(0), "{s}");
    assert!(s.contains("1 series in"), "{s}");
    assert!(s.contains("gantry tilt of 12.0°"), "{s}");
    assert!(s.contains("about 1 slice missing"), "{s}");
    assert!(s.contains("PatientName"), "{s}");
    no_phi(&s);
}

#[test]
fn inspect_json_is_machine_readable() {
    let dir = tempfile::tempdir().unwrap();
    write_series(dir.path(), &SynthOptions::default()).unwrap();
    let out = stratum(&[
        "inspect",
        "--json",
        "--series",
        "1",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(v["series"].as_array().unwrap().len(), 1);
    let report = &v["reports"][0];
    assert_eq!(report["volume"]["size"], serde_json::json!([64, 48, 20]));
    assert!(
        report["report"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "tilt" && c["status"] == "ok")
    );
    no_phi(&String::from_utf8_lossy(&out.stdout));
}

#[test]
fn inspect_exit_code_says_errors_were_found() {
    let dir = tempfile::tempdir().unwrap();
    // Two copies of one slice at the same position: not a volume.
    let o = SynthOptions {
        slices: 1,
        ..SynthOptions::default()
    };
    write_series(&dir.path().join("a"), &o).unwrap();
    let out = stratum(&["inspect", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("ERR"));
}

#[test]
fn inspect_of_a_missing_folder_fails_with_a_message() {
    let out = stratum(&["inspect", "/nonexistent/scan"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("does not exist"));
    let empty = tempfile::tempdir().unwrap();
    let out = stratum(&["inspect", empty.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("no DICOM images found"),
        "{}",
        text(&out)
    );
}

#[test]
fn inspect_reads_nifti() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/example_ct.nii.gz");
    let out = stratum(&["inspect", demo.to_str().unwrap()]);
    let s = text(&out);
    assert_eq!(out.status.code(), Some(0), "{s}");
    assert!(
        s.contains("122x101x112 voxels of 3.000x3.000x3.000 mm, i16 (CT)"),
        "{s}"
    );
}

#[test]
fn anonymize_writes_a_clean_copy_and_leaves_the_input() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    write_series(
        &input,
        &SynthOptions {
            slices: 5,
            ..SynthOptions::default()
        },
    )
    .unwrap();
    std::fs::write(input.join("README.txt"), "not dicom").unwrap();
    let before: Vec<Vec<u8>> = (0..5)
        .map(|k| std::fs::read(input.join(format!("slice{k:04}.dcm"))).unwrap())
        .collect();
    let out_dir = dir.path().join("out");
    let out = stratum(&[
        "anonymize",
        input.to_str().unwrap(),
        out_dir.to_str().unwrap(),
    ]);
    let s = text(&out);
    assert_eq!(out.status.code(), Some(0), "{s}");
    assert!(s.contains("5 files anonymized"), "{s}");
    assert!(s.contains("1 non-DICOM files not copied"), "{s}");
    for (k, b) in before.iter().enumerate() {
        assert_eq!(
            &std::fs::read(input.join(format!("slice{k:04}.dcm"))).unwrap(),
            b
        );
    }
    // The copy inspects clean on privacy.
    let out = stratum(&["inspect", out_dir.to_str().unwrap()]);
    let s = text(&out);
    assert!(s.contains("no patient-identifying attributes found"), "{s}");
    no_phi(&s);
}

#[test]
fn convert_builds_a_closed_bone_stl_from_dicom() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("ct");
    // The ramp phantom plus a metal disc: "bone" (>= 250 HU) is the disc and the ramp's high corner.
    write_series(
        &input,
        &SynthOptions {
            metal_slices: vec![8, 9, 10, 11],
            ..SynthOptions::default()
        },
    )
    .unwrap();
    let out = dir.path().join("bone.stl");
    let o = stratum(&[
        "convert",
        input.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--preset",
        "bone",
        "--largest",
        "--reduce",
        "0.5",
    ]);
    let s = text(&o);
    assert_eq!(o.status.code(), Some(0), "{s}");
    assert!(s.contains("Bone") && s.contains("yes"), "{s}");
    let mesh = stl_io::read_stl(&mut std::fs::File::open(&out).unwrap()).unwrap();
    mesh.validate().unwrap();
    no_phi(&s);
    no_phi(&String::from_utf8_lossy(&std::fs::read(&out).unwrap()));
}

/// `stratum convert` of the demo CT with its organ labels into `out`.
fn convert_demo_organs(out: &Path, extra: &[&str]) -> Output {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let path = |f: &str| demo.join(f).to_string_lossy().into_owned();
    let ct = path("example_ct.nii.gz");
    let labels = path("example_seg_fast_force_split.nii.gz");
    let names = path("labels_total_ct.tsv");
    let out = out.to_string_lossy().into_owned();
    let mut args = vec![
        "convert", &ct, "-o", &out, "--labels", &labels, "--names", &names, "--reduce", "0.8",
    ];
    args.extend_from_slice(extra);
    stratum(&args)
}

#[test]
fn convert_demo_labels_to_textured_obj() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("organs.obj");
    let o = convert_demo_organs(&out, &[]);
    let s = text(&o);
    assert_eq!(o.status.code(), Some(0), "{s}");
    // Liver: 41692 voxels of 27 mm³ = 1125.7 mL.
    let liver = s.lines().find(|l| l.starts_with("liver ")).expect(&s);
    assert!(liver.contains("1125.68"), "{liver}");
    assert!(!s.contains(" NO"), "every mesh closed:\n{s}");
    assert!(dir.path().join("organs.mtl").exists() && dir.path().join("organs.png").exists());
}

#[test]
fn convert_can_write_one_stl_per_segment() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("organs.stl");
    let o = convert_demo_organs(&out, &["--split"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let liver = dir.path().join("organs_liver.stl");
    let mesh = stl_io::read_stl(&mut std::fs::File::open(&liver).unwrap()).unwrap();
    mesh.validate().unwrap();
    assert!(dir.path().join("organs_spleen.stl").exists());
    assert!(!out.exists(), "no merged file with --split");
}

#[test]
fn convert_explains_bad_options() {
    let dir = tempfile::tempdir().unwrap();
    write_series(
        dir.path(),
        &SynthOptions {
            slices: 4,
            ..SynthOptions::default()
        },
    )
    .unwrap();
    let o = stratum(&["convert", dir.path().to_str().unwrap(), "-o", "/tmp/x.ply"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains(".stl, .obj, .glb or .3mf"));
    let o = stratum(&[
        "convert",
        dir.path().to_str().unwrap(),
        "-o",
        "/tmp/x.stl",
        "--threshold",
        "5000:6000",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("segmentation is empty"), "{}", text(&o));
    let o = stratum(&[
        "convert",
        dir.path().to_str().unwrap(),
        "-o",
        "/tmp/x.stl",
        "--preset",
        "cartilage",
    ]);
    assert!(text(&o).contains("unknown preset"));
}

#[test]
fn the_window_explains_a_bad_clip_plane_before_it_opens() {
    for (arg, says) in [
        ("coronal:deep", "the offset after ':' is millimetres"),
        ("frontal", "use axial, coronal, sagittal or oblique"),
        ("coronal:inf", "the offset after ':' is millimetres"),
    ] {
        let o = stratum(&["--clip", arg]);
        assert_eq!(o.status.code(), Some(2), "{arg}: {}", text(&o));
        assert!(text(&o).contains(says), "{arg}: {}", text(&o));
    }
}

#[test]
fn models_lists_the_shipped_model_and_the_runtime() {
    let o = stratum(&["models"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("deepbrain") && t.contains("MIT"), "{t}");
    assert!(t.contains("ONNX Runtime 1.31.1: loaded"), "{t}");
}

/// `stratum segment` writes a NIfTI label map on the scan's grid that other
/// commands (and tools) read back: the brain meshes from it, closed.
#[test]
fn segment_writes_a_label_map_that_convert_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let labels = dir.path().join("brain.nii.gz");
    let head = crate::shared_data().join("mr_siemens_decubitus_positions/HFS");
    let head = head.to_str().unwrap();
    let o = stratum(&[
        "segment",
        head,
        "--model",
        "deepbrain",
        "-o",
        labels.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    no_phi(&t);
    let ml: f64 = t
        .lines()
        .find(|l| l.contains("Brain"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no brain volume in {t}"));
    assert!((1100.0..1900.0).contains(&ml), "{ml} mL");
    let stl = dir.path().join("brain.stl");
    let o = stratum(&[
        "convert",
        head,
        "-o",
        stl.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
    ]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.lines().nth(1).is_some_and(|l| l.ends_with("yes")),
        "the brain mesh is not closed:\n{t}"
    );
    // The label map read back holds the same voxels (voxel mL column).
    let back: f64 = t
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().rev().nth(4))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no volume in {t}"));
    assert!((back - ml).abs() < 0.01 * ml, "{back} vs {ml}");
}

#[test]
fn segment_explains_bad_requests() {
    let dir = tempfile::tempdir().unwrap();
    let head = crate::shared_data().join("mr_siemens_decubitus_positions/HFS");
    let head = head.to_str().unwrap();
    let out = dir.path().join("x.nii.gz");
    let o = stratum(&[
        "segment",
        head,
        "--model",
        "liver9000",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("no model named \"liver9000\"") && text(&o).contains("deepbrain"),
        "{}",
        text(&o)
    );
    let o = stratum(&["segment", head, "--model", "deepbrain", "-o", "brain.stl"]);
    assert!(!o.status.success());
    assert!(text(&o).contains(".nii.gz"), "{}", text(&o));
    assert!(!out.exists());
}

/// `convert --report` checks each organ's mesh against its voxels and writes
/// the numbers as JSON; flagged segments make the exit code 1.
#[test]
fn convert_writes_a_validation_report() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.json");
    let o = convert_demo_organs(
        &dir.path().join("organs.glb"),
        &["--report", report.to_str().unwrap()],
    );
    let t = text(&o);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let segs = json["segments"].as_array().unwrap();
    assert!(segs.len() >= 20, "{t}");
    for s in segs {
        // Organs of some size match their voxels; a 2 mL sliver of a
        // vertebra at the scan's edge may not (and is flagged).
        let dice = s["dice"].as_f64().unwrap();
        if s["voxel_ml"].as_f64().unwrap() > 20.0 {
            assert!(dice > 0.95, "{s}");
        }
        assert!(
            s["surface"]["p95_mm"].as_f64().unwrap() < s["voxel_diagonal_mm"].as_f64().unwrap(),
            "{s}"
        );
        assert!(s["recipe"]["smoothing_iterations"].as_u64().is_some());
    }
    // Thin structures (adrenal glands, ribs) keep their voxels' volume
    // through smoothing and decimation (issue 14): nothing is flagged.
    for s in segs {
        let pct = s["volume_diff_pct"].as_f64().unwrap();
        assert!(pct.abs() < 5.0, "{s}");
    }
    assert_eq!(o.status.code(), Some(0), "nothing flagged gives 0:\n{t}");
    // Decimated to almost nothing, thin organs no longer overlap their
    // voxels: the report flags them and the exit code says so.
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let path = |f: &str| demo.join(f).to_string_lossy().into_owned();
    let out = dir.path().join("organs.glb").to_string_lossy().into_owned();
    let (ct, labels, names) = (
        path("example_ct.nii.gz"),
        path("example_seg_fast_force_split.nii.gz"),
        path("labels_total_ct.tsv"),
    );
    let o = stratum(&[
        "convert",
        &ct,
        "-o",
        &out,
        "--labels",
        &labels,
        "--names",
        &names,
        "--reduce",
        "0.995",
        "--report",
        report.to_str().unwrap(),
    ]);
    let t = text(&o);
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let flagged: Vec<&str> = json["segments"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !s["flags"].as_array().unwrap().is_empty())
        .map(|s| s["segment"].as_str().unwrap())
        .collect();
    assert!(
        flagged.iter().any(|n| n.starts_with("adrenal")),
        "{flagged:?}"
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "flagged segments give exit code 1:\n{t}"
    );
    assert!(t.contains("FLAGGED") && t.contains("Dice"), "{t}");
}

/// `stratum share --session S` shares a saved session without naming the
/// scan (its label map is meshed from the masks); with neither a scan nor a
/// session it says what to give.
#[test]
fn share_takes_a_saved_session_without_the_scan() {
    use stratum_core::segment::{LabelMap, Mask};
    use stratum_core::session::{SessionData, save_session};
    let dir = tempfile::tempdir().unwrap();
    let g = stratum_core::image::volume::Geometry::default();
    let ball = Mask {
        data: ndarray::Array3::from_shape_fn((30, 30, 30), |(z, y, x)| {
            let d = |v: usize| v as f64 - 15.0;
            (d(x) * d(x) + d(y) * d(y) + d(z) * d(z) <= 100.0) as u8
        }),
        geometry: g,
    };
    let mut map = LabelMap::empty((30, 30, 30), g);
    map.add_segment("kidney_left", &ball);
    let session = dir.path().join("study.stratum");
    let data = SessionData {
        scan: None,
        document: stratum_core::document::DocumentState::new(map),
        view: serde_json::Value::Null,
    };
    save_session(&session, &data, "test").unwrap();
    let page = dir.path().join("explain.html");
    let o = stratum(&[
        "share",
        "--session",
        session.to_str().unwrap(),
        "-o",
        page.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains(r#""name":"Left kidney""#));
    let o = stratum(&["share", "-o", page.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(text(&o).contains("--session"), "{}", text(&o));
}

/// `stratum measure` on the demo: the distance between two organs by name
/// or label number, a resection's remnant, and what it says to bad requests.
#[test]
fn measure_prints_distances_and_a_resection_of_the_demo() {
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo");
    let (ct, labels, names) = (
        demo.join("example_ct.nii.gz"),
        demo.join("example_seg_fast_force_split.nii.gz"),
        demo.join("labels_total_ct.tsv"),
    );
    let base = [
        ct.to_str().unwrap(),
        "--labels",
        labels.to_str().unwrap(),
        "--names",
        names.to_str().unwrap(),
    ];
    let run = |extra: &[&str]| {
        let mut args = vec!["measure"];
        args.extend(base);
        args.extend(extra);
        stratum(&args)
    };
    let o = run(&["--distance", "aorta,pancreas"]);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    let mm: f64 = t
        .split("aorta to pancreas: ")
        .nth(1)
        .and_then(|s| s.split(" mm").next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{t}"));
    // The aorta and the pancreas are a couple of centimetres apart here:
    // more than a voxel (3 mm), less than the body.
    assert!((5.0..60.0).contains(&mm), "{t}");
    // By label number (aorta is 52, pancreas 7 in TotalSegmentator's table).
    let o = run(&["--distance", "52,7"]);
    assert!(
        text(&o).contains(&format!("aorta to pancreas: {mm:.2} mm")),
        "{}",
        text(&o)
    );
    let o = run(&["--resect", "liver", "--plane=-80,-180,390,1,0,0"]);
    let t = text(&o);
    assert!(o.status.success() && t.contains("liver: remnant"), "{t}");
    let o = run(&["--distance", "liver,no_such_organ"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("no segment \"no_such_organ\""),
        "{}",
        text(&o)
    );
    let o = run(&[]);
    assert!(!o.status.success());
    assert!(text(&o).contains("nothing to measure"), "{}", text(&o));
}
