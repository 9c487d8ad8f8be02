//! Integration tests of stratum-core, in one test binary.

mod accuracy;
mod ai;
mod ai_stages;
mod ai_window;
mod anonymize;
mod bad_input;
mod batch;
// The rule for a check whose tool is missing, shared with the app's tests.
#[path = "../../../../tests/support/checks.rs"]
mod checks;
mod clip;
mod derived;
mod distance;
mod document;
mod edit_brush;
mod edit_history;
mod export_margin;
mod export_texture;
mod exports;
mod fitness;
// Shapes the tests build their scans and masks from.
mod fixtures;
mod fuzz_regressions;
mod install;
mod limits;
mod live;
mod live_avatars;
mod live_pen;
mod live_rejoin;
mod live_surfaces;
mod live_tls;
mod live_viewers;
mod meshing;
mod mosaic;
mod motion;
mod nnunet;
// The nnU-Net fixture (nnU-Net's own predictions), shared with the app's tests.
#[path = "../../../../tests/support/nnunet.rs"]
mod nnunet_support;
// A throwaway Orthanc for the PACS tests, shared with the app's tests.
#[path = "../../../../tests/support/orthanc.rs"]
mod orthanc;
mod pacs;
mod pacs_tls;
mod real_data;
mod resection;
mod segmentation;
mod session;
mod share_page;
mod subset;
mod synthetic;
mod tool_edits;
mod trace;
mod transfer;
mod validation;

use std::path::PathBuf;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Public imaging data beside the clone (`../shared/data`), or where
/// STRATUM_SHARED_DATA points. Tests that need it fail with this message
/// rather than pass silently.
pub fn shared_data() -> PathBuf {
    let p = std::env::var_os("STRATUM_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("../shared/data"));
    assert!(
        p.join("README.md").exists(),
        "the real-data tests read {}: put the shared data there or set STRATUM_SHARED_DATA",
        p.display()
    );
    p
}
