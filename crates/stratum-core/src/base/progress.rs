//! Progress and cancellation shared between a long task and whoever watches it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::base::error::{CoreError, Result};

/// A cheap, cloneable handle: the worker advances it, the UI or terminal
/// reads it, and either side may cancel. All counters are atomics so polling
/// from another thread each frame never blocks the worker.
#[derive(Clone, Default)]
pub struct Progress {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    done: AtomicU64,
    total: AtomicU64,
    cancelled: AtomicBool,
    stage: Mutex<String>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Progress")
            .field("stage", &self.stage())
            .field("done", &self.done())
            .field("total", &self.total())
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl Progress {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a new stage: names it and resets the counters.
    pub fn begin(&self, stage: &str, total: u64) {
        if let Ok(mut s) = self.inner.stage.lock() {
            s.clear();
            s.push_str(stage);
        }
        self.inner.done.store(0, Ordering::Relaxed);
        self.inner.total.store(total, Ordering::Relaxed);
    }

    /// Adds `n` finished units to the current stage.
    pub fn advance(&self, n: u64) {
        self.inner.done.fetch_add(n, Ordering::Relaxed);
    }

    pub fn set_done(&self, n: u64) {
        self.inner.done.store(n, Ordering::Relaxed);
    }

    pub fn done(&self) -> u64 {
        self.inner.done.load(Ordering::Relaxed)
    }

    pub fn total(&self) -> u64 {
        self.inner.total.load(Ordering::Relaxed)
    }

    /// Fraction of the current stage, 0..=1 (0 when the total is unknown).
    pub fn fraction(&self) -> f32 {
        let total = self.total();
        if total == 0 {
            0.0
        } else {
            (self.done() as f64 / total as f64).clamp(0.0, 1.0) as f32
        }
    }

    pub fn stage(&self) -> String {
        self.inner
            .stage
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::Relaxed)
    }

    /// Returns `Err(Cancelled)` once cancel was requested; workers call this
    /// between units of work so cancelling stops promptly.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(CoreError::Cancelled)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_is_seen_by_clones() {
        let p = Progress::new();
        let q = p.clone();
        p.begin("decode", 10);
        q.advance(5);
        assert_eq!(p.fraction(), 0.5);
        assert!(p.check().is_ok());
        q.cancel();
        assert!(matches!(p.check(), Err(CoreError::Cancelled)));
        assert_eq!(p.stage(), "decode");
    }
}
