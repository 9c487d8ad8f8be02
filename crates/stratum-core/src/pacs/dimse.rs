//! DIMSE messages on a dicom-ul association: the command sets we send
//! (C-ECHO, C-FIND, C-GET, C-MOVE, C-CANCEL, C-STORE and their responses),
//! the assembly of P-DATA fragments into whole messages, and the parsers of
//! what a peer sends (command sets, identifiers, incoming objects). The
//! parsers are the fuzz target `pacs_network`: they take any bytes and
//! answer with a value or an error, never a panic or an unbounded buffer.

use std::io::{Read, Write};

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, Tag, VR, dicom_value};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::{TransferSyntaxRegistry, entries};
use dicom_ul::Pdu;
use dicom_ul::association::{CloseSocket, SyncAssociation};
use dicom_ul::pdu::{PDataValue, PDataValueType};

/// The largest message we assemble (command plus data set): one image of a
/// large enhanced multi-frame object fits; a peer cannot make us hold more.
pub const MAX_MESSAGE_BYTES: usize = 1 << 30;

pub const C_STORE_RQ: u16 = 0x0001;
pub const C_STORE_RSP: u16 = 0x8001;
pub const C_GET_RQ: u16 = 0x0010;
pub const C_GET_RSP: u16 = 0x8010;
pub const C_FIND_RQ: u16 = 0x0020;
pub const C_FIND_RSP: u16 = 0x8020;
pub const C_MOVE_RQ: u16 = 0x0021;
pub const C_MOVE_RSP: u16 = 0x8021;
pub const C_ECHO_RQ: u16 = 0x0030;
pub const C_ECHO_RSP: u16 = 0x8030;
pub const C_CANCEL_RQ: u16 = 0x0FFF;

/// CommandDataSetType: no data set follows.
const NO_DATA: u16 = 0x0101;

/// One whole DIMSE message: its command set, and its data set's bytes (in
/// the presentation context's transfer syntax) when one followed.
#[derive(Clone, Debug)]
pub struct Message {
    pub context: u8,
    pub command: InMemDicomObject,
    pub data: Option<Vec<u8>>,
}

impl Message {
    pub fn field(&self) -> Option<u16> {
        u16_of(&self.command, tags::COMMAND_FIELD)
    }
    pub fn status(&self) -> Option<u16> {
        u16_of(&self.command, tags::STATUS)
    }
    pub fn message_id(&self) -> Option<u16> {
        u16_of(&self.command, tags::MESSAGE_ID)
    }
    pub fn responding_to(&self) -> Option<u16> {
        u16_of(&self.command, tags::MESSAGE_ID_BEING_RESPONDED_TO)
    }
    pub fn str(&self, tag: Tag) -> Option<String> {
        str_of(&self.command, tag)
    }
    /// The sub-operation counters of a C-GET / C-MOVE response.
    pub fn counts(&self) -> SubOperations {
        let n = |t| u16_of(&self.command, t).map(usize::from);
        SubOperations {
            remaining: n(tags::NUMBER_OF_REMAINING_SUBOPERATIONS),
            completed: n(tags::NUMBER_OF_COMPLETED_SUBOPERATIONS).unwrap_or(0),
            failed: n(tags::NUMBER_OF_FAILED_SUBOPERATIONS).unwrap_or(0),
            warning: n(tags::NUMBER_OF_WARNING_SUBOPERATIONS).unwrap_or(0),
        }
    }
}

/// C-GET / C-MOVE sub-operation counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SubOperations {
    pub remaining: Option<usize>,
    pub completed: usize,
    pub failed: usize,
    pub warning: usize,
}

pub fn u16_of(obj: &InMemDicomObject, tag: Tag) -> Option<u16> {
    obj.get(tag)?.to_int::<u16>().ok()
}

pub fn str_of(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    let s = obj.get(tag)?.to_str().ok()?;
    let s = s.trim_end_matches(['\0', ' ']).trim_start();
    (!s.is_empty()).then(|| s.to_string())
}

/// Status classes of PS3.7 C.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusClass {
    Success,
    Pending,
    Cancel,
    Warning,
    Failure,
}

pub fn status_class(status: u16) -> StatusClass {
    match status {
        0x0000 => StatusClass::Success,
        0xFF00 | 0xFF01 => StatusClass::Pending,
        0xFE00 => StatusClass::Cancel,
        0x0001 | 0x0107 | 0x0116 => StatusClass::Warning,
        s if s & 0xF000 == 0xB000 => StatusClass::Warning,
        _ => StatusClass::Failure,
    }
}

/// A status in words, for messages.
pub fn status_text(status: u16) -> String {
    let what = match status {
        0x0000 => "success",
        0xFF00 | 0xFF01 => "pending",
        0xFE00 => "cancelled",
        0xA700 => "out of resources",
        0xA701 => "out of resources: cannot count the matches",
        0xA702 => "out of resources: cannot perform the sub-operations",
        0xA801 => {
            "move destination unknown: the PACS does not know our AE title (add it, with our host and incoming port)"
        }
        0xA900 => "identifier does not match the SOP class",
        0xAA00 | 0x0122 => "SOP class not supported",
        0x0211 => "unrecognised operation",
        0x0213 => "resource limitation",
        0xB000 => "some sub-operations failed",
        s if s & 0xF000 == 0xC000 => "unable to process",
        _ => "error",
    };
    format!("status 0x{status:04X} ({what})")
}

fn command(elements: Vec<DataElement<InMemDicomObject>>) -> InMemDicomObject {
    InMemDicomObject::command_from_element_iter(elements)
}

fn el_u16(tag: Tag, v: u16) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::US, dicom_value!(U16, [v]))
}

fn el_ui(tag: Tag, uid: &str) -> DataElement<InMemDicomObject> {
    DataElement::new(tag, VR::UI, PrimitiveValue::from(uid))
}

pub fn echo_rq(id: u16) -> InMemDicomObject {
    command(vec![
        el_ui(tags::AFFECTED_SOP_CLASS_UID, VERIFICATION),
        el_u16(tags::COMMAND_FIELD, C_ECHO_RQ),
        el_u16(tags::MESSAGE_ID, id),
        el_u16(tags::COMMAND_DATA_SET_TYPE, NO_DATA),
    ])
}

/// A C-FIND, C-GET or C-MOVE request (`field`), with an identifier to follow.
pub fn query_rq(
    field: u16,
    sop_class: &str,
    id: u16,
    move_destination: Option<&str>,
) -> InMemDicomObject {
    let mut e = vec![
        el_ui(tags::AFFECTED_SOP_CLASS_UID, sop_class),
        el_u16(tags::COMMAND_FIELD, field),
        el_u16(tags::MESSAGE_ID, id),
        el_u16(tags::PRIORITY, 0),
        el_u16(tags::COMMAND_DATA_SET_TYPE, 0x0001),
    ];
    if let Some(dest) = move_destination {
        e.push(DataElement::new(
            tags::MOVE_DESTINATION,
            VR::AE,
            PrimitiveValue::from(dest),
        ));
    }
    command(e)
}

pub fn cancel_rq(responding_to: u16) -> InMemDicomObject {
    command(vec![
        el_u16(tags::COMMAND_FIELD, C_CANCEL_RQ),
        el_u16(tags::MESSAGE_ID_BEING_RESPONDED_TO, responding_to),
        el_u16(tags::COMMAND_DATA_SET_TYPE, NO_DATA),
    ])
}

pub fn store_rq(id: u16, sop_class: &str, sop_instance: &str) -> InMemDicomObject {
    command(vec![
        el_ui(tags::AFFECTED_SOP_CLASS_UID, sop_class),
        el_u16(tags::COMMAND_FIELD, C_STORE_RQ),
        el_u16(tags::MESSAGE_ID, id),
        el_u16(tags::PRIORITY, 0),
        el_u16(tags::COMMAND_DATA_SET_TYPE, 0x0001),
        el_ui(tags::AFFECTED_SOP_INSTANCE_UID, sop_instance),
    ])
}

/// The response to a request: C-STORE-RSP or C-ECHO-RSP with `status`.
pub fn response(
    field: u16,
    responding_to: u16,
    sop_class: &str,
    sop_instance: Option<&str>,
    status: u16,
    comment: Option<&str>,
) -> InMemDicomObject {
    let mut e = vec![
        el_ui(tags::AFFECTED_SOP_CLASS_UID, sop_class),
        el_u16(tags::COMMAND_FIELD, field),
        el_u16(tags::MESSAGE_ID_BEING_RESPONDED_TO, responding_to),
        el_u16(tags::COMMAND_DATA_SET_TYPE, NO_DATA),
        el_u16(tags::STATUS, status),
    ];
    if let Some(uid) = sop_instance {
        e.push(el_ui(tags::AFFECTED_SOP_INSTANCE_UID, uid));
    }
    if let Some(c) = comment {
        e.push(DataElement::new(
            tags::ERROR_COMMENT,
            VR::LO,
            PrimitiveValue::from(c.chars().take(64).collect::<String>()),
        ));
    }
    command(e)
}

pub const VERIFICATION: &str = "1.2.840.10008.1.1";
pub const STUDY_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.2.1";
pub const STUDY_ROOT_MOVE: &str = "1.2.840.10008.5.1.4.1.2.2.2";
pub const STUDY_ROOT_GET: &str = "1.2.840.10008.5.1.4.1.2.2.3";

/// Collects P-DATA values into whole messages. A peer may split a command
/// or a data set over any number of fragments and PDUs; what it cannot do is
/// interleave two messages, send a data set without a command, or exceed
/// [`MAX_MESSAGE_BYTES`].
#[derive(Default)]
pub struct Assembler {
    command_bytes: Vec<u8>,
    data_bytes: Vec<u8>,
    /// The parsed command waiting for its data set.
    pending: Option<(u8, InMemDicomObject)>,
}

impl Assembler {
    /// Adds one P-DATA value; a whole message when this value ended one.
    pub fn push(&mut self, pdv: PDataValue) -> Result<Option<Message>, String> {
        match pdv.value_type {
            PDataValueType::Command => {
                if self.pending.is_some() {
                    return Err(
                        "a new command arrived before the data set of the previous one".into(),
                    );
                }
                if self.command_bytes.len() + pdv.data.len() > 1 << 20 {
                    return Err("a command set larger than 1 MiB".into());
                }
                self.command_bytes.extend_from_slice(&pdv.data);
                if !pdv.is_last {
                    return Ok(None);
                }
                let bytes = std::mem::take(&mut self.command_bytes);
                let command = parse_command(&bytes)?;
                let has_data = u16_of(&command, tags::COMMAND_DATA_SET_TYPE)
                    .ok_or("the command has no CommandDataSetType")?
                    != NO_DATA;
                if has_data {
                    self.pending = Some((pdv.presentation_context_id, command));
                    Ok(None)
                } else {
                    Ok(Some(Message {
                        context: pdv.presentation_context_id,
                        command,
                        data: None,
                    }))
                }
            }
            PDataValueType::Data => {
                let Some((context, _)) = &self.pending else {
                    return Err("a data set arrived without a command".into());
                };
                if *context != pdv.presentation_context_id {
                    return Err(
                        "a data set arrived on another presentation context than its command"
                            .into(),
                    );
                }
                if self.data_bytes.len() + pdv.data.len() > MAX_MESSAGE_BYTES {
                    return Err(format!(
                        "a data set larger than {} MiB",
                        MAX_MESSAGE_BYTES >> 20
                    ));
                }
                if self.data_bytes.is_empty() {
                    self.data_bytes = pdv.data;
                } else {
                    self.data_bytes.extend_from_slice(&pdv.data);
                }
                if !pdv.is_last {
                    return Ok(None);
                }
                let (context, command) = self.pending.take().expect("checked above");
                Ok(Some(Message {
                    context,
                    command,
                    data: Some(std::mem::take(&mut self.data_bytes)),
                }))
            }
        }
    }
}

/// A command set: implicit VR little endian, with a CommandField.
pub fn parse_command(bytes: &[u8]) -> Result<InMemDicomObject, String> {
    let ts = entries::IMPLICIT_VR_LITTLE_ENDIAN.erased();
    let obj = guarded_dataset(bytes, &ts).map_err(|e| format!("unreadable command set: {e}"))?;
    if u16_of(&obj, tags::COMMAND_FIELD).is_none() {
        return Err("the command set has no CommandField".into());
    }
    Ok(obj)
}

/// A data set (identifier or object) in transfer syntax `ts_uid`.
pub fn parse_dataset(bytes: &[u8], ts_uid: &str) -> Result<InMemDicomObject, String> {
    let uid = ts_uid.trim_end_matches(['\0', ' ']);
    let ts = TransferSyntaxRegistry
        .get(uid)
        .ok_or_else(|| format!("unknown transfer syntax {uid}"))?;
    guarded_dataset(bytes, ts).map_err(|e| format!("unreadable data set: {e}"))
}

/// Reads a data set from memory with the parser's value lengths bounded
/// by the bytes there are (the patched dicom-parser, third_party/): a
/// damaged length cannot make it reserve more than the message holds.
fn guarded_dataset(
    bytes: &[u8],
    ts: &dicom_encoding::TransferSyntax,
) -> Result<InMemDicomObject, String> {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            dicom_parser::stateful::decode::set_value_length_limit(None);
        }
    }
    let _reset = Reset;
    let deflated = ts.uid().trim_end_matches('\0') == "1.2.840.10008.1.2.1.99";
    let n = bytes.len() as u64;
    dicom_parser::stateful::decode::set_value_length_limit(Some(if deflated {
        n.saturating_mul(1024)
    } else {
        n
    }));
    InMemDicomObject::read_dataset_with_ts(bytes, ts)
        .map_err(|e| super::error::first_line(&e.to_string()))
}

/// What our storage SCP keeps of an incoming C-STORE: the object and the
/// identifiers it is filed under. UIDs must be UIDs (they become file names).
#[derive(Debug)]
pub struct Incoming {
    pub sop_class: String,
    pub sop_instance: String,
    pub series_uid: String,
    pub object: InMemDicomObject,
}

/// Checks an incoming C-STORE: its command names the instance the data set
/// holds, and the data set has the UIDs a series needs.
pub fn parse_incoming(
    command: &InMemDicomObject,
    data: &[u8],
    ts_uid: &str,
) -> Result<Incoming, String> {
    let object = parse_dataset(data, ts_uid)?;
    let get = |t, what: &str| -> Result<String, String> {
        let v = str_of(&object, t).ok_or_else(|| format!("the object has no {what}"))?;
        if !is_uid(&v) {
            return Err(format!("the object's {what} is not a UID"));
        }
        Ok(v)
    };
    let sop_class = get(tags::SOP_CLASS_UID, "SOPClassUID")?;
    let sop_instance = get(tags::SOP_INSTANCE_UID, "SOPInstanceUID")?;
    let series_uid = get(tags::SERIES_INSTANCE_UID, "SeriesInstanceUID")?;
    if let Some(affected) = str_of(command, tags::AFFECTED_SOP_INSTANCE_UID)
        && affected != sop_instance
    {
        return Err("the command and the object name different instances".into());
    }
    Ok(Incoming {
        sop_class,
        sop_instance,
        series_uid,
        object,
    })
}

/// A DICOM UID: 1 to 64 digits and dots, no empty component.
pub fn is_uid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.split('.')
            .all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
}

/// Reads PDUs from `assoc` until a whole message is in. Release and abort
/// requests end the exchange with an error that says so.
pub fn receive<S: Read + Write + CloseSocket, A: SyncAssociation<S>>(
    assoc: &mut A,
    asm: &mut Assembler,
    queue: &mut std::collections::VecDeque<Message>,
) -> Result<Message, ReceiveError> {
    loop {
        if let Some(m) = queue.pop_front() {
            return Ok(m);
        }
        match SyncAssociation::receive(assoc).map_err(ReceiveError::Ul)? {
            Pdu::PData { data } => {
                for pdv in data {
                    if let Some(m) = asm.push(pdv).map_err(ReceiveError::Malformed)? {
                        queue.push_back(m);
                    }
                }
            }
            Pdu::ReleaseRQ => return Err(ReceiveError::Released),
            Pdu::AbortRQ { .. } => return Err(ReceiveError::Aborted),
            other => {
                return Err(ReceiveError::Malformed(format!(
                    "unexpected {}",
                    other.short_description()
                )));
            }
        }
    }
}

#[derive(Debug)]
pub enum ReceiveError {
    Ul(dicom_ul::association::Error),
    Malformed(String),
    Released,
    Aborted,
}

/// Sends a command set and, when given, its data set (split into PDUs that
/// fit the peer's maximum length).
pub fn send<S: Read + Write + CloseSocket, A: SyncAssociation<S>>(
    assoc: &mut A,
    context: u8,
    command: &InMemDicomObject,
    data: Option<&[u8]>,
) -> Result<(), String> {
    let mut bytes = Vec::with_capacity(256);
    command
        .write_dataset_with_ts(&mut bytes, &entries::IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .map_err(|e| e.to_string())?;
    SyncAssociation::send(
        assoc,
        &Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: context,
                value_type: PDataValueType::Command,
                is_last: true,
                data: bytes,
            }],
        },
    )
    .map_err(|e| super::error::first_line(&e.to_string()))?;
    if let Some(data) = data {
        let mut w = assoc.send_pdata(context);
        w.write_all(data).map_err(|e| e.to_string())?;
        w.finish().map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Encodes a data set in transfer syntax `ts_uid` (native syntaxes: ours
/// are built as plain values).
pub fn encode_dataset(obj: &InMemDicomObject, ts_uid: &str) -> Result<Vec<u8>, String> {
    let ts = TransferSyntaxRegistry
        .get(ts_uid)
        .ok_or_else(|| format!("unknown transfer syntax {ts_uid}"))?;
    let mut out = Vec::new();
    obj.write_dataset_with_ts(&mut out, ts)
        .map_err(|e| e.to_string())?;
    Ok(out)
}
