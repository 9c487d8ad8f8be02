//! Memory budget: what a study will need, checked before anything big is
//! allocated, so a scan too large for the machine is refused with a clear
//! message instead of the process being killed by the kernel.
//!
//! The budget is `STRATUM_MEMORY_LIMIT` when set (bytes, or with a K/M/G
//! suffix: `512M`, `24G`), else the kernel's `MemAvailable`. On systems
//! without `/proc/meminfo` only the hard cap applies.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::base::error::{CoreError, Result};
use crate::base::sizes::{Offer, human};

/// Environment variable that sets the budget (tests, or a user who wants
/// Stratum to leave room for other programs).
pub const MEMORY_LIMIT_ENV: &str = "STRATUM_MEMORY_LIMIT";

/// Largest voxel count any loader accepts, whatever the machine: 2^34
/// (16 Gi voxels, 32 GiB of i16). A header that claims more (65535³ is
/// 2.8e14) is refused before any allocation.
pub const MAX_VOXELS: u64 = 1 << 34;

/// Largest image side a loader accepts (DICOM's Rows/Columns are 16-bit).
pub const MAX_SIDE: u64 = 65_535;

/// The budget in bytes, and where it comes from (for the message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    pub bytes: u64,
    pub source: BudgetSource,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetSource {
    /// `STRATUM_MEMORY_LIMIT`.
    Env,
    /// The kernel's MemAvailable.
    Available,
}

/// Parses `512M`, `24G`, `1.5GiB`, `1000000` (bytes).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim().to_ascii_uppercase();
    let t = t.trim_end_matches('B').trim_end_matches('I');
    let (num, mult) = match t.chars().last()? {
        'K' => (&t[..t.len() - 1], 1u64 << 10),
        'M' => (&t[..t.len() - 1], 1 << 20),
        'G' => (&t[..t.len() - 1], 1 << 30),
        'T' => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num.trim().parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some((v * mult as f64) as u64)
}

/// The kernel's MemAvailable in bytes.
pub fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// This process's peak resident memory in bytes (Linux: VmHWM), where the
/// system tells it.
pub fn peak_rss() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Starts [`peak_rss`] afresh from the current size (Linux: writing 5 to
/// /proc/self/clear_refs), so it measures the work that follows.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The current budget: the environment's limit, else MemAvailable.
pub fn budget() -> Option<Budget> {
    if let Some(v) = std::env::var_os(MEMORY_LIMIT_ENV)
        && let Some(bytes) = parse_size(&v.to_string_lossy())
    {
        return Some(Budget {
            bytes,
            source: BudgetSource::Env,
        });
    }
    mem_available().map(|bytes| Budget {
        bytes,
        source: BudgetSource::Available,
    })
}

/// What opening a scan of `voxels` voxels of `voxel_bytes` each needs at
/// its peak: the voxels, a resampled copy when the stack is resampled, a
/// u8 label map and the meshes of a typical segmentation (measured: a bone
/// surface of a 512² CT is about 1/4 of the voxel bytes).
pub fn study_bytes(voxels: u64, voxel_bytes: u64, resample: bool) -> u64 {
    let scan = voxels.saturating_mul(voxel_bytes);
    let copy = if resample { scan } else { 0 };
    scan.saturating_add(copy)
        .saturating_add(voxels)
        .saturating_add(scan / 4)
        .saturating_add(voxels.saturating_mul(EXTRA_PER_VOXEL.load(Ordering::Relaxed)))
}

/// Bytes a voxel the program keeps beyond the core's own (see
/// [`reserve_per_voxel`]).
static EXTRA_PER_VOXEL: AtomicU64 = AtomicU64::new(0);

/// Tells the estimate that this program keeps `bytes` more per voxel than
/// the core does (the app: its slice and volume textures), so a study it
/// cannot hold is refused before loading rather than after.
pub fn reserve_per_voxel(bytes: u64) {
    EXTRA_PER_VOXEL.store(bytes, Ordering::Relaxed);
}

/// Refuses `what` (e.g. "the series: 512 x 512 x 4000 voxels") when it needs
/// more than the budget or the hard cap. `per_slice` is what one slice
/// needs, so the message can say how many slices would fit.
pub fn ensure_fits(what: &str, voxels: u64, needed: u64, per_slice: u64) -> Result<()> {
    check(what, voxels, needed, per_slice, None)
}

/// [`ensure_fits`] for a DICOM series of `slices` slices, which can be
/// opened in part: the refusal carries an [`Offer`] (a range of slices, a
/// downsampled copy) that fits, and its message names the options.
pub fn ensure_series_fits(
    what: &str,
    voxels: u64,
    needed: u64,
    per_slice: u64,
    slices: u64,
) -> Result<()> {
    check(what, voxels, needed, per_slice, Some(slices))
}

fn check(what: &str, voxels: u64, needed: u64, per_slice: u64, slices: Option<u64>) -> Result<()> {
    if voxels > MAX_VOXELS {
        return Err(CoreError::TooLarge {
            what: what.to_string(),
            needed,
            limit: 0,
            hint: format!(
                "Stratum opens at most {} voxels (16 Gi); this is more than any scanner produces, so the file is probably damaged",
                MAX_VOXELS
            ),
            offer: None,
        });
    }
    let Some(budget) = budget() else {
        return Ok(());
    };
    if needed <= budget.bytes {
        return Ok(());
    }
    let source = match budget.source {
        BudgetSource::Env => format!("the limit {MEMORY_LIMIT_ENV} sets"),
        BudgetSource::Available => "the memory this machine has free".to_string(),
    };
    let fit = budget.bytes.checked_div(per_slice).unwrap_or(0);
    let offer = slices.map(|n| Offer {
        slices: fit.min(n),
        total: n,
        downsample: downsample_that_fits(needed, budget.bytes),
    });
    let hint = match (offer, fit >= 2) {
        (Some(o), _) => {
            let mut ways = Vec::new();
            if o.slices >= 2 {
                ways.push(format!(
                    "about {} slices of this size would fit: open a range of them (--slices 1-{})",
                    o.slices, o.slices
                ));
            }
            if let Some(f) = o.downsample {
                ways.push(format!(
                    "a copy downsampled {f} times in each direction would fit (--downsample {f})"
                ));
            }
            if ways.is_empty() {
                ways.push("not even a downsampled copy fits".into());
            }
            format!(
                "{source} is {}; {} (or close other programs)",
                human(budget.bytes),
                ways.join("; or ")
            )
        }
        (None, true) => format!(
            "{source} is {}; about {fit} slices of this size would fit: open a shorter range of slices or a downsampled copy of the scan, made with another tool (or close other programs)",
            human(budget.bytes)
        ),
        (None, false) => format!(
            "{source} is {}; not even two slices of this size fit: open a downsampled copy (or close other programs)",
            human(budget.bytes)
        ),
    };
    Err(CoreError::TooLarge {
        what: what.to_string(),
        needed,
        limit: budget.bytes,
        hint,
        offer,
    })
}

/// The smallest block-averaging factor (2 to 8) whose study fits: every
/// factor divides the voxels by its cube; the decode's block sums (4 bytes
/// a voxel) and one full-size frame per thread come on top, so the study
/// is counted twice, and a 64th of the full size for the frames.
fn downsample_that_fits(needed: u64, budget: u64) -> Option<u32> {
    (2u32..=8).find(|&f| needed / (f as u64).pow(3) * 2 + needed / 64 <= budget)
}

/// Has the allocator give every freed buffer of 256 KiB or more back to the
/// system at once. glibc otherwise raises its threshold for that to the
/// largest buffer freed so far (up to 32 MiB): after a load, the masks and
/// marching cubes' slabs came from its heap, and their memory stayed in the
/// process when freed, so each stage's buffers added to the last one's
/// (`stratum convert --preset bone`: 1.44x the voxel bytes with the
/// default, 1.29x with this; BENCHMARKS.md). Process-wide: for a command
/// line run, not a library caller's choice to make. No-op elsewhere.
pub fn return_large_frees() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; any value is valid.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
    }
}

/// Caps glibc's malloc arenas at one per core (2 to 8), for the desktop
/// app. glibc gives each thread that meets contention an arena of its own
/// (up to 8 per core) and keeps what is freed there for that arena: the
/// buffers a study's jobs freed on the task pools' threads stayed resident
/// while the renderer's threads allocated anew (the 512x512x300 phantom's
/// bone surface: 874-904 MB peak, 780 MB with 4 arenas; BENCHMARKS.md,
/// issue 33). Call before any thread starts: arenas are handed out as
/// threads first allocate. An `arena_max` the user set in
/// `GLIBC_TUNABLES` wins. Process-wide, like [`return_large_frees`]. No-op
/// elsewhere.
pub fn cap_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc.arena_max")) {
            return;
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = cores.clamp(2, 8) as libc::c_int;
        // SAFETY: mallopt only sets an allocator parameter; any value is valid.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

/// Hands the heap's free pages back to the system (`malloc_trim`:
/// milliseconds for hundreds of megabytes, safe beside other threads'
/// allocations). The app calls it once a burst of background jobs has
/// ended. No-op elsewhere.
pub fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let t = std::time::Instant::now();
        // SAFETY: malloc_trim only walks glibc's own free lists, each arena
        // under its lock.
        unsafe {
            libc::malloc_trim(0);
        }
        tracing::debug!("heap trimmed in {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_and_without_suffix() {
        assert_eq!(parse_size("1000"), Some(1000));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("1.5GiB"), Some(3 << 29));
        assert_eq!(parse_size("24g"), Some(24 << 30));
        assert_eq!(parse_size("lots"), None);
    }
}
