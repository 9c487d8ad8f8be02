//! Siemens mosaics: the nine transfer syntaxes of one EPI mosaic unpack to
//! the same 35-slice volume, voxel for voxel, and match dcm2niix's NIfTI.

use stratum_core::dicom::scan;
use stratum_core::read::nifti::load_nifti;
use stratum_core::read::open::inspect_series;
use stratum_core::{base::progress::Progress, image::volume::Volume};

use crate::shared_data;

/// Opens one mosaic file as a volume.
fn open_mosaic(path: &std::path::Path) -> Volume {
    let s = scan(path, &Progress::new()).unwrap();
    assert_eq!(s.series.len(), 1, "{}", path.display());
    let series = &s.series[0];
    assert_eq!((series.columns, series.rows), (64, 64));
    assert_eq!(series.slices.len(), 35);
    let (report, volume) = inspect_series(series, true, &Progress::new());
    assert!(!report.has_errors(), "{report:#?}");
    volume.unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every voxel of `ours` sits on a voxel of `reference` (same LPS position
/// within 0.01 mm) and has its value.
fn assert_same_voxels_in_space(ours: &Volume, reference: &Volume, name: &str) {
    let (nz, ny, nx) = ours.dim();
    assert_eq!(nz * ny * nx, {
        let (a, b, c) = reference.dim();
        a * b * c
    });
    let mut compared = 0;
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let p = ours.voxel_lps(x, y, z);
                let i = reference.geometry.lps_to_index(p);
                let r = i.map(f64::round);
                for a in 0..3 {
                    let off = (i[a] - r[a]).abs() * reference.geometry.spacing[a];
                    assert!(
                        off < 0.01,
                        "{name}: voxel {x},{y},{z} is {off} mm off the reference grid"
                    );
                }
                let v = reference
                    .voxels
                    .get(r[2] as usize, r[1] as usize, r[0] as usize)
                    .unwrap_or_else(|| panic!("{name}: voxel {x},{y},{z} outside the reference"));
                assert_eq!(
                    ours.voxels.get(z, y, x),
                    Some(v),
                    "{name}: voxel {x},{y},{z}"
                );
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 35 * 64 * 64);
}

#[test]
fn nine_transfer_syntaxes_of_a_mosaic_unpack_to_dcm2niix_volume() {
    let root = shared_data().join("mr_siemens_mosaic_9_transfer_syntaxes");
    let first = open_mosaic(&root.join("In/1.dcm"));
    assert_eq!(first.dim(), (35, 64, 64));
    let g = &first.geometry;
    assert!((g.spacing[0] - 3.25).abs() < 1e-9 && (g.spacing[1] - 3.25).abs() < 1e-9);
    assert!((g.spacing[2] - 3.6).abs() < 1e-6, "{g:?}");
    assert!(g.is_orthogonal());
    for i in 1..=9 {
        let v = open_mosaic(&root.join(format!("In/{i}.dcm")));
        assert_eq!(v.voxels, first.voxels, "{i}.dcm differs from 1.dcm");
        assert_eq!(v.geometry, first.geometry, "{i}.dcm");
        let reference = load_nifti(&root.join(format!("Ref/{i}.nii")), &Progress::new()).unwrap();
        assert_same_voxels_in_space(&v, &reference, &format!("{i}.dcm"));
    }
}
