//! The series checklist: completeness, consistency, orientation, artifacts and
//! privacy, each entry ok / warning / error with a sentence that says where
//! and what to do. Values of identifying attributes are never included.

pub mod fitness;
pub mod motion;
pub mod realign;
mod register;

use serde::Serialize;

use crate::dicom::{LoadedSeries, Series};
use crate::image::resample::{StackGeometry, local_typical_step};
use crate::image::volume::{Volume, Voxels};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Error,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Completeness,
    Consistency,
    Orientation,
    Artifacts,
    Privacy,
    /// Whether the scan is good enough for a 3D model.
    Fitness,
}

impl Category {
    pub fn title(self) -> &'static str {
        match self {
            Category::Completeness => "Completeness",
            Category::Consistency => "Consistency",
            Category::Orientation => "Orientation",
            Category::Artifacts => "Artifacts",
            Category::Privacy => "Privacy",
            Category::Fitness => "3D model",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Check {
    pub category: Category,
    /// Short machine-friendly name, e.g. "missing_slices".
    pub name: &'static str,
    pub status: Status,
    pub message: String,
}

/// One report per series.
#[derive(Clone, Debug, Default, Serialize)]
pub struct SeriesReport {
    pub series_id: String,
    pub label: String,
    pub checks: Vec<Check>,
    /// The motion check's findings (DICOM and NIfTI volumes that loaded).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub motion: Option<motion::MotionReport>,
    /// "Is this scan good enough for a 3D model?" with its figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fitness: Option<fitness::Fitness>,
}

impl SeriesReport {
    /// Orders the entries by category (completeness first), keeping the
    /// order within each category.
    pub fn sort(&mut self) {
        self.checks.sort_by_key(|c| c.category as u8);
    }

    pub fn worst(&self) -> Status {
        self.checks
            .iter()
            .map(|c| c.status)
            .max()
            .unwrap_or(Status::Ok)
    }

    pub fn has_errors(&self) -> bool {
        self.worst() == Status::Error
    }

    pub fn get(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    fn push(&mut self, category: Category, name: &'static str, status: Status, message: String) {
        self.checks.push(Check {
            category,
            name,
            status,
            message,
        });
    }
}

/// Options that change what the report says will happen.
#[derive(Clone, Copy, Debug)]
pub struct CheckOptions {
    /// Tilt and uneven spacing will be corrected by resampling.
    pub resample: bool,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions { resample: true }
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// Header-level checks: everything that needs no pixel.
#[tracing::instrument(level = "info", skip_all)]
pub fn check_series(series: &Series, opts: CheckOptions) -> SeriesReport {
    use Category::*;
    let mut r = SeriesReport {
        series_id: series.id.clone(),
        label: series.label(),
        ..SeriesReport::default()
    };
    for p in &series.problems {
        let status = if p.contains("assumed") {
            Status::Warning
        } else {
            Status::Error
        };
        r.push(Completeness, "geometry", status, p.clone());
    }

    // Distinct positions (duplicates collapse).
    let (distinct, duplicates) = series.distinct_slices();
    let dups: Vec<(String, String, f64)> = duplicates
        .iter()
        .map(|(k, s)| {
            (
                series.slice_file_name(distinct[*k]),
                series.slice_file_name(s),
                s.distance,
            )
        })
        .collect();
    let n = distinct.len();
    let (count_status, count_msg) = match n {
        0 => (
            Status::Error,
            "no image of this series has a usable position".to_string(),
        ),
        1 => (
            Status::Error,
            "only 1 slice position: a single image is not a volume; pick a series with more slices"
                .to_string(),
        ),
        2..=4 => (
            Status::Warning,
            format!("only {n} slices: a 3D model from so few slices will be very coarse"),
        ),
        _ => (
            Status::Ok,
            format!("{n} slices of {}x{}", series.columns, series.rows),
        ),
    };
    r.push(Completeness, "slice_count", count_status, count_msg);

    if dups.is_empty() {
        r.push(
            Completeness,
            "duplicates",
            Status::Ok,
            "no two images share a position".into(),
        );
    } else {
        let (a, b, d) = &dups[0];
        let more = if dups.len() > 1 {
            format!(" and {} more", plural(dups.len() - 1, "pair"))
        } else {
            String::new()
        };
        let status = if n <= 1 {
            Status::Error
        } else {
            Status::Warning
        };
        r.push(
            Completeness,
            "duplicates",
            status,
            format!(
                "{} at the same position: {a} and {b} at {d:.2} mm{more}; identical copies are ignored, different images stop loading (the folder may mix scans)",
                plural(dups.len() + 1, "image")
            ),
        );
    }

    let normal = series.normal();
    let positions: Vec<[f64; 3]> = distinct.iter().map(|s| s.position).collect();
    if let (Some(normal), true) = (normal, n >= 2) {
        let stack = StackGeometry::of(&positions, normal);
        // Missing slices: gaps over 1.5x the step their neighbourhood expects.
        let typical = stack.typical_step;
        let mut gaps = Vec::new();
        for (i, s) in stack.steps.iter().enumerate() {
            let local = local_typical_step(&stack.steps, i);
            if local > 0.0 && *s > 1.5 * local {
                gaps.push((i, *s, local));
            }
        }
        if gaps.is_empty() {
            r.push(
                Completeness,
                "missing_slices",
                Status::Ok,
                "no gaps: every step is within 1.5x the step of its neighbours".to_string(),
            );
        } else {
            let missing: usize = gaps
                .iter()
                .map(|(_, s, l)| ((s / l).round() as usize).saturating_sub(1).max(1))
                .sum();
            let (i, s, local) = gaps[0];
            let more = if gaps.len() > 1 {
                format!(" ({} gaps in all)", gaps.len())
            } else {
                String::new()
            };
            r.push(
                Completeness,
                "missing_slices",
                Status::Warning,
                format!(
                    "about {} missing: the gap after slice {} of {n} is {s:.1} mm, between {:.1} and {:.1} mm along the stack, where neighbouring slices are {local:.2} mm apart{more}; the gap will be interpolated, so anatomy there is not real data",
                    plural(missing, "slice"),
                    i + 1,
                    distinct[i].distance,
                    distinct[i + 1].distance,
                ),
            );
        }

        // Uneven spacing (beyond the gaps already reported).
        if stack.is_uneven() {
            let lo = stack.steps.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = stack
                .steps
                .iter()
                .cloned()
                .fold(f64::NEG_INFINITY, f64::max);
            let action = if opts.resample {
                format!("resampled to a uniform {:.2} mm grid", stack.uniform_step)
            } else {
                "not resampled (turn resampling on to get a uniform grid)".to_string()
            };
            r.push(
                Consistency,
                "spacing",
                Status::Warning,
                format!(
                    "slice spacing is uneven: steps from {lo:.2} to {hi:.2} mm (up to {:.2} mm off the typical {typical:.2} mm); {action}",
                    stack.max_deviation
                ),
            );
        } else {
            r.push(
                Consistency,
                "spacing",
                Status::Ok,
                format!("uniform slice spacing of {typical:.2} mm"),
            );
        }

        // Gantry tilt, from positions and orientation only.
        let tag = series.files.iter().find_map(|h| h.gantry_tilt_tag);
        let tag_note = match tag {
            Some(t) if t.abs() > 0.01 => {
                format!(" (the GantryDetectorTilt tag says {t:+.1}°; it is not used)")
            }
            _ => String::new(),
        };
        if stack.is_implausible() {
            r.push(
                Orientation,
                "tilt",
                Status::Error,
                format!(
                    "the slices are stacked {:.1}° away from their normal{tag_note}, further than any gantry tilts: the slice positions or orientation in the headers are damaged, so the series is not put on a grid",
                    stack.tilt_deg
                ),
            );
        } else if stack.is_tilted() {
            let action = if opts.resample {
                "corrected by resampling onto an orthogonal grid"
            } else {
                "not corrected: the volume is sheared (turn resampling on to correct it)"
            };
            r.push(
                Orientation,
                "tilt",
                Status::Warning,
                format!(
                    "gantry tilt of {:.1}° between the stacking direction and the slice normal{tag_note}; {action}",
                    stack.tilt_deg
                ),
            );
        } else {
            r.push(
                Orientation,
                "tilt",
                Status::Ok,
                format!("no gantry tilt{tag_note}"),
            );
        }
    }
    if let Some(o) = series.orientation {
        r.push(Orientation, "plane", Status::Ok, plane_sentence(o));
    }

    if let Some(note) = &series.split_note {
        r.push(
            Consistency,
            "mixed_series",
            Status::Warning,
            format!("this SeriesInstanceUID holds more than one stack ({note}); each is listed as its own series"),
        );
    } else {
        r.push(
            Consistency,
            "mixed_series",
            Status::Ok,
            "one stack: same size, orientation and spacing throughout".into(),
        );
    }

    // InstanceNumber gaps.
    let mut numbers: Vec<i32> = series
        .files
        .iter()
        .filter_map(|h| h.instance_number)
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    let jumps: Vec<(i32, i32)> = numbers
        .windows(2)
        .filter(|w| w[1] - w[0] > 1)
        .map(|w| (w[0], w[1]))
        .collect();
    if series.files.len() > 1 && !jumps.is_empty() {
        let (a, b) = jumps[0];
        r.push(
            Completeness,
            "instance_numbers",
            Status::Warning,
            format!(
                "InstanceNumber jumps from {a} to {b}{}: images may be missing from the export (slices are sorted by position, not by number)",
                if jumps.len() > 1 { format!(" ({} jumps)", jumps.len()) } else { String::new() }
            ),
        );
    } else {
        r.push(
            Completeness,
            "instance_numbers",
            Status::Ok,
            "InstanceNumbers are contiguous".into(),
        );
    }

    // Privacy: names of attributes only.
    let mut names: Vec<&str> = series
        .files
        .iter()
        .flat_map(|h| h.identifying.iter().copied())
        .collect();
    names.sort_unstable();
    names.dedup();
    let private = series.files.iter().any(|h| h.has_private);
    if names.is_empty() && !private {
        r.push(
            Privacy,
            "identifying_data",
            Status::Ok,
            "no patient-identifying attributes found".into(),
        );
    } else {
        let mut what = names.join(", ");
        if private {
            if !what.is_empty() {
                what.push_str(", ");
            }
            what.push_str("private (vendor) attributes");
        }
        r.push(
            Privacy,
            "identifying_data",
            Status::Warning,
            format!("identifying attributes present: {what}; run `stratum anonymize` before sharing the series"),
        );
    }
    // Anonymizing the attributes leaves the pixels as they are.
    let burned = series.files.iter().filter(|h| h.burned_in).count();
    if burned > 0 {
        r.push(
            Privacy,
            "burned_in_text",
            Status::Warning,
            format!(
                "{burned} of {} images may show identifying text in the pixels (BurnedInAnnotation is YES, or a secondary capture / screenshot); anonymizing does not remove it: check the images before sharing",
                series.files.len()
            ),
        );
    }
    r
}

fn plane_sentence(o: [f64; 6]) -> String {
    let n = crate::image::volume::normalize(crate::image::volume::cross(
        [o[0], o[1], o[2]],
        [o[3], o[4], o[5]],
    ));
    let (axis, v) = n.iter().enumerate().fold((0, 0.0f64), |acc, (i, &v)| {
        if v.abs() > acc.1.abs() { (i, v) } else { acc }
    });
    let name = ["sagittal", "coronal", "axial"][axis];
    let oblique = (1.0 - v.abs()) > 1e-3;
    let angle = v.abs().clamp(0.0, 1.0).acos().to_degrees();
    if oblique {
        format!(
            "{name} slices, oblique by {angle:.1}° (geometry taken from ImageOrientationPatient)"
        )
    } else {
        format!("{name} slices (geometry taken from ImageOrientationPatient)")
    }
}

/// Metal above this many HU marks a likely metal implant or object.
pub const METAL_HU: f64 = 2500.0;
/// Voxels above [`METAL_HU`] a slice needs before it is named.
const METAL_MIN_PER_SLICE: usize = 20;

/// Pixel-level checks (artifacts) on a loaded volume.
#[tracing::instrument(level = "info", skip_all)]
pub fn check_volume(report: &mut SeriesReport, volume: &Volume) {
    if !volume.is_ct() {
        report.push(
            Category::Artifacts,
            "metal",
            Status::Ok,
            format!(
                "metal check applies to CT only (this is {})",
                volume.modality
            ),
        );
        return;
    }
    let (share, slices) = metal_slices(volume);
    if slices.is_empty() {
        report.push(
            Category::Artifacts,
            "metal",
            Status::Ok,
            format!(
                "no metal: no slice has {METAL_MIN_PER_SLICE} or more voxels above {METAL_HU} HU"
            ),
        );
    } else {
        report.push(
            Category::Artifacts,
            "metal",
            Status::Warning,
            format!(
                "likely metal in {} ({}; {:.3}% of voxels above {METAL_HU} HU): streak artifacts may make segmentation wrong near them",
                plural(slices.len(), "slice"),
                ranges(&slices),
                share * 100.0
            ),
        );
    }
}

/// The checklist of a NIfTI volume: the format stores one complete, regular
/// grid and no patient attributes, so only geometry and pixels are checked.
#[tracing::instrument(level = "info", skip_all)]
pub fn check_nifti(volume: &Volume) -> SeriesReport {
    let mut report = SeriesReport {
        series_id: "nifti".into(),
        label: "NIfTI volume".into(),
        ..SeriesReport::default()
    };
    let (nz, ny, nx) = volume.dim();
    let g = &volume.geometry;
    report.push(
        Category::Completeness,
        "slices",
        Status::Ok,
        format!("{nz} slices of {nx}x{ny}: a NIfTI file holds the whole grid"),
    );
    report.push(
        Category::Consistency,
        "spacing",
        Status::Ok,
        format!(
            "uniform voxel size {:.2} x {:.2} x {:.2} mm",
            g.spacing[0], g.spacing[1], g.spacing[2]
        ),
    );
    if g.is_orthogonal() {
        report.push(
            Category::Orientation,
            "orientation",
            Status::Ok,
            format!("axes {} (orthogonal)", g.orientation_code()),
        );
    } else {
        report.push(
            Category::Orientation,
            "orientation",
            Status::Warning,
            format!(
                "axes {} are not orthogonal (sheared grid): distances along slices may be distorted",
                g.orientation_code()
            ),
        );
    }
    check_volume(&mut report, volume);
    report.push(
        Category::Privacy,
        "identifying_data",
        Status::Ok,
        "NIfTI has no patient name, ID or birth date attributes (its free-text description is not read)".into(),
    );
    report.sort();
    report
}

/// Share of voxels above the metal level, and the (1-based) slices that hold
/// enough of them to matter.
#[tracing::instrument(level = "info", skip_all)]
pub fn metal_slices(volume: &Volume) -> (f64, Vec<usize>) {
    use rayon::prelude::*;
    fn count<T: crate::image::volume::VoxelType>(a: &ndarray::Array3<T>) -> Vec<usize> {
        a.outer_iter()
            .into_par_iter()
            .map(|s| s.iter().filter(|v| v.to_f64() > METAL_HU).count())
            .collect()
    }
    let per_slice = match &volume.voxels {
        Voxels::U8(_) => vec![0; volume.dim().0],
        Voxels::I16(a) => count(a),
        Voxels::U16(a) => count(a),
        Voxels::I32(a) => count(a),
        Voxels::F32(a) => count(a),
    };
    let total: usize = per_slice.iter().sum();
    let share = total as f64 / volume.voxels.len().max(1) as f64;
    let slices = per_slice
        .iter()
        .enumerate()
        .filter(|(_, c)| **c >= METAL_MIN_PER_SLICE)
        .map(|(i, _)| i + 1)
        .collect();
    (share, slices)
}

/// "slices 3-7, 12" from sorted slice numbers.
pub(crate) fn ranges(v: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            format!("{}", v[i])
        } else {
            format!("{}-{}", v[i], v[j])
        });
        i = j + 1;
    }
    format!(
        "slice{} {}",
        if v.len() == 1 { "" } else { "s" },
        out.join(", ")
    )
}

/// Adds what loading itself found (duplicates ignored, or the load error).
pub fn note_load(
    report: &mut SeriesReport,
    loaded: Result<&LoadedSeries, &crate::base::error::CoreError>,
) {
    match loaded {
        Ok(l) => {
            for n in &l.notes {
                report.push(Category::Completeness, "load", Status::Warning, n.clone());
            }
        }
        Err(e) => report.push(
            Category::Completeness,
            "load",
            Status::Error,
            format!("cannot load: {e}"),
        ),
    }
}
