//! "Is this scan good enough for a 3D model?": the grade, the figures and
//! what to ask for, on volumes whose resolution, noise and field of view
//! are known, and on real series.

use ndarray::Array3;
use stratum_core::checks::Status;
use stratum_core::checks::fitness::{Grade, ScanFacts, assess};
use stratum_core::dicom::scan;
use stratum_core::read::open::inspect_series;
use stratum_core::{
    base::progress::Progress, image::volume::Geometry, image::volume::Volume, image::volume::Voxels,
};

use crate::shared_data;

/// A water cylinder of `radius` mm in air, `n` x `n` pixels of `px` mm,
/// `nz` slices `dz` apart, with Gaussian noise of `sd` HU.
fn cylinder(n: usize, px: f64, nz: usize, dz: f64, radius: f64, sd: f64) -> Volume {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut normal = move || {
        let mut u = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        let (a, b) = (u(), u());
        (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
    };
    let c = (n as f64 - 1.0) / 2.0;
    let a = Array3::from_shape_fn((nz, n, n), |_| 0i16);
    let mut a = a;
    for ((_, y, x), v) in a.indexed_iter_mut() {
        let r = ((x as f64 - c).hypot(y as f64 - c)) * px;
        let hu = if r < radius { 40.0 } else { -1000.0 };
        *v = (hu + sd * normal()).round() as i16;
    }
    Volume::new(
        Voxels::I16(a),
        Geometry {
            spacing: [px, px, dz],
            ..Geometry::default()
        },
        "CT",
    )
}

fn facts(thickness: f64) -> ScanFacts {
    ScanFacts {
        slice_thickness: Some(thickness),
        ..ScanFacts::default()
    }
}

#[test]
fn thin_quiet_scan_inside_the_field_is_green() {
    let v = cylinder(160, 0.7, 12, 1.0, 45.0, 8.0);
    let f = assess(&v, &facts(1.0));
    assert_eq!(f.grade, Grade::Green, "{f:#?}");
    let noise = f.noise.as_ref().unwrap();
    assert!((noise.sd - 8.0).abs() < 1.0, "{noise:?}");
    assert!(f.fov_cut.is_none());
    assert!((f.smallest_structure_mm - 3.0).abs() < 1e-9);
    assert!(
        f.summary.starts_with("good enough for a 3D model (green)"),
        "{}",
        f.summary
    );
}

#[test]
fn thick_slices_are_red_and_ask_for_thin_ones() {
    let v = cylinder(128, 0.5, 8, 5.0, 25.0, 10.0);
    let f = assess(&v, &facts(5.0));
    assert_eq!(f.grade, Grade::Red, "{f:#?}");
    assert!((f.anisotropy - 10.0).abs() < 1e-9);
    let res = f.items.iter().find(|i| i.what == "resolution").unwrap();
    assert!(res.message.contains("terraces"), "{}", res.message);
    assert!(
        f.summary
            .contains("ask for a reconstruction at 1 mm or thinner"),
        "{}",
        f.summary
    );
    // Asked once, though both the terraces and the smallest structure ask it.
    assert_eq!(
        f.summary.matches("1 mm or thinner").count(),
        1,
        "{}",
        f.summary
    );
    assert!(
        f.summary
            .contains("smallest reliable structure about 15 mm"),
        "{}",
        f.summary
    );
}

#[test]
fn slices_thicker_than_their_step_count_at_their_thickness() {
    let v = cylinder(128, 0.6, 10, 1.0, 30.0, 5.0);
    let f = assess(&v, &facts(3.0));
    assert_eq!(f.slice_thickness_mm, Some(3.0));
    assert!((f.anisotropy - 5.0).abs() < 1e-9);
    assert_eq!(f.items[0].grade, Grade::Amber);
}

#[test]
fn noise_is_measured_and_its_effect_said() {
    let v = cylinder(160, 0.7, 10, 1.0, 45.0, 35.0);
    let f = assess(&v, &facts(1.0));
    let noise = f.noise.as_ref().unwrap();
    assert!((noise.sd - 35.0).abs() < 3.5, "{noise:?}");
    let item = f.items.iter().find(|i| i.what == "noise").unwrap();
    assert_eq!(item.grade, Grade::Amber);
    assert!(item.message.contains("soft tissues"), "{}", item.message);
    assert!(item.ask.as_deref().unwrap().contains("kernel"));
}

#[test]
fn a_body_cut_by_the_image_edge_is_named_by_side() {
    // A body wider than the image: cut at both sides, along many rows.
    let v = cylinder(100, 1.0, 10, 1.0, 65.0, 5.0);
    let f = assess(&v, &facts(1.0));
    let cut = f.fov_cut.as_ref().expect("the body is cut");
    assert_eq!(cut.slices, cut.of);
    assert!(
        cut.sides.iter().any(|s| s == "the patient's right"),
        "{cut:?}"
    );
    assert!(
        cut.sides.iter().any(|s| s == "the patient's left"),
        "{cut:?}"
    );
    assert_eq!(f.grade, Grade::Amber);
    assert!(f.summary.contains("larger field of view"), "{}", f.summary);
}

#[test]
fn real_series_get_a_fitness_line_with_their_figures() {
    // 5 mm phantom: red, thin slices asked for.
    let s = scan(
        &shared_data().join("ct_philips_phantom_5mm"),
        &Progress::new(),
    )
    .unwrap();
    let (report, _) = inspect_series(&s.series[0], true, &Progress::new());
    let line = report.get("fitness").unwrap();
    assert_eq!(line.status, Status::Warning);
    assert!(line.message.contains("(red)"), "{}", line.message);
    assert!(line.message.contains("1 mm or thinner"), "{}", line.message);
    let f = report.fitness.as_ref().unwrap();
    assert!((f.slice_spacing_mm - 5.0).abs() < 0.01, "{f:#?}");
    assert!(f.noise.is_some());
    // The abdomen's 2 mm slices on 0.98 mm pixels: not red.
    let s = scan(
        &shared_data().join("ct_totalseg_abdomen/dicom"),
        &Progress::new(),
    )
    .unwrap();
    let (report, _) = inspect_series(&s.series[0], true, &Progress::new());
    let f = report.fitness.as_ref().unwrap();
    assert_ne!(f.grade, Grade::Red, "{f:#?}");
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["fitness"]["smallest_structure_mm"].as_f64().unwrap() > 2.0);
    assert!(json["fitness"]["noise"]["sd"].as_f64().unwrap() > 0.0);
}
