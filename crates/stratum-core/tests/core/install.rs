//! Where the data folder and ONNX Runtime are found: beside the executable,
//! in the install prefix, in the standard folders, in the source tree; an
//! override is the only place looked at; a development build prefers its
//! source tree to an installed copy. Every case on made-up folders.

use std::path::{Path, PathBuf};

use stratum_core::base::install::{
    LookupEnv, ORT_LIBRARY, Origin, data_candidates, locate_data, locate_ort, ort_candidates,
};

/// A data folder at `dir` (what `is_data_folder` recognises: `models/`).
fn data_at(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("models")).unwrap();
    dir.to_path_buf()
}

fn ort_at(path: &Path) -> PathBuf {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, b"not really a library").unwrap();
    path.to_path_buf()
}

/// An installed layout under `root`: `<root>/usr/bin/stratum`, data in
/// `usr/share/stratum`, the runtime in `usr/lib/stratum`; a source tree and
/// an XDG data home beside it, none holding anything yet.
fn env_in(root: &Path) -> LookupEnv {
    LookupEnv {
        stratum_data: None,
        ort_dylib_path: None,
        exe: Some(root.join("usr/bin/stratum")),
        xdg_data_home: Some(root.join("home/.local/share")),
        xdg_data_dirs: Some(root.join("xdg").into_os_string()),
        source_tree: Some(root.join("src")),
        dev_build: false,
    }
}

#[test]
fn installed_package_data_is_found_from_the_executable() {
    let t = tempfile::tempdir().unwrap();
    let env = env_in(t.path());
    let share = data_at(&t.path().join("usr/share/stratum"));
    // The clone is there too: the installed copy still wins.
    data_at(&t.path().join("src"));
    let found = locate_data(&env).unwrap();
    assert_eq!(found.path, share);
    assert_eq!(found.origin, Origin::Prefix);
    assert_eq!(found.models(), share.join("models"));
}

#[test]
fn portable_folder_beside_the_executable_comes_first() {
    let t = tempfile::tempdir().unwrap();
    let env = env_in(t.path());
    data_at(&t.path().join("usr/share/stratum"));
    data_at(&t.path().join("home/.local/share/stratum"));
    let portable = data_at(&t.path().join("usr/bin"));
    let found = locate_data(&env).unwrap();
    assert_eq!((found.path, found.origin), (portable, Origin::BesideExe));
}

#[test]
fn standard_folders_come_before_the_source_tree_in_a_release() {
    let t = tempfile::tempdir().unwrap();
    let env = env_in(t.path());
    data_at(&t.path().join("src"));
    let xdg = data_at(&t.path().join("xdg/stratum"));
    let found = locate_data(&env).unwrap();
    assert_eq!((found.path, found.origin), (xdg, Origin::Standard));
    // The user's own data home comes before the system's folders.
    let home = data_at(&t.path().join("home/.local/share/stratum"));
    assert_eq!(locate_data(&env).unwrap().path, home);
}

#[test]
fn source_tree_is_the_last_resort_of_a_release() {
    let t = tempfile::tempdir().unwrap();
    let env = env_in(t.path());
    let src = data_at(&t.path().join("src"));
    assert_eq!(locate_data(&env).unwrap().path, src);
    // Without $XDG_DATA_DIRS the system's folders are XDG's defaults.
    let env = LookupEnv {
        xdg_data_dirs: None,
        ..env
    };
    let places: Vec<(PathBuf, Origin)> = data_candidates(&env)
        .into_iter()
        .map(|c| (c.path, c.origin))
        .collect();
    let standard = |p: &str| (PathBuf::from(p), Origin::Standard);
    let local = places
        .iter()
        .position(|c| *c == standard("/usr/local/share/stratum"));
    let usr = places
        .iter()
        .position(|c| *c == standard("/usr/share/stratum"));
    assert!(local.is_some() && local < usr, "{places:?}");
    assert_eq!(places.last(), Some(&(src, Origin::SourceTree)));
}

#[test]
fn development_build_prefers_its_source_tree_to_an_installed_copy() {
    let t = tempfile::tempdir().unwrap();
    let env = LookupEnv {
        // target/debug/stratum: nothing beside it.
        exe: Some(t.path().join("target/debug/stratum")),
        dev_build: true,
        ..env_in(t.path())
    };
    let src = data_at(&t.path().join("src"));
    data_at(&t.path().join("xdg/stratum"));
    let found = locate_data(&env).unwrap();
    assert_eq!((found.path, found.origin), (src, Origin::SourceTree));
}

#[test]
fn stratum_data_is_the_only_place_when_set() {
    let t = tempfile::tempdir().unwrap();
    let elsewhere = data_at(&t.path().join("elsewhere"));
    data_at(&t.path().join("usr/bin"));
    let env = LookupEnv {
        stratum_data: Some(elsewhere.clone()),
        ..env_in(t.path())
    };
    assert_eq!(locate_data(&env).unwrap().path, elsewhere);
    // A wrong value says so instead of falling back to another folder.
    let env = LookupEnv {
        stratum_data: Some(t.path().join("typo")),
        ..env_in(t.path())
    };
    let e = locate_data(&env).unwrap_err().to_string();
    assert!(
        e.contains("STRATUM_DATA is set to") && e.contains("typo"),
        "{e}"
    );
}

#[test]
fn missing_data_names_every_place_looked_in_and_what_to_do() {
    let t = tempfile::tempdir().unwrap();
    let env = LookupEnv {
        xdg_data_dirs: Some(t.path().join("nowhere").into_os_string()),
        ..env_in(t.path())
    };
    let tried = data_candidates(&env);
    assert_eq!(tried.len(), 5, "{tried:?}");
    let e = locate_data(&env).unwrap_err().to_string();
    for c in &tried {
        assert!(e.contains(&c.path.display().to_string()), "{e}");
    }
    assert!(e.contains("STRATUM_DATA") && e.contains("reinstall"), "{e}");
}

#[test]
fn a_data_folder_reports_the_files_it_lacks() {
    let t = tempfile::tempdir().unwrap();
    let env = env_in(t.path());
    let share = data_at(&t.path().join("usr/share/stratum"));
    let found = locate_data(&env).unwrap();
    let missing = found.missing();
    assert!(
        missing.iter().any(|m| m.ends_with("example_ct.nii.gz")),
        "{missing:?}"
    );
    assert!(
        missing.iter().any(|m| m.ends_with("model-viewer.min.js")),
        "{missing:?}"
    );
    let e = found
        .file("assets/demo/example_ct.nii.gz")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(&share.display().to_string()) && e.contains("reinstall"),
        "{e}"
    );
    // The repository itself is a complete data folder (what the package ships).
    let repo = locate_data(&LookupEnv {
        stratum_data: Some(crate::repo()),
        ..LookupEnv::default()
    })
    .unwrap();
    assert_eq!(repo.missing(), Vec::<String>::new());
}

#[test]
fn onnx_runtime_is_found_beside_the_executable_then_in_the_prefix() {
    let t = tempfile::tempdir().unwrap();
    let env = env_in(t.path());
    let lib = ort_at(&t.path().join("usr/lib/stratum").join(ORT_LIBRARY));
    ort_at(&t.path().join("src/.ort").join(ORT_LIBRARY));
    let found = locate_ort(&env).unwrap();
    assert_eq!((found.path, found.origin), (lib, Origin::Prefix));
    let portable = ort_at(&t.path().join("usr/bin/lib").join(ORT_LIBRARY));
    assert_eq!(locate_ort(&env).unwrap().path, portable);
    // A development build takes the source tree's .ort/ over /usr/lib/stratum.
    let dev = LookupEnv {
        exe: Some(t.path().join("target/debug/stratum")),
        dev_build: true,
        ..env_in(t.path())
    };
    let found = locate_ort(&dev).unwrap();
    assert_eq!(found.origin, Origin::SourceTree);
}

#[test]
fn ort_dylib_path_is_the_only_place_when_set() {
    let t = tempfile::tempdir().unwrap();
    ort_at(&t.path().join("usr/bin").join(ORT_LIBRARY));
    let env = LookupEnv {
        ort_dylib_path: Some(t.path().join("gone.so")),
        ..env_in(t.path())
    };
    let cands = ort_candidates(&env);
    assert_eq!(cands.len(), 1);
    assert_eq!(cands[0].origin, Origin::Override);
    assert!(locate_ort(&env).is_err());
}
