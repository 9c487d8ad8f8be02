//! The cohort at a glance: `summary.csv` (one row per study: its status,
//! error, time, peak memory, segments and their volumes, mesh checks) and
//! `summary.html` (the plots), rewritten whenever a run or a status query
//! ends. Writers take a lock and read the records inside it, so the last
//! writer always saw every record committed before it.

use std::fmt::Write as _;

use super::record::{State, StudyState, state_of};
use super::{Layout, Plan, Study};
use crate::base::error::{CoreError, Result};

/// How many studies stand where.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub done: usize,
    pub failed: usize,
    pub running: usize,
    pub waiting: usize,
}

impl Counts {
    pub fn total(&self) -> usize {
        self.done + self.failed + self.running + self.waiting
    }

    /// Every study done or failed.
    pub fn finished(&self) -> bool {
        self.running == 0 && self.waiting == 0
    }

    pub fn of(states: &[(&Study, StudyState)]) -> Counts {
        let mut c = Counts::default();
        for (_, s) in states {
            match s {
                StudyState::Done(_) => c.done += 1,
                StudyState::Failed(_) => c.failed += 1,
                StudyState::Running(_) => c.running += 1,
                StudyState::Waiting(_) => c.waiting += 1,
            }
        }
        c
    }
}

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

/// A value far from the rest of the cohort: beyond 1.5 interquartile
/// ranges outside the middle half (Tukey's fences), among at least five.
#[derive(Clone, Debug, PartialEq)]
pub struct Outlier {
    pub key: String,
    /// "time", "peak memory", or a segment's name.
    pub what: String,
    pub value: f64,
    /// The fences the value lies outside.
    pub low: f64,
    pub high: f64,
}

impl Outlier {
    pub fn describe(&self) -> String {
        format!(
            "{} {}",
            self.what,
            if self.value > self.high {
                "high"
            } else {
                "low"
            }
        )
    }
}

/// The value at fraction `q` of sorted `v` (linear between neighbours).
pub fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let at = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
    v[lo] + (v[hi] - v[lo]) * (at - lo as f64)
}

/// Tukey's fences of `values`, when there are enough to have any.
pub fn fences(values: &[f64]) -> Option<(f64, f64)> {
    if values.len() < 5 {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let (q1, q3) = (quantile(&v, 0.25), quantile(&v, 0.75));
    let iqr = q3 - q1;
    Some((q1 - 1.5 * iqr, q3 + 1.5 * iqr))
}

/// One measure across the done studies: (key, value).
pub(super) type Series = Vec<(String, f64)>;

/// The measures the summary plots: time, peak memory, then each segment's
/// volume (in the order segments first appear).
pub(super) fn measures(states: &[(&Study, StudyState)]) -> Vec<(String, Series)> {
    let mut time = Vec::new();
    let mut memory = Vec::new();
    let mut segments: Vec<(String, Series)> = Vec::new();
    for (study, state) in states {
        let StudyState::Done(r) = state else { continue };
        time.push((study.key.clone(), r.seconds));
        if let Some(b) = r.peak_memory_bytes {
            memory.push((study.key.clone(), b as f64 / (1u64 << 20) as f64));
        }
        for s in &r.segments {
            match segments.iter_mut().find(|(n, _)| *n == s.name) {
                Some((_, v)) => v.push((study.key.clone(), s.voxel_ml)),
                None => segments.push((s.name.clone(), vec![(study.key.clone(), s.voxel_ml)])),
            }
        }
    }
    let mut out = vec![
        ("time".to_string(), time),
        ("peak memory".to_string(), memory),
    ];
    out.extend(segments);
    out
}

pub(super) fn outliers(measures: &[(String, Series)]) -> Vec<Outlier> {
    let mut out = Vec::new();
    for (what, series) in measures {
        let values: Vec<f64> = series.iter().map(|(_, v)| *v).collect();
        let Some((low, high)) = fences(&values) else {
            continue;
        };
        for (key, value) in series {
            if *value < low || *value > high {
                out.push(Outlier {
                    key: key.clone(),
                    what: what.clone(),
                    value: *value,
                    low,
                    high,
                });
            }
        }
    }
    out
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
    fn one_far_value_among_many_is_an_outlier() {
        let values = [10.0, 11.0, 9.5, 10.2, 10.8, 9.9, 40.0];
        let (low, high) = fences(&values).unwrap();
        assert!(low < 9.5 && high > 11.0 && high < 40.0, "{low} {high}");
    }

    #[test]
    fn fewer_than_five_values_have_no_outliers() {
        assert_eq!(fences(&[1.0, 2.0, 100.0, 3.0]), None);
    }

    #[test]
    fn csv_fields_with_commas_and_quotes_are_quoted() {
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(field("plain"), "plain");
    }
}
