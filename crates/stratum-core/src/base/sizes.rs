//! What a refusal for size names, shared by the memory budget and the error
//! it raises: byte counts as a person reads them, and the part of a DICOM
//! series that would fit.

/// Bytes as a person reads them: "1.5 GiB", "340 MiB".
pub fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= (1u64 << 30) as f64 {
        format!("{:.1} GiB", b / (1u64 << 30) as f64)
    } else if b >= (1u64 << 20) as f64 {
        format!("{:.0} MiB", b / (1u64 << 20) as f64)
    } else {
        format!("{:.0} KiB", (b / 1024.0).ceil())
    }
}

/// What would fit of a series that does not: the first `slices` slices (or
/// any range as long), or a copy averaged over blocks of `downsample`³
/// voxels. The app offers both; the CLI names `--slices` and `--downsample`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offer {
    /// How many slices of the series fit (fewer than `total`).
    pub slices: u64,
    /// How many slices the series has (as asked: after any range).
    pub total: u64,
    /// The smallest block-averaging factor that fits, if one does (up to 8).
    pub downsample: Option<u32>,
}
