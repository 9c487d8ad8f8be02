//! The patient-education share page: one self-contained HTML file (no
//! server, no network) with Google's <model-viewer> (vendored in
//! assets/share/, Apache-2.0, pinned) and the model inlined as a GLB: the
//! segments in their colours, rotate and zoom by touch or mouse, tap a
//! structure for its plain-language name and volume, a checkbox per
//! structure, the clinician's title and note. Nothing identifying goes in
//! unless the clinician types it.

use std::path::Path;

use base64::Engine;

use super::glb::glb_bytes;
use super::{ExportSegment, unique_names};
use crate::atomic::write_bytes_atomic;
use crate::error::{CoreError, Result};

/// The viewer, inlined into every page.
const MODEL_VIEWER_JS: &str = include_str!("../../../../assets/share/model-viewer.min.js");

/// What the clinician types.
#[derive(Clone, Debug, Default)]
pub struct ShareOptions {
    pub title: String,
    pub note: String,
}

/// A plain-language name for a segment name in TotalSegmentator's style:
/// `kidney_left` → "Left kidney", `rib_right_11` → "Right rib 11",
/// `vertebrae_L1` → "Vertebra L1".
pub fn plain_name(name: &str) -> String {
    let words: Vec<&str> = name
        .split(|c: char| c == '_' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect();
    let side: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| w.eq_ignore_ascii_case("left") || w.eq_ignore_ascii_case("right"))
        .collect();
    let mut out: Vec<String> = side.iter().map(|w| w.to_ascii_lowercase()).collect();
    let rest: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| !side.contains(w))
        .collect();
    for (k, w) in rest.iter().enumerate() {
        // "vertebrae L1" is one vertebra; identifiers (L1, T12, C7) keep their case.
        let followed_by_id = rest
            .get(k + 1)
            .is_some_and(|n| n.chars().any(|c| c.is_ascii_digit()));
        if w.eq_ignore_ascii_case("vertebrae") && followed_by_id {
            out.push("vertebra".into());
        } else if w.chars().any(|c| c.is_ascii_digit()) {
            out.push(w.to_string());
        } else {
            out.push(w.to_ascii_lowercase());
        }
    }
    let s = out.join(" ");
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => name.to_string(),
    }
}

/// Escapes text for HTML element content and attribute values.
fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Writes the share page for `segments` (flat colours) with each one's
/// volume in mL (`volumes_ml`, in the same order).
pub fn write_share(
    path: &Path,
    segments: &[ExportSegment<'_>],
    volumes_ml: &[f64],
    opts: &ShareOptions,
) -> Result<()> {
    if segments.is_empty() {
        return Err(CoreError::Invalid(
            "nothing to share: no segment has a mesh".into(),
        ));
    }
    let glb = glb_bytes(path, segments, None)?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&glb);
    // Material names are the GLB's (unique) segment names: what a tap returns.
    let info: Vec<serde_json::Value> = segments
        .iter()
        .zip(unique_names(segments))
        .zip(volumes_ml)
        .map(|((s, key), ml)| {
            serde_json::json!({
                "key": key,
                "name": plain_name(s.name),
                "ml": (ml * 10.0).round() / 10.0,
                "colour": format!("#{:02x}{:02x}{:02x}", s.colour[0], s.colour[1], s.colour[2]),
            })
        })
        .collect();
    // `</` cannot close the script from inside JSON once escaped.
    let info = serde_json::to_string(&info)
        .map_err(|e| CoreError::Invalid(e.to_string()))?
        .replace("</", "<\\/");
    let title = if opts.title.trim().is_empty() {
        "Your 3D model".to_string()
    } else {
        opts.title.clone()
    };
    let html = PAGE
        .replace("{{TITLE}}", &html_escape(&title))
        .replace("{{NOTE}}", &html_escape(&opts.note))
        .replace("{{INFO}}", &info)
        .replace(
            "{{VIEWER}}",
            &MODEL_VIEWER_JS.replace("</script", "<\\/script"),
        )
        .replace("{{GLB}}", &b64);
    write_bytes_atomic(path, html.as_bytes())
}

/// The page; the placeholders are filled in by [`write_share`]. The
/// `#tap=X,Y` hash makes the page tap there once loaded (tests).
const PAGE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{TITLE}}</title>
<style>
body{margin:0;font:16px/1.4 system-ui,sans-serif;background:#f4f4f2;color:#222}
header{padding:10px 16px}h1{font-size:1.3em;margin:0}p.note{margin:4px 0 0}
model-viewer{width:100%;height:70vh;background:#fff}
#picked{display:block;min-height:1.5em;padding:6px 16px;font-weight:600}
#list{padding:0 16px 16px;columns:14em}label{display:block}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:50%;margin-right:.3em}
</style>
<script type="module">{{VIEWER}}</script>
</head><body>
<header><h1>{{TITLE}}</h1><p class="note">{{NOTE}}</p></header>
<model-viewer id="mv" camera-controls touch-action="pan-y" ar ar-modes="webxr scene-viewer quick-look"
  alt="3D model of the structures listed below" src="data:model/gltf-binary;base64,{{GLB}}"></model-viewer>
<output id="picked">Tap a structure to see its name.</output>
<div id="list"></div>
<script type="module">
const info = {{INFO}};
const byKey = new Map(info.map(s => [s.key, s]));
const mv = document.getElementById('mv');
const picked = document.getElementById('picked');
const list = document.getElementById('list');
function show(x, y) {
  const m = mv.materialFromPoint(x, y);
  const s = m && byKey.get(m.name);
  picked.textContent = s ? `${s.name}: ${s.ml} mL` : 'Tap a structure to see its name.';
  return s;
}
mv.addEventListener('click', e => show(e.clientX, e.clientY));
mv.addEventListener('load', () => {
  for (const s of info) {
    const m = mv.model.materials.find(m => m.name === s.key);
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox'; box.checked = true;
    box.addEventListener('change', () => {
      if (!m) return;
      m.setAlphaMode(box.checked ? 'OPAQUE' : 'BLEND');
      const c = m.pbrMetallicRoughness.baseColorFactor;
      m.pbrMetallicRoughness.setBaseColorFactor([c[0], c[1], c[2], box.checked ? 1 : 0]);
    });
    const sw = document.createElement('span');
    sw.className = 'swatch'; sw.style.background = s.colour;
    label.append(box, sw, `${s.name} (${s.ml} mL)`);
    list.append(label);
  }
  const tap = location.hash.match(/^#tap=(\d+),(\d+)$/);
  if (tap) {
    const r = mv.getBoundingClientRect();
    show(r.left + Number(tap[1]), r.top + Number(tap[2]));
  }
  // Milliseconds from opening the page to the model shown (benchmarks).
  document.body.dataset.loadMs = String(Math.round(performance.now()));
  document.body.dataset.loaded = 'yes';
});
</script>
</body></html>
"##;
