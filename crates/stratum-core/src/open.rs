//! One call from a path to a checked volume: what the app and the CLI use.

use std::path::Path;

use crate::checks::{
    CheckOptions, SeriesReport, check_nifti, check_series, check_volume, note_load,
};
use crate::dicom::{Series, Subset, load_series_subset, scan};
use crate::error::{CoreError, Result};
use crate::nifti_io::{is_nifti_path, load_nifti};
use crate::progress::Progress;
use crate::resample::resample_uniform;
use crate::volume::Volume;

#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Series id, UID or 1-based number; the largest series when `None`.
    pub series: Option<String>,
    /// Resample tilted or unevenly spaced stacks onto an orthogonal uniform grid.
    pub resample: bool,
    /// Part of a DICOM series (a range of slices, a downsampled copy) when
    /// the whole does not fit; NIfTI files are read whole.
    pub subset: Subset,
}

impl OpenOptions {
    /// The defaults of the app and the CLI: largest series, resampling on.
    pub fn new() -> Self {
        Self::default()
    }
}

/// One set of defaults: a derived `Default` would turn resampling off.
impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            series: None,
            resample: true,
            subset: Subset::default(),
        }
    }
}

/// A volume ready for segmentation, with the checklist that describes it.
#[derive(Clone, Debug)]
pub struct Opened {
    pub volume: Volume,
    pub report: SeriesReport,
}

/// Checks and loads one DICOM series: header checks, decode, pixel checks,
/// then resampling when asked. The report is returned even when loading
/// fails, so the caller can show why.
pub fn inspect_series(
    series: &Series,
    resample: bool,
    progress: &Progress,
) -> (SeriesReport, Result<Volume>) {
    inspect_series_subset(series, resample, &Subset::default(), progress)
}

/// [`inspect_series`] for the part of the series `subset` names (a range
/// of slices, a downsampled copy); the header checks cover the whole.
#[tracing::instrument(level = "info", skip_all)]
pub fn inspect_series_subset(
    series: &Series,
    resample: bool,
    subset: &Subset,
    progress: &Progress,
) -> (SeriesReport, Result<Volume>) {
    let mut report = check_series(series, CheckOptions { resample });
    let loaded = load_series_subset(series, subset, progress);
    note_load(&mut report, loaded.as_ref());
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            report.sort();
            return (report, Err(e));
        }
    };
    check_volume(&mut report, &loaded.volume);
    report.sort();
    let volume = if resample {
        resample_uniform(loaded, progress)
    } else {
        Ok(loaded.volume)
    };
    (report, volume)
}

/// Opens a DICOM folder/file or a NIfTI file.
#[tracing::instrument(level = "info", skip_all)]
pub fn open_volume(path: &Path, opts: &OpenOptions, progress: &Progress) -> Result<Opened> {
    if is_nifti_path(path) {
        if !opts.subset.is_whole() {
            return Err(CoreError::Invalid(format!(
                "{} is a NIfTI file, read whole: a range of slices or a downsampled copy can be opened from DICOM series only",
                path.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            )));
        }
        let volume = load_nifti(path, progress)?;
        let report = check_nifti(&volume);
        return Ok(Opened { volume, report });
    }
    let scan = scan(path, progress)?;
    let series = match &opts.series {
        Some(key) => scan.find(key)?,
        None => scan.largest().ok_or_else(|| CoreError::NoImages {
            path: path.to_path_buf(),
            ignored: scan.ignored,
        })?,
    };
    let (report, volume) = inspect_series_subset(series, opts.resample, &opts.subset, progress);
    Ok(Opened {
        volume: volume?,
        report,
    })
}
