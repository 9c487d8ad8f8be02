//! Finds the DICOM images under a folder and groups them into series that
//! each form one volume: by SeriesInstanceUID first, then split by image
//! size, orientation, spacing and stack so two volumes never mix.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::header::{ImageHeader, looks_like_dicom, read_header};
use crate::base::error::{CoreError, Result};
use crate::base::progress::Progress;
use crate::image::volume::{cross, dot, norm, normalize, sub};

/// (file index, frame index) pairs, and the note that explains a split.
type Part = (Vec<(usize, u32)>, Option<String>);

/// One 2D image of a series: a frame of a file.
#[derive(Clone, Debug, PartialEq)]
pub struct SliceRef {
    /// Index into [`Series::files`].
    pub file: usize,
    pub frame: u32,
    /// ImagePositionPatient (LPS mm).
    pub position: [f64; 3],
    /// Position along the slice normal (mm): the sort key.
    pub distance: f64,
    pub slope: f64,
    pub intercept: f64,
}

/// A set of images that belong to one volume.
#[derive(Clone, Debug)]
pub struct Series {
    /// Identifier for `--series`: the SeriesInstanceUID, with `#k` appended
    /// when one UID had to be split into several stacks.
    pub id: String,
    pub series_uid: String,
    pub modality: String,
    pub description: String,
    pub series_number: Option<i32>,
    pub rows: u32,
    pub columns: u32,
    /// Row direction then column direction (unit vectors, LPS).
    pub orientation: Option<[f64; 6]>,
    /// (between rows, between columns) mm.
    pub pixel_spacing: Option<[f64; 2]>,
    pub files: Vec<ImageHeader>,
    /// Images sorted by position along the slice normal.
    pub slices: Vec<SliceRef>,
    /// Why this stack was split from others that share its UID.
    pub split_note: Option<String>,
    /// Problems found while grouping (missing geometry, ...).
    pub problems: Vec<String>,
}

impl Series {
    /// Unit normal of the slice planes.
    pub fn normal(&self) -> Option<[f64; 3]> {
        let o = self.orientation?;
        Some(normalize(cross([o[0], o[1], o[2]], [o[3], o[4], o[5]])))
    }

    /// The slices at distinct positions (within 0.01 mm), and each other
    /// slice found at one of them with the index of that position. The one
    /// rule the checklist and the loader share.
    pub fn distinct_slices(&self) -> (Vec<&SliceRef>, Vec<(usize, &SliceRef)>) {
        let mut kept: Vec<&SliceRef> = Vec::with_capacity(self.slices.len());
        let mut duplicates = Vec::new();
        for s in &self.slices {
            match kept.last() {
                Some(last) if norm(sub(last.position, s.position)) < 0.01 => {
                    duplicates.push((kept.len() - 1, s));
                }
                _ => kept.push(s),
            }
        }
        (kept, duplicates)
    }

    pub fn file_of(&self, s: &SliceRef) -> &ImageHeader {
        &self.files[s.file]
    }

    /// Short name of a slice's file for messages (file name only, no folders:
    /// folder names often carry patient names).
    pub fn slice_file_name(&self, s: &SliceRef) -> String {
        file_name(&self.files[s.file].path)
    }

    pub fn label(&self) -> String {
        let n = self
            .series_number
            .map(|n| format!("#{n} "))
            .unwrap_or_default();
        let d = if self.description.is_empty() {
            "(no description)".to_string()
        } else {
            self.description.clone()
        };
        format!("{n}{} {d}", self.modality)
    }
}

pub(crate) fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What a folder holds.
#[derive(Debug, Default)]
pub struct Scan {
    pub root: PathBuf,
    pub series: Vec<Series>,
    /// Files that are not DICOM (text, licences, images...).
    pub ignored: usize,
    /// DICOM files without an image (reports, DICOMDIR) or unreadable ones.
    pub skipped: Vec<(PathBuf, String)>,
}

impl Scan {
    /// Finds a series by id, by SeriesInstanceUID (when unique) or by its
    /// 1-based number in the list.
    pub fn find(&self, key: &str) -> Result<&Series> {
        if let Some(s) = self.series.iter().find(|s| s.id == key) {
            return Ok(s);
        }
        let by_uid: Vec<_> = self.series.iter().filter(|s| s.series_uid == key).collect();
        if by_uid.len() == 1 {
            return Ok(by_uid[0]);
        }
        if let Ok(n) = key.parse::<usize>()
            && n >= 1
            && n <= self.series.len()
        {
            return Ok(&self.series[n - 1]);
        }
        Err(CoreError::NoSuchSeries(key.to_string()))
    }

    /// The series a user most likely wants: the one with the most slices.
    pub fn largest(&self) -> Option<&Series> {
        self.series.iter().max_by_key(|s| s.slices.len())
    }
}

/// Scans a folder (recursively) or a single file for DICOM images.
#[tracing::instrument(level = "info", skip_all)]
pub fn scan(path: &Path, progress: &Progress) -> Result<Scan> {
    if !path.exists() {
        return Err(CoreError::NotFound {
            path: path.to_path_buf(),
        });
    }
    progress.begin("finding files", 0);
    let mut files = Vec::new();
    if path.is_file() {
        files.push(path.to_path_buf());
    } else {
        for entry in walkdir::WalkDir::new(path)
            .follow_links(true)
            .sort_by_file_name()
        {
            let entry = entry.map_err(|e| CoreError::Io {
                path: e
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| path.to_path_buf()),
                source: e
                    .into_io_error()
                    .unwrap_or_else(|| std::io::Error::other("walk error")),
            })?;
            if entry.file_type().is_file() {
                files.push(entry.into_path());
            }
        }
    }
    progress.check()?;
    progress.begin("reading headers", files.len() as u64);
    let results: Vec<(PathBuf, Option<Result<ImageHeader>>)> = files
        .into_par_iter()
        .map(|p| {
            if progress.is_cancelled() {
                return (p, None);
            }
            let r = if looks_like_dicom(&p) {
                Some(read_header(&p))
            } else {
                None
            };
            progress.advance(1);
            (p, r)
        })
        .collect();
    progress.check()?;

    let mut scan = Scan {
        root: path.to_path_buf(),
        ..Scan::default()
    };
    let mut headers = Vec::new();
    for (p, r) in results {
        match r {
            None => scan.ignored += 1,
            Some(Ok(h)) => headers.push(h),
            Some(Err(e)) => {
                let reason = match &e {
                    CoreError::NotDicom { reason, .. } => format!("unreadable DICOM: {reason}"),
                    CoreError::BadAttribute {
                        attribute, hint, ..
                    } => {
                        format!("no image ({attribute} missing: {hint})")
                    }
                    other => other.to_string(),
                };
                scan.skipped.push((p, reason));
            }
        }
    }
    if headers.is_empty() {
        return Err(CoreError::NoImages {
            path: path.to_path_buf(),
            ignored: scan.ignored + scan.skipped.len(),
        });
    }
    scan.series = group(headers);
    Ok(scan)
}

/// Rounded geometry signature: frames with equal keys can share a volume.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
struct StackKey {
    rows: u32,
    columns: u32,
    orientation: Option<[i64; 6]>,
    spacing: Option<[i64; 2]>,
    stack: String,
}

fn round(v: f64, scale: f64) -> i64 {
    (v * scale).round() as i64
}

/// Groups headers into series: by UID, then by geometry signature, then by
/// the first discriminator that removes duplicate positions.
pub fn group(headers: Vec<ImageHeader>) -> Vec<Series> {
    let mut by_uid: BTreeMap<String, Vec<ImageHeader>> = BTreeMap::new();
    for h in headers {
        by_uid.entry(h.series_uid.clone()).or_default().push(h);
    }
    let mut out = Vec::new();
    for (uid, files) in by_uid {
        // Frames of all files, keyed by geometry signature.
        let mut stacks: BTreeMap<StackKey, Vec<(usize, u32)>> = BTreeMap::new();
        for (fi, h) in files.iter().enumerate() {
            for f in &h.frames {
                let key = StackKey {
                    rows: h.slice_rows(),
                    columns: h.slice_columns(),
                    orientation: f.orientation.map(|o| o.map(|v| round(v, 1e3))),
                    spacing: f.pixel_spacing.map(|s| s.map(|v| round(v, 1e3))),
                    stack: f.stack_key.clone(),
                };
                stacks.entry(key).or_default().push((fi, f.frame));
            }
        }
        let n_stacks = stacks.len();
        let mut parts: Vec<Part> = Vec::new();
        for frames in stacks.into_values() {
            let note = (n_stacks > 1).then(|| {
                "images sharing this SeriesInstanceUID differ in size, orientation, spacing or stack".to_string()
            });
            for (sub, why) in split_duplicates(&files, frames) {
                parts.push((sub, why.or_else(|| note.clone())));
            }
        }
        let n_parts = parts.len();
        for (k, (frames, note)) in parts.into_iter().enumerate() {
            let id_base = if uid.is_empty() {
                "no-uid".to_string()
            } else {
                uid.clone()
            };
            let id = if n_parts > 1 {
                format!("{id_base}#{}", k + 1)
            } else {
                id_base
            };
            out.push(build_series(id, &uid, &files, frames, note));
        }
    }
    out.sort_by(|a, b| {
        (a.series_number.unwrap_or(i32::MAX), &a.id)
            .cmp(&(b.series_number.unwrap_or(i32::MAX), &b.id))
    });
    out
}

fn position_of(files: &[ImageHeader], (fi, frame): (usize, u32)) -> Option<[f64; 3]> {
    files[fi].frames.get(frame as usize)?.position
}

fn has_duplicates(files: &[ImageHeader], frames: &[(usize, u32)]) -> bool {
    let mut seen = std::collections::HashSet::new();
    frames.iter().any(|&f| match position_of(files, f) {
        Some(p) => !seen.insert(p.map(|v| round(v, 100.0))),
        None => false,
    })
}

/// When a stack has several images at one position, tries to tell the
/// volumes apart by folder, file, acquisition, echo or temporal position.
fn split_duplicates(files: &[ImageHeader], frames: Vec<(usize, u32)>) -> Vec<Part> {
    if !has_duplicates(files, &frames) {
        return vec![(frames, None)];
    }
    type Disc = (&'static str, fn(&ImageHeader, u32) -> String);
    let discriminators: [Disc; 6] = [
        ("folder", |h, _| {
            h.path
                .parent()
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default()
        }),
        ("file", |h, _| h.path.to_string_lossy().into_owned()),
        ("transfer syntax", |h, _| h.transfer_syntax.clone()),
        ("acquisition number", |h, _| {
            format!("{:?}", h.acquisition_number)
        }),
        ("echo number", |h, _| format!("{:?}", h.echo_number)),
        ("temporal position", |h, _| {
            format!("{:?}", h.temporal_position)
        }),
    ];
    for (name, f) in discriminators {
        let mut parts: BTreeMap<String, Vec<(usize, u32)>> = BTreeMap::new();
        for &fr in &frames {
            parts.entry(f(&files[fr.0], fr.1)).or_default().push(fr);
        }
        if parts.len() > 1
            && parts
                .values()
                .all(|p| p.len() >= 2 && !has_duplicates(files, p))
        {
            let note = format!("images at the same positions were told apart by {name}");
            return parts
                .into_values()
                .map(|p| (p, Some(note.clone())))
                .collect();
        }
    }
    vec![(frames, None)]
}

fn build_series(
    id: String,
    uid: &str,
    all_files: &[ImageHeader],
    frames: Vec<(usize, u32)>,
    split_note: Option<String>,
) -> Series {
    // Keep only the files used, re-indexed.
    let mut remap: HashMap<usize, usize> = HashMap::new();
    let mut files = Vec::new();
    for &(fi, _) in &frames {
        remap.entry(fi).or_insert_with(|| {
            files.push(all_files[fi].clone());
            files.len() - 1
        });
    }
    let first = &all_files[frames[0].0];
    let first_frame = &first.frames[frames[0].1 as usize];
    let orientation = first_frame.orientation.map(|o| {
        let r = normalize([o[0], o[1], o[2]]);
        let c = normalize([o[3], o[4], o[5]]);
        [r[0], r[1], r[2], c[0], c[1], c[2]]
    });
    let normal = orientation.map(|o| normalize(cross([o[0], o[1], o[2]], [o[3], o[4], o[5]])));
    let mut problems = Vec::new();
    let mut slices = Vec::with_capacity(frames.len());
    let mut missing_position = 0usize;
    for &(fi, frame) in &frames {
        let h = &all_files[fi];
        let f = &h.frames[frame as usize];
        match f.position {
            Some(position) => slices.push(SliceRef {
                file: remap[&fi],
                frame,
                position,
                distance: normal.map(|n| dot(n, position)).unwrap_or(0.0),
                slope: f.slope,
                intercept: f.intercept,
            }),
            None => missing_position += 1,
        }
    }
    if orientation.is_none() {
        problems.push(
            "ImageOrientationPatient is missing, so the slices cannot be placed in 3D".to_string(),
        );
    }
    if missing_position > 0 {
        let multi_without_groups = files.iter().any(|h| h.number_of_frames > 1 && !h.enhanced);
        problems.push(if multi_without_groups {
            format!(
                "{missing_position} frames have no position: a multi-frame file without per-frame geometry (PerFrameFunctionalGroupsSequence) cannot be placed in 3D"
            )
        } else {
            format!("{missing_position} images have no ImagePositionPatient, so they cannot be placed in 3D")
        });
    }
    if first_frame.pixel_spacing.is_none() {
        problems
            .push("PixelSpacing is missing; 1 mm is assumed, so sizes may be wrong".to_string());
    }
    if let Some(why) = files.iter().find_map(|h| h.mosaic_problem) {
        problems.push(format!(
            "this is a Siemens mosaic (several slices tiled in one image) that cannot be unpacked: {why}; export the series as single slices"
        ));
    }
    slices.sort_by(|a, b| a.distance.total_cmp(&b.distance));
    Series {
        id,
        series_uid: uid.to_string(),
        modality: first.modality.clone(),
        description: first.series_description.clone(),
        series_number: first.series_number,
        rows: first.slice_rows(),
        columns: first.slice_columns(),
        orientation,
        pixel_spacing: first_frame.pixel_spacing,
        files,
        slices,
        split_note,
        problems,
    }
}
