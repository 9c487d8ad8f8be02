//! The motion check's findings in plain words: which slices, how far, in
//! which direction in the patient's terms, and whether it can be corrected.

use super::{MIN_SHIFT_MM, MotionFinding, MotionReport};

/// "4.2 mm to the patient's left", or the two largest directions.
pub fn patient_words(lps: [f64; 3]) -> String {
    let names = [
        ("to the patient's right", "to the patient's left"),
        ("towards the front", "towards the back"),
        ("towards the feet", "towards the head"),
    ];
    let total = (lps[0] * lps[0] + lps[1] * lps[1] + lps[2] * lps[2]).sqrt();
    let mut parts: Vec<(f64, &str)> = lps
        .iter()
        .zip(names)
        .map(|(&v, (neg, pos))| (v.abs(), if v < 0.0 { neg } else { pos }))
        .collect();
    parts.sort_by(|a, b| b.0.total_cmp(&a.0));
    if parts[1].0 < 0.3 * total {
        format!("{total:.1} mm {}", parts[0].1)
    } else {
        format!(
            "{total:.1} mm ({:.1} mm {} and {:.1} mm {})",
            parts[0].0, parts[0].1, parts[1].0, parts[1].1
        )
    }
}

fn slices_words(first: usize, last: usize) -> String {
    if first == last {
        format!("slice {first}")
    } else {
        format!("slices {first}-{last}")
    }
}

pub(super) fn describe(f: &MotionFinding, turned: bool) -> String {
    let against = match f.against.as_slice() {
        [a] => format!("{a}"),
        [a, b] => format!("{a} and {b}"),
        _ => "their neighbours".into(),
    };
    let what = slices_words(f.first, f.last);
    if f.correctable {
        format!(
            "{what} shifted {} against {against}",
            patient_words(f.shift_lps)
        )
    } else if turned {
        format!(
            "{what} turned by {:.1}° against {against}: the patient moved, and a turn is not corrected here",
            f.angle_deg.abs()
        )
    } else {
        format!(
            "{what} moved against {against} in a way no in-plane shift explains (through the slice plane, or turning): it cannot be corrected here"
        )
    }
}

/// Adds the motion check's lines to the checklist and keeps its figures.
pub fn add_to_report(report: &mut crate::checks::SeriesReport, motion: MotionReport) {
    use crate::checks::{Category, Status};
    if let Some(plan) = &motion.applied {
        report.push(
            Category::Artifacts,
            "motion_correction",
            Status::Ok,
            format!(
                "re-aligned {} (each moved back by its measured shift) to correct motion between slices; the files are unchanged: open the scan without the correction to undo it",
                plan.summary()
            ),
        );
    }
    if motion.findings.is_empty() {
        report.push(
            Category::Artifacts,
            "motion",
            Status::Ok,
            format!(
                "no motion between slices: no slice is shifted against its neighbours by {MIN_SHIFT_MM} mm or more (slice-to-slice jitter {:.2} mm)",
                motion.jitter_mm
            ),
        );
    }
    for f in &motion.findings {
        let (status, what) = match (f.correctable, &motion.applied) {
            (true, Some(_)) => (Status::Ok, "corrected"),
            (true, None) => (
                Status::Warning,
                "the patient moved; re-aligning these slices corrects it (Re-align in the Study panel, or --realign-motion)",
            ),
            (false, _) => (
                Status::Warning,
                "a 3D model is distorted there: repeat the scan, or leave these slices out",
            ),
        };
        report.push(
            Category::Artifacts,
            "motion",
            status,
            format!("{}: {what}", f.description),
        );
    }
    report.motion = Some(motion);
}
