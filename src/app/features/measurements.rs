//! The measurements table and the validation of every surface against the
//! scan: per segment its volumes, area and extent, and (after "Check
//! against the scan", a background job) Dice, surface distances, volume
//! difference, watertightness and the flags of what failed. Copyable as CSV.

use std::collections::HashMap;
use std::sync::Arc;

use bevy::prelude::*;
use stratum_core::base::progress::Progress;
use stratum_core::mesh::SurfaceMesh;
use stratum_core::planning::measure::{SurfaceRecipe, Validation, validate};

use crate::app::actions::RulerAction;
use crate::app::features::meshing::SurfaceSettings;
use crate::app::state::jobs::{JobDone, JobPlugin, Notices, spawn_job};
use crate::app::state::segments::Segment;
use crate::app::state::segments::SegmentSurface;
use crate::app::state::study::Study;

/// Validation results per segment id, with the surface they were made of.
#[derive(Resource, Default)]
pub struct Measurements {
    pub open: bool,
    pub checks: HashMap<u16, (Arc<SurfaceMesh>, Validation)>,
}

impl Measurements {
    /// The check of segment `id` if it was made of its current surface.
    pub fn current(&self, id: u16, surface: Option<&SegmentSurface>) -> Option<&Validation> {
        let (mesh, v) = self.checks.get(&id)?;
        let surface = surface?;
        Arc::ptr_eq(mesh, &surface.0).then_some(v)
    }
}

/// Check every built surface against its segment's voxels.
#[derive(Message, Clone, Copy, Debug)]
pub struct ValidateAll;

/// What the validation job produces.
pub struct ValidationBatch(Vec<(u16, Arc<SurfaceMesh>, Validation)>);

pub struct MeasurementsPlugin;

impl Plugin for MeasurementsPlugin {
    fn build(&self, app: &mut App) {
        app.add_plugins(JobPlugin::<ValidationBatch>::default())
            .init_resource::<Measurements>()
            .add_message::<ValidateAll>()
            .add_systems(
                Update,
                (
                    start_validation.run_if(resource_exists::<Study>),
                    store_validation,
                )
                    .chain(),
            );
    }
}

fn start_validation(
    mut commands: Commands,
    mut requests: MessageReader<ValidateAll>,
    study: Res<Study>,
    segments: Query<(&Segment, &SegmentSurface)>,
    settings: Res<SurfaceSettings>,
) {
    if requests.read().last().is_none() {
        return;
    }
    let labels = study.doc.labels().clone();
    let work: Vec<(u16, String, Arc<SurfaceMesh>)> = segments
        .iter()
        .map(|(s, m)| (s.id, s.name.clone(), m.0.clone()))
        .collect();
    if work.is_empty() {
        return;
    }
    let opts = settings.options();
    let recipe = SurfaceRecipe {
        presmooth_mm: opts.presmooth_mm,
        smoothing_iterations: opts.smooth_iterations,
        reduction: 1.0 - opts.keep_ratio,
    };
    spawn_job(
        &mut commands,
        "Checking the surfaces against the scan",
        move |p: &Progress| {
            use rayon::prelude::*;
            p.begin("validating", work.len() as u64);
            let out: Result<Vec<_>, stratum_core::base::error::CoreError> = work
                .par_iter()
                .map(|(id, name, mesh)| {
                    p.check()?;
                    let v = validate(name, &labels.mask(*id), mesh, recipe.clone());
                    p.advance(1);
                    Ok((*id, mesh.clone(), v))
                })
                .collect();
            Ok(ValidationBatch(out?))
        },
    );
}

fn store_validation(
    mut done: MessageMutator<JobDone<ValidationBatch>>,
    mut measurements: ResMut<Measurements>,
    mut notices: ResMut<Notices>,
) {
    for d in done.read() {
        let title = d.title.clone();
        let Some(ValidationBatch(batch)) = notices.take(&title, d.take()) else {
            continue;
        };
        let flagged = batch.iter().filter(|(_, _, v)| !v.flags.is_empty()).count();
        notices.info(format!(
            "Checked {} surfaces against the scan: {}",
            batch.len(),
            if flagged == 0 {
                "all within the limits".to_string()
            } else {
                format!("{flagged} flagged (see Measurements)")
            }
        ));
        for (id, mesh, v) in batch {
            measurements.checks.insert(id, (mesh, v));
        }
        measurements.open = true;
    }
}

/// One table row.
pub struct Row {
    pub name: String,
    pub voxel_ml: f64,
    pub mesh_ml: Option<f64>,
    pub area_cm2: Option<f64>,
    pub extent_mm: Option<[f32; 3]>,
    pub check: Option<Validation>,
}

/// The table as CSV (one header line, one line per segment).
pub fn to_csv(rows: &[Row]) -> String {
    let mut s = String::from(
        "segment,voxel_ml,mesh_ml,area_cm2,extent_x_mm,extent_y_mm,extent_z_mm,dice,mean_mm,p95_mm,max_mm,volume_diff_pct,watertight,flags\n",
    );
    let opt =
        |v: Option<f64>, digits: usize| v.map(|v| format!("{v:.digits$}")).unwrap_or_default();
    for r in rows {
        let c = r.check.as_ref();
        let e = r.extent_mm;
        let fields = [
            format!("\"{}\"", r.name.replace('"', "\"\"")),
            format!("{:.2}", r.voxel_ml),
            opt(r.mesh_ml, 2),
            opt(r.area_cm2, 1),
            opt(e.map(|e| e[0] as f64), 1),
            opt(e.map(|e| e[1] as f64), 1),
            opt(e.map(|e| e[2] as f64), 1),
            opt(c.map(|c| c.dice), 4),
            opt(c.map(|c| c.surface.mean_mm), 2),
            opt(c.map(|c| c.surface.p95_mm), 2),
            opt(c.map(|c| c.surface.max_mm), 2),
            opt(c.map(|c| c.volume_diff_pct), 1),
            c.map(|c| c.watertight.to_string()).unwrap_or_default(),
            format!(
                "\"{}\"",
                c.map(|c| c.flags.join("; "))
                    .unwrap_or_default()
                    .replace('"', "\"\"")
            ),
        ];
        s.push_str(&fields.join(","));
        s.push('\n');
    }
    s
}

/// A straight-line distance between two points (LPS mm).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ruler {
    pub a: [f64; 3],
    pub b: [f64; 3],
}

impl Ruler {
    pub fn length_mm(&self) -> f64 {
        ((self.a[0] - self.b[0]).powi(2)
            + (self.a[1] - self.b[1]).powi(2)
            + (self.a[2] - self.b[2]).powi(2))
        .sqrt()
    }
}

/// The rulers, and the one being placed.
#[derive(Resource, Default, Debug)]
pub struct Rulers {
    pub items: Vec<Ruler>,
    /// Clicks on a surface or a slice place ruler ends.
    pub placing: bool,
    /// The first end of the ruler being placed.
    pub first: Option<[f64; 3]>,
}

pub struct RulersPlugin;

impl Plugin for RulersPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Rulers>()
            .add_message::<RulerAction>()
            .add_systems(
                Update,
                (ruler_points_from_picks, apply_ruler_actions).chain(),
            );
    }
}

/// While placing, a click on a surface in 3D is a ruler end too.
fn ruler_points_from_picks(
    mut picks: MessageReader<crate::app::actions::ViewAction>,
    rulers: Res<Rulers>,
    surfaces: Query<(&Segment, &SegmentSurface)>,
    pose: Res<crate::app::state::space::AnatomyPose>,
    mut out: MessageWriter<RulerAction>,
) {
    for action in picks.read() {
        if let crate::app::actions::ViewAction::Pick { ray, .. } = action
            && rulers.placing
            && let Some(hit) = crate::app::state::segments::pick(ray, &pose, surfaces.iter())
        {
            out.write(RulerAction::Point(pose.world_to_lps(hit)));
        }
    }
}

fn apply_ruler_actions(mut actions: MessageReader<RulerAction>, mut rulers: ResMut<Rulers>) {
    for action in actions.read() {
        match *action {
            RulerAction::Place(on) => {
                rulers.placing = on;
                rulers.first = None;
            }
            RulerAction::Point(p) => match rulers.first.take() {
                None => rulers.first = Some(p),
                Some(a) => rulers.items.push(Ruler { a, b: p }),
            },
            RulerAction::Delete(i) => {
                if i < rulers.items.len() {
                    rulers.items.remove(i);
                }
            }
            RulerAction::Clear => {
                rulers.items.clear();
                rulers.first = None;
            }
        }
    }
}
