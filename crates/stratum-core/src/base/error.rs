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
    /// more memory than the budget of [`crate::base::memory`] or its hard cap.
    #[error("{what} needs about {} of memory; {hint}", crate::base::sizes::human(*.needed))]
    TooLarge {
        what: String,
        needed: u64,
        /// The budget in bytes (0 when the hard voxel cap refused it).
        limit: u64,
        hint: String,
        /// For a DICOM series: what would fit (a range, a downsampled copy).
        offer: Option<crate::base::sizes::Offer>,
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

    // What a caller asked of a segment, a brush or a cut that cannot be
    // done: each names the thing, and what to do where there is something.
    /// A number the caller gave is outside what the operation takes.
    #[error("{what} must be {expected}, not {found}")]
    OutOfRange {
        what: &'static str,
        expected: &'static str,
        found: String,
    },

    /// A point or bound the caller gave is not a finite number.
    #[error("{what} is not a finite number")]
    NotANumber { what: &'static str },

    /// A slice index past the end of the scan along the view's axis.
    #[error("slice {slice} is outside the scan ({count} slices in that view)")]
    SliceOutside { slice: usize, count: usize },

    /// An edit or a measurement that needs a segment chosen first.
    #[error("no segment is selected: {hint}")]
    NoSegmentSelected { hint: &'static str },

    /// The same segment given for two roles that must differ.
    #[error("{what} needs two different segments")]
    SameSegment { what: &'static str },

    /// A segment with no voxels where the operation needs some.
    #[error("{segment} is empty: {consequence}")]
    EmptySegment {
        segment: String,
        consequence: &'static str,
    },

    /// A segment whose 3D model has not been built, where one is needed.
    #[error("{which} has no surface yet: build its 3D model first")]
    NoSurface { which: &'static str },

    /// Something an operation needs the scan for, without the scan.
    #[error("{what} needs the scan: load the scan the label map belongs to")]
    NeedsScan { what: &'static str },

    /// Geometry that defines nothing: points on a line, repeated points, a
    /// direction of length zero.
    #[error("{what} {why}")]
    Degenerate {
        what: &'static str,
        why: &'static str,
    },

    /// A cutting surface with too few or too many points.
    #[error("a cutting surface needs at least {min} and at most {max} points ({placed} placed)")]
    CutPoints {
        placed: usize,
        min: usize,
        max: usize,
    },

    /// A step of the edit history (in memory or in its spill file) that
    /// cannot be read back.
    #[error("an edit-history step is damaged ({detail}); older steps cannot be undone")]
    HistoryDamaged { detail: String },

    /// A label map whose labels do not fit the storage asked for.
    #[error("the label map holds labels above {max} and cannot be stored as {storage}")]
    LabelsTooWide { max: u16, storage: &'static str },

    // AI models: which model, which manifest field, what does not match.
    /// A model name that is not installed.
    #[error("no model named {name:?} in {}; installed: {installed}", .dir.display())]
    NoSuchModel {
        name: String,
        dir: PathBuf,
        installed: String,
    },

    /// A model asked for where there is no models folder at all.
    #[error("no model named {name:?}: the models folder {} does not exist; {why}", .dir.display())]
    NoModelsFolder {
        name: String,
        dir: PathBuf,
        why: String,
    },

    /// A model manifest that cannot be read, or whose values are wrong.
    #[error("{}: {reason}", .path.display())]
    BadManifest { path: PathBuf, reason: String },

    /// A manifest field whose value cannot be used.
    #[error("manifest field `{field}` {why}")]
    ManifestField { field: &'static str, why: String },

    /// The ONNX model's inputs or outputs are not what its manifest says.
    #[error("the model does not match its manifest: {detail}")]
    ModelMismatch { detail: String },

    /// ONNX Runtime could not run the model on a patch.
    #[error("{model} failed {stage}: {reason}")]
    ModelRun {
        model: String,
        stage: &'static str,
        reason: String,
    },

    /// ONNX Runtime could not be loaded (`detail`: where it was looked
    /// for, or what the library said).
    #[error(
        "AI segmentation needs ONNX Runtime {}+ ({detail}): reinstall Stratum (its \
         package and folder ship it), put {} beside the stratum executable or set \
         ORT_DYLIB_PATH to it; from source, run scripts/fetch-onnxruntime.sh. Everything else \
         works without it",
        crate::base::install::ORT_VERSION,
        crate::base::install::ORT_LIBRARY
    )]
    NoRuntime { detail: String },

    /// ONNX Runtime could not open a model file.
    #[error("{}: {reason}", .path.display())]
    ModelOpen { path: PathBuf, reason: String },

    /// A model folder of that name whose manifest or file is unusable
    /// (`reason` names the folder and what is wrong).
    #[error("{reason}")]
    ModelUnreadable { name: String, reason: String },

    /// An nnU-Net folder that could not be imported.
    #[error(transparent)]
    NnUnetImport(crate::ai::nnunet::ImportError),

    /// More labels than a label map holds.
    #[error("{what} produces more than {max} labels")]
    TooManyLabels { what: String, max: usize },

    // Sessions and the autosave journal: which file, what is wrong with it.
    /// A folder or file that is not a session Stratum wrote.
    #[error("{} is not a Stratum session: {reason}", .path.display())]
    NotASession { path: PathBuf, reason: String },

    /// A session's or journal's file that does not read as written.
    #[error("{} is damaged: {reason}", .path.display())]
    SessionDamaged { path: PathBuf, reason: String },

    /// The scan a session was saved with is not where it was, nor beside
    /// the session (`name`: its file or folder name).
    #[error(
        "the session's scan ({name}) is not where it was saved any more: move it back beside the session or to its old place, then open the session again"
    )]
    SessionScanMissing { name: String },

    #[error("the session's scan folder holds several series and none matches")]
    SessionScanAmbiguous,

    /// The scan found for a session is on another grid than its labels.
    #[error("the scan {name} is not the session's: {found:?} voxels, the labels have {expected:?}")]
    SessionScanMismatch {
        name: String,
        found: (usize, usize, usize),
        expected: (usize, usize, usize),
    },

    /// A session (or an autosave, `unsaved`) saved without a scan.
    #[error("the {} names no scan: open the scan first", if *.unsaved { "unsaved session" } else { "session" })]
    SessionNoScan { unsaved: bool },

    /// A file that is not an autosave journal.
    #[error("{} is not an autosave journal", .path.display())]
    NotAJournal { path: PathBuf },

    /// A folder asked to be removed as an autosave that is not one.
    #[error("{} is not an autosave folder; nothing was removed", .path.display())]
    NotAutosaveFolder { path: PathBuf },

    /// A journal record that cannot be replayed onto its session.
    #[error("an autosave record cannot be replayed: {detail}")]
    JournalRecord { detail: String },

    /// The autosave journal stopped writing (the first failure, kept).
    #[error("autosave stopped: {0}")]
    AutosaveStopped(String),

    /// A session or autosave that could not be serialised.
    #[error("cannot write {what}: {reason}")]
    Serialize { what: &'static str, reason: String },

    // Reading a DICOM series: which part was asked for, which frame.
    /// A range of slices past the series.
    #[error("slices {first}-{last} were asked for; the series has {count} (numbered from 1)")]
    SlicesOutside {
        first: usize,
        last: usize,
        count: usize,
    },

    /// A downsampling factor that leaves no volume.
    #[error(
        "downsampling {cols} x {rows} x {slices} voxels {factor} times leaves less than 2 slices of 1 x 1"
    )]
    DownsampleTooFar {
        cols: usize,
        rows: usize,
        slices: usize,
        factor: usize,
    },

    /// A frame number past the file's frames.
    #[error("{}: frame {frame} requested, the file has {count}", short(.path))]
    NoSuchFrame {
        path: PathBuf,
        frame: u32,
        count: usize,
    },

    /// A rescaled pixel value that does not fit the voxel type being
    /// decoded into (the loader then decodes into a wider one).
    #[error("a rescaled pixel value does not fit the volume's voxel type")]
    ValueOutOfRange,

    /// A background job that panicked (`what`: the panic's own words).
    #[error(
        "an internal error stopped it ({what}); the study and your edits are unchanged, and the app keeps running. Please report this"
    )]
    JobPanicked { what: String },

    /// A PACS operation that failed (boxed: a `PacsError` can hold a
    /// `CoreError`).
    #[error(transparent)]
    Pacs(Box<crate::pacs::PacsError>),

    /// A buffer the core made itself is not laid out as it expects: a bug,
    /// not a problem with the input.
    #[error("internal error: {0}; please report it")]
    Internal(&'static str),

    /// A file Stratum ships (a demo scan, the viewer's script) missing
    /// from its data folder.
    #[error(
        "{file} is missing from Stratum's data folder {} ({origin}): reinstall Stratum, or set STRATUM_DATA to a folder that holds it",
        .folder.display()
    )]
    MissingData {
        file: String,
        folder: PathBuf,
        origin: &'static str,
    },

    /// No data folder anywhere (the places tried, and what to do).
    #[error("{0}")]
    NoDataFolder(crate::base::install::NoData),

    /// A slice re-alignment made for a scan with more slices.
    #[error(
        "the re-alignment names slice {slice}, the volume has {count}; it was made for another scan"
    )]
    RealignmentSlice { slice: usize, count: usize },

    #[error("unknown volume rendering preset '{name}' (one of {choices})")]
    UnknownRenderPreset { name: String, choices: String },

    /// A de-identified copy asked for inside the folder it copies.
    #[error(
        "the output folder {} is inside the input folder; choose a folder outside it so the source stays untouched",
        .output.display()
    )]
    OutputInsideInput { output: PathBuf },

    // The rooms with errors of their own: each enum lives with its code.
    #[error(transparent)]
    Live(#[from] crate::live::error::LiveError),

    #[error(transparent)]
    Batch(#[from] crate::batch::error::BatchError),

    #[error(transparent)]
    Convert(#[from] crate::convert::error::ConvertError),

    #[error(transparent)]
    Mesh(#[from] crate::mesh::error::MeshError),

    #[error(transparent)]
    Segment(#[from] crate::segment::error::SegmentError),

    #[error(transparent)]
    Export(#[from] crate::export::error::ExportError),

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
