//! `stratum live`: a scan's segments (or a saved session) presented live,
//! headless: the live page and its encrypted stream on one port, the
//! follower's and the presenter's links on standard output, and the
//! presenter's document commands (visibility, opacity, undo) applied to
//! the document as they come, until the process is stopped.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use stratum_core::convert::{ConvertOptions, SegmentSource};
use stratum_core::live::page::live_page;
use stratum_core::live::server::Server;
use stratum_core::live::{Host, HostOptions};

#[derive(clap::Args, Debug)]
pub struct LiveArgs {
    /// DICOM folder or file, or a .nii/.nii.gz file (with --session:
    /// optional, checked to be the session's scan)
    pub input: Option<PathBuf>,
    /// Label map (NIfTI), one structure per label
    #[arg(long)]
    labels: Option<PathBuf>,
    /// Names of the labels: a TSV of id<TAB>name (e.g. TotalSegmentator's)
    #[arg(long, requires = "labels")]
    names: Option<PathBuf>,
    /// Threshold preset: bone, soft-tissue, lungs, skin, vessels
    #[arg(long, conflicts_with_all = ["labels", "model"])]
    preset: Option<String>,
    /// Segment with an AI model (`stratum models` lists them)
    #[arg(long, conflicts_with = "labels")]
    model: Option<String>,
    /// A saved session folder (name.stratum)
    #[arg(long, conflicts_with_all = ["labels", "model", "preset"])]
    session: Option<PathBuf>,
    /// Port to listen on (0: any free port)
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Address to listen on: 127.0.0.1 (this machine only) unless told,
    /// e.g. 0.0.0.0 for the local network
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// The address others reach this host at, when it is behind a reverse
    /// proxy or a tunnel (e.g. https://live.example.org/room1/): the links use it
    #[arg(long)]
    public_url: Option<String>,
    /// Fraction of triangles to remove (keeps the download small)
    #[arg(long, default_value_t = 0.9)]
    reduce: f64,
    /// Your name, as those who join see it (who presents)
    #[arg(long, default_value = "")]
    name: String,
    /// Do not send the scan to a Stratum that joins (it gets the label map
    /// only; brushes limited to an intensity range then differ)
    #[arg(long)]
    no_scan: bool,
}

pub fn live_cmd(a: LiveArgs) -> anyhow::Result<ExitCode> {
    if !(0.0..1.0).contains(&a.reduce) {
        anyhow::bail!("--reduce takes a fraction from 0 (keep all) to below 1 (0.9 keeps 10%)");
    }
    let source = match (a.labels, a.model, a.preset) {
        (Some(path), _, _) => SegmentSource::Labels {
            path,
            names: a.names,
        },
        (None, Some(name), _) => SegmentSource::Model { name },
        (None, None, Some(p)) => {
            SegmentSource::Preset(stratum_core::segment::Preset::parse(&p).ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown preset {p:?}: use bone, soft-tissue, lungs, skin or vessels"
                )
            })?)
        }
        // A session brings its own segments: the source is unread.
        (None, None, None) if a.session.is_some() => {
            SegmentSource::Preset(stratum_core::segment::Preset::Bone)
        }
        (None, None, None) => {
            anyhow::bail!(
                "choose the structures: --labels FILE, --preset P, --model NAME or --session S"
            )
        }
    };
    let opts = ConvertOptions {
        source,
        reduce: a.reduce,
        scan_texture: false,
        ..Default::default()
    };
    let start = super::with_progress(false, |p| match (&a.session, &a.input) {
        (Some(s), scan) => stratum_core::convert::live_from_session(s, scan.as_deref(), &opts, p),
        (None, Some(input)) => stratum_core::convert::live_from_scan(input, &opts, p),
        (None, None) => Err(stratum_core::convert::error::ConvertError::NoInput.into()),
    })?;
    let mut doc = start.doc;
    let host = Host::start(
        &mut doc,
        &HostOptions {
            send_scan: !a.no_scan,
        },
    )?;
    host.set_model(&start.model, start.scene);
    host.set_presenter_name(&a.name);
    // Edits (the presenter's undo and redo here) reach browsers as surfaces.
    host.remesh_for_browsers(opts.clone())?;
    let (server, edits) =
        Server::start(host.clone(), SocketAddr::new(a.bind, a.port), live_page()?)?;
    let base = a
        .public_url
        .clone()
        .unwrap_or_else(|| server.network_base());
    let (follow, present) = server.links(Some(&base));
    let mut out = std::io::stdout();
    writeln!(out, "follow: {follow}")?;
    writeln!(out, "present: {present}")?;
    writeln!(
        out,
        "{} KB model; the links' keys (after '#') never reach the server. Stop with Ctrl-C.",
        start.model.len() / 1000
    )?;
    out.flush()?;
    loop {
        match edits.recv_timeout(Duration::from_secs(1)) {
            Ok(edit) => {
                if let Err(e) = doc.apply(edit) {
                    tracing::warn!("live: the presenter's edit was not applied: {e}");
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    host.stop(&mut doc);
    server.stop();
    Ok(ExitCode::SUCCESS)
}
