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
    // `stratum join` opens the desktop app (Bevy installs its own log
    // subscriber), following the session.
    let command = match args.command {
        Some(cli::Command::Join(j)) => return cli::join::join_cmd(j),
        c => c,
    };
    let Some(command) = command else {
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
            margin: g.margin,
            cut_points: g.cut_point,
            margin_shell: g.margin_shell,
            screenshot: g.screenshot,
            preset: g.preset,
            render: g.render.unwrap_or_default(),
            xr: g.xr,
            xr_trace: g.xr_trace,
            eye_size: g.eye_size,
            width: g.size.0,
            height: g.size.1,
            join: Default::default(),
        });
        return if exit.is_success() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    };
    // Log lines as RUST_LOG says (warnings by default, without wgpu's driver
    // complaints: `doctor` probes the GPU, and they would bury its plain
    // answer); with STRATUM_TRACE=FILE every span of Stratum's stages also
    // goes to a Chrome trace file.
    use tracing_subscriber::prelude::*;
    let log = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("warn,wgpu_hal=off,wgpu_core=off")
            }),
        );
    let trace = stratum_core::base::trace::ChromeTrace::from_env().map(|t| {
        t.with_filter(tracing_subscriber::filter::filter_fn(|m| {
            m.target().starts_with("stratum")
        }))
    });
    tracing_subscriber::registry().with(log).with(trace).init();
    cli::run(command)
}
