//! XR diagnostics: frames rendered and submitted per eye (counted in the
//! render world), the CPU time of each frame's update, `--xr-trace FILE`
//! (one JSON line per frame: session state, frames per eye, anatomy pose,
//! hands, clip planes and the segments they cut, frame times), and the
//! choice of the screenshot's source (the left eye once it shows the
//! anatomy, or the window when there is no headset view).

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use bevy::prelude::*;
use bevy::render::{Render, RenderApp};
use bevy_mod_openxr::init::should_run_frame_loop;
use bevy_mod_openxr::render::XR_TEXTURE_INDEX;
use bevy_mod_openxr::resources::{OxrCurrentSessionConfig, OxrFrameState};
use bevy_mod_xr::camera::XrCamera;
use bevy_mod_xr::session::{XrRenderSystems, XrState};

use super::XrStatus;
use super::panel::WorldPanel;
use super::panel_shots::{PanelShots, shoot_panel};
use super::rig::{HandReadout, XrInput, XrTable};
use super::surgery_panel::XrSurgeryChoice;
use crate::app::features::clip::{ClipSettings, world_plane};
use crate::app::features::margins::Margins;
use crate::app::features::measurements::Rulers;
use crate::app::features::screenshot::ShotTarget;
use crate::app::features::sculpt::BrushSettings;
use crate::app::features::surgery::Surgery;
use crate::app::state::segments::MarginColoured;
use crate::app::state::segments::Segment;
use crate::app::state::segments::SegmentSurface;
use crate::app::state::segments::ToolSettings;
use crate::app::state::space::AnatomyPose;
use crate::app::state::study::Study;

pub struct TracePlugin {
    pub path: Option<PathBuf>,
    pub screenshot: bool,
}

/// Frames drawn into each eye's swapchain image and handed to the runtime
/// (shared by the main and the render world).
#[derive(Resource, Clone, Default)]
pub struct EyeFrames(pub Arc<[AtomicU64; 2]>);

impl EyeFrames {
    pub fn get(&self) -> [u64; 2] {
        [
            self.0[0].load(Ordering::Relaxed),
            self.0[1].load(Ordering::Relaxed),
        ]
    }
}

/// CPU time of the main world's update (First to Last: every Stratum
/// system and Bevy's own; not the wait for the runtime, not rendering),
/// and the time between frames.
#[derive(Resource, Default, Debug, Clone, Copy)]
pub struct FrameTimes {
    pub update_ms: f64,
    pub frame_ms: f64,
    started: Option<Instant>,
    last_start: Option<Instant>,
}

#[derive(Resource)]
struct TraceFile {
    out: std::io::BufWriter<std::fs::File>,
    t0: Instant,
    frame: u64,
    /// Surface bounds per segment, computed once per surface.
    bounds: HashMap<Entity, (usize, [f32; 3], [f32; 3])>,
}

impl Plugin for TracePlugin {
    fn build(&self, app: &mut App) {
        let eyes = EyeFrames::default();
        app.insert_resource(eyes.clone())
            .init_resource::<FrameTimes>()
            .add_systems(First, start_frame)
            .add_systems(Last, end_frame);
        if let Some(render) = app.get_sub_app_mut(RenderApp) {
            render.insert_resource(eyes).add_systems(
                Render,
                count_eye_frames
                    .in_set(XrRenderSystems::PostRender)
                    .run_if(should_run_frame_loop),
            );
        }
        if let Some(path) = &self.path {
            match std::fs::File::create(path) {
                Ok(f) => {
                    app.insert_resource(TraceFile {
                        out: std::io::BufWriter::new(f),
                        t0: Instant::now(),
                        frame: 0,
                        bounds: HashMap::new(),
                    })
                    .insert_resource(PanelShots::new(path.with_extension("panel.png")))
                    .add_systems(Last, (shoot_panel, write_trace.after(end_frame)));
                }
                Err(e) => error!("cannot write the XR trace to {}: {e}", path.display()),
            }
        }
        if self.screenshot {
            app.insert_resource(ShotTarget::Waiting)
                .add_systems(Update, choose_shot_target);
        }
    }
}

fn count_eye_frames(
    frame: Option<Res<OxrFrameState>>,
    cams: Query<&XrCamera>,
    eyes: Res<EyeFrames>,
) {
    if !frame.is_some_and(|f| f.should_render) {
        return;
    }
    for cam in &cams {
        if let Some(n) = eyes.0.get(cam.0 as usize) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn start_frame(mut times: ResMut<FrameTimes>) {
    let now = Instant::now();
    if let Some(last) = times.last_start {
        times.frame_ms = (now - last).as_secs_f64() * 1000.0;
    }
    times.last_start = Some(now);
    times.started = Some(now);
}

fn end_frame(mut times: ResMut<FrameTimes>) {
    if let Some(s) = times.started.take() {
        times.update_ms = s.elapsed().as_secs_f64() * 1000.0;
    }
}

/// The left eye once the anatomy lies on the table and the eye has been
/// drawn since; the window when OpenXR is not there or the session ended.
fn choose_shot_target(
    state: Option<Res<XrState>>,
    status: Res<XrStatus>,
    table: Res<XrTable>,
    eyes: Res<EyeFrames>,
    mut target: ResMut<ShotTarget>,
    mut placed_at: Local<Option<u64>>,
) {
    if *target != ShotTarget::Waiting {
        return;
    }
    if status.unavailable.is_some() || state.is_none_or(|s| *s == XrState::Unavailable) {
        *target = ShotTarget::Window;
        return;
    }
    let left = eyes.get()[0];
    if !table.placed {
        *placed_at = None;
        return;
    }
    let since = *placed_at.get_or_insert(left);
    if left > since + 2 {
        *target = ShotTarget::TextureView(XR_TEXTURE_INDEX);
    }
}

/// The OpenXR session as the trace reports it: its state, the frames each
/// eye drew and how long they took, the view's size.
#[derive(bevy::ecs::system::SystemParam)]
struct TraceSession<'w> {
    state: Option<Res<'w, XrState>>,
    status: Res<'w, XrStatus>,
    eyes: Res<'w, EyeFrames>,
    times: Res<'w, FrameTimes>,
    config: Option<Res<'w, OxrCurrentSessionConfig>>,
}

/// The scene around the hands: the anatomy's pose, the table it lies on,
/// the clip planes, and what the hands point at.
#[derive(bevy::ecs::system::SystemParam)]
struct TraceScene<'w> {
    pose: Res<'w, AnatomyPose>,
    table: Res<'w, XrTable>,
    clip: Res<'w, ClipSettings>,
    readout: Res<'w, HandReadout>,
    reslice: Res<'w, crate::app::xr::reslice::XrReslice>,
}

fn write_trace(
    mut trace: ResMut<TraceFile>,
    session: TraceSession,
    scene: TraceScene,
    input: Res<XrInput>,
    segments: Query<(Entity, &Segment, Option<&SegmentSurface>)>,
    mut extra: TraceExtra,
) {
    let TraceSession {
        state,
        status,
        eyes,
        times,
        config,
    } = session;
    let TraceScene {
        pose,
        table,
        clip,
        readout,
        reslice,
    } = scene;
    trace.frame += 1;
    let t = trace.t0.elapsed().as_secs_f64();
    let samples = sample_times_json(&mut extra);
    // Bounds of each surface in LPS (cached per mesh).
    let mut meshed = 0;
    let mut live = Vec::new();
    for (e, seg, surf) in &segments {
        let Some(surf) = surf else { continue };
        meshed += 1;
        let key = Arc::as_ptr(&surf.0) as usize;
        let cached = trace.bounds.get(&e).filter(|b| b.0 == key).copied();
        let b = match cached {
            Some(b) => b,
            None => {
                let Some((lo, hi)) = surf.0.bounds() else {
                    continue;
                };
                trace.bounds.insert(e, (key, lo, hi));
                (key, lo, hi)
            }
        };
        if seg.visible {
            live.push((seg.name.clone(), b.1, b.2));
        }
    }
    let planes: Vec<_> = clip
        .slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.enabled)
        .map(|(i, s)| {
            let cuts: Vec<&str> = live
                .iter()
                .filter(|(_, lo, hi)| {
                    let d: Vec<f64> = (0..8)
                        .map(|c| {
                            let p = [
                                (if c & 1 == 0 { lo[0] } else { hi[0] }) as f64,
                                (if c & 2 == 0 { lo[1] } else { hi[1] }) as f64,
                                (if c & 4 == 0 { lo[2] } else { hi[2] }) as f64,
                            ];
                            s.plane.distance(p)
                        })
                        .collect();
                    d.iter().any(|v| *v > 0.0) && d.iter().any(|v| *v < 0.0)
                })
                .map(|(n, _, _)| n.as_str())
                .collect();
            serde_json::json!({
                "index": i,
                "held": input.gestures.held.is_some_and(|h| h.index == i),
                "point_lps": s.plane.point,
                "normal_lps": s.plane.normal,
                "world": world_plane(&pose, &s.plane).to_array(),
                "cuts": cuts,
            })
        })
        .collect();
    let v3 = |v: Vec3| [v.x, v.y, v.z];
    let hands: Vec<_> = input
        .cur
        .hands
        .iter()
        .map(|h| {
            serde_json::json!({
                "tracked": h.tracked,
                "grip": v3(h.grip.translation),
                "aim_forward": v3(h.aim.rotation * Vec3::NEG_Z),
                "squeeze": h.squeeze,
                "trigger": h.trigger,
                "a": h.primary,
                "b": h.secondary,
                "thumbstick": [h.thumbstick.x, h.thumbstick.y],
            })
        })
        .collect();
    let p = pose.0;
    let line = serde_json::json!({
        "t": (t * 1000.0).round() / 1000.0,
        // The wall clock, to time this app against another process (a
        // browser following it live).
        "unix_ms": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| (d.as_secs_f64() * 1e4).round() / 10.0),
        "frame": trace.frame,
        "xr_state": state.map(|s| format!("{:?}", *s)),
        "session_state": status.session_state,
        "unavailable": status.unavailable,
        "eye_frames": eyes.get(),
        "view_size": config.map(|c| [c.resolution.x, c.resolution.y]),
        "update_ms": (times.update_ms * 1000.0).round() / 1000.0,
        "frame_ms": (times.frame_ms * 10.0).round() / 10.0,
        "segments_meshed": meshed,
        "on_table": table.placed,
        "pose": {
            "translation": v3(p.translation),
            "rotation": [p.rotation.x, p.rotation.y, p.rotation.z, p.rotation.w],
            "scale": p.scale.x,
        },
        "head": v3(input.cur.head.translation),
        "anatomy_centre": table.bounds.map(|(lo, hi)| v3(p.transform_point((lo + hi) / 2.0))),
        "hands": hands,
        "planes": planes,
        "panel": panel_json(&extra.panel),
        "desktop_button": status.desktop_button.map(|(name, at)| serde_json::json!({"label": name, "at": at})),
        "rulers": extra.rulers.items.iter().map(|r| (r.length_mm() * 100.0).round() / 100.0).collect::<Vec<_>>(),
        "ruler_mode": extra.rulers.placing,
        "visible": segments.iter().filter(|(_, s, _)| s.visible).map(|(_, s, _)| s.name.clone()).collect::<Vec<_>>(),
        "selected": readout.selected,
        "actions": input.last_actions,
        "brush": {
            "active": extra.brush.active,
            "tool": extra.brush.tool.in_3d().name(),
            "diameter_mm": extra.brush.diameter_mm,
            "stroking": input.gestures.stroking,
            "on_slice": input.gestures.stroke_on.is_some(),
            "segment": extra.tools.selected.and_then(|e| segments.get(e).ok()).map(|(_, s, _)| s.name.clone()),
            "touching": extra.touch.touching,
            "touch_pulses": extra.touch.pulses,
            "touch_error": extra.touch.error,
            "samples": samples,
        },
        // The slice in space: its plane, and its centre and normal in the
        // world (where a hand must put the brush to paint on it).
        "reslice": reslice.quad.map(|q| {
            let at = |k: f64, l: f64| -> [f64; 3] {
                std::array::from_fn(|i| q.corner[i] + k * q.u[i] + l * q.v[i])
            };
            let centre = pose.lps_to_world(at(0.5, 0.5));
            let n = (pose.lps_to_world(at(1.0, 0.5)) - centre)
                .cross(pose.lps_to_world(at(0.5, 1.0)) - centre)
                .normalize_or_zero();
            serde_json::json!({
                "plane": format!("{:?}", q.plane),
                "centre": v3(centre),
                "normal": v3(n),
            })
        }),
        "surgery": surgery_json(&extra, &segments),
        // The link carries the session's key: a trace is the developer's
        // own file, asked for with --xr-trace.
        "live": {
            "follow": extra.live.links().map(|(f, _)| f),
            "following": extra.live.followers(),
            "error": extra.live.error(),
        },
        "panel_shots": extra.shots.saved(),
        "doc": doc_json(&mut extra),
    });
    let _ = writeln!(trace.out, "{line}");
    let _ = trace.out.flush();
}

/// What the trace reads beyond the pose and the hands.
#[derive(bevy::ecs::system::SystemParam)]
struct TraceExtra<'w, 's> {
    panel: Res<'w, WorldPanel>,
    rulers: Res<'w, Rulers>,
    brush: Res<'w, BrushSettings>,
    tools: Res<'w, ToolSettings>,
    touch: Res<'w, crate::app::xr::haptics::BrushTouch>,
    study: Option<Res<'w, Study>>,
    surgery: Res<'w, Surgery>,
    cut_points: Res<'w, crate::app::features::surgery_cut::CutPoints>,
    margins: Res<'w, Margins>,
    choice: Res<'w, XrSurgeryChoice>,
    coloured: Query<'w, 's, &'static Segment, With<MarginColoured>>,
    shots: Res<'w, PanelShots>,
    live: Res<'w, crate::app::features::live::LiveShare>,
    /// The label map's hash at a document generation (hashed once per change).
    hashed: Local<'s, Option<(u64, u64)>>,
    sample_times: Res<'w, crate::app::features::remesh::SampleTimes>,
    /// The last brush sample the trace reported.
    samples_seen: Local<'s, u64>,
}

/// The brush samples timed since the last line: from the edit to the chunk
/// meshes (wall milliseconds), the chunks made, the stroke's first.
fn sample_times_json(extra: &mut TraceExtra) -> Vec<serde_json::Value> {
    let ms = |d: std::time::Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
    let seen = *extra.samples_seen;
    *extra.samples_seen = extra.sample_times.count;
    extra
        .sample_times
        .recent
        .iter()
        .filter(|s| s.seq > seen)
        .map(|s| {
            serde_json::json!({
                "wall_ms": ms(s.wall),
                "chunks": s.chunks,
                "first": s.first,
            })
        })
        .collect()
}

/// The document: its generation, a hash of the label map (a test compares
/// it before an edit and after its undo), each segment's voxel count, the
/// last steps done.
fn doc_json(extra: &mut TraceExtra) -> serde_json::Value {
    use std::hash::{Hash, Hasher};
    let Some(study) = &extra.study else {
        return serde_json::Value::Null;
    };
    let doc = &study.doc;
    let generation = doc.generation();
    let hash = match *extra.hashed {
        Some((g, h)) if g == generation => h,
        _ => {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            match &doc.labels().labels {
                stratum_core::segment::Labels::U8(a) => match a.as_slice_memory_order() {
                    Some(bytes) => hasher.write(bytes),
                    None => a.iter().for_each(|v| v.hash(&mut hasher)),
                },
                stratum_core::segment::Labels::U16(a) => a.iter().for_each(|v| v.hash(&mut hasher)),
            }
            let h = hasher.finish();
            *extra.hashed = Some((generation, h));
            h
        }
    };
    let counts: serde_json::Map<String, serde_json::Value> = doc
        .segments()
        .iter()
        .map(|s| (s.name.clone(), serde_json::json!(doc.voxel_count(s.id))))
        .collect();
    let done: Vec<&str> = doc.steps().filter(|s| s.done).map(|s| s.name).collect();
    serde_json::json!({
        "generation": generation,
        "voxel_mm3": doc.labels().geometry.spacing.iter().product::<f64>(),
        "spacing": doc.labels().geometry.spacing,
        "hash": format!("{hash:016x}"),
        "counts": counts,
        "steps": done.iter().rev().take(5).collect::<Vec<_>>(),
    })
}

/// Rehearsing a resection: the wrist panel's page and pair (by name), its
/// distance line, the last distance, the margin map (its pair, whether it
/// is being measured, what it found, the segments showing its colours) and
/// the last resection.
fn surgery_json(
    extra: &TraceExtra,
    segments: &Query<(Entity, &Segment, Option<&SegmentSurface>)>,
) -> serde_json::Value {
    let name = |id: u16| {
        segments
            .iter()
            .find(|(_, s, _)| s.id == id)
            .map(|(_, s, _)| s.name.clone())
    };
    let m = &extra.margins;
    serde_json::json!({
        "page": format!("{:?}", extra.panel.page),
        "pair": [extra.choice.a.and_then(name), extra.choice.b.and_then(name)],
        "pair_ids": [extra.choice.a, extra.choice.b],
        "readout": extra.choice.readout,
        "distance": extra.surgery.distance.as_ref().map(|d| serde_json::json!({
            "a": d.a,
            "b": d.b,
            "mm": d.closest.distance_mm,
        })),
        "margin": m.shown.as_ref().map(|s| serde_json::json!({
            "a": name(s.a),
            "b": name(s.b),
            "thresholds_mm": s.thresholds_mm,
            "under_pct": s.under_pct,
            "min_mm": s.min_mm,
            "measuring": m.measuring,
        })),
        "margin_measured": m.measured,
        "margin_painted": m.painted,
        "coloured": extra.coloured.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        "cut_points": {
            "placing": extra.cut_points.placing,
            "points": extra.cut_points.points,
            "surface": extra.cut_points.patch.is_some(),
        },
        "resection": extra.surgery.resection.as_ref().map(|r| serde_json::json!({
            "organ": r.organ,
            "remnant_ml": r.remnant_ml,
            "remnant_pct": r.remnant_pct,
        })),
    })
}

/// The world panel: where it is, whether the laser is on it, and the world
/// point of each named control (a test aims there as a user would).
fn panel_json(panel: &WorldPanel) -> serde_json::Value {
    let v3 = |v: Vec3| [v.x, v.y, v.z];
    let widgets: serde_json::Map<String, serde_json::Value> = panel
        .widgets
        .iter()
        .map(|(k, px)| {
            let w = panel.quad.world_point(Vec2::from(*px));
            (k.clone(), serde_json::json!(v3(w)))
        })
        .collect();
    let r = panel.quad.transform.rotation;
    serde_json::json!({
        "visible": panel.visible(),
        "pinned": panel.pinned.is_some(),
        "centre": v3(panel.quad.transform.translation),
        "normal": v3(r * Vec3::Z),
        "pointer": panel.pointer.at.map(|p| [p.x, p.y]),
        "pressed": panel.pointer.pressed,
        "widgets": widgets,
    })
}
