//! `stratum models import-nnunet` as a user runs it: the nnU-Net fixture
//! imported into the models folder and listed beside the shipped models;
//! a folder that is not an nnU-Net model refused with the file it lacks.

use std::process::{Command, Output};

use crate::nnunet_support::{fixture, model};

fn stratum(models: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stratum"))
        .args(args)
        .env("STRATUM_MODELS", models)
        .output()
        .expect("run stratum")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn import_nnunet_refuses_a_folder_without_plans() {
    let models = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let out = stratum(
        models.path(),
        &["models", "import-nnunet", empty.path().to_str().unwrap()],
    );
    let s = text(&out);
    assert_eq!(out.status.code(), Some(2), "{s}");
    assert!(s.contains("plans.json is missing"), "{s}");
    assert!(
        std::fs::read_dir(models.path()).unwrap().next().is_none(),
        "nothing written: {s}"
    );
}

#[test]
fn imported_nnunet_model_is_listed_with_the_shipped_ones() {
    let Some(fx) = fixture() else { return };
    let models = tempfile::tempdir().unwrap();
    let out = stratum(
        models.path(),
        &[
            "models",
            "import-nnunet",
            model(&fx).to_str().unwrap(),
            "--fold",
            "0,1",
            "--name",
            "organs",
        ],
    );
    let s = text(&out);
    assert_eq!(out.status.code(), Some(0), "{s}");
    assert!(s.contains("imported organs"), "{s}");
    assert!(
        s.contains("2 structures, 1 part(s); folds averaged: 2; mirroring: on"),
        "{s}"
    );
    assert!(
        s.contains("assumed SAR"),
        "the orientation assumption is said: {s}"
    );
    let out = stratum(models.path(), &["models"]);
    let s = text(&out);
    assert!(
        s.contains("organs") && s.contains("Stratum test organs"),
        "{s}"
    );
    // A second import under the same name is refused, the first kept.
    let out = stratum(
        models.path(),
        &[
            "models",
            "import-nnunet",
            model(&fx).to_str().unwrap(),
            "--name",
            "organs",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("already exists"));
}
