//! The boundary around third-party decoders: a panic inside one (a codec
//! indexing past a damaged stream) becomes a message, so the file is
//! reported unreadable by name instead of taking the process down.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs `f`; a panic in it comes back as `Err` with the panic's message.
/// Only for calls into code we do not own: our own code returns errors.
pub fn catch_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no details".into())
    })
}
