//! `keystead backup create|restore` and the bundle and share files they read and write.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use zeroize::Zeroizing;

use crate::client::Client;
use crate::output::Progress;
use crate::output::{print_typed, rfc3339};
use keystead_api::recovery::{BackupStart, CollectedShare, CreateBackup, RestoreBackup, RestoreReport};

/// `keystead backup ...`.
#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Back up every recoverable key into FILE, sealed under a fresh backup key split into N
    /// share files (FILE.share-I-of-N), any M of which open it. Hand each share file to a
    /// different recovery officer and keep none with the bundle.
    Create {
        /// The bundle file to write (refused if it exists).
        #[arg(long)]
        out: PathBuf,
        /// Shares to split the backup key into (N, at most 16).
        #[arg(long)]
        shares: u8,
        /// Shares needed to open the bundle (M, at least 2).
        #[arg(long)]
        threshold: u8,
        /// Where to write the share files (default: next to the bundle).
        #[arg(long, conflicts_with = "holders")]
        share_dir: Option<PathBuf>,
        /// A recovery officer to hold one share (repeat, one per share; not yourself). The
        /// shares then stay sealed on the server until each holder collects its own: nobody
        /// sees more than one.
        #[arg(long = "holder", value_name = "PRINCIPAL")]
        holders: Vec<String>,
    },
    /// Collect your share of a backup made with --holder, once, into its own file.
    CollectShare {
        /// The backup id (`bkp_…`).
        backup_id: String,
        /// The share file to write (refused if it exists).
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a bundle into this store with M share files and an approved recovery request
    /// (`keystead recovery request FILE`), or as the break-glass principal.
    Restore {
        /// The bundle file.
        file: PathBuf,
        /// A share file (repeat for each, at least M).
        #[arg(long = "share-file", required = true)]
        share_files: Vec<PathBuf>,
        /// The approved recovery request for this bundle.
        #[arg(long, conflicts_with = "break_glass")]
        request: Option<String>,
        /// Emergency restore without a request (break-glass principals only): raises an
        /// anomaly and opens a review that must be signed off.
        #[arg(long, requires = "justification")]
        break_glass: bool,
        /// Why (required with --break-glass).
        #[arg(long)]
        justification: Option<String>,
        /// abort (default: restore nothing if a key conflicts with the store) or skip (restore
        /// the rest, keep the store's state of conflicting keys).
        #[arg(long, default_value = "abort", value_parser = ["abort", "skip"])]
        on_conflict: String,
    },
}

/// Runs a `backup` subcommand.
pub fn run(client: &Client, command: BackupCommand, json_out: bool) -> Result<i32> {
    match command {
        BackupCommand::Create { out, shares, threshold, share_dir, holders } => {
            create(client, &out, shares, threshold, share_dir.as_deref(), &holders, json_out)
        }
        BackupCommand::CollectShare { backup_id, out } => collect_share(client, &backup_id, &out, json_out),
        BackupCommand::Restore { file, share_files, request, break_glass, justification, on_conflict } => {
            let bundle = crate::input::read_bundle(&file)?;
            let shares = crate::input::read_shares(&share_files)?;
            let body = RestoreBackup {
                bundle,
                shares,
                request,
                break_glass,
                justification,
                on_conflict: Some(on_conflict),
            };
            let report: RestoreReport = client.post_long("/v1/backups/restore", &body)?;
            if json_out {
                print_typed(&report)?;
            } else {
                print_restore(&report);
            }
            Ok(0)
        }
    }
}

/// A file created for writing, refused if it exists, readable by its owner only.
fn create_new(path: &Path) -> Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).with_context(|| {
        if path.exists() {
            format!(
                "{} exists already; choose another path (a backup never overwrites a file)",
                path.display()
            )
        } else {
            format!("cannot create {}", path.display())
        }
    })
}

fn create(
    client: &Client,
    out: &Path,
    shares: u8,
    threshold: u8,
    share_dir: Option<&Path>,
    holders: &[String],
    json_out: bool,
) -> Result<i32> {
    let dir = share_dir.map(Path::to_path_buf).unwrap_or_else(|| {
        out.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    });
    let stem =
        out.file_name().ok_or_else(|| anyhow!("--out must name a file"))?.to_string_lossy().into_owned();
    // With holders the shares stay on the server until each holder collects its own.
    let share_paths: Vec<PathBuf> = if holders.is_empty() {
        (1..=shares).map(|i| dir.join(format!("{stem}.share-{i}-of-{shares}"))).collect()
    } else {
        Vec::new()
    };
    // Checked before asking the server, so a refusal leaves no half-written backup behind.
    for path in std::iter::once(&out.to_path_buf()).chain(&share_paths) {
        if path.exists() {
            bail!(
                "{} exists already; choose another path (a backup never overwrites a file)",
                path.display()
            );
        }
    }
    let body = CreateBackup { shares, threshold, holders: holders.to_vec() };
    let response = client.post_stream("/v1/backups", &body)?;
    let mut reader = BufReader::new(response);
    let mut first = Zeroizing::new(String::new());
    reader.read_line(&mut first).context("the server ended the backup before it began")?;
    if first.starts_with("{\"error\"") {
        return Err(crate::client::api_failure(reqwest::StatusCode::OK, first.as_bytes()));
    }
    let start: BackupStart =
        serde_json::from_str(&first).context("the server sent a backup this client cannot read")?;
    let backup_id = start.backup_id.clone();
    let keys = start.keys;

    // The share files first: if one cannot be written, the backup stops here and nothing is
    // kept, instead of a bundle whose shares are lost.
    let written = write_share_files(&start, &share_paths, &backup_id, threshold)
        .and_then(|()| write_bundle_file(&mut reader, out, keys));
    if let Err(err) = written {
        for path in &share_paths {
            let _ = std::fs::remove_file(path);
        }
        return Err(err);
    }
    let summary = BackupSummary {
        backup_id: backup_id.clone(),
        bundle: out.display().to_string(),
        keys,
        excluded: start.excluded,
        threshold,
        share_files: share_paths.iter().map(|p| p.display().to_string()).collect(),
        held_for: holders.to_vec(),
    };
    if json_out {
        print_typed(&summary)?;
    } else {
        println!("Backup          {backup_id}");
        println!(
            "Bundle          {} ({keys} keys; {} excluded, listed in its manifest)",
            out.display(),
            start.excluded
        );
        if holders.is_empty() {
            println!("Shares          any {threshold} of {shares} open it:");
            for path in &share_paths {
                println!("                {}", path.display());
            }
            println!("Hand each share file to a different recovery officer; keep none with the bundle.");
        } else {
            println!("Shares          any {threshold} of {shares} open it; held for {}", holders.join(", "));
            println!("Each holder runs `keystead backup collect-share {backup_id} --out FILE` once.");
        }
    }
    Ok(0)
}

/// Writes each share the server sent into its own file, readable by its owner only.
fn write_share_files(start: &BackupStart, paths: &[PathBuf], backup_id: &str, threshold: u8) -> Result<()> {
    let texts = &start.shares.0;
    if texts.len() != paths.len() {
        bail!("the server sent {} shares, {} were asked for", texts.len(), paths.len());
    }
    for (i, (share, path)) in texts.iter().zip(paths).enumerate() {
        let label = format!("{} of {}", i + 1, paths.len());
        write_share_file(path, share.expose_secret(), &label, backup_id, threshold)?;
    }
    Ok(())
}

/// One share file: a comment saying what it is, and the share.
fn write_share_file(path: &Path, share: &str, label: &str, backup_id: &str, threshold: u8) -> Result<()> {
    fill_share_file(create_new(path)?, path, share, label, backup_id, threshold)
}

fn fill_share_file(
    mut file: std::fs::File,
    path: &Path,
    share: &str,
    label: &str,
    backup_id: &str,
    threshold: u8,
) -> Result<()> {
    let created_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let content = Zeroizing::new(format!(
        "# Keystead backup share {label} for backup {backup_id} (any {threshold} open it).\n\
         # Written {created_at}. Keep it with one recovery officer; never with the bundle or\n\
         # with another share. `keystead backup restore` and `keystead recovery drill` read it\n\
         # with --share-file.\n{share}\n"
    ));
    file.write_all(content.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
    file.sync_all().with_context(|| format!("cannot write {}", path.display()))
}

/// Writes the bundle to `out` through a partial file; the final name is linked, never
/// overwritten, even by a file created meanwhile.
fn write_bundle_file(reader: &mut impl BufRead, out: &Path, keys: u64) -> Result<()> {
    let mut partial = out.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let written = write_bundle(reader, &partial, keys).and_then(|()| {
        std::fs::hard_link(&partial, out)
            .with_context(|| format!("cannot write {} (a backup never overwrites a file)", out.display()))
    });
    let _ = std::fs::remove_file(&partial);
    written
}

/// `backup collect-share`: the caller's share of a backup made with holders, into its file.
fn collect_share(client: &Client, backup_id: &str, out: &Path, json_out: bool) -> Result<i32> {
    // The file first: the server hands a share out once, so it must have somewhere to go.
    let file = create_new(out)?;
    let collected: Result<CollectedShare> = client
        .post_as(&format!("/v1/backups/{}/share", crate::client::seg(backup_id)), &serde_json::json!({}));
    let collected = match collected {
        Ok(collected) => collected,
        Err(err) => {
            let _ = std::fs::remove_file(out);
            return Err(err);
        }
    };
    let share = &collected.share;
    // ksb1.<backup>.<index>.<threshold>.<value>.<check>
    let mut parts = share.expose_secret().split('.').skip(2);
    let (index, threshold) = (parts.next().unwrap_or("?").to_owned(), parts.next().unwrap_or("0"));
    let threshold: u8 = threshold.parse().unwrap_or(0);
    fill_share_file(file, out, share.expose_secret(), &index, backup_id, threshold)?;
    if json_out {
        print_typed(&CollectedSummary {
            backup_id: backup_id.to_owned(),
            share_file: out.display().to_string(),
            index,
        })?;
    } else {
        println!("Share {index} of backup {backup_id} written to {} (collected once; the server no longer holds it).", out.display());
    }
    Ok(0)
}

/// Copies the bundle's lines from the stream into `path`, with progress per key; refuses a
/// stream that ends without the end line or with an error line.
fn write_bundle(reader: &mut impl BufRead, path: &Path, keys: u64) -> Result<()> {
    let mut file = create_new(path)?;
    let mut progress = Progress::new(keys, "keys backed up");
    let mut done = 0;
    let mut ended = false;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).context("the backup stream broke off")? == 0 {
            break;
        }
        if line.starts_with("{\"error\"") {
            progress.finish();
            return Err(crate::client::api_failure(reqwest::StatusCode::OK, line.as_bytes()));
        }
        file.write_all(line.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
        if line.starts_with("{\"type\":\"key\"") {
            done += 1;
            progress.advance(done);
        }
        ended = line.starts_with("{\"type\":\"end\"");
    }
    progress.finish();
    if !ended {
        bail!("the backup stream ended before the bundle was complete; nothing was kept, run it again");
    }
    file.sync_all().with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn print_restore(report: &RestoreReport) {
    println!("Backup          {} (made {})", report.backup_id, rfc3339(report.backed_up_at));
    println!("Authorized by   {}", report.authorized_by);
    println!("Restored        {} key(s)", report.restored.len());
    for key in &report.restored {
        println!("  {}/{}  versions {}", key.tenant, key.name, key.versions.join(", "));
    }
    println!("Unchanged       {} key(s) already in the store as backed up", report.unchanged.len());
    if !report.conflicts.is_empty() {
        println!("Kept as stored  {} conflicting key(s):", report.conflicts.len());
        for key in &report.conflicts {
            println!("  {}/{}: {}", key.tenant, key.name, key.reason);
        }
    }
    println!("Excluded        {} key(s) by their recovery policy (not in the backup)", report.excluded.len());
    for warning in &report.warnings {
        println!("WARNING         {warning}");
    }
    if let Some(review) = &report.review {
        println!(
            "BREAK-GLASS     anomaly {} raised; review {review} stays open on the compliance report until signed off",
            report.anomaly.as_deref().unwrap_or("-")
        );
    }
}

/// What `backup create --output json` prints.
#[derive(serde::Serialize)]
struct BackupSummary {
    backup_id: String,
    bundle: String,
    keys: u64,
    excluded: u64,
    threshold: u8,
    share_files: Vec<String>,
    held_for: Vec<String>,
}

/// What `backup collect-share --output json` prints.
#[derive(serde::Serialize)]
struct CollectedSummary {
    backup_id: String,
    share_file: String,
    index: String,
}
