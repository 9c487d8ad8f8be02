//! "Is this scan good enough for a 3D model?": a green / amber / red answer
//! with the numbers behind it and what to ask the scanner for instead.
//!
//! The figures: slice spacing and thickness against the in-plane pixel size
//! (surfaces show terraces when slices are much coarser than pixels), the
//! smallest structure a model holds reliably (about 3 voxels across), the
//! noise in uniform tissue (CT: HU standard deviation, the mode over small
//! soft-tissue patches, as in Christianson et al.'s global noise level; MR:
//! signal-to-noise) and what it does to a threshold surface, whether the
//! body is cut by the edge of the field of view, and the contrast phase
//! where the DICOM says it.

use serde::Serialize;

mod measure;

use measure::{fov_of, noise_of};

use crate::image::volume::Volume;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Grade {
    Green,
    Amber,
    Red,
}

impl Grade {
    pub fn word(self) -> &'static str {
        match self {
            Grade::Green => "green",
            Grade::Amber => "amber",
            Grade::Red => "red",
        }
    }
}

/// What the headers say that the voxels do not.
#[derive(Clone, Debug, Default)]
pub struct ScanFacts {
    /// SliceThickness (mm): a slice may be thicker than its step.
    pub slice_thickness: Option<f64>,
    /// The real steps between slices (mm), when uneven.
    pub steps: Vec<f64>,
    pub contrast_agent: Option<String>,
    /// ContrastBolusAgentPhase.
    pub contrast_phase: Option<String>,
    /// SeriesDescription, read for phase words only ("arterial", ...).
    pub description: String,
}

impl ScanFacts {
    /// The facts of a DICOM series loaded at `positions`.
    pub fn of_series(series: &crate::dicom::Series, positions: &[[f64; 3]]) -> ScanFacts {
        let first = series.files.first();
        let steps = match series.normal() {
            Some(n) => positions
                .windows(2)
                .map(|w| crate::image::volume::dot(n, crate::image::volume::sub(w[1], w[0])).abs())
                .collect(),
            None => Vec::new(),
        };
        ScanFacts {
            slice_thickness: first.and_then(|h| h.slice_thickness),
            steps,
            contrast_agent: series.files.iter().find_map(|h| h.contrast_agent.clone()),
            contrast_phase: series.files.iter().find_map(|h| h.contrast_phase.clone()),
            description: series.description.clone(),
        }
    }
}

/// One figure of the answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FitnessItem {
    /// "resolution", "smallest_structure", "noise", "field_of_view", "contrast".
    pub what: &'static str,
    pub grade: Grade,
    pub message: String,
    /// What to ask the scanner for instead, when it is not green.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ask: Option<String>,
}

/// The noise in uniform tissue.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Noise {
    /// Standard deviation (HU for CT, scanner units for MR).
    pub sd: f64,
    /// "HU" for CT, "" otherwise.
    pub unit: &'static str,
    /// Mean over the standard deviation (MR).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snr: Option<f64>,
    /// Uniform patches measured.
    pub patches: usize,
}

/// The body cut by the image edge.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FovCut {
    pub slices: usize,
    pub of: usize,
    /// Where, in patient words ("the patient's left", ...).
    pub sides: Vec<String>,
}

/// The answer and its figures (`stratum inspect --json` prints it whole).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fitness {
    pub grade: Grade,
    pub summary: String,
    pub pixel_mm: [f64; 2],
    pub slice_spacing_mm: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slice_thickness_mm: Option<f64>,
    /// Through-plane size (spacing or thickness, the coarser) over the
    /// finest in-plane pixel.
    pub anisotropy: f64,
    pub smallest_structure_mm: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise: Option<Noise>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fov_cut: Option<FovCut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contrast: Option<String>,
    pub items: Vec<FitnessItem>,
}

/// Assesses a volume as loaded (before any resampling).
pub fn assess(volume: &Volume, facts: &ScanFacts) -> Fitness {
    let g = &volume.geometry;
    let px = [g.spacing[0], g.spacing[1]];
    // The median step: a few wider gaps are reported by the spacing check.
    let typical = if facts.steps.is_empty() {
        g.spacing[2]
    } else {
        let mut s = facts.steps.clone();
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    };
    let thickness = facts.slice_thickness.filter(|t| *t > 0.0 && t.is_finite());
    let through = typical.max(thickness.unwrap_or(0.0));
    let fine = px[0].min(px[1]).max(1e-6);
    let anisotropy = through / fine;
    let coarsest = through.max(px[0]).max(px[1]);
    let smallest = 3.0 * coarsest;
    let mut items = vec![resolution(px, typical, thickness, through, anisotropy)];
    items.push(smallest_item(smallest, coarsest));
    let noise = crate::with_voxels!(&volume.voxels, a => noise_of(a, volume.is_ct()));
    if let Some(n) = &noise {
        items.push(noise_item(n));
    }
    let fov_cut = crate::with_voxels!(&volume.voxels, a => fov_of(a, volume));
    items.push(fov_item(fov_cut.as_ref()));
    let contrast = contrast_of(facts, volume.is_ct());
    if let Some(c) = &contrast {
        items.push(FitnessItem {
            what: "contrast",
            grade: Grade::Green,
            message: c.clone(),
            ask: None,
        });
    }
    let grade = items.iter().map(|i| i.grade).max().unwrap_or(Grade::Green);
    let head = match grade {
        Grade::Green => "good enough for a 3D model",
        Grade::Amber => "usable for a 3D model, with limits",
        Grade::Red => "not good for a detailed 3D model",
    };
    let mut figures = vec![format!(
        "slices {typical:.2} mm apart{} on {:.2} mm pixels",
        thickness
            .map(|t| format!(" ({t:.2} mm thick)"))
            .unwrap_or_default(),
        fine
    )];
    figures.push(format!(
        "smallest reliable structure about {smallest:.0} mm"
    ));
    if let Some(n) = &noise {
        figures.push(match n.snr {
            Some(snr) => format!("signal-to-noise about {snr:.0}"),
            None => format!("noise {:.0} {}", n.sd, n.unit),
        });
    }
    if let Some(c) = &fov_cut {
        figures.push(format!(
            "body cut at the edge on {} of {} slices",
            c.slices, c.of
        ));
    }
    // Coarse slices limit both the terraces and the smallest structure:
    // one ask for both.
    let mut asks: Vec<&str> = Vec::new();
    for ask in items
        .iter()
        .filter(|i| i.grade != Grade::Green)
        .filter_map(|i| i.ask.as_deref())
    {
        if !asks.contains(&ask) {
            asks.push(ask);
        }
    }
    let summary = format!(
        "{} ({}): {}{}",
        head,
        grade.word(),
        figures.join(", "),
        if asks.is_empty() {
            String::new()
        } else {
            format!("; ask for {}", asks.join(", and "))
        }
    );
    Fitness {
        grade,
        summary,
        pixel_mm: px,
        slice_spacing_mm: typical,
        slice_thickness_mm: thickness,
        anisotropy,
        smallest_structure_mm: smallest,
        noise,
        fov_cut,
        contrast,
        items,
    }
}

const THIN_SLICES: &str = "a reconstruction at 1 mm or thinner (overlapping slices if possible)";

fn resolution(
    px: [f64; 2],
    step: f64,
    thickness: Option<f64>,
    through: f64,
    anisotropy: f64,
) -> FitnessItem {
    let grade = if through <= 1.25 || (anisotropy <= 2.0 && through <= 2.0) {
        Grade::Green
    } else if through >= 4.0 {
        Grade::Red
    } else {
        Grade::Amber
    };
    let thick = thickness
        .filter(|t| (t - step).abs() > 0.05)
        .map(|t| format!(" ({t:.2} mm thick)"))
        .unwrap_or_default();
    let effect = if anisotropy > 2.0 {
        format!(
            "{anisotropy:.1}x coarser between slices than within them, so surfaces that run across the slices show terraces about {through:.1} mm high"
        )
    } else {
        "about as fine between slices as within them, so surfaces are smooth in every direction"
            .into()
    };
    FitnessItem {
        what: "resolution",
        grade,
        message: format!(
            "slices {step:.2} mm apart{thick} on {:.2} x {:.2} mm pixels: {effect}",
            px[0], px[1]
        ),
        ask: (grade != Grade::Green).then(|| THIN_SLICES.to_string()),
    }
}

fn smallest_item(smallest: f64, coarsest: f64) -> FitnessItem {
    let grade = if smallest <= 4.5 {
        Grade::Green
    } else if smallest <= 9.0 {
        Grade::Amber
    } else {
        Grade::Red
    };
    FitnessItem {
        what: "smallest_structure",
        grade,
        message: format!(
            "structures thinner than about {smallest:.1} mm (3 voxels of {coarsest:.1} mm) come out lumpy, broken or missing: {}",
            match grade {
                Grade::Green => "fine for bones, organs and larger vessels",
                Grade::Amber =>
                    "fine for organs and large bones, not for small vessels or thin bone",
                Grade::Red => "only large organs and bones model well",
            }
        ),
        ask: (grade != Grade::Green).then(|| THIN_SLICES.to_string()),
    }
}

fn noise_item(n: &Noise) -> FitnessItem {
    match n.snr {
        None => {
            let grade = if n.sd <= 15.0 {
                Grade::Green
            } else if n.sd <= 100.0 {
                Grade::Amber
            } else {
                Grade::Red
            };
            let effect = match grade {
                Grade::Green => {
                    "threshold surfaces come out smooth, also between soft tissues (about 50 HU apart)"
                }
                Grade::Amber => {
                    "bone surfaces come out well; surfaces between soft tissues (about 50 HU apart) will be rough: smooth them more"
                }
                Grade::Red => {
                    "even bone surfaces will be rough and soft tissues cannot be told apart by a threshold"
                }
            };
            FitnessItem {
                what: "noise",
                grade,
                message: format!(
                    "noise {:.1} HU (standard deviation in uniform soft tissue, {} patches): {effect}",
                    n.sd, n.patches
                ),
                ask: (grade != Grade::Green).then(|| {
                    "a soft-tissue (smooth) kernel, or thicker slices from the same raw data, for soft-tissue models".to_string()
                }),
            }
        }
        Some(snr) => {
            let grade = if snr >= 20.0 {
                Grade::Green
            } else if snr >= 8.0 {
                Grade::Amber
            } else {
                Grade::Red
            };
            FitnessItem {
                what: "noise",
                grade,
                message: format!(
                    "signal-to-noise about {snr:.0} in uniform tissue ({} patches): {}",
                    n.patches,
                    match grade {
                        Grade::Green => "threshold surfaces come out smooth",
                        Grade::Amber => "threshold surfaces will be rough: smooth them more",
                        Grade::Red => "a threshold will follow the noise, not the anatomy",
                    }
                ),
                ask: (grade != Grade::Green)
                    .then(|| "more averages or a larger voxel in the MR protocol".to_string()),
            }
        }
    }
}

fn fov_item(cut: Option<&FovCut>) -> FitnessItem {
    match cut {
        None => FitnessItem {
            what: "field_of_view",
            grade: Grade::Green,
            message: "the body lies inside the field of view".into(),
            ask: None,
        },
        Some(c) => FitnessItem {
            what: "field_of_view",
            grade: Grade::Amber,
            message: format!(
                "the body is cut by the edge of the image on {} of {} slices (at {}): surfaces there end in flat cuts; this does not matter for structures away from the edge",
                c.slices,
                c.of,
                c.sides.join(" and ")
            ),
            ask: Some("a reconstruction with a larger field of view".into()),
        },
    }
}

/// What the DICOM says about contrast: the agent and a phase (from
/// ContrastBolusAgentPhase or words of the series description).
fn contrast_of(facts: &ScanFacts, ct: bool) -> Option<String> {
    let d = facts.description.to_ascii_lowercase();
    let phase_word = [
        ("arterial", "arterial phase"),
        ("angio", "arterial phase (angiography)"),
        ("portal", "portal venous phase"),
        ("venous", "venous phase"),
        ("delayed", "delayed phase"),
        ("nephro", "nephrographic phase"),
        ("native", "no contrast (native)"),
        ("non-contrast", "no contrast"),
        ("non contrast", "no contrast"),
        ("w/o", "no contrast"),
    ]
    .iter()
    .find(|(w, _)| d.contains(w))
    .map(|(_, p)| *p);
    let phase = facts
        .contrast_phase
        .as_deref()
        .map(|p| p.replace('_', " ").to_ascii_lowercase())
        .map(|p| format!("{p} (ContrastBolusAgentPhase)"))
        .or_else(|| phase_word.map(|p| format!("{p} (from the series description)")));
    let agent = facts.contrast_agent.is_some();
    let advice = if ct {
        "; arteries model best in an arterial phase, organs and veins in a portal venous phase, bone needs none"
    } else {
        ""
    };
    match (agent, phase) {
        (_, Some(p)) => Some(format!("contrast: {p}{advice}")),
        (true, None) => Some(format!(
            "contrast was given (ContrastBolusAgent is set); the phase is not recorded{advice}"
        )),
        (false, None) => None,
    }
}

/// Adds the fitness lines to the checklist (the answer first, then each
/// figure) and keeps the figures.
pub fn add_to_report(report: &mut super::SeriesReport, fitness: Fitness) {
    use super::{Category, Status};
    let status = |g: Grade| match g {
        Grade::Green => Status::Ok,
        Grade::Amber | Grade::Red => Status::Warning,
    };
    report.push(
        Category::Fitness,
        "fitness",
        status(fitness.grade),
        fitness.summary.clone(),
    );
    for item in &fitness.items {
        let ask = match (&item.ask, item.grade) {
            (Some(a), Grade::Amber | Grade::Red) => format!("; ask for {a}"),
            _ => String::new(),
        };
        report.push(
            Category::Fitness,
            item.what,
            status(item.grade),
            format!("{}: {}{ask}", item.grade.word(), item.message),
        );
    }
    report.fitness = Some(fitness);
}
