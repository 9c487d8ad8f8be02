//! C-STORE of DICOM files to a node (our SEG and Encapsulated STL/OBJ
//! objects, or any series): one association, a presentation context per
//! SOP class and transfer syntax, each file sent as it is stored.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_object::OpenFileOptions;

use super::assoc::Scu;
use super::dimse::{self, StatusClass, status_class, status_text};
use super::query::check_response;
use super::{Node, PacsConfig, PacsError, Result};
use crate::base::error::CoreError;
use crate::base::progress::Progress;

/// What a send did: files stored, and those refused with the reason.
#[derive(Clone, Debug, Default)]
pub struct StoreReport {
    pub stored: usize,
    pub warnings: Vec<(PathBuf, String)>,
}

struct Item {
    path: PathBuf,
    class: String,
    instance: String,
    ts: String,
}

fn read_item(path: &Path) -> Result<Item> {
    let obj = crate::dicom::lengths::parse_bounded(path, || {
        OpenFileOptions::new()
            .read_until(tags::PIXEL_DATA)
            .open_file(path)
            .map_err(|e| CoreError::NotDicom {
                path: path.to_path_buf(),
                reason: super::error::first_line(&e.to_string()),
            })
    })?;
    let meta = obj.meta();
    let clean = |s: &str| s.trim_end_matches(['\0', ' ']).to_string();
    Ok(Item {
        path: path.to_path_buf(),
        class: clean(&meta.media_storage_sop_class_uid),
        instance: clean(&meta.media_storage_sop_instance_uid),
        ts: clean(&meta.transfer_syntax),
    })
}

/// Sends `files` (DICOM Part 10 files) to `node`. Stops at the first
/// refusal (a failure status), naming the file; warnings are reported.
pub fn store_files(
    config: &PacsConfig,
    node: &Node,
    files: &[PathBuf],
    progress: &Progress,
) -> Result<StoreReport> {
    let items: Vec<Item> = files.iter().map(|f| read_item(f)).collect::<Result<_>>()?;
    if items.is_empty() {
        return Err(PacsError::Config("no file to send".into()));
    }
    // One context per (class, stored syntax); native objects may also go
    // as the other native syntax.
    let pairs: BTreeSet<(String, String)> = items
        .iter()
        .map(|i| (i.class.clone(), i.ts.clone()))
        .collect();
    let contexts: Vec<(String, Vec<String>)> = pairs
        .iter()
        .map(|(class, ts)| {
            let mut list = vec![ts.clone()];
            if super::assoc::NATIVE.contains(&ts.as_str()) {
                list.extend(
                    super::assoc::NATIVE
                        .iter()
                        .filter(|t| **t != ts)
                        .map(|t| t.to_string()),
                );
            }
            (class.clone(), list)
        })
        .collect();
    let mut scu = Scu::open(config, node, &contexts, &[])?;
    progress.begin("sending", items.len() as u64);
    let mut report = StoreReport::default();
    for item in &items {
        if progress.is_cancelled() {
            scu.abort();
            return Err(PacsError::Cancelled);
        }
        let (ctx, ts) = scu
            .context(&item.class)
            .ok_or_else(|| PacsError::NotOffered {
                node: node.name.clone(),
                what: format!("storage of SOP class {}", item.class),
            })?;
        if ts != item.ts && !super::assoc::NATIVE.contains(&item.ts.as_str()) {
            return Err(PacsError::NotOffered {
                node: node.name.clone(),
                what: format!("transfer syntax {} of {}", item.ts, file_name(&item.path)),
            });
        }
        let obj = crate::dicom::lengths::parse_bounded(&item.path, || {
            dicom_object::open_file(&item.path).map_err(|e| CoreError::NotDicom {
                path: item.path.clone(),
                reason: super::error::first_line(&e.to_string()),
            })
        })?;
        let data = dimse::encode_dataset(&obj, &ts).map_err(|reason| PacsError::Encode {
            file: super::error::file_name(&item.path),
            reason,
        })?;
        drop(obj);
        let id = scu.next_id();
        scu.send(
            ctx,
            &dimse::store_rq(id, &item.class, &item.instance),
            Some(&data),
        )?;
        let rsp = scu.receive()?;
        check_response(&node.name, "C-STORE", &rsp, dimse::C_STORE_RSP, id)?;
        let status = rsp.status().ok_or_else(|| {
            PacsError::malformed(&node.name, "a C-STORE response without a status")
        })?;
        match status_class(status) {
            StatusClass::Success => report.stored += 1,
            StatusClass::Warning => {
                report.stored += 1;
                report
                    .warnings
                    .push((item.path.clone(), status_text(status)));
            }
            _ => {
                return Err(PacsError::Status {
                    node: node.name.clone(),
                    operation: "C-STORE",
                    status: format!("{} for {}", status_text(status), file_name(&item.path)),
                    comment: rsp.str(tags::ERROR_COMMENT),
                });
            }
        }
        progress.advance(1);
    }
    scu.release();
    Ok(report)
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
