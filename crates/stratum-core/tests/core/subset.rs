//! Part of a DICOM series, for a study the memory cannot hold: a range of
//! slices is exactly those slices of the whole, a downsampled copy holds
//! the block means where the blocks' centres are, and a session remembers
//! which part it was made on.

use stratum_core::dicom::synth::{SynthOptions, write_series};
use stratum_core::dicom::{Subset, scan};
use stratum_core::read::open::{OpenOptions, open_volume};
use stratum_core::session::scan::{ScanRef, open_scan};
use stratum_core::{base::progress::Progress, image::volume::Volume};

fn open(dir: &std::path::Path, subset: Subset) -> Volume {
    let opts = OpenOptions {
        subset,
        ..OpenOptions::default()
    };
    open_volume(dir, &opts, &Progress::new()).unwrap().volume
}

fn close(a: [f64; 3], b: [f64; 3]) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6)
}

#[test]
fn a_range_of_slices_is_exactly_those_slices_of_the_whole_series() {
    let dir = tempfile::tempdir().unwrap();
    write_series(dir.path(), &SynthOptions::default()).unwrap();
    let whole = open(dir.path(), Subset::default());
    let part = open(
        dir.path(),
        Subset {
            slices: Some((5, 12)),
            downsample: 1,
        },
    );
    let (_, ny, nx) = whole.dim();
    assert_eq!(part.dim(), (8, ny, nx));
    for z in 0..8 {
        for (y, x) in [(0, 0), (20, 30), (ny - 1, nx - 1)] {
            assert_eq!(part.voxels.get(z, y, x), whole.voxels.get(z + 4, y, x));
        }
    }
    assert!(close(part.voxel_lps(3, 7, 2), whole.voxel_lps(3, 7, 6)));
}

#[test]
fn a_downsampled_series_holds_block_means_at_the_block_centres() {
    let dir = tempfile::tempdir().unwrap();
    // 64 x 48 x 21: the 21st slice is past the last whole block of 2.
    let o = SynthOptions {
        slices: 21,
        ..SynthOptions::default()
    };
    write_series(dir.path(), &o).unwrap();
    let whole = open(dir.path(), Subset::default());
    let half = open(
        dir.path(),
        Subset {
            slices: None,
            downsample: 2,
        },
    );
    assert_eq!(half.dim(), (10, 24, 32));
    assert_eq!(half.voxels.type_name(), whole.voxels.type_name());
    for (z, y, x) in [(0, 0, 0), (4, 12, 16), (9, 23, 31), (3, 5, 20)] {
        let mut sum = 0.0;
        for (dz, dy, dx) in (0..8).map(|k| (k / 4, (k / 2) % 2, k % 2)) {
            sum += whole
                .voxels
                .get(2 * z + dz, 2 * y + dy, 2 * x + dx)
                .unwrap();
        }
        let mean = (sum / 8.0).round();
        assert_eq!(half.voxels.get(z, y, x), Some(mean), "voxel {z},{y},{x}");
        // The coarse voxel sits at the centre of the eight it averages.
        let centre = whole.geometry.index_to_lps([
            2.0 * x as f64 + 0.5,
            2.0 * y as f64 + 0.5,
            2.0 * z as f64 + 0.5,
        ]);
        assert!(
            close(half.voxel_lps(x, y, z), centre),
            "{:?} vs {centre:?}",
            half.voxel_lps(x, y, z)
        );
    }
}

#[test]
fn a_range_past_the_series_or_a_nifti_subset_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    write_series(dir.path(), &SynthOptions::default()).unwrap();
    let opts = OpenOptions {
        subset: Subset {
            slices: Some((5, 40)),
            downsample: 1,
        },
        ..OpenOptions::default()
    };
    let err = open_volume(dir.path(), &opts, &Progress::new()).unwrap_err();
    assert!(err.to_string().contains("the series has 20"), "{err}");
    let nifti = dir.path().join("x.nii.gz");
    std::fs::write(&nifti, b"not read").unwrap();
    let err = open_volume(&nifti, &opts, &Progress::new()).unwrap_err();
    assert!(err.to_string().contains("read whole"), "{err}");
    assert!(Subset::parse_range("12-3").is_err());
    assert!(Subset::parse_range("0-3").is_err());
    assert_eq!(Subset::parse_range("3-12"), Ok((3, 12)));
}

#[test]
fn a_session_reopens_the_part_of_the_series_it_was_made_on() {
    let root = tempfile::tempdir().unwrap();
    let series = root.path().join("series");
    write_series(&series, &SynthOptions::default()).unwrap();
    let subset = Subset {
        slices: Some((3, 18)),
        downsample: 2,
    };
    let part = open(&series, subset);
    let uid = scan(&series, &Progress::new()).unwrap().series[0]
        .series_uid
        .clone();
    let mut r = ScanRef::new(&series, Some(uid), &part);
    r.subset = subset;
    let json = serde_json::to_string(&r).unwrap();
    let back: ScanRef = serde_json::from_str(&json).unwrap();
    assert_eq!(back.subset, subset);
    let check = open_scan(&back, root.path(), &Progress::new()).unwrap();
    assert!(
        matches!(
            check.status,
            stratum_core::session::scan::ScanStatus::Found(_)
        ),
        "{:?}",
        check.status
    );
    // A whole-series reference written before subsets existed still reads.
    let mut old: serde_json::Value = serde_json::from_str(&json).unwrap();
    old.as_object_mut().unwrap().remove("subset");
    let whole: ScanRef = serde_json::from_value(old).unwrap();
    assert!(whole.subset.is_whole());
}
