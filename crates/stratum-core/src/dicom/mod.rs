//! DICOM input: discovering series in a folder, reading headers, building
//! volumes; and a small series writer for tests and demos.

pub mod csa;
mod frame;
pub mod header;
pub mod lengths;
pub mod load;
pub mod mosaic;
mod native;
mod rescale;
pub mod scan;
pub mod subset;
pub mod synth;

pub use header::{ImageHeader, read_header};
pub use load::{
    LoadedSeries, RowVisitor, SliceVisitor, decode_frame_values, load_series, load_series_subset,
    load_series_visiting,
};
pub use scan::{Scan, Series, SliceRef, scan};
pub use subset::Subset;
