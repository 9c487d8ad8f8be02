//! Many studies in one run (`stratum batch`): the plan of a cohort (which
//! studies, under which stable keys), converting one study into its own
//! folder with its status record, and the cohort's summary. The front end
//! decides where and how many studies run at once (local processes, a
//! Slurm job array); what they write goes through here, so a run killed at
//! any moment leaves each study either whole and recorded or not started.
//!
//! The output folder:
//! ```text
//! batch.json        the plan: the input, the options, the studies
//! studies/KEY/      one per study, renamed into place whole: its model
//!                   files, inspect.json, report.json, log.txt, status.json
//! locks/KEY.lock    held (flock) while a process converts the study
//! journal.log       a line per start and end of a conversion
//! summary.csv       one row per study; summary.html: the plots
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::base::error::{CoreError, Result};
use crate::convert::{ConvertOptions, SegmentSource};
use crate::segment::Preset;
use error::BatchError;

pub mod discover;
pub mod error;
mod html;
pub mod record;
pub mod run;
pub mod stats;
pub mod summary;

pub use discover::{discover, read_list};
pub use record::{Record, State, StudyLock, StudyState};
pub use run::{RunOptions, run_study};
pub use stats::Counts;
pub use summary::write_summary;

/// The plan's format; a folder written by another version is refused.
pub const PLAN_VERSION: u32 = 1;

/// Where everything of a batch lives under its output folder.
#[derive(Clone, Debug)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    pub fn new(root: &Path) -> Self {
        Layout {
            root: root.to_path_buf(),
        }
    }
    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn plan(&self) -> PathBuf {
        self.root.join("batch.json")
    }
    pub fn studies(&self) -> PathBuf {
        self.root.join("studies")
    }
    pub fn study(&self, key: &str) -> PathBuf {
        self.studies().join(key)
    }
    pub fn locks(&self) -> PathBuf {
        self.root.join("locks")
    }
    pub fn journal(&self) -> PathBuf {
        self.root.join("journal.log")
    }
    pub fn summary_csv(&self) -> PathBuf {
        self.root.join("summary.csv")
    }
    pub fn summary_html(&self) -> PathBuf {
        self.root.join("summary.html")
    }
}

/// The studies of a cohort and the options they are converted with.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    pub version: u32,
    /// The folder or list the studies were found in (absolute).
    pub input: PathBuf,
    /// The front end's conversion options, as it saved them: every process
    /// that converts a study of this folder (a Slurm task on another node)
    /// reads them from here.
    pub options: serde_json::Value,
    pub studies: Vec<Study>,
}

/// One study: a DICOM series, a NIfTI file, or a folder that holds files
/// but no readable series (which fails with the reason when run).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Study {
    /// Stable and non-identifying: a hash of the series UID or of the
    /// study's place in the input, never a name. Names its folder.
    pub key: String,
    /// Where it is, as a person finds it: relative to the input folder, or
    /// as the list gave it.
    pub source: String,
    /// The folder (DICOM) or file (NIfTI) to open.
    pub path: PathBuf,
    pub kind: StudyKind,
    /// A list's per-study options (segment source).
    #[serde(default)]
    pub overrides: Overrides,
    /// What converting it needs at its peak, from the loader's estimate
    /// ([`crate::base::memory::study_bytes`]); 0 when unknown.
    pub estimate_bytes: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StudyKind {
    /// One series of the DICOM images under `path`.
    Dicom {
        /// The scan's id for it (the UID, `#k` when a UID was split).
        series_id: String,
        series_uid: String,
        images: usize,
    },
    Nifti,
    /// Files but no readable series: the reason is the study's error.
    Unreadable {
        reason: String,
    },
}

/// Options a list gives one study, replacing the run's segment source.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Overrides {
    pub preset: Option<String>,
    pub threshold: Option<(f64, f64)>,
    pub model: Option<String>,
    /// A label map (NIfTI), one mesh per label; `names` its TSV of names.
    pub labels: Option<PathBuf>,
    pub names: Option<PathBuf>,
}

impl Overrides {
    pub fn is_empty(&self) -> bool {
        *self == Overrides::default()
    }

    /// Sets the segment source of `opts` to this study's, if it has one.
    pub fn apply(&self, opts: &mut ConvertOptions) -> Result<()> {
        let given = [
            self.preset.is_some(),
            self.threshold.is_some(),
            self.model.is_some(),
            self.labels.is_some(),
        ];
        match given.iter().filter(|g| **g).count() {
            0 if self.names.is_some() => {
                return Err(BatchError::NamesWithoutLabels.into());
            }
            0 => return Ok(()),
            1 => {}
            _ => {
                return Err(BatchError::SeveralSources.into());
            }
        }
        opts.source = if let Some(p) = &self.preset {
            SegmentSource::Preset(
                Preset::parse(p).ok_or_else(|| BatchError::UnknownPreset(p.clone()))?,
            )
        } else if let Some((lo, hi)) = self.threshold {
            SegmentSource::Threshold(lo, hi)
        } else if let Some(m) = &self.model {
            SegmentSource::Model { name: m.clone() }
        } else {
            SegmentSource::Labels {
                path: self.labels.clone().unwrap_or_default(),
                names: self.names.clone(),
            }
        };
        Ok(())
    }
}

/// A stable key from what identifies a study (its series UID, or its place
/// in the input): 12 hex digits of a SHA-256, so nothing of the identity
/// can be read back from the folder name.
pub fn key_for(identity: &str) -> String {
    let digest = Sha256::digest(identity.as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes every key of `studies` unique (a second study with the same
/// identity gets `-2`, and so on, in list order).
pub(crate) fn dedupe_keys(studies: &mut [Study]) {
    let mut seen = std::collections::HashMap::<String, usize>::new();
    for s in studies.iter_mut() {
        let n = seen.entry(s.key.clone()).or_insert(0);
        *n += 1;
        if *n > 1 {
            s.key = format!("{}-{}", s.key, n);
        }
    }
}

impl Plan {
    /// The plan saved in `layout`, if there is one.
    pub fn read(layout: &Layout) -> Result<Option<Plan>> {
        let path = layout.plan();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CoreError::io(&path, e)),
        };
        let plan: Plan = serde_json::from_slice(&bytes).map_err(|e| BatchError::PlanDamaged {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if plan.version != PLAN_VERSION {
            return Err(BatchError::PlanVersion {
                path,
                found: plan.version,
                reads: PLAN_VERSION,
            }
            .into());
        }
        Ok(Some(plan))
    }

    /// Saves the plan (atomically), creating the output folder's layout.
    pub fn write(&self, layout: &Layout) -> Result<()> {
        crate::base::atomic::create_folder(&layout.studies())?;
        crate::base::atomic::create_folder(&layout.locks())?;
        let json =
            serde_json::to_vec_pretty(self).map_err(BatchError::serialize("save the plan"))?;
        crate::base::atomic::write_bytes_atomic(&layout.plan(), &json)
    }

    /// This plan, keeping the studies of `old` that are no longer found
    /// (their results stay in the summary), at the end.
    pub fn keeping(mut self, old: &Plan) -> Plan {
        let known: std::collections::HashSet<String> =
            self.studies.iter().map(|s| s.key.clone()).collect();
        self.studies.extend(
            old.studies
                .iter()
                .filter(|s| !known.contains(&s.key))
                .cloned(),
        );
        self
    }

    pub fn study(&self, key: &str) -> Option<&Study> {
        self.studies.iter().find(|s| s.key == key)
    }
}
