//! The app's part of a session: the view state as JSON (slice crosshair,
//! window/level, overlay, clip planes, rulers, camera, brush settings, the
//! selected segment) and putting it back. Unknown or missing keys keep
//! what the app has, so older and newer sessions both open.

use bevy::ecs::system::SystemParam;
use bevy::prelude::*;
use serde_json::{Value, json};
use stratum_core::image::view::{ClipPlane, WindowPreset};

use crate::app::actions::BrushTool;
use crate::app::actions::ClipKind;
use crate::app::features::clip::{ClipSettings, MAX_PLANES};
use crate::app::features::measurements::{Ruler, Rulers};
use crate::app::features::sculpt::BrushSettings;
use crate::app::state::segments::{Segment, ToolSettings};
use crate::app::state::viewport::OrbitCamera;

/// The id of the selected segment.
pub fn selected_id(tools: &ToolSettings, segments: &Query<&Segment>) -> Option<u16> {
    tools
        .selected
        .and_then(|e| segments.get(e).ok())
        .map(|s| s.id)
}
use crate::app::state::crosshair::SliceState;

/// Everything the view JSON reads and writes.
#[derive(SystemParam)]
pub struct ViewParts<'w, 's> {
    pub slices: ResMut<'w, SliceState>,
    pub clip: ResMut<'w, ClipSettings>,
    pub rulers: ResMut<'w, Rulers>,
    pub brush: ResMut<'w, BrushSettings>,
    pub tools: ResMut<'w, ToolSettings>,
    pub camera: Query<'w, 's, &'static mut OrbitCamera>,
}

fn f3(v: &Value) -> Option<[f64; 3]> {
    let a = v.as_array()?;
    Some([
        a.first()?.as_f64()?,
        a.get(1)?.as_f64()?,
        a.get(2)?.as_f64()?,
    ])
}

/// The view state as JSON (`selected`: the selected segment's id).
pub fn view_json(p: &ViewParts, selected: Option<u16>) -> Value {
    let s = &p.slices;
    let clips: Vec<Value> = p
        .clip
        .slots
        .iter()
        .map(|c| {
            json!({
                "enabled": c.enabled,
                "kind": c.kind.name(),
                "normal": c.plane.normal,
                "point": c.plane.point,
            })
        })
        .collect();
    let rulers: Vec<Value> = p.rulers.items.iter().map(|r| json!([r.a, r.b])).collect();
    let b = &p.brush;
    let mut v = json!({
        "slices": {
            "crosshair": s.crosshair,
            "preset": s.preset.name(),
            "window": [s.window.center, s.window.width],
            "overlay_opacity": s.overlay_opacity,
            "contours": s.contours,
        },
        "clip": { "planes": clips, "focus": p.clip.focus, "tint": p.clip.tint },
        "rulers": rulers,
        "brush": {
            "tool": b.tool.name(),
            "diameter_mm": b.diameter_mm,
            "sphere": b.sphere,
            "limit_range": b.limit_range,
            "range": [b.range.0, b.range.1],
            "overwrite": b.overwrite,
            "smooth_strength": b.smooth_strength,
        },
        "threshold": [p.tools.lo, p.tools.hi],
        "selected": selected,
    });
    if let Some(o) = p.camera.iter().next() {
        v["camera"] = json!({
            "focus": [o.focus.x, o.focus.y, o.focus.z],
            "yaw": o.yaw,
            "pitch": o.pitch,
            "distance": o.distance,
        });
    }
    v
}

/// Puts the view state back (`segments`: entity and id of each segment, for
/// the selection). The camera is separate: see [`apply_camera`].
pub fn apply_view(v: &Value, p: &mut ViewParts, segments: &[(Entity, u16)]) {
    if let Some(s) = v.get("slices") {
        if let Some(c) = s.get("crosshair").and_then(f3) {
            p.slices.crosshair = c.map(|x| x.max(0.0) as usize);
        }
        if let Some(name) = s.get("preset").and_then(Value::as_str)
            && let Some(preset) = WindowPreset::ALL.into_iter().find(|w| w.name() == name)
        {
            p.slices.preset = preset;
        }
        if let Some(w) = s.get("window").and_then(Value::as_array)
            && let (Some(c), Some(width)) = (
                w.first().and_then(Value::as_f64),
                w.get(1).and_then(Value::as_f64),
            )
        {
            p.slices.window.center = c;
            p.slices.window.width = width.max(1.0);
        }
        if let Some(o) = s.get("overlay_opacity").and_then(Value::as_f64) {
            p.slices.overlay_opacity = o.clamp(0.0, 1.0) as f32;
        }
        if let Some(c) = s.get("contours").and_then(Value::as_bool) {
            p.slices.contours = c;
        }
    }
    if let Some(c) = v.get("clip") {
        if let Some(planes) = c.get("planes").and_then(Value::as_array) {
            for (slot, pv) in p.clip.slots.iter_mut().zip(planes).take(MAX_PLANES) {
                if let (Some(n), Some(pt)) =
                    (pv.get("normal").and_then(f3), pv.get("point").and_then(f3))
                {
                    slot.plane = ClipPlane::new(n, pt);
                }
                if let Some(k) = pv
                    .get("kind")
                    .and_then(Value::as_str)
                    .and_then(ClipKind::parse)
                {
                    slot.kind = k;
                }
                if let Some(e) = pv.get("enabled").and_then(Value::as_bool) {
                    slot.enabled = e;
                }
            }
        }
        if let Some(f) = c.get("focus").and_then(Value::as_u64) {
            p.clip.focus = (f as usize).min(MAX_PLANES - 1);
        }
        if let Some(t) = c.get("tint").and_then(Value::as_f64) {
            p.clip.tint = t as f32;
        }
    }
    if let Some(rs) = v.get("rulers").and_then(Value::as_array) {
        p.rulers.items = rs
            .iter()
            .filter_map(|r| {
                let r = r.as_array()?;
                Some(Ruler {
                    a: f3(r.first()?)?,
                    b: f3(r.get(1)?)?,
                })
            })
            .collect();
    }
    if let Some(b) = v.get("brush") {
        let brush = &mut p.brush;
        if let Some(t) = b
            .get("tool")
            .and_then(Value::as_str)
            .and_then(BrushTool::parse)
        {
            brush.tool = t;
        }
        if let Some(d) = b.get("diameter_mm").and_then(Value::as_f64) {
            brush.diameter_mm = d.clamp(0.1, 500.0);
        }
        if let Some(x) = b.get("sphere").and_then(Value::as_bool) {
            brush.sphere = x;
        }
        if let Some(x) = b.get("limit_range").and_then(Value::as_bool) {
            brush.limit_range = x;
        }
        if let Some(r) = b.get("range").and_then(Value::as_array)
            && let (Some(lo), Some(hi)) = (
                r.first().and_then(Value::as_f64),
                r.get(1).and_then(Value::as_f64),
            )
        {
            brush.range = (lo, hi);
        }
        if let Some(x) = b.get("overwrite").and_then(Value::as_bool) {
            brush.overwrite = x;
        }
        if let Some(x) = b.get("smooth_strength").and_then(Value::as_f64) {
            brush.smooth_strength = x.clamp(0.0, 1.0) as f32;
        }
    }
    if let Some(t) = v.get("threshold").and_then(Value::as_array)
        && let (Some(lo), Some(hi)) = (
            t.first().and_then(Value::as_f64),
            t.get(1).and_then(Value::as_f64),
        )
    {
        p.tools.lo = lo;
        p.tools.hi = hi;
    }
    if let Some(id) = v.get("selected").and_then(Value::as_u64) {
        p.tools.selected = segments
            .iter()
            .find(|(_, s)| *s as u64 == id)
            .map(|(e, _)| *e);
    }
}

/// Puts the camera back (after the first surfaces framed it).
pub fn apply_camera(v: &Value, p: &mut ViewParts) {
    let Some(c) = v.get("camera") else { return };
    for mut o in &mut p.camera {
        if let Some(f) = c.get("focus").and_then(f3) {
            o.focus = Vec3::new(f[0] as f32, f[1] as f32, f[2] as f32);
        }
        if let Some(x) = c.get("yaw").and_then(Value::as_f64) {
            o.yaw = x as f32;
        }
        if let Some(x) = c.get("pitch").and_then(Value::as_f64) {
            o.pitch = x as f32;
        }
        if let Some(x) = c.get("distance").and_then(Value::as_f64) {
            o.distance = (x as f32).clamp(0.01, 10.0);
        }
    }
}
