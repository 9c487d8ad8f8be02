//! What stops a conversion (to files, a share page or a live session)
//! before anything is written: where the output goes, what there is to show.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("the output would overwrite the input")]
    OverwritesInput,

    #[error(
        "{}: name a DICOM output NAME.seg.dcm (segmentation), NAME.stl.dcm (Encapsulated STL) or NAME.obj.dcm (Encapsulated OBJ + MTL)",
        .0.display()
    )]
    DicomOutputName(PathBuf),

    #[error("{}: the share page is an .html file", .0.display())]
    NotHtml(PathBuf),

    /// Neither a scan nor a saved session was named (the CLI's share and
    /// live).
    #[error("name the scan (a DICOM folder or a NIfTI file), or give a saved session: --session S")]
    NoInput,

    /// A threshold or preset that takes no voxel.
    #[error(
        "the segmentation is empty: no voxel is in the chosen range; try another preset or threshold"
    )]
    EmptyRange,

    #[error("the segmentation is empty: nothing to show")]
    NothingToShow,

    #[error(
        "{} is not the scan the session {} was made on (its voxels differ)",
        .scan.display(),
        .session.display()
    )]
    NotTheSessionScan { scan: PathBuf, session: PathBuf },

    #[error("the session {} has no visible segment with voxels: nothing to show", .0.display())]
    SessionEmpty(PathBuf),

    /// The live session's document has no visible segment with voxels.
    #[error("no visible segment has voxels: nothing to show")]
    NoVisibleVoxels,

    /// A margin map asked of a format that carries no colours.
    #[error(
        "{}: a margin map is written into .obj and .glb files (and the share page), not .{extension}",
        .output.display()
    )]
    MarginFormat {
        output: PathBuf,
        extension: &'static str,
    },

    /// `--margin A,B` named a segment that is not there.
    #[error("--margin: no segment {name:?} (there are {there}); name two segments: A,B")]
    MarginSegment { name: String, there: String },

    /// `--margin A,A`.
    #[error("--margin {0},{0}: name two different segments")]
    MarginSame(String),
}
