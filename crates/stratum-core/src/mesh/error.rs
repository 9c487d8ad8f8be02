//! Why a surface cannot be built from what was given.

#[derive(Debug, thiserror::Error)]
pub enum MeshError {
    #[error("the segment is empty: nothing to build")]
    EmptySegment,

    #[error("the volume is empty: nothing to build")]
    EmptyVolume,

    #[error("the segment and the scan are on different grids")]
    GridsDiffer,

    #[error("the surface level {0} is not a number")]
    LevelNotANumber(f64),
}
