//! One call from a path to a checked volume: what the app and the CLI use.

use std::path::Path;

use crate::base::error::{CoreError, Result};
use crate::base::progress::Progress;
use crate::checks::fitness::{self, ScanFacts};
use crate::checks::motion::{self, detect_motion_with};
use crate::checks::realign::{Realign, realign};
use crate::checks::{
    CheckOptions, SeriesReport, check_nifti, check_series, check_volume, note_load,
};
use crate::dicom::{LoadedSeries, Series, SliceVisitor, Subset, load_series_visiting, scan};
use crate::image::resample::resample_uniform;
use crate::image::volume::Volume;
use crate::read::nifti::{is_nifti_path, load_nifti};

#[derive(Clone, Debug)]
pub struct OpenOptions {
    /// Series id, UID or 1-based number; the largest series when `None`.
    pub series: Option<String>,
    /// Resample tilted or unevenly spaced stacks onto an orthogonal uniform grid.
    pub resample: bool,
    /// Part of a DICOM series (a range of slices, a downsampled copy) when
    /// the whole does not fit; NIfTI files are read whole.
    pub subset: Subset,
    /// Re-align slices the motion check finds moved (before resampling).
    pub realign: Realign,
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
            realign: Realign::No,
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
    inspect_series_with(series, resample, subset, &Realign::No, progress)
}

/// [`inspect_series_subset`], re-aligning moved slices as `realign` says.
pub fn inspect_series_with(
    series: &Series,
    resample: bool,
    subset: &Subset,
    realign: &Realign,
    progress: &Progress,
) -> (SeriesReport, Result<Volume>) {
    let mut report = check_series(series, CheckOptions { resample });
    // The motion check's profiles are taken as the slices are decoded.
    let early = motion::DecodeProfiles::for_modality(&series.modality);
    let visit = early.as_ref().map(|e| e as &dyn SliceVisitor<i16>);
    let loaded = load_series_visiting(series, subset, visit, progress);
    note_load(&mut report, loaded.as_ref());
    let loaded = match loaded {
        Ok(l) => l,
        Err(e) => {
            report.sort();
            return (report, Err(e));
        }
    };
    check_volume(&mut report, &loaded.volume);
    let facts = ScanFacts::of_series(series, &loaded.positions);
    let LoadedSeries {
        volume,
        positions,
        notes,
    } = loaded;
    let loaded = match check_pixels_with(
        &mut report,
        volume,
        Some(&positions),
        early,
        &facts,
        realign,
        progress,
    ) {
        Ok(volume) => LoadedSeries {
            volume,
            positions,
            notes,
        },
        Err(e) => {
            report.sort();
            return (report, Err(e));
        }
    };
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
            return Err(CoreError::Unsupported {
                path: path.to_path_buf(),
                what: "opening a range of slices or a downsampled copy of a NIfTI file".into(),
                hint: "a NIfTI file is read whole; those can be opened from DICOM series only"
                    .into(),
            });
        }
        let volume = load_nifti(path, progress)?;
        let mut report = check_nifti(&volume);
        let volume = check_pixels(
            &mut report,
            volume,
            None,
            &ScanFacts::default(),
            &opts.realign,
            progress,
        )?;
        report.sort();
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
    let (report, volume) =
        inspect_series_with(series, opts.resample, &opts.subset, &opts.realign, progress);
    Ok(Opened {
        volume: volume?,
        report,
    })
}

/// The checks that read the voxels of a loaded volume (before resampling,
/// so slices are the scan's own): motion between slices, re-aligning the
/// moved slices when asked, and the fitness for a 3D model. Returns the
/// volume, re-aligned or as it was.
pub fn check_pixels(
    report: &mut SeriesReport,
    volume: Volume,
    positions: Option<&[[f64; 3]]>,
    facts: &ScanFacts,
    how: &Realign,
    progress: &Progress,
) -> Result<Volume> {
    check_pixels_with(report, volume, positions, None, facts, how, progress)
}

/// [`check_pixels`] with the motion check's profiles taken while the
/// volume was decoded.
fn check_pixels_with(
    report: &mut SeriesReport,
    volume: Volume,
    positions: Option<&[[f64; 3]]>,
    early: Option<motion::DecodeProfiles>,
    facts: &ScanFacts,
    how: &Realign,
    progress: &Progress,
) -> Result<Volume> {
    let mut found = detect_motion_with(&volume, positions, early, progress)?;
    let plan = match how {
        Realign::No => None,
        Realign::Offered => found.offer(),
        Realign::Exactly(plan) => Some(plan.clone()),
    };
    let volume = match &plan {
        Some(p) => realign(&volume, p)?,
        None => volume,
    };
    found.applied = plan;
    fitness::add_to_report(report, fitness::assess(&volume, facts));
    motion::add_to_report(report, found);
    Ok(volume)
}
