//! Brushes and local remeshing on small synthetic label maps: capsule
//! geometry against brute-force distances, brush options, fill between
//! slices, and chunked surfaces against one whole extraction.

use ndarray::Array3;
use stratum_core::edit::bricks::Region;
use stratum_core::edit::{
    Brush, BrushAction, BrushShape, ChunkedSurface, SliceAxis, Stroke, fill_between_slices,
    surface_nets,
};
use stratum_core::image::volume::Geometry;
use stratum_core::image::volume::{Volume, Voxels};
use stratum_core::mesh::SurfaceMesh;
use stratum_core::segment::{LabelMap, Labels};

/// Anisotropic, oblique (rotated about two axes) grid.
fn oblique() -> Geometry {
    let (a, b) = (0.35f64, -0.2f64);
    let rz = [
        [a.cos(), a.sin(), 0.0],
        [-a.sin(), a.cos(), 0.0],
        [0.0, 0.0, 1.0],
    ];
    let rx = [
        [1.0, 0.0, 0.0],
        [0.0, b.cos(), b.sin()],
        [0.0, -b.sin(), b.cos()],
    ];
    let d: [[f64; 3]; 3] =
        std::array::from_fn(|i| std::array::from_fn(|j| (0..3).map(|k| rz[i][k] * rx[k][j]).sum()));
    Geometry {
        origin: [-12.0, 30.5, 101.0],
        spacing: [0.8, 0.6, 1.5],
        direction: d,
    }
}

fn map(dim: (usize, usize, usize), g: Geometry) -> LabelMap {
    LabelMap::empty(dim, g)
}

fn dist_to_segment(p: [f64; 3], a: [f64; 3], b: [f64; 3]) -> f64 {
    let ab: [f64; 3] = std::array::from_fn(|k| b[k] - a[k]);
    let ap: [f64; 3] = std::array::from_fn(|k| p[k] - a[k]);
    let ll: f64 = ab.iter().map(|v| v * v).sum();
    let t = if ll > 0.0 {
        (0..3).map(|k| ap[k] * ab[k]).sum::<f64>() / ll
    } else {
        0.0
    }
    .clamp(0.0, 1.0);
    (0..3)
        .map(|k| (ap[k] - t * ab[k]).powi(2))
        .sum::<f64>()
        .sqrt()
}

fn centre(m: &LabelMap, x: f64, y: f64, z: f64) -> [f64; 3] {
    m.geometry.index_to_lps([x, y, z])
}

/// The tight box of the voxels that differ between two maps.
fn diff_box(a: &LabelMap, b: &LabelMap) -> Region {
    let (nz, ny, nx) = a.dim();
    let mut r = Region::empty();
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                if a.get(z, y, x) != b.get(z, y, x) {
                    r = r.union(&Region::voxel(z, y, x));
                }
            }
        }
    }
    r
}

/// Small deterministic generator (xorshift), so failures reproduce.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.next()
    }
}

#[test]
fn capsule_paints_exactly_the_voxels_within_the_radius_of_the_segment() {
    let mut m = map((30, 40, 36), oblique());
    let before = m.clone();
    let a = centre(&m, 8.3, 10.1, 9.7);
    let b = centre(&m, 25.6, 30.2, 18.4);
    let r = 4.3;
    let changed = Brush::sphere(r, BrushAction::Paint)
        .apply(&mut m, None, 1, a, b)
        .unwrap()
        .unwrap();
    let (nz, ny, nx) = m.dim();
    let mut painted = 0;
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let d = dist_to_segment(centre(&m, x as f64, y as f64, z as f64), a, b);
                let got = m.get(z, y, x) == 1;
                painted += got as usize;
                if (d - r).abs() > 1e-6 {
                    assert_eq!(
                        got,
                        d < r,
                        "voxel ({z},{y},{x}) at {d:.4} mm of the axis, radius {r}"
                    );
                }
            }
        }
    }
    assert!(painted > 500, "{painted}");
    assert_eq!(changed, diff_box(&before, &m));
}

#[test]
fn a_fast_stroke_joins_its_samples_and_leaves_no_gaps() {
    let mut m = map((20, 64, 64), Geometry::default());
    let mut stroke = Stroke::new(Brush::sphere(2.0, BrushAction::Paint), 3);
    let pts = [[5.0, 5.0, 10.0], [58.0, 9.0, 10.0], [30.0, 60.0, 11.0]];
    for p in pts {
        stroke.sample(&mut m, None, p).unwrap();
    }
    // Every voxel on the polyline is painted; a dot-only brush would leave
    // most of it empty.
    for w in pts.windows(2) {
        for i in 0..=200 {
            let t = i as f64 / 200.0;
            let p: [f64; 3] = std::array::from_fn(|k| w[0][k] + t * (w[1][k] - w[0][k]));
            let (x, y, z) = (
                p[0].round() as usize,
                p[1].round() as usize,
                p[2].round() as usize,
            );
            assert_eq!(m.get(z, y, x), 3, "gap at {p:?}");
        }
    }
    let c = stroke.changed().unwrap();
    assert_eq!(c, Region::new([8, 3, 3], [14, 63, 61]));
}

#[test]
fn disc_mode_changes_one_slice_only_in_each_view() {
    let g = oblique();
    for (axis, slice) in [
        (SliceAxis::Axial, 12),
        (SliceAxis::Coronal, 20),
        (SliceAxis::Sagittal, 7),
    ] {
        let mut m = map((24, 40, 30), g);
        let brush = Brush {
            shape: BrushShape::Disc { axis, slice },
            ..Brush::sphere(5.0, BrushAction::Paint)
        };
        // Samples off the plane: the disc still lies in the slice.
        let a = centre(&m, 10.0, 18.0, 11.0);
        let b = centre(&m, 16.0, 24.0, 13.5);
        brush.apply(&mut m, None, 2, a, b).unwrap().unwrap();
        let (nz, ny, nx) = m.dim();
        let ax = axis.array_axis();
        let mut on_slice = 0;
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    let idx = [z, y, x];
                    if m.get(z, y, x) == 0 {
                        continue;
                    }
                    assert_eq!(
                        idx[ax], slice,
                        "{axis:?}: voxel ({z},{y},{x}) off slice {slice}"
                    );
                    on_slice += 1;
                }
            }
        }
        // In-slice coverage: the distance to the samples projected onto the slice.
        let proj = |p: [f64; 3]| {
            let mut i = g.lps_to_index(p);
            i[2 - ax] = slice as f64;
            g.index_to_lps(i)
        };
        let (pa, pb) = (proj(a), proj(b));
        // (Voxels within rounding of the rim may go either way.)
        for z in 0..nz {
            for y in 0..ny {
                for x in 0..nx {
                    let d = dist_to_segment(centre(&m, x as f64, y as f64, z as f64), pa, pb);
                    if [z, y, x][ax] == slice && (d - 5.0).abs() > 1e-6 {
                        assert_eq!(
                            m.get(z, y, x) == 2,
                            d < 5.0,
                            "{axis:?} ({z},{y},{x}) at {d}"
                        );
                    }
                }
            }
        }
        assert!(on_slice > 50);
    }
}

#[test]
fn intensity_range_limits_paint_to_voxels_within_lo_hi() {
    let g = Geometry::default();
    let mut m = map((20, 20, 20), g);
    // A scan whose value is the column index x 10 (0..190 "HU").
    let scan = Volume::new(
        Voxels::I16(Array3::from_shape_fn((20, 20, 20), |(_, _, x)| {
            x as i16 * 10
        })),
        g,
        "CT",
    );
    let brush = Brush {
        intensity: Some((60.0, 120.0)),
        ..Brush::sphere(7.5, BrushAction::Paint)
    };
    let p = [10.0, 10.0, 10.0];
    brush.apply(&mut m, Some(&scan), 1, p, p).unwrap().unwrap();
    let mut inside_range = 0;
    for ((z, y, x), _) in scan.voxels.to_f32().indexed_iter() {
        let d = ((x as f64 - 10.0).powi(2) + (y as f64 - 10.0).powi(2) + (z as f64 - 10.0).powi(2))
            .sqrt();
        let want = d < 7.5 && (6..=12).contains(&x);
        inside_range += want as usize;
        assert_eq!(m.get(z, y, x) == 1, want, "({z},{y},{x})");
    }
    assert!(inside_range > 100);
    // A range without the scan is refused, not ignored.
    assert!(brush.apply(&mut m, None, 1, p, p).is_err());
}

#[test]
fn overwrite_off_keeps_other_segments_and_erase_removes_only_the_selected_one() {
    let mut m = map((16, 16, 16), Geometry::default());
    for z in 0..16 {
        for y in 0..16 {
            for x in 8..16 {
                m.set(z, y, x, 2);
            }
        }
    }
    let p = [8.0, 8.0, 8.0];
    let paint = Brush::sphere(5.0, BrushAction::Paint);
    paint.apply(&mut m, None, 1, p, p).unwrap().unwrap();
    assert_eq!(
        m.get(8, 8, 10),
        2,
        "overwrite off: segment 2 keeps its voxel"
    );
    assert_eq!(m.get(8, 8, 6), 1);
    let erase = Brush::sphere(5.0, BrushAction::Erase);
    erase.apply(&mut m, None, 1, p, p).unwrap().unwrap();
    assert_eq!(m.get(8, 8, 6), 0);
    assert_eq!(m.get(8, 8, 10), 2, "erasing segment 1 leaves segment 2");
    // Erasing segment 1 where there is none changes nothing.
    assert_eq!(erase.apply(&mut m, None, 1, p, p).unwrap(), None);
    let over = Brush {
        overwrite: true,
        ..paint
    };
    over.apply(&mut m, None, 1, p, p).unwrap().unwrap();
    assert_eq!(
        m.get(8, 8, 10),
        1,
        "overwrite on: segment 2's voxel is taken"
    );
    assert!(
        paint.apply(&mut m, None, 0, p, p).is_err(),
        "segment 0 is refused"
    );
}

#[test]
fn smoothing_removes_speckles_and_never_changes_voxels_outside_the_sphere() {
    let mut m = map(
        (40, 40, 40),
        Geometry {
            spacing: [1.0, 1.0, 1.5],
            ..Geometry::default()
        },
    );
    let mut rng = Rng(7);
    for z in 0..40 {
        for y in 0..40 {
            for x in 0..40 {
                if rng.next() < 0.3 {
                    m.set(z, y, x, 4);
                }
            }
        }
    }
    let before = m.clone();
    let c = [20.0, 20.0, 30.0]; // voxel (z 20, y 20, x 20)
    let brush = Brush::sphere(9.2, BrushAction::Smooth { strength: 0.5 });
    let changed = brush.apply(&mut m, None, 4, c, c).unwrap().unwrap();
    assert_eq!(changed, diff_box(&before, &m));
    let mut inside_left = 0;
    for z in 0..40 {
        for y in 0..40 {
            for x in 0..40 {
                let p = [x as f64, y as f64, z as f64 * 1.5];
                let d =
                    ((p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2) + (p[2] - c[2]).powi(2)).sqrt();
                if d >= 9.2 {
                    assert_eq!(
                        m.get(z, y, x),
                        before.get(z, y, x),
                        "({z},{y},{x}) outside the sphere changed"
                    );
                } else {
                    inside_left += (m.get(z, y, x) == 4) as usize;
                }
            }
        }
    }
    // 30 % speckle blurred below 0.5 everywhere: the sphere is cleared.
    assert_eq!(inside_left, 0);
}

fn disc_area(m: &LabelMap, z: usize, seg: u16) -> usize {
    let (_, ny, nx) = m.dim();
    (0..ny)
        .flat_map(|y| (0..nx).map(move |x| (y, x)))
        .filter(|(y, x)| m.get(z, *y, *x) == seg)
        .count()
}

#[test]
fn fill_between_slices_interpolates_the_shape_from_drawn_slices() {
    let g = Geometry {
        spacing: [0.7, 0.7, 2.0],
        ..Geometry::default()
    };
    let mut m = map((30, 60, 60), g);
    let disc = |r: f64, z: usize| Brush {
        shape: BrushShape::Disc {
            axis: SliceAxis::Axial,
            slice: z,
        },
        ..Brush::sphere(r, BrushAction::Paint)
    };
    let at = |x: f64, y: f64| g.index_to_lps([x, y, 0.0]);
    disc(4.0, 5)
        .apply(&mut m, None, 1, at(30.0, 30.0), at(30.0, 30.0))
        .unwrap();
    disc(12.0, 15)
        .apply(&mut m, None, 1, at(30.0, 30.0), at(30.0, 30.0))
        .unwrap();
    let before = m.clone();
    let changed = fill_between_slices(&mut m, 1, SliceAxis::Axial, false)
        .unwrap()
        .unwrap();
    assert_eq!(changed, diff_box(&before, &m));
    assert_eq!(changed.lo[0], 6);
    assert_eq!(changed.hi[0], 15);
    // Area grows steadily; the middle slice is a disc of the mean radius (8 mm).
    let areas: Vec<usize> = (5..=15).map(|z| disc_area(&m, z, 1)).collect();
    assert!(areas.windows(2).all(|w| w[0] < w[1]), "{areas:?}");
    let mid = disc_area(&m, 10, 1) as f64 * 0.49;
    let want = std::f64::consts::PI * 64.0;
    assert!((mid - want).abs() < 0.08 * want, "{mid} mm² vs {want}");
    assert_eq!(m.get(10, 30, 30), 1);
    assert_eq!(m.get(10, 30, 30 - 13), 0);
    // Outside the drawn range nothing is added; a second fill finds no gaps.
    assert!((0..5).chain(16..30).all(|z| disc_area(&m, z, 1) == 0));
    assert_eq!(
        fill_between_slices(&mut m, 1, SliceAxis::Axial, false).unwrap(),
        None
    );
}

#[test]
fn fill_between_slices_works_along_the_sagittal_axis_and_keeps_other_segments() {
    let mut m = map((40, 40, 30), Geometry::default());
    let disc = |x: usize| Brush {
        shape: BrushShape::Disc {
            axis: SliceAxis::Sagittal,
            slice: x,
        },
        ..Brush::sphere(6.0, BrushAction::Paint)
    };
    disc(4)
        .apply(&mut m, None, 2, [4.0, 20.0, 20.0], [4.0, 20.0, 20.0])
        .unwrap();
    disc(20)
        .apply(&mut m, None, 2, [20.0, 20.0, 20.0], [20.0, 20.0, 20.0])
        .unwrap();
    m.set(20, 20, 12, 5);
    fill_between_slices(&mut m, 2, SliceAxis::Sagittal, false)
        .unwrap()
        .unwrap();
    for x in 5..20 {
        assert_eq!(m.get(20, 23, x), 2, "x {x}");
        assert_eq!(m.get(20, 20 + 7, x), 0, "x {x}");
    }
    assert_eq!(m.get(20, 20, 12), 5, "overwrite off keeps segment 5");
}

/// Triangles as sorted position triples, each rotated to start at its
/// smallest corner (winding kept), so meshes compare up to order.
fn triangle_set(m: &SurfaceMesh) -> Vec<[[u32; 3]; 3]> {
    let mut t: Vec<[[u32; 3]; 3]> = m
        .indices
        .chunks_exact(3)
        .map(|t| {
            let p: [[u32; 3]; 3] =
                std::array::from_fn(|i| m.positions[t[i] as usize].map(f32::to_bits));
            let k = (0..3).min_by_key(|i| p[*i]).unwrap_or(0);
            [p[k], p[(k + 1) % 3], p[(k + 2) % 3]]
        })
        .collect();
    t.sort_unstable();
    t
}

fn random_blobs(m: &mut LabelMap, seg: u16, n: usize, rng: &mut Rng) {
    let (nz, ny, nx) = m.dim();
    for _ in 0..n {
        let p = centre(
            m,
            rng.range(-3.0, nx as f64 + 3.0),
            rng.range(-3.0, ny as f64 + 3.0),
            rng.range(-3.0, nz as f64 + 3.0),
        );
        let q = centre(
            m,
            rng.range(0.0, nx as f64),
            rng.range(0.0, ny as f64),
            rng.range(0.0, nz as f64),
        );
        let action = if rng.next() < 0.3 {
            BrushAction::Erase
        } else {
            BrushAction::Paint
        };
        Brush::sphere(rng.range(1.0, 9.0), action)
            .apply(m, None, seg, p, q)
            .unwrap();
    }
}

#[test]
fn chunked_surface_equals_one_whole_extraction() {
    for (dim, seed) in [((45usize, 70usize, 100usize), 3u64), ((64, 64, 32), 11)] {
        let mut m = map(dim, oblique());
        let mut rng = Rng(seed);
        random_blobs(&mut m, 1, 25, &mut rng);
        let chunked = ChunkedSurface::build(&m, 1);
        let merged = chunked.to_mesh();
        let whole = surface_nets(&m, 1);
        assert!(whole.triangle_count() > 1000);
        assert_eq!(
            merged.positions.len(),
            whole.positions.len(),
            "welded vertices"
        );
        assert_eq!(triangle_set(&merged), triangle_set(&whole));
        // The same vertex has the same normal from either side of a seam.
        let mut a: Vec<_> = merged
            .positions
            .iter()
            .zip(&merged.normals)
            .map(|(p, n)| (p.map(f32::to_bits), n.map(f32::to_bits)))
            .collect();
        let mut b: Vec<_> = whole
            .positions
            .iter()
            .zip(&whole.normals)
            .map(|(p, n)| (p.map(f32::to_bits), n.map(f32::to_bits)))
            .collect();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
        assert!(merged.topology().is_watertight(), "{:?}", merged.topology());
        // Outward: a closed mesh wound outward has a positive volume.
        assert!(merged.volume_mm3() > 0.0);
        assert!(chunked.chunks().count() >= 4);
    }
}

#[test]
fn seams_stay_watertight_and_exact_after_hundreds_of_random_strokes() {
    let mut m = map(
        (50, 80, 90),
        Geometry {
            spacing: [0.9, 0.9, 1.3],
            ..Geometry::default()
        },
    );
    let mut rng = Rng(99);
    random_blobs(&mut m, 1, 6, &mut rng);
    let mut surf = ChunkedSurface::build(&m, 1);
    let (nz, ny, nx) = m.dim();
    for i in 0..300 {
        let action = match i % 5 {
            0 | 1 => BrushAction::Paint,
            2 | 3 => BrushAction::Erase,
            _ => BrushAction::Smooth { strength: 0.6 },
        };
        let brush = Brush {
            overwrite: rng.next() < 0.5,
            shape: if i % 7 == 0 {
                BrushShape::Disc {
                    axis: SliceAxis::Coronal,
                    slice: (rng.next() * ny as f64) as usize,
                }
            } else {
                BrushShape::Sphere
            },
            ..Brush::sphere(rng.range(0.8, 7.0), action)
        };
        let mut stroke = Stroke::new(brush, 1);
        let mut p = centre(
            &m,
            rng.range(0.0, nx as f64),
            rng.range(0.0, ny as f64),
            rng.range(0.0, nz as f64),
        );
        for _ in 0..4 {
            if let Some(r) = stroke.sample(&mut m, None, p).unwrap() {
                surf.update(&m, r);
            }
            p = std::array::from_fn(|k| p[k] + rng.range(-6.0, 6.0));
        }
    }
    let merged = surf.to_mesh();
    let topo = merged.topology();
    assert!(merged.triangle_count() > 1000);
    assert_eq!(topo.boundary_edges, 0, "{topo:?}");
    assert!(topo.is_watertight(), "{topo:?}");
    // Local updates leave exactly the surface a fresh build gives.
    assert_eq!(
        triangle_set(&merged),
        triangle_set(&ChunkedSurface::build(&m, 1).to_mesh())
    );
}

#[test]
fn high_segment_ids_widen_the_map_to_u16_and_mesh() {
    let mut m = map((40, 40, 40), Geometry::default());
    let p = [20.0, 20.0, 20.0];
    Brush::sphere(6.0, BrushAction::Paint)
        .apply(&mut m, None, 300, p, p)
        .unwrap()
        .unwrap();
    assert!(matches!(m.labels, Labels::U16(_)));
    assert_eq!(m.get(20, 20, 20), 300);
    let surf = ChunkedSurface::build(&m, 300);
    let mesh = surf.to_mesh();
    assert!(mesh.topology().is_watertight());
    let v = mesh.volume_mm3();
    let ball = 4.0 / 3.0 * std::f64::consts::PI * 216.0;
    assert!((v - ball).abs() < 0.1 * ball, "{v} vs {ball}");
    // It spans 8 bricks: the update of a change at the centre remeshes them all.
    let mut s2 = surf.clone();
    assert_eq!(s2.update(&m, Region::voxel(31, 31, 31)).len(), 8);
    assert_eq!(s2.update(&m, Region::voxel(10, 10, 10)).len(), 1);
}
