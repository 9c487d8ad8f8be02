//! The patient-education share page: one self-contained HTML file (no
//! server, no network) with Google's <model-viewer> (vendored in
//! assets/share/, Apache-2.0, pinned; read from Stratum's data folder) and
//! the model inlined as a GLB
//! compressed with meshoptimizer (its decoder vendored beside it, MIT): the
//! segments in their colours, rotate and zoom by touch or mouse, tap a
//! structure for its plain-language name and volume, a checkbox per
//! structure, a cut (top, front or side) with a slider, the clinician's
//! title and note. Nothing identifying goes in unless the clinician types it.

use std::path::Path;

use base64::Engine;

use super::error::ExportError;
use super::glb_compact::glb_compact_painted;
use super::margin::MarginPaint;
use super::{ExportSegment, unique_names};
use crate::base::atomic::write_bytes_atomic;
use crate::base::error::{CoreError, Result};
use crate::base::install;

/// A script of the data folder's `assets/share/`: the viewer
/// ([`install::MODEL_VIEWER_JS`]), inlined into every page, and
/// meshoptimizer's decoder ([`install::MESHOPT_DECODER_JS`], npm
/// meshoptimizer 1.3.0, the version of the C encoder the `meshopt` crate
/// builds), handed to the viewer as the script at its
/// `meshoptDecoderLocation`, so the compressed model decodes offline.
pub(crate) fn share_script(name: &str) -> Result<String> {
    let path = install::data_file(&format!("{}/{name}", install::SHARE))?;
    std::fs::read_to_string(&path).map_err(|e| CoreError::io(path, e))
}

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

/// A colour as CSS writes it.
fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
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
    write_share_with(path, segments, volumes_ml, opts, None)
}

/// [`write_share`] with a margin map: one segment's surface coloured by
/// its distance to another (vertex colours, measured on the page's mesh).
#[tracing::instrument(level = "info", skip_all)]
pub fn write_share_with(
    path: &Path,
    segments: &[ExportSegment<'_>],
    volumes_ml: &[f64],
    opts: &ShareOptions,
    margin: Option<&MarginPaint<'_>>,
) -> Result<()> {
    if segments.is_empty() {
        return Err(ExportError::NoMesh { verb: "share" }.into());
    }
    let viewer = share_script(install::MODEL_VIEWER_JS)?;
    let decoder = share_script(install::MESHOPT_DECODER_JS)?;
    let painted = margin
        .map(|m| super::margin::paint(segments, m, &crate::base::progress::Progress::new()))
        .transpose()?;
    let glb = glb_compact_painted(path, segments, painted.as_ref())?;
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
                "colour": hex(s.colour),
            })
        })
        .collect();
    // `</` cannot close the script from inside JSON once escaped.
    let info = serde_json::to_string(&info)
        .map_err(|e| CoreError::Serialize {
            what: "the share page's list of structures",
            reason: e.to_string(),
        })?
        .replace("</", "<\\/");
    let title = if opts.title.trim().is_empty() {
        "Your 3D model".to_string()
    } else {
        opts.title.clone()
    };
    // Say what the colours mean, in the page's plain words.
    let legend = match (margin, &painted) {
        (Some(m), Some(p)) => {
            let other = m
                .labels
                .segments
                .iter()
                .find(|s| s.id == m.other)
                .map_or_else(|| "the other structure".into(), |s| plain_name(&s.name));
            format!(
                "<p class=\"margin\">{} is coloured by its distance to {}: <span class=\"swatch\" style=\"background:{}\"></span>red under {} mm, <span class=\"swatch\" style=\"background:{}\"></span>yellow under {} mm.</p>",
                html_escape(&plain_name(segments[p.segment].name)),
                html_escape(&other),
                hex(p.colours[0]),
                p.thresholds_mm[0],
                hex(p.colours[1]),
                p.thresholds_mm[1],
            )
        }
        _ => String::new(),
    };
    let html = PAGE
        .replace("{{MARGIN}}", &legend)
        .replace("{{TITLE}}", &html_escape(&title))
        .replace("{{NOTE}}", &html_escape(&opts.note))
        .replace("{{INFO}}", &info)
        .replace("{{HALF}}", &format!("{:?}", half_extent_m(segments)))
        .replace("{{DECODER}}", &decoder.replace("</script", "<\\/script"))
        .replace("{{VIEWER}}", &viewer.replace("</script", "<\\/script"))
        .replace("{{GLB}}", &b64);
    write_bytes_atomic(path, html.as_bytes())
}

/// Half the anatomy's extent along glTF's X (patient left), Y (superior)
/// and Z (anterior), in metres: the GLB centres the anatomy, so it spans
/// minus to plus this; the cut slider moves its plane across that span.
pub(crate) fn half_extent_m(segments: &[ExportSegment<'_>]) -> [f64; 3] {
    let Some((lo, hi)) = super::glb::joint_bounds(segments) else {
        return [0.0; 3];
    };
    // LPS (x, y, z) = (left, posterior, superior) -> glTF (left, superior, anterior).
    let half = |k: usize| 0.0005 * (hi[k] - lo[k]);
    [half(0), half(2), half(1)]
}

/// The page; the placeholders are filled in by [`write_share`]. The hash
/// `#tap=X,Y` makes the page tap there once loaded, `#cut=top,50` cuts
/// (tests; both may be given, joined by `&`).
const PAGE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{TITLE}}</title>
<style>
body{margin:0;font:16px/1.4 system-ui,sans-serif;background:#f4f4f2;color:#222}
header{padding:10px 16px}h1{font-size:1.3em;margin:0}p.note{margin:4px 0 0}
model-viewer{width:100%;height:70vh;background:#fff}
#picked{display:block;min-height:1.5em;padding:6px 16px;font-weight:600}
#cutbar{padding:0 16px 8px;display:flex;gap:.6em;align-items:center;flex-wrap:wrap}
#depth{flex:1;min-width:8em;max-width:24em}
#list{padding:0 16px 16px;columns:14em}p.margin{padding:0 16px;margin:0 0 8px}label{display:block}#cutbar label{display:inline}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:50%;margin-right:.3em}
</style>
<script type="text/plain" id="meshopt-decoder">{{DECODER}}</script>
<script>
// model-viewer decodes EXT_meshopt_compression once the script at
// meshoptDecoderLocation has loaded (from a CDN unless told otherwise):
// point it at the inlined copy, so nothing comes from the network.
self.ModelViewerElement = {
  meshoptDecoderLocation: URL.createObjectURL(new Blob(
    [document.getElementById('meshopt-decoder').textContent], {type: 'text/javascript'})),
};
</script>
<script type="module">{{VIEWER}}</script>
</head><body>
<header><h1>{{TITLE}}</h1><p class="note">{{NOTE}}</p></header>
<model-viewer id="mv" camera-controls touch-action="pan-y" ar ar-modes="webxr scene-viewer quick-look"
  alt="3D model of the structures listed below" src="data:model/gltf-binary;base64,{{GLB}}"></model-viewer>
<output id="picked">Tap a structure to see its name.</output>
{{MARGIN}}
<div id="cutbar"><label for="cut">Cut away</label>
<select id="cut"><option value="">nothing</option><option value="top">from the top</option>
<option value="front">from the front</option><option value="side">from the side</option></select>
<input id="depth" type="range" min="0" max="100" value="50" disabled aria-label="How deep the cut goes"></div>
<div id="list"></div>
<script type="module">
const info = {{INFO}};
// Half the anatomy's size along glTF X (patient left), Y (up), Z (front), m.
const half = {{HALF}};
const byKey = new Map(info.map(s => [s.key, s]));
const mv = document.getElementById('mv');
const picked = document.getElementById('picked');
const list = document.getElementById('list');
const cut = document.getElementById('cut');
const depth = document.getElementById('depth');
// model-viewer has no clipping of its own; the hand-over it offers to effect
// composers gives its three.js renderer and scene (taken, then given back).
let renderer = null, scene = null;
mv.registerEffectComposer({
  setRenderer(r) { renderer = r; }, setMainCamera() {}, setMainScene(s) { scene = s; },
});
mv.unregisterEffectComposer();
// The cut: the axis it moves along in the anatomy's (centred, glTF) frame,
// and the part kept, where axis coordinate <= the plane's. three.js reads
// only `normal` and `constant` of a clipping plane.
const AXES = {side: 0, top: 1, front: 2};
const plane = {normal: null, constant: 0};
let anatomy = null;
const meshes = [];
function placePlane() {
  if (!anatomy || !cut.value) return;
  const k = AXES[cut.value];
  const frame = anatomy.parent.matrixWorld;
  const c = half[k] * (1 - 2 * depth.value / 100);
  const n = anatomy.position.clone().set(0, 0, 0);
  n.setComponent(k, -1);
  const p = anatomy.position.clone().set(0, 0, 0);
  p.setComponent(k, c);
  plane.normal = n.transformDirection(frame);
  p.applyMatrix4(frame);
  plane.constant = -plane.normal.dot(p);
}
function clipped(point) {
  return cut.value !== '' && plane.normal !== null && plane.normal.dot(point) + plane.constant < 0;
}
function applyCut() {
  depth.disabled = !cut.value;
  placePlane();
  for (const o of meshes) {
    o.material.clippingPlanes = cut.value ? [plane] : null;
    // Cut organs are open: show their inside too.
    o.material.side = cut.value ? 2 : 0;
    o.material.needsUpdate = true;
  }
  if (scene) scene.queueRender();
}
function show(x, y) {
  // Before the first frame after loading, the nodes' and the camera's world
  // matrices are not yet where the viewer will draw them.
  if (scene) {
    scene.updateMatrixWorld();
    scene.getCamera().updateMatrixWorld();
  }
  placePlane();
  const m = mv.materialFromPoint(x, y);
  const s = m && byKey.get(m.name);
  picked.textContent = s ? `${s.name}: ${s.ml} mL` : 'Tap a structure to see its name.';
  return s;
}
mv.addEventListener('click', e => show(e.clientX, e.clientY));
cut.addEventListener('change', applyCut);
depth.addEventListener('input', applyCut);
mv.addEventListener('load', () => {
  const byName = new Map();
  if (scene) {
    renderer.localClippingEnabled = true;
    anatomy = scene.getObjectByName('anatomy');
    scene.traverse(o => {
      if (!o.isMesh || !byKey.has(o.material.name)) return;
      meshes.push(o);
      byName.set(o.material.name, o);
      // The plane follows the model wherever the viewer (or AR) puts it.
      o.onBeforeRender = placePlane;
      // A tap passes through what the cut took away.
      const raycast = o.raycast;
      o.raycast = function (ray, hits) {
        const from = hits.length;
        raycast.call(this, ray, hits);
        for (let i = hits.length - 1; i >= from; i--) {
          if (clipped(hits[i].point)) hits.splice(i, 1);
        }
      };
    });
  } else {
    document.getElementById('cutbar').hidden = true;
  }
  for (const s of info) {
    const o = byName.get(s.key);
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox'; box.checked = true;
    // Hidden meshes are neither drawn nor hit by a tap.
    box.addEventListener('change', () => {
      if (!o) return;
      o.visible = box.checked;
      scene.queueRender();
    });
    const sw = document.createElement('span');
    sw.className = 'swatch'; sw.style.background = s.colour;
    label.append(box, sw, `${s.name} (${s.ml} mL)`);
    list.append(label);
  }
  const hash = new URLSearchParams(location.hash.slice(1));
  const c = (hash.get('cut') || '').match(/^(top|front|side),(\d+)$/);
  if (c) {
    cut.value = c[1]; depth.value = c[2];
    applyCut();
  }
  const tap = (hash.get('tap') || '').match(/^(\d+),(\d+)$/);
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
