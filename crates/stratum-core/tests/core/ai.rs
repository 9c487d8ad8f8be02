//! AI segmentation: the sliding window against a whole-volume run of the same
//! model, the model grid, manifest errors, and the shipped brain-extraction
//! model on a real T1 head. ONNX Runtime comes from
//! scripts/fetch-onnxruntime.sh (the test command runs it).

use std::path::PathBuf;

use ndarray::Array3;
use stratum_core::ai::grid::ModelGrid;
use stratum_core::ai::infer::{resample_to_grid, sliding_window};
use stratum_core::ai::manifest::{
    Activation, GridSpec, InputSpec, Interpolation, LabelSpec, Layout, Manifest, Normalize,
    OutputSpec, PadZ, PostProcess,
};
use stratum_core::ai::window::patch_starts;
use stratum_core::ai::{StageTimes, list_models, runtime};
use stratum_core::segment::{Mask, erode_mm};
use stratum_core::{
    base::progress::Progress, image::volume::Geometry, image::volume::Volume,
    image::volume::Voxels, read::open::OpenOptions, read::open::open_volume,
};

use crate::{repo, shared_data};

pub(crate) fn tiny_model() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/tiny_conv3d.onnx")
}

pub(crate) fn tiny_manifest(patch: [usize; 3], overlap: f32) -> Manifest {
    Manifest {
        name: "tiny".into(),
        title: "test model".into(),
        modality: "OT".into(),
        anatomy: "none".into(),
        licence: "MIT".into(),
        source: "tests/data/make_tiny_model.py".into(),
        file: "tiny_conv3d.onnx".into(),
        input: InputSpec {
            name: None,
            layout: Layout::NCDHW,
            channels: 1,
            orientation: "LPS".into(),
            grid: GridSpec::Spacing([1.0; 3]),
            patch,
            overlap,
            normalize: Normalize::MinMax,
            normalize_for: Default::default(),
            interpolation: Interpolation::Linear,
            prefilter: None,
            crop: None,
            pad_value: 0.0,
            pad_z: PadZ::Constant,
        },
        output: OutputSpec {
            name: None,
            activation: Activation::Softmax,
            background_channel: true,
            threshold: 0.5,
            labels: vec![LabelSpec {
                name: "bright".into(),
                colour: None,
                opacity: None,
            }],
            patch: None,
            keep: true,
        },
        postprocess: PostProcess::default(),
        stages: Vec::new(),
        nnunet: None,
    }
}

/// A deterministic pattern with structure at several scales.
pub(crate) fn pattern(d: usize, h: usize, w: usize) -> Array3<f32> {
    let mut seed = 12345u32;
    Array3::from_shape_fn((d, h, w), |(z, y, x)| {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = (seed >> 8) as f32 / (1u32 << 24) as f32;
        let s = ((z as f32 * 0.31).sin() * (y as f32 * 0.23).cos() + (x as f32 * 0.17).sin()) * 0.3;
        0.5 + s + 0.2 * (noise - 0.5)
    })
}

#[test]
fn patch_starts_cover_the_grid_and_end_flush() {
    assert_eq!(patch_starts(10, 16, 0.5), vec![0]);
    assert_eq!(patch_starts(16, 16, 0.5), vec![0]);
    assert_eq!(patch_starts(40, 16, 0.5), vec![0, 8, 16, 24]);
    assert_eq!(patch_starts(41, 16, 0.0), vec![0, 16, 25]);
    for (len, p, o) in [
        (97, 32, 0.25),
        (128, 128, 0.0),
        (300, 96, 0.5),
        (17, 16, 0.9),
    ] {
        let s = patch_starts(len, p, o);
        assert_eq!(s[0], 0);
        assert_eq!(*s.last().unwrap() + p, len.max(p), "{len} {p} {o}");
        assert!(s.windows(2).all(|w| w[0] < w[1] && w[1] - w[0] <= p));
    }
}

/// The stitched output equals a whole-volume run of the same model wherever
/// each covering patch saw the voxel's whole receptive field (3x3x3): the
/// Gaussian weights then average identical values. Only voxels on an inner
/// patch face may differ (zero padding there).
#[test]
fn sliding_window_matches_a_whole_volume_run_of_the_same_model() {
    let grid = pattern(40, 36, 29);
    let mut session =
        runtime::open_session(&tiny_model(), 1).expect("ONNX Runtime and the tiny model load");

    let whole = tiny_manifest([40, 36, 29], 0.0);
    let mut t = StageTimes::default();
    let direct = sliding_window(&mut session, &whole, &grid, &Progress::new(), &mut t).unwrap();
    assert_eq!(direct.len(), 2);

    let windowed = tiny_manifest([16, 16, 16], 0.5);
    let progress = Progress::new();
    let stitched = sliding_window(&mut session, &windowed, &grid, &progress, &mut t).unwrap();
    let starts: Vec<Vec<usize>> = [40, 36, 29]
        .iter()
        .map(|&n| patch_starts(n, 16, 0.5))
        .collect();
    assert_eq!(
        progress.total() as usize,
        starts.iter().map(|s| s.len()).product::<usize>()
    );
    assert_eq!(progress.done(), progress.total());

    // Voxels on a patch face that is not the volume's face.
    let dims = [40usize, 36, 29];
    let mut edge = Array3::<bool>::from_elem((40, 36, 29), false);
    for &s0 in &starts[0] {
        for &s1 in &starts[1] {
            for &s2 in &starts[2] {
                let s = [s0, s1, s2];
                for ((z, y, x), e) in edge.indexed_iter_mut() {
                    let i = [z, y, x];
                    let inside = (0..3).all(|k| i[k] >= s[k] && i[k] < s[k] + 16);
                    let on_face = (0..3).any(|k| {
                        (i[k] == s[k] && s[k] > 0) || (i[k] == s[k] + 15 && s[k] + 16 < dims[k])
                    });
                    if inside && on_face {
                        *e = true;
                    }
                }
            }
        }
    }
    let mut compared = 0usize;
    let mut agree = 0usize;
    for ((idx, &e), (&a, &b)) in edge
        .indexed_iter()
        .zip(direct[1].iter().zip(stitched[1].iter()))
    {
        if !e {
            assert!(
                (a - b).abs() < 1e-5,
                "voxel {idx:?}: whole volume {a}, stitched {b}"
            );
            compared += 1;
        }
        agree += usize::from((a > 0.5) == (b > 0.5));
    }
    let n = grid.len();
    assert!(
        compared > n / 2,
        "only {compared} of {n} voxels away from inner patch faces"
    );
    assert!(
        agree as f64 > 0.99 * n as f64,
        "labels agree on {agree} of {n} voxels"
    );
    // Probabilities sum to one after softmax and stitching.
    for (a, b) in stitched[0].iter().zip(stitched[1].iter()) {
        assert!((a + b - 1.0).abs() < 1e-4);
    }
    // Both classes occur: the test would prove nothing on a constant output.
    let bright = stitched[1].iter().filter(|&&v| v > 0.5).count();
    assert!(
        bright > n / 10 && bright < n * 9 / 10,
        "{bright} of {n} bright"
    );
}

#[test]
fn cancel_stops_between_patches() {
    let grid = pattern(40, 36, 29);
    let mut session = runtime::open_session(&tiny_model(), 1).unwrap();
    let progress = Progress::new();
    progress.cancel();
    let r = sliding_window(
        &mut session,
        &tiny_manifest([16, 16, 16], 0.5),
        &grid,
        &progress,
        &mut StageTimes::default(),
    );
    assert!(matches!(
        r,
        Err(stratum_core::base::error::CoreError::Cancelled)
    ));
}

/// The model grid runs along the manifest's orientation: an LPS scan seen
/// as RAS has its x and y axes reversed, and resampling reads the right voxels.
#[test]
fn model_grid_reorients_and_resamples_the_scan() {
    let (nz, ny, nx) = (10, 12, 16);
    let data = Array3::from_shape_fn((nz, ny, nx), |(z, y, x)| (x + 100 * y + 10_000 * z) as f32);
    let geometry = Geometry {
        spacing: [1.0, 1.0, 2.0],
        ..Geometry::default()
    };
    let volume = Volume::new(Voxels::F32(data), geometry, "MR");
    let mut m = tiny_manifest([8, 8, 8], 0.0);
    m.input.orientation = "RAS".into();
    m.input.grid = GridSpec::Spacing([1.0, 1.0, 2.0]);
    let grid = ModelGrid::new(&volume.geometry, volume.dim(), &m).unwrap();
    assert_eq!(grid.src_axis, [0, 1, 2]);
    assert_eq!(grid.flip, [true, true, false]);
    assert_eq!(grid.shape, [16, 12, 10]);
    let a = resample_to_grid(&volume, &grid);
    // Model voxel (d, h, w) = scan voxel (x = 15 - d, y = 11 - h, z = w).
    for (d, h, w) in [(0, 0, 0), (3, 5, 7), (15, 11, 9)] {
        let expect = ((15 - d) + 100 * (11 - h) + 10_000 * w) as f32;
        assert!(
            (a[(d, h, w)] - expect).abs() < 1e-3,
            "{d},{h},{w}: {}",
            a[(d, h, w)]
        );
    }
    for k in 0..3 {
        for s in [0.0, 3.25, 9.0] {
            assert!((grid.to_src(k, grid.to_model(k, s)) - s).abs() < 1e-9);
        }
    }
    // A permuted target: tensor D runs along the scan's slices (S).
    m.input.orientation = "SPL".into();
    m.input.grid = GridSpec::Shape([5, 6, 8]);
    let grid = ModelGrid::new(&volume.geometry, volume.dim(), &m).unwrap();
    assert_eq!(grid.src_axis, [2, 1, 0]);
    assert_eq!(grid.scale, [2.0, 2.0, 2.0]);
}

#[test]
fn bad_manifests_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let good = serde_json::to_value(tiny_manifest([16, 16, 16], 0.5)).unwrap();
    let write = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| {
        let d = dir.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        let mut v = good.clone();
        v["name"] = name.into();
        edit(&mut v);
        std::fs::write(d.join("manifest.json"), v.to_string()).unwrap();
        std::fs::copy(tiny_model(), d.join("tiny_conv3d.onnx")).unwrap();
    };
    write("a_ok", &|_| {});
    write("b_orientation", &|v| {
        v["input"]["orientation"] = "RRS".into()
    });
    write("c_unknown_field", &|v| v["input"]["spacing_mm"] = 1.into());
    write("d_no_labels", &|v| {
        v["output"]["labels"] = serde_json::json!([])
    });
    write("e_missing_file", &|v| v["file"] = "absent.onnx".into());
    write("f_two_channels", &|v| v["input"]["channels"] = 2.into());
    let listed = list_models(dir.path());
    assert_eq!(listed.len(), 6);
    assert!(listed[0].is_ok());
    let err = |i: usize| listed[i].clone().unwrap_err();
    assert!(err(1).contains("input.orientation"), "{}", err(1));
    assert!(err(2).contains("spacing_mm"), "{}", err(2));
    assert!(err(3).contains("output.labels"), "{}", err(3));
    assert!(
        err(4).contains("absent.onnx") && err(4).contains("`file`"),
        "{}",
        err(4)
    );
    assert!(err(5).contains("input.channels"), "{}", err(5));
    let missing = stratum_core::ai::find_model(dir.path(), "nope")
        .unwrap_err()
        .to_string();
    assert!(missing.contains("a_ok"), "{missing}");
}

/// A manifest that disagrees with the ONNX graph fails before any patch runs.
#[test]
fn a_manifest_that_disagrees_with_the_model_is_refused() {
    let model = repo().join("models/deepbrain");
    let mut info = list_models(&repo().join("models"))
        .into_iter()
        .flatten()
        .find(|m| m.manifest.name == "deepbrain")
        .expect("models/deepbrain is installed");
    assert_eq!(
        info.dir.canonicalize().unwrap(),
        model.canonicalize().unwrap()
    );
    info.manifest.input.patch = [96, 96, 96];
    let volume = Volume::new(
        Voxels::U8(Array3::zeros((4, 4, 4))),
        Geometry::default(),
        "MR",
    );
    let e = stratum_core::ai::segment_with_model(&volume, &info, &Progress::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("input.patch") && e.contains("128"), "{e}");
}

/// The shipped model (deepbrain, converted to ONNX) on a real T1 head: an
/// adult brain's volume, and the mask stays inside the head, clear of skull
/// and scalp. (The T1 series in mr_siemens_t1_fragmented_jpeg is a bottle
/// phantom, not a head; the decubitus series is a volunteer's head.)
#[test]
fn deepbrain_extracts_the_brain_of_a_real_t1_head() {
    let input = shared_data().join("mr_siemens_decubitus_positions/HFS");
    let opened = open_volume(&input, &OpenOptions::new(), &Progress::new()).unwrap();
    let model = stratum_core::ai::find_model(&repo().join("models"), "deepbrain").unwrap();
    let seg =
        stratum_core::ai::segment_with_model(&opened.volume, &model, &Progress::new()).unwrap();
    assert_eq!(seg.labels.segments.len(), 1);
    assert_eq!(seg.labels.segments[0].name, "Brain");
    let brain = seg.labels.mask(1);
    let ml = brain.volume_ml();
    assert!((1100.0..1900.0).contains(&ml), "brain volume {ml:.0} mL");

    // The head: everything brighter than 8% of the 99th percentile, holes
    // filled slice by slice; 6 mm inside its surface is where the brain may be.
    let v = &opened.volume;
    let mut values: Vec<f64> = v.voxels.to_f32().iter().map(|&x| x as f64).collect();
    values.sort_by(f64::total_cmp);
    let p99 = values[values.len() * 99 / 100];
    let head = Mask {
        data: v.voxels.to_f32().mapv(|x| u8::from(x as f64 > 0.08 * p99)),
        geometry: v.geometry,
    };
    let head = stratum_core::segment::fill_holes_2d(&head);
    let inner = erode_mm(&head, 6.0);
    let inside = ndarray::Zip::from(&brain.data)
        .and(&inner.data)
        .fold(0usize, |n, &b, &h| n + usize::from(b != 0 && h != 0));
    let frac = inside as f64 / brain.count() as f64;
    assert!(
        frac > 0.98,
        "only {:.1}% of the brain mask lies 6 mm inside the head",
        frac * 100.0
    );
    // And it is a brain-sized part of the head, not the whole of it.
    let head_ml = head.volume_ml();
    assert!(
        ml < 0.75 * head_ml,
        "brain {ml:.0} mL of a {head_ml:.0} mL head"
    );
}
