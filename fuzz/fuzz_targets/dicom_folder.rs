//! A folder of two to four DICOM files (the input split at the separator)
//! through scan, grouping, checks, loading and resampling: the path of
//! `stratum inspect` and `open_volume`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratum_core::dicom::scan;
use stratum_core::read::open::inspect_series;
use stratum_core::{read::open::OpenOptions, base::progress::Progress, read::open::open_volume};

fuzz_target!(init: stratum_fuzz::init(), |data: &[u8]| {
    let dir = stratum_fuzz::fresh_dir("series");
    for (i, part) in stratum_fuzz::split_files(data, 4).iter().enumerate() {
        std::fs::write(dir.join(format!("{i}.dcm")), part).expect("scratch write");
    }
    let progress = Progress::new();
    if let Ok(found) = scan(&dir, &progress) {
        for series in &found.series {
            let _ = inspect_series(series, true, &progress);
        }
    }
    let _ = open_volume(&dir, &OpenOptions::default(), &progress);
});
