//! The windows of File ▸ Open from PACS (settings and nodes, C-ECHO, the
//! query form, the results table, Retrieve; progress and Cancel show with
//! the other jobs) and File ▸ Export DICOM (SEG, Encapsulated STL / OBJ,
//! Send to PACS). The menu items only raise a flag in egui's memory
//! ([`open_pacs`], [`open_dicom_export`]); this panel's own system draws
//! the windows and sends the features' messages.

use bevy::prelude::*;
use bevy_egui::{EguiContexts, EguiPrimaryContextPass, egui};
use stratum_core::pacs::{Node, StudyHit};

use crate::app::features::dicom_export::{DicomExport, DicomExportRequest, DicomKind};
use crate::app::features::pacs::{PacsEcho, PacsFind, PacsRetrieve, PacsState, Transport};
use crate::app::state::jobs::Notices;

pub struct PacsUiPlugin;

impl Plugin for PacsUiPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(EguiPrimaryContextPass, pacs_windows);
    }
}

fn flag(name: &str) -> egui::Id {
    egui::Id::new(("stratum-pacs", name))
}

/// The menu's File ▸ Open from PACS… (one call, no state of the menu's).
pub fn open_pacs(ctx: &egui::Context) {
    ctx.data_mut(|d| d.insert_temp(flag("open"), true));
}

/// The menu's File ▸ Export DICOM….
pub fn open_dicom_export(ctx: &egui::Context) {
    ctx.data_mut(|d| d.insert_temp(flag("export"), true));
}

fn take_flag(ctx: &egui::Context, name: &str) -> bool {
    ctx.data_mut(|d| d.remove_temp::<bool>(flag(name)).unwrap_or(false))
}

#[derive(bevy::ecs::system::SystemParam)]
struct PacsUi<'w, 's> {
    contexts: EguiContexts<'w, 's>,
    state: ResMut<'w, PacsState>,
    export: ResMut<'w, DicomExport>,
    echo: MessageWriter<'w, PacsEcho>,
    find: MessageWriter<'w, PacsFind>,
    retrieve: MessageWriter<'w, PacsRetrieve>,
    write: MessageWriter<'w, DicomExportRequest>,
    notices: ResMut<'w, Notices>,
}

fn pacs_windows(mut p: PacsUi) -> Result {
    let ctx = p.contexts.ctx_mut()?.clone();
    if take_flag(&ctx, "open") {
        p.state.open = true;
        if let Some(e) = p.state.config_error.take() {
            p.notices.error(e);
        }
    }
    if take_flag(&ctx, "export") {
        p.export.open = true;
    }
    if p.state.open {
        pacs_window(&ctx, &mut p);
    }
    if p.export.open {
        export_window(&ctx, &mut p);
    }
    Ok(())
}

fn pacs_window(ctx: &egui::Context, p: &mut PacsUi) {
    let mut open = true;
    egui::Window::new("Open from PACS")
        .open(&mut open)
        .default_width(760.0)
        .show(ctx, |ui| {
            node_row(ui, p);
            egui::CollapsingHeader::new("Settings and nodes")
                .id_salt("pacs-settings")
                .show(ui, |ui| settings(ui, p));
            ui.separator();
            query_form(ui, p);
            ui.separator();
            results(ui, p);
            ui.horizontal(|ui| {
                let ready = !p.state.busy && p.state.selected.is_some();
                if ui
                    .add_enabled(ready, egui::Button::new("Retrieve and open"))
                    .on_hover_text("Into the local cache (whole or not at all); progress and Cancel show over the 3D view")
                    .clicked()
                {
                    p.retrieve.write(PacsRetrieve);
                }
                if p.state.busy {
                    ui.spinner();
                }
            });
        });
    p.state.open = open;
}

fn node_row(ui: &mut egui::Ui, p: &mut PacsUi) {
    ui.horizontal(|ui| {
        ui.label("Node");
        let names: Vec<String> = p
            .state
            .config
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect();
        egui::ComboBox::from_id_salt("pacs-node")
            .selected_text(p.state.node.clone())
            .show_ui(ui, |ui| {
                for n in names {
                    ui.selectable_value(&mut p.state.node, n.clone(), n);
                }
            });
        ui.add(
            egui::TextEdit::singleline(&mut p.state.node)
                .hint_text("or AET@HOST:PORT, or a DICOMweb URL")
                .desired_width(220.0),
        );
        if ui
            .button("Test")
            .on_hover_text("C-ECHO: does the node answer our AE title?")
            .clicked()
        {
            p.echo.write(PacsEcho);
        }
        match &p.state.echo {
            Some(Ok(t)) => {
                ui.colored_label(
                    egui::Color32::LIGHT_GREEN,
                    format!("answered in {} ms", t.as_millis()),
                );
            }
            Some(Err(e)) => {
                ui.colored_label(egui::Color32::LIGHT_RED, "no answer")
                    .on_hover_text(e);
            }
            None => {}
        }
    });
    ui.horizontal(|ui| {
        ui.label("Retrieve with");
        ui.radio_value(&mut p.state.transport, Transport::Get, "C-GET")
            .on_hover_text("On our own association: no port to open");
        ui.radio_value(&mut p.state.transport, Transport::Move, "C-MOVE")
            .on_hover_text("To our storage SCP: the PACS must know our AE title, host and port");
        ui.radio_value(&mut p.state.transport, Transport::Web, "DICOMweb")
            .on_hover_text("QIDO-RS / WADO-RS at the node's DICOMweb URL");
    });
}

/// Our AE title and incoming port, and the nodes (name, AE title, host,
/// port, TLS, DICOMweb URL), saved to `pacs.json`.
fn settings(ui: &mut egui::Ui, p: &mut PacsUi) {
    let st = &mut *p.state;
    ui.horizontal(|ui| {
        ui.label("Our AE title");
        ui.add(egui::TextEdit::singleline(&mut st.config.ae_title).desired_width(120.0));
        ui.label("Incoming port (C-MOVE)");
        ui.add(egui::DragValue::new(&mut st.config.incoming_port).range(1..=65535));
        ui.label("Timeout (s)");
        ui.add(egui::DragValue::new(&mut st.config.timeout_s).range(1..=600));
    });
    let mut remove = None;
    egui::Grid::new("pacs-nodes")
        .num_columns(7)
        .striped(true)
        .show(ui, |ui| {
            for h in [
                "Name",
                "AE title",
                "Host",
                "Port",
                "TLS",
                "DICOMweb URL",
                "",
            ] {
                ui.strong(h);
            }
            ui.end_row();
            for (i, n) in st.config.nodes.iter_mut().enumerate() {
                ui.add(egui::TextEdit::singleline(&mut n.name).desired_width(110.0));
                ui.add(egui::TextEdit::singleline(&mut n.ae_title).desired_width(90.0));
                ui.add(egui::TextEdit::singleline(&mut n.host).desired_width(120.0));
                ui.add(egui::DragValue::new(&mut n.port).range(0..=65535));
                ui.checkbox(&mut n.tls, "").on_hover_text(
                    "DICOM over TLS: its certificate must chain to the trusted certificates below",
                );
                let mut url = n.dicomweb.clone().unwrap_or_default();
                if ui
                    .add(egui::TextEdit::singleline(&mut url).desired_width(180.0))
                    .changed()
                {
                    n.dicomweb = (!url.trim().is_empty()).then(|| url.trim().to_string());
                }
                if ui.small_button("Remove").clicked() {
                    remove = Some(i);
                }
                ui.end_row();
            }
        });
    if let Some(i) = remove {
        st.config.nodes.remove(i);
    }
    egui::Grid::new("pacs-tls").num_columns(2).show(ui, |ui| {
        let tls = &mut st.config.tls;
        path_field(ui, "TLS: trusted certificates (PEM)", &mut tls.trusted);
        ui.end_row();
        path_field(ui, "TLS: our certificate (PEM)", &mut tls.certificate);
        ui.end_row();
        path_field(ui, "TLS: our private key (PEM)", &mut tls.private_key);
        ui.end_row();
    });
    ui.horizontal(|ui| {
        if ui
            .button("Add the node above")
            .on_hover_text("Keeps the AET@HOST:PORT typed beside Node as a new node")
            .clicked()
        {
            add_typed_node(st, &mut p.notices);
        }
        if ui.button("Save settings").clicked() {
            match st.config.save(&st.config_path) {
                Ok(()) => p.notices.info(format!(
                    "Saved the PACS settings in {}",
                    st.config_path.display()
                )),
                Err(e) => p.notices.error(e.to_string()),
            }
        }
    });
}

/// A text field bound to an optional file path (empty: none).
fn path_field(ui: &mut egui::Ui, label: &str, v: &mut Option<std::path::PathBuf>) {
    ui.label(label);
    let mut s = v
        .as_ref()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    if ui
        .add(egui::TextEdit::singleline(&mut s).desired_width(360.0))
        .changed()
    {
        *v = (!s.trim().is_empty()).then(|| s.trim().into());
    }
}

fn add_typed_node(st: &mut PacsState, notices: &mut Notices) {
    let Some(node) = Node::parse_inline(st.node.trim()) else {
        return notices.error(
            "Type the node as AET@HOST:PORT to add it (then fill in its DICOMweb URL if it has one).",
        );
    };
    let name = node.ae_title.to_ascii_lowercase();
    st.config.nodes.retain(|n| n.name != name);
    st.config.nodes.push(Node {
        name: name.clone(),
        ..node
    });
    st.node = name;
}

fn query_form(ui: &mut egui::Ui, p: &mut PacsUi) {
    egui::Grid::new("pacs-query").num_columns(4).show(ui, |ui| {
        let q = &mut p.state.query;
        field(ui, "Patient name", &mut q.patient_name, "DOE^J*");
        field(ui, "Patient ID", &mut q.patient_id, "");
        ui.end_row();
        field(ui, "From", &mut q.date_from, "YYYYMMDD");
        field(ui, "To", &mut q.date_to, "YYYYMMDD");
        ui.end_row();
        field(ui, "Modality", &mut q.modality, "CT, MR");
        field(ui, "Accession", &mut q.accession, "");
        ui.end_row();
        field(ui, "Description", &mut q.description, "*abdomen*");
        ui.end_row();
    });
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!p.state.busy, egui::Button::new("Search"))
            .clicked()
        {
            p.find.write(PacsFind);
        }
        let (studies, series) = (
            p.state.results.len(),
            p.state
                .results
                .iter()
                .map(|s| s.series.len())
                .sum::<usize>(),
        );
        if studies > 0 {
            ui.label(format!("{studies} studies, {series} series"));
        }
    });
}

/// A text field bound to an optional query value (empty: any).
fn field(ui: &mut egui::Ui, label: &str, v: &mut Option<String>, hint: &str) {
    ui.label(label);
    let mut s = v.clone().unwrap_or_default();
    // Sized, not desired: a grid column would otherwise shrink to its
    // first frame's width.
    if ui
        .add_sized(
            [170.0, 20.0],
            egui::TextEdit::singleline(&mut s).hint_text(hint),
        )
        .changed()
    {
        *v = (!s.trim().is_empty()).then(|| s.trim().to_string());
    }
}

/// The studies found, each with its series as selectable rows. Patient
/// names show here only: the user typed the query that found them.
fn results(ui: &mut egui::Ui, p: &mut PacsUi) {
    let state = &mut *p.state;
    egui::ScrollArea::vertical()
        .max_height(320.0)
        .auto_shrink([false, true])
        .show(ui, |ui| {
            egui::Grid::new("pacs-results")
                .num_columns(5)
                .striped(true)
                .show(ui, |ui| {
                    for h in ["Date", "Patient", "Modality", "Images", "Description"] {
                        ui.strong(h);
                    }
                    ui.end_row();
                    for study in &state.results {
                        study_row(ui, study);
                        for s in &study.series {
                            ui.label("");
                            let picked = state.selected.as_deref() == Some(s.series_uid.as_str());
                            let label = format!(
                                "  series {}",
                                s.number.map(|n| n.to_string()).unwrap_or_default()
                            );
                            if ui.selectable_label(picked, label).clicked() {
                                state.selected = Some(s.series_uid.clone());
                            }
                            ui.label(&s.modality);
                            ui.label(
                                s.instances
                                    .map(|n| n.to_string())
                                    .unwrap_or_else(|| "?".into()),
                            );
                            ui.label(&s.description)
                                .on_hover_text(format!("Series UID {}", s.series_uid));
                            ui.end_row();
                        }
                    }
                });
        });
}

fn study_row(ui: &mut egui::Ui, study: &StudyHit) {
    let date = &study.study_date;
    let date = if date.len() == 8 {
        format!("{}-{}-{}", &date[..4], &date[4..6], &date[6..])
    } else {
        date.clone()
    };
    ui.strong(date);
    ui.strong(format!(
        "{}  {}",
        study.patient_name.replace('^', " "),
        study.patient_id
    ));
    ui.strong(study.modalities.join(", "));
    ui.label("");
    ui.strong(&study.description)
        .on_hover_text(format!("Accession {}", study.accession));
    ui.end_row();
}

fn export_window(ctx: &egui::Context, p: &mut PacsUi) {
    let mut open = true;
    let mut go = false;
    let e = &mut *p.export;
    egui::Window::new("Export DICOM")
        .open(&mut open)
        .default_width(500.0)
        .show(ctx, |ui| {
            ui.label("Filed in the scan's study as a new series, for the PACS, 3D Slicer or OHIF.");
            ui.horizontal_wrapped(|ui| {
                ui.radio_value(
                    &mut e.kind,
                    DicomKind::Seg,
                    "DICOM SEG (the segments' voxels)",
                );
                ui.radio_value(
                    &mut e.kind,
                    DicomKind::Stl,
                    "Encapsulated STL (the surfaces)",
                );
                ui.radio_value(&mut e.kind, DicomKind::Obj, "Encapsulated OBJ + MTL");
            });
            egui::Grid::new("dicom-export-dest")
                .num_columns(2)
                .show(ui, |ui| {
                    ui.label("Folder");
                    ui.add(egui::TextEdit::singleline(&mut e.folder).desired_width(360.0));
                    ui.end_row();
                    ui.label("Name");
                    ui.add(egui::TextEdit::singleline(&mut e.name).desired_width(200.0));
                    ui.end_row();
                });
            if e.kind != DicomKind::Seg {
                ui.checkbox(
                    &mut e.visible_only,
                    "Only the visible segments (their built surfaces)",
                );
                ui.checkbox(&mut e.split, "One object per segment");
            }
            let node = if p.state.node.trim().is_empty() {
                "(pick one in File ▸ Open from PACS)".to_string()
            } else {
                p.state.node.clone()
            };
            ui.checkbox(&mut e.send, format!("Send to PACS node {node}"));
            ui.label(format!("Writes {}", e.path().display()));
            go = ui.button("Write").clicked();
        });
    if go {
        p.write.write(DicomExportRequest);
    }
    if !open {
        p.export.open = false;
    }
}
