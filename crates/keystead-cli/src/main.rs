//! The `keystead` binary: `keystead server` runs the service; every other subcommand is a
//! client of its REST API.
#![forbid(unsafe_code)]

mod cli;
mod client;
mod cmd;
mod config;
mod input;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command, Output};
use crate::client::{exit, ApiFailure, Client, TlsOptions, Unreachable};
use crate::cmd::{
    aliases, approvals, audit, backup, compliance, crypto, grants, inventory, keys, operator, principals,
    recovery, server, webhooks,
};

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

/// Runs a client command against the server: one `run` per area.
fn run_client(cli: Cli) -> anyhow::Result<i32> {
    let tls = TlsOptions { ca_cert: cli.ca_cert, client_cert: cli.client_cert.zip(cli.client_key) };
    let token = cli.token.map(|t| zeroize::Zeroizing::new(t.expose_secret().to_owned()));
    let client = Client::new(&cli.addr, token, &tls)?;
    let json = cli.output == Output::Json;
    match cli.command {
        Command::Server(_) => unreachable!("handled in main"),
        Command::Key(command) => keys::run(&client, command, json),
        Command::Encrypt(args) => crypto::encrypt(&client, args, json),
        Command::Decrypt(args) => crypto::decrypt(&client, args, json),
        Command::Sign(args) => crypto::protect(&client, "sign", args, json),
        Command::Verify(args) => crypto::verify(&client, args, json),
        Command::Mac(args) => crypto::protect(&client, "mac", args, json),
        Command::MacVerify(args) => crypto::mac_verify(&client, args, json),
        Command::Wrap(args) => crypto::wrap(&client, args, json),
        Command::Unwrap(args) => crypto::unwrap(&client, args, json),
        Command::Datakey(args) => crypto::datakey(&client, args, json),
        Command::Rewrap(args) => crypto::rewrap(&client, args, json),
        Command::Audit(command) => audit::run(&client, command, json),
        Command::Principal(command) => principals::run_principal(&client, command, json),
        Command::Grant(command) => grants::run(&client, command, json),
        Command::Operator(command) => operator::run(&client, command, json),
        Command::Approval(command) => approvals::run_approval(&client, command, json),
        Command::Exception(command) => approvals::run_exception(&client, command, json),
        Command::Webhook(command) => webhooks::run(&client, command, json),
        Command::Alias(command) => aliases::run(&client, command, json),
        Command::Inventory(command) => inventory::run(&client, command, json),
        Command::Compliance(command) => compliance::run(&client, command),
        Command::Recovery(command) => recovery::run(&client, command, json),
        Command::Backup(command) => backup::run(&client, command, json),
    }
}

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = Cli::parse_from(cli::key_import_token_flag(std::env::args_os()));
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
        _ => run_client(cli),
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

#[cfg(test)]
mod module_graph {
    use std::collections::{BTreeMap, BTreeSet};

    /// Each module's source, by its top-level name (`cmd` covers every area file).
    fn sources() -> Vec<(&'static str, &'static str)> {
        vec![
            ("cli", include_str!("cli.rs")),
            ("client", include_str!("client.rs")),
            ("config", include_str!("config.rs")),
            ("input", include_str!("input.rs")),
            ("output", include_str!("output.rs")),
            ("cmd", include_str!("cmd/mod.rs")),
            ("cmd", include_str!("cmd/aliases.rs")),
            ("cmd", include_str!("cmd/approvals.rs")),
            ("cmd", include_str!("cmd/audit.rs")),
            ("cmd", include_str!("cmd/backup.rs")),
            ("cmd", include_str!("cmd/compliance.rs")),
            ("cmd", include_str!("cmd/crypto.rs")),
            ("cmd", include_str!("cmd/grants.rs")),
            ("cmd", include_str!("cmd/inventory.rs")),
            ("cmd", include_str!("cmd/keys.rs")),
            ("cmd", include_str!("cmd/operator.rs")),
            ("cmd", include_str!("cmd/principals.rs")),
            ("cmd", include_str!("cmd/recovery.rs")),
            ("cmd", include_str!("cmd/server.rs")),
            ("cmd", include_str!("cmd/webhooks.rs")),
        ]
    }

    /// Imports point one way: `main` → `cli` → `cmd` → `client`, `input`, `output`,
    /// `config`. A module that reaches back up would make a cycle.
    #[test]
    fn the_module_graph_has_no_cycle() {
        let names = ["cli", "client", "config", "input", "output", "cmd"];
        let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for (module, text) in sources() {
            for target in names {
                // `crate::cli::` must not match `crate::client::`: the path ends at `::`, `;` or `,`.
                let used = ["::", ";", ","].iter().any(|end| text.contains(&format!("crate::{target}{end}")));
                if target != module && used {
                    edges.entry(module).or_default().insert(target);
                }
            }
        }
        // Every area module is reached from cli, and none reaches cli.
        assert!(edges.get("cli").is_some_and(|t| t.contains("cmd")), "{edges:?}");
        fn reaches(
            edges: &BTreeMap<&str, BTreeSet<&str>>,
            from: &str,
            to: &str,
            seen: &mut BTreeSet<String>,
        ) -> bool {
            if !seen.insert(from.to_owned()) {
                return false;
            }
            edges.get(from).into_iter().flatten().any(|next| *next == to || reaches(edges, next, to, seen))
        }
        for module in names {
            assert!(
                !reaches(&edges, module, module, &mut BTreeSet::new()),
                "{module} is on a cycle: {edges:?}"
            );
        }
    }
}
