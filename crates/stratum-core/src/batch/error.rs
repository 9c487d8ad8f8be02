//! What stops a batch: its input, its list of studies, its plan, or one
//! study's conversion; each says which file or line and what to do.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("{} is neither a folder, a list of studies (.csv, .tsv) nor a NIfTI file", .0.display())]
    NotAnInput(PathBuf),

    #[error("{} holds no files: point batch at the folder that holds the studies", .0.display())]
    EmptyFolder(PathBuf),

    #[error("{} is empty: it needs a header row with a path column, then one study per row", .0.display())]
    EmptyList(PathBuf),

    #[error("{}: unknown column {column:?}; a list has the columns {columns}", .list.display())]
    UnknownColumn {
        list: PathBuf,
        column: String,
        columns: String,
    },

    #[error("{}: no path column in the header row (the columns are {columns})", .list.display())]
    NoPathColumn { list: PathBuf, columns: String },

    #[error("{} line {line}: the path is empty", .list.display())]
    EmptyPath { list: PathBuf, line: usize },

    #[error("the list gives label names but no label map (column labels)")]
    NamesWithoutLabels,

    #[error(
        "the list gives this study more than one of preset, threshold, model and labels; give one"
    )]
    SeveralSources,

    #[error("unknown preset {0:?} in the list: use bone, soft-tissue, lungs, skin or vessels")]
    UnknownPreset(String),

    #[error("{} is damaged ({reason}); remove it to plan the batch again", .path.display())]
    PlanDamaged { path: PathBuf, reason: String },

    #[error(
        "{} was written by another version of Stratum (plan version {found}, this one reads {reads}); use a new output folder",
        .path.display()
    )]
    PlanVersion {
        path: PathBuf,
        found: u32,
        reads: u32,
    },

    /// A record, report or plan that could not be serialised (`what`: "save
    /// the plan", "write the report", ...).
    #[error("cannot {what}: {reason}")]
    Serialize { what: &'static str, reason: String },

    /// What the discovery found wrong with the study (kept in the plan).
    #[error("{0}")]
    Unreadable(String),

    #[error("the de-identified copy holds no series")]
    NoSeriesInCopy,

    #[error(
        "the series planned for this study is no longer in its folder; run batch again so it plans anew"
    )]
    SeriesGone,

    #[error("the conversion stopped on an internal error ({0}); please report it")]
    Panicked(String),
}

impl BatchError {
    pub(crate) fn serialize(what: &'static str) -> impl FnOnce(serde_json::Error) -> BatchError {
        move |e| BatchError::Serialize {
            what,
            reason: e.to_string(),
        }
    }
}
