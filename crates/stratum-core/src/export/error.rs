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

    /// The margin map names a segment that is not exported.
    #[error(
        "the margin map colours segment {number} of {exported} exported: choose one of the exported segments"
    )]
    MarginSegment { number: usize, exported: usize },

    #[error(
        "margin thresholds {near} and {far} mm: give two positive distances, the first not above the second (e.g. 5 and 10)"
    )]
    MarginThresholds { near: f32, far: f32 },
}
