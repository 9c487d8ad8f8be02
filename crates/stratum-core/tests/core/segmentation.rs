//! Segmentation tools on shapes with known answers.

use stratum_core::base::progress::Progress;
use stratum_core::image::volume::{Geometry, Volume, Voxels};
use stratum_core::mesh::{SurfaceOptions, marching_cubes, mask_marching_cubes, mask_surface};
use stratum_core::segment::*;

use crate::fixtures::in_ball;

const SPACING: [f64; 3] = [0.7, 0.7, 1.4];

fn geometry() -> Geometry {
    Geometry {
        origin: [-35.0, -35.0, -42.0],
        spacing: SPACING,
        ..Geometry::default()
    }
}

fn field(f: impl Fn([f64; 3]) -> f64) -> Volume {
    let g = geometry();
    let a = ndarray::Array3::from_shape_fn((60, 100, 100), |(z, y, x)| {
        f(g.index_to_lps([x as f64, y as f64, z as f64])) as i16
    });
    Volume::new(Voxels::I16(a), g, "CT")
}

fn mask_of(inside: impl Fn([f64; 3]) -> bool) -> Mask {
    let v = field(|p| if inside(p) { 1.0 } else { 0.0 });
    threshold_mask(&v, 1.0, 1.0)
}

fn ball_ml(r: f64) -> f64 {
    4.0 / 3.0 * std::f64::consts::PI * r.powi(3) / 1000.0
}

fn two_balls_ct() -> Volume {
    let big = in_ball([-12.0, 0.0, 0.0], 12.0);
    let small = in_ball([18.0, 0.0, 0.0], 5.0);
    field(move |p| if big(p) || small(p) { 700.0 } else { -1000.0 })
}

#[test]
fn bone_preset_finds_dense_voxels() {
    let v = two_balls_ct();
    let (lo, hi) = Preset::Bone.window(&v);
    assert_eq!((lo, hi), (250.0, 3071.0));
    let m = PresetThreshold(Preset::Bone)
        .apply(&v, &Mask::empty(v.dim(), v.geometry), &Progress::new())
        .unwrap();
    let expected = ball_ml(12.0) + ball_ml(5.0);
    assert!(
        (m.volume_ml() - expected).abs() / expected < 0.03,
        "{} vs {expected}",
        m.volume_ml()
    );
}

#[test]
fn islands_largest_at_point_and_small_removed() {
    let v = two_balls_ct();
    let m = threshold_mask(&v, 250.0, 3071.0);
    let c = components(&m);
    assert_eq!(c.sizes.len(), 2);
    let largest = keep_largest(&m);
    assert!((largest.volume_ml() - ball_ml(12.0)).abs() / ball_ml(12.0) < 0.03);
    // The voxel nearest (18, 0, 0) mm is in the small ball.
    let i = v
        .geometry
        .lps_to_index([18.0, 0.0, 0.0])
        .map(|x| x.round() as usize);
    let small = component_at(&m, (i[2], i[1], i[0]));
    assert!((small.volume_ml() - ball_ml(5.0)).abs() / ball_ml(5.0) < 0.05);
    let cleaned = remove_small_islands(&m, 1000.0 * ball_ml(8.0));
    assert_eq!(cleaned.count(), largest.count());
}

#[test]
fn region_grow_stays_in_its_island_and_range() {
    let v = two_balls_ct();
    let i = v
        .geometry
        .lps_to_index([-12.0, 0.0, 0.0])
        .map(|x| x.round() as usize);
    let empty = Mask::empty(v.dim(), v.geometry);
    let m = RegionGrow {
        seed: (i[2], i[1], i[0]),
        lo: 500.0,
        hi: 900.0,
    }
    .apply(&v, &empty, &Progress::new())
    .unwrap();
    assert!((m.volume_ml() - ball_ml(12.0)).abs() / ball_ml(12.0) < 0.03);
    let e = RegionGrow {
        seed: (0, 0, 0),
        lo: 500.0,
        hi: 900.0,
    }
    .apply(&v, &empty, &Progress::new())
    .unwrap_err();
    assert!(e.to_string().contains("outside the range"));
}

#[test]
fn ball_morphology_in_mm_on_anisotropic_voxels() {
    let m = mask_of(in_ball([0.0, 0.0, 0.0], 15.0));
    let v = field(|_| 0.0);
    let p = Progress::new();
    let grown = Margin { mm: 4.2 }.apply(&v, &m, &p).unwrap();
    assert!(
        (grown.volume_ml() - ball_ml(19.2)).abs() / ball_ml(19.2) < 0.04,
        "{}",
        grown.volume_ml()
    );
    let shrunk = Margin { mm: -4.2 }.apply(&v, &m, &p).unwrap();
    assert!(
        (shrunk.volume_ml() - ball_ml(10.8)).abs() / ball_ml(10.8) < 0.06,
        "{}",
        shrunk.volume_ml()
    );
    // Opening removes a thin spike; closing fills a thin cut.
    let spiky = mask_of(|q| {
        in_ball([0.0, 0.0, 0.0], 15.0)(q)
            || (q[0] > 0.0 && q[0] < 30.0 && q[1].abs() < 1.0 && q[2].abs() < 1.5)
    });
    let opened = Morphology {
        op: MorphOp::Open,
        radius_mm: 3.0,
    }
    .apply(&v, &spiky, &p)
    .unwrap();
    let tip = v
        .geometry
        .lps_to_index([25.0, 0.0, 0.0])
        .map(|x| x.round() as usize);
    assert_eq!(spiky.data[(tip[2], tip[1], tip[0])], 1);
    assert_eq!(opened.data[(tip[2], tip[1], tip[0])], 0);
    let cut = mask_of(|q| in_ball([0.0, 0.0, 0.0], 15.0)(q) && q[0].abs() > 1.0);
    assert_eq!(components(&cut).sizes.len(), 2);
    let closed = Morphology {
        op: MorphOp::Close,
        radius_mm: 3.0,
    }
    .apply(&v, &cut, &p)
    .unwrap();
    assert_eq!(components(&closed).sizes.len(), 1);
}

#[test]
fn holes_are_filled_in_3d_and_per_slice() {
    let shell =
        mask_of(|q| in_ball([0.0, 0.0, 0.0], 15.0)(q) && !in_ball([0.0, 0.0, 0.0], 10.0)(q));
    let v = field(|_| 0.0);
    let filled = FillHoles { per_slice: false }
        .apply(&v, &shell, &Progress::new())
        .unwrap();
    assert!((filled.volume_ml() - ball_ml(15.0)).abs() / ball_ml(15.0) < 0.03);
    // A tube open at both ends has no 3D hole, but each slice is a ring.
    let tube = mask_of(|q| {
        let r = (q[0] * q[0] + q[1] * q[1]).sqrt();
        (8.0..12.0).contains(&r) && q[2].abs() < 20.0
    });
    let same = FillHoles { per_slice: false }
        .apply(&v, &tube, &Progress::new())
        .unwrap();
    assert_eq!(same.count(), tube.count());
    let disks = FillHoles { per_slice: true }
        .apply(&v, &tube, &Progress::new())
        .unwrap();
    assert!(disks.count() as f64 > 1.7 * tube.count() as f64);
}

#[test]
fn logical_operations_and_masking() {
    let a = mask_of(|q| q[0] < 5.0);
    let b = mask_of(|q| q[0] > -5.0);
    let v = field(|_| 0.0);
    let p = Progress::new();
    let union = Logical {
        op: LogicOp::Union,
        other: b.clone(),
    }
    .apply(&v, &a, &p)
    .unwrap();
    let inter = Logical {
        op: LogicOp::Intersect,
        other: b.clone(),
    }
    .apply(&v, &a, &p)
    .unwrap();
    let sub = Logical {
        op: LogicOp::Subtract,
        other: b.clone(),
    }
    .apply(&v, &a, &p)
    .unwrap();
    assert_eq!(union.count(), union.data.len());
    assert_eq!(inter.count() + sub.count(), a.count());
    // Masking (Slicer's editable area): a tool that would make `a` of an
    // empty segment makes it only inside (or outside) `b`.
    let empty = Mask::empty(a.dim(), a.geometry);
    let masked = |inside: bool| {
        MaskBy {
            tool: Box::new(Logical {
                op: LogicOp::Union,
                other: a.clone(),
            }),
            area: b.clone(),
            inside,
        }
        .apply(&v, &empty, &p)
        .unwrap()
    };
    assert_eq!(masked(true), inter);
    assert_eq!(masked(false), sub);
}

#[test]
fn masking_a_segment_tool_leaves_the_segment_as_it_was_outside_the_area() {
    let ball = mask_of(in_ball([0.0, 0.0, 0.0], 8.0));
    let right = mask_of(|q| q[0] > 0.0);
    let v = field(|_| 0.0);
    let p = Progress::new();
    let dilate = Morphology {
        op: MorphOp::Dilate,
        radius_mm: 3.0,
    };
    let grown = dilate.apply(&v, &ball, &p).unwrap();
    let masked = MaskBy {
        tool: Box::new(dilate),
        area: right.clone(),
        inside: true,
    };
    assert_eq!(masked.target(), ToolTarget::Segment);
    let out = masked.apply(&v, &ball, &p).unwrap();
    // Inside the area the dilation; outside it, the ball as it was.
    ndarray::Zip::from(&out.data)
        .and(&grown.data)
        .and(&ball.data)
        .and(&right.data)
        .for_each(|o, g, b, r| assert_eq!(*o, if *r == 1 { *g } else { *b }));
    assert!(out.count() > ball.count() && out.count() < grown.count());
    // The preview is the same result, and `run` keeps it.
    assert_eq!(
        masked.preview(&v, &ball, &p).unwrap(),
        Preview::Mask(out.clone())
    );
    assert_eq!(masked.run(&v, &ball, &p).unwrap().mask, out);
}

#[test]
fn keeping_the_island_at_a_point_outside_the_segment_is_refused() {
    let two = mask_of(|q| in_ball([-15.0, 0.0, 0.0], 5.0)(q) || in_ball([15.0, 0.0, 0.0], 5.0)(q));
    let v = field(|_| 0.0);
    let p = Progress::new();
    let centre = v.geometry.lps_to_index([15.0, 0.0, 0.0]);
    let [x, y, z] = centre.map(|c| c.round() as usize);
    let kept = KeepIslandAt((z, y, x)).apply(&v, &two, &p).unwrap();
    assert_eq!(kept.data[(z, y, x)], 1);
    assert!(kept.count() > 0 && kept.count() < two.count());
    let e = KeepIslandAt((0, 0, 0)).apply(&v, &two, &p).unwrap_err();
    assert!(e.to_string().contains("not in the segment"), "{e}");
    let e = KeepIslandAt((10_000, 0, 0))
        .apply(&v, &two, &p)
        .unwrap_err();
    assert!(e.to_string().contains("not in the segment"), "{e}");
}

#[test]
fn histogram_percentiles() {
    let v = field(|p| p[0] * 10.0);
    let h = histogram(&v, 100);
    assert_eq!(h.counts.iter().sum::<u64>() as usize, v.voxels.len());
    let median = h.percentile(0.5);
    assert!(median.abs() < 10.0, "{median}");
}

#[test]
fn totalsegmentator_labels_get_names_and_anatomical_colours() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/demo");
    let names = totalsegmentator_ct_names(&root.join("labels_total_ct.tsv")).unwrap();
    let seg = stratum_core::read::nifti::load_nifti(
        &root.join("example_seg_fast_force_split.nii.gz"),
        &Progress::new(),
    )
    .unwrap();
    let lookup = |id: u16| names.iter().find(|(i, _)| *i == id).map(|(_, n)| n.clone());
    let map = LabelMap::from_volume(&seg, &lookup).unwrap();
    let liver = map.segments.iter().find(|s| s.id == 5).unwrap();
    assert_eq!(liver.name, "liver");
    assert_eq!(liver.colour, segment_colour("liver", 5));
    assert_eq!(map.mask(5).count(), 41692);
    assert!(map.segments.len() > 20);
}

#[test]
fn marching_cubes_on_noise_is_closed_and_manifold() {
    // Random values exercise every case, ambiguous faces included.
    for seed in [0x2545F4914F6CDD1Du64, 7, 12345, 0xDEADBEEF] {
        let values = noise((12, 13, 14), seed).mapv(|v| f32::from(v) / 1000.0);
        let (positions, indices) = marching_cubes(values.view(), 0.5, 0.0);
        let mesh = stratum_core::mesh::SurfaceMesh {
            positions,
            normals: vec![],
            indices,
        };
        let topo = mesh.topology();
        assert!(topo.is_watertight(), "seed {seed}: {topo:?}");
        assert!(mesh.volume_mm3() > 0.0, "outward orientation");
    }
}

/// xorshift noise in [0, 1000).
fn noise(dim: (usize, usize, usize), seed: u64) -> ndarray::Array3<u16> {
    let mut state = seed;
    ndarray::Array3::from_shape_fn(dim, |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % 1000) as u16
    })
}

/// A mesh as a sorted list of triangles of exact positions, each rotated
/// to start at its smallest corner (winding kept): equal for two meshes
/// that differ only in how their vertices are numbered.
fn triangle_set(positions: &[[f32; 3]], indices: &[u32]) -> Vec<[[u32; 3]; 3]> {
    let mut t: Vec<[[u32; 3]; 3]> = indices
        .chunks_exact(3)
        .map(|t| {
            let c: [[u32; 3]; 3] =
                std::array::from_fn(|k| positions[t[k] as usize].map(f32::to_bits));
            let first = (0..3).min_by_key(|&k| c[k]).unwrap();
            std::array::from_fn(|k| c[(first + k) % 3])
        })
        .collect();
    t.sort_unstable();
    t
}

#[test]
fn mask_surface_is_the_half_level_of_the_mask_for_any_slab_count() {
    // Rows of 130 voxels span three 64-bit words (cubes across both word
    // boundaries); blobs of every size, ambiguous cases included.
    for seed in [0x2545F4914F6CDD1Du64, 99] {
        let mask = noise((9, 11, 130), seed).mapv(|v| (v < 450) as u8);
        let reference = {
            let field = mask.mapv(f32::from);
            let (p, i) = rayon::ThreadPoolBuilder::new()
                .num_threads(1)
                .build()
                .unwrap()
                .install(|| marching_cubes(field.view(), 0.5, 0.0));
            triangle_set(&p, &i)
        };
        assert!(reference.len() > 1000);
        // Rows read through the bytes, and through a strided view (x reversed).
        let reversed = mask.slice(ndarray::s![.., .., ..;-1]).to_owned();
        for threads in [1, 2, 3, 7] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let (p, i) = pool.install(|| mask_marching_cubes(mask.view()));
            assert_eq!(triangle_set(&p, &i), reference, "{threads} threads");
            let mesh = stratum_core::mesh::SurfaceMesh {
                positions: p,
                normals: vec![],
                indices: i,
            };
            assert!(mesh.topology().is_watertight(), "{threads} threads");
            // The same surface from a view whose rows are not contiguous.
            let (p, i) =
                pool.install(|| mask_marching_cubes(reversed.slice(ndarray::s![.., .., ..;-1])));
            assert_eq!(
                triangle_set(&p, &i),
                reference,
                "strided, {threads} threads"
            );
        }
    }
}

#[test]
fn iso_surface_reads_every_voxel_type_alike() {
    // The same values as u16, i16 and f32, and as a non-contiguous view.
    let n = noise((7, 10, 70), 5);
    let reference = {
        let (p, i) = marching_cubes(n.view(), 500.0, -1.0);
        triangle_set(&p, &i)
    };
    assert!(reference.len() > 500);
    let as_i16 = n.mapv(|v| v as i16);
    let (p, i) = marching_cubes(as_i16.view(), 500.0, -1.0);
    assert_eq!(triangle_set(&p, &i), reference);
    let as_f32 = n.mapv(f32::from);
    let (p, i) = marching_cubes(as_f32.view(), 500.0, -1.0);
    assert_eq!(triangle_set(&p, &i), reference);
    let transposed = n.view().permuted_axes([0, 2, 1]).to_owned();
    let (p, i) = marching_cubes(transposed.view().permuted_axes([0, 2, 1]), 500.0, -1.0);
    assert_eq!(triangle_set(&p, &i), reference);
    // Integers are compared in their own type: a fractional level, and one
    // below the type's range (every voxel inside: the box of the volume).
    let small = n.mapv(|v| (v / 4) as u8);
    for level in [99.5f32, 100.0, -3.0] {
        let (p, i) = marching_cubes(small.mapv(f32::from).view(), level, -10.0);
        let expected = triangle_set(&p, &i);
        let (p, i) = marching_cubes(small.view(), level, -10.0);
        assert_eq!(triangle_set(&p, &i), expected, "level {level}");
        if level < 0.0 {
            let mesh = stratum_core::mesh::SurfaceMesh {
                positions: p,
                normals: vec![],
                indices: i,
            };
            let (lo, hi) = mesh.bounds().unwrap();
            assert!(lo.iter().all(|v| *v < 0.0) && hi[0] > 69.0, "{lo:?} {hi:?}");
        }
    }
}

#[test]
fn mask_bounds_match_a_voxel_by_voxel_search() {
    for (seed, dim) in [(3u64, (6, 9, 100)), (4, (5, 7, 33)), (5, (4, 4, 64))] {
        // Sparse: a few voxels, so some rows and planes are empty.
        let data = noise(dim, seed).mapv(|v| (v < 3) as u8);
        let brute = {
            let mut lo = [usize::MAX; 3];
            let mut hi = [0; 3];
            for ((z, y, x), v) in data.indexed_iter() {
                if *v != 0 {
                    for (k, i) in [z, y, x].into_iter().enumerate() {
                        lo[k] = lo[k].min(i);
                        hi[k] = hi[k].max(i + 1);
                    }
                }
            }
            (lo[0] != usize::MAX).then(|| [(lo[0], hi[0]), (lo[1], hi[1]), (lo[2], hi[2])])
        };
        let g = Geometry::default();
        let m = Mask {
            data: data.clone(),
            geometry: g,
        };
        assert_eq!(m.bounds(), brute, "seed {seed}");
        // Rows that are not contiguous in memory.
        let mut strided = ndarray::Array3::zeros(ndarray::ShapeBuilder::f(dim));
        strided.assign(&data);
        assert!(strided.slice(ndarray::s![0, 0, ..]).as_slice().is_none());
        let m = Mask {
            data: strided,
            geometry: g,
        };
        assert_eq!(m.bounds(), brute, "seed {seed}, strided");
    }
    let empty = Mask::empty((3, 4, 70), Geometry::default());
    assert_eq!(empty.bounds(), None);
}

#[test]
fn default_smoothing_keeps_volume_within_one_percent() {
    let m = mask_of(in_ball([0.0, 0.0, 0.0], 18.0));
    let raw = mask_surface(
        &m,
        &SurfaceOptions {
            presmooth_mm: Some(0.6),
            smooth_iterations: 0,
            keep_ratio: 1.0,
        },
        &Progress::new(),
    )
    .unwrap();
    let smooth = mask_surface(&m, &SurfaceOptions::default(), &Progress::new()).unwrap();
    let change = (smooth.volume_mm3() - raw.volume_mm3()).abs() / raw.volume_mm3();
    assert!(change < 0.01, "{:.3}%", change * 100.0);
}

#[test]
fn bone_preset_keeps_an_arm_apart_from_the_trunk_and_leaves_out_the_table() {
    // Trunk (radius 12) and an arm (radius 5) beside it, air between, each
    // soft tissue around a 1000 HU bone; under them a dense table slab.
    let g = Geometry::default();
    let data = ndarray::Array3::from_shape_fn((20, 40, 48), |(_, y, x)| {
        let d = |cx: f64, cy: f64| ((x as f64 - cx).powi(2) + (y as f64 - cy).powi(2)).sqrt();
        let v = if d(16.0, 16.0) <= 4.0 || d(38.0, 16.0) <= 1.5 {
            1000
        } else if d(16.0, 16.0) <= 12.0 || d(38.0, 16.0) <= 5.0 {
            40
        } else if y >= 34 {
            800
        } else {
            -1000
        };
        v as i16
    });
    let v = Volume::new(Voxels::I16(data), g, "CT");
    let seg = stratum_core::segment::preset_segment(
        &v,
        Preset::Bone,
        Some((250.0, 3071.0)),
        &Progress::new(),
    )
    .unwrap();
    let trunk = std::f64::consts::PI * 16.0 * 20.0 / 1000.0;
    // The arm's bone (about 7 voxels a slice) stays; the table (48 x 6 x 20) goes.
    let kept = seg.mask.volume_ml();
    assert!(
        kept > trunk + 0.1 && kept < trunk + 0.3,
        "{kept} mL (trunk bone {trunk})"
    );
    let note = seg.note.expect("says what it left out");
    assert!(note.contains("left out 1 island"), "{note}");
}
