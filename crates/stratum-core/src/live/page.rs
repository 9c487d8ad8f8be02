//! The live page: the share page's viewer (<model-viewer> and the
//! meshoptimizer decoder, both vendored) that fetches the session's
//! encrypted model, opens it and every frame of the stream with the link's
//! key in the browser (WebCrypto AES-GCM where the page is a secure context,
//! else the vendored @noble/ciphers: browsers keep WebCrypto from plain HTTP
//! on a LAN address), and follows the presenter: view, pose, clip planes,
//! visibility and opacity, rulers, laser. With the presenter's key in the
//! link it also sends what its user does; any viewer can point and raise a
//! hand.

use super::message::{Event, SceneSegment};
use crate::base::error::Result;
use crate::base::install;
use crate::export::{
    ExportSegment, anatomy_centre, glb_compact_bytes, half_extent_m, plain_name, share_script,
    unique_names,
};

/// The page (the same for every session: the keys come from the link),
/// with the viewer and the decoder from the data folder's `assets/share/`.
pub fn live_page() -> Result<String> {
    let decoder = share_script(install::MESHOPT_DECODER_JS)?;
    let viewer = share_script(install::MODEL_VIEWER_JS)?;
    let aes = share_script(install::NOBLE_CIPHERS_JS)?;
    Ok(PAGE
        .replace("{{DECODER}}", &decoder.replace("</script", "<\\/script"))
        .replace("{{AES}}", &aes.replace("</script", "<\\/script"))
        .replace("{{VIEWER}}", &viewer.replace("</script", "<\\/script")))
}

/// The browser's model (a compressed GLB, as the share page's) of
/// `segments` (each with its segment id and volume in mL) and the scene
/// event that names its parts.
pub fn browser_model(segments: &[(u16, ExportSegment<'_>, f64)]) -> Result<(Vec<u8>, Event)> {
    let parts: Vec<ExportSegment<'_>> = segments.iter().map(|(_, s, _)| s.clone()).collect();
    let glb = glb_compact_bytes(std::path::Path::new("the live model"), &parts)?;
    let keys = unique_names(&parts);
    let scene = Event::Scene {
        model: "model".into(),
        centre_mm: anatomy_centre(&parts),
        half_m: half_extent_m(&parts),
        segments: segments
            .iter()
            .zip(keys)
            .map(|((id, s, ml), key)| SceneSegment {
                id: *id,
                key,
                name: plain_name(s.name),
                ml: (ml * 10.0).round() / 10.0,
            })
            .collect(),
    };
    Ok((glb, scene))
}

const PAGE: &str = r##"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Stratum live</title>
<style>
body{margin:0;font:16px/1.4 system-ui,sans-serif;background:#f4f4f2;color:#222}
header{padding:8px 16px;display:flex;gap:1em;align-items:center;flex-wrap:wrap}
h1{font-size:1.2em;margin:0}#status{color:#555}
model-viewer{width:100%;height:70vh;background:#fff}
#list{padding:8px 16px 16px;columns:14em}label{display:block}
#rulers{padding:0 16px}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:50%;margin-right:.3em}
.laser{width:14px;height:14px;border-radius:50%;background:#e00;border:2px solid #fff;box-shadow:0 0 4px #000;pointer-events:none}
.ruler{background:#fff8;border-radius:4px;padding:0 4px;font-size:12px;pointer-events:none}
.avatar{color:#fff;border:2px solid #fff;border-radius:10px;padding:0 6px;font-size:12px;pointer-events:none;white-space:nowrap;box-shadow:0 0 3px #0008}
.avatar.hand{width:8px;height:8px;padding:0;border-radius:3px}
.point{background:#1565c0;color:#fff;border:2px solid #fff;border-radius:10px;padding:0 6px;font-size:12px;pointer-events:none;white-space:nowrap}
#hands{color:#1565c0}
</style>
<script>{{AES}}</script>
<script type="text/plain" id="meshopt-decoder">{{DECODER}}</script>
<script>
self.ModelViewerElement = {
  meshoptDecoderLocation: URL.createObjectURL(new Blob(
    [document.getElementById('meshopt-decoder').textContent], {type: 'text/javascript'})),
};
</script>
<script type="module">{{VIEWER}}</script>
</head><body>
<header><h1>Stratum live</h1><span id="status">Joining…</span>
<button id="follow" hidden>Follow the presenter</button><button id="hand" hidden>Raise hand</button>
<span id="viewers"></span><span id="hands"></span></header>
<model-viewer id="mv" camera-controls touch-action="pan-y" interpolation-decay="40"
  min-camera-orbit="auto 0deg 0m" max-camera-orbit="auto 180deg 100m" max-field-of-view="110deg" interaction-prompt="none"
  alt="The presenter's 3D model"><div slot="hotspot-laser" class="laser" data-position="0 0 0" hidden></div></model-viewer>
<div id="rulers"></div>
<div id="list"></div>
<script type="module">
// Everything the page knows, for people and for tests.
const live = window.live = {status: 'joining', frames: 0, refused: 0, table: new Map(),
  view: {}, scene: null, loaded: false, following: true, presenter: false, viewers: 0,
  points: new Map(), hands: new Map(), avatars: new Map(), handUp: false, surfaces: 0};
const $ = id => document.getElementById(id);
const mv = $('mv'), statusEl = $('status'), followBtn = $('follow');
function setStatus(s, text) { live.status = s; statusEl.textContent = text; document.body.dataset.status = s; }
const hash = new URLSearchParams(location.hash.slice(1));
const b64u = s => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), c => c.charCodeAt(0));
// AES-256-GCM: the browser's WebCrypto where it gives it (HTTPS,
// localhost), else the vendored @noble/ciphers (plain HTTP on a LAN
// address, where crypto.subtle is missing).
const subtle = window.isSecureContext && crypto.subtle ? crypto.subtle : null;
live.crypto = subtle ? 'webcrypto' : 'vendored';
async function aesKey(raw) {
  if (raw.length !== 32) throw new Error('a key is 32 bytes');
  const iv = h => h.slice(4, 16);
  if (subtle) {
    const k = await subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt']);
    return {
      open: async (h, ct) => new Uint8Array(await subtle.decrypt({name: 'AES-GCM', iv: iv(h), additionalData: h}, k, ct)),
      seal: async (h, pt) => new Uint8Array(await subtle.encrypt({name: 'AES-GCM', iv: iv(h), additionalData: h}, k, pt)),
    };
  }
  const {gcm} = self.nobleCiphers;
  return {
    open: async (h, ct) => gcm(raw, iv(h), h).decrypt(ct),
    seal: async (h, pt) => gcm(raw, iv(h), h).encrypt(pt),
  };
}
let key = null, pkey = null;
try {
  key = await aesKey(b64u(hash.get('k') || ''));
  if (hash.get('p')) pkey = await aesKey(b64u(hash.get('p')));
} catch (e) {
  setStatus('nokey', 'This link is incomplete: copy the whole link, including the part after #.');
  throw e;
}
live.presenter = pkey !== null;
async function open(buf) {
  const h = buf.slice(0, 16);
  const plain = await key.open(h, buf.slice(16));
  const dv = new DataView(h.buffer, h.byteOffset);
  return {sender: dv.getUint32(4, true), seq: dv.getBigUint64(8, true), plain};
}
// What the page sends: sealed from a random sender number, numbered from 1,
// one after another (the host refuses a number below the last); with the
// presenter key what drives the session, with the follow key a viewer's
// point and hand.
const sender = crypto.getRandomValues(new Uint32Array(1))[0] % 0xfffffff0 + 1;
let sent = 0n, ws = null, sending = Promise.resolve();
function sealed(k, event) {
  if (!k || !ws || ws.readyState !== 1) return Promise.resolve();
  sending = sending.then(async () => {
    sent += 1n;
    const h = new Uint8Array(16);
    h[0] = 83; h[1] = 76; h[2] = 1;
    const dv = new DataView(h.buffer);
    dv.setUint32(4, sender, true); dv.setBigUint64(8, sent, true);
    const body = new TextEncoder().encode(JSON.stringify(event));
    const plain = new Uint8Array(body.length + 1); plain[0] = 5; plain.set(body, 1);
    const ct = await k.seal(h, plain);
    const frame = new Uint8Array(16 + ct.length); frame.set(h); frame.set(ct, 16);
    if (ws.readyState === 1) ws.send(frame);
  });
  return sending;
}
const send = event => sealed(pkey, event);
const sendAsViewer = event => sealed(key, event);
live.send = send;

// The anatomy's frame: the GLB's node "anatomy" holds LPS millimetres;
// its parent is the glTF scene (X = left, Y = superior, Z = anterior, m).
let three = null, anatomy = null, base = null, centre = [0, 0, 0];
const byId = new Map();
mv.registerEffectComposer({setRenderer(r) { three = {renderer: r}; }, setMainCamera() {}, setMainScene(s) { three.scene = s; }});
mv.unregisterEffectComposer();
const toScene = p => { // LPS mm -> glTF scene m (the anatomy's own transform, pose included)
  const v = anatomy.position.clone().set(p[0], p[1], p[2]);
  return v.applyMatrix4(anatomy.matrix);
};
const fromScene = v => { const w = v.clone().applyMatrix4(anatomy.matrix.clone().invert()); return [w.x, w.y, w.z]; };
const gl = p => [0.001 * (p[0] - centre[0]), 0.001 * (p[2] - centre[2]), -0.001 * (p[1] - centre[1])];
const lps = g => [centre[0] + 1000 * g[0], centre[1] - 1000 * g[2], centre[2] + 1000 * g[1]];
let planes = [];
function placePlanes() {
  if (!anatomy) return;
  const frame = anatomy.matrixWorld;
  for (const p of planes) {
    const n = anatomy.position.clone().set(...p.src.normal);
    const len = n.length() || 1;
    const q = n.clone().multiplyScalar(p.src.offset_mm / len / len).applyMatrix4(frame);
    // Kept where normal . x <= offset: three.js keeps normal . x + constant >= 0.
    p.normal = n.negate().transformDirection(frame);
    p.constant = -p.normal.dot(q);
  }
}
function render() { if (three && three.scene) three.scene.queueRender(); }
const apply = {
  table(e) {
    live.table = new Map(e.segments.map(s => [s.id, s]));
    for (const s of e.segments) {
      const m = byId.get(s.id);
      if (m) {
        m.visible = s.visible && s.opacity > 0;
        m.material.opacity = s.opacity;
        m.material.transparent = s.opacity < 1;
        m.material.depthWrite = s.opacity >= 1;
        m.material.needsUpdate = true;
      }
      const box = document.querySelector(`#list input[data-id="${s.id}"]`);
      if (box) box.checked = s.visible;
    }
    render();
  },
  camera(e) {
    if (!live.following || !live.loaded) return;
    const t = gl(e.target);
    mv.cameraTarget = `${t[0]}m ${t[1]}m ${t[2]}m`;
    mv.cameraOrbit = `${e.azimuth_deg}deg ${e.polar_deg}deg ${e.distance_mm / 1000}m`;
    mv.fieldOfView = `${e.fov_deg}deg`;
    mv.jumpCameraToGoal();
  },
  pose(e) {
    if (!anatomy) return;
    const [x, y, z, w] = e.rotation;
    const q = anatomy.quaternion.clone().set(x, y, z, w).normalize();
    const s = e.scale || 1;
    const m = base.clone().makeRotationFromQuaternion(q);
    m.multiply(base.clone().makeScale(s, s, s));
    // About the anatomy's centre, then moved: x' = s R (x - c) + c + t.
    const c = anatomy.position.clone().set(...centre);
    const rc = c.clone().applyQuaternion(q).multiplyScalar(s);
    m.setPosition(c.x + e.translation[0] - rc.x, c.y + e.translation[1] - rc.y, c.z + e.translation[2] - rc.z);
    anatomy.matrix.copy(base).multiply(m);
    anatomy.matrixWorldNeedsUpdate = true;
    anatomy.updateMatrixWorld(true);
    placePlanes(); markers(); render();
  },
  clip(e) {
    planes = e.planes.map(src => ({src, normal: null, constant: 0}));
    placePlanes();
    for (const m of byId.values()) {
      m.material.clippingPlanes = planes.length ? planes : null;
      m.material.side = planes.length ? 2 : 0;
      m.material.needsUpdate = true;
    }
    render();
  },
  rulers() { markers(); },
  laser() { markers(); },
  joined(e) { live.viewers = e.viewers; $('viewers').textContent = `${e.viewers} following`; },
  point(e) {
    if (e.point) live.points.set(e.from, e); else live.points.delete(e.from);
    markers();
  },
  hand(e) {
    if (e.raised) live.hands.set(e.from, e.name); else live.hands.delete(e.from);
    const names = [...live.hands.values()];
    $('hands').textContent = names.length ? `Hands up: ${names.join(', ')}` : '';
  },
  avatar(e) {
    if (e.head || e.left || e.right) live.avatars.set(e.from, e); else live.avatars.delete(e.from);
    markers();
  },
  voxels() {},
};
function markers() {
  if (!anatomy) return;
  const laser = live.view.laser, hot = mv.querySelector('[slot="hotspot-laser"]');
  hot.hidden = !(laser && laser.point);
  if (laser && laser.point) { const p = toScene(laser.point); mv.updateHotspot({name: 'hotspot-laser', position: `${p.x} ${p.y} ${p.z}`}); }
  mv.querySelectorAll('.ruler').forEach(r => r.remove());
  const rulers = (live.view.rulers && live.view.rulers.rulers) || [];
  $('rulers').textContent = rulers.map((r, i) => `Ruler ${i + 1}: ${r.length_mm.toFixed(1)} mm`).join('  ·  ');
  rulers.forEach((r, i) => {
    const p = toScene([0, 1, 2].map(k => (r.a[k] + r.b[k]) / 2));
    const el = document.createElement('div');
    el.className = 'ruler'; el.slot = `hotspot-ruler-${i}`;
    el.dataset.position = `${p.x} ${p.y} ${p.z}`;
    el.textContent = `${r.length_mm.toFixed(1)} mm`;
    mv.append(el);
  });
  mv.querySelectorAll('.point').forEach(r => r.remove());
  for (const [from, e] of live.points) {
    const p = toScene(e.point), el = document.createElement('div');
    el.className = 'point'; el.slot = `hotspot-point-${from}`;
    el.dataset.position = `${p.x} ${p.y} ${p.z}`;
    el.textContent = e.name;
    mv.append(el);
  }
  // Where the others stand (heads and hands, the model's frame): a label
  // with the name at the head, a small mark at each hand, in the
  // participant's colour (the app's: hues spread by the golden angle).
  mv.querySelectorAll('.avatar').forEach(r => r.remove());
  for (const [from, e] of live.avatars) {
    const colour = `hsl(${(from * 137.508) % 360}deg 70% 45%)`;
    for (const part of ['head', 'left', 'right']) {
      if (!e[part]) continue;
      const p = toScene(e[part].position), el = document.createElement('div');
      el.className = part === 'head' ? 'avatar' : 'avatar hand';
      el.slot = `hotspot-avatar-${from}-${part}`;
      el.dataset.position = `${p.x} ${p.y} ${p.z}`;
      el.style.background = colour;
      if (part === 'head') el.textContent = e.name || (from === 0 ? 'Presenter' : `participant ${from}`);
      mv.append(el);
    }
  }
}
let modelLoading = null, modelReady = Promise.resolve();
async function loadModel(scene) {
  live.scene = scene;
  centre = scene.centre_mm;
  setStatus('loading', 'Loading the anatomy…');
  const res = await fetch(new URL(scene.model, location.href), {cache: 'no-store'});
  const {plain} = await open(new Uint8Array(await res.arrayBuffer()));
  live.modelBytes = plain.length;
  modelLoading = new Promise(resolve => mv.addEventListener('load', resolve, {once: true}));
  mv.src = URL.createObjectURL(new Blob([plain], {type: 'model/gltf-binary'}));
  await modelLoading;
  byId.clear();
  const byKey = new Map(scene.segments.map(s => [s.key, s]));
  anatomy = three.scene.getObjectByName('anatomy');
  anatomy.updateMatrix();
  anatomy.matrixAutoUpdate = false;
  base = anatomy.matrix.clone();
  three.renderer.localClippingEnabled = true;
  three.scene.traverse(o => {
    const s = o.isMesh && byKey.get(o.material.name);
    if (!s) return;
    o.material = o.material.clone();
    byId.set(s.id, o);
    o.onBeforeRender = placePlanes;
  });
  const list = $('list'); list.textContent = '';
  for (const s of scene.segments) {
    const label = document.createElement('label');
    const box = document.createElement('input');
    box.type = 'checkbox'; box.checked = true; box.dataset.id = s.id; box.disabled = !live.presenter;
    box.addEventListener('change', () => send({type: 'visible', id: s.id, visible: box.checked}));
    const row = live.table.get(s.id), sw = document.createElement('span');
    sw.className = 'swatch';
    if (row) sw.style.background = `rgb(${row.colour.join(',')})`;
    label.append(box, sw, `${s.name} (${s.ml} mL)`);
    list.append(label);
  }
  live.loaded = true;
  $('hand').hidden = live.presenter;
  document.body.dataset.loadMs = String(Math.round(performance.now()));
  for (const [type, e] of Object.entries(live.view)) apply[type](e);
  apply.table({segments: [...live.table.values()]});
  markers();
  setStatus('live', live.presenter ? 'Presenting: others follow your view.' : 'Following the presenter.');
}
// Edited surfaces: the host's GLB of just the segments that changed is
// loaded by a second, invisible <model-viewer> (the same three.js, the
// same decoder), and copies of its meshes replace those segments' in the
// anatomy, where every view setting applies to them as to the others.
let aside = null;
function loadAside(glb) {
  if (!aside) {
    aside = document.createElement('model-viewer');
    aside.setAttribute('loading', 'eager');
    aside.setAttribute('aria-hidden', 'true');
    aside.style.cssText = 'position:fixed;left:0;top:0;width:32px;height:32px;opacity:0;pointer-events:none';
    document.body.append(aside);
    aside.registerEffectComposer({setRenderer() {}, setMainCamera() {}, setMainScene(s) { aside.scene3 = s; }});
    aside.unregisterEffectComposer();
  }
  return new Promise((resolve, reject) => {
    aside.addEventListener('load', () => resolve(aside.scene3), {once: true});
    aside.addEventListener('error', reject, {once: true});
    aside.src = URL.createObjectURL(new Blob([glb], {type: 'model/gltf-binary'}));
  });
}
async function swapSurfaces(e) {
  const fresh = [];
  if (e.model) {
    const res = await fetch(new URL(e.model, location.href), {cache: 'no-store'});
    const f = await open(new Uint8Array(await res.arrayBuffer()));
    if (f.sender !== 0xffffffff) throw new Error('surfaces not from the host');
    const scene = await loadAside(f.plain);
    const byKey = new Map(e.segments.map(s => [s.key, s]));
    scene.traverse(o => { const s = o.isMesh && byKey.get(o.material.name); if (s) fresh.push([s, o]); });
  }
  for (const id of [...e.empty, ...e.segments.map(s => s.id)]) {
    const old = byId.get(id);
    if (old) { old.parent.remove(old); old.geometry.dispose(); byId.delete(id); }
  }
  for (const [s, o] of fresh) {
    // Under the anatomy node in both GLBs: the same local transform.
    const m = new o.constructor(o.geometry.clone(), o.material.clone());
    m.name = o.name;
    m.position.copy(o.position); m.quaternion.copy(o.quaternion); m.scale.copy(o.scale);
    m.material.clippingPlanes = planes.length ? planes : null;
    m.material.side = planes.length ? 2 : 0;
    m.onBeforeRender = placePlanes;
    anatomy.add(m);
    byId.set(s.id, m);
  }
  anatomy.updateMatrixWorld(true);
  live.surfaces++;
  apply.table({segments: [...live.table.values()]});
  live.appliedAt = performance.timeOrigin + performance.now();
}
// A viewer who turns the model stops following until they press Follow.
mv.addEventListener('camera-change', e => {
  if (e.detail.source !== 'user-interaction' || !live.loaded) return;
  if (live.presenter) { sendCamera(); return; }
  live.following = false; followBtn.hidden = false;
});
followBtn.addEventListener('click', () => {
  live.following = true; followBtn.hidden = true;
  if (live.view.camera) apply.camera(live.view.camera);
});
let camTimer = null;
function sendCamera() {
  if (camTimer) return;
  camTimer = setTimeout(() => {
    camTimer = null;
    const o = mv.getCameraOrbit(), t = mv.getCameraTarget();
    send({type: 'camera', target: lps([t.x, t.y, t.z]), azimuth_deg: o.theta * 180 / Math.PI,
      polar_deg: o.phi * 180 / Math.PI, distance_mm: o.radius * 1000, fov_deg: mv.getFieldOfView()});
  }, 33);
}
// A viewer's tap (not a drag that turns the model) points there for
// everyone, labelled with the viewer's name (asked once, kept here);
// a tap beside the model takes the pointer away.
function viewerName() {
  let name = localStorage.getItem('stratum-live-name');
  if (!name) {
    name = (prompt('Your name, shown with what you point at:') || '').trim().slice(0, 40);
    if (name) localStorage.setItem('stratum-live-name', name);
  }
  return name;
}
let down = null;
mv.addEventListener('pointerdown', e => { down = {x: e.clientX, y: e.clientY, t: performance.now()}; });
mv.addEventListener('pointerup', e => {
  const d = down; down = null;
  if (!d || live.presenter || !anatomy || Math.hypot(e.clientX - d.x, e.clientY - d.y) > 6 || performance.now() - d.t > 600) return;
  const hit = mv.positionAndNormalFromPoint(e.clientX, e.clientY);
  const name = viewerName();
  if (!name) return;
  sendAsViewer({type: 'point', name, point: hit ? fromScene(anatomy.position.clone().set(hit.position.x, hit.position.y, hit.position.z)) : null});
});
$('hand').addEventListener('click', () => {
  const name = viewerName();
  if (!name) return;
  live.handUp = !live.handUp;
  $('hand').textContent = live.handUp ? 'Lower hand' : 'Raise hand';
  sendAsViewer({type: 'hand', name, raised: live.handUp});
});
let laserTimer = null;
mv.addEventListener('pointermove', e => {
  if (!live.presenter || !anatomy || laserTimer) return;
  laserTimer = setTimeout(() => { laserTimer = null; }, 33);
  const hit = mv.positionAndNormalFromPoint(e.clientX, e.clientY);
  send({type: 'laser', point: hit ? fromScene(anatomy.position.clone().set(hit.position.x, hit.position.y, hit.position.z)) : null});
});

// The stream: frames are opened one after another, in order.
let last = 0n, chain = Promise.resolve();
function connect() {
  const url = new URL('ws?kind=browser', location.href);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  ws = new WebSocket(url);
  ws.binaryType = 'arraybuffer';
  ws.onmessage = m => { chain = chain.then(() => frame(new Uint8Array(m.data))); };
  ws.onclose = () => { if (live.status !== 'nokey') setStatus('ended', 'The presenter ended the session.'); };
}
async function frame(buf) {
  let f;
  try { f = await open(buf); } catch (e) {
    live.refused++;
    if (live.frames === 0) { setStatus('badkey', "This link's key does not open the session: ask the presenter for the link again."); ws.close(); }
    return;
  }
  if (f.sender !== 0 || f.seq <= last) { live.refused++; return; }
  last = f.seq; live.frames++;
  if (f.plain[0] !== 5) return; // hello; document messages are for Stratum followers
  const e = JSON.parse(new TextDecoder().decode(f.plain.subarray(1)));
  if (['camera', 'pose', 'clip', 'rulers', 'laser'].includes(e.type)) live.view[e.type] = e;
  if (e.type === 'point' || e.type === 'hand' || e.type === 'avatar') { apply[e.type](e); live.appliedAt = performance.timeOrigin + performance.now(); return; }
  if (e.type === 'table') { live.table = new Map(e.segments.map(s => [s.id, s])); }
  if (e.type === 'scene') { modelReady = loadModel(e); return; }
  if (e.type === 'surfaces') {
    modelReady = modelReady.then(() => swapSurfaces(e)).catch(err => { live.surfaceError = String(err); console.error(err); });
    return;
  }
  if (live.loaded && apply[e.type]) apply[e.type](e);
  // When the latest event took effect (the latency figures).
  live.appliedAt = performance.timeOrigin + performance.now();
  document.body.dataset.frames = String(live.frames);
}
connect();
</script>
</body></html>
"##;
