//! `keystead audit list | verify | export | archive`. `verify --file` runs offline: it reads an export
//! and public keys and never contacts a server.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context, Result};
use clap::Subcommand;
use keystead_api::audit::{AuditEvent, AuditQuery, ChainReport, ExportLine, ExportQuery};
use keystead_server::wire::IntoWire as _;
use keystead_store::archive::verify_archive;
use keystead_store::export::{verify_export, PublicKeys};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::SubjectPublicKeyInfoDer;

use crate::client::{exit, Client};
use crate::output::{dash, print_typed, rfc3339};

/// `keystead audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// List audit events, oldest first.
    List {
        /// Only events about this key.
        #[arg(long)]
        key: Option<String>,
        /// Only events by this principal.
        #[arg(long)]
        actor: Option<String>,
        /// Only events at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// At most this many (the newest).
        #[arg(long)]
        limit: Option<u32>,
        /// Tenant (for --key by name).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Recompute every hash chain and check every signed checkpoint; exits 6 if one is
    /// broken. With --file, checks an export offline (no server) against the audit signing
    /// key's public key(s).
    Verify {
        /// An export written by `audit export`, or an archive written by `audit archive`, to
        /// check offline.
        #[arg(long, requires = "public_keys")]
        file: Option<PathBuf>,
        /// PEM public key of the audit signing key (`keystead key public keystead-audit-signing
        /// [--version N]`), once per version; only with --file.
        #[arg(long = "public-key", value_name = "PEM", requires = "file")]
        public_keys: Vec<PathBuf>,
    },
    /// Move events older than a date into a signed archive file and out of the server's store
    /// (admin). Each node's range ends at its newest signed checkpoint before the date. The
    /// file is verified before the server deletes anything; `audit verify --file` checks it
    /// offline.
    Archive {
        /// Archive events older than this RFC 3339 time (default: `[audit] retain_days` ago).
        #[arg(long)]
        before: Option<String>,
        /// The archive file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Write every audit event exactly as stored, one JSON object per line, for an offline
    /// verifier.
    Export {
        /// The export format.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Formats of `audit export`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
}

/// What `audit export --out FILE --output json` prints.
#[derive(serde::Serialize)]
struct ExportSummary {
    events: u64,
    file: String,
}

/// Rows per export page.
const EXPORT_PAGE: u32 = 5_000;

/// Runs an `audit` subcommand.
pub fn run(client: &Client, command: AuditCommand, json_out: bool) -> Result<i32> {
    match command {
        AuditCommand::List { key, actor, since, limit, tenant } => {
            let query = AuditQuery { key, actor, since, limit, tenant };
            let events: Vec<AuditEvent> = client.get_query_as("/v1/audit", &query)?;
            if json_out {
                print_typed(&events)?;
            } else {
                print_events(&events);
            }
            Ok(0)
        }
        AuditCommand::Verify { file: None, .. } => {
            let report: ChainReport = client.get_as("/v1/audit/verify", &[])?;
            show_report(&report, "audit log", json_out, false)
        }
        AuditCommand::Verify { file: Some(file), public_keys } => {
            let (report, kind) = verify_offline(&file, &public_keys)?;
            // An export always starts with a checkpoint: a chain without one is unproven.
            show_report(&report.into_wire(), &format!("{kind} {}", file.display()), json_out, true)
        }
        AuditCommand::Archive { before, out } => super::audit_archive::run(client, before, &out, json_out),
        AuditCommand::Export { format: ExportFormat::Jsonl, out } => export(client, out.as_deref(), json_out),
    }
}

fn print_events(events: &[AuditEvent]) {
    println!(
        "{:<6}{:<32}{:<12}{:<24}{:<9}{:<20}{:<5}REASON",
        "SEQ", "TIME", "ACTOR", "ACTION", "OUTCOME", "KEY", "VER"
    );
    for positioned in events {
        let e = &positioned.event;
        println!(
            "{:<6}{:<32}{:<12}{:<24}{:<9}{:<20}{:<5}{}",
            positioned.sequence,
            rfc3339(e.occurred_at),
            e.actor,
            e.action,
            e.outcome,
            dash(e.key_name.as_deref()),
            dash(e.version),
            e.reason.as_deref().unwrap_or(""),
        );
    }
}

/// Prints a chain report; exit 6 when a chain is broken, or (with `require_signed`) when a
/// chain has no verified checkpoint: links alone can be recomputed by whoever rewrote them.
fn show_report(report: &ChainReport, what: &str, json_out: bool, require_signed: bool) -> Result<i32> {
    let breaks = &report.breaks;
    let unsigned: Vec<&str> =
        report.nodes.iter().filter(|n| n.checkpoints == 0).map(|n| n.node.as_str()).collect();
    let valid = breaks.is_empty() && (!require_signed || unsigned.is_empty());
    if json_out {
        print_typed(report)?;
    } else {
        let verdict = if valid {
            "intact"
        } else if breaks.is_empty() {
            "UNPROVEN"
        } else {
            "BROKEN"
        };
        println!(
            "{what} {verdict}: {} events in {} chain(s), {} signed checkpoint(s) verified",
            report.events, report.chains, report.checkpoints
        );
        for node in &report.nodes {
            match node.signed_through {
                Some(seq) => println!(
                    "  node {}: signed through event {seq} (at {}); {} later event(s) not yet signed",
                    node.node,
                    node.signed_at.as_deref().unwrap_or("-"),
                    node.unsigned_events
                ),
                None => println!("  node {}: no verified checkpoint", node.node),
            }
        }
        for b in breaks {
            eprintln!("first bad event of node {}: event {}: {}", b.node, b.node_sequence, b.problem);
        }
        for warning in &report.warnings {
            eprintln!("warning: {warning}");
        }
        if require_signed {
            for node in &unsigned {
                eprintln!("node {node} has no verified checkpoint: its links could have been recomputed by whoever rewrote them");
            }
        }
    }
    Ok(if valid { 0 } else { exit::NOT_VALID })
}

/// Verifies an export or an archive (told apart by the archive's header line).
fn verify_offline(
    file: &Path,
    public_keys: &[PathBuf],
) -> Result<(keystead_store::ChainReport, &'static str)> {
    let mut keys = Vec::new();
    for path in public_keys {
        let der = SubjectPublicKeyInfoDer::from_pem_file(path).map_err(|_| {
            anyhow!("cannot read {}: not a PEM public key (get one with `keystead key public keystead-audit-signing`)", path.display())
        })?;
        keys.push(der.as_ref().to_vec());
    }
    let mut reader = BufReader::new(
        File::open(file).with_context(|| format!("cannot open the export {}", file.display()))?,
    );
    let is_archive = reader.fill_buf()?.starts_with(b"{\"keystead_audit_archive\"");
    if is_archive {
        let (_, report, _) =
            verify_archive(reader, &PublicKeys(keys)).map_err(|err| anyhow!("{}: {err}", file.display()))?;
        return Ok((report, "audit archive"));
    }
    let report =
        verify_export(reader, &PublicKeys(keys)).map_err(|err| anyhow!("{}: {err}", file.display()))?;
    Ok((report, "audit export"))
}

/// Pages through the export endpoint. A file is written beside its target and renamed when
/// complete, so an interrupted export never looks like a whole one.
fn export(client: &Client, out: Option<&Path>, json_out: bool) -> Result<i32> {
    let partial = out.map(|path| {
        let mut name = path.as_os_str().to_owned();
        name.push(".partial");
        PathBuf::from(name)
    });
    let mut sink: Box<dyn Write> = match &partial {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("cannot write {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let mut after: Option<(String, i64)> = None;
    let mut count = 0u64;
    loop {
        let query = ExportQuery {
            after_node: after.as_ref().map(|(node, _)| node.clone()),
            after_node_seq: after.as_ref().map(|(_, seq)| *seq),
            limit: Some(EXPORT_PAGE),
        };
        let page: Vec<ExportLine> = client.get_query_as("/v1/audit/export", &query)?;
        for line in &page {
            serde_json::to_writer(&mut sink, line)?;
            sink.write_all(b"\n")?;
        }
        count += page.len() as u64;
        match page.last() {
            Some(last) if page.len() == EXPORT_PAGE as usize => {
                after = Some((last.node.clone(), last.node_seq))
            }
            _ => break,
        }
    }
    sink.flush()?;
    drop(sink);
    if let (Some(partial), Some(out)) = (&partial, out) {
        std::fs::rename(partial, out)
            .with_context(|| format!("cannot move the export to {}", out.display()))?;
        if json_out {
            print_typed(&ExportSummary { events: count, file: out.display().to_string() })?;
        } else {
            println!("exported {count} events to {}", out.display());
        }
    }
    Ok(0)
}
