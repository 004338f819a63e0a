//! The `keystead` binary: `keystead server` runs the service; every other subcommand is a
//! client of its REST API.
#![forbid(unsafe_code)]

mod audit;
mod backup;
mod cli;
mod client;
mod cmd;
mod commands;
mod compliance;
mod config;
mod inventory;
mod oversight;
mod recovery;
mod server;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::client::{exit, ApiFailure, Unreachable};

/// Exit status of a process whose output pipe was closed by its reader (128 + SIGPIPE).
const BROKEN_PIPE_EXIT: i32 = 141;

/// `keystead ... | head` closes stdout early: end quietly, as Unix tools do, instead of
/// printing a panic with a backtrace.
fn quiet_on_broken_pipe() {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if message.contains("failed printing to stdout") && message.contains("Broken pipe") {
            std::process::exit(BROKEN_PIPE_EXIT);
        }
        default_hook(info);
    }));
}

/// The server's log on stderr: `KEYSTEAD_LOG` filters (default `info`); ANSI colours only
/// when stderr is a terminal, so log files hold plain text.
fn init_logging(format: config::LogFormat) {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("KEYSTEAD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal());
    match format {
        config::LogFormat::Text => builder.init(),
        // The request span's fields (request_id, method, path) go on every line it covers.
        config::LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).init(),
    }
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Server(args) => {
            let format = args
                .log_format
                // A file that does not load leaves the default; the server then reports why.
                .or_else(|| {
                    args.config
                        .as_deref()
                        .and_then(|path| config::ServerConfig::load(path).ok())
                        .map(|c| c.log.format)
                })
                .unwrap_or_default();
            init_logging(format);
            server::run(args).map(|()| 0)
        }
        _ => commands::run(cli),
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(err) => {
            eprintln!("error: {err:#}");
            let code = if let Some(failure) = err.downcast_ref::<ApiFailure>() {
                failure.exit_code()
            } else if err.downcast_ref::<Unreachable>().is_some() {
                exit::UNREACHABLE
            } else {
                exit::FAILURE
            };
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
    }
}
