//! Sizes a header claims are refused before anything is allocated, the
//! memory budget's message says what would fit, and the in-place
//! largest-island pass (convert's memory peak) matches the reference.

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use ndarray::Array3;
use stratum_core::base::memory::{MAX_VOXELS, parse_size, study_bytes};
use stratum_core::convert::keep_largest_in_place;
use stratum_core::dicom::synth::{SynthOptions, write_series};
use stratum_core::read::nifti::load_nifti;
use stratum_core::segment::{Mask, keep_largest};
use stratum_core::{
    base::error::CoreError, base::progress::Progress, read::open::OpenOptions,
    read::open::open_volume,
};

#[test]
fn a_series_claiming_more_voxels_than_the_cap_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let slices = write_series(
        dir.path(),
        &SynthOptions {
            slices: 5,
            phi: false,
            ..SynthOptions::default()
        },
    )
    .unwrap();
    // 65535 x 65535 x 5 is past the 2^34-voxel cap; the files hold 48 x 64.
    for s in &slices {
        let mut obj = dicom_object::open_file(&s.path).unwrap();
        for tag in [tags::ROWS, tags::COLUMNS] {
            obj.put(DataElement::new(
                tag,
                VR::US,
                PrimitiveValue::from(65535u16),
            ));
        }
        obj.write_to_file(&s.path).unwrap();
    }
    let t = std::time::Instant::now();
    let err = open_volume(dir.path(), &OpenOptions::default(), &Progress::new()).unwrap_err();
    assert!(matches!(err, CoreError::TooLarge { limit: 0, .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("65535 x 65535 x 5 voxels"), "{msg}");
    assert!(msg.contains("probably damaged"), "{msg}");
    assert!(t.elapsed().as_secs() < 5, "refusal took {:?}", t.elapsed());
}

/// A NIfTI-1 header (348 bytes + 4 of extension flag) claiming `dims` of u8.
fn nifti_header(dims: [u16; 3]) -> Vec<u8> {
    let mut h = vec![0u8; 352];
    h[..4].copy_from_slice(&348i32.to_le_bytes());
    let dim: [i16; 8] = [
        3,
        dims[0] as i16,
        dims[1] as i16,
        dims[2] as i16,
        1,
        1,
        1,
        1,
    ];
    for (k, d) in dim.iter().enumerate() {
        h[40 + 2 * k..42 + 2 * k].copy_from_slice(&d.to_le_bytes());
    }
    h[70..72].copy_from_slice(&2i16.to_le_bytes()); // datatype u8
    h[72..74].copy_from_slice(&8i16.to_le_bytes()); // bitpix
    for k in 0..8 {
        h[76 + 4 * k..80 + 4 * k].copy_from_slice(&1f32.to_le_bytes());
    }
    h[108..112].copy_from_slice(&352f32.to_le_bytes()); // vox_offset
    h[344..348].copy_from_slice(b"n+1\0");
    h
}

#[test]
fn a_nifti_header_claiming_65535_cubed_voxels_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    // 65535 is stored as i16 -1 in the file, which the reader takes as u16.
    let plain = dir.path().join("huge.nii");
    std::fs::write(&plain, nifti_header([65535, 65535, 65535])).unwrap();
    let err = load_nifti(&plain, &Progress::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("truncated or damaged"), "{err}");
    assert!(err.contains("65535 x 65535 x 65535"), "{err}");

    let gz = dir.path().join("huge.nii.gz");
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &nifti_header([65535, 65535, 65535])).unwrap();
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let err = load_nifti(&gz, &Progress::new()).unwrap_err();
    assert!(matches!(err, CoreError::TooLarge { .. }), "{err}");

    // A header that fits its file still loads.
    let ok = dir.path().join("small.nii");
    let mut bytes = nifti_header([4, 3, 2]);
    bytes.extend((0..24u8).map(|v| v % 3));
    std::fs::write(&ok, bytes).unwrap();
    assert_eq!(load_nifti(&ok, &Progress::new()).unwrap().dim(), (2, 3, 4));
}

#[test]
fn the_budget_parses_sizes_and_counts_the_scan_its_copy_labels_and_meshes() {
    assert_eq!(parse_size("768M"), Some(768 << 20));
    assert_eq!(parse_size("24 GiB"), Some(24 << 30));
    assert_eq!(parse_size("-1"), None);
    // i16 CT, resampled: 2 + 2 + 1 (labels) + 0.5 (meshes) bytes a voxel.
    assert_eq!(study_bytes(1000, 2, true), 5500);
    assert_eq!(study_bytes(1000, 2, false), 3500);
}

// The cap leaves room for the largest real CT (2048 x 2048 x 4096).
const _: () = assert!(MAX_VOXELS >= 2048 * 2048 * 4096);

/// Deterministic masks with many islands of different sizes (ties too).
fn islands(seed: u64, dim: (usize, usize, usize)) -> Mask {
    let mut x = seed;
    let data = Array3::from_shape_fn(dim, |_| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        u8::from((x >> 33).is_multiple_of(3))
    });
    Mask {
        data,
        geometry: Default::default(),
    }
}

#[test]
fn largest_island_in_place_matches_the_reference() {
    for seed in 0..12 {
        let mask = islands(seed, (7 + seed as usize % 3, 11, 13));
        let mut fast = mask.clone();
        keep_largest_in_place(&mut fast);
        assert_eq!(fast.data, keep_largest(&mask).data, "seed {seed}");
    }
    let mut empty = Mask {
        data: Array3::zeros((3, 4, 5)),
        geometry: Default::default(),
    };
    keep_largest_in_place(&mut empty);
    assert!(empty.data.iter().all(|&v| v == 0));
}
