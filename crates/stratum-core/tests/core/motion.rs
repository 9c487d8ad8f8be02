//! Motion between slices: phantoms with known in-plane shifts, real series
//! with shifts injected, real series as they are, and the re-alignment.

use ndarray::{Array3, Axis};
use stratum_core::checks::fitness::ScanFacts;
use stratum_core::checks::motion::{
    DecodeProfiles, MotionReport, detect_motion, detect_motion_with,
};
use stratum_core::checks::realign::{Realign, Realignment, realign};
use stratum_core::checks::{SeriesReport, Status};
use stratum_core::read::open::{OpenOptions, check_pixels, inspect_series, open_volume};
use stratum_core::{
    base::progress::Progress, image::volume::Geometry, image::volume::Volume, image::volume::Voxels,
};

use crate::shared_data;

/// Deterministic standard normal numbers (xorshift + Box-Muller).
struct Noise(u64);

impl Noise {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// A soft edge: 1 inside (d < 0), 0 outside, over about a millimetre.
fn inside(d: f64) -> f64 {
    1.0 / (1.0 + (d / 0.35).exp())
}

/// An ellipse's signed distance, roughly (mm).
fn ellipse(x: f64, y: f64, cx: f64, cy: f64, a: f64, b: f64) -> f64 {
    let r = (((x - cx) / a).powi(2) + ((y - cy) / b).powi(2)).sqrt();
    (r - 1.0) * a.min(b)
}

/// A torso in HU at patient position (x, y) mm on the slice at height z
/// mm: fat and muscle, a spine with cortex, two kidneys, a liver whose dome
/// sits at `dome` mm, lungs above it; shapes change slowly with z.
fn torso(x: f64, y: f64, z: f64, dome: f64) -> f64 {
    let a = 150.0 + 12.0 * (z / 45.0).sin();
    let b = 105.0 + 6.0 * (z / 30.0).cos();
    let body = inside(ellipse(x, y, 0.0, 0.0, a, b));
    let muscle = inside(ellipse(x, y, 0.0, 0.0, a - 14.0, b - 12.0));
    let mut hu = -1000.0 + body * 910.0 + muscle * 130.0;
    let above = inside(dome - z);
    // Lungs above the dome, liver below it.
    let lung_l = inside(ellipse(x, y, 60.0, -5.0, 50.0, 60.0)) * above;
    let lung_r = inside(ellipse(x, y, -60.0, -5.0, 50.0, 60.0)) * above;
    hu += (lung_l + lung_r) * (-820.0 - 40.0);
    let liver = inside(ellipse(x, y, -55.0 + 0.2 * z, -10.0, 55.0, 50.0)) * (1.0 - above);
    hu += liver * 45.0;
    for side in [-1.0, 1.0] {
        let kidney = inside(ellipse(x, y, side * 65.0, 40.0, 22.0, 32.0 + 0.1 * z)) * (1.0 - above);
        hu += kidney * (150.0 - 40.0);
    }
    let spine = ellipse(x, y, 0.0, 62.0 + 0.05 * z, 18.0, 16.0);
    hu += inside(spine) * 660.0 + inside(spine) * (1.0 - inside(spine + 3.0)) * 400.0;
    // A rib arc, cut at an angle that moves with z.
    let rib = ((x.powi(2) + (y - 10.0).powi(2)).sqrt() - (a - 8.0)).abs() - 3.0;
    let arc = ((y - 10.0).atan2(x) + 0.004 * z).sin().abs();
    hu += inside(rib) * (arc > 0.85) as i32 as f64 * 800.0;
    hu
}

/// A phantom CT stack: `nz` slices of n x n pixels of `px` mm, `dz` apart,
/// noise of `sd` HU; `shift(z)` displaces slice z's content in-plane (mm,
/// x then y, LPS: patient left, back), `dome(z)` where the liver dome lies
/// when slice z is taken (breathing).
fn phantom(
    nz: usize,
    n: usize,
    px: f64,
    dz: f64,
    sd: f64,
    shift: impl Fn(usize) -> [f64; 2],
    dome: impl Fn(usize) -> f64,
) -> Volume {
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let half = (n as f64 - 1.0) / 2.0 * px;
    let mut data = Vec::with_capacity(nz * n * n);
    for z in 0..nz {
        let s = shift(z);
        let zz = z as f64 * dz;
        let d = dome(z);
        for y in 0..n {
            for x in 0..n {
                let (u, v) = (x as f64 * px - half - s[0], y as f64 * px - half - s[1]);
                let hu = torso(u, v, zz, d) + sd * noise.normal();
                data.push(hu.round().clamp(-1024.0, 3000.0) as i16);
            }
        }
    }
    let geometry = Geometry {
        origin: [-half, -half, 0.0],
        spacing: [px, px, dz],
        ..Geometry::default()
    };
    Volume::new(
        Voxels::I16(Array3::from_shape_vec((nz, n, n), data).unwrap()),
        geometry,
        "CT",
    )
}

fn detect(v: &Volume) -> MotionReport {
    detect_motion(v, None, &Progress::new()).unwrap()
}

/// Exactly one finding, on slices `first..=last` (1-based), within 0.3 mm.
fn assert_found(m: &MotionReport, first: usize, last: usize, shift: [f64; 2], case: &str) {
    assert_found_within(m, first, last, shift, 0.3, case)
}

fn assert_found_within(
    m: &MotionReport,
    first: usize,
    last: usize,
    shift: [f64; 2],
    tolerance: f64,
    case: &str,
) {
    assert_eq!(m.findings.len(), 1, "{case}: {m:#?}");
    let f = &m.findings[0];
    assert_eq!((f.first, f.last), (first, last), "{case}: {f:#?}");
    let err = (f.shift_mm[0] - shift[0]).hypot(f.shift_mm[1] - shift[1]);
    assert!(
        err <= tolerance,
        "{case}: measured {:?}, true {shift:?}",
        f.shift_mm
    );
    assert!(f.correctable, "{case}: {f:#?}");
}

const NO_BREATH: fn(usize) -> f64 = |_| 88.0;

#[test]
fn phantom_shifts_of_1_2_and_5_mm_are_found_on_the_right_slices() {
    // Every combination of 1, 2 and 5 mm, 3 and 10 slices, x and y, each
    // block starting somewhere else: (shift mm, along x?, first moved
    // slice (0-based), how many).
    let mut cases = Vec::new();
    for (i, mm) in [1.0, 2.0, 5.0].into_iter().enumerate() {
        for (j, count) in [3usize, 10].into_iter().enumerate() {
            for (k, along_x) in [true, false].into_iter().enumerate() {
                let start = 6 + (7 * i + 11 * j + 5 * k) % 25;
                cases.push((mm, along_x, start, count));
            }
        }
    }
    for (mm, along_x, start, count) in cases {
        let truth = if along_x { [mm, 0.0] } else { [0.0, mm] };
        let v = phantom(
            48,
            192,
            0.9,
            2.0,
            15.0,
            |z| {
                if (start..start + count).contains(&z) {
                    truth
                } else {
                    [0.0; 2]
                }
            },
            NO_BREATH,
        );
        let m = detect(&v);
        let case = format!(
            "{mm} mm along {} on {count} slices",
            if along_x { "x" } else { "y" }
        );
        assert_found(&m, start + 1, start + count, truth, &case);
        let f = &m.findings[0];
        let side = match (along_x, mm > 0.0) {
            (true, _) => "to the patient's left",
            (false, _) => "towards the back",
        };
        assert!(f.description.contains(side), "{case}: {}", f.description);
        assert!(
            f.description
                .contains(&format!("against {} and {}", start, start + count + 1)),
            "{case}: {}",
            f.description
        );
    }
}

#[test]
fn diagonal_and_negative_shifts_are_found() {
    for truth in [[-2.0, 1.5], [3.0, -3.0]] {
        let v = phantom(
            40,
            160,
            1.0,
            2.5,
            20.0,
            |z| {
                if (18..23).contains(&z) {
                    truth
                } else {
                    [0.0; 2]
                }
            },
            NO_BREATH,
        );
        assert_found(&detect(&v), 19, 23, truth, &format!("{truth:?}"));
    }
}

#[test]
fn a_phantom_without_motion_reports_none_nor_does_breathing() {
    let still = phantom(48, 192, 0.9, 2.0, 15.0, |_| [0.0; 2], NO_BREATH);
    let m = detect(&still);
    assert!(m.findings.is_empty(), "{m:#?}");
    assert!(m.jitter_mm < 0.2, "{m:#?}");
    // Breathing during the scan: the liver dome slides up and down by up
    // to 15 mm from slice to slice; the body stays where it is.
    let breathing = phantom(
        48,
        192,
        0.9,
        2.0,
        15.0,
        |_| [0.0; 2],
        |z| 50.0 + 15.0 * (z as f64 * 1.3).sin(),
    );
    let m = detect(&breathing);
    assert!(m.findings.is_empty(), "{m:#?}");
}

#[test]
fn a_turned_block_is_reported_as_not_correctable() {
    // Slices 20-25 turned by 4 degrees about the body's centre, and shifted.
    let base = phantom(44, 160, 1.0, 2.5, 10.0, |_| [0.0; 2], NO_BREATH);
    let Voxels::I16(a) = &base.voxels else {
        unreachable!()
    };
    let mut turned = a.clone();
    let (angle, n) = (4f64.to_radians(), 160usize);
    let c = (n as f64 - 1.0) / 2.0;
    for z in 19..25 {
        for y in 0..n {
            for x in 0..n {
                let (dx, dy) = (x as f64 - c, y as f64 - c);
                let sx = angle.cos() * dx + angle.sin() * dy + c - 2.0;
                let sy = -angle.sin() * dx + angle.cos() * dy + c;
                let (xi, yi) = (sx.round() as isize, sy.round() as isize);
                turned[(z, y, x)] =
                    if (0..n as isize).contains(&xi) && (0..n as isize).contains(&yi) {
                        a[(z, yi as usize, xi as usize)]
                    } else {
                        -1000
                    };
            }
        }
    }
    let v = Volume::new(Voxels::I16(turned), base.geometry, "CT");
    let m = detect(&v);
    assert_eq!(m.findings.len(), 1, "{m:#?}");
    let f = &m.findings[0];
    assert!(!f.correctable, "{f:#?}");
    assert!(
        f.description.contains("cannot be corrected") || f.description.contains("not corrected"),
        "{}",
        f.description
    );
    assert!(m.offer().is_none());
}

#[test]
fn realigning_the_offered_slices_removes_the_motion() {
    let truth = [2.0, -1.0];
    let moved = phantom(
        40,
        160,
        1.0,
        2.5,
        10.0,
        |z| {
            if (10..16).contains(&z) {
                truth
            } else {
                [0.0; 2]
            }
        },
        NO_BREATH,
    );
    let m = detect(&moved);
    let plan = m.offer().expect("a correction is offered");
    assert_eq!(plan.slices.len(), 6);
    let fixed = realign(&moved, &plan).unwrap();
    let again = detect(&fixed);
    assert!(again.findings.is_empty(), "{again:#?}");
    // The corrected slices match the still phantom (noise and interpolation aside).
    let still = phantom(40, 160, 1.0, 2.5, 10.0, |_| [0.0; 2], NO_BREATH);
    let (Voxels::I16(a), Voxels::I16(b)) = (&fixed.voxels, &still.voxels) else {
        unreachable!()
    };
    let diff: f64 = a
        .index_axis(ndarray::Axis(0), 12)
        .iter()
        .zip(b.index_axis(ndarray::Axis(0), 12).iter())
        .map(|(p, q)| (*p as f64 - *q as f64).abs())
        .sum::<f64>()
        / (160.0 * 160.0);
    assert!(diff < 15.0, "mean difference {diff} HU");
    // Slices the plan does not name are untouched.
    let (Voxels::I16(orig), Voxels::I16(done)) = (&moved.voxels, &fixed.voxels) else {
        unreachable!()
    };
    assert_eq!(
        orig.index_axis(ndarray::Axis(0), 5),
        done.index_axis(ndarray::Axis(0), 5)
    );
}

/// Moves the content of slices `range` (0-based) by `shift` mm, bilinear,
/// edges clamped: the test's own injection, independent of the realigner.
fn inject(v: &Volume, range: std::ops::Range<usize>, shift: [f64; 2]) -> Volume {
    let a = v.voxels.to_f32();
    let (_, ny, nx) = a.dim();
    let (sx, sy) = (
        shift[0] / v.geometry.spacing[0],
        shift[1] / v.geometry.spacing[1],
    );
    let mut out = a.clone();
    for z in range {
        for y in 0..ny {
            for x in 0..nx {
                let (fx, fy) = (x as f64 - sx, y as f64 - sy);
                let at = |xx: f64, yy: f64| {
                    let xi = (xx as isize).clamp(0, nx as isize - 1) as usize;
                    let yi = (yy as isize).clamp(0, ny as isize - 1) as usize;
                    a[(z, yi, xi)] as f64
                };
                let (x0, y0) = (fx.floor(), fy.floor());
                let (tx, ty) = (fx - x0, fy - y0);
                let top = at(x0, y0) * (1.0 - tx) + at(x0 + 1.0, y0) * tx;
                let bottom = at(x0, y0 + 1.0) * (1.0 - tx) + at(x0 + 1.0, y0 + 1.0) * tx;
                out[(z, y, x)] = (top * (1.0 - ty) + bottom * ty) as f32;
            }
        }
    }
    Volume::new(Voxels::F32(out), v.geometry, v.modality.clone())
}

/// The real series of the shared data as loaded (before resampling), with
/// their slice positions.
fn real(case: &str) -> (Volume, Vec<[f64; 3]>) {
    let dir = shared_data().join(case);
    let scan = stratum_core::dicom::scan(&dir, &Progress::new()).unwrap();
    let series = scan.largest().unwrap();
    let loaded = stratum_core::dicom::load_series(series, &Progress::new()).unwrap();
    (loaded.volume, loaded.positions)
}

#[test]
fn shifts_injected_into_real_series_are_found_exactly() {
    let demo = stratum_core::read::nifti::load_nifti(
        &crate::repo().join("assets/demo/example_ct.nii.gz"),
        &Progress::new(),
    )
    .unwrap();
    type Case = (
        &'static str,
        Volume,
        Option<Vec<[f64; 3]>>,
        std::ops::Range<usize>,
        [f64; 2],
        f64,
    );
    let cases: Vec<Case> = vec![
        {
            let (v, p) = real("ct_totalseg_abdomen/dicom");
            ("abdomen CT", v, Some(p), 6..11, [3.0, 0.0], 0.3)
        },
        {
            let (v, p) = real("ct_totalseg_abdomen/dicom");
            ("abdomen CT, 1 mm", v, Some(p), 8..11, [0.0, 1.0], 0.3)
        },
        {
            let (v, p) = real("ct_philips_phantom_tilt");
            ("tilted phantom CT", v, Some(p), 20..24, [0.0, -2.0], 0.3)
        },
        {
            let (v, p) = real("mr_siemens_t1_fragmented_jpeg");
            ("T1 MR", v, Some(p), 40..47, [2.0, 1.0], 0.3)
        },
        ("demo CT (NIfTI)", demo, None, 50..58, [-3.0, 0.0], 0.3),
        // Sagittal slices 4.8 mm apart: the head's outline itself moves
        // about 0.9 mm from slice to slice, which bounds both what can be
        // found (shifts over 4.4 mm here) and how exactly it is measured.
        {
            let (v, p) = real("mr_siemens_decubitus_positions/HFS");
            ("sagittal MR head", v, Some(p), 15..20, [5.0, 0.0], 0.6)
        },
    ];
    for (name, v, positions, range, shift, tolerance) in cases {
        let clean = detect_motion(&v, positions.as_deref(), &Progress::new()).unwrap();
        assert!(clean.findings.is_empty(), "{name} as it is: {clean:#?}");
        let moved = inject(&v, range.clone(), shift);
        let m = detect_motion(&moved, positions.as_deref(), &Progress::new()).unwrap();
        assert_found_within(&m, range.start + 1, range.end, shift, tolerance, name);
    }
}

#[test]
fn real_series_and_the_demo_report_no_motion() {
    let root = shared_data();
    let mut checked = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let scan = stratum_core::dicom::scan(&dir, &Progress::new()).unwrap();
        for series in &scan.series {
            let (report, volume) = inspect_series(series, true, &Progress::new());
            if volume.is_err() {
                continue;
            }
            let m = report
                .motion
                .as_ref()
                .expect("a loaded series has a motion report");
            assert!(
                m.findings.is_empty(),
                "{} {}: {:#?}",
                dir.display(),
                series.label(),
                m.findings
            );
            checked += 1;
        }
    }
    assert!(checked >= 30, "{checked} series checked");
    for nifti in [
        crate::repo().join("assets/demo/example_ct.nii.gz"),
        root.join("ct_totalseg_abdomen/example_mr_sm.nii.gz"),
        root.join("ct_totalseg_abdomen/example_ct.nii.gz"),
    ] {
        let opened = open_volume(&nifti, &OpenOptions::new(), &Progress::new()).unwrap();
        let m = opened.report.motion.as_ref().unwrap();
        assert!(m.findings.is_empty(), "{}: {m:#?}", nifti.display());
        assert_eq!(opened.report.get("motion").unwrap().status, Status::Ok);
    }
}

#[test]
fn opening_with_the_offered_realignment_corrects_and_notes_it() {
    let truth = [0.0, 3.0];
    let moved = phantom(
        36,
        128,
        1.2,
        3.0,
        10.0,
        |z| {
            if (15..20).contains(&z) {
                truth
            } else {
                [0.0; 2]
            }
        },
        NO_BREATH,
    );
    let open = |how: &Realign| {
        let mut report = SeriesReport::default();
        let v = check_pixels(
            &mut report,
            moved.clone(),
            None,
            &ScanFacts::default(),
            how,
            &Progress::new(),
        )
        .unwrap();
        (report, v)
    };
    let (plain, plain_volume) = open(&Realign::No);
    assert_eq!(plain_volume, moved);
    let line = plain.get("motion").unwrap();
    assert_eq!(line.status, Status::Warning);
    assert!(
        line.message
            .contains("slices 16-20 shifted 3.0 mm towards the back against 15 and 21"),
        "{}",
        line.message
    );
    let (fixed, fixed_volume) = open(&Realign::Offered);
    let note = fixed.get("motion_correction").unwrap();
    assert!(note.message.contains("slices 16-20"), "{}", note.message);
    assert_ne!(fixed_volume.voxels, moved.voxels);
    let applied = fixed.motion.as_ref().unwrap().applied.clone().unwrap();
    // The plan reads back from JSON (a session keeps it) and gives the same
    // volume again; undo is opening without it.
    let json = serde_json::to_string(&applied).unwrap();
    let back: Realignment = serde_json::from_str(&json).unwrap();
    let (_, again) = open(&Realign::Exactly(back));
    assert_eq!(again.voxels, fixed_volume.voxels);
}

#[test]
fn profiles_taken_while_decoding_give_the_same_report() {
    // A moved block; slices read every row (192) and every other (400).
    for (nz, n) in [(30, 192), (10, 400)] {
        let v = phantom(
            nz,
            n,
            0.9,
            2.0,
            15.0,
            |z| {
                if (4..7).contains(&z) {
                    [2.0, 0.0]
                } else {
                    [0.0; 2]
                }
            },
            NO_BREATH,
        );
        let Voxels::I16(a) = &v.voxels else {
            panic!("the phantom is 16-bit")
        };
        let taken = || {
            let early = DecodeProfiles::for_modality("CT").expect("CT has a fixed window");
            // In any order, as the loader's threads finish their slices.
            for z in (0..nz).rev() {
                early.slice(z, a.index_axis(Axis(0), z).as_slice().unwrap(), n);
            }
            early
        };
        let plain = detect(&v);
        assert_eq!(plain.findings.len(), 1, "{plain:#?}");
        let early = detect_motion_with(&v, None, Some(taken()), &Progress::new()).unwrap();
        assert_eq!(early, plain);
        // A slice missing (the loader stopped early): made again from the voxels.
        let partial = DecodeProfiles::for_modality("CT").unwrap();
        partial.slice(0, a.index_axis(Axis(0), 0).as_slice().unwrap(), n);
        let again = detect_motion_with(&v, None, Some(partial), &Progress::new()).unwrap();
        assert_eq!(again, plain);
    }
    // Other scans' window comes from their voxels: nothing to take early.
    assert!(DecodeProfiles::for_modality("MR").is_none());
}
