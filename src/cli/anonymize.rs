//! `stratum anonymize`: a de-identified copy of a DICOM folder.

use std::path::PathBuf;
use std::process::ExitCode;

use super::with_progress;

pub(super) fn anonymize(input: PathBuf, output: PathBuf) -> anyhow::Result<ExitCode> {
    let summary = with_progress(false, |p| {
        stratum_core::privacy::anonymize::anonymize(&input, &output, p)
    })?;
    println!(
        "{} files anonymized into {} ({} UIDs remapped, {} non-DICOM files not copied)",
        summary.files_written,
        output.display(),
        summary.uids_remapped,
        summary.ignored
    );
    Ok(ExitCode::SUCCESS)
}
