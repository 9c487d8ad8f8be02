//! Bad input gets a clear error and loses nothing.

use stratum_core::base::error::CoreError;
use stratum_core::base::progress::Progress;
use stratum_core::checks::Status;
use stratum_core::dicom::synth::{SynthOptions, write_series};
use stratum_core::dicom::{load_series, scan};
use stratum_core::read::open::inspect_series;

#[test]
fn empty_folder_says_no_images() {
    let dir = tempfile::tempdir().unwrap();
    let e = scan(dir.path(), &Progress::new()).unwrap_err();
    assert!(matches!(e, CoreError::NoImages { ignored: 0, .. }), "{e}");
    assert!(e.to_string().contains("no DICOM images found"));
}

#[test]
fn folder_of_non_dicom_files_counts_what_it_ignored() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    std::fs::write(dir.path().join("scan.png"), [0x89, b'P', b'N', b'G']).unwrap();
    let e = scan(dir.path(), &Progress::new()).unwrap_err();
    assert!(matches!(e, CoreError::NoImages { ignored: 2, .. }), "{e}");
}

#[test]
fn missing_path_is_not_found() {
    let e = scan(
        std::path::Path::new("/nonexistent/stratum"),
        &Progress::new(),
    )
    .unwrap_err();
    assert!(matches!(e, CoreError::NotFound { .. }));
}

#[test]
fn truncated_file_is_skipped_and_the_rest_loads() {
    let dir = tempfile::tempdir().unwrap();
    let slices = write_series(dir.path(), &SynthOptions::default()).unwrap();
    // Cut one file inside its header: it cannot be read at all.
    let victim = &slices[3].path;
    let bytes = std::fs::read(victim).unwrap();
    std::fs::write(victim, &bytes[..300]).unwrap();
    let s = scan(dir.path(), &Progress::new()).unwrap();
    assert_eq!(s.skipped.len(), 1, "{:?}", s.skipped);
    assert_eq!(s.series[0].slices.len(), 19);
    let (report, volume) = inspect_series(&s.series[0], true, &Progress::new());
    assert_eq!(
        report.get("missing_slices").unwrap().status,
        Status::Warning
    );
    assert!(volume.is_ok());
}

#[test]
fn truncated_pixel_data_is_a_clear_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let slices = write_series(dir.path(), &SynthOptions::default()).unwrap();
    let victim = &slices[5].path;
    let bytes = std::fs::read(victim).unwrap();
    std::fs::write(victim, &bytes[..bytes.len() - 2000]).unwrap();
    let s = scan(dir.path(), &Progress::new()).unwrap();
    let e = load_series(&s.series[0], &Progress::new()).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("slice0005.dcm"), "{msg}");
}

#[test]
fn missing_pixel_data_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    write_series(
        dir.path(),
        &SynthOptions {
            no_pixels_slice: Some(2),
            ..SynthOptions::default()
        },
    )
    .unwrap();
    let s = scan(dir.path(), &Progress::new()).unwrap();
    let e = load_series(&s.series[0], &Progress::new()).unwrap_err();
    assert!(matches!(e, CoreError::NoPixelData { .. }), "{e}");
    assert!(e.to_string().contains("slice0002.dcm") && e.to_string().contains("no pixel data"));
}

#[test]
fn unsupported_codec_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let slices = write_series(
        dir.path(),
        &SynthOptions {
            rle: true,
            ..SynthOptions::default()
        },
    )
    .unwrap();
    // Relabel one RLE file as MPEG2 video, which no decoder here handles.
    let mut obj = dicom_object::open_file(&slices[0].path).unwrap();
    obj.update_meta(|m| m.transfer_syntax = "1.2.840.10008.1.2.4.100".to_string());
    obj.write_to_file(&slices[0].path).unwrap();
    let s = scan(dir.path(), &Progress::new()).unwrap();
    let e = load_series(&s.series[0], &Progress::new()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, CoreError::Decode { .. }), "{msg}");
    assert!(
        msg.contains("MPEG2") && msg.contains("slice0000.dcm"),
        "{msg}"
    );
}

#[test]
fn mixed_stacks_in_one_series_uid_never_mix() {
    let dir = tempfile::tempdir().unwrap();
    // Same series number/UID, different image sizes: two stacks.
    write_series(&dir.path().join("a"), &SynthOptions::default()).unwrap();
    write_series(
        &dir.path().join("b"),
        &SynthOptions {
            rows: 40,
            ..SynthOptions::default()
        },
    )
    .unwrap();
    let s = scan(dir.path(), &Progress::new()).unwrap();
    assert_eq!(s.series.len(), 2);
    for series in &s.series {
        assert_eq!(series.slices.len(), 20);
        assert!(series.split_note.is_some());
        assert!(load_series(series, &Progress::new()).is_ok());
    }
}

#[test]
fn errors_name_files_without_their_folders() {
    // Folder names often carry the patient's name: messages show file names only.
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("DOE_JANE_1961");
    write_series(
        &series,
        &SynthOptions {
            no_pixels_slice: Some(1),
            ..SynthOptions::default()
        },
    )
    .unwrap();
    let s = scan(&series, &Progress::new()).unwrap();
    let e = load_series(&s.series[0], &Progress::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("slice0001.dcm"), "{e}");
    assert!(!e.contains("DOE_JANE"), "{e}");
}
