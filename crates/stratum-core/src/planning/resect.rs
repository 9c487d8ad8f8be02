//! Virtual resection: a cut (a plane, a smooth surface through points the
//! user placed, or a safety margin around a lesion) splits a segment (an
//! organ) in two; the part cut away becomes a segment of its own through
//! one document edit (undoable, saved, exported like any segment) and the
//! remnant's volume and share of the whole are reported ("liver remnant
//! 612 mL, 38%"), of the organ alone and of the organ with the lesion.

use rayon::prelude::*;

use crate::base::error::{CoreError, Result};
use crate::base::progress::Progress;
use crate::document::{Edit, SurfaceRecipe, Target};
use crate::image::volume::{cross, dot, sub};
use crate::planning::distance::{DistanceField, segment_bounds};
use crate::segment::{LabelMap, Mask};

/// Where to cut. The part on the far side (where a plane's normal points,
/// where `towards` points from a surface, inside a margin) is cut away.
#[derive(Clone, Debug, PartialEq)]
pub enum Cut {
    /// The plane through `point` (LPS mm) with normal `normal`.
    Plane { point: [f64; 3], normal: [f64; 3] },
    /// The smooth surface through `points` (at least 3, LPS mm): a thin-plate
    /// spline over their best-fitting plane (points on a plane give that
    /// plane). `towards` is a direction pointing into the part cut away.
    Surface {
        points: Vec<[f64; 3]>,
        towards: [f64; 3],
    },
    /// Everything of the organ within `mm` of segment `around`'s surface (a
    /// safety margin around a lesion).
    Margin { around: u16, mm: f64 },
}

/// A resection's result: the part cut away and the figures.
#[derive(Clone, Debug, PartialEq)]
pub struct Resection {
    /// The organ's voxels cut away.
    pub resected: Mask,
    /// The organ before the cut (mL, from its voxels).
    pub organ_ml: f64,
    pub resected_ml: f64,
    pub remnant_ml: f64,
    /// The remnant's share of the organ (percent).
    pub remnant_pct: f64,
    /// The lesion's volume, when a lesion was given (mL).
    pub lesion_ml: Option<f64>,
    /// The remnant's share of the organ with the lesion (percent).
    pub remnant_pct_with_lesion: Option<f64>,
}

impl Resection {
    /// The document edit that makes the cut: the part cut away becomes a
    /// new segment `name` (its voxels leave the organ), surfaced the way
    /// the organ is (`recipe`), in one history step.
    pub fn edit(&self, organ_name: &str, name: &str, recipe: SurfaceRecipe) -> Edit {
        Edit::Tool {
            step: format!("Resect {organ_name}"),
            target: Target::New(name.to_string()),
            mask: std::sync::Arc::new(self.resected.clone()),
            recipe,
            colour: None,
        }
    }

    /// One line for the user: "remnant 612.0 mL, 38.0% (36.5% with the lesion)".
    pub fn summary(&self) -> String {
        let mut s = format!(
            "remnant {:.1} mL, {:.1}% of {:.1} mL (resected {:.1} mL)",
            self.remnant_ml, self.remnant_pct, self.organ_ml, self.resected_ml
        );
        if let Some(p) = self.remnant_pct_with_lesion {
            s.push_str(&format!("; {p:.1}% of the organ with the lesion"));
        }
        s
    }
}

/// Cuts segment `organ` of `labels` along `cut`. `lesion` (a segment
/// beside or inside the organ, e.g. a tumour) adds the shares of the organ
/// with the lesion. Nothing changes: apply [`Resection::edit`] for that.
pub fn resect(
    labels: &LabelMap,
    organ: u16,
    cut: &Cut,
    lesion: Option<u16>,
    progress: &Progress,
) -> Result<Resection> {
    progress.begin("cutting", 2);
    let name = |id: u16| {
        labels
            .segments
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.name.clone())
            .ok_or(CoreError::NoSuchSegment { id })
    };
    name(organ)?;
    if let Some(l) = lesion {
        name(l)?;
        if l == organ {
            return Err(CoreError::SameSegment {
                what: "a cut around a lesion (the lesion and the organ)",
            });
        }
    }
    let Some((lo, hi)) = segment_bounds(labels, organ) else {
        return Err(CoreError::EmptySegment {
            segment: name(organ)?,
            consequence: "nothing to cut",
        });
    };
    let side = Side::new(labels, cut, lo, hi)?;
    progress.advance(1);
    progress.check()?;
    let dim = labels.dim();
    let mut resected = Mask::empty(dim, labels.geometry);
    let (_, ny, nx) = dim;
    let plane_len = ny * nx;
    let flat = resected
        .data
        .as_slice_mut()
        .ok_or(CoreError::Internal("a new mask is not in standard layout"))?;
    // The part cut away is the organ's voxels whose centre is beyond the
    // cut; its volume counts the share of each voxel the cut crosses, so
    // the figures do not move by a voxel layer as the cut slides.
    let counts: (u64, f64) = flat
        .par_chunks_mut(plane_len)
        .enumerate()
        .filter(|(z, _)| *z >= lo[0] && *z < hi[0])
        .map(|(z, plane)| {
            let (mut organ_n, mut cut_v) = (0u64, 0f64);
            for y in lo[1]..hi[1] {
                for x in lo[2]..hi[2] {
                    if labels.get(z, y, x) != organ {
                        continue;
                    }
                    organ_n += 1;
                    let (away, share) = side.cut_away(labels, z, y, x);
                    if away {
                        plane[y * nx + x] = 1;
                    }
                    cut_v += share;
                }
            }
            (organ_n, cut_v)
        })
        .reduce(|| (0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
    progress.advance(1);
    let ml = |n: u64| n as f64 * resected.voxel_mm3() / 1000.0;
    let organ_ml = ml(counts.0);
    let resected_ml = counts.1 * resected.voxel_mm3() / 1000.0;
    let remnant_ml = organ_ml - resected_ml;
    let lesion_ml = lesion.map(|l| ml(labels.counts().get(l as usize).copied().unwrap_or(0)));
    Ok(Resection {
        resected,
        organ_ml,
        resected_ml,
        remnant_ml,
        remnant_pct: 100.0 * remnant_ml / organ_ml,
        lesion_ml,
        remnant_pct_with_lesion: lesion_ml.map(|l| 100.0 * remnant_ml / (organ_ml + l)),
    })
}

/// Which side of a cut a voxel is on, ready to ask per voxel.
enum Side {
    Plane {
        point: [f64; 3],
        normal: [f64; 3],
    },
    Surface(Spline),
    Margin {
        field: DistanceField,
        mm: f64,
        half: f64,
    },
}

/// A thin-plate surface needs three points to define a surface; past 512
/// its dense solve grows slow for an interactive cut.
const MIN_SURFACE_POINTS: usize = 3;
const MAX_SURFACE_POINTS: usize = 512;

impl Side {
    fn new(labels: &LabelMap, cut: &Cut, lo: [usize; 3], hi: [usize; 3]) -> Result<Side> {
        match cut {
            Cut::Plane { point, normal } => {
                let n = unit(*normal).ok_or(CoreError::Degenerate {
                    what: "the cutting plane",
                    why: "has no direction",
                })?;
                if point.iter().any(|c| !c.is_finite()) {
                    return Err(CoreError::NotANumber {
                        what: "the cutting plane's point",
                    });
                }
                Ok(Side::Plane {
                    point: *point,
                    normal: n,
                })
            }
            Cut::Surface { points, towards } => Ok(Side::Surface(Spline::fit(points, *towards)?)),
            Cut::Margin { around, mm } => {
                if !mm.is_finite() || *mm < 0.0 {
                    return Err(CoreError::OutOfRange {
                        what: "a safety margin",
                        expected: "a distance of 0 mm or more",
                        found: format!("{mm} mm"),
                    });
                }
                if !labels.segments.iter().any(|s| s.id == *around) {
                    return Err(CoreError::NoSuchSegment { id: *around });
                }
                let field = DistanceField::to_segment(labels, *around, lo, hi).ok_or(
                    CoreError::EmptySegment {
                        segment: "the lesion".into(),
                        consequence: "no margin to cut",
                    },
                )?;
                let s = labels.geometry.spacing;
                Ok(Side::Margin {
                    field,
                    mm: *mm,
                    half: 0.5 * s[0].min(s[1]).min(s[2]),
                })
            }
        }
    }

    /// Whether voxel (z, y, x)'s centre is cut away, and the share of the
    /// voxel that is (sampled 4 x 4 x 4 where a smooth cut crosses it).
    fn cut_away(&self, labels: &LabelMap, z: usize, y: usize, x: usize) -> (bool, f64) {
        let height = |i: [f64; 3]| -> f64 {
            let p = labels.geometry.index_to_lps(i);
            match self {
                Side::Plane { point, normal } => dot(sub(p, *point), *normal),
                Side::Surface(s) => s.height_above(p),
                Side::Margin { .. } => 0.0,
            }
        };
        if let Side::Margin { field, mm, half } = self {
            // A voxel centre this far from the lesion's voxel centres lies
            // about half a voxel less from its surface.
            let away = f64::from(field.at_voxel(z, y, x)) - half <= *mm;
            return (away, f64::from(u8::from(away)));
        }
        let c = [x as f64, y as f64, z as f64];
        let h = height(c);
        let away = h > 0.0;
        let s = labels.geometry.spacing;
        let reach = 0.5 * (s[0] * s[0] + s[1] * s[1] + s[2] * s[2]).sqrt();
        if h.abs() > reach {
            return (away, f64::from(u8::from(away)));
        }
        let mut n = 0u32;
        for k in 0..64u32 {
            let o = [k % 4, (k / 4) % 4, k / 16].map(|i| (i as f64 + 0.5) / 4.0 - 0.5);
            if height([c[0] + o[0], c[1] + o[1], c[2] + o[2]]) > 0.0 {
                n += 1;
            }
        }
        (away, f64::from(n) / 64.0)
    }
}

/// A smooth surface through points: a thin-plate spline of the height over
/// their best-fitting plane.
#[derive(Clone, Debug)]
pub struct Spline {
    centre: [f64; 3],
    /// In-plane axes and the normal (pointing to the side cut away).
    u: [f64; 3],
    v: [f64; 3],
    n: [f64; 3],
    /// The points in plane coordinates.
    knots: Vec<[f64; 2]>,
    /// Kernel weights, then the affine part (a0 + a1 u + a2 v).
    weights: Vec<f64>,
    affine: [f64; 3],
}

impl Spline {
    /// The thin-plate spline through `points`; `towards` says which side is
    /// "above" (cut away).
    pub fn fit(points: &[[f64; 3]], towards: [f64; 3]) -> Result<Spline> {
        if points.len() < MIN_SURFACE_POINTS {
            return Err(CoreError::CutPoints {
                placed: points.len(),
                min: MIN_SURFACE_POINTS,
                max: MAX_SURFACE_POINTS,
            });
        }
        if points.len() > MAX_SURFACE_POINTS {
            return Err(CoreError::CutPoints {
                placed: points.len(),
                min: MIN_SURFACE_POINTS,
                max: MAX_SURFACE_POINTS,
            });
        }
        if points.iter().flatten().any(|c| !c.is_finite()) {
            return Err(CoreError::NotANumber {
                what: "a point of the cutting surface",
            });
        }
        let n = points.len() as f64;
        let centre: [f64; 3] =
            std::array::from_fn(|k| points.iter().map(|p| p[k]).sum::<f64>() / n);
        let mut cov = [[0.0; 3]; 3];
        for p in points {
            let d = sub(*p, centre);
            for i in 0..3 {
                for j in 0..3 {
                    cov[i][j] += d[i] * d[j];
                }
            }
        }
        let (values, vectors) = symmetric_eigen(cov);
        // The normal is the direction the points spread least along; the
        // plane needs two directions they do spread along.
        let order = {
            let mut o = [0usize, 1, 2];
            o.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
            o
        };
        let scale = values[order[2]].max(1e-12);
        if values[order[1]] < 1e-9 * scale || values[order[2]] < 1e-12 {
            return Err(CoreError::Degenerate {
                what: "the cutting surface's points",
                why: "lie on a line: place them apart",
            });
        }
        let mut nrm = vectors[order[0]];
        if dot(nrm, towards) < 0.0 {
            nrm = nrm.map(|c| -c);
        }
        let u = vectors[order[2]];
        let v = cross(nrm, u);
        let knots: Vec<[f64; 2]> = points
            .iter()
            .map(|p| {
                let d = sub(*p, centre);
                [dot(d, u), dot(d, v)]
            })
            .collect();
        let heights: Vec<f64> = points.iter().map(|p| dot(sub(*p, centre), nrm)).collect();
        // [K P; P^T 0] [w; a] = [h; 0]
        let m = knots.len();
        let size = m + 3;
        let mut a = vec![0.0; size * size];
        let mut rhs = vec![0.0; size];
        for i in 0..m {
            for j in 0..m {
                a[i * size + j] = kernel(dist2(knots[i], knots[j]));
            }
            let row = [1.0, knots[i][0], knots[i][1]];
            for k in 0..3 {
                a[i * size + m + k] = row[k];
                a[(m + k) * size + i] = row[k];
            }
            rhs[i] = heights[i];
        }
        let x = solve(&mut a, &mut rhs, size).ok_or(CoreError::Degenerate {
            what: "the cutting surface's points",
            why: "repeat: place them apart",
        })?;
        Ok(Spline {
            centre,
            u,
            v,
            n: nrm,
            knots,
            weights: x[..m].to_vec(),
            affine: [x[m], x[m + 1], x[m + 2]],
        })
    }

    /// How far `p` lies above the surface along its normal (mm, signed:
    /// positive on the side cut away).
    pub fn height_above(&self, p: [f64; 3]) -> f64 {
        let d = sub(p, self.centre);
        let (pu, pv) = (dot(d, self.u), dot(d, self.v));
        let mut h = self.affine[0] + self.affine[1] * pu + self.affine[2] * pv;
        for (k, w) in self.knots.iter().zip(&self.weights) {
            h += w * kernel(dist2(*k, [pu, pv]));
        }
        dot(d, self.n) - h
    }

    /// The points' extent in plane coordinates (u, v) around their
    /// centre: the lowest and the highest of each.
    pub fn extent(&self) -> ([f64; 2], [f64; 2]) {
        self.knots.iter().fold(
            ([f64::INFINITY; 2], [f64::NEG_INFINITY; 2]),
            |(lo, hi), k| {
                (
                    [lo[0].min(k[0]), lo[1].min(k[1])],
                    [hi[0].max(k[0]), hi[1].max(k[1])],
                )
            },
        )
    }

    /// The unit normal of the points' plane, pointing to the side cut away.
    pub fn normal(&self) -> [f64; 3] {
        self.n
    }

    /// The centre of the points (LPS mm).
    pub fn centre(&self) -> [f64; 3] {
        self.centre
    }

    /// The surface's point above plane coordinates (u, v) around the
    /// points' centre, for drawing it.
    pub fn point(&self, pu: f64, pv: f64) -> [f64; 3] {
        let mut h = self.affine[0] + self.affine[1] * pu + self.affine[2] * pv;
        for (k, w) in self.knots.iter().zip(&self.weights) {
            h += w * kernel(dist2(*k, [pu, pv]));
        }
        std::array::from_fn(|c| self.centre[c] + self.u[c] * pu + self.v[c] * pv + self.n[c] * h)
    }
}

/// The thin-plate kernel r² log r, from r².
fn kernel(r2: f64) -> f64 {
    if r2 <= 1e-20 { 0.0 } else { 0.5 * r2 * r2.ln() }
}

fn dist2(a: [f64; 2], b: [f64; 2]) -> f64 {
    (a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)
}

/// Gaussian elimination with partial pivoting; `None` when singular.
fn solve(a: &mut [f64], b: &mut [f64], n: usize) -> Option<Vec<f64>> {
    let norm = a.iter().fold(0f64, |m, v| m.max(v.abs())).max(1e-300);
    for col in 0..n {
        let piv =
            (col..n).max_by(|&i, &j| a[i * n + col].abs().total_cmp(&a[j * n + col].abs()))?;
        if a[piv * n + col].abs() < 1e-12 * norm {
            return None;
        }
        if piv != col {
            for k in 0..n {
                a.swap(piv * n + k, col * n + k);
            }
            b.swap(piv, col);
        }
        for r in col + 1..n {
            let f = a[r * n + col] / a[col * n + col];
            if f != 0.0 {
                for k in col..n {
                    a[r * n + k] -= f * a[col * n + k];
                }
                b[r] -= f * b[col];
            }
        }
    }
    let mut x = vec![0.0; n];
    for r in (0..n).rev() {
        let mut s = b[r];
        for k in r + 1..n {
            s -= a[r * n + k] * x[k];
        }
        x[r] = s / a[r * n + r];
    }
    x.iter().all(|v| v.is_finite()).then_some(x)
}

/// Eigenvalues and unit eigenvectors of a symmetric 3x3 matrix (cyclic
/// Jacobi rotations).
fn symmetric_eigen(mut m: [[f64; 3]; 3]) -> ([f64; 3], [[f64; 3]; 3]) {
    let mut v = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
    for _ in 0..64 {
        let off = m[0][1].abs() + m[0][2].abs() + m[1][2].abs();
        if off < 1e-15 * (m[0][0].abs() + m[1][1].abs() + m[2][2].abs()).max(1e-300) {
            break;
        }
        for (p, q) in [(0, 1), (0, 2), (1, 2)] {
            if m[p][q].abs() < 1e-300 {
                continue;
            }
            let theta = (m[q][q] - m[p][p]) / (2.0 * m[p][q]);
            let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
            let t = if theta == 0.0 { 1.0 } else { t };
            let c = 1.0 / (t * t + 1.0).sqrt();
            let s = t * c;
            // m = J^T m J with J the rotation in the (p, q) plane.
            for k in 0..3 {
                let (mkp, mkq) = (m[k][p], m[k][q]);
                m[k][p] = c * mkp - s * mkq;
                m[k][q] = s * mkp + c * mkq;
            }
            for k in 0..3 {
                let (mpk, mqk) = (m[p][k], m[q][k]);
                m[p][k] = c * mpk - s * mqk;
                m[q][k] = s * mpk + c * mqk;
            }
            for row in &mut v {
                let (a, b) = (row[p], row[q]);
                row[p] = c * a - s * b;
                row[q] = s * a + c * b;
            }
        }
    }
    // Column k of v is the eigenvector of m[k][k].
    let vectors = [0, 1, 2].map(|k| unit([v[0][k], v[1][k], v[2][k]]).unwrap_or([0.0; 3]));
    ([m[0][0], m[1][1], m[2][2]], vectors)
}

fn unit(a: [f64; 3]) -> Option<[f64; 3]> {
    let l = dot(a, a).sqrt();
    (l.is_finite() && l > 1e-12).then(|| a.map(|c| c / l))
}
