//! The embedded demo study: an abdominal CT (TotalSegmentator's example,
//! Apache-2.0, see assets/demo/SOURCE.txt) and its organ label map, compiled
//! into the binary so a fresh install shows anatomy without any download.

use std::path::{Path, PathBuf};

const CT: &[u8] = include_bytes!("../../../assets/demo/example_ct.nii.gz");
const LABELS: &[u8] = include_bytes!("../../../assets/demo/example_seg_fast_force_split.nii.gz");
const NAMES: &[u8] = include_bytes!("../../../assets/demo/labels_total_ct.tsv");

/// The demo files on disk (written once into the temp folder).
pub struct DemoFiles {
    pub ct: PathBuf,
    pub labels: PathBuf,
    pub names: PathBuf,
}

/// Writes the embedded files to `<tmp>/stratum-demo-<version>` if needed.
pub fn materialize() -> std::io::Result<DemoFiles> {
    let dir = std::env::temp_dir().join(format!("stratum-demo-{}", env!("CARGO_PKG_VERSION")));
    std::fs::create_dir_all(&dir)?;
    let put = |name: &str, bytes: &[u8]| -> std::io::Result<PathBuf> {
        let p = dir.join(name);
        if std::fs::metadata(&p).map(|m| m.len()).ok() != Some(bytes.len() as u64) {
            stratum_core::atomic::write_bytes_atomic(&p, bytes)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        Ok(p)
    };
    Ok(DemoFiles {
        ct: put("example_ct.nii.gz", CT)?,
        labels: put("example_seg.nii.gz", LABELS)?,
        names: put("labels_total_ct.tsv", NAMES)?,
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

/// True for the path the demo CT is written to.
pub fn is_demo(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "example_ct.nii.gz")
        && path
            .parent()
            .and_then(|p| p.file_name())
            .is_some_and(|n| n.to_string_lossy().starts_with("stratum-demo-"))
}
