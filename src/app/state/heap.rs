//! The app's use of glibc's heap. A study's big steps (loading,
//! segmenting, meshing) run on the task pools' threads, and glibc gives
//! each thread that meets contention an arena of its own (up to eight per
//! core), keeping what is freed there for that arena. The memory a job
//! freed then stayed resident while the renderer's threads allocated
//! anew elsewhere: ~100 MB for a 512x512x300 scan's bone surface (issue
//! 33, BENCHMARKS.md). Two measures, both no-ops off glibc:
//! - at start, at most one arena per core (2 to 8);
//! - once a burst of background jobs has ended, the freed pages go back
//!   to the system (`malloc_trim`).

/// Caps glibc's arenas at one per core (2 to 8). Call before any thread
/// starts: arenas are handed out as threads first allocate. An
/// `arena_max` the user set in `GLIBC_TUNABLES` wins.
pub fn cap_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains("glibc.malloc.arena_max")) {
            return;
        }
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = cores.clamp(2, 8) as libc::c_int;
        // SAFETY: mallopt only sets one of glibc's malloc parameters.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

/// Hands the heap's free pages back to the system (milliseconds for
/// hundreds of megabytes; safe beside other threads' allocations).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let t = std::time::Instant::now();
        // SAFETY: malloc_trim only walks glibc's own free lists, each
        // arena under its lock.
        unsafe {
            libc::malloc_trim(0);
        }
        tracing::debug!("heap trimmed in {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    }
}
