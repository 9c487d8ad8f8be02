//! The real windowed binary under Xvfb with Mesa's software Vulkan: it opens
//! the embedded demo study with a coronal clip plane, builds the organs,
//! saves a screenshot and exits. The picture must show coloured organs in
//! the 3D view, the CT on their cut faces, and drawn panels.

use std::path::Path;

fn saturated(p: &image::Rgba<u8>) -> bool {
    let [r, g, b, _] = p.0;
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    max > 60 && max - min > 45
}

/// Share of pixels in [x0, x1) x [y0, y1) (fractions of the image) passing `f`.
fn share(
    img: &image::RgbaImage,
    x: (f32, f32),
    y: (f32, f32),
    mut f: impl FnMut(&image::Rgba<u8>) -> bool,
) -> f64 {
    let (w, h) = img.dimensions();
    let (x0, x1) = ((x.0 * w as f32) as u32, (x.1 * w as f32) as u32);
    let (y0, y1) = ((y.0 * h as f32) as u32, (y.1 * h as f32) as u32);
    let mut n = 0u64;
    let mut hit = 0u64;
    for yy in y0..y1 {
        for xx in x0..x1 {
            n += 1;
            hit += f(img.get_pixel(xx, yy)) as u64;
        }
    }
    hit as f64 / n.max(1) as f64
}

#[test]
fn the_app_shows_the_demo_organs_under_xvfb() {
    if !crate::window::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let shot = dir.path().join("demo.png");
    let (_, log) = crate::window::run_app((1400, 900), dir.path(), |c| {
        c.arg("--screenshot")
            .arg(&shot)
            .args(["--size", "1280x800", "--clip", "coronal"]);
    });
    let img = image::open(&shot).expect("a screenshot").to_rgba8();
    assert_eq!(img.dimensions(), (1280, 800), "{log}");
    if let Ok(keep) = std::env::var("STRATUM_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
    // The 3D view (between the side panels, above the slice views) shows organs.
    let organs = share(&img, (0.3, 0.7), (0.08, 0.55), saturated);
    assert!(
        organs > 0.03,
        "only {:.2}% coloured pixels in the 3D view",
        organs * 100.0
    );
    // The coronal cut opens the organs and their cut faces show the CT:
    // neutral grey pixels of many levels in the 3D view (without the plane:
    // 0.05% of the view and 25 levels; the background is one flat colour).
    let mut cut_levels = std::collections::HashSet::new();
    let cut = share(&img, (0.3, 0.7), (0.08, 0.55), |p| {
        let [r, g, b, _] = p.0;
        let (max, min) = (r.max(g).max(b), r.min(g).min(b));
        let neutral = max - min <= 12 && max > 45;
        if neutral {
            cut_levels.insert((r as u16 + g as u16 + b as u16) / 3);
        }
        neutral
    });
    assert!(
        cut > 0.005 && cut_levels.len() > 60,
        "the cut faces do not show the scan: {:.2}% grey pixels, {} levels",
        cut * 100.0,
        cut_levels.len()
    );
    // The left panel has text on it (bright glyph pixels on a dark panel).
    let text = share(&img, (0.0, 0.2), (0.05, 0.6), |p| {
        p.0[0] > 150 && p.0[1] > 150
    });
    assert!(
        text > 0.005,
        "the study panel looks empty ({:.3}%)",
        text * 100.0
    );
    // The slice views show the CT: many grey levels at the bottom.
    let mut greys = std::collections::HashSet::new();
    let (w, h) = img.dimensions();
    for y in (h * 3 / 4)..h {
        for x in (w / 4)..(w * 3 / 4) {
            let p = img.get_pixel(x, y).0;
            if p[0] == p[1] && p[1] == p[2] {
                greys.insert(p[0]);
            }
        }
    }
    assert!(
        greys.len() > 60,
        "the slice views show {} grey levels",
        greys.len()
    );
    // No patient data in the log.
    assert!(!log.contains("PatientName"));
}

/// A session made in the headless app from the demo: a green stroke
/// painted across the axial slice through the centre, and material added
/// on the front of the liver in 3D. Returns the session folder.
fn painted_demo_session(dir: &Path) -> std::path::PathBuf {
    use std::time::Duration;
    use stratum::app::actions::BrushTool;
    use stratum::app::features::loading::OpenRequest;
    use stratum::app::features::sculpt::{AddEmptySegment, BrushSettings};
    use stratum::app::features::session::SaveSession;
    use stratum::app::state::document::ApplyEdit;
    use stratum::app::state::segments::{Segment, ToolSettings};
    use stratum::app::state::study::Study;
    use stratum_core::document::Edit;
    use stratum_core::edit::pick_segment;
    use stratum_core::image::view::Plane;

    let mut app = super::pipeline::headless();
    let demo = stratum::app::features::demo::materialize().unwrap();
    app.world_mut().write_message(OpenRequest {
        path: demo.ct.clone(),
        series: None,
        labels: Some((demo.labels, Some(demo.names))),
        subset: Default::default(),
    });
    super::pipeline::run_until_idle(&mut app, Duration::from_secs(900));
    let (g, (nz, ny, nx)) = {
        let s = app.world().resource::<Study>();
        (s.volume.geometry, s.volume.dim())
    };
    // Paint: a new green segment, a band across the centre axial slice.
    app.world_mut().write_message(AddEmptySegment);
    app.update();
    app.update();
    let painted = app.world().resource::<ToolSettings>().selected.unwrap();
    let painted_id = app.world().get::<Segment>(painted).unwrap().id;
    // Named and coloured as the segments panel does it: edits of the document.
    app.world_mut()
        .write_message(ApplyEdit(Edit::rename(painted_id, "Painted")));
    app.world_mut()
        .write_message(ApplyEdit(Edit::recolour(painted_id, [0, 255, 0])));
    app.update();
    app.world_mut().resource_mut::<BrushSettings>().diameter_mm = 12.0;
    let z = (nz / 2) as f64;
    let band: Vec<[f64; 3]> = (0..8)
        .map(|k| g.index_to_lps([nx as f64 * (0.2 + 0.08 * k as f64), ny as f64 * 0.5, z]))
        .collect();
    super::sculpt::stroke(&mut app, BrushTool::Paint, Some(Plane::Axial), &band);
    // Sculpt: add material where a ray from the front meets the liver.
    let liver = {
        let mut q = app.world_mut().query::<(bevy::prelude::Entity, &Segment)>();
        q.iter(app.world())
            .find(|(_, s)| s.name == "liver")
            .map(|(e, s)| (e, s.id))
            .expect("a liver")
    };
    app.world_mut().resource_mut::<ToolSettings>().selected = Some(liver.0);
    let labels = app.world().resource::<Study>().doc.labels().clone();
    let mask = labels.mask(liver.1);
    // A row through the liver at its middle slice, shot from the patient's
    // right: the added material stands out of its outline in the front view.
    let b = mask.bounds().unwrap();
    let zc = (b[0].0 + b[0].1) / 2;
    let mut cells: Vec<(usize, usize)> = mask
        .data
        .index_axis(ndarray::Axis(0), zc)
        .indexed_iter()
        .filter(|(_, v)| **v != 0)
        .map(|((y, x), _)| (y, x))
        .collect();
    cells.sort_unstable();
    let (y, x) = cells[cells.len() / 2];
    let centre = g.index_to_lps([x as f64, y as f64, zc as f64]);
    let from = [centre[0] - 400.0, centre[1], centre[2]];
    let hit = pick_segment(&labels, liver.1, from, [1.0, 0.0, 0.0], &[]).expect("the liver's side");
    app.world_mut().resource_mut::<BrushSettings>().diameter_mm = 30.0;
    let bump: Vec<[f64; 3]> = (0..5)
        .map(|k| [hit[0] - 6.0, hit[1], hit[2] + 4.0 * k as f64])
        .collect();
    super::sculpt::stroke(&mut app, BrushTool::Add, None, &bump);
    // Show only the liver and the painted segment (the session keeps it).
    let rows: Vec<(u16, bool)> = {
        let mut q = app.world_mut().query::<&Segment>();
        q.iter(app.world())
            .map(|s| (s.id, s.name == "liver" || s.name == "Painted"))
            .collect()
    };
    for (id, visible) in rows {
        app.world_mut()
            .write_message(ApplyEdit(Edit::set_visible(id, visible)));
    }
    for _ in 0..30 {
        app.update();
    }
    super::pipeline::run_until_idle(&mut app, Duration::from_secs(600));
    let session = dir.join("demo.stratum");
    app.world_mut().write_message(SaveSession(session.clone()));
    super::pipeline::run_until_idle(&mut app, Duration::from_secs(300));
    assert!(
        session.join("session.json").is_file(),
        "{:?}",
        super::pipeline::errors(&app)
    );
    session
}

#[test]
fn a_painted_and_sculpted_session_reopens_in_the_window() {
    if !crate::window::available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let session = painted_demo_session(dir.path());
    let shot = dir.path().join("session.png");
    let (_, log) = crate::window::run_app((1400, 900), dir.path(), |c| {
        c.arg(&session)
            .arg("--screenshot")
            .arg(&shot)
            .args(["--size", "1280x800"]);
    });
    let img = image::open(&shot).expect("a screenshot").to_rgba8();
    if let Ok(keep) = std::env::var("STRATUM_KEEP_SESSION_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
    // The painted band shows on the slice views: green over grey.
    let green = share(&img, (0.0, 1.0), (0.64, 1.0), |p| {
        let [r, g, b, _] = p.0;
        g as i32 > r as i32 + 70 && g as i32 > b as i32 + 70
    });
    assert!(
        green > 0.002,
        "only {:.3}% green pixels on the slices",
        green * 100.0
    );
    // The organs (with the sculpted liver) show in the 3D view.
    let organs = share(&img, (0.3, 0.7), (0.08, 0.55), saturated);
    assert!(organs > 0.03, "only {:.2}% coloured pixels", organs * 100.0);
    assert!(!log.contains("PatientName"));
}
