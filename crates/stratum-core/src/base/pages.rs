//! Large zeroed buffers (a volume, a mask) whose memory the kernel backs
//! with 2 MiB pages where it can: filling a fresh 150 MiB volume otherwise
//! takes 38,000 page faults, which on the 2-core benchmark machine cost
//! more than decoding the slices into it (see BENCHMARKS.md, loading).
//! Linux's transparent huge pages in `madvise` mode (the usual default)
//! give them to ranges that ask; elsewhere this is a plain zeroed vector.

/// Below this a buffer is left to the allocator as it is.
const HUGE_FROM: usize = 8 << 20;
const HUGE_PAGE: usize = 2 << 20;

/// Element types whose all-zero bytes are their zero value.
pub trait Zeroed: Copy + Default {}
impl Zeroed for u8 {}
impl Zeroed for i16 {}
impl Zeroed for u16 {}
impl Zeroed for i32 {}
impl Zeroed for u32 {}
impl Zeroed for u64 {}
impl Zeroed for f32 {}
impl Zeroed for [f32; 3] {}

/// `n` zero values. A large buffer comes fresh from the kernel (the
/// allocator's zeroed allocation maps it untouched), and is advised to
/// be backed by huge pages before anything touches it.
pub fn zeroed<T: Zeroed>(n: usize) -> Vec<T> {
    let v = vec![T::default(); n];
    let bytes = n.saturating_mul(std::mem::size_of::<T>());
    if bytes >= HUGE_FROM {
        advise_huge(v.as_ptr() as usize, bytes);
    }
    v
}

#[cfg(target_os = "linux")]
fn advise_huge(start: usize, len: usize) {
    // Only whole 2 MiB pages inside the buffer.
    let lo = start.next_multiple_of(HUGE_PAGE);
    let hi = (start + len) / HUGE_PAGE * HUGE_PAGE;
    if hi > lo {
        // SAFETY: [lo, hi) lies inside the live allocation of the vector
        // just created and is page-aligned; MADV_HUGEPAGE changes only how
        // the kernel backs those pages, never their contents or mapping,
        // so no Rust reference sees any change. A refusal (THP off, an
        // old kernel) leaves the ordinary pages.
        unsafe {
            libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge(_: usize, _: usize) {}
