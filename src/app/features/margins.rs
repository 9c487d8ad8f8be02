//! The margin map on screen: a segment's surface coloured by its distance
//! to another segment (red under the first threshold, yellow under the
//! second, its own colour beyond), exact on the surfaces the user sees
//! (`stratum_core::planning::distance::margin_map`). It is measured as a background
//! job, so the frame never waits for it: once both surfaces have settled
//! (no meshing job running, neither surface changed for a few frames), and
//! again when either is rebuilt (an edit, an undo). A newer request or a
//! newer surface cancels the job under way, and a result is painted only
//! on the mesh it was measured for. While a brush strokes the coloured
//! segment its chunks show its own colour until the full surface is back.
//! Vertex colours on the segment's mesh with the material's colour white,
//! so the desktop, VR and the clip planes' cut faces all show it.

use std::sync::Arc;
use std::time::Instant;

use bevy::prelude::*;
use stratum_core::base::progress::Progress;
use stratum_core::planning::distance::{margin_colour, margin_map};

use crate::app::features::clip::SegmentMaterial;
use crate::app::features::meshing::{MeshBatch, MeshingSet, segment_material};
use crate::app::features::remesh::LiveSurfaces;
use crate::app::features::surgery::SurgeryAction;
use crate::app::state::document::SegmentIndex;
use crate::app::state::jobs::{Job, JobDone, JobPlugin, Notices, Outcome, spawn_job_with};
use crate::app::state::segments::{MarginColoured, Segment, SegmentSurface};
use crate::app::state::study::Study;

/// Under the first threshold.
pub const NEAR: [u8; 3] = [220, 38, 38];
/// Under the second threshold.
pub const MID: [u8; 3] = [245, 196, 40];

/// Frames without a change to either surface before the map is measured:
/// meshing attaches surfaces one job after another (a study's start, an
/// undo touching both), and each would otherwise start a measurement the
/// next one makes stale.
pub const SETTLE_FRAMES: u32 = 3;

/// The margin map asked for, and what it found.
#[derive(Clone, Debug, PartialEq)]
pub struct MarginShown {
    /// The segment coloured.
    pub a: u16,
    /// The segment its distance is measured to.
    pub b: u16,
    /// Red under the first, yellow under the second (mm).
    pub thresholds_mm: [f32; 2],
    /// Share of the coloured surface's vertices under each threshold (%),
    /// once measured.
    pub under_pct: Option<[f64; 2]>,
    /// The nearest any vertex comes (mm), once measured.
    pub min_mm: Option<f32>,
    /// How long the last measurement took in the background (ms).
    pub ms: f64,
}

#[derive(Resource, Default, Debug)]
pub struct Margins {
    pub shown: Option<MarginShown>,
    /// A measurement runs, or waits for the surfaces to settle.
    pub measuring: bool,
    /// Measurements started since the app began (each one `margin_map`).
    pub measured: u32,
    /// Results painted (a superseded result is dropped, not painted).
    pub painted: u32,
    /// Measure again (asked for, or a surface changed).
    stale: bool,
    /// The measurement under way.
    running: Option<Running>,
    /// Measurements started, numbering them: a result names its own.
    generation: u64,
    /// Frames since a surface of the shown pair last changed.
    quiet: u32,
    /// The shown pair's surfaces last frame: a change measures again.
    seen: Option<[SurfaceKey; 2]>,
}

/// A segment's surface as the map measured it: its id, the surface's
/// address and the mesh on screen. (Not `Changed<Mesh3d>`: the renderer
/// marks `Mesh3d` changed whenever its mesh asset is modified, which the
/// map's own colours do.)
type SurfaceKey = (u16, Option<usize>, Option<AssetId<Mesh>>);

/// A measurement under way: which one, its cancel handle, the mesh it
/// measures, and the longest frame while it runs (for the log).
#[derive(Debug)]
struct Running {
    generation: u64,
    progress: Progress,
    mesh: AssetId<Mesh>,
    longest_frame_ms: f64,
}

impl Margins {
    /// The measurement under way answers an old question: stop it (its
    /// result, if it still comes, is dropped) and measure again.
    fn supersede(&mut self) {
        if let Some(r) = self.running.take() {
            r.progress.cancel();
        }
        self.stale = true;
    }

    fn is_measuring(&self) -> bool {
        self.shown.is_some() && (self.stale || self.running.is_some())
    }
}

/// What a margin job gives back: the distance of each vertex of the
/// coloured surface (or why there is none), for the measurement numbered
/// `generation`.
pub struct MarginResult {
    generation: u64,
    distances: Result<Vec<f32>, String>,
    ms: f64,
}

pub struct MarginsPlugin;

impl Plugin for MarginsPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(JobPlugin::<MarginResult>::default())
            .init_resource::<Margins>()
            .init_resource::<MarginOnLoad>()
            .add_systems(
                Update,
                (
                    margin_on_load.run_if(resource_exists::<Study>),
                    margin_actions,
                    show_margins,
                )
                    .chain()
                    // A surface attached this frame is seen this frame.
                    .after(MeshingSet),
            );
    }
}

/// `--margin A,B`: the margin map of A to B (by name) once the study has
/// both.
#[derive(Resource, Default, Debug, Clone)]
pub struct MarginOnLoad(pub Option<(String, String)>);

fn margin_on_load(
    mut on_load: ResMut<MarginOnLoad>,
    study: Res<Study>,
    mut notices: ResMut<Notices>,
    mut out: MessageWriter<SurgeryAction>,
) {
    let Some((a, b)) = &on_load.0 else {
        return;
    };
    let id = |n: &str| study.segment_typed(n);
    match (id(a), id(b)) {
        (Some(a), Some(b)) if a != b => {
            out.write(SurgeryAction::Margin {
                a,
                b,
                thresholds_mm: [5.0, 10.0],
            });
        }
        _ => notices.error(format!(
            "--margin: the study has no two segments named {a:?} and {b:?}"
        )),
    }
    on_load.0 = None;
}

fn margin_actions(mut actions: MessageReader<SurgeryAction>, mut margins: ResMut<Margins>) {
    for action in actions.read() {
        match *action {
            SurgeryAction::Margin {
                a,
                b,
                thresholds_mm,
            } => {
                let mut t = thresholds_mm.map(|v| if v.is_finite() { v.max(0.0) } else { 0.0 });
                if t[1] < t[0] {
                    t.swap(0, 1);
                }
                margins.shown = Some(MarginShown {
                    a,
                    b,
                    thresholds_mm: t,
                    under_pct: None,
                    min_mm: None,
                    ms: 0.0,
                });
                margins.supersede();
                margins.measuring = true;
            }
            SurgeryAction::HideMargin => {
                margins.shown = None;
                margins.supersede();
                margins.measuring = false;
            }
            _ => {}
        }
    }
}

/// Linear RGBA for a vertex colour attribute from an sRGB colour.
fn vertex_colour(c: [u8; 3]) -> [f32; 4] {
    let l = Color::srgb_u8(c[0], c[1], c[2]).to_linear();
    [l.red, l.green, l.blue, 1.0]
}

/// A segment as the margin map reads and colours it.
type Shown = (
    Entity,
    &'static Segment,
    Option<&'static SegmentSurface>,
    Option<&'static Mesh3d>,
    Option<&'static MeshMaterial3d<SegmentMaterial>>,
    Has<MarginColoured>,
);

/// The segments the map reads and colours, found by id.
#[derive(bevy::ecs::system::SystemParam)]
struct ShownSegments<'w, 's> {
    all: Query<'w, 's, Shown>,
    index: Res<'w, SegmentIndex>,
}

/// One segment as [`Shown`] reads it.
type ShownItem<'a> = (
    Entity,
    &'a Segment,
    Option<&'a SegmentSurface>,
    Option<&'a Mesh3d>,
    Option<&'a MeshMaterial3d<SegmentMaterial>>,
    bool,
);

impl ShownSegments<'_, '_> {
    fn get(&self, id: u16) -> Option<ShownItem<'_>> {
        self.index.get(id).and_then(|e| self.all.get(e).ok())
    }
}

/// Where the colours go: the meshes, the materials, the marker.
#[derive(bevy::ecs::system::SystemParam)]
struct Paint<'w, 's> {
    meshes: ResMut<'w, Assets<Mesh>>,
    materials: ResMut<'w, Assets<SegmentMaterial>>,
    notices: ResMut<'w, Notices>,
    commands: Commands<'w, 's>,
}

/// What decides when to measure: the surfaces that changed, the meshing
/// jobs under way, a stroke, the results coming back.
#[derive(bevy::ecs::system::SystemParam)]
struct Watch<'w, 's> {
    meshing: Query<'w, 's, (), With<Job<MeshBatch>>>,
    live: Res<'w, LiveSurfaces>,
    done: MessageMutator<'w, 's, JobDone<MarginResult>>,
    time: Res<'w, Time<Real>>,
}

fn show_margins(
    mut margins_res: ResMut<Margins>,
    segments: ShownSegments,
    study: Option<Res<Study>>,
    mut watch: Watch,
    mut paint: Paint,
) {
    // Bookkeeping every frame without marking the resource changed: the
    // panels that read it redraw only when what they show changes.
    let was = (
        margins_res.shown.clone(),
        margins_res.measuring,
        margins_res.painted,
    );
    let margins = margins_res.bypass_change_detection();
    let want = margins.shown.as_ref().map(|m| (m.a, m.b));
    // A surface the map reads changed (rebuilt, or another mesh shown for
    // it): what is under way measures the old one; measure again once the
    // surfaces settle.
    let key = |id: u16| -> SurfaceKey {
        let s = segments.get(id);
        (
            id,
            s.and_then(|s| s.2).map(|s| Arc::as_ptr(&s.0) as usize),
            s.and_then(|s| s.3).map(|m| m.0.id()),
        )
    };
    let now = want.map(|(a, b)| [key(a), key(b)]);
    let same_pair = |x: &[SurfaceKey; 2], y: &[SurfaceKey; 2]| x[0].0 == y[0].0 && x[1].0 == y[1].0;
    if let (Some(was), Some(now)) = (&margins.seen, &now)
        && same_pair(was, now)
        && was != now
    {
        margins.quiet = 0;
        margins.supersede();
    } else {
        margins.quiet = margins.quiet.saturating_add(1);
    }
    margins.seen = now;
    let stroking = want.is_some_and(|(a, _)| watch.live.segments.contains_key(&a));
    // Segments coloured that should not be (now, while a stroke shows the
    // segment as chunks, or once its surface is rebuilt without colours):
    // their own colour again.
    for (e, seg, _, mesh, material, coloured) in &segments.all {
        if !coloured {
            continue;
        }
        let painted = mesh
            .and_then(|m| paint.meshes.get(&m.0))
            .is_some_and(|m| m.attribute(Mesh::ATTRIBUTE_COLOR).is_some());
        let keep = want.is_some_and(|(a, _)| a == seg.id) && !stroking && painted;
        if keep {
            continue;
        }
        if let Some(mut m) = mesh.and_then(|m| paint.meshes.get_mut(&m.0)) {
            m.remove_attribute(Mesh::ATTRIBUTE_COLOR);
        }
        if let Some(mut m) = material.and_then(|m| paint.materials.get_mut(&m.0)) {
            m.base.base_color = segment_material(seg).base.base_color;
        }
        paint.commands.entity(e).remove::<MarginColoured>();
        if want.is_some() {
            margins.supersede();
        }
    }
    if let Some(r) = margins.running.as_mut() {
        r.longest_frame_ms = r.longest_frame_ms.max(watch.time.delta_secs_f64() * 1000.0);
    }
    // Results: only the measurement under way is painted, and only on the
    // mesh it measured.
    for done in watch.done.read() {
        let outcome = done.take();
        let running = margins.running.as_ref();
        match outcome {
            Outcome::Done(result) if running.is_some_and(|r| r.generation == result.generation) => {
                let running = margins.running.take().expect("checked above");
                match &result.distances {
                    Ok(distances) => paint_result(
                        margins, distances, result.ms, &running, &segments, &mut paint,
                    ),
                    Err(e) => {
                        paint.notices.error(format!("Margins: {e}"));
                        margins.shown = None;
                        margins.stale = false;
                    }
                }
            }
            Outcome::Done(result) => {
                debug!("margin map {} superseded: dropped", result.generation);
            }
            // A panic in the job (the job's own errors come as a result).
            Outcome::Failed(e) if running.is_some() => {
                margins.running = None;
                paint.notices.error(format!("Margins: {e}"));
                margins.shown = None;
                margins.stale = false;
            }
            // Cancelled by the user (the jobs list): a superseded job's
            // handle is gone from `running`, so this is the current one.
            Outcome::Cancelled if running.is_some_and(|r| r.progress.is_cancelled()) => {
                margins.running = None;
                margins.shown = None;
                margins.stale = false;
                paint.notices.info("Margin map: cancelled");
            }
            Outcome::Failed(_) | Outcome::Cancelled => {}
        }
    }
    start_measuring(
        margins,
        &segments,
        study.as_deref(),
        &watch,
        stroking,
        &mut paint,
    );
    margins.measuring = margins.is_measuring();
    if (&margins.shown, margins.measuring, margins.painted) != (&was.0, was.1, was.2) {
        margins_res.set_changed();
    }
}

/// Starts a measurement when one is due and both surfaces are there and
/// settled.
fn start_measuring(
    margins: &mut Margins,
    segments: &ShownSegments,
    study: Option<&Study>,
    watch: &Watch,
    stroking: bool,
    paint: &mut Paint,
) {
    if !margins.stale || stroking || margins.quiet < SETTLE_FRAMES || !watch.meshing.is_empty() {
        return;
    }
    let Some(shown) = margins.shown.as_ref() else {
        margins.stale = false;
        return;
    };
    let get = |id: u16| segments.get(id);
    let (Some(sa), Some(sb)) = (get(shown.a), get(shown.b)) else {
        let in_doc = |id: u16| study.is_some_and(|s| s.doc.segment(id).is_some());
        if in_doc(shown.a) && in_doc(shown.b) {
            // Their entities come a frame after the study.
            return;
        }
        paint
            .notices
            .error("Margins: one of the two segments is gone");
        margins.shown = None;
        margins.stale = false;
        return;
    };
    let (Some(study), Some(surface_a), Some(surface_b), Some(mesh)) = (study, sa.2, sb.2, sa.3)
    else {
        // Not built yet: measured once both surfaces are there.
        return;
    };
    if paint
        .meshes
        .get(&mesh.0)
        .is_none_or(|m| m.count_vertices() != surface_a.0.positions.len())
    {
        // The mesh on screen is not this surface (yet).
        return;
    }
    margins.stale = false;
    margins.generation += 1;
    margins.measured += 1;
    let generation = margins.generation;
    let progress = Progress::new();
    margins.running = Some(Running {
        generation,
        progress: progress.clone(),
        mesh: mesh.0.id(),
        longest_frame_ms: 0.0,
    });
    info!(
        "margins of {} to {}: measuring in the background (measurement {})",
        sa.1.name, sb.1.name, margins.measured
    );
    let labels = study.doc.labels().clone();
    let (b, exact_mm) = (shown.b, f64::from(shown.thresholds_mm[1]));
    let (mesh_a, mesh_b) = (Arc::clone(&surface_a.0), Arc::clone(&surface_b.0));
    spawn_job_with(
        &mut paint.commands,
        format!("Measuring margins of {} to {}", sa.1.name, sb.1.name),
        progress,
        move |p: &Progress| {
            let t = Instant::now();
            let distances = match margin_map(&labels, b, &mesh_a, &mesh_b, exact_mm, p) {
                Err(stratum_core::base::error::CoreError::Cancelled) => {
                    return Err(stratum_core::base::error::CoreError::Cancelled);
                }
                other => other.map_err(|e| e.to_string()),
            };
            Ok(MarginResult {
                generation,
                distances,
                ms: t.elapsed().as_secs_f64() * 1000.0,
            })
        },
    );
}

/// Colours the coloured segment's mesh by a finished measurement, if it
/// still shows the surface measured.
fn paint_result(
    margins: &mut Margins,
    distances: &[f32],
    ms: f64,
    running: &Running,
    segments: &ShownSegments,
    paint: &mut Paint,
) {
    let Some(shown) = margins.shown.as_mut() else {
        return;
    };
    let get = |id: u16| segments.get(id);
    let (Some(sa), Some(sb)) = (get(shown.a), get(shown.b)) else {
        return;
    };
    let (Some(mesh), Some(material)) = (sa.3, sa.4) else {
        margins.stale = true;
        return;
    };
    if mesh.0.id() != running.mesh {
        margins.stale = true;
        return;
    }
    let Some(mut bevy_mesh) = paint.meshes.get_mut(&mesh.0) else {
        margins.stale = true;
        return;
    };
    if bevy_mesh.count_vertices() != distances.len() {
        // The mesh on screen is not the surface measured: measure again.
        margins.stale = true;
        return;
    }
    let colours = [NEAR, MID, sa.1.colour];
    let t2 = shown.thresholds_mm;
    bevy_mesh.insert_attribute(
        Mesh::ATTRIBUTE_COLOR,
        distances
            .iter()
            .map(|&d| vertex_colour(margin_colour(d, t2, colours)))
            .collect::<Vec<_>>(),
    );
    if let Some(mut m) = paint.materials.get_mut(&material.0) {
        m.base.base_color = Color::WHITE.with_alpha(sa.1.opacity.clamp(0.0, 1.0));
    }
    paint.commands.entity(sa.0).insert(MarginColoured);
    let n = distances.len().max(1) as f64;
    let under = |t: f32| 100.0 * distances.iter().filter(|&&d| d < t).count() as f64 / n;
    shown.under_pct = Some([under(t2[0]), under(t2[1])]);
    shown.min_mm = distances.iter().copied().reduce(f32::min);
    shown.ms = ms;
    margins.painted += 1;
    info!(
        "margins of {} to {}: {:.1}% under {} mm, {:.1}% under {} mm ({:.0} ms in the background; longest frame meanwhile {:.0} ms)",
        sa.1.name,
        sb.1.name,
        under(t2[0]),
        t2[0],
        under(t2[1]),
        t2[1],
        ms,
        running.longest_frame_ms
    );
}
