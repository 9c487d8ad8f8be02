//! NIfTI-1 input (.nii, .nii.gz): volumes and label maps into [`Volume`],
//! with the sform/qform mapped from NIfTI's RAS to DICOM's LPS.

use std::path::Path;

use ndarray::{Array3, ArrayD};
use nifti::{IntoNdArray, NiftiHeader, NiftiObject, NiftiType, ReaderOptions};

use crate::base::error::{CoreError, Result};
use crate::base::progress::Progress;
use crate::image::volume::{Geometry, Volume, Voxels, norm};
use crate::segment::{LabelMap, Labels};

/// True for paths that name a NIfTI file.
pub fn is_nifti_path(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    name.ends_with(".nii") || name.ends_with(".nii.gz")
}

/// Loads a NIfTI volume. A 4D file with several volumes yields the first.
#[tracing::instrument(level = "info", skip_all)]
pub fn load_nifti(path: &Path, progress: &Progress) -> Result<Volume> {
    let err = |reason: String| CoreError::Nifti {
        path: path.to_path_buf(),
        reason,
    };
    if !path.exists() {
        return Err(CoreError::NotFound {
            path: path.to_path_buf(),
        });
    }
    progress.begin("reading NIfTI", 1);
    check_size(path)?;
    let obj = ReaderOptions::new()
        .read_file(path)
        .map_err(|e| err(e.to_string()))?;
    progress.check()?;
    let header = obj.header().clone();
    let dim = header.dim;
    let ndim = dim[0] as usize;
    if !(2..=7).contains(&ndim) {
        return Err(err(format!("{ndim} dimensions; a volume needs 3")));
    }
    let (nx, ny, nz) = (
        dim[1] as usize,
        dim[2] as usize,
        if ndim >= 3 { dim[3] as usize } else { 1 },
    );
    if nx == 0 || ny == 0 || nz == 0 {
        return Err(err("an axis has size 0".into()));
    }
    let datatype = header.data_type().map_err(|e| err(e.to_string()))?;
    let identity = header.scl_slope == 0.0 || (header.scl_slope == 1.0 && header.scl_inter == 0.0);
    let volume = obj.into_volume();
    // nifti 0.18's conversion panics ("Inconsistent raw data size") on some
    // headers whose shape does not fit their data (found by fuzz/nifti).
    let voxels = crate::base::guard::catch_panic(move || {
        read_voxels(path, volume, datatype, identity, [nx, ny, nz])
    })
    .map_err(|panic| err(format!("the data does not match the header ({panic})")))??;
    let voxels = narrow_integral(voxels);
    progress.advance(1);
    let modality = guess_modality(&voxels);
    Ok(Volume::new(voxels, geometry_from_header(&header), modality))
}

/// The first 3D volume of a NIfTI object's data, in the type that holds it.
fn read_voxels(
    path: &Path,
    volume: nifti::InMemNiftiVolume,
    datatype: NiftiType,
    identity: bool,
    [nx, ny, nz]: [usize; 3],
) -> Result<Voxels> {
    let err = |reason: String| CoreError::Nifti {
        path: path.to_path_buf(),
        reason,
    };

    fn to3<T: Clone>(
        a: ArrayD<T>,
        nx: usize,
        ny: usize,
        nz: usize,
    ) -> std::result::Result<Array3<T>, String> {
        // NIfTI stores x fastest, so the memory order of the (x, y, z, t)
        // Fortran-order array is exactly a C-order (t, z, y, x) array: keep
        // the first 3D volume without copying.
        let n = nx * ny * nz;
        let (mut raw, _) = a.into_raw_vec_and_offset();
        if raw.len() < n {
            return Err("the data is shorter than its dimensions".into());
        }
        raw.truncate(n);
        Array3::from_shape_vec((nz, ny, nx), raw)
            .map_err(|e| format!("the data does not match its dimensions: {e}"))
    }
    let e = |x: nifti::NiftiError| err(x.to_string());
    let voxels = match (datatype, identity) {
        (NiftiType::Uint8, true) => {
            Voxels::U8(to3(volume.into_ndarray::<u8>().map_err(e)?, nx, ny, nz).map_err(err)?)
        }
        (NiftiType::Int8 | NiftiType::Int16, true) => {
            Voxels::I16(to3(volume.into_ndarray::<i16>().map_err(e)?, nx, ny, nz).map_err(err)?)
        }
        (NiftiType::Uint16, true) => {
            Voxels::U16(to3(volume.into_ndarray::<u16>().map_err(e)?, nx, ny, nz).map_err(err)?)
        }
        (NiftiType::Int32 | NiftiType::Uint32, true) => {
            Voxels::I32(to3(volume.into_ndarray::<i32>().map_err(e)?, nx, ny, nz).map_err(err)?)
        }
        (
            NiftiType::Rgb24 | NiftiType::Rgba32 | NiftiType::Complex64 | NiftiType::Complex128,
            _,
        ) => {
            return Err(err(format!("{datatype:?} data is not a scalar volume")));
        }
        _ => Voxels::F32(to3(volume.into_ndarray::<f32>().map_err(e)?, nx, ny, nz).map_err(err)?),
    };
    Ok(voxels)
}

/// Refuses a file whose header claims more voxels than the file holds (a
/// plain .nii) or than memory allows, before the reader allocates them.
fn check_size(path: &Path) -> Result<()> {
    let err = |reason: String| CoreError::Nifti {
        path: path.to_path_buf(),
        reason,
    };
    let header = NiftiHeader::from_file(path).map_err(|e| err(e.to_string()))?;
    let dims = header.dim().map_err(|e| err(e.to_string()))?;
    // The reader sizes the data by bitpix and converts it by datatype: a
    // header where they disagree made nifti 0.18 panic (fuzz/nifti).
    if let Ok(datatype) = header.data_type()
        && datatype.size_of() * 8 != header.bitpix.max(0) as usize
    {
        return Err(err(format!(
            "bitpix is {} but the data type {datatype:?} has {} bits; the header is damaged",
            header.bitpix,
            datatype.size_of() * 8
        )));
    }
    // The reader sizes the data as `bitpix as usize / 8`: a negative bitpix
    // (with a datatype it does not know, so the check above passes) asked
    // it for 2^61 bytes (fuzz/nifti).
    if header.bitpix <= 0 {
        return Err(err(format!(
            "bitpix is {}; a voxel needs a positive number of bits, so the header is damaged",
            header.bitpix
        )));
    }
    // The reader loads every volume of a 4D+ file.
    let voxels = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .unwrap_or(u64::MAX);
    let bytes_per_voxel = (header.bitpix.max(8) as u64).div_ceil(8);
    let data_bytes = voxels.saturating_mul(bytes_per_voxel);
    if !path.to_string_lossy().to_ascii_lowercase().ends_with(".gz") {
        let len = std::fs::metadata(path)
            .map_err(|e| CoreError::io(path, e))?
            .len();
        let offset = (header.vox_offset.max(0.0) as u64).max(348);
        if offset.saturating_add(data_bytes) > len {
            return Err(err(format!(
                "the header describes {} voxels ({} bytes of data) but the file holds {len} bytes; the file is truncated or damaged",
                dims.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(" x "),
                data_bytes
            )));
        }
    }
    let plane = dims.iter().take(2).map(|&d| d as u64).product::<u64>();
    // The raw data, then the voxels converted to their stored type.
    crate::base::memory::ensure_fits(
        &format!(
            "the NIfTI volume ({} voxels)",
            dims.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(" x ")
        ),
        voxels,
        crate::base::memory::study_bytes(voxels, 4, false).saturating_add(data_bytes),
        crate::base::memory::study_bytes(plane, 4, false).saturating_add(plane * bytes_per_voxel),
    )
}

/// Writes a label map as NIfTI (`.nii` or `.nii.gz`), u8 or u16 labels,
/// with the scan's geometry in the sform (RAS, as NIfTI wants), so other
/// tools (ITK-SNAP, 3D Slicer, nibabel) overlay it on the scan. The write is
/// atomic: a temporary file in the target folder, then a rename. The file
/// holds no patient-identifying value (the description names Stratum only).
#[tracing::instrument(level = "info", skip_all)]
pub fn write_labels_nifti(path: &Path, labels: &LabelMap) -> Result<()> {
    let werr = |reason: String| CoreError::Write {
        path: path.to_path_buf(),
        reason,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let gz = name.ends_with(".nii.gz");
    if !gz && !name.ends_with(".nii") {
        return Err(werr("the file name must end in .nii or .nii.gz".into()));
    }
    let dir = crate::base::atomic::parent_dir(path);
    crate::base::atomic::create_folder(dir)?;
    let stem = name.trim_end_matches(".gz").trim_end_matches(".nii");
    // The writer replaces the extension after the last dot but one with
    // "nii" or "nii.gz" (nifti 0.18's output_paths): give it a name whose
    // result is our temporary name, and use that result. (A plain `.nii`
    // target used to land at `.NAME.PID.nii`, and the rename then failed.)
    let requested =
        crate::base::atomic::temp_path(dir, stem, if gz { ".nii.gz" } else { ".x.nii" });
    let tmp = {
        let mut p = requested.clone();
        p.set_extension("");
        p.with_extension(if gz { "nii.gz" } else { "nii" })
    };
    let g = &labels.geometry;
    let mut header = NiftiHeader::default();
    // voxel -> LPS columns, then LPS -> RAS (negate x and y).
    let mut rows = [[0f32; 4]; 3];
    for r in 0..3 {
        let sign = if r < 2 { -1.0 } else { 1.0 };
        for a in 0..3 {
            rows[r][a] = (sign * g.direction[a][r] * g.spacing[a]) as f32;
        }
        rows[r][3] = (sign * g.origin[r]) as f32;
    }
    header.srow_x = rows[0];
    header.srow_y = rows[1];
    header.srow_z = rows[2];
    header.sform_code = 1;
    header.qform_code = 0;
    header.pixdim = [
        1.0,
        g.spacing[0] as f32,
        g.spacing[1] as f32,
        g.spacing[2] as f32,
        1.0,
        1.0,
        1.0,
        1.0,
    ];
    header.xyzt_units = 2; // mm
    header.descrip = b"Stratum label map".to_vec();
    let writer = nifti::writer::WriterOptions::new(&requested)
        .reference_header(&header)
        .compress(gz);
    // The writer takes (x, y, z) arrays; ours are (z, y, x).
    let result = match &labels.labels {
        Labels::U8(a) => writer.write_nifti(&a.view().reversed_axes()),
        Labels::U16(a) => writer.write_nifti(&a.view().reversed_axes()),
    };
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(werr(match e {
            nifti::NiftiError::Io(io) => crate::base::atomic::explain(&io, dir),
            other => other.to_string(),
        }));
    }
    // The writer does not sync: a crash after the rename must not leave a
    // file whose blocks never reached the disk.
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            werr(crate::base::atomic::explain(&e, dir))
        })?;
    crate::base::atomic::commit(&tmp, path)?;
    crate::base::atomic::remove_stale_temps(dir, stem);
    Ok(())
}

/// Stores integral data (float label maps, int32 CT) in the narrowest
/// integer type that holds every value exactly.
fn narrow_integral(v: Voxels) -> Voxels {
    let integral = match &v {
        Voxels::F32(a) => a.iter().all(|x| x.fract() == 0.0),
        Voxels::I32(_) => true,
        _ => false,
    };
    if !integral {
        return v;
    }
    let (lo, hi) = v.min_max();
    match v {
        Voxels::F32(a) if lo >= 0.0 && hi <= 255.0 => Voxels::U8(a.mapv(|x| x as u8)),
        Voxels::F32(a) if lo >= i16::MIN as f64 && hi <= i16::MAX as f64 => {
            Voxels::I16(a.mapv(|x| x as i16))
        }
        Voxels::I32(a) if lo >= 0.0 && hi <= 255.0 => Voxels::U8(a.mapv(|x| x as u8)),
        Voxels::I32(a) if lo >= i16::MIN as f64 && hi <= i16::MAX as f64 => {
            Voxels::I16(a.mapv(|x| x as i16))
        }
        other => other,
    }
}

/// NIfTI does not record the modality. Values down to air (about -1000)
/// and up past soft tissue are read as CT in Hounsfield units, so the CT
/// presets apply; anything else is "OT".
fn guess_modality(v: &Voxels) -> &'static str {
    let (lo, hi) = v.min_max();
    if (-3100.0..=-900.0).contains(&lo) && (200.0..=10000.0).contains(&hi) {
        "CT"
    } else {
        "OT"
    }
}

/// The voxel-to-LPS geometry: sform when set, else qform, else pixdim.
pub fn geometry_from_header(h: &NiftiHeader) -> Geometry {
    let ras = affine_ras(h);
    // RAS -> LPS: negate the first two rows.
    let mut m = ras;
    for c in 0..4 {
        m[0][c] = -m[0][c];
        m[1][c] = -m[1][c];
    }
    let mut g = Geometry {
        origin: [m[0][3], m[1][3], m[2][3]],
        ..Geometry::default()
    };
    for a in 0..3 {
        let col = [m[0][a], m[1][a], m[2][a]];
        let len = norm(col);
        if len > 0.0 {
            g.spacing[a] = len;
            g.direction[a] = [col[0] / len, col[1] / len, col[2] / len];
        }
    }
    g
}

/// 3x4 voxel-to-RAS affine (rows x, y, z).
fn affine_ras(h: &NiftiHeader) -> [[f64; 4]; 3] {
    let pix = |i: usize| {
        let v = h.pixdim[i] as f64;
        if v > 0.0 { v } else { 1.0 }
    };
    if h.sform_code > 0 {
        let r = |s: [f32; 4]| s.map(|v| v as f64);
        return [r(h.srow_x), r(h.srow_y), r(h.srow_z)];
    }
    if h.qform_code > 0 {
        let (b, c, d) = (h.quatern_b as f64, h.quatern_c as f64, h.quatern_d as f64);
        let a = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
        let qfac = if h.pixdim[0] < 0.0 { -1.0 } else { 1.0 };
        let rot = [
            [
                a * a + b * b - c * c - d * d,
                2.0 * (b * c - a * d),
                2.0 * (b * d + a * c),
            ],
            [
                2.0 * (b * c + a * d),
                a * a + c * c - b * b - d * d,
                2.0 * (c * d - a * b),
            ],
            [
                2.0 * (b * d - a * c),
                2.0 * (c * d + a * b),
                a * a + d * d - b * b - c * c,
            ],
        ];
        let s = [pix(1), pix(2), pix(3) * qfac];
        let off = [h.quatern_x as f64, h.quatern_y as f64, h.quatern_z as f64];
        let mut m = [[0.0; 4]; 3];
        for r in 0..3 {
            for col in 0..3 {
                m[r][col] = rot[r][col] * s[col];
            }
            m[r][3] = off[r];
        }
        return m;
    }
    [
        [pix(1), 0.0, 0.0, 0.0],
        [0.0, pix(2), 0.0, 0.0],
        [0.0, 0.0, pix(3), 0.0],
    ]
}
