//! An nnU-Net checkpoint (`checkpoint_final.pth`): the whole reader on the
//! bytes as a file (zip archive, CRC-32s, pickle, tensors), and the pickle
//! machine alone on the same bytes as a data.pkl, which the archive's CRCs
//! would otherwise keep mutations away from.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratum_core::ai::nnunet::checkpoint::{read_checkpoint, run_pickle};

fuzz_target!(init: stratum_fuzz::init(), |data: &[u8]| {
    let _ = run_pickle(data);
    let path = stratum_fuzz::write_scratch("checkpoint_final.pth", data);
    if let Ok(c) = read_checkpoint(&path) {
        let _ = c.weights.values().map(|t| t.data.len()).sum::<usize>();
    }
});
