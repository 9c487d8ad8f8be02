//! Imports an nnU-Net trained-model folder with the core alone (what
//! `stratum models import-nnunet` does, without building the app), for the
//! benchmark (bench/nnunet.sh):
//!
//!     cargo run --release -p stratum-core --example nnunet_import -- MODELS_DIR NAME FOLDER... [--fold 0,1] [--no-mirroring]

use std::path::PathBuf;

use stratum_core::ai::nnunet::{ImportOptions, import_nnunet};
use stratum_core::base::progress::Progress;

fn main() -> anyhow::Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut opts = ImportOptions::default();
    if let Some(i) = args.iter().position(|a| a == "--no-mirroring") {
        args.remove(i);
        opts.mirror = false;
    }
    if let Some(i) = args.iter().position(|a| a == "--fold") {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        args.drain(i..(i + 2).min(args.len()));
        opts.folds = Some(v.split(',').map(str::to_string).collect());
    }
    let [dir, name, folders @ ..] = args.as_slice() else {
        anyhow::bail!(
            "usage: nnunet_import MODELS_DIR NAME FOLDER... [--fold 0,1] [--no-mirroring]"
        );
    };
    opts.name = Some(name.clone());
    let folders: Vec<PathBuf> = folders.iter().map(PathBuf::from).collect();
    let t = std::time::Instant::now();
    let r = import_nnunet(&folders, &PathBuf::from(dir), &opts, &Progress::new())?;
    println!(
        "{}",
        serde_json::json!({"imported": r.manifest.name, "dir": r.dir, "import_s": t.elapsed().as_secs_f64(),
            "notes": r.notes})
    );
    Ok(())
}
