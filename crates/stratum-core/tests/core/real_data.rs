//! Real scans from ../shared/data (see its README) and the small copies in
//! tests/data: every case loads correctly or says clearly why not.

use std::path::Path;

use stratum_core::checks::Status;
use stratum_core::dicom::{decode_frame_values, load_series, scan};
use stratum_core::read::nifti::load_nifti;
use stratum_core::read::open::inspect_series;
use stratum_core::{base::progress::Progress, image::volume::Volume};

use crate::{repo, shared_data};

fn scan_dir(p: &Path) -> stratum_core::dicom::Scan {
    scan(p, &Progress::new()).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn every_shared_case_loads_or_explains_why_not() {
    let root = shared_data();
    let mut loaded = 0;
    let mut refused = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let s = scan_dir(&dir);
        for series in &s.series {
            let (report, volume) = inspect_series(series, true, &Progress::new());
            match volume {
                Ok(v) => {
                    loaded += 1;
                    let (z, y, x) = v.dim();
                    assert!(z >= 2 && y > 0 && x > 0);
                }
                Err(e) => {
                    // A refusal must come with an error entry in the report.
                    assert!(
                        report.has_errors(),
                        "{}: {e} without an error entry",
                        dir.display()
                    );
                    assert!(!e.to_string().is_empty());
                    refused.push(format!(
                        "{} {}",
                        dir.file_name().unwrap().to_string_lossy(),
                        series.id
                    ));
                }
            }
        }
    }
    assert!(loaded >= 30, "only {loaded} series loaded");
    // Exactly the cases that are not volumes are refused: 4 images at one
    // position and multi-frame files without geometry (the single Siemens
    // mosaic image is unpacked into its slices since issue 30).
    assert_eq!(refused.len(), 2, "{refused:#?}");
}

#[test]
fn nine_transfer_syntaxes_decode_to_identical_pixels() {
    let dir = repo().join("tests/data/ts9");
    let reference = decode_frame_values(&dir.join("1.dcm"), 0).unwrap();
    assert_eq!(reference.len(), 384 * 384);
    assert!(reference.iter().any(|v| *v > 100.0));
    for i in 2..=9 {
        let p = dir.join(format!("{i}.dcm"));
        let v = decode_frame_values(&p, 0).unwrap_or_else(|e| panic!("{e}"));
        assert!(v == reference, "{} differs from 1.dcm", p.display());
    }
}

#[test]
fn enhanced_mr_in_five_transfer_syntaxes_decodes_identically() {
    let dir = repo().join("tests/data/enhanced_mr");
    for frame in [0, 4, 9] {
        let reference = decode_frame_values(&dir.join("emri_small.dcm"), frame).unwrap();
        for f in [
            "emri_small_RLE.dcm",
            "emri_small_big_endian.dcm",
            "emri_small_jpeg_2k_lossless.dcm",
            "emri_small_jpeg_ls_lossless.dcm",
        ] {
            let v = decode_frame_values(&dir.join(f), frame).unwrap_or_else(|e| panic!("{f}: {e}"));
            assert!(v == reference, "{f} frame {frame} differs");
        }
    }
}

#[test]
fn tilted_phantom_reports_its_tilt_and_is_corrected() {
    for (case, angle) in [
        ("ct_philips_phantom_tilt", "16.5°"),
        ("ct_ge_head_tilt_varspacing", "18.5°"),
    ] {
        let s = scan_dir(&shared_data().join(case));
        assert_eq!(s.series.len(), 1);
        let (report, volume) = inspect_series(&s.series[0], true, &Progress::new());
        let tilt = report.get("tilt").unwrap();
        assert_eq!(tilt.status, Status::Warning);
        assert!(tilt.message.contains(angle), "{case}: {}", tilt.message);
        assert!(volume.unwrap().geometry.is_orthogonal());
    }
    // The GE head has 4 mm and 7 mm zones: uneven spacing, not missing slices.
    let s = scan_dir(&shared_data().join("ct_ge_head_tilt_varspacing"));
    let (report, _) = inspect_series(&s.series[0], true, &Progress::new());
    assert_eq!(report.get("spacing").unwrap().status, Status::Warning);
    assert_eq!(report.get("missing_slices").unwrap().status, Status::Ok);
}

#[test]
fn duplicate_position_case_keeps_one_copy_and_reports_gaps() {
    let s = scan_dir(&shared_data().join("bad_ct_duplicate_position"));
    let (report, volume) = inspect_series(&s.series[0], false, &Progress::new());
    assert_eq!(report.get("duplicates").unwrap().status, Status::Warning);
    assert_eq!(
        report.get("missing_slices").unwrap().status,
        Status::Warning
    );
    assert!(
        report
            .get("load")
            .unwrap()
            .message
            .contains("1 duplicate image")
    );
    assert_eq!(volume.unwrap().dim().0, 10);
}

#[test]
fn dicom2nifti_failing_cases_are_split_or_refused_clearly() {
    let root = shared_data().join("bad_dicom2nifti_cases");
    let s = scan_dir(&root.join("failing/notavolume"));
    let (report, v) = inspect_series(&s.series[0], true, &Progress::new());
    assert!(v.is_err());
    assert_eq!(report.get("slice_count").unwrap().status, Status::Error);

    let s = scan_dir(&root.join("failing/sliceorientation"));
    assert_eq!(s.series.len(), 2, "two orientations become two stacks");

    let s = scan_dir(&root.join("generic"));
    assert_eq!(s.series.len(), 4, "4 folders sharing one SeriesInstanceUID");
    let first = load_series(&s.series[0], &Progress::new()).unwrap().volume;
    for series in &s.series[1..] {
        // RLE, JPEG lossless, JPEG-LS and J2K copies of the same slices.
        assert_eq!(
            load_series(series, &Progress::new()).unwrap().volume.voxels,
            first.voxels
        );
    }

    let s = scan_dir(&root.join("failing/gantrytilting"));
    let (report, _) = inspect_series(&s.series[0], true, &Progress::new());
    assert_eq!(
        report.get("tilt").unwrap().status,
        Status::Warning,
        "tilt with no tilt tag"
    );
}

#[test]
fn enhanced_multiframe_files_load_per_frame_geometry() {
    let root = shared_data().join("mf_enhanced_ct_mr/dcm_qa_enh_In");
    let s = scan_dir(&root.join("Philips"));
    assert_eq!(
        s.series.len(),
        2,
        "magnitude and field map interleaved in one file"
    );
    for series in &s.series {
        let v = load_series(series, &Progress::new()).unwrap().volume;
        assert_eq!(v.dim(), (32, 64, 64));
        assert!((v.geometry.spacing[2] - 4.0).abs() < 0.01);
    }
    let ct = scan_dir(&shared_data().join("mf_enhanced_ct_mr/eCT_Supplemental.dcm"));
    let v = load_series(&ct.series[0], &Progress::new()).unwrap().volume;
    assert_eq!(v.dim(), (2, 512, 512));
}

#[test]
fn decubitus_orientation_comes_from_image_orientation() {
    let root = shared_data().join("mr_siemens_decubitus_positions");
    let mut codes = Vec::new();
    for pos in ["HFS", "HFP", "HFDL", "HFDR"] {
        let s = scan_dir(&root.join(pos));
        let series = &s.series[0];
        let v = load_series(series, &Progress::new()).unwrap().volume;
        let o = series.orientation.unwrap();
        for (a, b) in v.geometry.direction[0].iter().zip(&o[0..3]) {
            assert!((a - b).abs() < 1e-6);
        }
        codes.push(v.geometry.orientation_code());
    }
    // The scanner prescribed the same sagittal slices relative to the
    // anatomy in all four positions: read from ImageOrientationPatient, the
    // axes agree (PatientPosition, which differs, must not change them).
    assert!(codes.iter().all(|c| c == "PIR"), "{codes:?}");
}

/// Mean of `ct` over the voxels where `labels` (another grid) equals `label`,
/// matching voxels through patient coordinates.
fn mean_hu_in_label(ct: &Volume, labels: &Volume, label: f64) -> (f64, usize) {
    let (nz, ny, nx) = labels.dim();
    let mut sum = 0.0;
    let mut n = 0;
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                if labels.voxels.get(z, y, x) == Some(label)
                    && let Some(v) = ct.sample_lps(labels.voxel_lps(x, y, z))
                {
                    sum += v;
                    n += 1;
                }
            }
        }
    }
    (sum / n.max(1) as f64, n)
}

#[test]
fn nifti_ct_and_label_map_overlay() {
    let ct = load_nifti(
        &repo().join("assets/demo/example_ct.nii.gz"),
        &Progress::new(),
    )
    .unwrap();
    let seg = load_nifti(
        &repo().join("assets/demo/example_seg_fast_force_split.nii.gz"),
        &Progress::new(),
    )
    .unwrap();
    assert_eq!(ct.dim(), (112, 101, 122));
    assert_eq!(ct.modality, "CT");
    assert_eq!(seg.voxels.type_name(), "u8");
    // NIfTI is RAS: in LPS the x axis must point to the patient's right.
    assert_eq!(ct.geometry.orientation_code(), "RAS");
    // Same grid: the means through patient space equal the voxel-wise ones
    // (nibabel gives liver 44.46 HU over 41692 voxels, spleen 32.77 over 9668:
    // this study is not contrast-enhanced).
    let (liver, n) = mean_hu_in_label(&ct, &seg, 5.0);
    assert_eq!(n, 41692);
    assert!((liver - 44.46).abs() < 0.01, "liver {liver} HU");
    let (spleen, n) = mean_hu_in_label(&ct, &seg, 1.0);
    assert_eq!(n, 9668);
    assert!((spleen - 32.77).abs() < 0.01, "spleen {spleen} HU");
}

#[test]
fn dicom_series_and_nifti_labels_overlay_in_patient_space() {
    // The DICOM series has empty UIDs, J2K pixels and InstanceNumbers that
    // run against position; its label map is a NIfTI on the same grid.
    let data = shared_data().join("ct_totalseg_abdomen");
    let s = scan_dir(&data.join("dicom"));
    assert_eq!(s.series.len(), 1);
    let ct = load_series(&s.series[0], &Progress::new()).unwrap().volume;
    assert_eq!(ct.dim(), (20, 512, 512));
    let seg = load_nifti(&data.join("example_seg_dicom.nii.gz"), &Progress::new()).unwrap();
    let (liver, n) = mean_hu_in_label(&ct, &seg, 5.0);
    assert!(
        n > 10_000 && (75.0..105.0).contains(&liver),
        "liver {liver} HU over {n}"
    );
    let (spleen, n) = mean_hu_in_label(&ct, &seg, 1.0);
    assert!(
        (65.0..100.0).contains(&spleen),
        "spleen {spleen} HU over {n}"
    );
    // Air outside the body would give about -1000 HU if the overlay were flipped.
    let (background, _) = mean_hu_in_label(&ct, &seg, 0.0);
    assert!(background < -200.0, "{background}");
}

#[test]
fn fragmented_jpeg_and_j2k_series_load() {
    let s = scan_dir(&shared_data().join("mr_siemens_t1_fragmented_jpeg"));
    assert_eq!(s.series.len(), 2);
    for series in &s.series {
        let v = load_series(series, &Progress::new()).unwrap().volume;
        assert_eq!(v.dim(), (96, 128, 128));
        assert!(v.voxels.min_max().1 > 100.0);
    }
}
