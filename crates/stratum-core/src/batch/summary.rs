//! The cohort at a glance: `summary.csv` (one row per study: its status,
//! error, time, peak memory, segments and their volumes, mesh checks) and
//! `summary.html` (the plots), rewritten whenever a run or a status query
//! ends. Writers take a lock and read the records inside it, so the last
//! writer always saw every record committed before it.

use std::fmt::Write as _;

use super::record::{State, StudyState, state_of};
use super::stats::{Counts, Outlier, measures, outliers};
use super::{Layout, Plan, Study};
use crate::base::error::{CoreError, Result};

/// Where every study of the plan stands (`probe_lock`: also whether a
/// process is converting it now).
pub fn states<'a>(
    layout: &Layout,
    plan: &'a Plan,
    probe_lock: bool,
) -> Vec<(&'a Study, StudyState)> {
    plan.studies
        .iter()
        .map(|s| (s, state_of(layout, s, probe_lock)))
        .collect()
}

/// Writes `summary.csv` and `summary.html` for the plan's studies as they
/// stand; `with_source`: include where each study came from (left out
/// when the batch anonymizes: folder names often carry patient names).
pub fn write_summary(layout: &Layout, plan: &Plan, with_source: bool) -> Result<Counts> {
    let lock_path = layout.locks().join("summary.lock");
    crate::base::atomic::create_folder(&layout.locks())?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| CoreError::io(&lock_path, e))?;
    lock.lock().map_err(|e| CoreError::io(&lock_path, e))?;
    let states = states(layout, plan, true);
    let measures = measures(&states);
    let outliers = outliers(&measures);
    crate::base::atomic::write_bytes_atomic(
        &layout.summary_csv(),
        csv(&states, &outliers, with_source).as_bytes(),
    )?;
    crate::base::atomic::write_bytes_atomic(
        &layout.summary_html(),
        super::html::page(plan, &states, &measures, &outliers, with_source).as_bytes(),
    )?;
    Ok(Counts::of(&states))
}

/// A CSV field, quoted when it must be.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn num(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        String::new()
    }
}

fn csv(states: &[(&Study, StudyState)], outliers: &[Outlier], with_source: bool) -> String {
    let mut names: Vec<&str> = Vec::new();
    for (_, s) in states {
        for seg in s
            .record()
            .map(|r| r.segments.as_slice())
            .unwrap_or_default()
        {
            if !names.contains(&seg.name.as_str()) {
                names.push(&seg.name);
            }
        }
    }
    let mut header = vec!["key".to_string()];
    if with_source {
        header.push("source".into());
    }
    header.extend(
        [
            "status",
            "error",
            "seconds",
            "peak_memory_mib",
            "series_checks",
            "segments",
            "triangles",
            "closed",
            "min_dice",
            "max_p95_mm",
            "check_flags",
            "outliers",
        ]
        .map(String::from),
    );
    header.extend(names.iter().map(|n| format!("{n} mL")));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        header
            .iter()
            .map(|h| field(h))
            .collect::<Vec<_>>()
            .join(",")
    );
    for (study, state) in states {
        let mut row = vec![study.key.clone()];
        if with_source {
            row.push(study.source.clone());
        }
        row.push(state.word().to_string());
        let Some(r) = state.record() else {
            row.push(match state {
                StudyState::Running(holder) => format!("running ({holder})"),
                StudyState::Waiting(Some(why)) => format!("to redo: {why}"),
                _ => String::new(),
            });
            row.resize(header.len(), String::new());
            let _ = writeln!(
                out,
                "{}",
                row.iter().map(|f| field(f)).collect::<Vec<_>>().join(",")
            );
            continue;
        };
        row.push(r.error.clone().unwrap_or_default());
        row.push(num(r.seconds, 2));
        row.push(
            r.peak_memory_bytes
                .map(|b| num(b as f64 / (1u64 << 20) as f64, 0))
                .unwrap_or_default(),
        );
        row.push(match (r.check_errors, r.check_warnings) {
            _ if !r.checked => String::new(),
            (0, 0) => "ok".into(),
            (0, w) => format!("{w} warnings"),
            (e, w) => format!("{e} errors, {w} warnings"),
        });
        let done = r.state == State::Done;
        row.push(if done {
            r.segments.len().to_string()
        } else {
            String::new()
        });
        row.push(if done {
            r.segments
                .iter()
                .map(|s| s.triangles)
                .sum::<usize>()
                .to_string()
        } else {
            String::new()
        });
        let open: Vec<&str> = r
            .segments
            .iter()
            .filter(|s| !s.watertight)
            .map(|s| s.name.as_str())
            .collect();
        row.push(match (done, open.is_empty()) {
            (false, _) => String::new(),
            (true, true) => "yes".into(),
            (true, false) => format!("no: {}", open.join("; ")),
        });
        let min_dice = r.segments.iter().filter_map(|s| s.dice).reduce(f64::min);
        let max_p95 = r.segments.iter().filter_map(|s| s.p95_mm).reduce(f64::max);
        row.push(min_dice.map(|v| num(v, 4)).unwrap_or_default());
        row.push(max_p95.map(|v| num(v, 2)).unwrap_or_default());
        let flags: Vec<String> = r
            .segments
            .iter()
            .flat_map(|s| s.flags.iter().map(move |f| format!("{}: {f}", s.name)))
            .collect();
        row.push(flags.join("; "));
        let odd: Vec<String> = outliers
            .iter()
            .filter(|o| o.key == study.key)
            .map(Outlier::describe)
            .collect();
        row.push(odd.join("; "));
        for n in &names {
            row.push(
                r.segments
                    .iter()
                    .find(|s| s.name == *n)
                    .map(|s| num(s.voxel_ml, 3))
                    .unwrap_or_default(),
            );
        }
        let _ = writeln!(
            out,
            "{}",
            row.iter().map(|f| field(f)).collect::<Vec<_>>().join(",")
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_commas_and_quotes_are_quoted() {
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(field("plain"), "plain");
    }
}
