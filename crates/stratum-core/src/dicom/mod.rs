//! DICOM input: discovering series in a folder, reading headers, building volumes.

pub mod header;
pub mod lengths;
pub mod load;
pub mod scan;

pub use header::{ImageHeader, read_header};
pub use load::{LoadedSeries, decode_frame_values, load_series};
pub use scan::{Scan, Series, SliceRef, scan};
