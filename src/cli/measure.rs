//! `stratum measure`: the minimum distance between two segments of a label
//! map (on their surfaces, as the app shows them) and a virtual resection
//! along a plane (the remnant's volume and share), for scripts.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use stratum_core::base::progress::Progress;
use stratum_core::mesh::{SurfaceOptions, mask_surface};
use stratum_core::planning::distance::{margin_map, segment_distance};
use stratum_core::planning::resect::{Cut, resect};
use stratum_core::segment::LabelMap;

use super::with_progress;

#[derive(clap::Args, Debug)]
pub struct MeasureArgs {
    /// The scan (DICOM folder or file, or a .nii/.nii.gz file)
    pub input: PathBuf,
    /// Label map (NIfTI) on the scan's grid
    #[arg(long)]
    labels: PathBuf,
    /// Names of the labels: a TSV of id<TAB>name (e.g. TotalSegmentator's)
    #[arg(long)]
    names: Option<PathBuf>,
    /// Minimum distance between two segments, by name or label number: A,B
    #[arg(long, value_name = "A,B")]
    distance: Option<String>,
    /// Cut this segment (name or label number) along --plane
    #[arg(long, value_name = "SEGMENT", requires = "plane")]
    resect: Option<String>,
    /// The cutting plane: a point and a normal in LPS mm, X,Y,Z,NX,NY,NZ
    /// (the side the normal points to is cut away)
    #[arg(long, value_name = "X,Y,Z,NX,NY,NZ", allow_hyphen_values = true)]
    plane: Option<String>,
    /// The lesion (name or label number) for the shares with the lesion
    #[arg(long, requires = "resect")]
    lesion: Option<String>,
}

pub(super) fn measure_cmd(a: MeasureArgs) -> anyhow::Result<ExitCode> {
    if a.distance.is_none() && a.resect.is_none() {
        anyhow::bail!("nothing to measure: give --distance A,B or --resect SEGMENT --plane ...");
    }
    let open = stratum_core::read::open::OpenOptions::new();
    let labels = with_progress(false, |p| {
        let opened = stratum_core::read::open::open_volume(&a.input, &open, p)?;
        stratum_core::convert::load_labels_for(&opened.volume, &a.labels, a.names.as_deref(), p)
    })?;
    if let Some(pair) = &a.distance {
        let (x, y) = pair
            .split_once(',')
            .ok_or_else(|| anyhow::anyhow!("--distance takes two segments: A,B"))?;
        let (ia, ib) = (find(&labels, x)?, find(&labels, y)?);
        let t = Instant::now();
        let opts = SurfaceOptions::default();
        let (ma, mb) = with_progress(false, |p| {
            Ok::<_, stratum_core::base::error::CoreError>((
                mask_surface(&labels.mask(ia), &opts, p)?,
                mask_surface(&labels.mask(ib), &opts, p)?,
            ))
        })?;
        let meshed = t.elapsed().as_secs_f64() * 1000.0;
        let t = Instant::now();
        let c = segment_distance(&labels, ia, ib, &ma, &mb, &Progress::new())?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        let p = |v: [f64; 3]| format!("({:.1}, {:.1}, {:.1})", v[0], v[1], v[2]);
        println!(
            "{} to {}: {:.2} mm{}, between {} and {} (LPS mm)",
            name(&labels, ia),
            name(&labels, ib),
            c.distance_mm,
            if c.touching { ", touching" } else { "" },
            p(c.on_a),
            p(c.on_b)
        );
        let t = Instant::now();
        let map = margin_map(&labels, ib, &ma, &mb, 10.0, &Progress::new())?;
        let margin_ms = t.elapsed().as_secs_f64() * 1000.0;
        let under = |mm: f32| map.iter().filter(|d| **d < mm).count();
        println!(
            "  margin map of {} ({} vertices): {} under 5 mm, {} under 10 mm",
            name(&labels, ia),
            map.len(),
            under(5.0),
            under(10.0)
        );
        println!(
            "  surfaces built in {meshed:.0} ms, distance measured in {ms:.0} ms, margin map in {margin_ms:.0} ms"
        );
    }
    if let Some(organ) = &a.resect {
        let organ = find(&labels, organ)?;
        let lesion = a.lesion.as_deref().map(|l| find(&labels, l)).transpose()?;
        let v: Vec<f64> = a
            .plane
            .as_deref()
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| anyhow::anyhow!("--plane takes six numbers: X,Y,Z,NX,NY,NZ"))?;
        let [x, y, z, nx, ny, nz] = v[..] else {
            anyhow::bail!("--plane takes six numbers: X,Y,Z,NX,NY,NZ");
        };
        let cut = Cut::Plane {
            point: [x, y, z],
            normal: [nx, ny, nz],
        };
        let t = Instant::now();
        let r = resect(&labels, organ, &cut, lesion, &Progress::new())?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        println!("{}: {}", name(&labels, organ), r.summary());
        println!("  cut in {ms:.0} ms");
    }
    Ok(ExitCode::SUCCESS)
}

/// A segment by name (case-insensitive) or label number.
fn find(labels: &LabelMap, key: &str) -> anyhow::Result<u16> {
    let key = key.trim();
    if let Some(s) = labels
        .segments
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(key))
    {
        return Ok(s.id);
    }
    if let Ok(id) = key.parse::<u16>()
        && labels.segments.iter().any(|s| s.id == id)
    {
        return Ok(id);
    }
    anyhow::bail!(
        "no segment {key:?} in the label map (it has {})",
        labels
            .segments
            .iter()
            .map(|s| s.name.as_str())
            .take(12)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn name(labels: &LabelMap, id: u16) -> String {
    labels
        .segments
        .iter()
        .find(|s| s.id == id)
        .map_or_else(|| id.to_string(), |s| s.name.clone())
}
