//! Editing the label map by hand: brushes (paint, erase, sculpt), the brick
//! grid that local remeshing and the edit history share, and the history.
//!
//! The label map stays the one truth: every edit changes voxels; surfaces
//! are derived from them.

pub mod bricks;
pub(crate) mod codec;
pub mod diff;
pub mod history;
pub mod step;

pub use diff::LabelKind;
pub use history::{Applied, History, HistoryConfig, HistorySnapshot, StepInfo};
pub use step::{Step, StrokeRecorder};
