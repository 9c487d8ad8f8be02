//! The dialog for a DICOM series the memory cannot hold: what it needs and
//! what of it would fit (a range of slices, a downsampled copy), to open
//! instead of being refused outright.

use bevy_egui::egui;
use stratum_core::dicom::Subset;

use super::DialogsUi;

pub(super) fn too_large_dialog(ctx: &egui::Context, p: &mut DialogsUi) {
    let Some(mut t) = p.series_choice.too_large.clone() else {
        return;
    };
    let mut keep_open = true;
    let mut pick = None;
    egui::Window::new("This study does not fit in memory")
        .open(&mut keep_open)
        .default_width(520.0)
        .collapsible(false)
        .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
        .show(ctx, |ui| {
            ui.label(&t.message);
            ui.separator();
            ui.label("Open part of it instead:");
            let o = t.offer;
            if o.slices >= 2 {
                ui.horizontal(|ui| {
                    let last_start = o.total - o.slices + 1;
                    ui.label(format!(
                        "{} of the {} slices, from slice",
                        o.slices, o.total
                    ));
                    ui.add(egui::DragValue::new(&mut t.start).range(1..=last_start));
                    let end = t.start + o.slices - 1;
                    if ui
                        .button(format!("Open slices {}-{end}", t.start))
                        .on_hover_text("Full resolution, a shorter stack")
                        .clicked()
                    {
                        pick = Some(Subset {
                            slices: Some(in_series(&t.request.subset, t.start, end)),
                            ..t.request.subset
                        });
                    }
                });
            }
            if let Some(f) = o.downsample {
                let text = if f == 2 {
                    "Open at half resolution".to_string()
                } else {
                    format!("Open at 1/{f} resolution")
                };
                if ui
                    .button(text)
                    .on_hover_text(format!(
                        "Every {f} x {f} x {f} voxels averaged into one: the whole stack, coarser"
                    ))
                    .clicked()
                {
                    pick = Some(Subset {
                        downsample: f * t.request.subset.downsample.max(1),
                        ..t.request.subset
                    });
                }
            }
            if o.slices < 2 && o.downsample.is_none() {
                ui.label("Nothing of it fits: close other programs and open it again.");
            } else {
                ui.label("Or close other programs and open it again.");
            }
        });
    if let Some(subset) = pick {
        let mut request = t.request.clone();
        request.subset = subset;
        p.open.write(request);
        keep_open = false;
    }
    p.series_choice.too_large = keep_open.then_some(t);
}

/// Slices `start..=end` of what `asked` opened (1-based: its range, and
/// its downsampled slices of `downsample` each) as slices of the series.
fn in_series(asked: &Subset, start: u64, end: u64) -> (usize, usize) {
    let offset = asked.slices.map_or(0, |(a, _)| a - 1);
    let f = asked.downsample.max(1) as usize;
    (
        offset + (start as usize - 1) * f + 1,
        offset + end as usize * f,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_of_a_partial_load_is_a_range_of_the_series() {
        assert_eq!(in_series(&Subset::default(), 3, 10), (3, 10));
        let ranged = Subset {
            slices: Some((101, 300)),
            downsample: 1,
        };
        assert_eq!(in_series(&ranged, 1, 50), (101, 150));
        let coarse = Subset {
            slices: Some((11, 210)),
            downsample: 2,
        };
        // Downsampled slice 1 is series slices 11-12; slice 5 ends at 20.
        assert_eq!(in_series(&coarse, 1, 5), (11, 20));
    }
}
