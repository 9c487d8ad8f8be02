//! The desktop app's command-line options (`stratum [PATH] --series ...`)
//! and the parsers of their values (clip planes, rulers, sizes, presets).

use std::path::PathBuf;

use super::SubsetArgs;

/// Options of the desktop app.
#[derive(clap::Args, Debug, Default)]
pub struct GuiArgs {
    /// DICOM folder or file, or a .nii/.nii.gz file (the demo study when omitted)
    pub path: Option<PathBuf>,
    /// Open this series of the folder (id or SeriesInstanceUID, or its number)
    #[arg(long)]
    pub series: Option<String>,
    #[command(flatten)]
    pub subset: SubsetArgs,
    /// Run this AI model (`stratum models` lists them) once the study has loaded
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Open a label map (NIfTI, e.g. from TotalSegmentator, or a DICOM SEG)
    /// with the scan: each label becomes a segment
    #[arg(long, value_name = "NIFTI|SEG")]
    pub labels: Option<PathBuf>,
    /// With --labels: the label names (TSV of value and name)
    #[arg(long, value_name = "TSV", requires = "labels")]
    pub names: Option<PathBuf>,
    /// Turn the 3D view slowly about the patient's long axis (a turntable,
    /// for a demonstration; View ▸ Turntable)
    #[arg(long)]
    pub turntable: bool,
    /// Start with a clip plane through the study centre: axial (cuts the top
    /// away), coronal (the front), sagittal (the left) or oblique; ":MM"
    /// moves it that far towards the part it cuts away (negative: deeper),
    /// e.g. coronal:-40; up to three
    #[arg(long, value_name = "PLANE[:MM]", value_parser = parse_clip)]
    pub clip: Vec<(stratum::app::actions::ClipKind, f64)>,
    /// Start with a ruler between two LPS points in mm, "L,P,S:L,P,S"
    #[arg(long, value_name = "A:B", value_parser = parse_ruler)]
    pub ruler: Vec<([f64; 3], [f64; 3])>,
    /// Colour segment A's surface by its distance to segment B once both are
    /// built (the margin map: red under 5 mm, yellow under 10), "A,B" by name
    #[arg(long, value_name = "A,B", value_parser = parse_pair)]
    pub margin: Option<(String, String)>,
    /// A point of a curved cut, "L,P,S" in mm (repeat it: from three points
    /// the smooth surface through them is drawn; Distances & resection ▸
    /// a curved surface cuts along it)
    #[arg(long, value_name = "L,P,S", value_parser = parse_point)]
    pub cut_point: Vec<[f64; 3]>,
    /// Show the safety margin around a segment (e.g. a lesion) as a
    /// translucent shell, "NAME" (10 mm) or "NAME:MM"
    #[arg(long, value_name = "NAME[:MM]", value_parser = parse_shell)]
    pub margin_shell: Option<(String, f64)>,
    /// Once the study is loaded and its surfaces built, save the window as a
    /// PNG here and exit (for checks and documentation)
    #[arg(long, value_name = "PNG")]
    pub screenshot: Option<PathBuf>,
    /// Segment with this threshold preset as soon as the scan has loaded:
    /// bone, soft-tissue, lungs, skin or vessels
    #[arg(long, value_name = "NAME", value_parser = parse_preset)]
    pub preset: Option<stratum_core::segment::Preset>,
    /// What the 3D view starts with: `volume` (the scan rendered as a volume,
    /// with the study's default preset), `volume:PRESET` (ct-bone,
    /// ct-soft-tissue, ct-angio, ct-lung, ct-skin, mr-default or mip), or
    /// `surfaces` (segment surfaces only). Default: the volume when the study
    /// has no segments
    #[arg(long, value_name = "MODE", value_parser = parse_render)]
    pub render: Option<stratum::app::features::volume::RenderOnLoad>,
    /// Start in the OpenXR headset (the window stays as the spectator view);
    /// without a runtime or headset the desktop app says what is missing
    #[arg(long)]
    pub xr: bool,
    /// With --xr: write the XR session's state as JSON lines to this file
    /// (session state, frames per eye, anatomy pose, hands, clip planes, frame times)
    #[arg(long, value_name = "FILE", requires = "xr")]
    pub xr_trace: Option<PathBuf>,
    /// With --xr: render each eye at WIDTHxHEIGHT instead of the size the
    /// runtime recommends (sharper, or lighter on a slow GPU; up to the
    /// runtime's maximum)
    #[arg(long, value_name = "WxH", requires = "xr", value_parser = parse_size)]
    pub eye_size: Option<(u32, u32)>,
    /// Window size in logical pixels, WIDTHxHEIGHT
    #[arg(long, default_value = "1600x1000", value_parser = parse_size)]
    pub size: (u32, u32),
}

fn parse_clip(s: &str) -> Result<(stratum::app::actions::ClipKind, f64), String> {
    let (kind, mm) = match s.split_once(':') {
        Some((kind, mm)) => {
            let mm = mm
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    format!("{s:?}: the offset after ':' is millimetres, e.g. coronal:-40")
                })?;
            (kind, mm)
        }
        None => (s, 0.0),
    };
    let kind = stratum::app::actions::ClipKind::parse(kind)
        .ok_or_else(|| format!("{s:?}: use axial, coronal, sagittal or oblique, optionally :MM"))?;
    Ok((kind, mm))
}

fn parse_render(s: &str) -> Result<stratum::app::features::volume::RenderOnLoad, String> {
    use stratum::app::features::volume::RenderOnLoad;
    match s.split_once(':') {
        None if s == "volume" => Ok(RenderOnLoad::Volume(None)),
        None if s == "surfaces" => Ok(RenderOnLoad::Surfaces),
        Some(("volume", preset)) => stratum_core::image::transfer::TfPreset::parse(preset)
            .map(|p| RenderOnLoad::Volume(Some(p)))
            .map_err(|e| e.to_string()),
        _ => Err(format!(
            "{s:?}: use volume, volume:PRESET (ct-bone, ct-soft-tissue, ct-angio, ct-lung, ct-skin, mr-default, mip) or surfaces"
        )),
    }
}

fn parse_preset(s: &str) -> Result<stratum_core::segment::Preset, String> {
    stratum_core::segment::Preset::parse(s)
        .ok_or_else(|| format!("{s:?}: use bone, soft-tissue, lungs, skin or vessels"))
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once(',') {
        Some((a, b)) if !a.trim().is_empty() && !b.trim().is_empty() => {
            Ok((a.trim().to_string(), b.trim().to_string()))
        }
        _ => Err(format!("{s:?}: two segment names, \"A,B\"")),
    }
}

fn parse_point(p: &str) -> Result<[f64; 3], String> {
    let v: Vec<f64> = p
        .split(',')
        .map(|x| match x.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(format!("{x:?} is not a number")),
        })
        .collect::<Result<_, _>>()?;
    v.try_into()
        .map_err(|_| format!("{p:?}: a point is three numbers L,P,S"))
}

fn parse_ruler(s: &str) -> Result<([f64; 3], [f64; 3]), String> {
    let (a, b) = s.split_once(':').ok_or("expected L,P,S:L,P,S")?;
    Ok((parse_point(a)?, parse_point(b)?))
}

fn parse_shell(s: &str) -> Result<(String, f64), String> {
    let (name, mm) = match s.rsplit_once(':') {
        Some((n, mm)) => {
            let mm = mm
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|v| v.is_finite() && *v >= 0.0)
                .ok_or_else(|| format!("{mm:?}: a margin is 0 mm or more"))?;
            (n, mm)
        }
        None => (s, 10.0),
    };
    if name.trim().is_empty() {
        return Err(format!("{s:?}: a segment name, \"NAME\" or \"NAME:MM\""));
    }
    Ok((name.trim().to_string(), mm))
}

pub(super) fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("expected WIDTHxHEIGHT, got {s}"))?;
    let n = |v: &str| {
        v.trim()
            .parse::<u32>()
            .map_err(|_| format!("not a size: {s}"))
    };
    Ok((n(w)?, n(h)?))
}
