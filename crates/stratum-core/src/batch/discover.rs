//! Finding a batch's studies: every DICOM series and NIfTI file under a
//! folder, and every folder that holds files but no readable series (a
//! study that fails with the reason, never one left out); or the rows of
//! a CSV/TSV list, each with its own options.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use super::error::BatchError;
use super::{Overrides, Study, StudyKind, dedupe_keys, key_for};
use crate::base::error::{CoreError, Result};
use crate::base::progress::Progress;
use crate::dicom::{Scan, Series, scan};
use crate::read::nifti::is_nifti_path;

/// The studies of `input`: a folder, a `.csv`/`.tsv` list, or one NIfTI
/// file. Files whose names start with a dot (`.DS_Store`) are not studies.
pub fn discover(input: &Path, progress: &Progress) -> Result<Vec<Study>> {
    if !input.exists() {
        return Err(CoreError::NotFound {
            path: input.to_path_buf(),
        });
    }
    let lower = input.to_string_lossy().to_ascii_lowercase();
    if input.is_file() && (lower.ends_with(".csv") || lower.ends_with(".tsv")) {
        return read_list(input, progress);
    }
    if input.is_file() && is_nifti_path(input) {
        let name = input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        return Ok(vec![nifti_study(
            input,
            &name,
            key_for(&format!("nifti\0{name}")),
        )]);
    }
    if !input.is_dir() {
        return Err(BatchError::NotAnInput(input.to_path_buf()).into());
    }
    discover_folder(input, progress)
}

fn relative(root: &Path, p: &Path) -> String {
    match p.strip_prefix(root) {
        Ok(r) if r.as_os_str().is_empty() => ".".into(),
        Ok(r) => r.to_string_lossy().into_owned(),
        Err(_) => p.to_string_lossy().into_owned(),
    }
}

fn hidden(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
}

fn discover_folder(root: &Path, progress: &Progress) -> Result<Vec<Study>> {
    progress.begin("finding studies", 0);
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(root)
        .follow_links(true)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| e.depth() == 0 || !hidden(e.path()))
    {
        let entry = entry.map_err(|e| CoreError::Io {
            path: e
                .path()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| root.to_path_buf()),
            source: e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("cannot walk the folder")),
        })?;
        if entry.file_type().is_file() {
            files.push(entry.into_path());
        }
    }
    if files.is_empty() {
        return Err(BatchError::EmptyFolder(root.to_path_buf()).into());
    }
    let found = match scan(root, progress) {
        Ok(s) => s,
        Err(CoreError::NoImages { .. }) => Scan {
            root: root.to_path_buf(),
            ..Scan::default()
        },
        Err(e) => return Err(e),
    };
    let mut studies = Vec::new();
    // Files that belong to a study; the folders above them hold studies.
    let mut used: HashSet<PathBuf> = HashSet::new();
    for f in files.iter().filter(|f| is_nifti_path(f)) {
        let rel = relative(root, f);
        studies.push(nifti_study(f, &rel, key_for(&format!("nifti\0{rel}"))));
        used.insert(f.clone());
    }
    // Series whose files share a folder are told apart by their label.
    let mut per_dir: BTreeMap<PathBuf, usize> = BTreeMap::new();
    let dirs: Vec<PathBuf> = found.series.iter().map(common_dir).collect();
    for d in &dirs {
        *per_dir.entry(d.clone()).or_default() += 1;
    }
    for (s, dir) in found.series.iter().zip(&dirs) {
        let rel = relative(root, dir);
        let identity = if s.series_uid.is_empty() {
            format!("dicom\0{rel}\0{}", s.id)
        } else {
            format!("dicom\0{}", s.id)
        };
        let source = if per_dir[dir] > 1 {
            format!("{rel} [{}]", s.label())
        } else {
            rel
        };
        studies.push(dicom_study(s, dir, source, key_for(&identity)));
        used.extend(s.files.iter().map(|h| h.path.clone()));
    }
    let mut holds_study: HashSet<PathBuf> = HashSet::new();
    for f in &used {
        let mut d = f.parent();
        while let Some(dir) = d {
            if !holds_study.insert(dir.to_path_buf()) || !dir.starts_with(root) || dir == root {
                break;
            }
            d = dir.parent();
        }
    }
    // A folder with files and no study anywhere below it is a study that
    // fails: the topmost such folder, once.
    let mut unreadable: BTreeMap<PathBuf, Vec<&PathBuf>> = BTreeMap::new();
    for f in files.iter().filter(|f| !used.contains(*f)) {
        let Some(mut top) = f.parent() else { continue };
        if holds_study.contains(top) {
            continue;
        }
        while top != root {
            match top.parent() {
                Some(up) if !holds_study.contains(up) && up.starts_with(root) => top = up,
                _ => break,
            }
        }
        unreadable.entry(top.to_path_buf()).or_default().push(f);
    }
    for (dir, stray) in unreadable {
        let rel = relative(root, &dir);
        let reason = unreadable_reason(&stray, &found.skipped);
        studies.push(Study {
            key: key_for(&format!("folder\0{rel}")),
            source: rel,
            path: dir,
            kind: StudyKind::Unreadable { reason },
            overrides: Overrides::default(),
            estimate_bytes: 0,
        });
    }
    studies.sort_by(|a, b| a.source.cmp(&b.source));
    dedupe_keys(&mut studies);
    Ok(studies)
}

/// Why a folder's files make no study, in words that say what was found.
fn unreadable_reason(files: &[&PathBuf], skipped: &[(PathBuf, String)]) -> String {
    let skipped_here: Vec<&(PathBuf, String)> =
        skipped.iter().filter(|(p, _)| files.contains(&p)).collect();
    let n = files.len();
    let mut reason = format!(
        "no readable DICOM series or NIfTI file: {n} file{}",
        if n == 1 { "" } else { "s" }
    );
    if skipped_here.is_empty() {
        reason.push_str(", none of them DICOM");
    } else {
        reason.push_str(&format!(
            ", {} of them DICOM without a usable image (first: {})",
            skipped_here.len(),
            skipped_here[0].1
        ));
    }
    reason
}

/// The deepest folder that holds every file of the series: opening it
/// again finds the series without scanning the whole input.
fn common_dir(s: &Series) -> PathBuf {
    let mut dirs = s.files.iter().filter_map(|h| h.path.parent());
    let Some(first) = dirs.next() else {
        return PathBuf::new();
    };
    let mut common = first.to_path_buf();
    for d in dirs {
        while !d.starts_with(&common) {
            if !common.pop() {
                return PathBuf::new();
            }
        }
    }
    common
}

fn dicom_study(s: &Series, dir: &Path, source: String, key: String) -> Study {
    let (kept, _) = s.distinct_slices();
    let voxels = (s.rows as u64) * (s.columns as u64) * (kept.len() as u64);
    Study {
        key,
        source,
        path: dir.to_path_buf(),
        kind: StudyKind::Dicom {
            series_id: s.id.clone(),
            series_uid: s.series_uid.clone(),
            images: s.slices.len(),
        },
        overrides: Overrides::default(),
        estimate_bytes: crate::base::memory::study_bytes(voxels, 2, true),
    }
}

fn nifti_study(path: &Path, source: &str, key: String) -> Study {
    Study {
        key,
        source: source.to_string(),
        path: path.to_path_buf(),
        kind: StudyKind::Nifti,
        overrides: Overrides::default(),
        estimate_bytes: nifti_estimate(path).unwrap_or(0),
    }
}

/// The loader's estimate for a NIfTI file, from its header alone.
fn nifti_estimate(path: &Path) -> Option<u64> {
    let header = nifti::NiftiHeader::from_file(path).ok()?;
    let dims = header.dim().ok()?;
    let voxels = dims
        .iter()
        .take(3)
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))?;
    let bytes = (header.bitpix.max(16) as u64).div_ceil(8);
    Some(crate::base::memory::study_bytes(voxels, bytes, true))
}

/// The columns a list may have besides `path`.
const COLUMNS: [&str; 7] = [
    "path",
    "series",
    "preset",
    "threshold",
    "model",
    "labels",
    "names",
];

/// The studies a CSV or TSV list names: a header row with a `path` column
/// (a DICOM folder or a NIfTI file, relative to the list's folder), and
/// optionally `series`, `preset`, `threshold` (LO:HI), `model`, `labels`
/// and `names` per study. Empty lines and lines starting with `#` are
/// skipped. A row whose study cannot be opened is a study that fails.
pub fn read_list(list: &Path, progress: &Progress) -> Result<Vec<Study>> {
    let text = std::fs::read_to_string(list).map_err(|e| CoreError::io(list, e))?;
    let tab = list
        .to_string_lossy()
        .to_ascii_lowercase()
        .ends_with(".tsv");
    let base = list.parent().unwrap_or(Path::new("."));
    let mut rows = parse_rows(&text, if tab { '\t' } else { ',' })
        .into_iter()
        .filter(|(_, r)| !(r.iter().all(|c| c.trim().is_empty()) || r[0].starts_with('#')));
    let Some((_, header)) = rows.next() else {
        return Err(BatchError::EmptyList(list.to_path_buf()).into());
    };
    let header: Vec<String> = header
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    if let Some(bad) = header.iter().find(|h| !COLUMNS.contains(&h.as_str())) {
        return Err(BatchError::UnknownColumn {
            list: list.to_path_buf(),
            column: bad.clone(),
            columns: COLUMNS.join(", "),
        }
        .into());
    }
    let col = |name: &str| header.iter().position(|h| h == name);
    let path_col = col("path").ok_or_else(|| BatchError::NoPathColumn {
        list: list.to_path_buf(),
        columns: COLUMNS.join(", "),
    })?;
    let rows: Vec<(usize, Vec<String>)> = rows.collect();
    progress.begin("finding studies", rows.len() as u64);
    let mut studies = Vec::new();
    for (line, row) in rows {
        progress.check()?;
        let cell = |name: &str| {
            col(name)
                .and_then(|i| row.get(i))
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
        };
        let Some(written) = row.get(path_col).map(|c| c.trim().to_string()) else {
            continue;
        };
        if written.is_empty() {
            return Err(BatchError::EmptyPath {
                list: list.to_path_buf(),
                line,
            }
            .into());
        }
        let resolve = |p: String| {
            let p = PathBuf::from(p);
            if p.is_absolute() { p } else { base.join(p) }
        };
        let series = cell("series");
        let mut problem = None;
        let threshold = cell("threshold").and_then(|t| match parse_window(&t) {
            Some(w) => Some(w),
            None => {
                problem = Some(format!(
                    "line {line}: threshold {t:?} is not LO:HI (e.g. 300:3000)"
                ));
                None
            }
        });
        let overrides = Overrides {
            preset: cell("preset"),
            threshold,
            model: cell("model"),
            labels: cell("labels").map(resolve),
            names: cell("names").map(resolve),
        };
        let identity = format!(
            "list\0{written}\0{}\0{}",
            series.clone().unwrap_or_default(),
            serde_json::to_string(&overrides).unwrap_or_default()
        );
        let source = match &series {
            Some(s) => format!("{written} [series {s}]"),
            None => written.clone(),
        };
        let path = resolve(written);
        let mut study = list_study(
            &path,
            source,
            key_for(&identity),
            series.as_deref(),
            progress,
        );
        study.overrides = overrides;
        if let Some(p) = problem {
            study.kind = StudyKind::Unreadable { reason: p };
        }
        studies.push(study);
        progress.advance(1);
    }
    dedupe_keys(&mut studies);
    Ok(studies)
}

/// A listed path as a study: a NIfTI file, or the chosen (else the
/// largest) series of a DICOM folder; a study that fails when neither.
fn list_study(
    path: &Path,
    source: String,
    key: String,
    series: Option<&str>,
    progress: &Progress,
) -> Study {
    if is_nifti_path(path) && path.is_file() {
        return nifti_study(path, &source, key);
    }
    let unreadable = |reason: String| Study {
        key: key.clone(),
        source: source.clone(),
        path: path.to_path_buf(),
        kind: StudyKind::Unreadable { reason },
        overrides: Overrides::default(),
        estimate_bytes: 0,
    };
    if !path.exists() {
        return unreadable("not found".into());
    }
    let found = match scan(path, progress) {
        Ok(s) => s,
        Err(e) => return unreadable(e.to_string()),
    };
    let chosen = match series {
        Some(k) => found.find(k),
        None => found.largest().ok_or_else(|| CoreError::NoImages {
            path: path.to_path_buf(),
            ignored: found.ignored,
        }),
    };
    match chosen {
        Ok(s) => dicom_study(s, path, source.clone(), key.clone()),
        Err(e) => unreadable(e.to_string()),
    }
}

fn parse_window(s: &str) -> Option<(f64, f64)> {
    let (a, b) = s.split_once(':')?;
    let (lo, hi): (f64, f64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    (lo.is_finite() && hi.is_finite() && lo <= hi).then_some((lo, hi))
}

/// Rows of a CSV (RFC 4180: quoted fields may hold the delimiter, quotes
/// doubled, line breaks) or of a TSV, with the line each starts on.
fn parse_rows(text: &str, delim: char) -> Vec<(usize, Vec<String>)> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut line = 1;
    let mut start = 1;
    let mut chars = text.trim_start_matches('\u{feff}').chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' if quoted => quoted = false,
            '"' if field.is_empty() && delim != '\t' => quoted = true,
            c if c == delim && !quoted => row.push(std::mem::take(&mut field)),
            '\r' if !quoted => {}
            '\n' if !quoted => {
                row.push(std::mem::take(&mut field));
                rows.push((start, std::mem::take(&mut row)));
                line += 1;
                start = line;
            }
            c => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push((start, row));
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_keep_quoted_commas_and_quotes() {
        let rows = parse_rows("path,preset\n\"a, b\",bone\n\"say \"\"hi\"\"\",\n", ',');
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1].1, vec!["a, b", "bone"]);
        assert_eq!(rows[2].1, vec!["say \"hi\"", ""]);
    }

    #[test]
    fn tsv_rows_split_on_tabs_only() {
        let rows = parse_rows("path\tthreshold\nx,y\t300:3000", '\t');
        assert_eq!(rows[1].1, vec!["x,y", "300:3000"]);
    }
}
