//! No identifying value reaches anything Stratum prints or writes: fake
//! values (name, ID, birth date, accession, institution, and a name in the
//! folder path) are planted in a synthetic series, then every log line,
//! message, report, export, anonymized file, session file and screenshot
//! name the CLI and the headless app produce is searched for them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use stratum::app::features::loading::OpenRequest;
use stratum::app::state::jobs::Notices;
use stratum::app::state::study::Study;
use stratum_core::dicom::synth::{
    FAKE_BIRTH_DATE, FAKE_INSTITUTION, FAKE_PATIENT_ID, FAKE_PATIENT_NAME, SynthOptions,
    write_series,
};

use crate::pipeline::{headless, run_until_idle};

/// The folder the scan sits in is named after the patient, as exports
/// from some PACS viewers are.
const FOLDER_NAME: &str = "Doe_Jane_19610203";

fn secrets() -> Vec<&'static str> {
    vec![
        FAKE_PATIENT_NAME,
        "DOE^JANE",
        "Doe_Jane",
        "DOE JANE",
        FAKE_PATIENT_ID,
        FAKE_BIRTH_DATE,
        FAKE_INSTITUTION,
        "ACC-4455",
    ]
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn assert_clean(what: &str, bytes: &[u8]) {
    let s = String::from_utf8_lossy(bytes);
    for secret in secrets() {
        assert!(
            !s.to_ascii_uppercase()
                .contains(&secret.to_ascii_uppercase()),
            "{what} contains {secret:?}"
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

/// The planted series: `root/Doe_Jane_19610203/ct`.
fn planted(root: &Path) -> PathBuf {
    let scan = root.join(FOLDER_NAME).join("ct");
    write_series(
        &scan,
        &SynthOptions {
            phi: true,
            metal_slices: vec![8, 9, 10],
            ..SynthOptions::default()
        },
    )
    .unwrap();
    scan
}

/// Runs `stratum` with every log level on, from inside the output folder,
/// so the commands name the scan by a path of the user's choosing and the
/// outputs by bare names.
fn stratum(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stratum"))
        .args(args)
        .current_dir(cwd)
        .env("RUST_LOG", "debug")
        .output()
        .expect("run stratum")
}

#[test]
fn planted_identity_appears_in_no_cli_output_log_error_or_file() {
    let dir = tempfile::tempdir().unwrap();
    let scan = planted(dir.path());
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // The user names the scan by a relative path that does not hold the
    // patient's folder (they ran from inside it); outputs go elsewhere.
    let scan_arg = scan.to_str().unwrap().to_string();
    let runs: Vec<(Vec<&str>, bool)> = vec![
        (vec!["inspect", "."], false),
        (vec!["inspect", ".", "--json"], false),
        (
            vec![
                "convert",
                ".",
                "-o",
                "OUT/bone.obj",
                "--preset",
                "bone",
                "--report",
                "OUT/report.json",
            ],
            // Exit code 1 when the report flags a segment; the files are written.
            false,
        ),
        (
            vec!["convert", ".", "-o", "OUT/bone.glb", "--preset", "bone"],
            true,
        ),
        (
            vec!["convert", ".", "-o", "OUT/bone.3mf", "--preset", "bone"],
            true,
        ),
        (
            vec![
                "convert",
                ".",
                "-o",
                "OUT/bone.stl",
                "--preset",
                "bone",
                "--split",
            ],
            true,
        ),
        // Failures: an empty segmentation, a missing series, a bad output.
        (
            vec![
                "convert",
                ".",
                "-o",
                "OUT/none.stl",
                "--threshold",
                "90000:90001",
            ],
            false,
        ),
        (
            vec!["convert", ".", "-o", "OUT/x.stl", "--series", "9"],
            false,
        ),
        (vec!["convert", ".", "-o", "OUT/x.xyz"], false),
        (vec!["anonymize", ".", "OUT/anon"], true),
    ];
    let out_arg = out.to_str().unwrap().to_string();
    for (args, must_succeed) in runs {
        let args: Vec<String> = args.iter().map(|a| a.replace("OUT", &out_arg)).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = stratum(&scan, &args);
        if must_succeed {
            assert!(o.status.success(), "{args:?}: {}", text(&o));
        }
        // Paths the user typed are echoed; the output folder holds no name.
        assert_clean(&format!("output of {args:?}"), text(&o).as_bytes());
    }
    let files = walk(&out);
    for name in [
        "bone.obj",
        "bone.mtl",
        "bone.png",
        "bone.glb",
        "bone.3mf",
        "bone_Bone.stl",
        "report.json",
    ] {
        assert!(out.join(name).is_file(), "{name} missing: {files:?}");
    }
    assert_eq!(walk(&out.join("anon/series-01")).len(), 20, "{files:?}");
    for f in files {
        assert_clean(
            &format!("the file name {}", f.display()),
            f.to_string_lossy().as_bytes(),
        );
        if f.is_file() {
            assert_clean(&f.display().to_string(), &std::fs::read(&f).unwrap());
        }
    }
    // The scan's own path holds the name: it is never echoed unless typed.
    assert!(scan_arg.contains(FOLDER_NAME));
}

#[test]
fn planted_identity_appears_in_no_app_message_title_report_or_session() {
    let dir = tempfile::tempdir().unwrap();
    let scan = planted(dir.path());
    let mut app = headless();
    app.world_mut().write_message(OpenRequest {
        path: scan.clone(),
        series: None,
        labels: None,
        subset: Default::default(),
    });
    run_until_idle(&mut app, Duration::from_secs(120));
    let study = app.world().resource::<Study>();
    assert_clean("the study title", study.title.as_bytes());
    for c in &study.report.checks {
        assert_clean("a checklist line", c.message.as_bytes());
    }
    let report = &study.report;
    assert!(
        report
            .checks
            .iter()
            .any(|c| c.message.contains("PatientName")),
        "the privacy check names the attribute"
    );
    let notices = &app.world().resource::<Notices>().items;
    for n in notices {
        assert_clean("a notice", n.text.as_bytes());
    }
    // The session of this study, saved beside the scan. Its files hold no
    // identifying value. One exception, by design: session.json keeps the
    // scan's absolute path (how the session finds the scan again), so a
    // name in the folder path is there, and only there.
    let session = dir.path().join(FOLDER_NAME).join("study.stratum");
    let labels = (**study.doc.labels()).clone();
    let data = stratum_core::session::SessionData {
        scan: Some(stratum_core::session::ScanRef::new(
            &scan,
            None,
            &study.volume,
        )),
        document: stratum_core::document::DocumentState::new(labels),
        view: serde_json::json!({}),
    };
    stratum_core::session::save_session(&session, &data, "0.1.0").unwrap();
    for f in walk(&session) {
        let mut bytes = std::fs::read(&f).unwrap();
        if f.file_name().unwrap() == "session.json" {
            let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let path = v["scan"]["path"].take();
            assert!(path.as_str().unwrap().contains(FOLDER_NAME));
            bytes = serde_json::to_vec(&v).unwrap();
        }
        assert_clean(&f.display().to_string(), &bytes);
        assert_clean(
            "a session file name",
            f.file_name().unwrap().as_encoded_bytes(),
        );
    }
}
