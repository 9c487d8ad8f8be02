//! What Stratum parses from the network: a peer's PDUs assembled into DIMSE
//! messages (responses to C-ECHO / C-FIND / C-GET / C-MOVE / C-STORE, and
//! the objects our storage SCP receives), their data sets read as C-FIND
//! matches and incoming objects, and DICOMweb JSON (QIDO-RS matches). The
//! first byte picks the transfer syntax the data sets are read in.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stratum_core::pacs::wire::parse_wire;

const SYNTAXES: [&str; 4] = [
    "1.2.840.10008.1.2",
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.1.99",
];

fuzz_target!(init: stratum_fuzz::init(), |data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let _ = parse_wire(rest, SYNTAXES[pick as usize % SYNTAXES.len()]);
    let _ = stratum_core::pacs::web::parse_qido(rest);
});
