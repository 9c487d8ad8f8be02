//! `stratum batch`: many studies, each inspected, anonymized when asked and
//! converted into its own folder under a stable key; resumable, on this
//! machine (several at a time, `batch_local`) or as a Slurm job array
//! (`batch_slurm`). The plan, records and summary are the core's
//! (`stratum_core::batch`); this module holds the options and the dispatch.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use stratum_core::batch::{Layout, Plan, RunOptions, write_summary};

use super::convert::ModelArgs;
use super::with_progress;

#[path = "batch_local.rs"]
mod local;
#[path = "batch_slurm.rs"]
mod slurm;

#[derive(clap::Args, Debug)]
pub struct BatchArgs {
    /// A folder of studies (each DICOM series or NIfTI file under it is
    /// one), or a CSV/TSV list with a `path` column and optional per-study
    /// `series`, `preset`, `threshold`, `model`, `labels`, `names`
    #[arg(required_unless_present_any = ["status", "task", "study"])]
    pub input: Option<PathBuf>,
    /// The output folder: one folder per study under studies/, the
    /// summary.csv and summary.html; running again resumes
    #[arg(short, long, required_unless_present = "status")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Each study's model format: stl, obj, glb or 3mf
    #[arg(long, default_value = "stl", value_parser = ["stl", "obj", "glb", "3mf"])]
    pub format: String,
    /// Skip each study's validation report (Dice, surface distances,
    /// volume difference: the summary's mesh checks besides watertightness)
    #[arg(long)]
    pub no_report: bool,
    /// Write a de-identified copy of each DICOM series beside its models
    /// (studies/KEY/dicom/) and convert from it; the summary then names
    /// studies by key only
    #[arg(long)]
    pub anonymize: bool,
    /// Convert again the studies that failed before
    #[arg(long)]
    pub retry_failed: bool,
    /// Studies converted at once on this machine (default: from the cores
    /// and the memory the largest study needs)
    #[arg(short, long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub jobs: Option<u32>,
    #[command(flatten)]
    pub slurm: slurm::SlurmArgs,
    /// Show where the batch in OUT stands (also while Slurm runs it) and
    /// rewrite its summary; exit code 0: all done, 1: finished with
    /// failures, 3: not finished
    #[arg(long, value_name = "OUT", conflicts_with_all = ["input", "output", "slurm_submit", "task"])]
    pub status: Option<PathBuf>,
    /// Convert the studies of one Slurm array task (what the job script runs)
    #[arg(long, value_name = "N", requires = "submission")]
    pub task: Option<usize>,
    /// The submission the task belongs to (OUT/slurm/S/)
    #[arg(long, value_name = "S", hide = true)]
    pub submission: Option<u32>,
    /// Convert one study (the supervisor's child process)
    #[arg(long, value_name = "KEY", hide = true)]
    pub study: Option<String>,
    /// The attempt's name, recorded with the study
    #[arg(long, hide = true, requires = "study")]
    pub attempt: Option<String>,
}

/// What a batch folder is converted with, saved in its plan: every
/// process that converts one of its studies reads it from there.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Saved {
    pub model: ModelArgs,
    pub format: String,
    pub report: bool,
    pub anonymize: bool,
}

impl Saved {
    fn from_plan(plan: &Plan) -> anyhow::Result<Saved> {
        serde_json::from_value(plan.options.clone())
            .context("the batch's saved options are damaged; convert into a new folder")
    }

    pub fn run_options(&self) -> anyhow::Result<RunOptions> {
        let mut convert = self.model.options()?;
        convert.validate = self.report;
        let format =
            stratum_core::export::Format::from_path(Path::new(&format!("model.{}", self.format)))?;
        Ok(RunOptions {
            convert,
            format,
            anonymize: self.anonymize,
        })
    }
}

pub(super) fn batch_cmd(a: BatchArgs) -> anyhow::Result<ExitCode> {
    if let Some(out) = &a.status {
        return slurm::status(&Layout::new(out));
    }
    let out = a.output.clone().unwrap_or_default();
    if let Some(key) = &a.study {
        return local::child(
            &Layout::new(&out),
            key,
            a.attempt.as_deref(),
            a.retry_failed,
        );
    }
    if let (Some(n), Some(s)) = (a.task, a.submission) {
        return slurm::task(&Layout::new(&out), s, n);
    }
    let input = a.input.clone().unwrap_or_default();
    let (layout, plan, saved) = make_plan(&input, &out, &a)?;
    if a.slurm.slurm_submit {
        slurm::submit(&layout, &plan, &saved, &a.slurm, a.retry_failed)
    } else {
        local::run(&layout, &plan, &saved, a.jobs, a.retry_failed)
    }
}

/// Finds the studies, checks the options against a plan already in `out`
/// (a resumed batch must convert the rest as it did the first), and saves
/// the plan.
fn make_plan(input: &Path, out: &Path, a: &BatchArgs) -> anyhow::Result<(Layout, Plan, Saved)> {
    if a.model.labels.is_some() || a.model.series.is_some() {
        anyhow::bail!(
            "--labels and --series name one study's files: give them per study in a CSV/TSV list (columns labels, names, series)"
        );
    }
    let saved = Saved {
        model: a.model.clone(),
        format: a.format.clone(),
        report: !a.no_report,
        anonymize: a.anonymize,
    };
    saved.run_options()?;
    let input = input
        .canonicalize()
        .with_context(|| format!("cannot open {}", input.display()))?;
    stratum_core::base::atomic::create_folder(out)?;
    let out = out.canonicalize()?;
    if out.starts_with(&input) && input.is_dir() {
        anyhow::bail!(
            "the output folder {} is inside the input folder; choose one outside it, so its files are not taken for studies",
            out.display()
        );
    }
    let layout = Layout::new(&out);
    let options = serde_json::to_value(&saved)?;
    let old = Plan::read(&layout)?;
    if let Some(old) = &old
        && old.options != options
    {
        anyhow::bail!(
            "{} was started with other conversion options ({}); a resumed batch converts every study the same way: use a new output folder",
            out.display(),
            describe_change(&old.options, &options)
        );
    }
    let studies = with_progress(false, |p| stratum_core::batch::discover(&input, p))?;
    let mut plan = Plan {
        version: stratum_core::batch::PLAN_VERSION,
        input,
        options,
        studies,
    };
    if let Some(old) = &old {
        plan = plan.keeping(old);
    }
    plan.write(&layout)?;
    Ok((layout, plan, saved))
}

/// Which saved options differ, by name.
fn describe_change(old: &serde_json::Value, new: &serde_json::Value) -> String {
    fn flat(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let name = if k == "model" {
                        String::new()
                    } else {
                        format!("{prefix}{k}")
                    };
                    flat(&name, v, out);
                }
            }
            other => out.push((prefix.replace('_', "-"), other.to_string())),
        }
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    flat("", old, &mut a);
    flat("", new, &mut b);
    let changed: Vec<String> = b
        .iter()
        .filter(|(k, v)| a.iter().find(|(ka, _)| ka == k).map(|(_, va)| va) != Some(v))
        .map(|(k, v)| {
            let was = a
                .iter()
                .find(|(ka, _)| ka == k)
                .map(|(_, va)| va.as_str())
                .unwrap_or("none");
            format!("--{k} was {was}, now {v}")
        })
        .collect();
    if changed.is_empty() {
        "the saved options differ".into()
    } else {
        changed.join("; ")
    }
}

/// Rewrites the summary and says where it is.
pub(crate) fn summarize(
    layout: &Layout,
    plan: &Plan,
    saved: &Saved,
) -> anyhow::Result<stratum_core::batch::Counts> {
    let counts = write_summary(layout, plan, !saved.anonymize)?;
    Ok(counts)
}

/// The study as the console names it: key, and where it came from unless
/// the batch anonymizes.
pub(crate) fn name(study: &stratum_core::batch::Study, saved: &Saved) -> String {
    if saved.anonymize {
        study.key.clone()
    } else {
        format!("{} ({})", study.key, study.source)
    }
}

/// Reads the plan and its options from a batch folder.
pub(crate) fn open(layout: &Layout) -> anyhow::Result<(Plan, Saved)> {
    let plan = Plan::read(layout)?.ok_or_else(|| {
        anyhow::anyhow!(
            "{} holds no batch (no batch.json): start one with `stratum batch INPUT -o {}`",
            layout.root().display(),
            layout.root().display()
        )
    })?;
    let saved = Saved::from_plan(&plan)?;
    Ok((plan, saved))
}
