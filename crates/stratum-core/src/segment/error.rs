//! Why a segmentation tool made nothing, or cannot run on what it was
//! given: each says what to change.

#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// A threshold window (or preset) that takes no voxel of the scan.
    #[error("no voxel lies between {lo:.0} and {hi:.0}: widen the window")]
    EmptyWindow { lo: f64, hi: f64 },

    #[error("the seed is outside the volume")]
    SeedOutside,

    #[error(
        "the seed's value {value} is outside the range {lo}..{hi}; pick a point inside the structure"
    )]
    SeedOutsideRange { value: f64, lo: f64, hi: f64 },

    /// A tool that combines two segments, run without the second.
    #[error("{tool}: pick the other segment first")]
    NoOtherSegment { tool: String },

    /// The island tool's point, where the segment has no voxel.
    #[error("the point picked is not in the segment: click inside the island to keep")]
    NotInSegment,

    /// The island tool, run before a point was picked.
    #[error("{tool}: click a point of the island to keep on a slice first")]
    NoPointPicked { tool: String },

    #[error("the two segments are on different grids")]
    GridsDiffer,

    /// A volume read as a label map whose voxels are not labels.
    #[error("a label map needs non-negative integer voxels")]
    NotLabels,
}
