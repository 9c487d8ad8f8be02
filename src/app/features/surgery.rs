//! Rehearsing a resection: the minimum distance between two segments (a
//! ruler between the closest points of their surfaces) and a virtual
//! resection of a segment along a clip plane, a smooth surface through
//! points placed on the model, or a safety margin around a lesion (the part
//! cut away becomes a segment, one undoable step; the remnant's volume and
//! share are shown). The desktop window and any other input send
//! [`SurgeryAction`]s; the points and the margin's shell are `surgery_cut`'s.

use std::time::Instant;

use bevy::prelude::*;
use stratum_core::base::progress::Progress;
use stratum_core::planning::distance::{Closest, segment_distance};
use stratum_core::planning::resect::{Cut, resect};

use crate::app::features::clip::ClipSettings;
use crate::app::features::measurements::{Ruler, Rulers};
use crate::app::features::surgery_cut::CutPoints;
use crate::app::state::document::{DocEdit, SegmentIndex};
use crate::app::state::segments::{Segment, SegmentSurface};

/// What to measure or cut.
#[derive(Message, Clone, Copy, Debug, PartialEq)]
pub enum SurgeryAction {
    /// The minimum distance between segments `a` and `b` (by id).
    Distance { a: u16, b: u16 },
    /// Cut segment `organ` along clip plane `plane` (the side the plane
    /// hides is cut away); `lesion` adds the shares with the lesion.
    Resect {
        organ: u16,
        lesion: Option<u16>,
        plane: usize,
    },
    /// Colour segment `a`'s surface by its distance to segment `b`: red
    /// under the first threshold, yellow under the second (mm); see
    /// `margins`.
    Margin {
        a: u16,
        b: u16,
        thresholds_mm: [f32; 2],
    },
    /// Back to the segment's own colour.
    HideMargin,
    /// Cut segment `organ` along the smooth surface through the points
    /// placed on the model ([`CutPoints`]); the smaller part is cut away,
    /// the larger with `larger`.
    ResectAlongPoints {
        organ: u16,
        lesion: Option<u16>,
        larger: bool,
    },
    /// Cut away everything of segment `organ` within `mm` of segment
    /// `lesion`'s surface (a safety margin around the lesion).
    ResectMargin { organ: u16, lesion: u16, mm: f64 },
}

/// The last distance measured.
#[derive(Clone, Debug)]
pub struct MeasuredDistance {
    pub a: String,
    pub b: String,
    pub closest: Closest,
    pub ms: f64,
}

/// The last resection made.
#[derive(Clone, Debug)]
pub struct MadeResection {
    pub organ: String,
    pub remnant_ml: f64,
    pub remnant_pct: f64,
    pub summary: String,
    pub ms: f64,
}

#[derive(Resource, Default, Debug)]
pub struct Surgery {
    pub distance: Option<MeasuredDistance>,
    pub resection: Option<MadeResection>,
}

pub struct SurgeryPlugin;

impl Plugin for SurgeryPlugin {
    fn build(&self, app: &mut App) {
        app.init_resource::<Surgery>()
            .add_message::<SurgeryAction>()
            .add_systems(Update, run_surgery);
    }
}

/// What a cut can run along: the clip planes and the points placed on
/// the model.
#[derive(bevy::ecs::system::SystemParam)]
struct CutSources<'w> {
    clip: Res<'w, ClipSettings>,
    points: Res<'w, CutPoints>,
}

fn run_surgery(
    mut actions: MessageReader<SurgeryAction>,
    segments: Query<(&Segment, Option<&SegmentSurface>)>,
    index: Res<SegmentIndex>,
    cuts: CutSources,
    mut rulers: ResMut<Rulers>,
    mut surgery: ResMut<Surgery>,
    mut doc: DocEdit,
) {
    let CutSources { clip, points } = cuts;
    for action in actions.read() {
        match *action {
            SurgeryAction::Distance { a, b } => {
                let get = |id| index.get(id).and_then(|e| segments.get(e).ok());
                let (Some((sa, ma)), Some((sb, mb))) = (get(a), get(b)) else {
                    doc.notices().error("Distance: pick two segments");
                    continue;
                };
                let (Some(ma), Some(mb)) = (ma, mb) else {
                    doc.notices().error(format!(
                        "Distance between {} and {}: wait for both 3D surfaces to be built",
                        sa.name, sb.name
                    ));
                    continue;
                };
                let Some(study) = doc.study() else { continue };
                let t = Instant::now();
                let result =
                    segment_distance(study.doc.labels(), a, b, &ma.0, &mb.0, &Progress::new());
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                match result {
                    Ok(closest) => {
                        info!(
                            "distance {} to {}: {:.2} mm ({ms:.0} ms)",
                            sa.name, sb.name, closest.distance_mm
                        );
                        rulers.items.push(Ruler {
                            a: closest.on_a,
                            b: closest.on_b,
                        });
                        surgery.distance = Some(MeasuredDistance {
                            a: sa.name.clone(),
                            b: sb.name.clone(),
                            closest,
                            ms,
                        });
                    }
                    Err(e) => doc.notices().error(format!("Distance: {e}")),
                }
            }
            SurgeryAction::Resect {
                organ,
                lesion,
                plane,
            } => {
                let Some(slot) = clip.slots.get(plane).filter(|s| s.enabled) else {
                    doc.notices()
                        .error("Resect: turn a clip plane on and place it where to cut");
                    continue;
                };
                let cut = Cut::Plane {
                    point: slot.plane.point,
                    normal: slot.plane.normal,
                };
                make_cut(&mut doc, &mut surgery, organ, lesion, &[cut], "The plane");
            }
            SurgeryAction::ResectAlongPoints {
                organ,
                lesion,
                larger,
            } => {
                let Some(normal) = points.normal() else {
                    doc.notices().error(format!(
                        "Resect: place at least {} points on the model where to cut (placed {})",
                        CutPoints::MIN,
                        points.points.len()
                    ));
                    continue;
                };
                // Both sides, the smaller part first (or the larger first).
                let side = |towards: [f64; 3]| Cut::Surface {
                    points: points.points.clone(),
                    towards,
                };
                let sides = [side(normal), side(normal.map(|c| -c))];
                let pick = if larger { Pick::Larger } else { Pick::Smaller };
                make_cut_pick(
                    &mut doc,
                    &mut surgery,
                    organ,
                    lesion,
                    &sides,
                    pick,
                    "The surface",
                );
            }
            SurgeryAction::ResectMargin { organ, lesion, mm } => {
                if organ == lesion {
                    doc.notices().error(
                        "Resect a margin: pick the organ to cut and, apart from it, the lesion",
                    );
                    continue;
                }
                let cut = Cut::Margin { around: lesion, mm };
                make_cut(
                    &mut doc,
                    &mut surgery,
                    organ,
                    Some(lesion),
                    &[cut],
                    "The margin",
                );
            }
            // The margins feature shows those.
            SurgeryAction::Margin { .. } | SurgeryAction::HideMargin => {}
        }
    }
}

/// Which of a cut's two sides to cut away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pick {
    /// The only one given.
    First,
    Smaller,
    Larger,
}

fn make_cut(
    doc: &mut DocEdit,
    surgery: &mut Surgery,
    organ: u16,
    lesion: Option<u16>,
    cuts: &[Cut],
    what: &str,
) {
    make_cut_pick(doc, surgery, organ, lesion, cuts, Pick::First, what);
}

/// Cuts segment `organ` along `cuts[0]` (or, for two sides of one cut, the
/// side `pick` says) and applies the part cut away as a new segment.
fn make_cut_pick(
    doc: &mut DocEdit,
    surgery: &mut Surgery,
    organ: u16,
    lesion: Option<u16>,
    cuts: &[Cut],
    pick: Pick,
    what: &str,
) {
    let Some(study) = doc.study() else { return };
    let Some(name) = study.doc.segment(organ).map(|s| s.name.clone()) else {
        doc.notices().error("Resect: pick the segment to cut");
        return;
    };
    let lesion = lesion.filter(|l| *l != organ);
    let t = Instant::now();
    let labels = study.doc.labels();
    let made = match pick {
        Pick::First => resect(labels, organ, &cuts[0], lesion, &Progress::new()),
        Pick::Smaller | Pick::Larger => {
            resect(labels, organ, &cuts[0], lesion, &Progress::new()).and_then(|a| {
                // The far side of a cut is the rest of the organ: cut
                // along the other side only when that is the one wanted.
                let small = a.resected_ml <= a.remnant_ml;
                if small == (pick == Pick::Smaller) {
                    Ok(a)
                } else {
                    resect(labels, organ, &cuts[1], lesion, &Progress::new())
                }
            })
        }
    };
    let recipe = study.doc.recipe(organ);
    match made {
        Ok(r) if r.resected.count() == 0 => doc.notices().info(format!(
            "{what} does not cut {name}: move it through the segment"
        )),
        Ok(r) => {
            let edit = r.edit(&name, &format!("{name} resected"), recipe);
            if doc.apply("Resect", edit).is_some() {
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                info!("resect {name}: {} ({ms:.0} ms)", r.summary());
                surgery.resection = Some(MadeResection {
                    organ: name,
                    remnant_ml: r.remnant_ml,
                    remnant_pct: r.remnant_pct,
                    summary: r.summary(),
                    ms,
                });
            }
        }
        Err(e) => doc.notices().error(format!("Resect {name}: {e}")),
    }
}
