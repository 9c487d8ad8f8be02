//! `stratum share`: a scan's segments, or a saved session's visible ones,
//! meshed and written as one self-contained patient page (.html).

use std::path::Path;

use super::error::ConvertError;
use super::margin::MarginSource;
use super::meshes::meshed_from_scan;
use super::{ConvertOptions, ConvertSegment, SegmentResult, build_meshes, segments_for};
use crate::base::error::Result;
use crate::base::progress::Progress;
use crate::document::SurfaceRecipe;
use crate::export::ExportSegment;
use crate::read::open::{Opened, open_volume};

/// `stratum share`: the scan's segments as a self-contained patient page
/// (flat colours, reduced as `opts` says); returns the segments.
#[tracing::instrument(level = "info", skip_all)]
pub fn share(
    input: &Path,
    output: &Path,
    opts: &ConvertOptions,
    page: &crate::export::ShareOptions,
    progress: &Progress,
) -> Result<Vec<SegmentResult>> {
    check_page_path(output)?;
    let Opened { volume, .. } = open_volume(input, &opts.open, progress)?;
    let segments = segments_for(&volume, opts, progress)?;
    // Threshold segments are meshed from the intensities; label maps need no scan.
    let volume = meshed_from_scan(&segments).then_some(volume);
    if segments.iter().all(|(_, m, _)| m.count() == 0) {
        return Err(ConvertError::NothingToShow.into());
    }
    let margin = opts
        .margin
        .as_ref()
        .map(|m| MarginSource::new(m, &segments))
        .transpose()?;
    let results = build_meshes(&segments, volume.as_ref(), opts, progress)?;
    // The page takes no texture: the scan and masks are done with.
    drop(segments);
    drop(volume);
    write_page(output, &results, page, margin.as_ref(), progress)?;
    Ok(results)
}

/// `stratum share --session S`: the visible segments of a saved session
/// (its label map as saved, edits included; its names and colours) as a
/// patient page, each surface built as the app builds it: a model's
/// segments from their saved soft edges, and, when `scan` is given (it
/// must be the one the session was made on), a threshold's or preset's
/// segments from its intensities at their saved levels. Without the scan
/// those are meshed from their masks.
#[tracing::instrument(level = "info", skip_all)]
pub fn share_session(
    session: &Path,
    scan: Option<&Path>,
    output: &Path,
    opts: &ConvertOptions,
    page: &crate::export::ShareOptions,
    progress: &Progress,
) -> Result<Vec<SegmentResult>> {
    check_page_path(output)?;
    let opened = crate::session::open_session(session, progress)?;
    if let Some(w) = &opened.warning {
        tracing::warn!("{w}");
    }
    let mut volume = None;
    if let Some(path) = scan {
        let v = open_volume(path, &opts.open, progress)?.volume;
        if opened.data.scan.as_ref().is_some_and(|r| !r.matches(&v)) {
            return Err(ConvertError::NotTheSessionScan {
                scan: path.to_path_buf(),
                session: session.to_path_buf(),
            }
            .into());
        }
        volume = Some(v);
    }
    let doc = &opened.data.document;
    let map = &doc.labels;
    let mut colours = Vec::new();
    let mut segments: Vec<ConvertSegment> = Vec::new();
    for s in map.segments.iter().filter(|s| s.visible) {
        let mask = map.mask(s.id);
        if mask.count() > 0 {
            colours.push(s.colour);
            let from = match doc.props.get(&s.id).map(|p| &p.recipe) {
                Some(SurfaceRecipe::Soft(field)) => SurfaceRecipe::Soft(field.clone()),
                Some(SurfaceRecipe::Level(level)) if volume.is_some() => {
                    SurfaceRecipe::Level(*level)
                }
                _ => SurfaceRecipe::Mask,
            };
            segments.push((s.name.clone(), mask.into(), from));
        }
    }
    if segments.is_empty() {
        return Err(ConvertError::SessionEmpty(session.to_path_buf()).into());
    }
    let margin = opts
        .margin
        .as_ref()
        .map(|m| MarginSource::new(m, &segments))
        .transpose()?;
    let mut results = build_meshes(&segments, volume.as_ref(), opts, progress)?;
    drop(segments);
    drop(volume);
    // build_meshes keeps every non-empty mask in order: the colours line up.
    for (r, c) in results.iter_mut().zip(colours) {
        r.colour = c;
    }
    write_page(output, &results, page, margin.as_ref(), progress)?;
    Ok(results)
}

/// The share page is an .html file (a browser opens it by double click).
fn check_page_path(output: &Path) -> Result<()> {
    if output
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm"))
    {
        Ok(())
    } else {
        Err(ConvertError::NotHtml(output.to_path_buf()).into())
    }
}

fn write_page(
    output: &Path,
    results: &[SegmentResult],
    page: &crate::export::ShareOptions,
    margin: Option<&MarginSource>,
    progress: &Progress,
) -> Result<()> {
    let parts: Vec<ExportSegment<'_>> = results.iter().map(SegmentResult::part).collect();
    let ml: Vec<f64> = results.iter().map(|r| r.voxel_volume_ml).collect();
    let margin = margin.map(|m| m.paint(results)).transpose()?;
    progress.begin("writing", 1);
    crate::export::write_share_with(output, &parts, &ml, page, margin.as_ref())?;
    progress.advance(1);
    Ok(())
}
