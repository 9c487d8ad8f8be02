//! The motion check's profiles taken while a CT series is decoded, so the
//! check itself reads no voxel again.

use std::sync::Mutex;

use super::CT_WINDOW;
use crate::checks::register::{self, Profiles, SliceSums};
use crate::dicom::{RowVisitor, SliceVisitor};
use crate::image::volume::{Volume, Voxels};

/// The check's first pass, made while a CT series is decoded: each
/// slice's profiles are summed by the thread that decodes it, a band of
/// rows at a time as the loader writes them ([`SliceVisitor`]), while the
/// band is still in the core's first cache, so the check reads no voxel
/// again (a second pass over a 512 x 512 x 300 scan was most of its time,
/// and a whole slice read back after decoding had already left the
/// cache). Other scans' window comes from their voxels, so they get no
/// early profiles.
#[derive(Debug)]
pub struct DecodeProfiles {
    window: (i16, i16),
    got: Mutex<Vec<(usize, Profiles)>>,
}

impl DecodeProfiles {
    /// For a series of this modality: CT only.
    pub fn for_modality(modality: &str) -> Option<DecodeProfiles> {
        if !modality.eq_ignore_ascii_case("CT") {
            return None;
        }
        Some(DecodeProfiles {
            window: register::window_i16(CT_WINDOW)?,
            got: Mutex::default(),
        })
    }

    /// Takes slice `z` whole (`data`: its voxels, row-major, `nx` to a row).
    pub fn slice(&self, z: usize, data: &[i16], nx: usize) {
        if nx == 0 {
            return;
        }
        let p = register::slice_profiles_i16(data, data.len() / nx, nx, self.window);
        self.take(z, p);
    }

    fn take(&self, z: usize, p: Profiles) {
        if let Ok(mut got) = self.got.lock() {
            got.push((z, p));
        }
    }

    /// The profiles of every slice of `volume`, when they were all taken
    /// from its own 16-bit voxels.
    pub(super) fn of(self, volume: &Volume) -> Option<Vec<Profiles>> {
        let Voxels::I16(_) = &volume.voxels else {
            return None;
        };
        let (nz, ny, nx) = volume.dim();
        if !volume.is_ct() {
            return None;
        }
        let mut got = self.got.into_inner().ok()?;
        got.sort_by_key(|(z, _)| *z);
        got.dedup_by_key(|(z, _)| *z);
        let fits = got.len() == nz
            && got.iter().enumerate().all(|(i, (z, p))| {
                *z == i && p.cols.len() == nx && p.rows.len() == ny.div_ceil(p.row_step.max(1))
            });
        fits.then(|| got.into_iter().map(|(_, p)| p).collect())
    }
}

impl SliceVisitor<i16> for DecodeProfiles {
    fn begin(&self, z: usize, ny: usize, nx: usize) -> Box<dyn RowVisitor<i16> + '_> {
        Box::new(Bands {
            owner: self,
            z,
            sums: SliceSums::new(ny, nx, self.window),
        })
    }
}

/// One slice's profiles, summed band by band as it is decoded.
struct Bands<'a> {
    owner: &'a DecodeProfiles,
    z: usize,
    sums: SliceSums,
}

impl RowVisitor<i16> for Bands<'_> {
    fn rows(&mut self, data: &[i16]) {
        self.sums.add(data);
    }

    fn done(self: Box<Self>) {
        self.owner.take(self.z, self.sums.finish());
    }
}
