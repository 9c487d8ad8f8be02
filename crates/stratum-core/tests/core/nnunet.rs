//! nnU-Net import: a model folder of the real shape with random weights
//! (tests/support/nnunet_fixture.py) converted by Stratum and run through
//! ONNX Runtime gives the labels and probabilities nnU-Net's own predictor
//! gives (one fold and two, with and without mirroring, on the plan's grid
//! and on an anisotropic scan that both resample); damaged or unsupported
//! folders are refused by name.

use std::path::{Path, PathBuf};

use ndarray::Array3;
use stratum_core::ai::nnunet::{ImportError, ImportOptions, import_nnunet, run};
use stratum_core::ai::{ModelInfo, segment_with_model};
use stratum_core::{
    base::progress::Progress, image::volume::Geometry, image::volume::Volume, image::volume::Voxels,
};

use crate::nnunet_support::{copy_tree, fixture, model};

/// A fixture scan as a volume whose (z, y, x) array is the network's
/// (D, H, W) in the default "SAR" orientation: x towards the right, y
/// anterior, z superior.
fn scan(fx: &Path, case: &str) -> Volume {
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fx.join(format!("scan_{case}.json"))).unwrap(),
    )
    .unwrap();
    let shape: Vec<usize> = meta["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let sp: Vec<f64> = meta["spacing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let raw = std::fs::read(fx.join(format!("scan_{case}.raw"))).unwrap();
    let v: Vec<i16> = raw
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect();
    let voxels = Array3::from_shape_vec((shape[0], shape[1], shape[2]), v).unwrap();
    let geometry = Geometry {
        spacing: [sp[2], sp[1], sp[0]],
        direction: [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]],
        ..Geometry::default()
    };
    Volume::new(Voxels::I16(voxels), geometry, "CT")
}

fn import(fx: &Path, folds: &[&str], mirror: bool, dir: &Path) -> ModelInfo {
    let opts = ImportOptions {
        name: Some("test".into()),
        folds: Some(folds.iter().map(|s| s.to_string()).collect()),
        mirror,
        ..ImportOptions::default()
    };
    let report = import_nnunet(&[model(fx)], dir, &opts, &Progress::new()).unwrap();
    ModelInfo {
        dir: report.dir,
        manifest: report.manifest,
    }
}

/// Stratum against nnU-Net on one case: labels at least 99.9 % the same,
/// softmax within 1e-3 everywhere.
fn compare(case: &str, folds: &[&str], mirror: bool) {
    let Some(fx) = fixture() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let info = import(&fx, folds, mirror, tmp.path());
    let vol = scan(&fx, case);
    let (labels, probs, _) =
        run::predict(&vol, &info.dir, &info.manifest, &Progress::new()).unwrap();
    let tag = format!(
        "{case}_{}_{}",
        folds.join(""),
        if mirror { "mirror" } else { "plain" }
    );
    let seg = std::fs::read(fx.join(format!("ref_{tag}.seg"))).unwrap();
    let n = labels.len();
    assert_eq!(seg.len(), n, "reference size");
    let same = labels
        .iter()
        .zip(&seg)
        .filter(|(a, b)| **a == **b as u16)
        .count();
    let raw = std::fs::read(fx.join(format!("ref_{tag}.prob"))).unwrap();
    let reference: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(reference.len(), probs.len() * n);
    let mut worst = 0f32;
    for (c, p) in probs.iter().enumerate() {
        for (a, b) in p.iter().zip(&reference[c * n..(c + 1) * n]) {
            worst = worst.max((a - b).abs());
        }
    }
    let over = probs
        .iter()
        .enumerate()
        .map(|(c, p)| {
            p.iter()
                .zip(&reference[c * n..(c + 1) * n])
                .filter(|(a, b)| (*a - *b).abs() > 1e-3)
                .count()
        })
        .sum::<usize>();
    let classes: std::collections::BTreeSet<u8> = seg.iter().copied().collect();
    eprintln!(
        "{tag}: {same}/{n} labels equal, softmax within {worst:e} ({over} of {} values past 1e-3), classes {classes:?}",
        probs.len() * n
    );
    assert!(
        classes.len() >= 2,
        "the reference is degenerate: {classes:?}"
    );
    assert!(
        same as f64 >= 0.999 * n as f64,
        "{tag}: only {same} of {n} labels equal nnU-Net's"
    );
    // nnU-Net keeps its logits in f16: a logit that ONNX Runtime computes a
    // hair (1e-6) away from PyTorch can round to the neighbouring f16 value,
    // one step of 0.004 at |logit| 4..8, which moves the softmax by up to
    // ~1e-3. So: within 1e-3 everywhere but such steps, and no step larger.
    assert!(
        over * 10_000 <= probs.len() * n,
        "{tag}: {over} softmax values differ from nnU-Net's by more than 1e-3"
    );
    assert!(
        worst <= 2e-3,
        "{tag}: softmax differs from nnU-Net's by {worst}"
    );
}

#[test]
fn one_fold_matches_nnunet_without_mirroring() {
    compare("grid", &["0"], false);
}

#[test]
fn one_fold_matches_nnunet_with_mirroring() {
    compare("grid", &["0"], true);
}

#[test]
fn two_folds_ensemble_matches_nnunet_without_mirroring() {
    compare("grid", &["0", "1"], false);
}

#[test]
fn two_folds_ensemble_matches_nnunet_with_mirroring() {
    compare("grid", &["0", "1"], true);
}

#[test]
fn anisotropic_scan_resampled_both_ways_matches_nnunet() {
    compare("aniso", &["0"], false);
}

#[test]
fn imported_model_segments_through_the_common_path() {
    let Some(fx) = fixture() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let info = import(&fx, &["0"], false, tmp.path());
    // Listed like a shipped model, with its labels' English names.
    let listed: Vec<_> = stratum_core::ai::list_models(tmp.path());
    assert!(
        listed
            .iter()
            .any(|m| m.as_ref().is_ok_and(|m| m.manifest.name == "test"))
    );
    let names: Vec<&str> = info
        .manifest
        .output
        .labels
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(names, ["Liver", "Left kidney"]);
    let vol = scan(&fx, "grid");
    let seg = segment_with_model(&vol, &info, &Progress::new()).unwrap();
    let (labels, _, _) = run::predict(&vol, &info.dir, &info.manifest, &Progress::new()).unwrap();
    // The same labels (segment ids follow the manifest's order here).
    let ids: Vec<(u16, &str)> = seg
        .labels
        .segments
        .iter()
        .map(|s| (s.id, s.name.as_str()))
        .collect();
    for ((z, y, x), b) in labels.indexed_iter() {
        let want = match *b {
            0 => 0,
            l => ids
                .iter()
                .find(|(_, n)| *n == names[l as usize - 1])
                .map_or(0, |(i, _)| *i),
        };
        assert_eq!(seg.labels.get(z, y, x), want);
    }
    assert!(!seg.soft.is_empty(), "soft edges come from the logits");
}

#[test]
fn parts_import_as_one_model_whose_later_part_wins() {
    let Some(fx) = fixture() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let opts = ImportOptions {
        name: Some("two-parts".into()),
        folds: Some(vec!["0".into()]),
        mirror: false,
        ..ImportOptions::default()
    };
    let report = import_nnunet(
        &[model(&fx), model(&fx)],
        tmp.path(),
        &opts,
        &Progress::new(),
    )
    .unwrap();
    let m = &report.manifest;
    assert_eq!(m.stages.len(), 1);
    assert!(
        m.stages[0].region.is_none(),
        "a part runs on the whole scan"
    );
    assert!(report.dir.join("part1_fold_0.onnx").is_file());
    assert!(report.dir.join("part2_fold_0.onnx").is_file());
    let info = ModelInfo {
        dir: report.dir.clone(),
        manifest: m.clone(),
    };
    let seg = segment_with_model(&scan(&fx, "grid"), &info, &Progress::new()).unwrap();
    // Both parts name the same structures; the second paints over the first.
    assert!(seg.labels.segments.len() <= 4 && !seg.labels.segments.is_empty());
}

fn refused(folder: &Path, opts: ImportOptions) -> ImportError {
    let tmp = tempfile::tempdir().unwrap();
    let e =
        import_nnunet(&[folder.to_path_buf()], tmp.path(), &opts, &Progress::new()).unwrap_err();
    assert!(
        std::fs::read_dir(tmp.path()).unwrap().next().is_none(),
        "a refused import leaves nothing behind"
    );
    e
}

fn damaged_copy(fx: &Path, tmp: &Path) -> PathBuf {
    let d = tmp.join("nnUNetTrainer__nnUNetPlans__3d_fullres");
    copy_tree(&model(fx), &d);
    d
}

#[test]
fn folder_with_a_missing_or_damaged_file_is_refused_by_name() {
    let Some(fx) = fixture() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let one = || ImportOptions {
        folds: Some(vec!["0".into()]),
        ..ImportOptions::default()
    };

    let d = damaged_copy(&fx, &tmp.path().join("a"));
    std::fs::remove_file(d.join("plans.json")).unwrap();
    let e = refused(&d, one()).to_string();
    assert!(e.contains("plans.json"), "{e}");

    let d = damaged_copy(&fx, &tmp.path().join("b"));
    std::fs::remove_file(d.join("dataset.json")).unwrap();
    let e = refused(&d, one()).to_string();
    assert!(e.contains("dataset.json is missing"), "{e}");

    let d = damaged_copy(&fx, &tmp.path().join("c"));
    let e = refused(
        &d,
        ImportOptions {
            folds: Some(vec!["3".into()]),
            ..ImportOptions::default()
        },
    )
    .to_string();
    assert!(
        e.contains("fold_3") && e.contains("checkpoint_final.pth"),
        "{e}"
    );

    let d = damaged_copy(&fx, &tmp.path().join("d"));
    std::fs::write(d.join("dataset.json"), "{ \"labels\": ").unwrap();
    let e = refused(&d, one()).to_string();
    assert!(
        e.contains("dataset.json is damaged") && e.contains("JSON"),
        "{e}"
    );

    // Cut short, as an interrupted copy leaves it.
    let d = damaged_copy(&fx, &tmp.path().join("e"));
    let ck = d.join("fold_0/checkpoint_final.pth");
    let bytes = std::fs::read(&ck).unwrap();
    std::fs::write(&ck, &bytes[..bytes.len() / 2]).unwrap();
    let e = refused(&d, one());
    assert!(matches!(e, ImportError::Damaged { .. }), "{e}");
    assert!(
        e.to_string().contains("checkpoint_final.pth is damaged"),
        "{e}"
    );

    // One weight's bytes changed in place: the archive's CRC-32 says so.
    let d = damaged_copy(&fx, &tmp.path().join("f"));
    let ck = d.join("fold_0/checkpoint_final.pth");
    let mut bytes = std::fs::read(&ck).unwrap();
    let at = bytes.len() * 3 / 4;
    bytes[at] ^= 0x5a;
    std::fs::write(&ck, &bytes).unwrap();
    let e = refused(&d, one());
    assert!(matches!(e, ImportError::Damaged { .. }), "{e}");

    // Weights that do not fit the plans (the plan's widths changed).
    let d = damaged_copy(&fx, &tmp.path().join("g"));
    let mut plans: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("plans.json")).unwrap()).unwrap();
    plans["configurations"]["3d_fullres"]["architecture"]["arch_kwargs"]["features_per_stage"][1] =
        24.into();
    std::fs::write(d.join("plans.json"), plans.to_string()).unwrap();
    let e = refused(&d, one()).to_string();
    assert!(
        e.contains("does not fit the plans") && e.contains("shape"),
        "{e}"
    );
}

#[test]
fn region_training_and_the_cascade_are_refused_by_name() {
    let Some(fx) = fixture() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let d = damaged_copy(&fx, &tmp.path().join("regions"));
    let text = std::fs::read_to_string(d.join("dataset.json")).unwrap();
    let text = text.replace("\"kidney_left\": 2", "\"kidney_left\": [1, 2]");
    std::fs::write(d.join("dataset.json"), text).unwrap();
    let e = refused(&d, ImportOptions::default()).to_string();
    assert!(
        e.contains("region-based training") && e.contains("not supported"),
        "{e}"
    );

    let cascade = model(&fx).with_file_name("nnUNetTrainer__nnUNetPlans__3d_cascade_fullres");
    let e = refused(&cascade, ImportOptions::default()).to_string();
    assert!(e.contains("cascade") && e.contains("3d_lowres"), "{e}");
}
