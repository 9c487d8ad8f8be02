//! What a peer sends, taken apart by every parser of ours in turn: the
//! entry point of the `pacs_network` fuzz target and of its regression
//! test. Above the protocol modules, so none of them imports another back.

use dicom_ul::Pdu;

use super::assoc::MAX_PDU;
use super::dimse::{Assembler, Message, parse_dataset, parse_incoming};
use super::query::{series_hit, study_hit};

/// Everything our wire parsers make of `bytes` taken as what a peer sent:
/// PDUs, assembled into messages, each command checked, each data set read
/// in transfer syntax `ts_uid` as an identifier (a C-FIND match) and as an
/// incoming object. The entry point of the `pacs_network` fuzz target.
pub fn parse_wire(bytes: &[u8], ts_uid: &str) -> Result<Vec<Message>, String> {
    let mut cur = std::io::Cursor::new(bytes);
    let mut asm = Assembler::default();
    let mut out = Vec::new();
    loop {
        let before = cur.position();
        match dicom_ul::read_pdu(&mut cur, MAX_PDU, false) {
            Ok(Some(Pdu::PData { data })) => {
                for pdv in data {
                    if let Some(m) = asm.push(pdv)? {
                        out.push(m);
                    }
                }
            }
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => return Err(e.to_string()),
        }
        if cur.position() == before {
            break;
        }
    }
    for m in &out {
        let _ = (m.field(), m.status(), m.counts(), m.responding_to());
        if let Some(d) = &m.data {
            if let Ok(o) = parse_dataset(d, ts_uid) {
                let _ = study_hit(&o);
                let _ = series_hit(&o);
            }
            let _ = parse_incoming(&m.command, d, ts_uid);
        }
    }
    Ok(out)
}
