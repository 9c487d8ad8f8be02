//! `stratum`: the desktop app (no subcommand) and the command line
//! (inspect, anonymize, convert), all on the same core.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    if args.version {
        return cli::doctor::version();
    }
    let Some(command) = args.command else {
        // Bevy installs its own log subscriber for the app.
        let g = args.gui;
        let exit = stratum::app::run(stratum::app::GuiOptions {
            input: g.path,
            series: g.series,
            subset: g.subset.subset(),
            model: g.model,
            labels: g.labels.map(|l| (l, g.names)),
            turntable: g.turntable,
            clip: g.clip,
            rulers: g.ruler,
            screenshot: g.screenshot,
            preset: g.preset,
            render: g.render.unwrap_or_default(),
            xr: g.xr,
            xr_trace: g.xr_trace,
            eye_size: g.eye_size,
            width: g.size.0,
            height: g.size.1,
        });
        return if exit.is_success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    };
    // wgpu's driver complaints (`doctor` probes the GPU) would bury doctor's
    // plain answer; RUST_LOG brings them back.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,wgpu_hal=off,wgpu_core=off")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    cli::run(command)
}
