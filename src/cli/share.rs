//! `stratum share`: the scan's segments (or a saved session's) as one
//! self-contained HTML page for a patient (no server, no network), with the
//! clinician's title and note.

use std::path::PathBuf;
use std::process::ExitCode;

use stratum_core::convert::{ConvertOptions, SegmentSource};
use stratum_core::export::ShareOptions;

#[derive(clap::Args, Debug)]
pub struct ShareArgs {
    /// DICOM folder or file, or a .nii/.nii.gz file (with --session: optional,
    /// checked to be the session's scan; given, threshold segments are built
    /// from it at their saved levels)
    pub input: Option<PathBuf>,
    /// The page to write (.html)
    #[arg(short, long)]
    pub output: PathBuf,
    /// Label map (NIfTI), one structure per label
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Names of the labels: a TSV of id<TAB>name (e.g. TotalSegmentator's)
    #[arg(long, requires = "labels")]
    names: Option<PathBuf>,
    /// Segment with an AI model (`stratum models` lists them)
    #[arg(long, conflicts_with = "labels")]
    model: Option<String>,
    /// A saved session folder (name.stratum): its visible segments, edits included
    #[arg(long, conflicts_with_all = ["labels", "model"])]
    session: Option<PathBuf>,
    /// A short title shown at the top (typed by the clinician)
    #[arg(long, default_value = "")]
    title: String,
    /// A note shown under the title (typed by the clinician)
    #[arg(long, default_value = "")]
    note: String,
    /// Fraction of triangles to remove (keeps the page small)
    #[arg(long, default_value_t = 0.9)]
    reduce: f64,
    /// Colour structure A by its distance to structure B (red under 5 mm,
    /// yellow under 10 mm), by name: A,B
    #[arg(long, value_name = "A,B")]
    margin: Option<String>,
    /// The margin's thresholds in mm: red under the first, yellow under the second
    #[arg(
        long,
        value_name = "NEAR,FAR",
        default_value = "5,10",
        requires = "margin"
    )]
    margin_mm: String,
}

pub fn share_cmd(a: ShareArgs) -> anyhow::Result<ExitCode> {
    if !(0.0..1.0).contains(&a.reduce) {
        anyhow::bail!("--reduce takes a fraction from 0 (keep all) to below 1 (0.9 keeps 10%)");
    }
    // With --session the session's label map is the source: `source` stays unread.
    let mut opts = ConvertOptions {
        reduce: a.reduce,
        scan_texture: false,
        margin: super::convert::margin_request(a.margin.as_deref(), &a.margin_mm)?,
        ..Default::default()
    };
    match (a.labels, a.model) {
        (Some(path), _) => {
            opts.source = SegmentSource::Labels {
                path,
                names: a.names,
            }
        }
        (None, Some(name)) => opts.source = SegmentSource::Model { name },
        (None, None) if a.session.is_some() => {}
        (None, None) => {
            anyhow::bail!("choose the structures: --labels FILE, --model NAME or --session S")
        }
    }
    let page = ShareOptions {
        title: a.title,
        note: a.note,
    };
    let results = super::with_progress(false, |p| match (&a.session, &a.input) {
        (Some(session), scan) => stratum_core::convert::share_session(
            session,
            scan.as_deref(),
            &a.output,
            &opts,
            &page,
            p,
        ),
        (None, Some(input)) => stratum_core::convert::share(input, &a.output, &opts, &page, p),
        (None, None) => Err(stratum_core::convert::error::ConvertError::NoInput.into()),
    })?;
    let size = std::fs::metadata(&a.output).map(|m| m.len()).unwrap_or(0);
    println!(
        "wrote {} ({} structures, {:.1} MB): opens offline in any current browser",
        a.output.display(),
        results.len(),
        size as f64 / 1e6
    );
    Ok(ExitCode::SUCCESS)
}
