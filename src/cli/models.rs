//! `stratum models import-nnunet`: converts nnU-Net v2 trained-model folders
//! into a Stratum model in the models folder (the core does the work: no
//! Python), then says what it wrote and what it assumed.

use std::path::PathBuf;
use std::process::ExitCode;

use stratum_core::ai::nnunet::{CheckpointKind, ImportOptions, import_nnunet};

use super::with_progress;

#[derive(clap::Subcommand, Debug)]
pub enum ModelsCmd {
    /// Convert an nnU-Net v2 trained model (a folder with plans.json,
    /// dataset.json and fold_*/checkpoint_*.pth, e.g. one of
    /// ~/.totalsegmentator/nnunet/results/*/*) into a Stratum model. Several
    /// folders become one model whose parts run in turn and merge into one
    /// label map (TotalSegmentator's task parts).
    ImportNnunet(ImportArgs),
}

#[derive(clap::Args, Debug)]
pub struct ImportArgs {
    /// nnU-Net trained-model folder(s), in the order the parts run
    #[arg(required = true)]
    pub folders: Vec<PathBuf>,
    /// Name of the model (its folder under the models folder; default:
    /// from the dataset's name)
    #[arg(long)]
    pub name: Option<String>,
    /// Folds to convert and average, comma-separated ("0,1"), or "all" for
    /// nnU-Net's fold_all; default: every fold_N with the checkpoint, as
    /// nnU-Net's own predictor
    #[arg(long, value_delimiter = ',', value_name = "F|all")]
    pub fold: Option<Vec<String>>,
    /// Which checkpoint of each fold
    #[arg(long, value_enum, default_value = "final")]
    pub checkpoint: Checkpoint,
    /// Turn test-time mirroring off (8 times faster, slightly rougher edges)
    #[arg(long)]
    pub no_mirroring: bool,
    /// Patient direction of the network's array axes as nnU-Net read the
    /// training scans, e.g. SAR (the default: RAS-canonical NIfTI files read
    /// by SimpleITK, as TotalSegmentator prepares them)
    #[arg(long, value_name = "XYZ")]
    pub orientation: Option<String>,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum Checkpoint {
    Final,
    Best,
}

pub(super) fn run(cmd: ModelsCmd) -> anyhow::Result<ExitCode> {
    match cmd {
        ModelsCmd::ImportNnunet(a) => import(a),
    }
}

fn import(a: ImportArgs) -> anyhow::Result<ExitCode> {
    let opts = ImportOptions {
        name: a.name,
        folds: a.fold,
        checkpoint: match a.checkpoint {
            Checkpoint::Final => CheckpointKind::Final,
            Checkpoint::Best => CheckpointKind::Best,
        },
        mirror: !a.no_mirroring,
        orientation: a.orientation,
    };
    let dir = stratum_core::ai::models_dir();
    let report = with_progress(false, |p| import_nnunet(&a.folders, &dir, &opts, p))?;
    let m = &report.manifest;
    let nn = m.nnunet.as_ref();
    println!("imported {} into {}", m.name, report.dir.display());
    println!("  {}", m.title);
    println!(
        "  {} structures, {} part(s); folds averaged: {}; mirroring: {}",
        m.segment_labels().len(),
        m.stages.len() + 1,
        nn.map_or(0, |n| n.folds.len()),
        match nn {
            Some(n) if n.mirror && !n.mirror_axes.is_empty() => "on",
            _ => "off",
        }
    );
    for note in &report.notes {
        println!("  note: {note}");
    }
    println!(
        "run it: stratum segment SCAN --model {} -o labels.nii.gz",
        m.name
    );
    Ok(ExitCode::SUCCESS)
}
