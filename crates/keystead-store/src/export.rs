//! `audit export --format jsonl` and its offline verifier: one line per event with the
//! event's stored canonical JSON embedded byte for byte, so a verifier without the server
//! recomputes the same hashes.

use std::io::BufRead;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::chain::{ChainReport, ChainRow, ChainVerifier, SignatureCheck};
use crate::StoredAuditRow;

/// One exported event.
#[derive(Debug, Serialize, Deserialize)]
pub struct ExportLine {
    /// Global order of insertion.
    pub sequence: i64,
    /// The node whose chain holds it.
    pub node: String,
    /// Its position in that chain.
    pub node_seq: i64,
    /// The previous hash of the chain.
    pub prev_hash: String,
    /// The event's hash.
    pub hash: String,
    /// The event, exactly as hashed.
    pub event: Box<RawValue>,
}

impl ExportLine {
    /// The line for a stored row. A stored event that is not JSON (a damaged row) is kept as
    /// a JSON string, so the export still holds it and its verification names it.
    pub fn from_row(row: StoredAuditRow) -> Self {
        let event = RawValue::from_string(row.event_json.clone()).unwrap_or_else(|_| {
            let quoted = serde_json::to_string(&row.event_json).expect("a string always serializes");
            RawValue::from_string(quoted).expect("a JSON string is valid JSON")
        });
        Self {
            sequence: row.sequence,
            node: row.node,
            node_seq: row.node_seq,
            prev_hash: row.prev_hash,
            hash: row.hash,
            event,
        }
    }

    /// The line as the chain verifier reads it.
    pub fn as_chain_row(&self) -> ChainRow<'_> {
        ChainRow {
            node: &self.node,
            node_seq: self.node_seq,
            event_json: self.event.get(),
            prev_hash: &self.prev_hash,
            hash: &self.hash,
        }
    }
}

/// Checkpoint signatures checked against public keys an auditor supplies (DER
/// SubjectPublicKeyInfo of the audit signing key's versions).
pub struct PublicKeys(pub Vec<Vec<u8>>);

impl SignatureCheck for PublicKeys {
    fn check(&self, key_id: &str, version: u32, statement: &[u8], signature: &[u8]) -> Result<bool, String> {
        if self.0.is_empty() {
            return Err(format!("no public key given for audit signing key {key_id} version {version}"));
        }
        Ok(self.0.iter().any(|der| keystead_crypto::verify_ed25519(der, statement, signature)))
    }
}

/// Why an export file cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A line is not an export record.
    #[error("line {line} is not an audit export record: {reason}")]
    Malformed {
        /// The line number, from 1.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// The file could not be read.
    #[error("cannot read the export: {0}")]
    Io(#[from] std::io::Error),
}

/// Verifies an export read line by line: every chain's links, every checkpoint's coverage
/// and signature. Lines of a node must be in its chain order (reordering is a break).
pub fn verify_export(
    reader: impl BufRead,
    signatures: &dyn SignatureCheck,
) -> Result<ChainReport, ExportError> {
    let mut verifier = ChainVerifier::new(signatures);
    for (number, line) in (1..).zip(reader.lines()) {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let record: ExportLine = serde_json::from_str(&line)
            .map_err(|err| ExportError::Malformed { line: number, reason: err.to_string() })?;
        verifier.push(record.as_chain_row());
    }
    Ok(verifier.finish())
}
