//! What a resection cuts along, before it is made: the points the user
//! places on the model for a curved cut (a click on a surface while
//! placing), with the smooth surface through them refitted as they change,
//! and the safety margin around a lesion as a translucent shell. The views
//! draw them (`view::surgery_view`); `surgery` makes the cuts.

use bevy::prelude::*;
use stratum_core::base::progress::Progress;
use stratum_core::planning::resect::Spline;
use stratum_core::planning::shell::{margin_shell, surface_patch};

use crate::app::actions::ViewAction;
use crate::app::features::clip::{ClipExtension, ClippedOverlay, SegmentMaterial};
use crate::app::features::meshing::to_bevy_mesh;
use crate::app::state::document::DocumentChanged;
use crate::app::state::jobs::Notices;
use crate::app::state::segments::{Segment, SegmentSurface, pick};
use crate::app::state::space::{AnatomyPose, PatientSpace};
use crate::app::state::study::Study;

/// Grid steps of the drawn cutting surface, and how far past the points
/// it reaches (mm).
pub const PATCH_STEPS: usize = 16;
const PATCH_WIDEN_MM: f64 = 15.0;

/// The points of a curved cut (LPS mm), and the surface through them.
#[derive(Resource, Default, Debug)]
pub struct CutPoints {
    /// Clicks on a surface place points.
    pub placing: bool,
    pub points: Vec<[f64; 3]>,
    /// The surface through the points as `(PATCH_STEPS + 1)²` points, row
    /// by row (`None` below three points, or where they lie on a line).
    pub patch: Option<Vec<[f64; 3]>>,
    /// Why there is no surface although there are points enough.
    pub problem: Option<String>,
    spline: Option<Spline>,
}

impl CutPoints {
    /// The fewest points a surface needs.
    pub const MIN: usize = 3;

    /// The normal of the points' plane (one of its two senses), when the
    /// surface could be fitted.
    pub fn normal(&self) -> Option<[f64; 3]> {
        self.spline.as_ref().map(Spline::normal)
    }

    /// What the points give so far, in words: the fitting's problem, how
    /// many more are needed (`how` says how to place one: "click on the
    /// model"), or that the surface through them is drawn.
    pub fn status(&self, how: &str) -> String {
        match (&self.problem, self.points.len()) {
            (Some(p), _) => p.clone(),
            (None, n) if n < Self::MIN => {
                format!("{n} of at least {} points: {how} where to cut", Self::MIN)
            }
            (None, n) => format!("{n} points: the surface through them is drawn in 3D"),
        }
    }

    fn refit(&mut self) {
        self.spline = None;
        self.patch = None;
        self.problem = None;
        if self.points.len() < Self::MIN {
            return;
        }
        // Any sense: the cut picks its side when it is made.
        match Spline::fit(&self.points, [0.0, 0.0, 1.0]) {
            Ok(s) => {
                self.patch = Some(surface_patch(&s, PATCH_STEPS, PATCH_WIDEN_MM));
                self.spline = Some(s);
            }
            Err(e) => self.problem = Some(e.to_string()),
        }
    }
}

/// Placing the points of a curved cut.
#[derive(Message, Clone, Copy, Debug, PartialEq)]
pub enum CutPointAction {
    /// Start or stop placing points with clicks on the model.
    Place(bool),
    Point([f64; 3]),
    RemoveLast,
    Clear,
}

/// The safety margin drawn around a lesion.
#[derive(Message, Clone, Copy, Debug, PartialEq)]
pub enum MarginShellAction {
    Show { lesion: u16, mm: f64 },
    Hide,
}

/// The shell on screen: around which segment, how far.
#[derive(Resource, Default, Debug)]
pub struct MarginShell {
    pub shown: Option<(u16, f64)>,
    /// Its enclosed volume (mL), lesion included.
    pub volume_ml: f64,
}

/// The shell's entity.
#[derive(Component)]
pub struct MarginShellMesh;

/// `--margin-shell NAME[:MM]`: the shell around segment NAME once the
/// study has it.
#[derive(Resource, Default, Debug, Clone)]
pub struct MarginShellOnLoad(pub Option<(String, f64)>);

fn margin_shell_on_load(
    mut on_load: ResMut<MarginShellOnLoad>,
    study: Res<Study>,
    mut notices: ResMut<Notices>,
    mut out: MessageWriter<MarginShellAction>,
) {
    let Some((name, mm)) = on_load.0.take() else {
        return;
    };
    match study.segment_typed(&name) {
        Some(lesion) => {
            out.write(MarginShellAction::Show { lesion, mm });
        }
        None => notices.error(format!(
            "--margin-shell: the study has no segment named {name:?}"
        )),
    }
}

pub struct SurgeryCutPlugin;

impl Plugin for SurgeryCutPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<CutPoints>()
            .init_resource::<MarginShell>()
            .init_resource::<MarginShellOnLoad>()
            .add_message::<CutPointAction>()
            .add_message::<MarginShellAction>()
            .add_systems(
                Update,
                (
                    cut_points_from_picks,
                    apply_cut_point_actions,
                    margin_shell_on_load.run_if(resource_exists::<Study>),
                    show_margin_shell,
                )
                    .chain(),
            );
    }
}

/// While placing, a click on a surface in 3D is a point of the cut.
fn cut_points_from_picks(
    mut picks: MessageReader<ViewAction>,
    points: Res<CutPoints>,
    surfaces: Query<(&Segment, &SegmentSurface)>,
    pose: Res<AnatomyPose>,
    mut out: MessageWriter<CutPointAction>,
) {
    for action in picks.read() {
        if let ViewAction::Pick { ray, .. } = action
            && points.placing
            && let Some(hit) = pick(ray, &pose, surfaces.iter())
        {
            out.write(CutPointAction::Point(pose.world_to_lps(hit)));
        }
    }
}

fn apply_cut_point_actions(
    mut actions: MessageReader<CutPointAction>,
    mut points: ResMut<CutPoints>,
) {
    let mut changed = false;
    for action in actions.read() {
        match *action {
            CutPointAction::Place(on) => points.placing = on,
            CutPointAction::Point(p) => {
                if p.iter().all(|c| c.is_finite()) {
                    points.points.push(p);
                    changed = true;
                }
            }
            CutPointAction::RemoveLast => changed |= points.points.pop().is_some(),
            CutPointAction::Clear => {
                changed |= !points.points.is_empty();
                points.points.clear();
            }
        }
    }
    if changed {
        points.refit();
    }
}

/// Where the shell goes: its entity under the patient root, its assets.
#[derive(bevy::ecs::system::SystemParam)]
struct ShellTargets<'w, 's> {
    commands: Commands<'w, 's>,
    shown: Query<'w, 's, Entity, With<MarginShellMesh>>,
    root: Query<'w, 's, Entity, With<PatientSpace>>,
    meshes: ResMut<'w, Assets<Mesh>>,
    /// Absent without rendering (headless): the shell is measured and
    /// placed, not drawn.
    materials: Option<ResMut<'w, Assets<SegmentMaterial>>>,
}

fn show_margin_shell(
    mut actions: MessageReader<MarginShellAction>,
    mut shell: ResMut<MarginShell>,
    mut to: ShellTargets,
    mut changes: MessageReader<DocumentChanged>,
    study: Option<Res<Study>>,
    mut notices: ResMut<Notices>,
) {
    let mut todo: Vec<MarginShellAction> = actions.read().copied().collect();
    // The lesion edited (a stroke once it ends, an undo): the shell follows.
    if let Some((lesion, mm)) = shell.shown {
        for c in changes.read().filter(|c| !c.change.live) {
            if c.change.removed.contains(&lesion) {
                todo.push(MarginShellAction::Hide);
            } else if c.change.voxels.contains(&lesion) {
                todo.push(MarginShellAction::Show { lesion, mm });
            }
        }
    } else {
        changes.clear();
    }
    for action in todo {
        for e in &to.shown {
            to.commands.entity(e).despawn();
        }
        shell.shown = None;
        let MarginShellAction::Show { lesion, mm } = action else {
            continue;
        };
        let Some(study) = study.as_deref() else {
            continue;
        };
        let name = study
            .doc
            .segment(lesion)
            .map_or_else(|| "the lesion".to_string(), |s| s.name.clone());
        let made = margin_shell(study.doc.labels(), lesion, mm, &Progress::new());
        let mesh = match made {
            Ok(m) => m,
            Err(e) => {
                notices.error(format!("The margin around {name}: {e}"));
                continue;
            }
        };
        let Ok(root) = to.root.single() else { continue };
        shell.shown = Some((lesion, mm));
        shell.volume_ml = mesh.volume_mm3() / 1000.0;
        info!(
            "margin shell {mm} mm around {name}: {} triangles, {:.1} mL",
            mesh.triangle_count(),
            shell.volume_ml
        );
        let mut e = to.commands.spawn((
            Name::new("Margin shell"),
            MarginShellMesh,
            Mesh3d(to.meshes.add(to_bevy_mesh(&mesh))),
            Transform::default(),
            ChildOf(root),
        ));
        // Translucent, both faces: the lesion shows through it, and the
        // shell's inside where a clip plane opens it (the planes cut it as
        // they cut the segments, without a cut face).
        if let Some(materials) = to.materials.as_mut() {
            e.insert((
                ClippedOverlay,
                MeshMaterial3d(materials.add(SegmentMaterial {
                    base: StandardMaterial {
                        base_color: Color::srgba(1.0, 0.85, 0.2, 0.28),
                        alpha_mode: AlphaMode::Blend,
                        double_sided: true,
                        cull_mode: None,
                        perceptual_roughness: 0.8,
                        ..default()
                    },
                    extension: ClipExtension::default(),
                })),
            ));
        }
    }
}
