//! Loading and checking generated series with known geometry and values.

use stratum_core::checks::Status;
use stratum_core::dicom::synth::{SynthOptions, phantom_hu, write_series};
use stratum_core::dicom::{load_series, scan};
use stratum_core::read::open::inspect_series;
use stratum_core::{base::progress::Progress, image::volume::Volume};

fn make(
    o: SynthOptions,
) -> (
    tempfile::TempDir,
    Vec<stratum_core::dicom::synth::SynthSlice>,
) {
    let dir = tempfile::tempdir().unwrap();
    let slices = write_series(dir.path(), &o).unwrap();
    (dir, slices)
}

/// Largest |volume value - phantom| over voxels inside the scanned region
/// (the phantom is linear, so interpolation is exact up to rounding).
/// Voxels next to resampling padding (the volume minimum) are skipped.
fn max_phantom_error(v: &Volume, margin: usize) -> f64 {
    let (nz, ny, nx) = v.dim();
    let pad = v.voxels.min_max().0;
    let near_pad = |z: usize, y: usize, x: usize| {
        (z.saturating_sub(1)..(z + 2).min(nz)).any(|zz| {
            (y.saturating_sub(1)..(y + 2).min(ny)).any(|yy| {
                (x.saturating_sub(1)..(x + 2).min(nx))
                    .any(|xx| v.voxels.get(zz, yy, xx) == Some(pad))
            })
        })
    };
    let mut worst: f64 = 0.0;
    let mut n = 0;
    for z in margin..nz.saturating_sub(margin) {
        for y in (0..ny).step_by(3) {
            for x in (0..nx).step_by(3) {
                if near_pad(z, y, x) {
                    continue;
                }
                let value = v.voxels.get(z, y, x).unwrap();
                worst = worst.max((value - phantom_hu(v.voxel_lps(x, y, z))).abs());
                n += 1;
            }
        }
    }
    assert!(n > 100, "too few voxels compared ({n})");
    worst
}

#[test]
fn plain_series_loads_with_exact_geometry_and_values() {
    let (dir, slices) = make(SynthOptions::default());
    let scan = scan(dir.path(), &Progress::new()).unwrap();
    assert_eq!(scan.series.len(), 1);
    let loaded = load_series(&scan.series[0], &Progress::new()).unwrap();
    let v = &loaded.volume;
    assert_eq!(v.dim(), (20, 48, 64));
    assert_eq!(v.voxels.type_name(), "i16", "CT in HU is stored as i16");
    assert!((v.geometry.spacing[0] - 0.7).abs() < 1e-9);
    assert!((v.geometry.spacing[1] - 0.8).abs() < 1e-9);
    assert!((v.geometry.spacing[2] - 2.5).abs() < 1e-6);
    let err = max_phantom_error(v, 0);
    assert!(err <= 0.5 + 1e-9, "max error {err} HU");
    // Sorted by position, not InstanceNumber (which runs head to feet).
    let lowest = slices
        .iter()
        .map(|s| s.position[2])
        .fold(f64::INFINITY, f64::min);
    assert!((v.geometry.origin[2] - lowest).abs() < 1e-6);
    assert_eq!(v.geometry.orientation_code(), "LPS");
}

#[test]
fn rle_series_decodes_to_the_same_voxels() {
    let (a, _) = make(SynthOptions::default());
    let (b, _) = make(SynthOptions {
        rle: true,
        ..SynthOptions::default()
    });
    let load = |d: &std::path::Path| {
        let s = scan(d, &Progress::new()).unwrap();
        load_series(&s.series[0], &Progress::new()).unwrap().volume
    };
    assert_eq!(load(a.path()).voxels, load(b.path()).voxels);
}

#[test]
fn missing_slice_is_reported_and_interpolated() {
    let (dir, _) = make(SynthOptions {
        drop_slice: Some(9),
        ..SynthOptions::default()
    });
    let s = scan(dir.path(), &Progress::new()).unwrap();
    let (report, volume) = inspect_series(&s.series[0], true, &Progress::new());
    let c = report.get("missing_slices").unwrap();
    assert_eq!(c.status, Status::Warning, "{c:?}");
    assert!(c.message.contains("about 1 slice missing"), "{}", c.message);
    assert!(c.message.contains("5.0 mm"), "{}", c.message);
    let v = volume.unwrap();
    assert_eq!(v.dim().0, 20, "the gap is filled on a uniform grid");
    assert!((v.geometry.spacing[2] - 2.5).abs() < 1e-6);
    let err = max_phantom_error(&v, 0);
    assert!(err <= 1.0 + 1e-9, "max error {err} HU");
}

#[test]
fn gantry_tilt_is_measured_from_geometry_and_corrected() {
    let (dir, _) = make(SynthOptions {
        tilt_deg: 15.0,
        ..SynthOptions::default()
    });
    let s = scan(dir.path(), &Progress::new()).unwrap();
    let (report, volume) = inspect_series(&s.series[0], true, &Progress::new());
    let c = report.get("tilt").unwrap();
    assert_eq!(c.status, Status::Warning);
    assert!(c.message.contains("15.0°"), "{}", c.message);
    let v = volume.unwrap();
    assert!(
        v.geometry.is_orthogonal(),
        "resampled onto an orthogonal grid"
    );
    let err = max_phantom_error(&v, 1);
    assert!(
        err <= 1.0 + 1e-9,
        "values stay where the anatomy was: max error {err} HU"
    );

    // Without correction the volume keeps the sheared (non-orthogonal) axes,
    // which are still exact in patient space.
    let (_, raw) = inspect_series(&s.series[0], false, &Progress::new());
    let raw = raw.unwrap();
    assert!(!raw.geometry.is_orthogonal());
    let err = max_phantom_error(&raw, 0);
    assert!(err <= 0.5 + 1e-9, "max error {err} HU");
}

#[test]
fn a_stack_tilted_further_than_any_gantry_is_damaged_not_resampled() {
    // Slices stacked 60 degrees from their normal: no gantry tilts that
    // far, so the headers are damaged. A fuzzed folder at 89.99 degrees
    // was "corrected" onto a grid of 150,230 rows (fuzz/dicom_folder).
    let (dir, _) = make(SynthOptions {
        tilt_deg: 60.0,
        ..SynthOptions::default()
    });
    let s = scan(dir.path(), &Progress::new()).unwrap();
    let (report, volume) = inspect_series(&s.series[0], true, &Progress::new());
    let c = report.get("tilt").unwrap();
    assert_eq!(c.status, Status::Error, "{}", c.message);
    assert!(
        c.message.contains("60.0°") && c.message.contains("damaged"),
        "{}",
        c.message
    );
    let err = volume.unwrap_err();
    assert!(
        matches!(err, stratum_core::base::error::CoreError::NotAVolume(_)),
        "{err}"
    );
    assert!(err.to_string().contains("stacked 60.0°"), "{err}");
    // Without resampling the slices still open where the headers put them.
    let (_, raw) = inspect_series(&s.series[0], false, &Progress::new());
    assert!(!raw.unwrap().geometry.is_orthogonal());
}

#[test]
fn uneven_spacing_is_reported_and_resampled_uniformly() {
    let (dir, _) = make(SynthOptions {
        jitter: 0.3,
        ..SynthOptions::default()
    });
    let s = scan(dir.path(), &Progress::new()).unwrap();
    let (report, volume) = inspect_series(&s.series[0], true, &Progress::new());
    assert_eq!(report.get("spacing").unwrap().status, Status::Warning);
    let v = volume.unwrap();
    let err = max_phantom_error(&v, 0);
    assert!(err <= 1.0 + 1e-9, "max error {err} HU");
}

#[test]
fn metal_is_reported_with_its_slices() {
    let (dir, _) = make(SynthOptions {
        metal_slices: vec![4, 5, 6],
        ..SynthOptions::default()
    });
    let s = scan(dir.path(), &Progress::new()).unwrap();
    let (report, _) = inspect_series(&s.series[0], true, &Progress::new());
    let c = report.get("metal").unwrap();
    assert_eq!(c.status, Status::Warning);
    assert!(c.message.contains("slices 5-7"), "{}", c.message);
    let (dir, _) = make(SynthOptions::default());
    let s = scan(dir.path(), &Progress::new()).unwrap();
    let (report, _) = inspect_series(&s.series[0], true, &Progress::new());
    assert_eq!(report.get("metal").unwrap().status, Status::Ok);
}

#[test]
fn privacy_check_names_attributes_but_never_values() {
    let (dir, _) = make(SynthOptions::default());
    let s = scan(dir.path(), &Progress::new()).unwrap();
    let (report, _) = inspect_series(&s.series[0], true, &Progress::new());
    let c = report.get("identifying_data").unwrap();
    assert_eq!(c.status, Status::Warning);
    assert!(c.message.contains("PatientName") && c.message.contains("PatientBirthDate"));
    let json = serde_json::to_string(&report).unwrap();
    for secret in [
        stratum_core::dicom::synth::FAKE_PATIENT_NAME,
        stratum_core::dicom::synth::FAKE_PATIENT_ID,
        stratum_core::dicom::synth::FAKE_BIRTH_DATE,
        stratum_core::dicom::synth::FAKE_INSTITUTION,
        "DOE",
    ] {
        assert!(!json.contains(secret), "the report leaks {secret}");
    }
}

#[test]
fn two_series_in_one_folder_are_listed_apart() {
    let dir = tempfile::tempdir().unwrap();
    write_series(
        &dir.path().join("a"),
        &SynthOptions {
            series: 1,
            ..SynthOptions::default()
        },
    )
    .unwrap();
    write_series(
        &dir.path().join("b"),
        &SynthOptions {
            series: 2,
            rows: 32,
            slices: 7,
            ..SynthOptions::default()
        },
    )
    .unwrap();
    let s = scan(dir.path(), &Progress::new()).unwrap();
    assert_eq!(s.series.len(), 2);
    assert_eq!(s.find("2").unwrap().slices.len(), 7);
    assert_eq!(s.largest().unwrap().slices.len(), 20);
    assert!(s.find("nope").is_err());
}

#[test]
fn cancelling_stops_loading_with_cancelled() {
    let (dir, _) = make(SynthOptions::default());
    let s = scan(dir.path(), &Progress::new()).unwrap();
    let p = Progress::new();
    p.cancel();
    assert!(matches!(
        load_series(&s.series[0], &p),
        Err(stratum_core::base::error::CoreError::Cancelled)
    ));
}

#[test]
fn loading_reports_progress_per_slice() {
    let (dir, _) = make(SynthOptions::default());
    let s = scan(dir.path(), &Progress::new()).unwrap();
    let p = Progress::new();
    load_series(&s.series[0], &p).unwrap();
    assert_eq!(p.stage(), "decoding slices");
    assert_eq!((p.done(), p.total()), (20, 20));
}

#[test]
fn uncompressed_slices_read_from_the_file_bytes_equal_the_decoders_values() {
    // load_series reads explicit VR little endian straight from the bytes;
    // decode_frame_values goes through dicom-object's parser and decoder.
    let (dir, _) = make(SynthOptions::default());
    let p = Progress::new();
    let scan = scan(dir.path(), &p).unwrap();
    let series = scan.largest().unwrap();
    let volume = load_series(series, &p).unwrap().volume;
    let (kept, _) = series.distinct_slices();
    assert_eq!(kept.len(), volume.dim().0);
    let (_, ny, nx) = volume.dim();
    for (z, s) in kept.iter().enumerate() {
        let decoded =
            stratum_core::dicom::decode_frame_values(&series.files[s.file].path, s.frame).unwrap();
        for y in 0..ny {
            for x in 0..nx {
                assert_eq!(
                    volume.voxels.get(z, y, x),
                    Some(decoded[y * nx + x]),
                    "({z}, {y}, {x})"
                );
            }
        }
    }
}
