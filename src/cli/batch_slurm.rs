//! `stratum batch` on a Slurm cluster, with no daemon of our own: `--slurm`
//! writes the job list and one job script and submits them as one job
//! array (`sbatch --array`); each array task runs `stratum batch --task N`
//! on its share of the studies; `--status` reads the records as they
//! arrive and asks `squeue` what is still queued. Retrying is submitting
//! again: only the studies not done (and, with `--retry-failed`, the
//! failed ones) go into the new array.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use stratum_core::batch::record::{StudyState, state_of};
use stratum_core::batch::summary::states;
use stratum_core::batch::{Counts, Layout, Plan, Study};

use super::local::{finish, human_time, supervise};
use super::{Saved, name, open, summarize};

#[derive(clap::Args, Debug)]
pub struct SlurmArgs {
    /// Submit the studies as one Slurm job array instead of converting them
    /// here (run it on a login node; OUT must be on a file system the
    /// compute nodes share)
    #[arg(long = "slurm", id = "slurm_submit")]
    pub slurm_submit: bool,
    /// Slurm partition
    #[arg(long, requires = "slurm_submit")]
    pub partition: Option<String>,
    /// Memory per task, as sbatch takes it (4G, 8000M); default: from the
    /// loader's estimate of the largest study, with room to spare
    #[arg(long, requires = "slurm_submit")]
    pub mem: Option<String>,
    /// Time limit per task, as sbatch takes it (30, 2:00:00)
    #[arg(long, requires = "slurm_submit")]
    pub time: Option<String>,
    /// CPUs per task (the conversion's threads)
    #[arg(long, value_name = "N", requires = "slurm_submit")]
    pub cpus_per_task: Option<u32>,
    /// At most this many array tasks running at once (sbatch --array=...%N)
    #[arg(long, value_name = "N", requires = "slurm_submit")]
    pub max_running: Option<u32>,
    /// Studies per array task (default: 1, or more to keep a large cohort
    /// within 1000 tasks)
    #[arg(long, value_name = "N", requires = "slurm_submit", value_parser = clap::value_parser!(u32).range(1..))]
    pub per_task: Option<u32>,
    /// Another option for sbatch, as it takes it (--sbatch=--account=lab);
    /// may be repeated
    #[arg(
        long = "sbatch",
        value_name = "OPTION",
        allow_hyphen_values = true,
        requires = "slurm_submit"
    )]
    pub sbatch: Vec<String>,
}

/// What one submission was, saved beside its job list.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Submission {
    job_id: String,
    tasks: usize,
    studies: usize,
    retry_failed: bool,
    submitted_unix: u64,
    sbatch: Vec<String>,
}

fn submissions_dir(layout: &Layout) -> PathBuf {
    layout.root().join("slurm")
}

/// The submissions so far: (number, folder), in order.
fn submissions(layout: &Layout) -> Vec<(u32, PathBuf)> {
    let mut out: Vec<(u32, PathBuf)> = std::fs::read_dir(submissions_dir(layout))
        .map(|d| {
            d.flatten()
                .filter_map(|e| {
                    let n = e.file_name().to_string_lossy().parse::<u32>().ok()?;
                    Some((n, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Runs `cmd`, killing it after `limit`: a scheduler that does not answer
/// becomes an error instead of a hang.
fn run_limited(mut cmd: Command, limit: Duration) -> anyhow::Result<(bool, String, String)> {
    let program = format!("{:?}", cmd.get_program());
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot run {program}"))?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let until = Instant::now() + limit;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("{program} did not answer within {} s", limit.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    Ok((status.success(), stdout, stderr))
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

/// The array tasks of `job` still queued or running, by task index, from
/// squeue (`None` when squeue cannot tell).
fn live_tasks(job: &str) -> Option<Vec<(usize, String)>> {
    if !on_path("squeue") {
        return None;
    }
    let mut cmd = Command::new("squeue");
    cmd.args(["-h", "-r", "-j", job, "-o", "%i %T"]);
    let (ok, out, err) = run_limited(cmd, Duration::from_secs(30)).ok()?;
    // A job squeue has forgotten (finished long ago) is an error there.
    if !ok {
        return err.contains("Invalid job id").then(Vec::new);
    }
    Some(
        out.lines()
            .filter_map(|l| {
                let (id, state) = l.trim().split_once(' ')?;
                let task = id.rsplit_once('_')?.1.parse().ok()?;
                Some((task, state.to_string()))
            })
            .collect(),
    )
}

fn read_tasks(dir: &Path) -> anyhow::Result<Vec<(usize, String)>> {
    let path = dir.join("tasks.tsv");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read the job list {}", path.display()))?;
    Ok(text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (n, key) = l.split_once('\t')?;
            Some((n.trim().parse().ok()?, key.trim().to_string()))
        })
        .collect())
}

/// sbatch's memory for the largest study: the loader's estimate and half
/// again, plus room for the program, in MiB.
fn default_mem(todo: &[&Study]) -> String {
    let largest = todo.iter().map(|s| s.estimate_bytes).max().unwrap_or(0);
    let mib = (largest + largest / 2) / (1 << 20) + 512;
    format!("{}M", mib.div_ceil(64) * 64)
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

pub(super) fn submit(
    layout: &Layout,
    plan: &Plan,
    saved: &Saved,
    args: &SlurmArgs,
    retry_failed: bool,
) -> anyhow::Result<ExitCode> {
    if !on_path("sbatch") {
        anyhow::bail!(
            "sbatch is not on PATH: --slurm submits to a Slurm cluster from one of its login nodes (or drop --slurm to convert here)"
        );
    }
    // Studies an earlier array still has queued or running stay with it.
    let mut queued: HashSet<String> = HashSet::new();
    for (_, dir) in submissions(layout) {
        let Ok(sub) = read_submission(&dir) else {
            continue;
        };
        let Some(live) = live_tasks(&sub.job_id) else {
            continue;
        };
        let tasks = read_tasks(&dir).unwrap_or_default();
        for (n, _) in live {
            queued.extend(
                tasks
                    .iter()
                    .filter(|(t, _)| *t == n)
                    .map(|(_, k)| k.clone()),
            );
        }
    }
    let todo: Vec<&Study> = plan
        .studies
        .iter()
        .filter(|s| !queued.contains(&s.key))
        .filter(|s| match state_of(layout, s, true) {
            StudyState::Done(_) | StudyState::Running(_) => false,
            StudyState::Failed(_) => retry_failed,
            StudyState::Waiting(_) => true,
        })
        .collect();
    if todo.is_empty() {
        println!(
            "nothing to submit: every study is done, failed (--retry-failed submits those again) or queued already"
        );
        summarize(layout, plan, saved)?;
        return Ok(ExitCode::SUCCESS);
    }
    let per_task = args
        .per_task
        .map(|n| n as usize)
        .unwrap_or_else(|| todo.len().div_ceil(1000));
    let n_tasks = todo.len().div_ceil(per_task);
    let number = submissions(layout).last().map(|(n, _)| n + 1).unwrap_or(1);
    let dir = submissions_dir(layout).join(number.to_string());
    stratum_core::base::atomic::create_folder(&dir)?;
    let mut list = String::from("# array task <TAB> study key\n");
    for (i, s) in todo.iter().enumerate() {
        list.push_str(&format!("{}\t{}\n", i / per_task, s.key));
    }
    stratum_core::base::atomic::write_bytes_atomic(&dir.join("tasks.tsv"), list.as_bytes())?;
    let exe = std::env::current_exe()?;
    let script = format!(
        "#!/bin/sh\n\
         # Written by `stratum batch --slurm`: array task N converts the studies\n\
         # listed for it in tasks.tsv, one after the other.\n\
         export RAYON_NUM_THREADS=\"${{SLURM_CPUS_PER_TASK:-1}}\"\n\
         exec {} batch -o {} --task \"$SLURM_ARRAY_TASK_ID\" --submission {number}\n",
        quote(&exe.to_string_lossy()),
        quote(&layout.root().to_string_lossy())
    );
    let script_path = dir.join("job.sh");
    stratum_core::base::atomic::write_bytes_atomic(&script_path, script.as_bytes())?;
    let mut sbatch = vec![
        "--parsable".to_string(),
        "--job-name=stratum-batch".into(),
        format!(
            "--array=0-{}{}",
            n_tasks - 1,
            args.max_running
                .map(|k| format!("%{k}"))
                .unwrap_or_default()
        ),
        format!("--output={}", dir.join("task-%a.log").display()),
        format!("--chdir={}", layout.root().display()),
        format!(
            "--mem={}",
            args.mem.clone().unwrap_or_else(|| default_mem(&todo))
        ),
    ];
    if let Some(p) = &args.partition {
        sbatch.push(format!("--partition={p}"));
    }
    if let Some(t) = &args.time {
        sbatch.push(format!("--time={t}"));
    }
    if let Some(c) = args.cpus_per_task {
        sbatch.push(format!("--cpus-per-task={c}"));
    }
    sbatch.extend(args.sbatch.iter().cloned());
    let mut cmd = Command::new("sbatch");
    cmd.args(&sbatch).arg(&script_path);
    let (ok, out, err) = run_limited(cmd, Duration::from_secs(60))?;
    if !ok {
        anyhow::bail!(
            "sbatch refused the job array: {}",
            err.trim().lines().last().unwrap_or("no reason given")
        );
    }
    let job_id = out
        .trim()
        .split(';')
        .next()
        .filter(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()))
        .ok_or_else(|| anyhow::anyhow!("sbatch answered {out:?}, not a job id"))?
        .to_string();
    let sub = Submission {
        job_id: job_id.clone(),
        tasks: n_tasks,
        studies: todo.len(),
        retry_failed,
        submitted_unix: stratum_core::batch::record::now_unix(),
        sbatch,
    };
    stratum_core::base::atomic::write_bytes_atomic(
        &dir.join("submission.json"),
        &serde_json::to_vec_pretty(&sub)?,
    )?;
    println!(
        "submitted Slurm job {job_id}: {} studies in {n_tasks} array tasks ({per_task} per task{})",
        todo.len(),
        args.max_running
            .map(|k| format!(", at most {k} at once"))
            .unwrap_or_default()
    );
    println!(
        "follow it with: stratum batch --status {}",
        layout.root().display()
    );
    summarize(layout, plan, saved)?;
    Ok(ExitCode::SUCCESS)
}

fn read_submission(dir: &Path) -> anyhow::Result<Submission> {
    let bytes = std::fs::read(dir.join("submission.json"))?;
    Ok(serde_json::from_slice(&bytes)?)
}

/// One array task: converts its studies one after the other, each in its
/// own process, then rewrites the summary. Exit code 1 when one failed, so
/// Slurm's accounting agrees with the records.
pub(super) fn task(layout: &Layout, submission: u32, n: usize) -> anyhow::Result<ExitCode> {
    let (plan, saved) = open(layout)?;
    let dir = submissions_dir(layout).join(submission.to_string());
    let retry_failed = read_submission(&dir)
        .map(|s| s.retry_failed)
        .unwrap_or(false);
    let keys: Vec<String> = read_tasks(&dir)?
        .into_iter()
        .filter(|(t, _)| *t == n)
        .map(|(_, k)| k)
        .collect();
    let studies: Vec<&Study> = keys.iter().filter_map(|k| plan.study(k)).collect();
    if studies.is_empty() {
        anyhow::bail!("array task {n} of submission {submission} has no studies in its job list");
    }
    let todo: Vec<&Study> = studies
        .into_iter()
        .filter(|s| match state_of(layout, s, false) {
            StudyState::Done(_) => false,
            StudyState::Failed(_) => retry_failed,
            _ => true,
        })
        .collect();
    let outcome = supervise(layout, &plan, &saved, &todo, 1, retry_failed, false)?;
    let failed = outcome.failed;
    finish(layout, &plan, &saved, outcome)?;
    Ok(if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Where the batch stands: the records, the processes converting, what
/// Slurm still has queued; rewrites the summary.
pub(super) fn status(layout: &Layout) -> anyhow::Result<ExitCode> {
    let (plan, saved) = open(layout)?;
    let now = states(layout, &plan, true);
    let counts = Counts::of(&now);
    println!(
        "{}: {} studies: {} done, {} failed, {} running, {} waiting",
        layout.root().display(),
        counts.total(),
        counts.done,
        counts.failed,
        counts.running,
        counts.waiting
    );
    let mut queued = 0;
    for (number, dir) in submissions(layout) {
        let Ok(sub) = read_submission(&dir) else {
            continue;
        };
        match live_tasks(&sub.job_id) {
            Some(live) => {
                let pending = live.iter().filter(|(_, s)| s == "PENDING").count();
                let running = live.iter().filter(|(_, s)| s == "RUNNING").count();
                queued += live.len();
                println!(
                    "Slurm job {} (submission {number}): {} array tasks, {pending} pending, {running} running, {} finished",
                    sub.job_id,
                    sub.tasks,
                    sub.tasks.saturating_sub(live.len())
                );
            }
            None => println!(
                "Slurm job {} (submission {number}): {} array tasks (squeue cannot tell their state here)",
                sub.job_id, sub.tasks
            ),
        }
    }
    let done_times: Vec<f64> = now
        .iter()
        .filter_map(|(_, s)| match s {
            StudyState::Done(r) => Some(r.seconds),
            _ => None,
        })
        .collect();
    if !done_times.is_empty() {
        let mean = done_times.iter().sum::<f64>() / done_times.len() as f64;
        println!("a study took {} on average", human_time(mean));
    }
    for (study, state) in &now {
        match state {
            StudyState::Failed(r) => println!(
                "  failed   {}: {}",
                name(study, &saved),
                r.error.clone().unwrap_or_default()
            ),
            StudyState::Running(holder) => {
                println!("  running  {} ({holder})", name(study, &saved))
            }
            StudyState::Waiting(Some(why)) => {
                println!("  to redo  {}: {why}", name(study, &saved))
            }
            _ => {}
        }
    }
    // The summary reads the records again and may already see a study that
    // finished since; the exit code follows the counts printed above, so a
    // caller that polls sees the same snapshot in the text and the code.
    summarize(layout, &plan, &saved)?;
    println!(
        "wrote {} and {}",
        layout.summary_csv().display(),
        layout.summary_html().display()
    );
    if counts.waiting > 0 && queued == 0 && counts.running == 0 && !submissions(layout).is_empty() {
        println!(
            "{} studies are neither done nor queued (a task was killed or timed out): submit again to convert them",
            counts.waiting
        );
    }
    Ok(if !counts.finished() {
        ExitCode::from(3)
    } else if counts.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
