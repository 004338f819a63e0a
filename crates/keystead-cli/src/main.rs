//! The `keystead` binary: `keystead server` runs the service; every other subcommand is a
//! client of its REST API.
#![forbid(unsafe_code)]

mod cli;
mod client;
mod commands;
mod config;
mod server;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::client::{exit, ApiFailure, Unreachable};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Server(args) => {
            tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_env("KEYSTEAD_LOG")
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
                )
                .init();
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
