//! De-identification: PS3.15 basic profile, consistent UIDs, untouched
//! pixels, untouched input.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use stratum_core::base::progress::Progress;
use stratum_core::dicom::synth::{self, SynthOptions, write_series};
use stratum_core::dicom::{load_series, scan};
use stratum_core::privacy::anonymize::{Action, BASIC_PROFILE, anonymize};

fn text(obj: &dicom_object::InMemDicomObject, tag: Tag) -> Option<String> {
    obj.get(tag).and_then(|e| {
        e.to_str()
            .ok()
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string())
    })
}

fn pixel_bytes(obj: &dicom_object::DefaultDicomObject) -> Vec<u8> {
    let e = obj.get(tags::PIXEL_DATA).expect("pixel data");
    match e.value() {
        dicom_core::value::Value::PixelSequence(seq) => {
            seq.fragments().iter().flatten().copied().collect()
        }
        v => v.to_bytes().unwrap().to_vec(),
    }
}

fn files_under(p: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walk(p);
    v.sort();
    v
}

fn walk(p: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(p).unwrap() {
        let e = e.unwrap().path();
        if e.is_dir() {
            out.extend(walk(&e));
        } else {
            out.push(e);
        }
    }
    out
}

fn hash_tree(p: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files_under(p)
        .into_iter()
        .map(|f| {
            let b = std::fs::read(&f).unwrap();
            (f, b)
        })
        .collect()
}

fn check_profile(input: &Path, rle: bool) {
    let out = tempfile::tempdir().unwrap();
    let before = hash_tree(input);
    let summary = anonymize(input, out.path(), &Progress::new()).unwrap();
    assert_eq!(hash_tree(input), before, "the input must not change");
    assert_eq!(summary.files_written, before.len());

    // Original values by SOP Instance UID.
    let originals: HashMap<i32, dicom_object::DefaultDicomObject> = files_under(input)
        .into_iter()
        .map(|f| {
            let o = dicom_object::open_file(&f).unwrap();
            (text(&o, tags::INSTANCE_NUMBER).unwrap().parse().unwrap(), o)
        })
        .collect();
    let mut new_by_old_sop: HashMap<String, String> = HashMap::new();
    let mut outputs = Vec::new();
    for f in files_under(out.path()) {
        let raw = std::fs::read(&f).unwrap();
        for secret in [
            synth::FAKE_PATIENT_NAME,
            synth::FAKE_PATIENT_ID,
            synth::FAKE_BIRTH_DATE,
            synth::FAKE_INSTITUTION,
            "DOE^JANE",
            "ACC-4455",
            "WHO^DOCTOR",
        ] {
            assert!(
                !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} still holds {secret}",
                f.display()
            );
        }
        let o = dicom_object::open_file(&f).unwrap();
        let n: i32 = text(&o, tags::INSTANCE_NUMBER).unwrap().parse().unwrap();
        let orig = &originals[&n];
        for (g, e, action) in BASIC_PROFILE {
            let tag = Tag(*g, *e);
            let Some(old) = text(orig, tag).filter(|s| !s.is_empty()) else {
                continue;
            };
            let new = text(&o, tag);
            match action {
                Action::K => {}
                _ => assert!(
                    new.as_deref() != Some(old.as_str()),
                    "{tag} kept its original value under action {action:?}"
                ),
            }
        }
        assert!(
            o.tags().all(|t| t.group() % 2 == 0),
            "private attributes removed"
        );
        assert_eq!(
            text(&o, tags::PATIENT_IDENTITY_REMOVED).as_deref(),
            Some("YES")
        );
        assert!(
            text(&o, tags::DEIDENTIFICATION_METHOD)
                .unwrap()
                .contains("PS3.15")
        );
        assert_eq!(
            pixel_bytes(&o),
            pixel_bytes(orig),
            "pixel data must be bit-identical"
        );
        assert_eq!(
            o.meta().transfer_syntax().trim_end_matches('\0'),
            orig.meta().transfer_syntax().trim_end_matches('\0')
        );
        let sop = text(&o, tags::SOP_INSTANCE_UID).unwrap();
        assert_eq!(
            o.meta()
                .media_storage_sop_instance_uid()
                .trim_end_matches('\0'),
            sop
        );
        assert!(sop.starts_with("2.25."));
        new_by_old_sop.insert(text(orig, tags::SOP_INSTANCE_UID).unwrap(), sop);
        outputs.push((o, orig.clone()));
    }
    // References still match after remapping, and series/study UIDs are shared.
    let series: std::collections::HashSet<_> = outputs
        .iter()
        .map(|(o, _)| text(o, tags::SERIES_INSTANCE_UID).unwrap())
        .collect();
    assert_eq!(series.len(), 1);
    for (o, orig) in &outputs {
        if let Some(seq) = orig.get(tags::REFERENCED_IMAGE_SEQUENCE) {
            let old_ref =
                text(&seq.items().unwrap()[0], tags::REFERENCED_SOP_INSTANCE_UID).unwrap();
            let new_seq = o.get(tags::REFERENCED_IMAGE_SEQUENCE).unwrap();
            let new_ref = text(
                &new_seq.items().unwrap()[0],
                tags::REFERENCED_SOP_INSTANCE_UID,
            )
            .unwrap();
            assert_eq!(
                new_ref, new_by_old_sop[&old_ref],
                "reference remapped consistently"
            );
        }
    }
    // The anonymized copy is still the same volume.
    let a = load_series(
        &scan(input, &Progress::new()).unwrap().series[0],
        &Progress::new(),
    )
    .unwrap();
    let b = load_series(
        &scan(out.path(), &Progress::new()).unwrap().series[0],
        &Progress::new(),
    )
    .unwrap();
    assert_eq!(a.volume.voxels, b.volume.voxels, "rle={rle}");
    assert_eq!(a.volume.geometry, b.volume.geometry);
}

#[test]
fn basic_profile_removes_or_replaces_every_listed_value() {
    let dir = tempfile::tempdir().unwrap();
    write_series(dir.path(), &SynthOptions::default()).unwrap();
    check_profile(dir.path(), false);
}

#[test]
fn anonymizing_rle_keeps_compressed_pixels_bit_identical() {
    let dir = tempfile::tempdir().unwrap();
    write_series(
        dir.path(),
        &SynthOptions {
            rle: true,
            slices: 6,
            ..SynthOptions::default()
        },
    )
    .unwrap();
    check_profile(dir.path(), true);
}

#[test]
fn output_inside_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    write_series(
        dir.path(),
        &SynthOptions {
            slices: 3,
            ..SynthOptions::default()
        },
    )
    .unwrap();
    let e = anonymize(dir.path(), &dir.path().join("anon"), &Progress::new()).unwrap_err();
    assert!(e.to_string().contains("inside the input folder"), "{e}");
}

#[test]
fn real_series_loses_its_identifying_values() {
    let input = crate::shared_data().join("ct_philips_phantom_5mm");
    let first = files_under(&input)
        .into_iter()
        .find(|f| f.file_name().unwrap() == "I10")
        .unwrap();
    let orig = dicom_object::open_file(&first).unwrap();
    let secrets: Vec<String> = [
        tags::PATIENT_NAME,
        tags::PATIENT_ID,
        tags::INSTITUTION_NAME,
        tags::STATION_NAME,
    ]
    .iter()
    .filter_map(|t| text(&orig, *t))
    .filter(|s| s.len() >= 4)
    .collect();
    assert!(!secrets.is_empty());
    let out = tempfile::tempdir().unwrap();
    let summary = anonymize(&input, out.path(), &Progress::new()).unwrap();
    assert_eq!(summary.files_written, 28);
    assert_eq!(summary.ignored, 2);
    for f in files_under(out.path()) {
        let raw = std::fs::read(&f).unwrap();
        for s in &secrets {
            assert!(
                !raw.windows(s.len()).any(|w| w == s.as_bytes()),
                "{} keeps an identifying value",
                f.display()
            );
        }
    }
}
