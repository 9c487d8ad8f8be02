//! `stratum models` and `stratum segment --model`: the installed AI models,
//! and one run over a scan written as a NIfTI label map, with each segment's
//! volume and, for lesions, how many pieces and how large.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use super::with_progress;

pub(super) fn models_cmd() -> anyhow::Result<ExitCode> {
    let dir = stratum_core::ai::models_dir();
    let models = stratum_core::ai::list_models(&dir);
    println!("models in {}:", dir.display());
    if models.is_empty() {
        println!("  none (a model is a folder with model.onnx and manifest.json)");
    }
    let mut bad = false;
    for m in models {
        match m {
            Ok(info) => {
                let m = &info.manifest;
                println!(
                    "  {:<16} {} [{}, {}; {}]",
                    m.name, m.title, m.modality, m.anatomy, m.licence
                );
            }
            Err(e) => {
                bad = true;
                println!("  (not usable) {e}");
            }
        }
    }
    match stratum_core::ai::runtime::available() {
        Ok(()) => println!(
            "ONNX Runtime {}: loaded",
            stratum_core::ai::runtime::ORT_VERSION
        ),
        Err(e) => println!("{e}"),
    }
    Ok(if bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

pub(super) fn segment_cmd(
    input: PathBuf,
    model: String,
    output: PathBuf,
    series: Option<String>,
    subset: stratum_core::dicom::Subset,
) -> anyhow::Result<ExitCode> {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !(name.ends_with(".nii.gz") || name.ends_with(".nii")) {
        anyhow::bail!(
            "the label map is written as NIfTI: give -o a name ending in .nii.gz or .nii"
        );
    }
    let model = stratum_core::ai::find_model(&stratum_core::ai::models_dir(), &model)?;
    let mut open = stratum_core::read::open::OpenOptions::new();
    open.series = series;
    open.subset = subset;
    let seg = with_progress(false, |p| {
        let opened = stratum_core::read::open::open_volume(&input, &open, p)?;
        let seg = stratum_core::ai::segment_with_model(&opened.volume, &model, p)?;
        Ok::<_, stratum_core::base::error::CoreError>(seg)
    })?;
    stratum_core::read::nifti::write_labels_nifti(&output, &seg.labels)?;
    let counts = seg.labels.counts();
    let g = seg.labels.geometry;
    let voxel_ml = g.spacing.iter().product::<f64>() / 1000.0;
    println!("{:<6} {:<28} {:>10}", "label", "segment", "volume mL");
    for s in &seg.labels.segments {
        let n = counts.get(s.id as usize).copied().unwrap_or(0);
        println!("{:<6} {:<28} {:>10.1}", s.id, s.name, n as f64 * voxel_ml);
        // Lesions come as several pieces: their count and sizes matter
        // (a line of its own, so the volume stays the row's last column).
        let pieces = stratum_core::ai::component_volumes_ml(&seg.labels.mask(s.id));
        if pieces.len() > 1 {
            let largest: Vec<String> = pieces.iter().take(5).map(|v| format!("{v:.1}")).collect();
            println!(
                "       in {} pieces, largest (mL): {}",
                pieces.len(),
                largest.join(", ")
            );
        }
    }
    for e in &seg.empty {
        println!("       {e:<28} {:>10}", "not found");
    }
    let t = &seg.times;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "model grid {:?}, {} patches; ms: load {:.0}, resample {:.0}, normalise {:.0}, patches {:.0}, run {:.0}, stitch {:.0}, back {:.0}, post {:.0}",
        seg.model_grid,
        seg.patches,
        ms(t.load),
        ms(t.resample),
        ms(t.normalise),
        ms(t.patches),
        ms(t.run),
        ms(t.stitch),
        ms(t.resample_back),
        ms(t.postprocess)
    );
    println!("wrote {}", output.display());
    Ok(ExitCode::SUCCESS)
}
