//! The engine-free half of `stratum batch`: finding the studies of a
//! folder or list under stable, non-identifying keys, converting one into
//! its folder with a record that says "done" only when its files are
//! whole, the study lock, and the summary with its outliers.

use std::path::Path;

use stratum_core::base::progress::Progress;
use stratum_core::batch::record::{self, OutputFile, Record, SegmentRow, State, StudyState};
use stratum_core::batch::{Layout, Plan, RunOptions, Study, StudyKind, discover, run_study};
use stratum_core::convert::{ConvertOptions, SegmentSource};
use stratum_core::dicom::synth::{FAKE_PATIENT_NAME, SynthOptions, write_series};
use stratum_core::export::Format;

fn small(series: u32) -> SynthOptions {
    SynthOptions {
        rows: 24,
        columns: 32,
        slices: 10,
        series,
        ..SynthOptions::default()
    }
}

/// A folder as people keep them: studies in folders named after the
/// patient, a folder with two series, a NIfTI file, a README beside them,
/// a folder of notes with no scan, and a macOS droppings file.
fn cohort(root: &Path) {
    write_series(&root.join("DOE_JANE/ct"), &small(1)).unwrap();
    // Two series in one folder (renamed: the generator's file names repeat).
    write_series(&root.join("two/series"), &small(2)).unwrap();
    write_series(&root.join("two/other"), &small(3)).unwrap();
    for e in std::fs::read_dir(root.join("two/other")).unwrap().flatten() {
        let name = format!("b-{}", e.file_name().to_string_lossy());
        std::fs::rename(e.path(), root.join("two/series").join(name)).unwrap();
    }
    std::fs::remove_dir(root.join("two/other")).unwrap();
    std::fs::copy(
        crate::shared_data().join("ct_totalseg_abdomen/example_ct_sm.nii.gz"),
        root.join("abdomen.nii.gz"),
    )
    .unwrap();
    std::fs::write(root.join("README.txt"), "cohort notes").unwrap();
    std::fs::create_dir_all(root.join("notes/more")).unwrap();
    std::fs::write(root.join("notes/more/todo.txt"), "nothing here").unwrap();
    std::fs::write(root.join("notes/scan.dcm"), b"not a DICOM file at all").unwrap();
    std::fs::write(root.join("DOE_JANE/.DS_Store"), b"junk").unwrap();
}

#[test]
fn folder_discovery_finds_every_series_nifti_and_folder_without_a_scan() {
    let dir = tempfile::tempdir().unwrap();
    cohort(dir.path());
    let studies = discover(dir.path(), &Progress::new()).unwrap();
    let sources: Vec<&str> = studies.iter().map(|s| s.source.as_str()).collect();
    assert_eq!(studies.len(), 5, "{sources:?}");
    assert!(sources.contains(&"DOE_JANE/ct"), "{sources:?}");
    assert!(sources.contains(&"abdomen.nii.gz"), "{sources:?}");
    assert_eq!(
        sources
            .iter()
            .filter(|s| s.starts_with("two/series ["))
            .count(),
        2,
        "{sources:?}"
    );
    // The folder of notes is one failed study (not one per subfolder),
    // with the reason; the README beside the studies is no study.
    let notes = studies.iter().find(|s| s.source == "notes").expect("notes");
    match &notes.kind {
        StudyKind::Unreadable { reason } => {
            assert!(reason.contains("no readable DICOM series"), "{reason}");
            assert!(reason.contains("2 files"), "{reason}");
        }
        other => panic!("notes is {other:?}"),
    }
    for s in &studies {
        assert_eq!(s.key.len(), 12, "{}", s.key);
        assert!(s.key.chars().all(|c| c.is_ascii_hexdigit()), "{}", s.key);
        if !matches!(s.kind, StudyKind::Unreadable { .. }) {
            assert!(s.estimate_bytes > 0, "{s:?}");
        }
    }
    let mut keys: Vec<&str> = studies.iter().map(|s| s.key.as_str()).collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), studies.len(), "keys are unique");
}

#[test]
fn keys_stay_the_same_when_the_cohort_moves() {
    let a = tempfile::tempdir().unwrap();
    cohort(a.path());
    let first = discover(a.path(), &Progress::new()).unwrap();
    let b = tempfile::tempdir().unwrap();
    let moved = b.path().join("elsewhere");
    std::fs::rename(a.path(), &moved).unwrap();
    let again = discover(&moved, &Progress::new()).unwrap();
    let keys = |v: &[Study]| {
        let mut k: Vec<(String, String)> = v
            .iter()
            .map(|s| (s.source.clone(), s.key.clone()))
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys(&first), keys(&again));
    std::fs::rename(&moved, a.path()).unwrap();
}

#[test]
fn a_list_gives_each_study_its_options_and_reports_missing_paths() {
    let dir = tempfile::tempdir().unwrap();
    write_series(&dir.path().join("a"), &small(1)).unwrap();
    write_series(&dir.path().join("b"), &small(2)).unwrap();
    let list = dir.path().join("cohort.csv");
    std::fs::write(
        &list,
        "path,threshold,preset\n# a comment line\na,100:200,\n\"b\",,bone\nmissing,,\n\nb,,bad-preset\n",
    )
    .unwrap();
    let studies = discover(&list, &Progress::new()).unwrap();
    assert_eq!(studies.len(), 4);
    assert_eq!(studies[0].overrides.threshold, Some((100.0, 200.0)));
    assert!(matches!(studies[0].kind, StudyKind::Dicom { .. }));
    assert_eq!(studies[1].overrides.preset.as_deref(), Some("bone"));
    assert!(matches!(&studies[2].kind, StudyKind::Unreadable { reason } if reason == "not found"));
    // Another row of the same folder with other options is another study.
    assert_ne!(studies[1].key, studies[3].key);
    let mut opts = ConvertOptions::default();
    studies[0].overrides.apply(&mut opts).unwrap();
    assert!(matches!(opts.source, SegmentSource::Threshold(lo, hi) if lo == 100.0 && hi == 200.0));
    let err = studies[3]
        .overrides
        .apply(&mut opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown preset"), "{err}");
    // A column the list does not know is refused before anything runs.
    std::fs::write(&list, "path,colour\na,red\n").unwrap();
    let err = discover(&list, &Progress::new()).unwrap_err().to_string();
    assert!(err.contains("unknown column \"colour\""), "{err}");
}

fn plan_of(dir: &Path, studies: Vec<Study>) -> (Layout, Plan) {
    let layout = Layout::new(&dir.join("out"));
    let plan = Plan {
        version: stratum_core::batch::PLAN_VERSION,
        input: dir.to_path_buf(),
        options: serde_json::json!({}),
        studies,
    };
    plan.write(&layout).unwrap();
    (layout, plan)
}

fn run_opts(anonymize: bool) -> RunOptions {
    RunOptions {
        convert: ConvertOptions {
            source: SegmentSource::Threshold(150.0, 400.0),
            validate: true,
            ..ConvertOptions::default()
        },
        format: Format::Stl,
        anonymize,
    }
}

#[test]
fn a_study_is_done_only_while_its_files_are_whole() {
    let dir = tempfile::tempdir().unwrap();
    write_series(&dir.path().join("in/DOE_JANE"), &small(1)).unwrap();
    let studies = discover(&dir.path().join("in"), &Progress::new()).unwrap();
    let (layout, plan) = plan_of(dir.path(), studies);
    let study = &plan.studies[0];
    assert_eq!(
        record::state_of(&layout, study, false),
        StudyState::Waiting(None)
    );
    let lock = record::try_lock(&layout, &study.key, "test")
        .unwrap()
        .expect("free");
    let r = run_study(
        &layout,
        study,
        &run_opts(true),
        "attempt-1",
        &Progress::new(),
    )
    .unwrap();
    drop(lock);
    assert_eq!(r.state, State::Done, "{:?}", r.error);
    assert!(
        !r.segments.is_empty() && r.segments[0].dice.is_some(),
        "{r:?}"
    );
    assert!(r.anonymized_files == 10, "{r:?}");
    let folder = layout.study(&study.key);
    for f in [
        "model.stl",
        "inspect.json",
        "report.json",
        "log.txt",
        "status.json",
    ] {
        assert!(folder.join(f).is_file(), "{f} missing");
    }
    assert!(matches!(
        record::state_of(&layout, study, false),
        StudyState::Done(_)
    ));
    // The de-identified copy holds no patient name.
    for f in walk(&folder.join("dicom")) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes
                .windows(FAKE_PATIENT_NAME.len())
                .any(|w| w == FAKE_PATIENT_NAME.as_bytes()),
            "{} keeps the patient's name",
            f.display()
        );
    }
    // A model cut short makes the study one to do again.
    let model = folder.join("model.stl");
    let len = std::fs::metadata(&model).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&model)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    match record::state_of(&layout, study, false) {
        StudyState::Waiting(Some(why)) => assert!(why.contains("model.stl"), "{why}"),
        other => panic!("{other:?}"),
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.path().is_dir() {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn a_failed_study_records_why_without_naming_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    // A series whose one slice lost its pixel data cannot form a volume.
    write_series(
        &dir.path().join("in/DOE_JANE"),
        &SynthOptions {
            no_pixels_slice: Some(3),
            ..small(1)
        },
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("in/SMITH_JOHN")).unwrap();
    std::fs::write(dir.path().join("in/SMITH_JOHN/x.dcm"), b"garbage").unwrap();
    let studies = discover(&dir.path().join("in"), &Progress::new()).unwrap();
    assert_eq!(studies.len(), 2, "{studies:?}");
    let (layout, plan) = plan_of(dir.path(), studies);
    for study in &plan.studies {
        let r = run_study(&layout, study, &run_opts(true), "a", &Progress::new()).unwrap();
        let e = r.error.clone().unwrap_or_default();
        if r.state == State::Done {
            // A loader may skip the broken slice and say so in the checks.
            assert!(r.check_warnings + r.check_errors > 0, "{r:?}");
            continue;
        }
        assert!(!e.is_empty());
        for name in ["DOE_JANE", "SMITH_JOHN"] {
            assert!(!e.contains(name), "the error names the folder: {e}");
        }
        assert!(!layout.study(&study.key).join("model.stl").exists());
        assert!(matches!(
            record::state_of(&layout, study, false),
            StudyState::Failed(_)
        ));
    }
    assert!(
        plan.studies
            .iter()
            .any(|s| matches!(record::state_of(&layout, s, false), StudyState::Failed(_)))
    );
}

#[test]
fn a_locked_study_is_not_taken_by_a_second_claim() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::new(dir.path());
    let first = record::try_lock(&layout, "abc", "first holder").unwrap();
    assert!(first.is_some());
    assert_eq!(
        record::lock_holder(&layout, "abc").as_deref(),
        Some("first holder")
    );
    assert!(
        record::try_lock(&layout, "abc", "second")
            .unwrap()
            .is_none()
    );
    drop(first);
    assert_eq!(record::lock_holder(&layout, "abc"), None);
    assert!(
        record::try_lock(&layout, "abc", "second")
            .unwrap()
            .is_some()
    );
}

fn fake(key: &str, state: State, ml: f64) -> Record {
    Record {
        key: key.into(),
        state,
        error: (state == State::Failed).then(|| "no readable DICOM series, say".into()),
        seconds: 2.0,
        peak_memory_bytes: Some(100 << 20),
        checked: true,
        check_warnings: 1,
        check_errors: 0,
        segments: if state == State::Done {
            vec![SegmentRow {
                name: "bone, cortical".into(),
                voxel_ml: ml,
                mesh_ml: ml,
                area_mm2: 10.0,
                triangles: 100,
                watertight: true,
                dice: Some(0.97),
                p95_mm: Some(0.5),
                flags: Vec::new(),
            }]
        } else {
            Vec::new()
        },
        files: vec![OutputFile {
            name: "log.txt".into(),
            bytes: 2,
        }],
        anonymized_files: 0,
        attempt: "t".into(),
        finished_unix: 0,
        version: "0".into(),
    }
}

#[test]
fn summary_has_a_row_per_study_and_marks_the_odd_volume() {
    let dir = tempfile::tempdir().unwrap();
    let volumes = [10.0, 11.0, 10.5, 9.8, 10.2, 10.7, 31.0];
    let mut studies = Vec::new();
    for i in 0..=volumes.len() {
        studies.push(Study {
            key: format!("k{i}"),
            source: format!("case {i}"),
            path: dir.path().join(format!("case{i}")),
            kind: StudyKind::Nifti,
            overrides: Default::default(),
            estimate_bytes: 0,
        });
    }
    let (layout, plan) = plan_of(dir.path(), studies);
    for (i, s) in plan.studies.iter().enumerate() {
        let tmp = dir.path().join(format!("tmp{i}"));
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::write(tmp.join("log.txt"), "ok").unwrap();
        let r = match volumes.get(i) {
            Some(&ml) => fake(&s.key, State::Done, ml),
            None => fake(&s.key, State::Failed, 0.0),
        };
        record::commit(&layout, &tmp, &r).unwrap();
    }
    let counts = stratum_core::batch::write_summary(&layout, &plan, true).unwrap();
    assert_eq!((counts.done, counts.failed), (7, 1));
    let csv = std::fs::read_to_string(layout.summary_csv()).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 9, "{csv}");
    assert!(
        lines[0].starts_with("key,source,status,error,seconds,peak_memory_mib"),
        "{}",
        lines[0]
    );
    assert!(lines[0].ends_with("\"bone, cortical mL\""), "{}", lines[0]);
    assert!(
        lines[7].starts_with("k6,case 6,done,") && lines[7].contains("bone, cortical high"),
        "{}",
        lines[7]
    );
    assert!(
        lines[1].starts_with("k0,case 0,done,,2.00,100,1 warnings,1,100,yes,0.9700,0.50,,,10.000"),
        "{}",
        lines[1]
    );
    assert!(
        lines[8].starts_with("k7,case 7,failed,\"no readable DICOM series, say\""),
        "{}",
        lines[8]
    );
    let html = std::fs::read_to_string(layout.summary_html()).unwrap();
    assert!(
        html.contains("<svg") && html.contains("class=\"odd\"") && html.contains("k6"),
        "{html}"
    );
    assert!(
        !html.contains("<script") && !html.contains("http://")
            || html.contains("http://www.w3.org/2000/svg")
    );
    // Without sources (an anonymized batch) no folder name appears.
    stratum_core::batch::write_summary(&layout, &plan, false).unwrap();
    let csv = std::fs::read_to_string(layout.summary_csv()).unwrap();
    assert!(!csv.contains("case 1"), "{csv}");
    let html = std::fs::read_to_string(layout.summary_html()).unwrap();
    assert!(!html.contains("case 1"));
}
