//! Share live's participant list: the presenter's name, who joined (the
//! name each gave), the pen handed to one Stratum at a time (it may then
//! edit; its edits reach everyone through this document), and removing a
//! participant.

use bevy_egui::egui;
use stratum_core::live::Host;

/// The list, with Give pen / Take pen back and Remove for each.
pub fn participants_ui(ui: &mut egui::Ui, host: &Host) {
    // The presenter's name, shown to those who join (who presents).
    let id = egui::Id::new("share-live-presenter-name");
    let mut name = ui.data(|d| d.get_temp::<String>(id)).unwrap_or_default();
    ui.horizontal(|ui| {
        ui.label("Your name (for those who join):");
        if ui.text_edit_singleline(&mut name).lost_focus() {
            host.set_presenter_name(&name);
        }
    });
    ui.data_mut(|d| d.insert_temp(id, name));
    let (people, pen) = host.participants();
    if let Some(who) = host.pen_waits_for() {
        // The holder's connection dropped: it gets the pen back when it
        // joins again, unless taken back now.
        ui.horizontal(|ui| {
            let who = if who.is_empty() {
                "its holder".to_string()
            } else {
                who
            };
            ui.label(format!("The pen waits for {who} to come back"));
            if ui.button("Take pen back").clicked()
                && let Err(e) = host.give_pen(None)
            {
                tracing::warn!("live: {e}");
            }
        });
    }
    if people.is_empty() {
        return;
    }
    ui.separator();
    ui.label("Participants");
    for p in &people {
        ui.horizontal(|ui| {
            let name = if p.name.is_empty() {
                format!("participant {}", p.id)
            } else {
                p.name.clone()
            };
            let holds = pen == Some(p.id);
            ui.label(format!(
                "{name} ({}){}",
                if p.kind == "stratum" { "Stratum" } else { "browser" },
                if holds { " · holds the pen" } else { "" }
            ));
            if p.kind == "stratum" {
                let (text, to) = if holds {
                    ("Take pen back", None)
                } else {
                    ("Give pen", Some(p.id))
                };
                if ui
                    .button(text)
                    .on_hover_text("Only the participant holding the pen edits, and everyone sees it")
                    .clicked()
                    && let Err(e) = host.give_pen(to)
                {
                    tracing::warn!("live: {e}");
                }
            }
            if ui
                .button("Remove")
                .on_hover_text("Ends their connection (the link still works: stop and start again to change it)")
                .clicked()
            {
                host.remove(p.id);
            }
        });
    }
}
