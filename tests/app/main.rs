//! The app's integration tests, in one test binary so the app is linked once.

mod batch;
mod checkers;
mod checkers_margin;
mod checklist;
#[path = "../support/checks.rs"]
mod checks;
mod cli;
mod doctor;
mod exports;
mod gui;
mod job_panic;
mod kill9;
mod live;
mod live_join;
mod live_reconnect;
mod memory;
mod nnunet_cli;
#[path = "../support/nnunet.rs"]
mod nnunet_support;
// A throwaway Orthanc for the PACS tests, shared with the core's tests.
#[path = "../support/orthanc.rs"]
mod orthanc;
mod package;
mod pacs;
mod pipeline;
mod presets;
mod privacy;
mod privacy_checkers;
mod sculpt;
mod session;
mod volume;
mod window;
mod xr;
mod xr_avatars;
mod xr_brush;
mod xr_input;
mod xr_live;
mod xr_panel;
mod xr_pointer;
mod xr_surgery;
// A client library for the XR tests: not every helper is used by every test.
#[allow(dead_code)]
mod xr_remote;

/// Public imaging data beside the clone (`../shared/data`), or where
/// STRATUM_SHARED_DATA points; tests that need it fail with this message.
pub fn shared_data() -> std::path::PathBuf {
    let p = std::env::var_os("STRATUM_SHARED_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data"));
    assert!(
        p.join("README.md").exists(),
        "these tests read {}: put the shared data there or set STRATUM_SHARED_DATA",
        p.display()
    );
    p
}
