//! Printing results: one JSON document for `--output json`, tables and lines for people, and
//! progress for bulk work. Secrets are printed only where a command exists to show them.

use std::fmt::Display;
use std::io::IsTerminal;

use anyhow::{Context, Result};
use keystead_api::oversight::Approval;
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Prints a typed body as the one JSON document on stdout.
pub fn print_typed<T: serde::Serialize>(value: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// A value for a table cell: `-` when absent.
pub fn dash<T: Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

/// A time as RFC 3339, as the server writes it.
pub fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

/// An optional time as RFC 3339, `-` when absent.
pub fn rfc3339_or_dash(at: Option<OffsetDateTime>) -> String {
    at.map_or_else(|| "-".to_owned(), rfc3339)
}

/// A JSON value for a table cell (generic listings such as `operator status`): strings
/// unquoted, `-` for null.
pub fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// Reports bulk progress: a bar on a terminal, a plain line per tenth otherwise.
pub enum Progress {
    /// On a terminal.
    Bar(indicatif::ProgressBar),
    /// Elsewhere (a log, a pipe).
    Lines {
        /// Items in all.
        total: u64,
        /// The next count to report.
        next_report: u64,
        /// What is done to each item.
        verb: &'static str,
    },
}

impl Progress {
    /// Progress over `total` items, each `verb` (e.g. `rewrapped`) when done.
    pub fn new(total: u64, verb: &'static str) -> Self {
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

    /// `done` items are done.
    pub fn advance(&mut self, done: u64) {
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

    /// Ends the bar.
    pub fn finish(self) {
        if let Progress::Bar(bar) = self {
            bar.finish();
        }
    }
}

/// Writes a report to `out` (whole or not at all: a temporary file renamed into place) or to
/// standard output.
pub fn write_report(body: &[u8], out: Option<&std::path::Path>) -> Result<i32> {
    use std::io::Write as _;
    match out {
        None => std::io::stdout().lock().write_all(body)?,
        Some(path) => {
            let mut partial = path.as_os_str().to_owned();
            partial.push(".partial");
            std::fs::write(&partial, body)
                .with_context(|| format!("cannot write {}", std::path::Path::new(&partial).display()))?;
            std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {} ({} bytes)", path.display(), body.len());
        }
    }
    Ok(0)
}

/// Prints one approval request for people.
pub fn print_approval(a: &Approval) {
    println!("Approval request {}", a.id);
    let version = a.version.map(|v| format!(" version {v}")).unwrap_or_default();
    // A restore request and a break-glass review are about a backup, not a key.
    let subject = if a.key_id.is_none() { "" } else { "key " };
    println!("{:<16}{} on {subject}{}{version}", "Operation", a.operation, a.key_name);
    println!("{:<16}{}", "Status", a.status);
    println!("{:<16}{}", "Requester", a.requester);
    println!("{:<16}{}", "Justification", a.justification);
    let shown: Vec<String> = a.parameters.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("{:<16}{}", "Parameters", shown.join(", "));
    println!("{:<16}{}", "Expires", rfc3339(a.expires_at));
    if !a.still_needed.is_empty() {
        let shown: Vec<String> = a.still_needed.iter().map(|(role, n)| format!("{n} {role}")).collect();
        println!("{:<16}{}", "Still needed", shown.join(", "));
    }
    if a.window_closes_at.is_some() {
        println!("{:<16}{}", "Window closes", rfc3339_or_dash(a.window_closes_at));
    }
    for vote in &a.votes {
        let decision = if vote.approve { "approved" } else { "rejected" };
        println!(
            "  {} {decision} as {} at {}{}",
            vote.principal,
            vote.role,
            rfc3339(vote.at),
            vote.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
        );
    }
}
