//! Correcting motion between slices in the headless app: a scan whose
//! slices moved opens with a motion warning; Re-align swaps in the
//! corrected volume, notes it in the checklist and in the session's scan
//! reference; Undo puts the scan back as loaded.

use std::path::Path;
use std::time::Duration;

use stratum::app::features::loading::OpenRequest;
use stratum::app::features::realign::RealignAction;
use stratum::app::features::session::SessionState;
use stratum::app::state::study::Study;
use stratum_core::checks::Status;
use stratum_core::{base::progress::Progress, image::volume::Volume, image::volume::Voxels};

use super::{errors, headless, run_until_idle};

/// Writes an int16 volume as an uncompressed NIfTI-1 file (sform from its
/// geometry, LPS to RAS): enough for the test to hand the app a scan.
pub(crate) fn write_nii(path: &Path, v: &Volume) {
    let Voxels::I16(a) = &v.voxels else {
        panic!("an int16 volume")
    };
    let (nz, ny, nx) = a.dim();
    let g = &v.geometry;
    let mut h = vec![0u8; 352];
    let put_i16 =
        |h: &mut Vec<u8>, at: usize, x: i16| h[at..at + 2].copy_from_slice(&x.to_le_bytes());
    let put_f32 =
        |h: &mut Vec<u8>, at: usize, x: f32| h[at..at + 4].copy_from_slice(&x.to_le_bytes());
    h[0..4].copy_from_slice(&348i32.to_le_bytes());
    for (i, d) in [3, nx, ny, nz, 1, 1, 1, 1].into_iter().enumerate() {
        put_i16(&mut h, 40 + 2 * i, d as i16);
    }
    put_i16(&mut h, 70, 4); // datatype: int16
    put_i16(&mut h, 72, 16); // bitpix
    for (i, p) in [
        1.0,
        g.spacing[0],
        g.spacing[1],
        g.spacing[2],
        1.0,
        1.0,
        1.0,
        1.0,
    ]
    .into_iter()
    .enumerate()
    {
        put_f32(&mut h, 76 + 4 * i, p as f32);
    }
    put_f32(&mut h, 108, 352.0); // vox_offset
    put_f32(&mut h, 112, 1.0); // scl_slope
    h[123] = 2; // xyzt_units: mm
    put_i16(&mut h, 254, 1); // sform_code
    for r in 0..3 {
        let sign = if r < 2 { -1.0 } else { 1.0 };
        for c in 0..3 {
            put_f32(
                &mut h,
                280 + 16 * r + 4 * c,
                (sign * g.direction[c][r] * g.spacing[c]) as f32,
            );
        }
        put_f32(&mut h, 280 + 16 * r + 12, (sign * g.origin[r]) as f32);
    }
    h[344..348].copy_from_slice(b"n+1\0");
    for x in a.iter() {
        h.extend_from_slice(&x.to_le_bytes());
    }
    std::fs::write(path, h).unwrap();
}

/// The demo CT with slices `first..=last` (0-based) moved `dx` whole
/// pixels along x (edges repeated).
pub(crate) fn demo_with_moved_slices(first: usize, last: usize, dx: isize) -> Volume {
    let demo = stratum::app::features::demo::materialize().unwrap();
    let v = stratum_core::read::nifti::load_nifti(&demo.ct, &Progress::new()).unwrap();
    let Voxels::I16(a) = &v.voxels else {
        panic!("the demo CT is int16")
    };
    let (_, _, nx) = a.dim();
    let mut moved = a.clone();
    for ((z, y, x), out) in moved.indexed_iter_mut() {
        if (first..=last).contains(&z) {
            let sx = (x as isize - dx).clamp(0, nx as isize - 1) as usize;
            *out = a[(z, y, sx)];
        }
    }
    Volume::new(Voxels::I16(moved), v.geometry, v.modality.clone())
}

#[test]
fn moved_slices_are_realigned_noted_saved_with_the_session_and_undone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("moved.nii");
    let moved = demo_with_moved_slices(50, 57, 2);
    write_nii(&path, &moved);
    let mut app = headless();
    app.world_mut().write_message(OpenRequest {
        path: path.clone(),
        series: None,
        labels: None,
        subset: Default::default(),
    });
    run_until_idle(&mut app, Duration::from_secs(300));
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    let (loaded, line) = {
        let study = app.world().resource::<Study>();
        let line = study.report.get("motion").expect("a motion line").clone();
        (study.volume.clone(), line)
    };
    assert_eq!(loaded.voxels, moved.voxels);
    assert_eq!(line.status, Status::Warning);
    assert!(
        line.message.contains("slices 51-58 shifted"),
        "{}",
        line.message
    );

    app.world_mut().write_message(RealignAction::Apply);
    run_until_idle(&mut app, Duration::from_secs(300));
    assert!(errors(&app).is_empty(), "{:?}", errors(&app));
    {
        let study = app.world().resource::<Study>();
        assert_ne!(
            study.volume.voxels, loaded.voxels,
            "the volume was corrected"
        );
        let note = study
            .report
            .get("motion_correction")
            .expect("the correction is noted in the checklist");
        assert!(note.message.contains("slices 51-58"), "{}", note.message);
        // Slices outside the plan are untouched.
        let (Voxels::I16(a), Voxels::I16(b)) = (&study.volume.voxels, &loaded.voxels) else {
            unreachable!()
        };
        let axis = ndarray::Axis(0);
        assert_eq!(a.index_axis(axis, 10), b.index_axis(axis, 10));
    }
    // The session's scan reference says how to open the scan again.
    let plan = app
        .world()
        .resource::<SessionState>()
        .scan
        .as_ref()
        .expect("the scan was indexed again")
        .realign
        .clone()
        .expect("the re-alignment is in the scan reference");
    assert_eq!(plan.slices.len(), 8);
    assert!(plan.slices.iter().all(|s| (51..=58).contains(&s.slice)));

    app.world_mut().write_message(RealignAction::Undo);
    run_until_idle(&mut app, Duration::from_secs(60));
    let study = app.world().resource::<Study>();
    assert!(std::sync::Arc::ptr_eq(&study.volume, &loaded));
    assert!(study.report.get("motion_correction").is_none());
    let state = app.world().resource::<SessionState>();
    assert!(state.scan.as_ref().is_some_and(|s| s.realign.is_none()));
}
