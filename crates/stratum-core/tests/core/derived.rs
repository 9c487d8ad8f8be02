//! DICOM objects derived from a study: SEG (checked by dciodvfy, read back
//! by highdicom and by Stratum with the same voxels) and Encapsulated STL /
//! OBJ / MTL (checked by dciodvfy; the STL inside is the exported STL byte
//! for byte).

use std::path::Path;
use std::process::Command;

use stratum_core::convert::{ConvertOptions, SegmentSource, convert, load_labels_for};
use stratum_core::derived::{SegAlgorithm, SegSegment, Source, read_seg, write_seg};
use stratum_core::dicom::synth::{SynthOptions, write_series};
use stratum_core::segment::{LabelMap, Mask};
use stratum_core::{base::progress::Progress, read::open::OpenOptions, read::open::open_volume};

/// dciodvfy's error lines for `path` (`None` after a skip).
fn dciodvfy_errors(path: &Path) -> Option<Vec<String>> {
    let prog = crate::checks::program(
        "dciodvfy",
        "DICOM objects against their IOD",
        "apt-get install dicom3tools",
    )?;
    let out = Command::new(prog).arg(path).output().unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    println!("dciodvfy {}:\n{text}", path.display());
    Some(
        text.lines()
            .filter(|l| l.starts_with("Error"))
            .map(String::from)
            .collect(),
    )
}

/// Two segments on the synthetic series' grid: a block and a slab.
fn masks(v: &stratum_core::image::volume::Volume) -> (Mask, Mask) {
    let mut a = Mask::empty(v.dim(), v.geometry);
    let mut b = Mask::empty(v.dim(), v.geometry);
    let (nz, ny, nx) = v.dim();
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                if (3..9).contains(&z) && x < nx / 3 && y > 4 {
                    a.data[(z, y, x)] = 1;
                } else if (6..15).contains(&z) && y > 2 * ny / 3 {
                    b.data[(z, y, x)] = 1;
                }
            }
        }
    }
    (a, b)
}

#[test]
fn seg_passes_dciodvfy_and_reads_back_with_the_same_voxels_in_stratum_and_highdicom() {
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("ct");
    write_series(
        &series,
        &SynthOptions {
            slices: 20,
            ..SynthOptions::default()
        },
    )
    .unwrap();
    let volume = open_volume(&series, &OpenOptions::new(), &Progress::new())
        .unwrap()
        .volume;
    let (a, b) = masks(&volume);
    let source = Source::of_scan(&series, &OpenOptions::new(), &Progress::new()).unwrap();
    assert_eq!(source.instances.len(), 20);
    let seg_path = dir.path().join("organs.seg.dcm");
    let summary = write_seg(
        &seg_path,
        &[
            SegSegment {
                name: "liver",
                colour: [221, 130, 101],
                mask: &a,
                algorithm: SegAlgorithm::Manual,
            },
            SegSegment {
                name: "kidney_left",
                colour: [185, 102, 83],
                mask: &b,
                algorithm: SegAlgorithm::Automatic {
                    name: "Test model".into(),
                    version: "1.0".into(),
                },
            },
        ],
        &source,
        &Progress::new(),
    )
    .unwrap();
    assert_eq!(summary.frames, 6 + 9);

    // The expected label map: 1 = liver, 2 = kidney.
    let mut want = LabelMap::empty(volume.dim(), volume.geometry);
    want.add_segment("liver", &a);
    want.add_segment("kidney_left", &b);

    let back = read_seg(&seg_path).unwrap();
    let names: Vec<&str> = back.segments.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["liver", "kidney_left"]);
    // The colour survives the trip through CIELab to within rounding.
    let c = back.segments[0].colour;
    assert!(
        c.iter()
            .zip([221u8, 130, 101])
            .all(|(x, y)| x.abs_diff(y) <= 1),
        "{c:?}"
    );
    let on_grid = load_labels_for(&volume, &seg_path, None, &Progress::new()).unwrap();
    assert_eq!(on_grid.labels, want.labels, "read back through --labels");

    if let Some(errors) = dciodvfy_errors(&seg_path) {
        assert!(errors.is_empty(), "{errors:#?}");
    }

    // highdicom: the label of every voxel, per source image in stack order.
    if !crate::checks::python_modules(
        &["highdicom", "numpy"],
        "DICOM SEG with highdicom",
        "python3 -m pip install highdicom==0.28.2 (scripts/setup.sh)",
    ) {
        return;
    }
    let scan = stratum_core::dicom::scan(&series, &Progress::new()).unwrap();
    let s = &scan.series[0];
    let uids: Vec<String> = s
        .slices
        .iter()
        .map(|sl| s.files[sl.file].sop_instance_uid.clone())
        .collect();
    let raw = dir.path().join("highdicom.raw");
    let script = r#"
import sys, numpy as np, highdicom as hd
seg = hd.seg.segread(sys.argv[1])
uids = open(sys.argv[2]).read().split()
a = seg.get_pixels_by_source_instance(uids, combine_segments=True, assert_missing_frames_are_empty=True)
np.asarray(a, dtype=np.uint16).tofile(sys.argv[3])
print([s.SegmentLabel for s in seg.SegmentSequence], a.shape)
"#;
    let list = dir.path().join("uids.txt");
    std::fs::write(&list, uids.join("\n")).unwrap();
    let out = Command::new("python3")
        .args(["-c", script])
        .arg(&seg_path)
        .arg(&list)
        .arg(&raw)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "highdicom: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!("{}", String::from_utf8_lossy(&out.stdout));
    let bytes = std::fs::read(&raw).unwrap();
    let got: Vec<u16> = bytes
        .chunks(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    let (nz, ny, nx) = volume.dim();
    assert_eq!(got.len(), nz * ny * nx);
    let mut diff = 0;
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                diff += usize::from(got[(z * ny + y) * nx + x] != want.get(z, y, x));
            }
        }
    }
    assert_eq!(diff, 0, "voxels that differ in highdicom's reading");
}

#[test]
fn demo_labels_convert_to_seg_and_back_to_the_same_label_map() {
    let demo = crate::repo().join("assets/demo");
    let ct = demo.join("example_ct.nii.gz");
    let labels = demo.join("example_seg_fast_force_split.nii.gz");
    let names = demo.join("labels_total_ct.tsv");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("demo.seg.dcm");
    let opts = ConvertOptions {
        source: SegmentSource::Labels {
            path: labels.clone(),
            names: Some(names.clone()),
        },
        ..Default::default()
    };
    let (results, files) = convert(&ct, &out, &opts, &Progress::new()).unwrap();
    assert_eq!(files, vec![out.clone()]);
    assert!(results.len() > 50, "{}", results.len());
    let volume = open_volume(&ct, &OpenOptions::new(), &Progress::new())
        .unwrap()
        .volume;
    let want = load_labels_for(&volume, &labels, Some(&names), &Progress::new()).unwrap();
    let back = load_labels_for(&volume, &out, None, &Progress::new()).unwrap();
    // Segment numbers follow the segments present; compare by name.
    let name_of = |m: &LabelMap, id: u16| {
        m.segments
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.name.clone())
    };
    let (nz, ny, nx) = volume.dim();
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let (w, b) = (want.get(z, y, x), back.get(z, y, x));
                assert_eq!(name_of(&want, w), name_of(&back, b), "voxel {z},{y},{x}");
            }
        }
    }
    if let Some(errors) = dciodvfy_errors(&out) {
        assert!(errors.is_empty(), "{errors:#?}");
    }
}

#[test]
fn encapsulated_stl_holds_the_exported_stl_byte_for_byte_and_passes_dciodvfy() {
    let dir = tempfile::tempdir().unwrap();
    let series = dir.path().join("ct");
    write_series(
        &series,
        &SynthOptions {
            slices: 16,
            ..SynthOptions::default()
        },
    )
    .unwrap();
    let volume = open_volume(&series, &OpenOptions::new(), &Progress::new())
        .unwrap()
        .volume;
    let (lo, hi) = volume.voxels.min_max();
    let opts = ConvertOptions {
        source: SegmentSource::Threshold(0.5 * (lo + hi), hi),
        scan_texture: false,
        ..Default::default()
    };
    let stl = dir.path().join("model.stl");
    convert(&series, &stl, &opts, &Progress::new()).unwrap();
    let dcm = dir.path().join("model.stl.dcm");
    let (_, files) = convert(&series, &dcm, &opts, &Progress::new()).unwrap();
    assert_eq!(files, vec![dcm.clone()]);
    let obj = dicom_object::open_file(&dcm).unwrap();
    let t = dicom_dictionary_std::tags::ENCAPSULATED_DOCUMENT;
    let doc = obj.element(t).unwrap().to_bytes().unwrap().to_vec();
    let len = obj
        .element(dicom_dictionary_std::tags::ENCAPSULATED_DOCUMENT_LENGTH)
        .unwrap()
        .to_int::<usize>()
        .unwrap();
    assert_eq!(
        &doc[..len],
        std::fs::read(&stl).unwrap().as_slice(),
        "the STL inside differs from the export"
    );
    let s = |tag| {
        obj.element(tag)
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end_matches('\0')
            .to_string()
    };
    assert_eq!(s(dicom_dictionary_std::tags::MODALITY), "M3D");
    let source = Source::of_scan(&series, &OpenOptions::new(), &Progress::new()).unwrap();
    assert_eq!(
        s(dicom_dictionary_std::tags::STUDY_INSTANCE_UID),
        source.study_uid
    );
    assert_eq!(
        s(dicom_dictionary_std::tags::FRAME_OF_REFERENCE_UID),
        source.frame_of_reference_uid
    );
    if let Some(errors) = dciodvfy_errors(&dcm) {
        assert!(errors.is_empty(), "{errors:#?}");
    }

    // OBJ + MTL: two objects, both valid; the OBJ inside is the flat export's.
    let objdcm = dir.path().join("model.obj.dcm");
    let (_, files) = convert(&series, &objdcm, &opts, &Progress::new()).unwrap();
    assert_eq!(files.len(), 2);
    let plain = dir.path().join("plain");
    convert(
        &series,
        &plain.join("model.obj"),
        &ConvertOptions {
            scan_texture: false,
            ..opts.clone()
        },
        &Progress::new(),
    )
    .unwrap();
    let o = dicom_object::open_file(&objdcm).unwrap();
    let len = o
        .element(dicom_dictionary_std::tags::ENCAPSULATED_DOCUMENT_LENGTH)
        .unwrap()
        .to_int::<usize>()
        .unwrap();
    assert_eq!(
        &o.element(t).unwrap().to_bytes().unwrap()[..len],
        std::fs::read(plain.join("model.obj")).unwrap().as_slice()
    );
    // dicom3tools' dciodvfy of Debian 12 (2022) predates the Encapsulated
    // OBJ and MTL IODs: it can only say it does not know them.
    for f in &files {
        if let Some(errors) = dciodvfy_errors(f) {
            let errors: Vec<_> = errors
                .iter()
                .filter(|e| !e.contains("Information Object Not found"))
                .collect();
            assert!(errors.is_empty(), "{}: {errors:#?}", f.display());
        }
    }

    // --split: one object per segment.
    let split = dir.path().join("parts.stl.dcm");
    let (_, files) = convert(
        &series,
        &split,
        &ConvertOptions {
            split: true,
            ..opts
        },
        &Progress::new(),
    )
    .unwrap();
    assert_eq!(files.len(), 1);
    assert!(
        files[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .ends_with(".stl.dcm"),
        "{files:?}"
    );
}
