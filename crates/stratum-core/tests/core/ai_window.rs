//! The network window's fill past the grid (constant, or the end slices
//! repeated along z for a thin slab), the `pad_z` manifest field, and the
//! MR normalisations of pyliverlesionseg (range window, region median).

use ndarray::Array3;
use stratum_core::ai::manifest::{Manifest, Normalize, PadZ};
use stratum_core::ai::normalize::normalise;
use stratum_core::ai::window::{EdgeFill, edge_fill, fill_window};

use crate::ai::tiny_manifest;

/// Voxel (d, h, w) holds 100 d + 10 h + w: every value says where it came from.
fn coded(d: usize, h: usize, w: usize) -> Array3<f32> {
    Array3::from_shape_fn((d, h, w), |(i, j, k)| (100 * i + 10 * j + k) as f32)
}

fn window(
    input: &Array3<f32>,
    start: [i64; 3],
    patch: [usize; 3],
    fill: [EdgeFill; 3],
) -> Array3<f32> {
    let mut buf = vec![f32::NAN; patch.iter().product()];
    fill_window(&mut buf, input, start, patch, -7.0, fill);
    Array3::from_shape_vec((patch[0], patch[1], patch[2]), buf).unwrap()
}

#[test]
fn a_constant_fill_pads_every_side_of_the_grid() {
    let g = coded(2, 3, 2);
    let w = window(&g, [-1, -1, -2], [4, 5, 6], [EdgeFill::Constant; 3]);
    for ((d, h, k), &v) in w.indexed_iter() {
        let (sd, sh, sk) = (d as i64 - 1, h as i64 - 1, k as i64 - 2);
        let inside = (0..2).contains(&sd) && (0..3).contains(&sh) && (0..2).contains(&sk);
        let expect = if inside {
            (100 * sd + 10 * sh + sk) as f32
        } else {
            -7.0
        };
        assert_eq!(v, expect, "window voxel ({d}, {h}, {k})");
    }
}

#[test]
fn an_edge_fill_along_z_repeats_the_end_slices_and_keeps_air_around_them() {
    // A slab two slices thick along W (RAS: W runs foot to head) in a
    // window eight slices deep: three slices repeat the first one below
    // and three the last one above; past the grid in-plane stays padding,
    // also where the window is past both.
    let g = coded(3, 2, 2);
    let w = window(
        &g,
        [-1, 0, -3],
        [5, 3, 8],
        [EdgeFill::Constant, EdgeFill::Constant, EdgeFill::Edge],
    );
    for ((d, h, k), &v) in w.indexed_iter() {
        let (sd, sh) = (d as i64 - 1, h as i64);
        let sk = (k as i64 - 3).clamp(0, 1);
        let in_plane = (0..3).contains(&sd) && (0..2).contains(&sh);
        let expect = if in_plane {
            (100 * sd + 10 * sh + sk) as f32
        } else {
            -7.0
        };
        assert_eq!(v, expect, "window voxel ({d}, {h}, {k})");
    }
    // The slices below the slab are the first slice, those above the last.
    assert_eq!(w[(1, 1, 0)], g[(0, 1, 0)]);
    assert_eq!(w[(1, 1, 7)], g[(0, 1, 1)]);
    assert_eq!(w[(0, 1, 7)], -7.0);
}

#[test]
fn pad_z_edge_applies_to_the_head_foot_axis_of_the_orientation() {
    let mut m = tiny_manifest([4, 4, 4], 0.0);
    use EdgeFill::{Constant as C, Edge as E};
    assert_eq!(edge_fill(&m.input).unwrap(), [C, C, C]);
    m.input.pad_z = PadZ::Edge;
    m.input.orientation = "RAS".into();
    assert_eq!(edge_fill(&m.input).unwrap(), [C, C, E]);
    m.input.orientation = "IPL".into();
    assert_eq!(edge_fill(&m.input).unwrap(), [E, C, C]);
    m.input.orientation = "LSA".into();
    assert_eq!(edge_fill(&m.input).unwrap(), [C, E, C]);
}

#[test]
fn pad_z_parses_edge_and_refuses_other_values_naming_the_field() {
    let good = serde_json::to_value(tiny_manifest([4, 4, 4], 0.0)).unwrap();
    // The default is left out of a written manifest, and reads back as constant.
    assert!(good["input"].get("pad_z").is_none());
    let with = |value: &str| {
        let mut v = good.clone();
        v["input"]["pad_z"] = value.into();
        serde_json::from_value::<Manifest>(v)
    };
    assert_eq!(with("edge").unwrap().input.pad_z, PadZ::Edge);
    assert_eq!(with("constant").unwrap().input.pad_z, PadZ::Constant);
    let e = with("mirror").unwrap_err().to_string();
    assert!(e.contains("pad_z") && e.contains("\"mirror\""), "{e}");
    assert!(e.contains("edge") && e.contains("constant"), "{e}");
    let mut m = tiny_manifest([4, 4, 4], 0.0);
    m.input.pad_z = PadZ::Edge;
    let back: Manifest = serde_json::from_value(serde_json::to_value(&m).unwrap()).unwrap();
    assert_eq!(back, m);
}

#[test]
fn range_normalisation_windows_mr_as_pyliverlesionseg() {
    // min 0, max 200: upper = 0 + 0.8 * 200 = 160; (x - 0) / 160 - 0.5.
    let mut a = Array3::from_shape_vec((1, 1, 5), vec![0.0, 40.0, 80.0, 160.0, 200.0]).unwrap();
    let n = Normalize::Range {
        top: 0.8,
        offset: -0.5,
    };
    assert_eq!(n.validate("input.normalize"), Ok(()));
    normalise(&mut a, &n, None);
    for (v, e) in a.iter().zip([-0.5, -0.25, 0.0, 0.5, 0.5]) {
        assert!((v - e).abs() < 1e-6, "{a:?}");
    }
    let bad = Normalize::Range {
        top: 1.5,
        offset: 0.0,
    };
    let e = bad.validate("input.normalize_for.MR").unwrap_err();
    assert!(
        e.contains("input.normalize_for.MR") && e.contains("top"),
        "{e}"
    );
}

#[test]
fn region_median_centres_on_the_region_and_ignores_the_rest() {
    // Region values 10, 20, 60: median 20, the farther extreme 40 away, so
    // x -> (x - 20) * 0.5 / 40, clamped to -0.5..0.5. The 1000 outside the
    // region changes nothing but is clamped.
    let mut a = Array3::from_shape_vec((1, 1, 4), vec![10.0, 20.0, 60.0, 1000.0]).unwrap();
    let region = Array3::from_shape_vec((1, 1, 4), vec![true, true, true, false]).unwrap();
    let n = Normalize::RegionMedian {
        low: -0.5,
        high: 0.5,
    };
    normalise(&mut a, &n, Some(&region));
    for (v, e) in a.iter().zip([-0.125, 0.0, 0.5, 0.5]) {
        assert!((v - e).abs() < 1e-6, "{a:?}");
    }
}

#[test]
fn an_mr_scan_gets_the_manifests_mr_normalisation() {
    let mut m = tiny_manifest([4, 4, 4], 0.0);
    let mr = Normalize::Range {
        top: 0.8,
        offset: -0.5,
    };
    m.input.normalize_for.insert("MR".into(), mr.clone());
    assert_eq!(m.input.normalize_for_modality("MR"), &mr);
    assert_eq!(m.input.normalize_for_modality("mr"), &mr);
    assert_eq!(m.input.normalize_for_modality("CT"), &Normalize::MinMax);
    assert_eq!(m.validate(), Ok(()));
    m.input.normalize_for.insert(
        "PT".into(),
        Normalize::Linear {
            scale: 0.0,
            offset: 0.0,
            low: 0.0,
            high: 1.0,
        },
    );
    let e = m.validate().unwrap_err();
    assert!(e.contains("input.normalize_for.PT"), "{e}");
}
