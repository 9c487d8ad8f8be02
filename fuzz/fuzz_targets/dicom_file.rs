//! One DICOM file through header reading, grouping, loading and the pixel
//! decoders of every transfer syntax (native LE/BE, deflate, RLE, JPEG
//! baseline/lossless, JPEG-LS via CharLS, JPEG 2000).
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratum_core::base::progress::Progress;
use stratum_core::dicom::{decode_frame_values, read_header, scan::group};
use stratum_core::read::open::inspect_series;

fuzz_target!(init: stratum_fuzz::init(), |data: &[u8]| {
    let path = stratum_fuzz::write_scratch("image.dcm", data);
    let Ok(header) = read_header(&path) else {
        return;
    };
    // The decoders, frame by frame (a few frames: a multi-frame file's
    // later frames exercise the same code).
    for frame in 0..header.number_of_frames.min(3) {
        let _ = decode_frame_values(&path, frame);
    }
    // Grouping and the loader, as a one-file series (multi-frame files form
    // a volume on their own).
    for series in group(vec![header]) {
        let _ = inspect_series(&series, true, &Progress::new());
    }
});
