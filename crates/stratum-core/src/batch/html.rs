//! `summary.html`: one self-contained page (no script, no fetched file)
//! with the cohort's counts, what to look at first (outliers, failures),
//! and strip plots drawn as inline SVG: time and peak memory per study,
//! and each segment's volume across the cohort, outliers in red.

use std::fmt::Write as _;

use super::record::StudyState;
use super::stats::{Counts, Outlier, Series, fences, quantile};
use super::{Plan, Study};

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number as short as it reads well.
fn short(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A small vertical offset for each dot, the same for a key every time,
/// so dots at one value spread out instead of hiding each other.
fn jitter(key: &str) -> f64 {
    let h = key
        .bytes()
        .fold(2166136261u32, |h, b| (h ^ b as u32).wrapping_mul(16777619));
    (h % 1000) as f64 / 1000.0 - 0.5
}

const WIDTH: f64 = 720.0;
const LABEL: f64 = 190.0;
const ROW: f64 = 34.0;

/// One strip per measure, each on its own scale: the middle half as a
/// box, the median as a line, every study as a dot (outliers red, with
/// their key), its value in the dot's tooltip.
fn strips(rows: &[(String, &str, &Series)], outliers: &[Outlier]) -> String {
    let plot = WIDTH - LABEL - 70.0;
    let height = ROW * rows.len() as f64 + 10.0;
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" role="img">"#
    );
    for (i, (label, unit, series)) in rows.iter().enumerate() {
        let y = 5.0 + ROW * i as f64 + ROW / 2.0;
        let mut v: Vec<f64> = series.iter().map(|(_, x)| *x).collect();
        v.sort_by(f64::total_cmp);
        let _ = write!(
            s,
            r#"<text x="{x}" y="{y}" class="label" text-anchor="end" dominant-baseline="middle">{l} <tspan class="n">({n})</tspan></text>"#,
            x = LABEL - 8.0,
            l = esc(label),
            n = v.len()
        );
        if v.is_empty() {
            continue;
        }
        let (lo, hi) = (v[0], v[v.len() - 1]);
        let span = if hi > lo { hi - lo } else { hi.abs().max(1.0) };
        let (lo, hi) = (lo - span * 0.04, hi + span * 0.04);
        let x = |val: f64| LABEL + (val - lo) / (hi - lo) * plot;
        let _ = write!(
            s,
            r#"<line x1="{LABEL}" x2="{x2}" y1="{y}" y2="{y}" class="axis"/>"#,
            x2 = LABEL + plot
        );
        if v.len() >= 4 {
            let (q1, med, q3) = (quantile(&v, 0.25), quantile(&v, 0.5), quantile(&v, 0.75));
            let _ = write!(
                s,
                r#"<rect x="{bx:.1}" y="{by:.1}" width="{bw:.1}" height="16" class="box"/><line x1="{mx:.1}" x2="{mx:.1}" y1="{by:.1}" y2="{be:.1}" class="median"/>"#,
                bx = x(q1),
                by = y - 8.0,
                bw = (x(q3) - x(q1)).max(1.0),
                mx = x(med),
                be = y + 8.0
            );
        }
        if let Some((flo, fhi)) = fences(&v) {
            for f in [flo, fhi] {
                if f > lo && f < hi {
                    let _ = write!(
                        s,
                        r#"<line x1="{fx:.1}" x2="{fx:.1}" y1="{a:.1}" y2="{b:.1}" class="fence"/>"#,
                        fx = x(f),
                        a = y - 12.0,
                        b = y + 12.0
                    );
                }
            }
        }
        for (key, val) in series.iter() {
            let odd = outliers.iter().any(|o| o.key == *key && o.what == *label);
            let cy = y + jitter(key) * 12.0;
            let _ = write!(
                s,
                r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="{r}" class="{c}"><title>{k}: {val} {u}</title></circle>"#,
                cx = x(*val),
                r = if odd { 5.0 } else { 3.5 },
                c = if odd { "odd" } else { "dot" },
                k = esc(key),
                val = short(*val),
                u = esc(unit)
            );
            if odd {
                let _ = write!(
                    s,
                    r#"<text x="{tx:.1}" y="{ty:.1}" class="oddlabel" text-anchor="middle">{k}</text>"#,
                    tx = x(*val),
                    ty = y - 10.0,
                    k = esc(key)
                );
            }
        }
        let _ = write!(
            s,
            r#"<text x="{LABEL}" y="{ty:.1}" class="tick">{a}</text><text x="{bx:.1}" y="{ty:.1}" class="tick" text-anchor="end">{b} {u}</text>"#,
            ty = y + 15.0,
            a = short(v[0]),
            bx = LABEL + plot,
            b = short(v[v.len() - 1]),
            u = esc(unit)
        );
    }
    s.push_str("</svg>");
    s
}

const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;margin:2em auto;max-width:760px;color:#222;padding:0 1em}\
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}\
.counts span{margin-right:1.2em}.done{color:#1a7f37}.failed{color:#c62828}.muted{color:#666}\
table{border-collapse:collapse;width:100%;font-size:.92em}td,th{text-align:left;padding:.25em .5em;border-bottom:1px solid #eee;vertical-align:top}\
code{font-size:.95em}svg text{font:12px system-ui,sans-serif}svg .label{fill:#222}svg .n,svg .tick{fill:#777}\
svg .axis{stroke:#ccc}svg .box{fill:#dbe7f5;stroke:#8aa9cf}svg .median{stroke:#2b5d9c;stroke-width:2}\
svg .fence{stroke:#e0a0a0;stroke-dasharray:3 3}svg .dot{fill:#2b5d9c;fill-opacity:.65}svg .odd{fill:#d62728}\
svg .oddlabel{fill:#d62728;font-size:11px}";

pub(super) fn page(
    plan: &Plan,
    states: &[(&Study, StudyState)],
    measures: &[(String, Series)],
    outliers: &[Outlier],
    with_source: bool,
) -> String {
    let c = Counts::of(states);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">\
<title>Stratum batch: {n} studies</title><style>{STYLE}</style></head><body>\
<h1>Batch of {n} studies</h1><p class=\"counts\"><span class=\"done\">{d} done</span><span class=\"failed\">{f} failed</span>\
<span class=\"muted\">{r} running, {w} waiting</span></p>",
        n = c.total(),
        d = c.done,
        f = c.failed,
        r = c.running,
        w = c.waiting
    );
    if with_source {
        let _ = write!(
            h,
            "<p class=\"muted\">From <code>{}</code>.</p>",
            esc(&plan.input.to_string_lossy())
        );
    }
    let source_of = |key: &str| {
        if !with_source {
            return String::new();
        }
        let s = states
            .iter()
            .find(|(s, _)| s.key == key)
            .map(|(s, _)| s.source.as_str())
            .unwrap_or("");
        format!("<td>{}</td>", esc(s))
    };
    let src_head = if with_source { "<th>source</th>" } else { "" };
    h.push_str("<h2>Look at these first</h2>");
    if outliers.is_empty() {
        let _ = write!(
            h,
            "<p>No study lies far from the others (outliers are looked for among at least 5 done studies; {} are done).</p>",
            c.done
        );
    } else {
        let _ = write!(
            h,
            "<p>Beyond 1.5 interquartile ranges outside the middle half of the cohort:</p><table><tr><th>study</th>{src_head}<th>what</th><th>value</th><th>usual range</th></tr>"
        );
        for o in outliers {
            let unit = if o.what == "time" {
                "s"
            } else if o.what == "peak memory" {
                "MiB"
            } else {
                "mL"
            };
            let _ = write!(
                h,
                "<tr><td><code>{k}</code></td>{src}<td>{w}</td><td>{v} {unit}</td><td>{a} to {b}</td></tr>",
                k = esc(&o.key),
                src = source_of(&o.key),
                w = esc(&o.describe()),
                v = short(o.value),
                a = short(o.low.max(0.0)),
                b = short(o.high)
            );
        }
        h.push_str("</table>");
    }
    let failed: Vec<_> = states
        .iter()
        .filter_map(|(s, st)| match st {
            StudyState::Failed(r) => Some((s, r)),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        let _ = write!(
            h,
            "<h2>Failed ({})</h2><table><tr><th>study</th>{src_head}<th>error</th></tr>",
            failed.len()
        );
        for (s, r) in failed {
            let _ = write!(
                h,
                "<tr><td><code>{}</code></td>{}<td>{}</td></tr>",
                esc(&s.key),
                source_of(&s.key),
                esc(r.error.as_deref().unwrap_or(""))
            );
        }
        h.push_str("</table>");
    }
    let find = |name: &str| measures.iter().find(|(n, _)| n == name).map(|(_, s)| s);
    let empty = Series::new();
    h.push_str("<h2>Time and memory per study</h2>");
    h.push_str(&strips(
        &[
            ("time".to_string(), "s", find("time").unwrap_or(&empty)),
            (
                "peak memory".to_string(),
                "MiB",
                find("peak memory").unwrap_or(&empty),
            ),
        ],
        outliers,
    ));
    let segments: Vec<(String, &str, &Series)> = measures
        .iter()
        .filter(|(n, _)| n != "time" && n != "peak memory")
        .map(|(n, s)| (n.clone(), "mL", s))
        .collect();
    if !segments.is_empty() {
        h.push_str("<h2>Volume of each segment</h2><p class=\"muted\">Voxel volume in mL, each segment on its own scale; the box is the middle half, dashed lines the outlier fences.</p>");
        h.push_str(&strips(&segments, outliers));
    }
    h.push_str("<p class=\"muted\">Every study, with its error, time, memory, volumes and mesh checks: <a href=\"summary.csv\">summary.csv</a>; each study's files, series checks and validation report: <code>studies/KEY/</code>.</p></body></html>\n");
    h
}
