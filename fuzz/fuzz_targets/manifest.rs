//! A model manifest (models/*/manifest.json): the public parse-and-check
//! path `Manifest::load` runs on a model folder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratum_core::ai::manifest::MANIFEST_FILE;
use stratum_core::ai::{Manifest, list_models};

fuzz_target!(init: stratum_fuzz::init(), |data: &[u8]| {
    let dir = stratum_fuzz::scratch().join("model");
    std::fs::create_dir_all(&dir).expect("scratch folder");
    std::fs::write(dir.join(MANIFEST_FILE), data).expect("scratch write");
    if let Ok(m) = Manifest::load(&dir) {
        let _ = m.channels();
    }
    // The model list reads the same file through its own path.
    let _ = list_models(stratum_fuzz::scratch());
});
