//! Client subcommands of oversight and remediation: approvals, exceptions, webhooks, rewrap.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::cli::{ApprovalCommand, ExceptionCommand, JustifyArgs};
use crate::client::{exit, Client};
use crate::commands::{add_justification, print_json, seg, text, Code};

/// Prints one approval request for people.
pub fn print_approval(a: &Value) {
    println!("Approval request {}", text(&a["id"]));
    let version = a["version"].as_u64().map(|v| format!(" version {v}")).unwrap_or_default();
    // A restore request and a break-glass review are about a backup, not a key.
    let subject = if a["key_id"].is_null() { "" } else { "key " };
    println!("{:<16}{} on {subject}{}{version}", "Operation", text(&a["operation"]), text(&a["key_name"]));
    println!("{:<16}{}", "Status", text(&a["status"]));
    println!("{:<16}{}", "Requester", text(&a["requester"]));
    println!("{:<16}{}", "Justification", text(&a["justification"]));
    if let Some(parameters) = a["parameters"].as_object() {
        let shown: Vec<String> = parameters.iter().map(|(k, v)| format!("{k}={}", text(v))).collect();
        println!("{:<16}{}", "Parameters", shown.join(", "));
    }
    println!("{:<16}{}", "Expires", text(&a["expires_at"]));
    if let Some(needed) = a["still_needed"].as_object().filter(|n| !n.is_empty()) {
        let shown: Vec<String> = needed.iter().map(|(role, n)| format!("{} {role}", text(n))).collect();
        println!("{:<16}{}", "Still needed", shown.join(", "));
    }
    if !a["window_closes_at"].is_null() {
        println!("{:<16}{}", "Window closes", text(&a["window_closes_at"]));
    }
    for vote in a["votes"].as_array().into_iter().flatten() {
        let decision = if vote["approve"].as_bool() == Some(true) { "approved" } else { "rejected" };
        println!(
            "  {} {decision} as {} at {}{}",
            text(&vote["principal"]),
            text(&vote["role"]),
            text(&vote["at"]),
            vote["reason"].as_str().map(|r| format!(": {r}")).unwrap_or_default()
        );
    }
}

/// `keystead approval ...`.
pub fn approval(client: &Client, command: ApprovalCommand, json_out: bool) -> Result<Code> {
    let out = match command {
        ApprovalCommand::List { status } => {
            let query: Vec<(&str, String)> = status.map(|s| ("status", s)).into_iter().collect();
            let out = client.get("/v1/approvals", &query)?;
            if json_out {
                print_json(&out)?;
            } else {
                println!(
                    "{:<38}{:<28}{:<20}{:<10}{:<16}EXPIRES",
                    "ID", "OPERATION", "KEY", "STATUS", "REQUESTER"
                );
                for a in out.as_array().into_iter().flatten() {
                    println!(
                        "{:<38}{:<28}{:<20}{:<10}{:<16}{}",
                        text(&a["id"]),
                        text(&a["operation"]),
                        text(&a["key_name"]),
                        text(&a["status"]),
                        text(&a["requester"]),
                        text(&a["expires_at"])
                    );
                }
            }
            return Ok(0);
        }
        ApprovalCommand::Show { id } => client.get(&format!("/v1/approvals/{}", seg(&id)), &[])?,
        ApprovalCommand::Approve { id, reason } => {
            client.post(&format!("/v1/approvals/{}/approve", seg(&id)), &json!({ "reason": reason }))?
        }
        ApprovalCommand::Reject { id, reason } => {
            client.post(&format!("/v1/approvals/{}/reject", seg(&id)), &json!({ "reason": reason }))?
        }
    };
    if json_out {
        print_json(&out)?;
    } else {
        print_approval(&out);
    }
    Ok(0)
}

/// `keystead exception request ...`.
pub fn exception(client: &Client, command: ExceptionCommand, json_out: bool) -> Result<Code> {
    let ExceptionCommand::Request { key, operation, duration, justification, version, expires_in, tenant } =
        command;
    let out = client.post(
        &format!("/v1/keys/{}/exceptions", seg(&key)),
        &json!({
            "operation": operation, "for": duration, "justification": justification,
            "version": version, "expires_in": expires_in, "tenant": tenant,
        }),
    )?;
    if json_out {
        print_json(&out)?;
    } else {
        print_approval(&out);
    }
    Ok(0)
}

/// `keystead webhook ...`.
/// What every rewrap of one command sends besides the ciphertext.
pub struct RewrapRequest {
    /// The encryption context.
    pub context: BTreeMap<String, String>,
    /// Rewrap data that may be an attacker's.
    pub accept_suspect: bool,
    /// `--justification`, `--affected-systems`.
    pub justify: JustifyArgs,
}

fn rewrap_body(ciphertext: &str, request: &RewrapRequest) -> Value {
    let mut body = json!({ "ciphertext": ciphertext, "context": request.context, "accept_suspect": request.accept_suspect });
    add_justification(&mut body, &request.justify);
    body
}

/// `keystead rewrap [--in FILE]`: one ciphertext.
pub fn rewrap_one(
    client: &Client,
    input: Option<&Path>,
    request: &RewrapRequest,
    json_out: bool,
) -> Result<Code> {
    let mut ciphertext = String::new();
    match input {
        Some(path) => {
            ciphertext =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
        }
        None => {
            std::io::stdin().lock().read_line(&mut ciphertext).context("cannot read standard input")?;
        }
    }
    let out = client.post("/v1/rewrap", &rewrap_body(ciphertext.trim(), request))?;
    if json_out {
        print_json(&out)?;
    } else {
        if let Some(warning) = out["warning"].as_str() {
            eprintln!("warning: {warning}");
        }
        println!("{}", text(&out["ciphertext"]));
    }
    Ok(0)
}

/// Reports bulk progress: a bar on a terminal, a plain line per tenth otherwise.
pub(crate) enum Progress {
    Bar(indicatif::ProgressBar),
    Lines { total: u64, next_report: u64, verb: &'static str },
}

impl Progress {
    /// Progress over `total` items, each `verb` (e.g. `rewrapped`) when done.
    pub(crate) fn new(total: u64, verb: &'static str) -> Self {
        if std::io::stderr().is_terminal() {
            let bar = indicatif::ProgressBar::new(total);
            if let Ok(style) = indicatif::ProgressStyle::with_template(&format!(
                "{{bar:40}} {{pos}}/{{len}} {verb} ({{eta}} left)"
            )) {
                bar.set_style(style);
            }
            Progress::Bar(bar)
        } else {
            Progress::Lines { total, next_report: 0, verb }
        }
    }

    pub(crate) fn advance(&mut self, done: u64) {
        match self {
            Progress::Bar(bar) => bar.set_position(done),
            Progress::Lines { total, next_report, verb } => {
                if done >= *next_report || done == *total {
                    eprintln!("{verb} {done}/{total}");
                    *next_report = done + (*total / 10).max(1);
                }
            }
        }
    }

    pub(crate) fn finish(self) {
        if let Progress::Bar(bar) = self {
            bar.finish();
        }
    }
}

/// `keystead rewrap --file FILE [--out FILE]`: one ciphertext per line, written line for
/// line. A line that fails keeps its old ciphertext in the output (nothing is lost) and is
/// reported; the exit code is then non-zero.
pub fn rewrap_file(
    client: &Client,
    file: &Path,
    out: Option<PathBuf>,
    request: &RewrapRequest,
    json_out: bool,
) -> Result<Code> {
    let input = std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
    let lines: Vec<String> =
        BufReader::new(input).lines().collect::<Result<_, _>>().context("the file is not text")?;
    let total = lines.iter().filter(|l| !l.trim().is_empty()).count() as u64;
    let mut sink: Box<dyn Write> = match &out {
        Some(path) => Box::new(
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?,
        ),
        None => {
            if json_out {
                bail!("--output json reports a summary; give --out FILE for the ciphertexts");
            }
            Box::new(std::io::stdout().lock())
        }
    };
    let mut progress = Progress::new(total, "rewrapped");
    let (mut done, mut failures, mut warnings) = (0_u64, Vec::new(), 0_u64);
    for (number, line) in lines.iter().enumerate() {
        let ciphertext = line.trim();
        if ciphertext.is_empty() {
            writeln!(sink)?;
            continue;
        }
        match client.post("/v1/rewrap", &rewrap_body(ciphertext, request)) {
            Ok(result) => {
                warnings += u64::from(result["warning"].is_string());
                writeln!(sink, "{}", text(&result["ciphertext"]))?;
            }
            Err(err) => {
                failures.push(format!("line {}: {err:#}", number + 1));
                writeln!(sink, "{ciphertext}")?;
            }
        }
        done += 1;
        progress.advance(done);
    }
    sink.flush()?;
    progress.finish();
    let rewrapped = done - failures.len() as u64;
    if json_out {
        print_json(&json!({ "rewrapped": rewrapped, "failed": failures, "flagged": warnings }))?;
    } else {
        eprintln!("rewrapped {rewrapped} of {total} ciphertexts");
        if warnings > 0 {
            eprintln!("warning: {warnings} came from data protected after a reported compromise, rewrapped with --accept-suspect (see the audit log)");
        }
        for failure in &failures {
            eprintln!("failed: {failure} (kept unchanged)");
        }
    }
    Ok(if failures.is_empty() { 0 } else { exit::FAILURE })
}
