//! The Study panel's checklist in the real window (Xvfb, software Vulkan):
//! a scan whose slices moved shows the motion warning with its Re-align
//! button and the "3D model" fitness lines, in their colours.

/// Pixels of the left panel within `tol` of `colour` (the checklist marks).
fn count_colour(img: &image::RgbaImage, colour: [u8; 3], tol: i32) -> usize {
    let (w, h) = img.dimensions();
    let mut n = 0;
    for y in 0..h {
        for x in 0..w / 4 {
            let p = img.get_pixel(x, y).0;
            if (0..3).all(|i| (p[i] as i32 - colour[i] as i32).abs() <= tol) {
                n += 1;
            }
        }
    }
    n
}

#[test]
fn the_checklist_shows_motion_and_fitness_in_the_window() {
    if !crate::window::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let scan = dir.path().join("moved.nii");
    let moved = crate::pipeline::realign::demo_with_moved_slices(50, 57, 2);
    crate::pipeline::realign::write_nii(&scan, &moved);
    let shot = dir.path().join("checklist.png");
    let (_, log) = crate::window::run_app((1400, 1100), dir.path(), |c| {
        c.arg(&scan).arg("--screenshot").arg(&shot).args([
            "--size",
            "1280x1050",
            "--render",
            "surfaces",
        ]);
    });
    let img = image::open(&shot).expect("a screenshot").to_rgba8();
    if let Ok(keep) = std::env::var("STRATUM_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
    assert_eq!(img.dimensions(), (1280, 1050), "{log}");
    // Amber marks (the motion warning) and green ones (the checks that
    // passed) in the Study panel.
    // (Anti-aliased glyphs: a mark is a handful of pixels near its colour.)
    let warn = count_colour(&img, [235, 170, 50], 40);
    let ok = count_colour(&img, [90, 190, 110], 40);
    assert!(warn > 15, "{warn} amber pixels in the study panel");
    assert!(ok > 15, "{ok} green pixels in the study panel");
}
