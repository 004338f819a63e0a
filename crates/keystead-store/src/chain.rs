//! The audit hash chain: `hash = SHA-256(prev_hash ‖ canonical event bytes)`, one chain per
//! node, with signed checkpoints (`keystead_core::checkpoint`) over it. [`ChainVerifier`] is
//! the one checker behind `audit verify`, online and offline on an exported file.

use std::collections::{BTreeMap, VecDeque};

use keystead_core::checkpoint::{statement, Checkpoint};
use keystead_core::AuditEvent;
use serde::Serialize;

/// The previous hash of a node's first event.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// How many recent hashes per node a checkpoint may look back to. A checkpoint covers the
/// head its node read just before appending it; only events appended concurrently on that
/// node can come between.
const CHECKPOINT_REACH: usize = 65_536;

/// The hash of an event given its predecessor's hash (hex) and its canonical bytes.
pub fn link(prev_hash_hex: &str, canonical: &[u8]) -> String {
    let mut input = Vec::with_capacity(prev_hash_hex.len() + canonical.len());
    input.extend_from_slice(prev_hash_hex.as_bytes());
    input.extend_from_slice(canonical);
    hex::encode(keystead_crypto::sha256(&input))
}

/// One stored event as the chain sees it.
#[derive(Clone, Copy, Debug)]
pub struct ChainRow<'a> {
    /// The node whose chain holds it.
    pub node: &'a str,
    /// Its position in that chain, from 1.
    pub node_seq: i64,
    /// The event's canonical JSON exactly as stored.
    pub event_json: &'a str,
    /// The stored previous hash.
    pub prev_hash: &'a str,
    /// The stored hash.
    pub hash: &'a str,
}

/// Checks checkpoint signatures: online with the audit signing key itself, offline with the
/// public keys an auditor supplies.
pub trait SignatureCheck: Sync {
    /// Whether `signature` over `statement` is valid for the key version named; `Err` when
    /// that key cannot be checked (unknown, unusable), with the reason.
    fn check(&self, key_id: &str, version: u32, statement: &[u8], signature: &[u8]) -> Result<bool, String>;
}

/// Where one node's chain stands after verification.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ChainStatus {
    /// The node.
    pub node: String,
    /// Its events checked.
    pub events: u64,
    /// Its signed checkpoints verified.
    pub checkpoints: u64,
    /// The newest event a verified checkpoint covers.
    pub signed_through: Option<i64>,
    /// When that checkpoint was signed.
    pub signed_at: Option<String>,
    /// Events after the newest verified checkpoint: intact links, but no signature yet.
    pub unsigned_events: u64,
}

/// The result of checking every chain.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct ChainReport {
    /// Events checked.
    pub events: u64,
    /// Chains (nodes) checked.
    pub chains: u64,
    /// Signed checkpoints verified.
    pub checkpoints: u64,
    /// Where each broken chain first breaks: (node, node sequence, what is wrong).
    pub breaks: Vec<(String, i64, String)>,
    /// Each chain's state.
    pub nodes: Vec<ChainStatus>,
    /// Findings that are not breaks but deserve a look (e.g. a stale newest checkpoint).
    pub warnings: Vec<String>,
}

impl ChainReport {
    /// Whether every chain is intact.
    pub fn intact(&self) -> bool {
        self.breaks.is_empty()
    }
}

#[derive(Default)]
struct NodeChain {
    expected_seq: i64,
    prev_hash: String,
    recent: VecDeque<(i64, String)>,
    broken: Option<(i64, String)>,
    status: Option<ChainStatus>,
    last_seq: i64,
}

/// Checks rows one at a time (so a large log never has to fit in memory), per node in node
/// sequence order: each link, each checkpoint's coverage and signature. Stops checking a
/// node at its first break, which it names.
pub struct ChainVerifier<'k> {
    nodes: BTreeMap<String, NodeChain>,
    signatures: &'k dyn SignatureCheck,
}

impl<'k> ChainVerifier<'k> {
    /// A verifier checking checkpoint signatures with `signatures`.
    pub fn new(signatures: &'k dyn SignatureCheck) -> Self {
        Self { nodes: BTreeMap::new(), signatures }
    }

    /// Checks the next row of its node's chain.
    pub fn push(&mut self, row: ChainRow<'_>) {
        let chain = self.nodes.entry(row.node.to_owned()).or_insert_with(|| NodeChain {
            expected_seq: 1,
            prev_hash: GENESIS.to_owned(),
            status: Some(ChainStatus {
                node: row.node.to_owned(),
                events: 0,
                checkpoints: 0,
                signed_through: None,
                signed_at: None,
                unsigned_events: 0,
            }),
            ..NodeChain::default()
        });
        let status = chain.status.as_mut().expect("set when the chain is first seen");
        status.events += 1;
        if chain.broken.is_some() {
            return;
        }
        if let Err(why) = Self::check_link(chain, &row) {
            chain.broken = Some((row.node_seq, why));
            return;
        }
        chain.last_seq = row.node_seq;
        if let Err(why) = self.check_checkpoint(row) {
            let chain = self.nodes.get_mut(row.node).expect("inserted above");
            chain.broken = Some((row.node_seq, why));
        }
    }

    fn check_link(chain: &mut NodeChain, row: &ChainRow<'_>) -> Result<(), String> {
        if row.node_seq > chain.expected_seq {
            let (first, last) = (chain.expected_seq, row.node_seq - 1);
            let missing = if first == last {
                format!("event {first} is")
            } else {
                format!("events {first} to {last} are")
            };
            return Err(format!(
                "{missing} missing: the chain jumps from event {} to {}",
                first - 1,
                row.node_seq
            ));
        }
        if row.node_seq < chain.expected_seq {
            return Err(format!(
                "out of order: event {} comes after event {}",
                row.node_seq,
                chain.expected_seq - 1
            ));
        }
        if row.prev_hash != chain.prev_hash {
            return Err("previous hash does not match the preceding event".to_owned());
        }
        if link(row.prev_hash, row.event_json.as_bytes()) != row.hash {
            return Err("event content does not match its hash".to_owned());
        }
        chain.expected_seq += 1;
        chain.prev_hash = row.hash.to_owned();
        if chain.recent.len() == CHECKPOINT_REACH {
            chain.recent.pop_front();
        }
        chain.recent.push_back((row.node_seq, row.hash.to_owned()));
        Ok(())
    }

    fn check_checkpoint(&mut self, row: ChainRow<'_>) -> Result<(), String> {
        // Most events are not checkpoints: skip the parse for them.
        if !row.event_json.contains("\"audit.checkpoint\"") {
            return Ok(());
        }
        let event: AuditEvent = serde_json::from_str(row.event_json)
            .map_err(|_| "the event is not a valid audit event".to_owned())?;
        let Some(claim) = Checkpoint::of(&event) else { return Ok(()) };
        let claim = claim?;
        let chain = self.nodes.get_mut(row.node).expect("pushed before");
        if event.node != row.node {
            return Err(format!("a checkpoint of node {} stored in the chain of {}", event.node, row.node));
        }
        let status = chain.status.as_mut().expect("set when the chain is first seen");
        if claim.covers_node_seq >= row.node_seq
            || status.signed_through.is_some_and(|s| claim.covers_node_seq < s)
        {
            return Err(format!("the checkpoint covers event {}, out of order", claim.covers_node_seq));
        }
        let recorded = chain
            .recent
            .iter()
            .rev()
            .find(|(seq, _)| *seq == claim.covers_node_seq)
            .map(|(_, hash)| hash.as_str())
            .ok_or_else(|| {
                format!("the checkpoint covers event {}, too far back to check", claim.covers_node_seq)
            })?;
        if recorded != claim.covers_hash {
            let from = status.signed_through.map_or(1, |s| s + 1);
            return Err(format!(
                "the signed checkpoint does not match the chain: events {from} to {} were rewritten after they were signed",
                claim.covers_node_seq
            ));
        }
        let signed = statement(row.node, claim.covers_node_seq, &claim.covers_hash, &claim.signed_at);
        match self.signatures.check(&claim.key_id, claim.key_version, &signed, &claim.signature) {
            Ok(true) => {}
            Ok(false) => {
                return Err(format!(
                    "the checkpoint's signature does not verify with audit signing key {} version {}",
                    claim.key_id, claim.key_version
                ))
            }
            Err(why) => return Err(format!("the checkpoint's signature cannot be checked: {why}")),
        }
        status.checkpoints += 1;
        status.signed_through = Some(claim.covers_node_seq);
        status.signed_at = Some(claim.signed_at);
        Ok(())
    }

    /// The report over every row pushed.
    pub fn finish(self) -> ChainReport {
        let mut report = ChainReport {
            events: 0,
            chains: 0,
            checkpoints: 0,
            breaks: Vec::new(),
            nodes: Vec::new(),
            warnings: Vec::new(),
        };
        for (node, chain) in self.nodes {
            let mut status = chain.status.expect("set when the chain is first seen");
            status.unsigned_events =
                u64::try_from(chain.last_seq - status.signed_through.unwrap_or(0)).unwrap_or(0);
            report.events += status.events;
            report.chains += 1;
            report.checkpoints += status.checkpoints;
            if let Some((seq, why)) = chain.broken {
                report.breaks.push((node, seq, why));
            }
            report.nodes.push(status);
        }
        report
    }
}

/// A [`SignatureCheck`] that knows no key: every checkpoint is reported as uncheckable.
pub struct NoSignatureKeys;

impl SignatureCheck for NoSignatureKeys {
    fn check(&self, key_id: &str, _: u32, _: &[u8], _: &[u8]) -> Result<bool, String> {
        Err(format!("no public key given for audit signing key {key_id}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verify(rows: &[(i64, &str, &str, &str)]) -> ChainReport {
        let mut verifier = ChainVerifier::new(&NoSignatureKeys);
        for (seq, json, prev, hash) in rows {
            verifier.push(ChainRow { node: "n1", node_seq: *seq, event_json: json, prev_hash: prev, hash });
        }
        verifier.finish()
    }

    fn first_break(rows: &[(i64, &str, &str, &str)]) -> Option<i64> {
        verify(rows).breaks.first().map(|b| b.1)
    }

    #[test]
    fn chain_detects_edits_gaps_and_reordering() {
        let h1 = link(GENESIS, b"one");
        let h2 = link(&h1, b"two");
        let h3 = link(&h2, b"three");
        let good = [(1, "one", GENESIS, h1.as_str()), (2, "two", &h1, &h2), (3, "three", &h2, &h3)];
        let report = verify(&good);
        assert!(report.intact(), "{report:?}");
        assert_eq!((report.events, report.chains, report.nodes[0].unsigned_events), (3, 1, 3));
        assert_eq!(first_break(&[(1, "one", GENESIS, h1.as_str()), (2, "TWO", &h1, &h2)]), Some(2));
        assert_eq!(first_break(&[(1, "one", GENESIS, h1.as_str()), (3, "three", &h2, &h3)]), Some(3));
        assert_eq!(first_break(&[(2, "two", h1.as_str(), h2.as_str())]), Some(2));
        let reordered = [(1, "one", GENESIS, h1.as_str()), (3, "three", &h2, &h3), (2, "two", &h1, &h2)];
        assert_eq!(first_break(&reordered), Some(3));
    }
}
