//! Typed errors of the core: each says what is wrong, where, and what to do.

use std::path::PathBuf;

/// Every failure the pipeline can report. Messages are meant for a clinician:
/// they name the file or slice, never a patient-identifying value.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("the operation was cancelled")]
    Cancelled,

    #[error("{}: {source}", short(.path))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path} does not exist")]
    NotFound { path: PathBuf },

    #[error(
        "no DICOM images found in {path} ({ignored} other files were ignored); choose the folder that holds the scan's .dcm files, or a NIfTI file"
    )]
    NoImages { path: PathBuf, ignored: usize },

    #[error("{} is not a readable DICOM file: {reason}", short(.path))]
    NotDicom { path: PathBuf, reason: String },

    #[error("{}: attribute {attribute} is missing or invalid; {hint}", short(.path))]
    BadAttribute {
        path: PathBuf,
        attribute: &'static str,
        hint: &'static str,
    },

    #[error("{}: the image has no pixel data", short(.path))]
    NoPixelData { path: PathBuf },

    #[error("{}: cannot decode pixel data in transfer syntax {transfer_syntax}: {reason}", short(.path))]
    Decode {
        path: PathBuf,
        transfer_syntax: String,
        reason: String,
    },

    #[error("{}: {what} is not supported ({hint})", short(.path))]
    Unsupported {
        path: PathBuf,
        what: String,
        hint: String,
    },

    #[error("the series cannot form a volume: {0}")]
    NotAVolume(String),

    #[error("no series with UID {0} was found; run `stratum inspect` to list the series")]
    NoSuchSeries(String),

    #[error("{path} is not a readable NIfTI file: {reason}")]
    Nifti { path: PathBuf, reason: String },

    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },

    /// Refused before allocating: the study (or a header's claim) needs
    /// more memory than the budget of [`crate::memory`] or its hard cap.
    #[error("{what} needs about {} of memory; {hint}", crate::memory::human(*.needed))]
    TooLarge {
        what: String,
        needed: u64,
        /// The budget in bytes (0 when the hard voxel cap refused it).
        limit: u64,
        hint: String,
        /// For a DICOM series: what would fit (a range, a downsampled copy).
        offer: Option<crate::memory::Offer>,
    },

    /// A file or record of Stratum's own that cannot be read as written.
    #[error("{what} is damaged ({detail} at byte {at}); it cannot be read")]
    Damaged {
        what: &'static str,
        detail: String,
        at: usize,
    },

    #[error(
        "this {what} was written by a newer Stratum (format {found}; this one reads up to {reads}); update Stratum to open it"
    )]
    NewerFormat {
        what: &'static str,
        found: u32,
        reads: u32,
    },

    #[error("there is no segment {id} (it was deleted, or the edit was made for another study)")]
    NoSuchSegment { id: u16 },

    #[error(
        "{what} is on a {found:?} voxel grid and the study on {expected:?}: it does not fit the open study"
    )]
    GridMismatch {
        what: String,
        found: (usize, usize, usize),
        expected: (usize, usize, usize),
    },

    /// A tool that changes a segment was run with none selected.
    #[error("{tool} changes a segment: select the segment first")]
    NoSegmentChosen { tool: String },

    #[error("the label map no longer matches the edit history (it was changed outside it)")]
    OutOfStep,

    #[error("this edit cannot be applied: {0}")]
    EditMismatch(&'static str),

    #[error("{0}")]
    Invalid(String),

    /// A live session's message that the link's key does not open.
    #[error(
        "this link's key does not open the live session's messages: copy the whole link, including the part after '#', or ask the presenter for a new one"
    )]
    LiveWrongKey,

    /// A live session's message that is not what the presenter sent.
    #[error("a live session's message was refused: {0}")]
    LiveRefused(String),
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// A file inside a scan is named by its file name only: folder names often
/// carry the patient's name, and messages end up in logs and screenshots.
/// (Paths the user typed, such as the folder given to `inspect`, are shown
/// as given.)
fn short(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

impl CoreError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        CoreError::Io {
            path: path.into(),
            source,
        }
    }
}
