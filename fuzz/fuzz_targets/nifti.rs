//! NIfTI-1 volumes and label maps, plain (.nii) and gzip-compressed
//! (.nii.gz): the loader, the label-map conversion and the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratum_core::base::progress::Progress;
use stratum_core::checks::check_nifti;
use stratum_core::read::nifti::load_nifti;
use stratum_core::segment::LabelMap;

fuzz_target!(init: stratum_fuzz::init(), |data: &[u8]| {
    // The gzip magic decides the name, as a user's file name would.
    let name = if data.starts_with(&[0x1f, 0x8b]) {
        "volume.nii.gz"
    } else {
        "volume.nii"
    };
    let path = stratum_fuzz::write_scratch(name, data);
    let Ok(volume) = load_nifti(&path, &Progress::new()) else {
        return;
    };
    let _ = check_nifti(&volume);
    let _ = LabelMap::from_volume(&volume, &|_| None);
});
