//! `stratum join LINK`: the desktop app (or the headset with --xr)
//! following a live session another Stratum or `stratum live` presents:
//! the session's scan and segmentation, then every edit, the presenter's
//! view, and the pen when the presenter hands it over.

use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct JoinArgs {
    /// The link the presenter shares (the whole of it, with the part after
    /// '#'): http://, or https:// through a proxy (the system's trusted
    /// certificates, and SSL_CERT_FILE's, vouch for it)
    pub link: String,
    /// Your name, as the presenter and the others see it
    #[arg(long, default_value = "")]
    name: String,
    /// Write the session as JSON lines to this file: the document's
    /// arrival and each edit applied, with the label map's SHA-256 (checks)
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Follow in the OpenXR headset (the window stays as the spectator view)
    #[arg(long)]
    xr: bool,
    /// Window size in logical pixels, WIDTHxHEIGHT
    #[arg(long, default_value = "1600x1000", value_parser = super::gui::parse_size)]
    size: (u32, u32),
    /// Once the session's document has arrived and its surfaces are built,
    /// save the window as a PNG here and exit (checks, documentation)
    #[arg(long, value_name = "PNG")]
    screenshot: Option<PathBuf>,
}

pub fn join_cmd(a: JoinArgs) -> ExitCode {
    if let Err(e) = stratum_core::live::wire::Target::parse(&a.link) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    if let Err(e) = stratum_core::live::keys_from_link(&a.link) {
        eprintln!("error: {e}");
        return ExitCode::from(2);
    }
    let exit = stratum::app::run(stratum::app::GuiOptions {
        width: a.size.0,
        height: a.size.1,
        xr: a.xr,
        join: stratum::app::features::join::JoinOnStart {
            request: Some(stratum::app::features::join::JoinRequest {
                link: a.link,
                name: a.name,
            }),
            trace: a.trace,
        },
        screenshot: a.screenshot,
        ..Default::default()
    });
    if exit.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
