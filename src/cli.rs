//! The command line: its arguments, one module per subcommand (inspect,
//! anonymize, convert, share, segment, models, pacs; `gui` holds the desktop app's
//! options), the dispatch to them, and the progress bar they share.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use stratum_core::base::progress::Progress;

mod anonymize;
mod batch;
mod convert;
pub mod doctor;
mod gui;
mod inspect;
pub mod join;
mod live;
mod measure;
mod models;
mod pacs;
mod segment;
mod share;

use convert::ConvertArgs;
use gui::GuiArgs;

#[derive(Parser, Debug)]
#[command(
    name = "stratum",
    disable_version_flag = true,
    about = "CT/MR scans to 3D anatomy: check, segment, mesh, inspect, export",
    long_about = "CT/MR scans to 3D anatomy: check, segment, mesh, inspect, export.\n\n\
        Without a subcommand, opens the desktop app on PATH (a DICOM folder or a \
        NIfTI file), or on the demo study (shipped in the data folder) when no PATH is given.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub gui: GuiArgs,
    /// Print the version and which data folder, ONNX Runtime, OpenXR runtime
    /// and GPU were found (`stratum doctor` says more)
    #[arg(short = 'V', long)]
    pub version: bool,
}

/// Part of a DICOM series, for a study too large for the memory (the
/// refusal says which values fit).
#[derive(clap::Args, Debug, Default, Clone)]
pub struct SubsetArgs {
    /// Open only slices A-B of the DICOM series (1-based, inclusive, in
    /// stack order)
    #[arg(long, value_name = "A-B", value_parser = stratum_core::dicom::Subset::parse_range)]
    pub slices: Option<(usize, usize)>,
    /// Open a copy averaged over N x N x N voxels (2: half the resolution,
    /// an eighth of the memory)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=8))]
    pub downsample: Option<u32>,
}

impl SubsetArgs {
    pub fn subset(&self) -> stratum_core::dicom::Subset {
        stratum_core::dicom::Subset {
            slices: self.slices,
            downsample: self.downsample.unwrap_or(1),
        }
    }
}

/// Correcting patient motion between slices.
#[derive(clap::Args, Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct MotionArgs {
    /// Re-align the slices the motion check finds shifted in-plane against
    /// their neighbours (before any resampling; the files are not changed)
    #[arg(long)]
    pub realign_motion: bool,
}

impl MotionArgs {
    pub fn realign(&self) -> stratum_core::checks::realign::Realign {
        if self.realign_motion {
            stratum_core::checks::realign::Realign::Offered
        } else {
            stratum_core::checks::realign::Realign::No
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the series in a DICOM folder (or a NIfTI file) and check them:
    /// completeness, spacing, tilt, metal artifacts, motion between slices,
    /// identifying data, and whether the scan is good enough for a 3D model.
    /// Exit code 1 when a check found an error.
    Inspect {
        /// DICOM folder or file, or a .nii/.nii.gz file
        path: PathBuf,
        /// Check only this series (id or SeriesInstanceUID from the list, or its number)
        #[arg(long)]
        series: Option<String>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        subset: SubsetArgs,
        /// Do not resample tilted or unevenly spaced stacks (reported either way)
        #[arg(long)]
        no_resample: bool,
        #[command(flatten)]
        motion: MotionArgs,
    },
    /// Write a de-identified copy of a DICOM folder (PS3.15 Basic Application
    /// Level Confidentiality Profile). The input is never modified.
    Anonymize {
        /// DICOM folder or file to read
        input: PathBuf,
        /// Folder to write the anonymized files into (created if needed)
        output: PathBuf,
    },
    /// Segment a scan and write printable/textured models:
    /// load, threshold or labels, largest island, mesh, smooth, reduce, export.
    Convert(ConvertArgs),
    /// Write a patient-education page: one self-contained HTML file that
    /// opens offline, the structures in colour, tap for a name and volume
    Share(share::ShareArgs),
    /// Present a scan's segments live: prints a link that any browser opens
    /// to follow the presenter (view, cuts, visibility, rulers, pointer),
    /// end-to-end encrypted with a key only the link holds
    Live(live::LiveArgs),
    /// Follow a live session in the desktop app: the scan, the segmentation
    /// and every change, the presenter's view, and the pen when handed over
    Join(join::JoinArgs),
    /// Segment a scan with an AI model and write the label map (NIfTI)
    Segment {
        /// DICOM folder or file, or a .nii/.nii.gz file
        input: PathBuf,
        /// Model name (`stratum models` lists them)
        #[arg(long)]
        model: String,
        /// Label map to write (.nii.gz or .nii), on the scan's grid
        #[arg(short, long)]
        output: PathBuf,
        /// Series to use when the folder holds several (default: the largest)
        #[arg(long)]
        series: Option<String>,
        #[command(flatten)]
        subset: SubsetArgs,
    },
    /// List the AI models installed in the models folder, or import one
    Models {
        #[command(subcommand)]
        action: Option<models::ModelsCmd>,
    },
    /// Talk to a PACS: echo a node, find studies, get a series, send files
    Pacs(pacs::PacsArgs),
    /// Convert many studies (a folder or a CSV/TSV list), resumably: here,
    /// several at a time, or as a Slurm job array with --slurm
    Batch(Box<batch::BatchArgs>),
    /// Say which data folder, ONNX Runtime, OpenXR runtime and GPU were
    /// found, and what is missing and what to do (exit code 0 either way)
    Doctor,
    /// Measure between segments of a label map: the minimum distance between
    /// two (on their surfaces), a virtual resection along a plane
    Measure(measure::MeasureArgs),
}

pub fn run(command: Command) -> ExitCode {
    let result = match command {
        Command::Inspect {
            path,
            series,
            json,
            no_resample,
            subset,
            motion,
        } => inspect::inspect(
            path,
            series,
            json,
            !no_resample,
            subset.subset(),
            motion.realign(),
        ),
        Command::Anonymize { input, output } => anonymize::anonymize(input, output),
        Command::Convert(args) => convert::convert_cmd(args),
        Command::Share(args) => share::share_cmd(args),
        Command::Live(args) => live::live_cmd(args),
        Command::Join(args) => Ok(join::join_cmd(args)),
        Command::Segment {
            input,
            model,
            output,
            series,
            subset,
        } => segment::segment_cmd(input, model, output, series, subset.subset()),
        Command::Models { action: None } => segment::models_cmd(),
        Command::Models {
            action: Some(action),
        } => models::run(action),
        Command::Pacs(args) => pacs::pacs_cmd(args),
        Command::Batch(args) => batch::batch_cmd(*args),
        Command::Doctor => doctor::doctor_cmd(),
        Command::Measure(args) => measure::measure_cmd(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Runs `work` while a terminal progress bar follows its [`Progress`].
pub fn with_progress<T: Send>(quiet: bool, work: impl FnOnce(&Progress) -> T + Send) -> T {
    let progress = Progress::new();
    if quiet || !console_is_tty() {
        return work(&progress);
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg:30} [{bar:30}] {pos}/{len} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                bar.set_message(progress.stage());
                bar.set_length(progress.total());
                bar.set_position(progress.done());
                std::thread::sleep(Duration::from_millis(80));
            }
            bar.finish_and_clear();
        });
        let out = work(&progress);
        done.store(true, std::sync::atomic::Ordering::Relaxed);
        out
    })
}

fn console_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal()
}
