//! `stratum batch` on this machine: a supervisor that converts N studies
//! at once, each in a child process of its own (so a crash or an
//! out-of-memory kill fails one study, not the run, and each study's peak
//! memory is its own), with a progress bar over the cohort; and the child.

use std::collections::VecDeque;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use stratum_core::base::{memory, sizes};
use stratum_core::batch::record::{self, StudyState, attempt_id, state_of};
use stratum_core::batch::{Layout, Plan, Study, run_study};

use super::{Saved, name, open, summarize};

/// The child's exit code when another process holds the study.
const BUSY: u8 = 4;

/// The supervisor's process id, given to each child: a child whose parent
/// is already gone when it starts exits at once.
const PARENT_ENV: &str = "STRATUM_BATCH_PARENT";

/// Converts the studies of the plan that are not done yet (and those that
/// failed, with `retry_failed`), `jobs` at a time.
pub(super) fn run(
    layout: &Layout,
    plan: &Plan,
    saved: &Saved,
    jobs: Option<u32>,
    retry_failed: bool,
) -> anyhow::Result<ExitCode> {
    let mut done = 0;
    let mut failed_before = 0;
    let mut todo = Vec::new();
    for s in &plan.studies {
        match state_of(layout, s, false) {
            StudyState::Done(_) => done += 1,
            StudyState::Failed(_) if !retry_failed => failed_before += 1,
            _ => todo.push(s),
        }
    }
    let (jobs, why) = match jobs {
        Some(j) => (j as usize, "--jobs".to_string()),
        None => default_jobs(&todo),
    };
    let failed_note = if failed_before > 0 {
        format!(" ({failed_before} failed before: --retry-failed converts them again)")
    } else {
        String::new()
    };
    if todo.is_empty() {
        println!(
            "{} studies: {done} done before, nothing to convert{failed_note}",
            plan.studies.len()
        );
    } else {
        println!(
            "{} studies: {done} done before, {} to convert{failed_note}, {} at a time ({why})",
            plan.studies.len(),
            todo.len(),
            jobs.min(todo.len())
        );
    }
    let outcome = supervise(layout, plan, saved, &todo, jobs, retry_failed, true)?;
    finish(layout, plan, saved, outcome)
}

/// How many studies at once: no more than the cores, nor than the memory
/// budget holds of the largest study (the loader's estimate); and why.
pub(super) fn default_jobs(todo: &[&Study]) -> (usize, String) {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let largest = todo.iter().map(|s| s.estimate_bytes).max().unwrap_or(0);
    let by_memory = match memory::budget() {
        Some(b) if largest > 0 => (b.bytes / largest).max(1) as usize,
        _ => cores,
    };
    let jobs = cores.min(by_memory).max(1);
    (
        jobs,
        format!(
            "{cores} cores; the largest study needs about {}",
            sizes::human(largest)
        ),
    )
}

/// What a supervised run did.
pub(super) struct Outcome {
    pub converted: usize,
    pub failed: usize,
    pub busy: usize,
}

/// Runs each study of `todo` in a child process, `jobs` at a time, and
/// records a failure for a child that died without recording its study.
pub(super) fn supervise(
    layout: &Layout,
    plan: &Plan,
    saved: &Saved,
    todo: &[&Study],
    jobs: usize,
    retry_failed: bool,
    show_bar: bool,
) -> anyhow::Result<Outcome> {
    let exe = std::env::current_exe()?;
    let logs = layout.root().join("logs");
    stratum_core::base::atomic::create_folder(&logs)?;
    let jobs = jobs.max(1);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let threads = std::env::var("RAYON_NUM_THREADS")
        .unwrap_or_else(|_| (cores / jobs.min(todo.len()).max(1)).max(1).to_string());
    let bar = progress_bar(todo.len() as u64, show_bar);
    let (tx, rx) = mpsc::channel();
    let mut queue: VecDeque<&Study> = todo.iter().copied().collect();
    let mut running: Vec<(String, String, Instant)> = Vec::new();
    let mut outcome = Outcome {
        converted: 0,
        failed: 0,
        busy: 0,
    };
    let start = Instant::now();
    let mut finished = 0usize;
    while !queue.is_empty() || !running.is_empty() {
        while running.len() < jobs
            && let Some(study) = queue.pop_front()
        {
            let attempt = attempt_id() + &format!(":{}", study.key);
            let stderr = std::fs::File::create(logs.join(format!("{}.stderr.txt", study.key)))?;
            let mut cmd = Command::new(&exe);
            cmd.arg("batch")
                .arg("-o")
                .arg(layout.root())
                .args(["--study", &study.key, "--attempt", &attempt])
                .env("RAYON_NUM_THREADS", &threads)
                .env(PARENT_ENV, std::process::id().to_string())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(stderr);
            if retry_failed {
                cmd.arg("--retry-failed");
            }
            let mut child = cmd.spawn()?;
            let tx = tx.clone();
            let key = study.key.clone();
            std::thread::spawn(move || {
                let status = child.wait();
                let _ = tx.send((key, status));
            });
            running.push((study.key.clone(), attempt, Instant::now()));
        }
        update(&bar, &outcome, running.len(), finished, todo.len(), start);
        let Ok((key, status)) = rx.recv_timeout(Duration::from_millis(500)) else {
            continue;
        };
        let Some(at) = running.iter().position(|(k, _, _)| *k == key) else {
            continue;
        };
        let (key, attempt, began) = running.swap_remove(at);
        finished += 1;
        let study = plan.study(&key).expect("a planned study");
        let line = match status.ok().map(|s| (s.code(), s)) {
            Some((Some(0), _)) => match state_of(layout, study, false) {
                StudyState::Done(r) => {
                    outcome.converted += (r.attempt == attempt) as usize;
                    format!("done    {} in {:.1} s", name(study, saved), r.seconds)
                }
                StudyState::Failed(r) => {
                    outcome.failed += 1;
                    format!(
                        "FAILED  {}: {}",
                        name(study, saved),
                        r.error.unwrap_or_default()
                    )
                }
                _ => format!("left    {}: not recorded", name(study, saved)),
            },
            Some((Some(code), _)) if code == BUSY as i32 => {
                outcome.busy += 1;
                format!(
                    "busy    {}: another process is converting it",
                    name(study, saved)
                )
            }
            other => {
                let how = match other {
                    Some((_, s)) => describe_exit(&s),
                    None => "could not be waited for".into(),
                };
                let tail = stderr_tail(&logs.join(format!("{key}.stderr.txt")));
                let error = format!(
                    "the converting process ended without a result ({how}){}",
                    if tail.is_empty() {
                        String::new()
                    } else {
                        format!(": {tail}")
                    }
                );
                outcome.failed += 1;
                // Unless another process took the study up meanwhile.
                if let Some(_lock) = record::try_lock(layout, &key, &attempt)? {
                    record::record_failure(layout, &key, error.clone(), &attempt, began.elapsed())?;
                }
                format!("FAILED  {}: {error}", name(study, saved))
            }
        };
        bar.suspend(|| println!("[{finished}/{}] {line}", todo.len()));
    }
    bar.finish_and_clear();
    Ok(outcome)
}

fn progress_bar(len: u64, show: bool) -> ProgressBar {
    use std::io::IsTerminal;
    if !show || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn update(
    bar: &ProgressBar,
    o: &Outcome,
    running: usize,
    finished: usize,
    total: usize,
    start: Instant,
) {
    bar.set_position(finished as u64);
    let left = if finished > 0 && finished < total {
        let per = start.elapsed().as_secs_f64() / finished as f64;
        format!(
            ", about {} left",
            human_time(per * (total - finished) as f64)
        )
    } else {
        String::new()
    };
    bar.set_message(format!(
        "{} done, {} failed, {running} running{left}",
        finished.saturating_sub(o.failed + o.busy),
        o.failed
    ));
}

pub(super) fn human_time(s: f64) -> String {
    let s = s.round() as u64;
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

fn describe_exit(s: &std::process::ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = s.signal() {
            return match sig {
                9 => "killed by signal 9, SIGKILL: often the system running out of memory".into(),
                6 => "aborted (signal 6)".into(),
                11 => "crashed (signal 11, segmentation fault)".into(),
                n => format!("ended by signal {n}"),
            };
        }
    }
    match s.code() {
        Some(c) => format!("exit code {c}"),
        None => "ended abnormally".into(),
    }
}

/// The last line of a child's error output (a panic message), short.
fn stderr_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.starts_with("note:"))
        .unwrap_or("")
        .trim();
    line.chars().take(300).collect()
}

/// Prints the cohort's standing, writes the summary; exit code 1 when any
/// study of the plan has failed.
pub(super) fn finish(
    layout: &Layout,
    plan: &Plan,
    saved: &Saved,
    outcome: Outcome,
) -> anyhow::Result<ExitCode> {
    let counts = summarize(layout, plan, saved)?;
    println!(
        "{} studies: {} done, {} failed, {} running elsewhere, {} waiting ({} converted now)",
        counts.total(),
        counts.done,
        counts.failed,
        counts.running,
        counts.waiting,
        outcome.converted
    );
    if outcome.busy > 0 {
        println!(
            "{} studies were being converted by another process: `stratum batch --status {}` follows them",
            outcome.busy,
            layout.root().display()
        );
    }
    println!(
        "wrote {} and {}",
        layout.summary_csv().display(),
        layout.summary_html().display()
    );
    Ok(if counts.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The child: converts one study, holding its lock; exits when its parent
/// goes (a killed supervisor leaves no orphan converting on).
pub(super) fn child(
    layout: &Layout,
    key: &str,
    attempt: Option<&str>,
    retry_failed: bool,
) -> anyhow::Result<ExitCode> {
    watch_parent();
    let (plan, saved) = open(layout)?;
    let study = plan
        .study(key)
        .ok_or_else(|| anyhow::anyhow!("no study {key} in the batch"))?;
    let attempt = attempt.map(str::to_string).unwrap_or_else(attempt_id);
    let Some(_lock) = record::try_lock(layout, key, &attempt)? else {
        return Ok(ExitCode::from(BUSY));
    };
    // Finished by another process between the plan and the lock.
    match state_of(layout, study, false) {
        StudyState::Done(_) => return Ok(ExitCode::SUCCESS),
        StudyState::Failed(_) if !retry_failed => return Ok(ExitCode::SUCCESS),
        _ => {}
    }
    let opts = saved.run_options()?;
    run_study(
        layout,
        study,
        &opts,
        &attempt,
        &stratum_core::base::progress::Progress::new(),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Exits this process when its parent is gone (Unix: the parent id
/// changes when the parent dies).
fn watch_parent() {
    #[cfg(unix)]
    {
        let parent = std::os::unix::process::parent_id();
        let expected = std::env::var(PARENT_ENV)
            .ok()
            .and_then(|p| p.parse::<u32>().ok());
        if expected.is_some_and(|p| p != parent) {
            std::process::exit(3);
        }
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(100));
                if std::os::unix::process::parent_id() != parent {
                    std::process::exit(3);
                }
            }
        });
    }
}
