//! Inputs the fuzzers (fuzz/, `scripts/fuzz.sh`) found or that guard their
//! caps, each minimised and replayed here through the same calls as its
//! target: every one must end in a typed error or a value, never a panic
//! and never a huge allocation. Files live in tests/data/fuzz/.

use std::path::{Path, PathBuf};

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use stratum_core::dicom::synth::{SynthOptions, write_series};
use stratum_core::dicom::{decode_frame_values, read_header, scan::group};
use stratum_core::read::open::inspect_series;
use stratum_core::{
    base::error::CoreError, base::progress::Progress, read::open::OpenOptions,
    read::open::open_volume,
};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/fuzz")
        .join(name)
}

/// What the dicom_file target runs on one file.
fn dicom_file_target(path: &Path) {
    let Ok(header) = read_header(path) else {
        return;
    };
    for frame in 0..header.number_of_frames.min(3) {
        let _ = decode_frame_values(path, frame);
    }
    for series in group(vec![header]) {
        let _ = inspect_series(&series, true, &Progress::new());
    }
}

/// Replays every saved input of a target (the folder's files).
fn replay_all(prefix: &str, run: impl Fn(&Path)) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz");
    let mut n = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with(prefix) {
            run(&e.path());
            n += 1;
        }
    }
    n
}

#[test]
fn a_header_claiming_two_billion_frames_is_refused_before_the_frame_table() {
    let dir = tempfile::tempdir().unwrap();
    let slices = write_series(
        dir.path(),
        &SynthOptions {
            slices: 2,
            phi: false,
            ..SynthOptions::default()
        },
    )
    .unwrap();
    let path = &slices[0].path;
    let mut obj = dicom_object::open_file(path).unwrap();
    obj.put(DataElement::new(
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        PrimitiveValue::from("2000000000"),
    ));
    obj.write_to_file(path).unwrap();
    let err = read_header(path).unwrap_err();
    assert!(
        matches!(
            err,
            CoreError::BadAttribute {
                attribute: "NumberOfFrames",
                ..
            }
        ),
        "{err}"
    );
    // The folder still opens with the other file's report, not a crash.
    let r = open_volume(dir.path(), &OpenOptions::default(), &Progress::new());
    assert!(r.is_err());
}

#[test]
fn every_saved_dicom_file_input_ends_in_an_error_or_a_value() {
    let n = replay_all("dicom_file-", dicom_file_target);
    assert!(n > 0, "no saved inputs in {}", data("").display());
}

#[test]
fn an_rle_segment_shorter_than_the_image_is_reported_by_name_not_a_panic() {
    // dicom-transfer-syntax-registry 0.10.1 indexes past the end of an RLE
    // segment that decodes to fewer bytes than Rows x Columns (found by
    // fuzz/dicom_file); the core catches the codec's panic. Rebuilt here
    // from a valid RLE file whose Rows is then raised by two.
    let dir = tempfile::tempdir().unwrap();
    let slices = write_series(
        dir.path(),
        &SynthOptions {
            slices: 2,
            rle: true,
            phi: false,
            ..SynthOptions::default()
        },
    )
    .unwrap();
    let path = &slices[0].path;
    let mut obj = dicom_object::open_file(path).unwrap();
    obj.put(DataElement::new(
        tags::ROWS,
        VR::US,
        PrimitiveValue::from(50u16),
    ));
    obj.write_to_file(path).unwrap();
    let err = decode_frame_values(path, 0).unwrap_err();
    assert!(matches!(err, CoreError::Decode { .. }), "{err}");
    let msg = err.to_string();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        msg.contains(&name) && msg.contains("damaged pixel data"),
        "{msg}"
    );
    // The fuzzer's own input (its fragment now overruns the file, which the
    // bounded parser refuses first) ends in an error too.
    dicom_file_target(&data("dicom_file-rle-segment-overrun.dcm"));
}

#[test]
fn a_meta_element_claiming_4_gib_in_a_28_byte_file_is_refused_before_parsing() {
    // dicom-object reserves and zero-fills a declared length before reading
    // it: this file made it commit 4 GiB (fuzz/dicom_file, minimised).
    let path = data("dicom_file-meta-element-claims-4gib.dcm");
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 28);
    let err = read_header(&path).unwrap_err();
    assert!(matches!(err, CoreError::NotDicom { .. }), "{err}");
    assert!(err.to_string().contains("claims"), "{err}");
}

#[test]
fn a_meta_element_with_a_damaged_vr_claiming_775_mb_is_refused_before_parsing() {
    // dicom-encoding reads an unknown VR ("U\t" here) as UN with a 4-byte
    // length; the walk read it short and let dicom-object zero-fill 775 MB
    // (20 s under the sanitizer: fuzz/dicom_folder, minimised).
    let path = data("dicom_folder-damaged-vr-claims-775mb.dcm");
    let err = read_header(&path).unwrap_err();
    assert!(matches!(err, CoreError::NotDicom { .. }), "{err}");
    assert!(err.to_string().contains("claims 775040561 bytes"), "{err}");
}

#[test]
fn a_nifti_whose_bitpix_disagrees_with_its_datatype_is_a_clear_error() {
    // nifti 0.18 sized the data by bitpix (0 here) and then panicked
    // converting it by datatype (fuzz/nifti, minimised).
    let path = data("nifti-bitpix-disagrees-with-datatype.nii");
    let err = stratum_core::read::nifti::load_nifti(&path, &Progress::new()).unwrap_err();
    assert!(matches!(err, CoreError::Nifti { .. }), "{err}");
    assert!(err.to_string().contains("bitpix"), "{err}");
}

#[test]
fn a_nifti_with_a_negative_bitpix_is_a_clear_error() {
    // nifti 0.18 sizes the data as bitpix / 8 after a cast to usize, so a
    // negative bitpix with an unknown datatype asked for 2^61 bytes (an
    // abort under the sanitizer: fuzz/nifti, found by CI).
    let path = data("nifti-negative-bitpix.nii");
    let err = stratum_core::read::nifti::load_nifti(&path, &Progress::new()).unwrap_err();
    assert!(matches!(err, CoreError::Nifti { .. }), "{err}");
    assert!(err.to_string().contains("bitpix is -"), "{err}");
}

#[test]
fn real_files_still_pass_the_meta_length_walk() {
    // The walk must accept every encoding the readers take: explicit and
    // implicit little endian, big endian, encapsulated fragments, enhanced
    // multi-frame files with deep sequences.
    let root = crate::shared_data();
    let mut n = 0;
    for dir in [
        "mf_enhanced_ct_mr",
        "mr_siemens_mosaic_9_transfer_syntaxes/In",
        "bad_dicom2nifti_cases/generic/compressed_rle/001",
    ] {
        for e in std::fs::read_dir(root.join(dir)).unwrap().flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "dcm") {
                stratum_core::dicom::lengths::check_lengths(&p)
                    .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                n += 1;
            }
        }
    }
    assert!(n >= 15, "{n} files");
}

/// What the document_edits target runs on one input: decode, apply each
/// edit to a small document with a scan, undo everything.
fn document_edits_target(bytes: &[u8]) {
    use ndarray::Array3;
    use stratum_core::document::{Document, Edit, EditLog};
    use stratum_core::image::volume::{Geometry, Volume, Voxels};
    use stratum_core::segment::{LabelMap, Labels, Segment};
    let edits = match EditLog::from_bytes(bytes) {
        Ok(log) => log.0,
        Err(_) => match Edit::from_bytes(bytes) {
            Ok(edit) => vec![edit],
            Err(_) => return,
        },
    };
    let geometry = Geometry {
        spacing: [1.0, 1.0, 2.0],
        ..Geometry::default()
    };
    let dim = (6, 20, 20);
    let voxels = Array3::from_shape_fn(dim, |(z, y, x)| {
        ((x * 37 + y * 11 + z * 101) % 900) as i16 - 200
    });
    let volume = std::sync::Arc::new(Volume::new(Voxels::I16(voxels), geometry, "CT"));
    let map = LabelMap {
        labels: Labels::U8(Array3::zeros(dim)),
        geometry,
        segments: vec![Segment {
            id: 1,
            name: "bone".into(),
            colour: [230, 220, 200],
            visible: true,
        }],
    };
    let mut doc = Document::new(Some(volume), map).unwrap();
    for edit in edits {
        let _ = doc.apply(edit);
    }
    let _ = doc.apply(Edit::StrokeEnd);
    while doc.history().can_undo() && doc.apply(Edit::Undo).is_ok() {}
}

#[test]
fn saved_document_edit_inputs_are_refused_or_applied_without_a_panic() {
    let n = replay_all("document_edits-", |path| {
        document_edits_target(&std::fs::read(path).unwrap());
    });
    assert!(n >= 2, "the saved document_edits inputs are missing");
    // The first one's soft edge size overflowed: refused while decoding.
    let bytes = std::fs::read(data("document_edits-soft-edge-size-overflows.bin")).unwrap();
    let err = stratum_core::document::EditLog::from_bytes(&bytes).unwrap_err();
    assert!(matches!(err, CoreError::Damaged { .. }), "{err}");
}
