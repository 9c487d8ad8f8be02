//! Encapsulated STL, OBJ and MTL objects (modality M3D): the very bytes of
//! the STL / OBJ / MTL exports, wrapped with the source study's patient and
//! study, a new series, units in millimetres (the exports' LPS mm) and a
//! reference to the source series. Each file is written atomically.

use std::path::{Path, PathBuf};

use dicom_core::value::PrimitiveValue;
use dicom_core::{DataElement, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::{
    ENCAPSULATED_MTL_STORAGE, ENCAPSULATED_OBJ_STORAGE, ENCAPSULATED_STL_STORAGE, Source, common,
    new_uid, put_seq, put_str, write_object,
};
use crate::base::error::{CoreError, Result};
use crate::export::error::ExportError;
use crate::export::{ExportSegment, unique_names};

/// Which model format goes in the objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeshObject {
    /// Binary STL (one object, or one per segment).
    Stl,
    /// OBJ with its MTL as a second object (flat colours: a DICOM MTL
    /// cannot carry the PNG texture).
    Obj,
}

fn encapsulated(
    source: &Source,
    class: &str,
    series_uid: &str,
    title: &str,
    mime: &str,
    bytes: &[u8],
) -> (InMemDicomObject, String) {
    let sop = new_uid();
    let mut o = common(
        false,
        source,
        class,
        &sop,
        series_uid,
        "M3D",
        "3D model (Stratum)",
        301,
    );
    put_str(&mut o, tags::BURNED_IN_ANNOTATION, VR::CS, "NO");
    put_str(&mut o, tags::ACQUISITION_DATE_TIME, VR::DT, "");
    put_seq(&mut o, tags::CONCEPT_NAME_CODE_SEQUENCE, Vec::new());
    put_str(&mut o, tags::DOCUMENT_TITLE, VR::ST, title);
    let mut mm = InMemDicomObject::new_empty();
    put_str(&mut mm, tags::CODE_VALUE, VR::SH, "mm");
    put_str(&mut mm, tags::CODING_SCHEME_DESIGNATOR, VR::SH, "UCUM");
    put_str(&mut mm, tags::CODE_MEANING, VR::LO, "mm");
    put_seq(&mut o, tags::MEASUREMENT_UNITS_CODE_SEQUENCE, vec![mm]);
    put_str(
        &mut o,
        tags::MIME_TYPE_OF_ENCAPSULATED_DOCUMENT,
        VR::LO,
        mime,
    );
    let mut doc = bytes.to_vec();
    if doc.len() % 2 == 1 {
        doc.push(0);
    }
    o.put(DataElement::new(
        tags::ENCAPSULATED_DOCUMENT,
        VR::OB,
        PrimitiveValue::from(doc),
    ));
    o.put(DataElement::new(
        tags::ENCAPSULATED_DOCUMENT_LENGTH,
        VR::UL,
        PrimitiveValue::from(bytes.len() as u32),
    ));
    (o, sop)
}

/// The segments' surfaces as Encapsulated STL (or OBJ + MTL) objects at
/// `path` (`NAME.stl.dcm` / `NAME.obj.dcm`, the MTL beside it as
/// `NAME.mtl.dcm`); with `split`, one object per segment named
/// `NAME_<segment>.stl.dcm`. All objects of one call share a new series.
pub fn write_mesh_objects(
    path: &Path,
    kind: MeshObject,
    segments: &[ExportSegment<'_>],
    split: bool,
    source: &Source,
) -> Result<Vec<PathBuf>> {
    if segments.is_empty() {
        return Err(ExportError::NoMesh { verb: "export" }.into());
    }
    let dir = crate::base::atomic::parent_dir(path);
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = file
        .strip_suffix(".stl.dcm")
        .or_else(|| file.strip_suffix(".obj.dcm"))
        .unwrap_or(file.trim_end_matches(".dcm"))
        .to_string();
    let series_uid = new_uid();
    let mut written = Vec::new();
    match kind {
        MeshObject::Stl => {
            let groups: Vec<(String, Vec<ExportSegment<'_>>)> = if split {
                unique_names(segments)
                    .into_iter()
                    .zip(segments)
                    .map(|(n, s)| (format!("{stem}_{n}"), vec![s.clone()]))
                    .collect()
            } else {
                vec![(stem.clone(), segments.to_vec())]
            };
            for (name, group) in groups {
                let stl = crate::export::stl_bytes(&group);
                let title = group.iter().map(|s| s.name).collect::<Vec<_>>().join(", ");
                let (obj, sop) = encapsulated(
                    source,
                    ENCAPSULATED_STL_STORAGE,
                    &series_uid,
                    &title,
                    "model/stl",
                    &stl,
                );
                let out = dir.join(format!("{name}.stl.dcm"));
                write_object(&out, obj, ENCAPSULATED_STL_STORAGE, &sop)?;
                written.push(out);
            }
        }
        MeshObject::Obj => {
            let (obj_text, mtl_text) = obj_and_mtl(dir, &stem, segments)?;
            let title = segments
                .iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
                .join(", ");
            let (mtl, mtl_sop) = encapsulated(
                source,
                ENCAPSULATED_MTL_STORAGE,
                &series_uid,
                &title,
                "model/mtl",
                mtl_text.as_bytes(),
            );
            let (mut obj, obj_sop) = encapsulated(
                source,
                ENCAPSULATED_OBJ_STORAGE,
                &series_uid,
                &title,
                "model/obj",
                obj_text.as_bytes(),
            );
            // The OBJ names its material library by instance.
            let mut r = InMemDicomObject::new_empty();
            put_str(
                &mut r,
                tags::REFERENCED_SOP_CLASS_UID,
                VR::UI,
                ENCAPSULATED_MTL_STORAGE,
            );
            put_str(&mut r, tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, &mtl_sop);
            put_seq(&mut obj, tags::REFERENCED_INSTANCE_SEQUENCE, vec![r]);
            let mtl_out = dir.join(format!("{stem}.mtl.dcm"));
            let obj_out = dir.join(format!("{stem}.obj.dcm"));
            write_object(&mtl_out, mtl, ENCAPSULATED_MTL_STORAGE, &mtl_sop)?;
            write_object(&obj_out, obj, ENCAPSULATED_OBJ_STORAGE, &obj_sop)?;
            written.push(obj_out);
            written.push(mtl_out);
        }
    }
    Ok(written)
}

/// The OBJ and MTL text of the flat-coloured export, without the PNG
/// (its `map_Kd` lines dropped: the colours are the materials' Kd).
fn obj_and_mtl(dir: &Path, stem: &str, segments: &[ExportSegment<'_>]) -> Result<(String, String)> {
    let tmp = crate::base::atomic::temp_path(dir, &format!("{stem}-obj"), "");
    crate::base::atomic::create_folder(&tmp)?;
    let result = (|| {
        let obj_path = tmp.join(format!("{stem}.obj"));
        crate::export::write_obj(&obj_path, segments, None)?;
        let read = |p: PathBuf| std::fs::read_to_string(&p).map_err(|e| CoreError::io(p, e));
        let obj = read(obj_path)?;
        let mtl = read(tmp.join(format!("{stem}.mtl")))?;
        let mtl: String = mtl
            .lines()
            .filter(|l| !l.starts_with("map_Kd"))
            .map(|l| {
                if l.starts_with('#') {
                    "# Stratum materials; one per segment, flat colours (Kd)".to_string()
                } else {
                    l.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        Ok((obj, mtl + "\n"))
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}
