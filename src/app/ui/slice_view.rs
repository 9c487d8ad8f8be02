//! The axial, coronal and sagittal slice views: the images of
//! `stratum_core::image::view` (window/level, segment overlays, a threshold
//! preview) turned into egui textures, each surface's cut drawn as a
//! contour, clip planes and rulers over them, and the mouse on them (the
//! crosshair, a region-growing seed, a ruler's ends, the 2D brush). They
//! only send messages and move the crosshair.

use bevy::prelude::*;
use bevy_egui::egui;
use stratum_core::edit::bricks::Region;
use stratum_core::image::view::{ClipPlane, Overlay, Plane, SliceLayout, render_slice};

use crate::app::actions::{BrushAction, RulerAction, StrokePhase};
use crate::app::features::measurements::Rulers;
use crate::app::features::sculpt::BrushSettings;
use crate::app::features::segmentation::SegmentCommand;
use crate::app::state::crosshair::SliceState;
use crate::app::state::document::DocumentChanged;
use crate::app::state::segments::{Segment, SegmentSurface, ToolSettings};
use crate::app::state::study::Study;

/// One egui texture per plane, redrawn only when what it shows changed.
#[derive(Resource, Default)]
pub struct SliceTextures {
    views: Vec<(Plane, egui::TextureHandle, u64)>,
    /// Per plane (in `Plane::ALL`'s order): bumped by each edit that
    /// changed a voxel of the slice the view shows, so a brush stroke
    /// elsewhere (a sample every frame in VR) does not redraw it.
    touched: [u64; 3],
    /// Per plane: the key it was cut for, and per surface its colour and
    /// contour segments in display coordinates (col, row).
    contours: Vec<(Plane, u64, Vec<Contour>)>,
}

/// One surface's cut through a slice: colour and segments (col, row).
pub type Contour = ([u8; 3], Vec<[[f32; 2]; 2]>);

impl SliceTextures {
    pub fn get(&self, plane: Plane) -> Option<&egui::TextureHandle> {
        self.views.iter().find(|v| v.0 == plane).map(|v| &v.1)
    }
}

/// The colour table of the overlay: RGBA per label id.
pub fn overlay_colours<'a>(
    segments: impl Iterator<Item = &'a Segment>,
    opacity: f32,
) -> Vec<[u8; 4]> {
    let mut table = vec![[0u8; 4]; 1];
    for s in segments {
        let i = s.id as usize;
        if table.len() <= i {
            table.resize(i + 1, [0; 4]);
        }
        let a = if s.visible {
            (opacity * 255.0) as u8
        } else {
            0
        };
        table[i] = [s.colour[0], s.colour[1], s.colour[2], a];
    }
    table
}

/// A hash of what a view shows: the view is redrawn when it changes.
fn key_of(parts: impl std::hash::Hash) -> u64 {
    use std::hash::Hasher;
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    h.finish()
}

/// Redraws the slice textures whose content changed.
pub fn update_textures(
    ctx: &egui::Context,
    study: &Study,
    state: &SliceState,
    colours: &[[u8; 4]],
    preview: Option<(f64, f64, [u8; 3])>,
    preview_mask: Option<&std::sync::Arc<stratum_core::segment::Mask>>,
    textures: &mut SliceTextures,
) {
    if !state.fits(study.volume.dim()) {
        return;
    }
    for plane in Plane::ALL {
        let Some(layout) = state.layout(plane) else {
            continue;
        };
        let slice = layout.from_index(state.crosshair)[2];
        let key = key_of((
            std::sync::Arc::as_ptr(&study.volume) as usize,
            slice,
            state.window.center.to_bits(),
            state.window.width.to_bits(),
            std::sync::Arc::as_ptr(study.doc.labels()) as usize,
            textures.touched[plane as usize],
            colours,
            preview.map(|(a, b, c)| (a.to_bits(), b.to_bits(), c)),
            preview_mask.map(|m| std::sync::Arc::as_ptr(m) as usize),
        ));
        if textures.views.iter().any(|v| v.0 == plane && v.2 == key) {
            continue;
        }
        let rgba = render_slice(
            &study.volume,
            &layout,
            slice,
            state.window,
            &Overlay {
                labels: Some(study.doc.labels()),
                colours,
                preview,
                preview_mask: preview_mask.map(|m| m.as_ref()),
            },
        );
        let image = egui::ColorImage::from_rgba_unmultiplied([layout.width, layout.height], &rgba);
        let options = egui::TextureOptions::LINEAR;
        if let Some(v) = textures.views.iter_mut().find(|v| v.0 == plane) {
            v.1.set(image, options);
            v.2 = key;
        } else {
            let handle = ctx.load_texture(format!("slice-{}", plane.name()), image, options);
            textures.views.push((plane, handle, key));
        }
    }
}

/// Marks the views whose shown slice an edit changed (`SliceTextures::
/// touched`): each brush sample's box of voxels against the slice; any
/// other change, or a new generation that no change explains (a session
/// opened, a table edit sealed), marks them all.
pub fn mark_touched_slices(
    mut changes: MessageReader<DocumentChanged>,
    study: Option<Res<Study>>,
    state: Res<SliceState>,
    mut textures: ResMut<SliceTextures>,
    mut last: Local<Option<u64>>,
) {
    let Some(study) = study else {
        changes.clear();
        return;
    };
    let generation = study.doc.generation();
    let fits = state.fits(study.volume.dim());
    let mut n = 0;
    for DocumentChanged { change, .. } in changes.read() {
        n += 1;
        // A stroke sample's box is exact (the chunk remesh stands on it);
        // any other change redraws all three views.
        let r = change.region;
        let whole = !change.live || r.is_empty() || !fits;
        for plane in Plane::ALL {
            let Some(layout) = state.layout(plane).filter(|_| !whole) else {
                textures.touched[plane as usize] += 1;
                continue;
            };
            if touches(&layout, layout.from_index(state.crosshair)[2], &r) {
                textures.touched[plane as usize] += 1;
            }
        }
    }
    if last.is_some_and(|g| g + n != generation) {
        for t in &mut textures.touched {
            *t += 1;
        }
    }
    *last = Some(generation);
}

/// Whether the box `r` (z, y, x) of a change holds voxels of `slice`.
fn touches(layout: &SliceLayout, slice: usize, r: &Region) -> bool {
    // The slices of the box's corners (x, y, z): one axis decides.
    let (mut lo, mut hi) = (usize::MAX, 0);
    for c in 0..8 {
        let pick = |a: usize, bit: usize| if c & bit == 0 { r.lo[a] } else { r.hi[a] - 1 };
        let k = layout.from_index([pick(2, 1), pick(1, 2), pick(0, 4)])[2];
        lo = lo.min(k);
        hi = hi.max(k);
    }
    (lo..=hi).contains(&slice)
}

/// Cuts the built surfaces with the slice planes shown (only when the slice
/// or the surfaces changed).
pub fn update_contours(
    state: &SliceState,
    surfaces: &[(&Segment, &SegmentSurface)],
    textures: &mut SliceTextures,
) {
    let Some(g) = state.geometry() else { return };
    let Some(centre) = state.crosshair_lps() else {
        return;
    };
    for plane in Plane::ALL {
        let Some(layout) = state.layout(plane) else {
            continue;
        };
        let slice = layout.from_index(state.crosshair)[2];
        let shown: Vec<_> = surfaces
            .iter()
            .map(|(seg, surf)| {
                (
                    std::sync::Arc::as_ptr(&surf.0) as usize,
                    seg.visible,
                    seg.colour,
                )
            })
            .collect();
        let key = key_of((slice, shown));
        if textures.contours.iter().any(|c| c.0 == plane && c.1 == key) {
            continue;
        }
        let n = g.direction[layout.slice_axis()];
        let normal = [n[0] as f32, n[1] as f32, n[2] as f32];
        let offset = (n[0] * centre[0] + n[1] * centre[1] + n[2] * centre[2]) as f32;
        let cuts: Vec<Contour> = surfaces
            .iter()
            .filter(|(seg, _)| seg.visible)
            .map(|(seg, surf)| {
                let lines = surf
                    .0
                    .plane_section(normal, offset)
                    .into_iter()
                    .map(|seg| {
                        seg.map(|p| {
                            let idx = g.lps_to_index([p[0] as f64, p[1] as f64, p[2] as f64]);
                            let [c, r] = layout.display_of(idx);
                            [c as f32, r as f32]
                        })
                    })
                    .collect();
                (seg.colour, lines)
            })
            .collect();
        textures.contours.retain(|c| c.0 != plane);
        textures.contours.push((plane, key, cuts));
    }
}

/// What a slice view draws and does besides the image: clip planes,
/// rulers, the brush, and the segmentation tools' settings (a click in
/// seed mode places a region-growing seed).
pub struct SliceExtras<'a> {
    pub tools: &'a ToolSettings,
    pub clips: &'a [(usize, ClipPlane)],
    pub rulers: &'a Rulers,
    /// The brush, when brushing is on: drags paint instead of moving the crosshair.
    pub brush: Option<&'a BrushSettings>,
}

/// What a click on a slice view asks for.
pub enum SliceEvent {
    Segment(SegmentCommand),
    Ruler(RulerAction),
    Brush(BrushAction),
}

/// Draws one slice view into `ui` and handles the mouse on it: a click or a
/// drag moves the crosshair (or places a region-growing seed in seed mode),
/// the wheel steps through slices.
pub fn slice_view(
    ui: &mut egui::Ui,
    plane: Plane,
    state: &mut SliceState,
    textures: &SliceTextures,
    extras: &SliceExtras,
    events: &mut Vec<SliceEvent>,
    height: f32,
) {
    let top = ui.cursor().min.y;
    let Some(layout) = state.layout(plane) else {
        ui.label("No study open");
        return;
    };
    let [ccol, crow, slice] = layout.from_index(state.crosshair);
    ui.horizontal(|ui| {
        ui.strong(plane.name());
        ui.label(format!("{}/{}", slice + 1, layout.depth));
    });
    // Stay inside the panel: a view that spills past the window edge makes
    // clip rectangles outside the render target.
    let used = ui.cursor().min.y - top;
    let avail = egui::vec2(
        ui.available_width().max(1.0),
        (height - used - 6.0).max(1.0),
    );
    let w_mm = layout.width as f32 * layout.pixel_mm[0] as f32;
    let h_mm = layout.height as f32 * layout.pixel_mm[1] as f32;
    let scale = (avail.x / w_mm).min(avail.y / h_mm).max(0.01);
    let size = egui::vec2(w_mm * scale, h_mm * scale);
    let (outer, response) = ui.allocate_exact_size(avail, egui::Sense::click_and_drag());
    let rect = egui::Rect::from_center_size(outer.center(), size);
    let painter = ui.painter_at(outer);
    painter.rect_filled(outer, 0.0, egui::Color32::BLACK);
    if let Some(tex) = textures.get(plane) {
        painter.image(
            tex.id(),
            rect,
            egui::Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
            egui::Color32::WHITE,
        );
    }
    // Mesh contours: where each surface cuts this slice.
    if state.contours
        && let Some((_, _, cuts)) = textures.contours.iter().find(|c| c.0 == plane)
    {
        let to_screen = |p: [f32; 2]| {
            egui::pos2(
                rect.min.x + (p[0] + 0.5) / layout.width as f32 * rect.width(),
                rect.min.y + (p[1] + 0.5) / layout.height as f32 * rect.height(),
            )
        };
        for (colour, lines) in cuts {
            let c = colour.map(|v| (v as u16 + 255).div_ceil(2) as u8);
            let stroke = egui::Stroke::new(1.5, egui::Color32::from_rgb(c[0], c[1], c[2]));
            for [a, b] in lines {
                painter.line_segment([to_screen(*a), to_screen(*b)], stroke);
            }
        }
    }
    // Clip planes: a dashed line where each cuts this slice, numbered.
    if let Some(g) = state.geometry() {
        let to_screen = |p: [f64; 2]| {
            egui::pos2(
                rect.min.x + (p[0] as f32 + 0.5) / layout.width as f32 * rect.width(),
                rect.min.y + (p[1] as f32 + 0.5) / layout.height as f32 * rect.height(),
            )
        };
        let colour = egui::Color32::from_rgb(90, 200, 255);
        for (i, plane) in extras.clips {
            if let Some([a, b]) = plane.line_on_slice(&layout, &g, slice) {
                let (a, b) = (to_screen(a), to_screen(b));
                painter.extend(egui::Shape::dashed_line(
                    &[a, b],
                    egui::Stroke::new(1.5, colour),
                    6.0,
                    4.0,
                ));
                painter.text(
                    a + (b - a).normalized() * 10.0,
                    egui::Align2::CENTER_CENTER,
                    format!("cut {}", i + 1),
                    egui::FontId::proportional(11.0),
                    colour,
                );
            }
        }
    }
    // Rulers lying in this slice (both ends within half a voxel of it).
    if let Some(g) = state.geometry() {
        let a = layout.slice_axis();
        let here = layout.to_index(0, 0, slice)[a] as f64;
        let to_screen = |idx: [f64; 3]| {
            let d = layout.display_of(idx);
            egui::pos2(
                rect.min.x + (d[0] as f32 + 0.5) / layout.width as f32 * rect.width(),
                rect.min.y + (d[1] as f32 + 0.5) / layout.height as f32 * rect.height(),
            )
        };
        let colour = egui::Color32::from_rgb(255, 140, 40);
        for r in &extras.rulers.items {
            let (ia, ib) = (g.lps_to_index(r.a), g.lps_to_index(r.b));
            if (ia[a] - here).abs() < 0.5 && (ib[a] - here).abs() < 0.5 {
                let (pa, pb) = (to_screen(ia), to_screen(ib));
                painter.line_segment([pa, pb], egui::Stroke::new(2.0, colour));
                painter.circle_filled(pa, 3.0, colour);
                painter.circle_filled(pb, 3.0, colour);
                painter.text(
                    pa + (pb - pa) * 0.5 + egui::vec2(0.0, -10.0),
                    egui::Align2::CENTER_CENTER,
                    format!("{:.1} mm", r.length_mm()),
                    egui::FontId::proportional(12.0),
                    colour,
                );
            }
        }
        if let Some(first) = extras.rulers.first {
            let i = g.lps_to_index(first);
            if (i[a] - here).abs() < 0.5 {
                painter.circle_filled(to_screen(i), 4.0, colour);
            }
        }
    }
    // Crosshair.
    let px = rect.min.x + (ccol as f32 + 0.5) / layout.width as f32 * rect.width();
    let py = rect.min.y + (crow as f32 + 0.5) / layout.height as f32 * rect.height();
    let stroke = egui::Stroke::new(
        1.0,
        egui::Color32::from_rgba_unmultiplied(255, 220, 60, 150),
    );
    painter.line_segment(
        [egui::pos2(rect.min.x, py), egui::pos2(rect.max.x, py)],
        stroke,
    );
    painter.line_segment(
        [egui::pos2(px, rect.min.y), egui::pos2(px, rect.max.y)],
        stroke,
    );
    // Orientation letters (radiological display).
    let (left, top) = match plane {
        Plane::Axial => ("R", "A"),
        Plane::Coronal => ("R", "S"),
        Plane::Sagittal => ("A", "S"),
    };
    let font = egui::FontId::proportional(12.0);
    let grey = egui::Color32::from_gray(200);
    painter.text(
        egui::pos2(rect.min.x + 4.0, rect.center().y),
        egui::Align2::LEFT_CENTER,
        left,
        font.clone(),
        grey,
    );
    painter.text(
        egui::pos2(rect.center().x, rect.min.y + 2.0),
        egui::Align2::CENTER_TOP,
        top,
        font,
        grey,
    );
    // Mouse.
    let to_voxel = |pos: egui::Pos2| -> Option<[usize; 3]> {
        if !rect.contains(pos) {
            return None;
        }
        let c = ((pos.x - rect.min.x) / rect.width() * layout.width as f32) as usize;
        let r = ((pos.y - rect.min.y) / rect.height() * layout.height as f32) as usize;
        Some(layout.to_index(c.min(layout.width - 1), r.min(layout.height - 1), slice))
    };
    if let Some(brush) = extras.brush
        && let Some(g) = state.geometry()
    {
        let lps_at = |pos: egui::Pos2| {
            let c = (pos.x - rect.min.x) / rect.width() * layout.width as f32 - 0.5;
            let r = (pos.y - rect.min.y) / rect.height() * layout.height as f32 - 0.5;
            g.index_to_lps(layout.continuous_index(slice, c, r))
        };
        let screen = SliceScreen {
            plane: layout.plane,
            rect,
            px_per_mm: rect.width() / w_mm,
            lps_at,
        };
        slice_brush(&painter, &response, brush, &screen, events);
    } else if (response.clicked() || response.dragged())
        && let Some(idx) = response.interact_pointer_pos().and_then(to_voxel)
    {
        if extras.rulers.placing && response.clicked() {
            if let Some(g) = state.geometry() {
                let p = g.index_to_lps(idx.map(|v| v as f64));
                events.push(SliceEvent::Ruler(RulerAction::Point(p)));
            }
        } else if extras.tools.island_mode && response.clicked() {
            events.push(SliceEvent::Segment(SegmentCommand::KeepIslandAt(idx)));
        } else if extras.tools.seed_mode && response.clicked() {
            events.push(SliceEvent::Segment(SegmentCommand::Grow {
                seed: idx,
                lo: extras.tools.lo,
                hi: extras.tools.hi,
            }));
        }
        state.crosshair = idx;
    }
    if response.hovered() {
        let scroll = ui.input(|i| i.smooth_scroll_delta.y);
        if scroll.abs() > 0.5 {
            let step = if scroll > 0.0 { 1i64 } else { -1 };
            let s = (slice as i64 + step).clamp(0, layout.depth as i64 - 1) as usize;
            state.crosshair = layout.to_index(ccol, crow, s);
        }
    }
}

/// Where a slice view's image lies on the screen: its plane, its
/// rectangle, its scale, and the patient point (LPS mm) under a position.
pub struct SliceScreen<F: Fn(egui::Pos2) -> [f64; 3]> {
    pub plane: Plane,
    pub rect: egui::Rect,
    pub px_per_mm: f32,
    pub lps_at: F,
}

/// A slice view with brushing on: the brush circle (its diameter in mm at
/// the view's scale) under the cursor, and a left drag (or click) as a stroke.
pub fn slice_brush(
    painter: &egui::Painter,
    response: &egui::Response,
    brush: &BrushSettings,
    screen: &SliceScreen<impl Fn(egui::Pos2) -> [f64; 3]>,
    events: &mut Vec<SliceEvent>,
) {
    let SliceScreen {
        plane,
        rect,
        px_per_mm,
        lps_at,
    } = screen;
    let (plane, rect, px_per_mm) = (*plane, *rect, *px_per_mm);
    let radius = (brush.diameter_mm as f32 / 2.0 * px_per_mm).max(1.0);
    let colour = if brush.tool.adds() {
        egui::Color32::from_rgb(120, 230, 120)
    } else {
        egui::Color32::from_rgb(240, 120, 110)
    };
    if let Some(pos) = response.hover_pos().filter(|p| rect.contains(*p)) {
        painter.circle_stroke(pos, radius, egui::Stroke::new(1.5, colour));
    }
    let action = |phase, pos| {
        SliceEvent::Brush(BrushAction {
            phase,
            tool: brush.tool,
            point: lps_at(pos),
            plane: (!brush.sphere).then_some(plane),
        })
    };
    let primary = egui::PointerButton::Primary;
    if response.drag_started_by(primary) {
        let start = response
            .ctx
            .input(|i| i.pointer.press_origin())
            .or(response.interact_pointer_pos());
        if let Some(p) = start {
            events.push(action(StrokePhase::Begin, p));
        }
    }
    if response.dragged_by(primary)
        && let Some(p) = response.interact_pointer_pos()
    {
        events.push(action(StrokePhase::Sample, p));
    }
    if response.drag_stopped_by(primary)
        && let Some(p) = response.interact_pointer_pos()
    {
        events.push(action(StrokePhase::End, p));
    }
    if response.clicked_by(primary)
        && let Some(p) = response.interact_pointer_pos()
    {
        events.push(action(StrokePhase::Begin, p));
        events.push(action(StrokePhase::End, p));
    }
}

#[cfg(test)]
mod tests {
    use stratum_core::edit::bricks::Region;
    use stratum_core::image::view::{Plane, SliceLayout};
    use stratum_core::image::volume::Geometry;

    use super::touches;

    #[test]
    fn a_change_touches_the_views_whose_slice_its_box_holds() {
        // 40 x 30 x 20 voxels (x, y, z), axial slices along z.
        let g = Geometry::default();
        let dim = (20, 30, 40);
        // A box of z 5..8, y 10..12, x 0..40.
        let r = Region::new([5, 10, 0], [8, 12, 40]);
        for (plane, inside, outside) in [
            (Plane::Axial, 5, 8),
            (Plane::Coronal, 11, 12),
            (Plane::Sagittal, 39, 0),
        ] {
            let layout = SliceLayout::new(plane, dim, &g);
            // The view's own slice numbering (a flipped axis counts back).
            let shown = |v: [usize; 3]| layout.from_index(v)[2];
            let at = |k: usize| match plane {
                Plane::Axial => [0, 0, k],
                Plane::Coronal => [0, k, 0],
                Plane::Sagittal => [k, 0, 0],
            };
            assert!(
                touches(&layout, shown(at(inside)), &r),
                "{plane:?} {inside}"
            );
            if plane != Plane::Sagittal {
                assert!(
                    !touches(&layout, shown(at(outside)), &r),
                    "{plane:?} {outside}"
                );
            }
        }
        // A sagittal view's slice outside a box narrower in x.
        let narrow = Region::new([0, 0, 3], [20, 30, 6]);
        let layout = SliceLayout::new(Plane::Sagittal, dim, &g);
        assert!(touches(&layout, layout.from_index([4, 0, 0])[2], &narrow));
        assert!(!touches(&layout, layout.from_index([6, 0, 0])[2], &narrow));
        assert!(!touches(&layout, layout.from_index([2, 0, 0])[2], &narrow));
    }
}
