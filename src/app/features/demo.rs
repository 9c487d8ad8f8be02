//! The demo study: an abdominal CT (TotalSegmentator's example, Apache-2.0,
//! see assets/demo/SOURCE.txt) and its organ label map, shipped in Stratum's
//! data folder (stratum_core::base::install) so a fresh install shows anatomy
//! without any download.

use std::path::{Path, PathBuf};

/// The demo files on disk.
pub struct DemoFiles {
    pub ct: PathBuf,
    pub labels: PathBuf,
    pub names: PathBuf,
}

/// The demo study's files in the data folder (read only, never written), or
/// an error that says which is missing and what to do.
pub fn materialize() -> std::io::Result<DemoFiles> {
    let d = stratum_core::base::install::demo_study()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(DemoFiles {
        ct: d.ct,
        labels: d.labels,
        names: d.names,
    })
}

/// The request that opens the demo study with its organ labels.
pub fn open_request() -> std::io::Result<crate::app::features::loading::OpenRequest> {
    let d = materialize()?;
    Ok(crate::app::features::loading::OpenRequest {
        path: d.ct,
        series: None,
        labels: Some((d.labels, Some(d.names))),
        subset: Default::default(),
    })
}

/// True for the demo CT's path.
pub fn is_demo(path: &Path) -> bool {
    stratum_core::base::install::demo_study().is_ok_and(|d| d.ct == path)
}
