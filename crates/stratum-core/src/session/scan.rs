//! The scan a session points to: where it was, how to find it again when it
//! moved with the session, and whether its voxels are still the same.
//!
//! Only the path, the series UID, the voxel hash and the dimensions are kept:
//! nothing else from the DICOM headers (no patient name, ID or birth date).

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::base::error::Result;
use crate::base::progress::Progress;
use crate::checks::realign::{Realign, Realignment};
use crate::dicom::Subset;
use crate::image::volume::{Volume, Voxels};
use crate::read::open::{OpenOptions, open_volume};

/// A reference to the scan a session was made on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScanRef {
    /// The scan's path (DICOM folder or NIfTI file) as it was opened, made absolute.
    pub path: PathBuf,
    /// The scan's path relative to the session folder, filled in when the
    /// session is saved: found again when both moved together.
    #[serde(default)]
    pub relative: Option<PathBuf>,
    /// DICOM SeriesInstanceUID (to pick the series in a folder of several).
    #[serde(default)]
    pub series_uid: Option<String>,
    /// The part of the series that was opened (a range of slices, a
    /// downsampled copy), when the whole did not fit; absent for the whole.
    #[serde(default, skip_serializing_if = "Subset::is_whole")]
    pub subset: Subset,
    /// Slices re-aligned after loading (motion between slices corrected),
    /// applied again when the session reopens; absent when none were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realign: Option<Realignment>,
    /// SHA-256 (hex) of the voxels as loaded (and re-aligned): see [`voxel_sha256`].
    pub voxel_sha256: String,
    /// (slices, rows, columns).
    pub dims: [usize; 3],
}

impl ScanRef {
    /// References `volume`, opened from `path`. Hashes every voxel (about a
    /// second for a 512x512x300 CT): run it off the main thread.
    pub fn new(path: &Path, series_uid: Option<String>, volume: &Volume) -> ScanRef {
        let (z, y, x) = volume.dim();
        ScanRef {
            path: std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf()),
            relative: None,
            series_uid: series_uid.filter(|s| !s.is_empty()),
            subset: Subset::default(),
            realign: None,
            voxel_sha256: voxel_sha256(&volume.voxels),
            dims: [z, y, x],
        }
    }

    /// True when `volume` has the dimensions and voxels referenced.
    pub fn matches(&self, volume: &Volume) -> bool {
        let (z, y, x) = volume.dim();
        [z, y, x] == self.dims && voxel_sha256(&volume.voxels) == self.voxel_sha256
    }
}

/// SHA-256 of a volume's voxels: type name, dimensions, then the values
/// little-endian in (z, y, x) order, so equal hashes mean equal voxels.
#[tracing::instrument(level = "info", skip_all)]
pub fn voxel_sha256(voxels: &Voxels) -> String {
    let mut h = Sha256::new();
    h.update(voxels.type_name().as_bytes());
    let (z, y, x) = voxels.dim();
    for n in [z, y, x] {
        h.update((n as u64).to_le_bytes());
    }
    crate::with_voxels!(voxels, a => {
        let mut buf = Vec::with_capacity(64 << 10);
        for v in a.iter() {
            buf.extend_from_slice(&v.to_le_bytes());
            if buf.len() >= 64 << 10 {
                h.update(&buf);
                buf.clear();
            }
        }
        h.update(&buf);
    });
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Where a session's scan is now, without loading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanLocation {
    /// At the recorded path.
    Found(PathBuf),
    /// Not at the recorded path, but at the recorded path relative to the
    /// session (both were moved or copied together).
    Moved(PathBuf),
    /// Neither: the user has to point to it.
    Missing,
}

/// The scan of a session after loading it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScanStatus {
    /// At the recorded path, voxels unchanged.
    Found(PathBuf),
    /// Found by the relative path, voxels unchanged.
    Moved(PathBuf),
    /// Not found: let the user point to it.
    Missing,
    /// Found, but its voxels or size differ from the session's: the labels
    /// may not fit it.
    Changed(PathBuf),
}

/// Looks for the scan at its recorded path, then relative to `session_dir`.
pub fn locate_scan(scan: &ScanRef, session_dir: &Path) -> ScanLocation {
    if scan.path.exists() {
        return ScanLocation::Found(scan.path.clone());
    }
    if let Some(rel) = &scan.relative {
        let p = session_dir.join(rel);
        if p.exists() {
            return ScanLocation::Moved(normalize(&p));
        }
    }
    ScanLocation::Missing
}

/// The scan found and loaded, with its status.
#[derive(Clone, Debug)]
pub struct ScanCheck {
    pub status: ScanStatus,
    /// The loaded scan (also when it changed, for the app to decide).
    pub volume: Option<Volume>,
}

/// Finds and loads the session's scan (the recorded series of a DICOM
/// folder) and compares its voxels with the recorded hash. Long: run it as
/// a background job.
pub fn open_scan(scan: &ScanRef, session_dir: &Path, progress: &Progress) -> Result<ScanCheck> {
    let (path, moved) = match locate_scan(scan, session_dir) {
        ScanLocation::Found(p) => (p, false),
        ScanLocation::Moved(p) => (p, true),
        ScanLocation::Missing => {
            return Ok(ScanCheck {
                status: ScanStatus::Missing,
                volume: None,
            });
        }
    };
    let opts = OpenOptions {
        series: scan.series_uid.clone(),
        subset: scan.subset,
        realign: scan
            .realign
            .clone()
            .map(Realign::Exactly)
            .unwrap_or_default(),
        ..OpenOptions::default()
    };
    let volume = open_volume(&path, &opts, progress)?.volume;
    let status = if !scan.matches(&volume) {
        ScanStatus::Changed(path)
    } else if moved {
        ScanStatus::Moved(path)
    } else {
        ScanStatus::Found(path)
    };
    Ok(ScanCheck {
        status,
        volume: Some(volume),
    })
}

/// `target` relative to the folder `from` (both made absolute, `..` where
/// they part); `None` when they share no root (e.g. other drives).
pub fn relative_path(from: &Path, target: &Path) -> Option<PathBuf> {
    let from = normalize(&std::path::absolute(from).ok()?);
    let target = normalize(&std::path::absolute(target).ok()?);
    let f: Vec<Component> = from.components().collect();
    let t: Vec<Component> = target.components().collect();
    if f.first() != t.first() {
        return None;
    }
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut rel = PathBuf::new();
    for _ in common..f.len() {
        rel.push("..");
    }
    for c in &t[common..] {
        rel.push(c.as_os_str());
    }
    Some(rel)
}

/// Resolves `.` and `..` lexically (the scan may not exist any more, so no
/// canonicalize).
fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}
