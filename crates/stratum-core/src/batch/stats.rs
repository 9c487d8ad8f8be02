//! The cohort's numbers: how many studies stand where, and the measures
//! the summary plots (time, peak memory, each segment's volume) with the
//! studies far from the rest (Tukey's fences). Read by the summary's CSV
//! and its HTML page alike.

use super::Study;
use super::record::StudyState;

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
pub type Series = Vec<(String, f64)>;

/// The measures the summary plots: time, peak memory, then each segment's
/// volume (in the order segments first appear).
pub fn measures(states: &[(&Study, StudyState)]) -> Vec<(String, Series)> {
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

pub fn outliers(measures: &[(String, Series)]) -> Vec<Outlier> {
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
}
