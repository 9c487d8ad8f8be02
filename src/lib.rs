//! The Stratum desktop app (Bevy + egui) on top of `stratum-core`. The
//! binary's command line lives in `main.rs`; this library holds the app's
//! plugins so the integration tests can build them headless.

pub mod app;
