//! `keystead audit archive --out FILE [--before DATE]`: old audit events into a signed archive
//! file, then out of the server's store. The file is written beside its target, synced,
//! verified offline against the audit signing key's public keys, and only then renamed and
//! committed: the server deletes nothing unless the file it would write has the digest of the
//! one written here.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use keystead_api::audit::{
    ArchiveDone, ArchivePlan, ArchiveRange, ArchiveRowsQuery, CommitArchive, ExportLine,
};
use keystead_api::keys::{Key, PublicKey, PublicQuery};
use keystead_store::archive::{header_line, verify_archive, ArchiveHeader};
use keystead_store::export::PublicKeys;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::SubjectPublicKeyInfoDer;

use crate::client::{exit, Client};
use crate::output::print_typed;

/// Rows per page.
const PAGE: u32 = 5_000;
/// The reserved key that signs audit checkpoints.
const SIGNING_KEY: &str = "keystead-audit-signing";

fn store_header(plan: &ArchivePlan) -> ArchiveHeader {
    ArchiveHeader {
        keystead_audit_archive: plan.keystead_audit_archive,
        before: plan.before.clone(),
        nodes: plan
            .nodes
            .iter()
            .map(|r| keystead_store::archive::ArchiveRange {
                node: r.node.clone(),
                first_seq: r.first_seq,
                after_hash: r.after_hash.clone(),
                through_seq: r.through_seq,
                through_hash: r.through_hash.clone(),
            })
            .collect(),
    }
}

/// The audit signing key's public keys, every version (DER).
fn signing_public_keys(client: &Client) -> Result<Vec<Vec<u8>>> {
    let key: Key = client.get_as(&format!("/v1/keys/{SIGNING_KEY}"), &[])?;
    let mut keys = Vec::new();
    for version in &key.versions {
        let query = PublicQuery { tenant: None, version: Some(version.number) };
        let public: PublicKey = client.get_query_as(&format!("/v1/keys/{SIGNING_KEY}/public"), &query)?;
        let der = SubjectPublicKeyInfoDer::from_pem_slice(public.pem.as_bytes())
            .context("the server sent a public key this client cannot read")?;
        keys.push(der.as_ref().to_vec());
    }
    Ok(keys)
}

fn write_range(client: &Client, sink: &mut impl Write, range: &ArchiveRange) -> Result<u64> {
    let mut after = range.first_seq - 1;
    let mut written = 0;
    while after < range.through_seq {
        let query = ArchiveRowsQuery {
            node: range.node.clone(),
            after_seq: after,
            through_seq: range.through_seq,
            limit: Some(PAGE),
        };
        let page: Vec<ExportLine> = client.get_query_as("/v1/audit/archive-rows", &query)?;
        let Some(last) = page.last() else { break };
        after = last.node_seq;
        for line in &page {
            serde_json::to_writer(&mut *sink, line)?;
            sink.write_all(b"\n")?;
        }
        written += page.len() as u64;
    }
    Ok(written)
}

/// Runs `audit archive`.
pub fn run(client: &Client, before: Option<String>, out: &Path, json_out: bool) -> Result<i32> {
    if out.exists() {
        bail!("{} exists already: choose a new file for the archive", out.display());
    }
    let query: Vec<(&str, String)> = before.into_iter().map(|b| ("before", b)).collect();
    let plan: ArchivePlan = client.get_as("/v1/audit/archive-plan", &query)?;
    let header = store_header(&plan);
    let mut name = out.as_os_str().to_owned();
    name.push(".partial");
    let partial = PathBuf::from(name);
    let file = File::create(&partial).with_context(|| format!("cannot write {}", partial.display()))?;
    let mut sink = BufWriter::new(file);
    sink.write_all(header_line(&header).as_bytes())?;
    let mut written = 0;
    for range in &plan.nodes {
        written += write_range(client, &mut sink, range)?;
    }
    let file = sink.into_inner().map_err(|err| err.into_error())?;
    file.sync_all().with_context(|| format!("cannot sync {}", partial.display()))?;
    drop(file);

    let keys = PublicKeys(signing_public_keys(client)?);
    let reader = BufReader::new(File::open(&partial)?);
    let (_, report, digest) =
        verify_archive(reader, &keys).map_err(|err| anyhow::anyhow!("{}: {err}", partial.display()))?;
    if !report.intact() || i64::try_from(written).ok() != Some(plan.events) {
        for (node, seq, why) in &report.breaks {
            eprintln!("node {node}: event {seq}: {why}");
        }
        eprintln!(
            "the archive written to {} does not verify ({written} of {} events); nothing was removed from the server",
            partial.display(),
            plan.events
        );
        return Ok(exit::NOT_VALID);
    }
    std::fs::rename(&partial, out)
        .with_context(|| format!("cannot move the archive to {}", out.display()))?;
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("cannot sync {}", dir.display()))?;
    }
    let commit =
        CommitArchive { before: plan.before.clone(), nodes: plan.nodes.clone(), file_sha256: digest };
    let done: ArchiveDone = client.post_as("/v1/audit/archives", &commit).with_context(|| {
        format!("the archive {} is written and verifies, but the server kept the events", out.display())
    })?;
    if json_out {
        print_typed(&done)?;
    } else {
        println!(
            "archived {} events older than {} to {} (archive {}, sha256 {})",
            done.events,
            done.before,
            out.display(),
            done.archive_id,
            done.file_sha256
        );
        for range in &done.nodes {
            println!("  node {}: events {} to {}", range.node, range.first_seq, range.through_seq);
        }
    }
    Ok(0)
}
