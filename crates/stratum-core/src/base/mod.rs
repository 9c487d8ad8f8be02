//! What every stage stands on: typed errors, progress and cancellation,
//! atomic writes, the memory budget and large buffers, the boundary around
//! third-party decoders, tracing, and where installed data is found.

pub mod atomic;
pub mod error;
pub mod guard;
pub mod install;
pub mod memory;
pub mod pages;
pub mod progress;
pub mod sizes;
pub mod tls;
pub mod trace;
