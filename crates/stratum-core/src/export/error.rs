//! Why a model or a derived DICOM object cannot be written: what was asked
//! of it, and what to change.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{}: choose an output ending in .stl, .obj, .glb or .3mf", .0.display())]
    UnknownFormat(PathBuf),

    /// No segment has a mesh (`verb`: "export", "share").
    #[error("nothing to {verb}: no segment has a mesh")]
    NoMesh { verb: &'static str },

    #[error("nothing to write: no segment")]
    NoSegment,

    #[error("the segments lie on different grids")]
    GridsDiffer,

    #[error("too many segments or too large an image for DICOM SEG")]
    TooLargeForSeg,

    #[error("the segmentation is empty: no segment has a voxel")]
    EmptySegmentation,

    #[error(
        "{triangles} triangles are too many for a scan texture (at most {max}): reduce the model, or export flat colours"
    )]
    TooManyForTexture { triangles: usize, max: usize },
}
