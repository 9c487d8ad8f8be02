//! `stratum batch` for real. A cohort of phantoms (../shared/bench's
//! make_phantom.py), public series (../shared/data) and two broken studies
//! goes through a one-node Slurm cluster started for the test
//! (scripts/slurm-dev.sh: munged, slurmctld, slurmd, as root, free ports,
//! a throwaway folder, stopped after); then the same cohort on this
//! machine, killed with SIGKILL in the middle and run again: the same
//! outputs, nothing converted twice. Smaller runs check lists, refused
//! option changes and anonymized batches.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use stratum_core::dicom::synth::{FAKE_PATIENT_ID, FAKE_PATIENT_NAME, SynthOptions, write_series};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stratum() -> Command {
    Command::new(env!("CARGO_BIN_EXE_stratum"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Runs `cmd` to the end, or fails the test after `limit` (a scheduler or
/// daemon that hangs must not hang CI).
fn run(mut cmd: Command, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let end = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!("{what} did not finish within {limit:?}:\n{}", text(&o));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// A summary.csv as rows of column -> value.
fn summary(out: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(out.join("summary.csv")).expect("summary.csv");
    let rows: Vec<Vec<String>> = text.lines().map(split_csv).collect();
    rows[1..]
        .iter()
        .map(|r| rows[0].iter().cloned().zip(r.iter().cloned()).collect())
        .collect()
}

fn split_csv(line: &str) -> Vec<String> {
    let (mut out, mut field, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    out.push(field);
    out
}

/// How many times each study ended (done or failed), from the journal.
fn endings(out: &Path) -> BTreeMap<String, usize> {
    let mut n = BTreeMap::new();
    for line in std::fs::read_to_string(out.join("journal.log"))
        .unwrap_or_default()
        .lines()
    {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() == 4 && (f[2] == "done" || f[2] == "failed") {
            *n.entry(f[1].to_string()).or_default() += 1;
        }
    }
    n
}

/// The cohort: 5 phantoms (plain, tilted, jittered, RLE, a missing slice),
/// a public DICOM series and two NIfTI files, all bone: 8 good studies; a
/// series cut short and a folder with no scan: 2 broken ones.
struct Cohort {
    root: PathBuf,
    good: Vec<&'static str>,
    broken: Vec<&'static str>,
}

fn make_cohort(dir: &Path) -> Option<Cohort> {
    if !crate::checks::python_modules(
        &["numpy", "scipy", "pydicom"],
        "the batch cohort's phantoms (../shared/bench/make_phantom.py)",
        "python3 -m pip install numpy==2.4.6 scipy==1.17.1 pydicom==3.0.2",
    ) {
        return None;
    }
    let root = dir.join("cohort");
    let generator = repo().join("../shared/bench/make_phantom.py");
    let phantoms: [(&str, &[&str]); 5] = [
        ("ph-plain", &["--seed", "1"]),
        ("ph-tilt", &["--seed", "2", "--tilt", "12"]),
        ("ph-jitter", &["--seed", "3", "--jitter"]),
        ("ph-rle", &["--seed", "4", "--compress"]),
        ("ph-missing", &["--seed", "5", "--missing-slice", "20"]),
    ];
    for (name, args) in phantoms {
        let mut c = Command::new("python3");
        c.arg(&generator)
            .arg(root.join(name))
            .args(["--size", "64x64x40"])
            .args(args);
        let o = run(c, Duration::from_secs(120));
        assert!(o.status.success(), "make_phantom.py {name}: {}", text(&o));
    }
    // Real scans, small enough for CI: the abdominal CT as DICOM (JPEG
    // 2000, empty UIDs: its key comes from its place in the input) and two
    // NIfTI crops of it.
    let data = crate::shared_data().join("ct_totalseg_abdomen");
    std::os::unix::fs::symlink(data.join("dicom"), root.join("abdomen-dicom")).unwrap();
    for (from, to) in [
        ("example_ct_sm.nii.gz", "abdomen-sm.nii.gz"),
        ("example_ct.nii.gz", "abdomen.nii.gz"),
    ] {
        std::os::unix::fs::symlink(data.join(from), root.join(to)).unwrap();
    }
    // Broken: a series whose every file lost its second half, and a folder
    // that holds files but no scan.
    let cut = root.join("cut-short");
    std::fs::create_dir_all(&cut).unwrap();
    for e in std::fs::read_dir(root.join("ph-plain/dicom"))
        .unwrap()
        .flatten()
    {
        let bytes = std::fs::read(e.path()).unwrap();
        std::fs::write(cut.join(e.file_name()), &bytes[..bytes.len() / 2]).unwrap();
    }
    std::fs::create_dir_all(root.join("not-a-scan")).unwrap();
    std::fs::write(root.join("not-a-scan/notes.txt"), "to do").unwrap();
    std::fs::write(root.join("not-a-scan/scan.dcm"), b"no DICOM in here").unwrap();
    Some(Cohort {
        root,
        good: vec![
            "abdomen-dicom",
            "abdomen-sm.nii.gz",
            "abdomen.nii.gz",
            "ph-jitter/dicom",
            "ph-missing/dicom",
            "ph-plain/dicom",
            "ph-rle/dicom",
            "ph-tilt/dicom",
        ],
        broken: vec!["cut-short", "not-a-scan"],
    })
}

/// A one-node Slurm cluster, stopped when dropped.
struct Cluster {
    dir: PathBuf,
    conf: PathBuf,
}

impl Cluster {
    fn start(parent: &Path) -> Option<Cluster> {
        let root = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .map(|l| l.split_whitespace().nth(1) == Some("0"))
            })
            .unwrap_or(false);
        if !root {
            crate::checks::skip(
                "the one-node Slurm cluster needs root (munged and slurmd), so batch --slurm is not checked",
                "run the tests as root, as CI does",
            );
            return None;
        }
        for p in ["munged", "slurmctld", "slurmd", "sbatch"] {
            crate::checks::program(
                p,
                "batch --slurm on a one-node cluster",
                "apt-get install munge slurmctld slurmd slurm-client",
            )?;
        }
        let dir = parent.join("slurm");
        let mut c = Command::new(repo().join("scripts/slurm-dev.sh"));
        c.arg("start").arg(&dir);
        let o = run(c, Duration::from_secs(150));
        let cluster = Cluster {
            conf: dir.join("slurm.conf"),
            dir,
        };
        assert!(o.status.success(), "slurm-dev.sh start: {}", text(&o));
        Some(cluster)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut c = Command::new(repo().join("scripts/slurm-dev.sh"));
        c.arg("stop").arg(&self.dir);
        let o = run(c, Duration::from_secs(60));
        assert!(
            o.status.success() || std::thread::panicking(),
            "slurm-dev.sh stop: {}",
            text(&o)
        );
    }
}

fn check_cohort_summary(out: &Path, cohort: &Cohort) -> BTreeMap<String, BTreeMap<String, String>> {
    let rows = summary(out);
    assert_eq!(
        rows.len(),
        cohort.good.len() + cohort.broken.len(),
        "{rows:#?}"
    );
    let by_source: BTreeMap<String, BTreeMap<String, String>> =
        rows.into_iter().map(|r| (r["source"].clone(), r)).collect();
    for s in &cohort.good {
        let r = by_source
            .get(*s)
            .unwrap_or_else(|| panic!("{s} is not in the summary: {by_source:#?}"));
        assert_eq!(r["status"], "done", "{s}: {r:#?}");
        assert_eq!(r["error"], "", "{s}");
        assert!(r["seconds"].parse::<f64>().unwrap() > 0.0, "{s}: {r:#?}");
        assert!(
            r["peak_memory_mib"].parse::<f64>().unwrap() > 1.0,
            "{s}: {r:#?}"
        );
        assert_eq!(r["segments"], "1", "{s}");
        assert!(r["Bone mL"].parse::<f64>().unwrap() > 0.1, "{s}: {r:#?}");
        assert!(r["triangles"].parse::<usize>().unwrap() > 100, "{s}");
        assert!(
            !r["min_dice"].is_empty(),
            "{s}: the report's checks are in the summary"
        );
        let model = out.join("studies").join(&r["key"]).join("model.stl");
        let bytes = std::fs::read(&model).unwrap_or_else(|_| panic!("{}", model.display()));
        let n = u32::from_le_bytes(bytes[80..84].try_into().unwrap()) as usize;
        assert_eq!(bytes.len(), 84 + 50 * n, "{s}: a whole STL");
    }
    let reason = &by_source["not-a-scan"]["error"];
    assert!(reason.contains("no readable DICOM series"), "{reason}");
    for s in &cohort.broken {
        let r = &by_source[*s];
        assert_eq!(r["status"], "failed", "{s}: {r:#?}");
        assert!(!r["error"].is_empty(), "{s}");
        assert!(
            !out.join("studies")
                .join(&r["key"])
                .join("model.stl")
                .exists()
        );
    }
    by_source
}

/// The model file of every done study, by key.
fn models(out: &Path) -> BTreeMap<String, Vec<u8>> {
    summary(out)
        .into_iter()
        .filter(|r| r["status"] == "done")
        .map(|r| {
            let m = std::fs::read(out.join("studies").join(&r["key"]).join("model.stl")).unwrap();
            (r["key"].clone(), m)
        })
        .collect()
}

#[test]
fn cohort_converts_as_a_slurm_array_and_resumes_locally_after_kill9() {
    let dir = tempfile::tempdir().unwrap();
    let Some(cohort) = make_cohort(dir.path()) else {
        return;
    };
    let input = cohort.root.to_str().unwrap();
    let total = cohort.good.len() + cohort.broken.len();

    // Through Slurm: one array of 10 tasks, two at a time.
    let mut reference = None;
    if let Some(cluster) = Cluster::start(dir.path()) {
        let out = dir.path().join("out-slurm");
        let mut c = stratum();
        c.env("SLURM_CONF", &cluster.conf)
            .args(["batch", input, "-o"])
            .arg(&out)
            .args([
                "--slurm",
                "--cpus-per-task",
                "1",
                "--mem",
                "1500M",
                "--time",
                "10",
            ])
            .args(["--max-running", "2"]);
        let o = run(c, Duration::from_secs(300));
        assert!(o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("submitted Slurm job"), "{}", text(&o));
        // --status reads the records as they arrive; 3 means not finished.
        let end = Instant::now() + Duration::from_secs(600);
        let status = loop {
            let mut c = stratum();
            c.env("SLURM_CONF", &cluster.conf)
                .arg("batch")
                .arg("--status")
                .arg(&out);
            let o = run(c, Duration::from_secs(60));
            if o.status.code() != Some(3) {
                break o;
            }
            let log =
                std::fs::read_to_string(cluster.dir.join("log/slurmctld.log")).unwrap_or_default();
            assert!(
                Instant::now() < end,
                "the array did not finish in 10 min:\n{}\n{log}",
                text(&o)
            );
            std::thread::sleep(Duration::from_millis(500));
        };
        // Finished, with failures.
        assert_eq!(status.status.code(), Some(1), "{}", text(&status));
        let t = text(&status);
        assert!(
            t.contains(&format!("{total} studies: 8 done, 2 failed")),
            "{t}"
        );
        check_cohort_summary(&out, &cohort);
        assert!(
            endings(&out).values().all(|&n| n == 1),
            "{:?}",
            endings(&out)
        );
        let logs = std::fs::read_dir(out.join("slurm/1"))
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("task-"))
            .count();
        assert_eq!(logs, total, "one Slurm task log per study");
        let html = std::fs::read_to_string(out.join("summary.html")).unwrap();
        assert!(
            html.contains("<svg") && html.contains("not-a-scan"),
            "summary.html"
        );
        reference = Some(out);
    }

    // Locally, two at a time, killed with SIGKILL once three studies ended.
    let out = dir.path().join("out-local");
    let mut c = stratum();
    c.args(["batch", input, "-o"])
        .arg(&out)
        .args(["--jobs", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = c.spawn().unwrap();
    let end = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        if endings(&out).len() >= 3 {
            break;
        }
        assert!(Instant::now() < end, "no study ended within 5 min");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Its children notice and stop; wait until no study is held.
    let end = Instant::now() + Duration::from_secs(30);
    let before = loop {
        let o = run(
            {
                let mut c = stratum();
                c.arg("batch").arg("--status").arg(&out);
                c
            },
            Duration::from_secs(60),
        );
        let t = text(&o);
        if t.contains(" 0 running") {
            break summary(&out);
        }
        assert!(
            Instant::now() < end,
            "studies still held 30 s after the kill: {t}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let finished_before: BTreeMap<String, String> = before
        .iter()
        .filter(|r| r["status"] == "done" || r["status"] == "failed")
        .map(|r| {
            let rec =
                std::fs::read_to_string(out.join("studies").join(&r["key"]).join("status.json"))
                    .unwrap();
            (r["key"].clone(), rec)
        })
        .collect();
    assert!(
        finished_before.len() >= 3 && finished_before.len() < total,
        "{before:#?}"
    );
    // Whatever the kill left is whole: a done study's files parse.
    for r in before.iter().filter(|r| r["status"] == "done") {
        let m = std::fs::read(out.join("studies").join(&r["key"]).join("model.stl")).unwrap();
        let n = u32::from_le_bytes(m[80..84].try_into().unwrap()) as usize;
        assert_eq!(m.len(), 84 + 50 * n);
    }

    let mut c = stratum();
    c.args(["batch", input, "-o"])
        .arg(&out)
        .args(["--jobs", "2"]);
    let o = run(c, Duration::from_secs(600));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "two studies failed: {t}");
    assert!(
        t.contains(&format!(
            "{} done before",
            before.iter().filter(|r| r["status"] == "done").count()
        )),
        "{t}"
    );
    check_cohort_summary(&out, &cohort);
    // Nothing converted twice: every study ended once over both runs, and
    // the records of those finished before the kill are untouched.
    let ends = endings(&out);
    assert_eq!(ends.len(), total, "{ends:?}");
    assert!(
        ends.values().all(|&n| n == 1),
        "a study ended twice: {ends:?}"
    );
    for (key, rec) in &finished_before {
        let now =
            std::fs::read_to_string(out.join("studies").join(key).join("status.json")).unwrap();
        assert_eq!(&now, rec, "{key} was converted again");
    }
    // The same outputs as the uninterrupted run on Slurm: same keys, same
    // model files byte for byte.
    if let Some(reference) = &reference {
        assert_eq!(models(&out), models(reference));
    }

    // --retry-failed tries the broken ones again (and only those).
    let mut c = stratum();
    c.args(["batch", input, "-o"])
        .arg(&out)
        .arg("--retry-failed");
    let o = run(c, Duration::from_secs(300));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let again = endings(&out);
    assert_eq!(
        again.values().filter(|&&n| n == 2).count(),
        cohort.broken.len(),
        "{again:?}"
    );
}

fn small(series: u32) -> SynthOptions {
    SynthOptions {
        rows: 24,
        columns: 32,
        slices: 10,
        series,
        ..SynthOptions::default()
    }
}

#[test]
fn batch_of_a_list_applies_each_rows_options_and_refuses_other_options_on_resume() {
    let dir = tempfile::tempdir().unwrap();
    write_series(&dir.path().join("a"), &small(1)).unwrap();
    write_series(&dir.path().join("b"), &small(2)).unwrap();
    let list = dir.path().join("cohort.tsv");
    std::fs::write(
        &list,
        "path\tthreshold\na\t150:400\nb\t5000:6000\nmissing\t\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = run(
        {
            let mut c = stratum();
            c.arg("batch")
                .arg(&list)
                .arg("-o")
                .arg(&out)
                .arg("--no-report");
            c
        },
        Duration::from_secs(120),
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    let rows = summary(&out);
    let by: BTreeMap<&str, &BTreeMap<String, String>> =
        rows.iter().map(|r| (r["source"].as_str(), r)).collect();
    assert_eq!(by["a"]["status"], "done", "{rows:#?}");
    assert_eq!(by["a"]["min_dice"], "", "no report was asked for");
    assert_eq!(by["b"]["status"], "failed");
    assert!(
        by["b"]["error"].contains("segmentation is empty"),
        "{rows:#?}"
    );
    assert_eq!(by["missing"]["error"], "not found");
    // Status: finished, with failures.
    let o = run(
        {
            let mut c = stratum();
            c.arg("batch").arg("--status").arg(&out);
            c
        },
        Duration::from_secs(60),
    );
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    // A resumed batch converts the rest as it did the first.
    let o = run(
        {
            let mut c = stratum();
            c.arg("batch")
                .arg(&list)
                .arg("-o")
                .arg(&out)
                .args(["--smooth", "3"]);
            c
        },
        Duration::from_secs(60),
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(2), "{t}");
    assert!(t.contains("--smooth was 10, now 3"), "{t}");
}

#[test]
fn anonymized_batch_keeps_patient_names_out_of_every_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    write_series(&input.join("DOE_JANE_1961"), &small(1)).unwrap();
    std::fs::create_dir_all(input.join("SMITH_JOHN")).unwrap();
    std::fs::write(input.join("SMITH_JOHN/x.dcm"), b"garbage").unwrap();
    let out = dir.path().join("out");
    let o = run(
        {
            let mut c = stratum();
            c.arg("batch").arg(&input).arg("-o").arg(&out).args([
                "--anonymize",
                "--threshold",
                "150:400",
            ]);
            c
        },
        Duration::from_secs(120),
    );
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    let secrets = [FAKE_PATIENT_NAME, FAKE_PATIENT_ID, "DOE_JANE", "SMITH_JOHN"];
    for s in secrets {
        assert!(!t.contains(s), "the console shows {s}: {t}");
    }
    let mut files = vec![
        out.join("summary.csv"),
        out.join("summary.html"),
        out.join("journal.log"),
    ];
    let mut stack = vec![out.join("studies")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    assert!(
        files
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "dcm")),
        "a de-identified copy"
    );
    for f in &files {
        let bytes = std::fs::read(f).unwrap();
        for s in secrets {
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "{} holds {s}",
                f.display()
            );
        }
    }
    assert!(
        !std::fs::read_to_string(out.join("summary.csv"))
            .unwrap()
            .contains("source")
    );
}
