//! Audit archives: old events moved into a signed, self-verifying file and out of the hot
//! store. The file is the export format with a header line naming, per node, where its range
//! starts (and the hash it continues from) and where it ends: always at a signed checkpoint,
//! so the file verifies offline with the audit signing key's public keys alone.

use std::io::BufRead;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::chain::{ChainReport, ChainVerifier, SignatureCheck};
use crate::export::{ExportError, ExportLine};

/// The format version in an archive's header.
pub const ARCHIVE_FORMAT: u32 = 1;

/// One node's events in an archive: `first_seq` to `through_seq` of its chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveRange {
    /// The node.
    pub node: String,
    /// The first archived event.
    pub first_seq: i64,
    /// The hash it links to: the previous archive's last event, or the genesis hash.
    pub after_hash: String,
    /// The last archived event, a signed checkpoint.
    pub through_seq: i64,
    /// Its hash: the node's remaining chain continues from it.
    pub through_hash: String,
}

impl ArchiveRange {
    /// Events in the range.
    pub fn events(&self) -> i64 {
        self.through_seq - self.first_seq + 1
    }
}

/// An archive file's first line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveHeader {
    /// [`ARCHIVE_FORMAT`].
    pub keystead_audit_archive: u32,
    /// Events older than this (RFC 3339) were asked for; each range ends at the newest signed
    /// checkpoint before it.
    pub before: String,
    /// The ranges, one per node, in node order; the event lines follow in the same order.
    pub nodes: Vec<ArchiveRange>,
}

/// An archive as the store records it when its events leave the hot store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveRecord {
    /// The archive's id.
    pub id: String,
    /// Its ranges.
    pub ranges: Vec<ArchiveRange>,
    /// SHA-256 (hex) of the archive file the operator holds.
    pub file_sha256: String,
    /// The `before` it was made for.
    pub before: OffsetDateTime,
    /// When.
    pub archived_at: OffsetDateTime,
    /// By whom.
    pub archived_by: String,
}

/// Where a node's hot chain starts after its newest archive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveBoundary {
    /// The archive.
    pub archive_id: String,
    /// The node.
    pub node: String,
    /// The last archived event.
    pub through_seq: i64,
    /// Its hash.
    pub through_hash: String,
}

/// Checks an archive's event lines against its header as they come: links from each range's
/// starting hash, checkpoints and their signatures, then that every range is complete and ends
/// at a verified checkpoint with the hash the header names. It also hashes the exact file
/// bytes, so the server can check that the file an operator holds is the one it would write.
pub struct ArchiveChecker<'k> {
    header: ArchiveHeader,
    verifier: ChainVerifier<'k>,
    digest: keystead_crypto::Sha256Stream,
}

impl<'k> ArchiveChecker<'k> {
    /// A checker for the archive `header` describes; the header line is hashed first.
    pub fn new(header: ArchiveHeader, signatures: &'k dyn SignatureCheck) -> Self {
        let mut verifier = ChainVerifier::new(signatures);
        for range in &header.nodes {
            verifier.start_after(&range.node, range.first_seq - 1, &range.after_hash);
        }
        let mut digest = keystead_crypto::Sha256Stream::default();
        digest.update(header_line(&header).as_bytes());
        Self { header, verifier, digest }
    }

    /// Checks and hashes the next event line (`line` exactly as in the file, without its
    /// newline). `number` is its line number, for errors.
    pub fn push_line(&mut self, line: &str, number: u64) -> Result<(), ExportError> {
        let record: ExportLine = serde_json::from_str(line)
            .map_err(|err| ExportError::Malformed { line: number, reason: err.to_string() })?;
        if !self.header.nodes.iter().any(|r| r.node == record.node) {
            return Err(ExportError::Malformed {
                line: number,
                reason: format!("an event of node {}, which the header does not name", record.node),
            });
        }
        self.verifier.push(record.as_chain_row());
        self.digest.update(line.as_bytes());
        self.digest.update(b"\n");
        Ok(())
    }

    /// The header, the report and the file's SHA-256 (hex).
    pub fn finish(self) -> (ArchiveHeader, ChainReport, String) {
        let mut unfinished = Vec::new();
        for range in &self.header.nodes {
            let Some(position) = self.verifier.position(&range.node) else { continue };
            if !position.intact {
                continue;
            }
            let why = if position.last_seq != range.through_seq {
                format!(
                    "the archive ends at event {} but its header names {} as the last: events are missing",
                    position.last_seq, range.through_seq
                )
            } else if position.last_hash != range.through_hash {
                "the last event's hash is not the header's".to_owned()
            } else if !position.ends_at_checkpoint {
                "the range does not end at a verified signed checkpoint".to_owned()
            } else {
                continue;
            };
            unfinished.push((range.node.clone(), position.last_seq + 1, why));
        }
        let mut report = self.verifier.finish();
        report.breaks.extend(unfinished);
        (self.header, report, hex::encode(self.digest.finish()))
    }
}

/// The header as its line in the file (with the newline).
pub fn header_line(header: &ArchiveHeader) -> String {
    serde_json::to_string(header).expect("an archive header is plain data") + "\n"
}

/// Verifies an archive file ([`ArchiveChecker`]): returns its header, the report and the
/// file's SHA-256 (hex). A removed, added, altered or reordered line is a break.
pub fn verify_archive(
    mut reader: impl BufRead,
    signatures: &dyn SignatureCheck,
) -> Result<(ArchiveHeader, ChainReport, String), ExportError> {
    let mut first = String::new();
    reader.read_line(&mut first)?;
    let header: ArchiveHeader = serde_json::from_str(first.trim_end())
        .map_err(|err| ExportError::Malformed { line: 1, reason: format!("not an archive header: {err}") })?;
    if header.keystead_audit_archive != ARCHIVE_FORMAT {
        return Err(ExportError::Malformed {
            line: 1,
            reason: format!("archive format {} is not known here", header.keystead_audit_archive),
        });
    }
    if header_line(&header) != first {
        return Err(ExportError::Malformed {
            line: 1,
            reason: "the header is not in its canonical form".into(),
        });
    }
    let mut checker = ArchiveChecker::new(header, signatures);
    for (number, line) in (2..).zip(reader.lines()) {
        checker.push_line(&line?, number)?;
    }
    Ok(checker.finish())
}
