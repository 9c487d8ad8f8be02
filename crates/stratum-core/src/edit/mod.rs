//! Editing the label map by hand: brushes (paint, erase, sculpt), the brick
//! grid that local remeshing and the edit history share, and the history.
//!
//! The label map stays the one truth: every edit changes voxels; surfaces
//! are derived from them.

pub mod bricks;
pub mod brush;
pub(crate) mod codec;
pub mod diff;
pub mod fill;
pub mod history;
mod nets;
pub mod pick;
pub mod step;
pub mod stroke_tool;
pub mod surface;

pub use brush::{Brush, BrushAction, BrushShape, SliceAxis, Stroke};
pub use diff::LabelKind;
pub use fill::fill_between_slices;
pub use history::{Applied, History, HistoryConfig, HistorySnapshot, StepInfo};
pub use pick::{ball_touches_surface, pick_segment};
pub use step::{Step, StrokeJob, StrokeRecorder};
pub use stroke_tool::BrushStroke;
pub use surface::{ChunkedSurface, SurfaceChunk, surface_nets};
