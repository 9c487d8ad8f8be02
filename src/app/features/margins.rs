//! The margin map on screen: a segment's surface coloured by its distance
//! to another segment (red under the first threshold, yellow under the
//! second, its own colour beyond), exact on the surfaces the user sees
//! (`stratum_core::distance::margin_map`). It follows the surfaces: when
//! either is rebuilt (an edit, an undo) the colours are measured again;
//! while a brush strokes the coloured segment its chunks show its own
//! colour until the full surface is back. Vertex colours on the segment's
//! mesh with the material's colour white, so the desktop, VR and the clip
//! planes' cut faces all show it.

use std::time::Instant;

use bevy::prelude::*;
use stratum_core::Progress;
use stratum_core::distance::{margin_colour, margin_map};

use crate::app::features::clip::SegmentMaterial;
use crate::app::features::meshing::segment_material;
use crate::app::features::remesh::LiveSurfaces;
use crate::app::features::surgery::SurgeryAction;
use crate::app::state::document::SegmentIndex;
use crate::app::state::jobs::Notices;
use crate::app::state::segments::{MarginColoured, Segment, SegmentSurface};
use crate::app::state::study::Study;

/// Under the first threshold.
pub const NEAR: [u8; 3] = [220, 38, 38];
/// Under the second threshold.
pub const MID: [u8; 3] = [245, 196, 40];

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
    pub ms: f64,
}

#[derive(Resource, Default, Debug)]
pub struct Margins {
    pub shown: Option<MarginShown>,
    /// Measure again (asked for, or a surface changed).
    stale: bool,
}

pub struct MarginsPlugin;

impl Plugin for MarginsPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Margins>()
            .init_resource::<MarginOnLoad>()
            .add_systems(
                Update,
                (margin_on_load, margin_actions, show_margins).chain(),
            );
    }
}

/// `--margin A,B`: the margin map of A to B (by name) once the study has
/// both.
#[derive(Resource, Default, Debug, Clone)]
pub struct MarginOnLoad(pub Option<(String, String)>);

fn margin_on_load(
    mut on_load: ResMut<MarginOnLoad>,
    study: Option<Res<Study>>,
    mut notices: ResMut<Notices>,
    mut out: MessageWriter<SurgeryAction>,
) {
    let (Some((a, b)), Some(study)) = (&on_load.0, study) else {
        return;
    };
    // As typed on a command line: any case, "_" for a space.
    let norm = |n: &str| n.trim().replace('_', " ").to_lowercase();
    let id = |n: &str| {
        study
            .doc
            .segments()
            .iter()
            .find(|s| norm(&s.name) == norm(n))
            .map(|s| s.id)
    };
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
                margins.stale = true;
            }
            SurgeryAction::HideMargin => {
                margins.shown = None;
                margins.stale = true;
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

/// A surface rebuilt, or another mesh shown for it.
type SurfaceChanged = Or<(Changed<SegmentSurface>, Changed<Mesh3d>)>;

/// Where the colours go: the meshes, the materials, the marker.
#[derive(bevy::ecs::system::SystemParam)]
struct Paint<'w, 's> {
    meshes: ResMut<'w, Assets<Mesh>>,
    materials: ResMut<'w, Assets<SegmentMaterial>>,
    notices: ResMut<'w, Notices>,
    commands: Commands<'w, 's>,
}

fn show_margins(
    mut margins_res: ResMut<Margins>,
    changed: Query<(), SurfaceChanged>,
    segments: Query<Shown>,
    index: Res<SegmentIndex>,
    study: Option<Res<Study>>,
    live: Res<LiveSurfaces>,
    paint: Paint,
) {
    let Paint {
        mut meshes,
        mut materials,
        mut notices,
        mut commands,
    } = paint;
    // Disjoint borrows of its fields below.
    let margins = &mut *margins_res;
    let want = margins.shown.as_ref().map(|m| (m.a, m.b));
    // A surface the map reads changed: measure again.
    if let Some((a, b)) = want
        && [a, b]
            .iter()
            .any(|id| index.get(*id).is_some_and(|e| changed.contains(e)))
    {
        margins.stale = true;
    }
    let stroking = want.is_some_and(|(a, _)| live.segments.contains_key(&a));
    // Segments coloured that should not be (now or while a stroke shows
    // the segment as chunks): their own colour again.
    for (e, seg, _, mesh, material, coloured) in &segments {
        let keep = want.is_some_and(|(a, _)| a == seg.id) && !stroking;
        if coloured && !keep {
            if let Some(mut m) = mesh.and_then(|m| meshes.get_mut(&m.0)) {
                m.remove_attribute(Mesh::ATTRIBUTE_COLOR);
            }
            if let Some(mut m) = material.and_then(|m| materials.get_mut(&m.0)) {
                m.base.base_color = segment_material(seg).base.base_color;
            }
            commands.entity(e).remove::<MarginColoured>();
            margins.stale |= want.is_some();
        }
    }
    if !margins.stale || stroking {
        return;
    }
    let Some(shown) = margins.shown.as_mut() else {
        margins.stale = false;
        return;
    };
    let get = |id: u16| index.get(id).and_then(|e| segments.get(e).ok());
    let (Some(sa), Some(sb)) = (get(shown.a), get(shown.b)) else {
        let in_doc = |id: u16| study.as_ref().is_some_and(|s| s.doc.segment(id).is_some());
        if in_doc(shown.a) && in_doc(shown.b) {
            // Their entities come a frame after the study.
            return;
        }
        notices.error("Margins: one of the two segments is gone");
        margins.shown = None;
        margins.stale = true;
        return;
    };
    let (Some(study), Some(surface_a), Some(surface_b), Some(mesh), Some(material)) =
        (study, sa.2, sb.2, sa.3, sa.4)
    else {
        // Not built yet: measured once both surfaces are there.
        return;
    };
    margins.stale = false;
    let t = Instant::now();
    let result = margin_map(
        study.doc.labels(),
        shown.b,
        &surface_a.0,
        &surface_b.0,
        f64::from(shown.thresholds_mm[1]),
        &Progress::new(),
    );
    let distances = match result {
        Ok(d) => d,
        Err(e) => {
            notices.error(format!("Margins of {} to {}: {e}", sa.1.name, sb.1.name));
            margins.shown = None;
            margins.stale = true;
            return;
        }
    };
    let Some(mut bevy_mesh) = meshes.get_mut(&mesh.0) else {
        margins.stale = true;
        return;
    };
    if bevy_mesh.count_vertices() != distances.len() {
        // The mesh on screen is not this surface (yet): try next frame.
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
    if let Some(mut m) = materials.get_mut(&material.0) {
        m.base.base_color = Color::WHITE.with_alpha(sa.1.opacity.clamp(0.0, 1.0));
    }
    commands.entity(sa.0).insert(MarginColoured);
    let n = distances.len().max(1) as f64;
    let under = |t: f32| 100.0 * distances.iter().filter(|&&d| d < t).count() as f64 / n;
    shown.under_pct = Some([under(t2[0]), under(t2[1])]);
    shown.min_mm = distances.iter().copied().reduce(f32::min);
    shown.ms = t.elapsed().as_secs_f64() * 1000.0;
    info!(
        "margins of {} to {}: {:.1}% under {} mm, {:.1}% under {} mm ({:.0} ms)",
        sa.1.name,
        sb.1.name,
        under(t2[0]),
        t2[0],
        under(t2[1]),
        t2[1],
        shown.ms
    );
}
