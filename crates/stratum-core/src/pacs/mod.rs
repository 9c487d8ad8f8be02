//! Hospital connection: find, retrieve and send studies over DICOM (C-ECHO,
//! C-FIND, C-GET, C-MOVE to our own storage SCP, C-STORE) and DICOMweb, into
//! a local cache whose series folders only ever appear whole.
//!
//! Associations and PDUs are dicom-ul's; this module builds the DIMSE
//! messages on them (as dicom-rs' findscu / movescu / storescu / storescp
//! do) and keeps what the network sends at arm's length: every response
//! and incoming object goes through [`dimse`]'s parsers, which are fuzzed.

mod assoc;
mod cache;
pub mod dimse;
mod error;
mod node;
mod query;
mod retrieve;
mod scp;
mod store;
mod tls;
pub mod web;
pub mod wire;

pub use cache::Cache;
pub use error::PacsError;
pub use node::{Node, PacsConfig, TlsSettings, config_path};
pub use query::{FindQuery, SeriesHit, StudyHit, echo, find, find_series};
pub use retrieve::{RetrieveMethod, Retrieved, retrieve_series, retrieve_series_to};
pub use scp::StorageScp;
pub use store::{StoreReport, store_files};

/// Our implementation class UID (a 2.25 UUID-derived root, PS3.5 B.2).
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.178106466421232196390117011424137391713";

/// Result of the PACS functions.
pub type Result<T, E = PacsError> = std::result::Result<T, E>;
