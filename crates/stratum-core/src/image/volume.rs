//! The volume: voxels on a regular grid plus the geometry that places them in
//! patient space (LPS, millimetres).

use ndarray::Array3;

/// Voxels in the narrowest type that holds the rescaled values exactly.
/// Index order is (z, y, x): slice, row, column.
#[derive(Clone, Debug, PartialEq)]
pub enum Voxels {
    U8(Array3<u8>),
    I16(Array3<i16>),
    U16(Array3<u16>),
    I32(Array3<i32>),
    F32(Array3<f32>),
}

/// Runs `$body` with `$a` bound to the typed array inside a [`Voxels`].
#[macro_export]
macro_rules! with_voxels {
    ($v:expr, $a:ident => $body:expr) => {
        match $v {
            $crate::image::volume::Voxels::U8($a) => $body,
            $crate::image::volume::Voxels::I16($a) => $body,
            $crate::image::volume::Voxels::U16($a) => $body,
            $crate::image::volume::Voxels::I32($a) => $body,
            $crate::image::volume::Voxels::F32($a) => $body,
        }
    };
}

/// Scalar voxel types a [`Voxels`] can hold.
pub trait VoxelType: Copy + Send + Sync + PartialOrd + 'static {
    fn to_f64(self) -> f64;
    fn to_f32(self) -> f32;
    /// The largest value not above `level`, saturated to the type's range
    /// (`level` itself for floats): for an integer `v`, `v > level` exactly
    /// when `v > floor_of(level)`, unless `level` is below the type's range.
    fn floor_of(level: f32) -> Self;
    /// An iso-level strictly between two values of the type, and those two
    /// values `(lo, hi)` with `lo <= iso < hi`: for integers a whole
    /// `level` moves down half a step (`v >= level` is then `v > iso`),
    /// for floats the values are `level` less and plus a relative epsilon.
    fn around(level: f32) -> (f32, Self, Self);
}
macro_rules! voxel_type {
    ($($t:ty),*) => {$(impl VoxelType for $t {
        #[inline] fn to_f64(self) -> f64 { self as f64 }
        #[inline] fn to_f32(self) -> f32 { self as f32 }
        #[inline] fn floor_of(level: f32) -> Self { level.floor() as $t }
        fn around(level: f32) -> (f32, Self, Self) {
            let iso = if level.fract() == 0.0 { level - 0.5 } else { level };
            // Saturating casts: a level outside the type's range puts
            // every voxel on one side.
            let lo = iso.floor() as $t;
            let hi = (iso.floor() + 1.0) as $t;
            (iso, lo, hi)
        }
    })*};
}
voxel_type!(u8, i16, u16, i32);
impl VoxelType for f32 {
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline]
    fn floor_of(level: f32) -> Self {
        level
    }
    fn around(level: f32) -> (f32, Self, Self) {
        // Far above the f32 rounding of the level, far below any contrast.
        let eps = level.abs().max(1.0) * 1e-5;
        (level, level - eps, level + eps)
    }
}

impl Voxels {
    /// (slices, rows, columns)
    pub fn dim(&self) -> (usize, usize, usize) {
        with_voxels!(self, a => a.dim())
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Voxels::U8(_) => "u8",
            Voxels::I16(_) => "i16",
            Voxels::U16(_) => "u16",
            Voxels::I32(_) => "i32",
            Voxels::F32(_) => "f32",
        }
    }

    pub fn bytes_per_voxel(&self) -> usize {
        match self {
            Voxels::U8(_) => 1,
            Voxels::I16(_) | Voxels::U16(_) => 2,
            Voxels::I32(_) | Voxels::F32(_) => 4,
        }
    }

    pub fn len(&self) -> usize {
        let (z, y, x) = self.dim();
        z * y * x
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value at (z, y, x) as f64; `None` outside the grid.
    #[inline]
    pub fn get(&self, z: usize, y: usize, x: usize) -> Option<f64> {
        with_voxels!(self, a => a.get((z, y, x)).map(|v| v.to_f64()))
    }

    /// Minimum and maximum value (NaN-free for floats: NaNs are skipped).
    pub fn min_max(&self) -> (f64, f64) {
        use rayon::prelude::*;
        with_voxels!(self, a => {
            let slice = a.as_slice_memory_order().expect("volumes are contiguous");
            slice
                .par_chunks(1 << 16)
                .map(|c| {
                    c.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                        let v = v.to_f64();
                        if v.is_nan() { (lo, hi) } else { (lo.min(v), hi.max(v)) }
                    })
                })
                .reduce(
                    || (f64::INFINITY, f64::NEG_INFINITY),
                    |a, b| (a.0.min(b.0), a.1.max(b.1)),
                )
        })
    }

    /// A copy converted to f32 (for filters and model input).
    pub fn to_f32(&self) -> Array3<f32> {
        with_voxels!(self, a => a.mapv(|v| v.to_f64() as f32))
    }
}

/// Where the grid sits in patient space. Axis 0 of `spacing` and `direction`
/// is the column (x) axis, axis 1 the row (y) axis, axis 2 the slice (z) axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Geometry {
    /// LPS position (mm) of the centre of voxel (0, 0, 0).
    pub origin: [f64; 3],
    /// Voxel size (mm) along x (between columns), y (between rows), z (between slices).
    pub spacing: [f64; 3],
    /// Unit LPS direction of each index axis: `direction[0]` is the direction
    /// of increasing column index, `[1]` of row, `[2]` of slice.
    pub direction: [[f64; 3]; 3],
}

impl Default for Geometry {
    fn default() -> Self {
        Geometry {
            origin: [0.0; 3],
            spacing: [1.0; 3],
            direction: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        }
    }
}

impl Geometry {
    /// LPS position (mm) of a continuous index (x = column, y = row, z = slice).
    #[inline]
    pub fn index_to_lps(&self, idx: [f64; 3]) -> [f64; 3] {
        let mut p = self.origin;
        for (axis, &i) in idx.iter().enumerate() {
            let step = i * self.spacing[axis];
            for (c, pc) in p.iter_mut().enumerate() {
                *pc += step * self.direction[axis][c];
            }
        }
        p
    }

    /// Continuous index (x, y, z) of an LPS position; exact inverse of
    /// [`index_to_lps`](Self::index_to_lps), also for non-orthogonal axes.
    pub fn lps_to_index(&self, p: [f64; 3]) -> [f64; 3] {
        let m = self.index_matrix();
        let inv = invert3(&m).unwrap_or([[0.0; 3]; 3]);
        let d = sub(p, self.origin);
        let mut out = [0.0; 3];
        for (r, o) in out.iter_mut().enumerate() {
            *o = inv[r][0] * d[0] + inv[r][1] * d[1] + inv[r][2] * d[2];
        }
        out
    }

    /// Matrix whose column `a` is the LPS step of one voxel along index axis `a`.
    fn index_matrix(&self) -> [[f64; 3]; 3] {
        let mut m = [[0.0; 3]; 3];
        for a in 0..3 {
            for c in 0..3 {
                m[c][a] = self.direction[a][c] * self.spacing[a];
            }
        }
        m
    }

    /// The normal of the slice planes (row direction x column direction).
    pub fn slice_normal(&self) -> [f64; 3] {
        normalize(cross(self.direction[0], self.direction[1]))
    }

    /// True when the three axes are mutually perpendicular (within 1e-4).
    pub fn is_orthogonal(&self) -> bool {
        let d = &self.direction;
        dot(d[0], d[1]).abs() < 1e-4 && dot(d[0], d[2]).abs() < 1e-4 && dot(d[1], d[2]).abs() < 1e-4
    }

    /// Three-letter orientation code of the index axes in the patient frame,
    /// e.g. "LPS" for an axial HFS CT (x toward patient Left, ...).
    pub fn orientation_code(&self) -> String {
        self.direction.iter().map(|d| axis_letter(*d)).collect()
    }
}

fn axis_letter(d: [f64; 3]) -> char {
    let (i, v) = d.iter().enumerate().fold((0, 0.0f64), |(bi, bv), (i, &v)| {
        if v.abs() > bv.abs() { (i, v) } else { (bi, bv) }
    });
    match (i, v >= 0.0) {
        (0, true) => 'L',
        (0, false) => 'R',
        (1, true) => 'P',
        (1, false) => 'A',
        (2, true) => 'S',
        _ => 'I',
    }
}

/// A scan volume: voxels plus geometry plus the little metadata the pipeline needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Volume {
    pub voxels: Voxels,
    pub geometry: Geometry,
    /// DICOM modality ("CT", "MR", ...) or "OT" when unknown (NIfTI).
    pub modality: String,
}

impl Volume {
    pub fn new(voxels: Voxels, geometry: Geometry, modality: impl Into<String>) -> Self {
        Volume {
            voxels,
            geometry,
            modality: modality.into(),
        }
    }

    /// (slices, rows, columns)
    pub fn dim(&self) -> (usize, usize, usize) {
        self.voxels.dim()
    }

    pub fn is_ct(&self) -> bool {
        self.modality.eq_ignore_ascii_case("CT")
    }

    /// Bytes held by the voxels.
    pub fn voxel_bytes(&self) -> usize {
        self.voxels.len() * self.voxels.bytes_per_voxel()
    }

    /// LPS position of voxel (x, y, z) (integer index).
    pub fn voxel_lps(&self, x: usize, y: usize, z: usize) -> [f64; 3] {
        self.geometry.index_to_lps([x as f64, y as f64, z as f64])
    }

    /// Trilinear sample at an LPS position; `None` outside the grid.
    pub fn sample_lps(&self, p: [f64; 3]) -> Option<f64> {
        let i = self.geometry.lps_to_index(p);
        self.sample_index(i)
    }

    /// Trilinear sample at a continuous index (x, y, z); `None` outside.
    pub fn sample_index(&self, i: [f64; 3]) -> Option<f64> {
        let (nz, ny, nx) = self.dim();
        let n = [nx, ny, nz];
        let mut base = [0usize; 3];
        let mut frac = [0.0f64; 3];
        for a in 0..3 {
            let v = i[a];
            if !(v > -1e-6 && v < n[a] as f64 - 1.0 + 1e-6) {
                return None;
            }
            let v = v.clamp(0.0, (n[a] - 1) as f64);
            let b = (v.floor() as usize).min(n[a].saturating_sub(2));
            base[a] = b;
            frac[a] = if n[a] > 1 { v - b as f64 } else { 0.0 };
        }
        let mut acc = 0.0;
        for dz in 0..2 {
            for dy in 0..2 {
                for dx in 0..2 {
                    let w = (if dx == 1 { frac[0] } else { 1.0 - frac[0] })
                        * (if dy == 1 { frac[1] } else { 1.0 - frac[1] })
                        * (if dz == 1 { frac[2] } else { 1.0 - frac[2] });
                    if w == 0.0 {
                        continue;
                    }
                    let (x, y, z) = (
                        (base[0] + dx).min(nx - 1),
                        (base[1] + dy).min(ny - 1),
                        (base[2] + dz).min(nz - 1),
                    );
                    acc += w * self.voxels.get(z, y, x)?;
                }
            }
        }
        Some(acc)
    }
}

// Small vector helpers shared by the geometry code (the app's too).
#[inline]
pub fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
#[inline]
pub fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
#[inline]
pub fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}
#[inline]
pub fn norm(a: [f64; 3]) -> f64 {
    dot(a, a).sqrt()
}
#[inline]
pub fn normalize(a: [f64; 3]) -> [f64; 3] {
    let n = norm(a);
    if n == 0.0 {
        a
    } else {
        [a[0] / n, a[1] / n, a[2] / n]
    }
}
pub(crate) fn invert3(m: &[[f64; 3]; 3]) -> Option<[[f64; 3]; 3]> {
    let det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1])
        - m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0])
        + m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
    if det.abs() < 1e-12 {
        return None;
    }
    let inv_det = 1.0 / det;
    let mut r = [[0.0; 3]; 3];
    r[0][0] = (m[1][1] * m[2][2] - m[1][2] * m[2][1]) * inv_det;
    r[0][1] = (m[0][2] * m[2][1] - m[0][1] * m[2][2]) * inv_det;
    r[0][2] = (m[0][1] * m[1][2] - m[0][2] * m[1][1]) * inv_det;
    r[1][0] = (m[1][2] * m[2][0] - m[1][0] * m[2][2]) * inv_det;
    r[1][1] = (m[0][0] * m[2][2] - m[0][2] * m[2][0]) * inv_det;
    r[1][2] = (m[0][2] * m[1][0] - m[0][0] * m[1][2]) * inv_det;
    r[2][0] = (m[1][0] * m[2][1] - m[1][1] * m[2][0]) * inv_det;
    r[2][1] = (m[0][1] * m[2][0] - m[0][0] * m[2][1]) * inv_det;
    r[2][2] = (m[0][0] * m[1][1] - m[0][1] * m[1][0]) * inv_det;
    Some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_lps_round_trip_on_oblique_grid() {
        let c = 0.3f64.cos();
        let s = 0.3f64.sin();
        let g = Geometry {
            origin: [-100.0, 20.0, 35.5],
            spacing: [0.7, 0.8, 2.5],
            // tilted stack: slice axis not perpendicular to the plane
            direction: [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, 0.0, 1.0]],
        };
        let p = g.index_to_lps([10.0, 20.5, 3.25]);
        let i = g.lps_to_index(p);
        for (a, b) in i.iter().zip([10.0, 20.5, 3.25]) {
            assert!((a - b).abs() < 1e-9, "{i:?}");
        }
        assert!(!g.is_orthogonal());
    }

    #[test]
    fn orientation_code_names_patient_axes() {
        let g = Geometry::default();
        assert_eq!(g.orientation_code(), "LPS");
        let g = Geometry {
            direction: [[-1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]],
            ..Geometry::default()
        };
        assert_eq!(g.orientation_code(), "RAS");
    }

    #[test]
    fn trilinear_sampling_interpolates_between_voxels() {
        let a = Array3::from_shape_fn((2, 2, 2), |(z, _, x)| (z * 10 + x) as i16);
        let v = Volume::new(Voxels::I16(a), Geometry::default(), "CT");
        assert_eq!(v.sample_index([0.5, 0.0, 0.5]), Some(5.5));
        assert_eq!(v.sample_index([2.5, 0.0, 0.0]), None);
    }
}
