//! The local cache of retrieved series: `ROOT/<StudyUID>/<SeriesUID>/`,
//! one file per instance named by its SOP Instance UID. A retrieve writes
//! into a staging folder under `ROOT/.incoming/` and only a whole series is
//! renamed into place, so a cancelled, failed or killed retrieve never
//! leaves a series that opens as if it were complete; stale staging folders
//! of dead processes are removed by the next retrieve.

use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

use super::dimse::is_uid;
use super::{PacsError, Result};
use crate::base::atomic;
use crate::base::error::CoreError;

#[derive(Clone, Debug)]
pub struct Cache {
    pub root: PathBuf,
}

impl Cache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Cache { root: root.into() }
    }

    /// Where a whole series lives once retrieved.
    pub fn series_dir(&self, study_uid: &str, series_uid: &str) -> PathBuf {
        self.root.join(safe(study_uid)).join(safe(series_uid))
    }

    /// The folder of a series already in the cache, if any.
    pub fn find(&self, series_uid: &str) -> Option<PathBuf> {
        let name = safe(series_uid);
        std::fs::read_dir(&self.root)
            .ok()?
            .flatten()
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path().join(&name))
            .find(|p| p.is_dir())
    }

    /// A fresh staging folder for `series_uid`.
    pub(crate) fn stage(&self, series_uid: &str) -> Result<Staging> {
        let incoming = self.root.join(".incoming");
        atomic::create_folder(&incoming)?;
        atomic::remove_stale_temps_any(&incoming);
        let dir = atomic::temp_path(&incoming, &safe(series_uid), "");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| CoreError::io(&dir, e))?;
        }
        atomic::create_folder(&dir)?;
        Ok(Staging {
            dir,
            files: 0,
            committed: false,
        })
    }
}

/// A UID as a folder name (UIDs are digits and dots; anything else, from a
/// peer that sends something else, is replaced).
fn safe(uid: &str) -> String {
    if is_uid(uid) {
        uid.to_string()
    } else {
        uid.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .take(64)
            .collect()
    }
}

/// A series being received: removed on drop unless committed.
pub(crate) struct Staging {
    pub dir: PathBuf,
    pub files: usize,
    committed: bool,
}

impl Staging {
    /// A staging folder beside `dest` (a hidden temporary name in the same
    /// folder, so the final rename stays on one disk).
    pub fn beside(dest: &Path) -> Result<Staging> {
        let parent = atomic::parent_dir(dest);
        atomic::create_folder(parent)?;
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "series".into());
        atomic::remove_stale_temps(parent, &name);
        let dir = atomic::temp_path(parent, &name, "");
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| CoreError::io(&dir, e))?;
        }
        atomic::create_folder(&dir)?;
        Ok(Staging {
            dir,
            files: 0,
            committed: false,
        })
    }

    /// Writes one received object (its data set in transfer syntax
    /// `ts_uid`) as a DICOM file named by its SOP Instance UID. A second copy
    /// of the same instance replaces the first and is not counted twice.
    pub fn write(
        &mut self,
        object: InMemDicomObject,
        sop_class: &str,
        sop_instance: &str,
        ts_uid: &str,
    ) -> Result<()> {
        let path = self.dir.join(format!("{}.dcm", safe(sop_instance)));
        let existed = path.exists();
        let meta = FileMetaTableBuilder::new()
            .media_storage_sop_class_uid(sop_class)
            .media_storage_sop_instance_uid(sop_instance)
            .transfer_syntax(ts_uid.trim_end_matches('\0'))
            .implementation_class_uid(crate::pacs::IMPLEMENTATION_CLASS_UID)
            .implementation_version_name("STRATUM");
        let file = object.with_meta(meta).map_err(|e| CoreError::Write {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        file.write_to_file(&path).map_err(|e| CoreError::Write {
            path: path.clone(),
            reason: super::error::first_line(&e.to_string()),
        })?;
        if !existed {
            self.files += 1;
        }
        Ok(())
    }

    /// Puts the whole series in place of any older copy; returns its folder.
    pub fn commit(mut self, dest: &Path) -> Result<PathBuf> {
        atomic::create_folder(atomic::parent_dir(dest))?;
        atomic::replace_folder(&self.dir, dest).map_err(PacsError::from)?;
        self.committed = true;
        Ok(dest.to_path_buf())
    }

    /// The Study Instance UID of the staged objects (the first file's).
    pub fn study_uid(&self) -> Option<String> {
        let entry = std::fs::read_dir(&self.dir).ok()?.flatten().next()?;
        let obj = dicom_object::OpenFileOptions::new()
            .read_until(tags::PIXEL_DATA)
            .open_file(entry.path())
            .ok()?;
        super::dimse::str_of(&obj, tags::STUDY_INSTANCE_UID)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
