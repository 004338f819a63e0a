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
    /// The longest time between two consecutive verified checkpoints, in seconds: a node
    /// signs at least every interval, so a longer gap means it was stopped or checkpoints
    /// were removed.
    pub longest_checkpoint_gap_seconds: Option<i64>,
    /// Events 1 to this one were archived: the chain checked here continues from the last
    /// archived event's hash.
    pub archived_through: Option<i64>,
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
    /// The newest verified checkpoint event: position and hash.
    last_checkpoint_event: Option<(i64, String)>,
    /// When it was signed.
    last_signed_at: Option<time::OffsetDateTime>,
    /// Resumed in the middle of the chain: the first checkpoint's `previous` is not checked.
    previous_unknown: bool,
}

fn new_status(node: &str) -> Option<ChainStatus> {
    Some(ChainStatus {
        node: node.to_owned(),
        events: 0,
        checkpoints: 0,
        signed_through: None,
        signed_at: None,
        unsigned_events: 0,
        longest_checkpoint_gap_seconds: None,
        archived_through: None,
    })
}

/// Where one node's chain stands during verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainPosition {
    /// The last event checked.
    pub last_seq: i64,
    /// Its hash (as checked).
    pub last_hash: String,
    /// No break so far.
    pub intact: bool,
    /// The last event is a checkpoint whose signature verified.
    pub ends_at_checkpoint: bool,
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

    /// A verifier that picks `node`'s chain up after `after_seq`, whose hash is `after_hash`
    /// (checked by the caller, e.g. covered by a verified checkpoint): a node checks what
    /// came since its last checkpoint before it signs the next.
    pub fn resume(signatures: &'k dyn SignatureCheck, node: &str, after_seq: i64, after_hash: &str) -> Self {
        let mut verifier = Self::new(signatures);
        verifier.start_after(node, after_seq, after_hash);
        verifier
    }

    /// Starts `node`'s chain after event `after_seq` whose hash is `after_hash` (the last
    /// archived event): the next row must be `after_seq + 1` and link to that hash, so a
    /// gap after an archive is a break like any other.
    pub fn start_after(&mut self, node: &str, after_seq: i64, after_hash: &str) {
        let mut status = new_status(node);
        if let Some(status) = status.as_mut() {
            status.archived_through = Some(after_seq);
        }
        let chain = NodeChain {
            expected_seq: after_seq + 1,
            prev_hash: after_hash.to_owned(),
            recent: VecDeque::from([(after_seq, after_hash.to_owned())]),
            status,
            last_seq: after_seq,
            previous_unknown: true,
            ..NodeChain::default()
        };
        self.nodes.insert(node.to_owned(), chain);
    }

    /// Where `node`'s chain stands: the last event checked and its hash, whether the chain is
    /// intact so far, and whether that event is a verified checkpoint.
    pub fn position(&self, node: &str) -> Option<ChainPosition> {
        let chain = self.nodes.get(node)?;
        Some(ChainPosition {
            last_seq: chain.last_seq,
            last_hash: chain.prev_hash.clone(),
            intact: chain.broken.is_none(),
            ends_at_checkpoint: chain
                .last_checkpoint_event
                .as_ref()
                .is_some_and(|(seq, _)| *seq == chain.last_seq),
        })
    }

    /// Checks the next row of its node's chain.
    pub fn push(&mut self, row: ChainRow<'_>) {
        let chain = self.nodes.entry(row.node.to_owned()).or_insert_with(|| NodeChain {
            expected_seq: 1,
            prev_hash: GENESIS.to_owned(),
            status: new_status(row.node),
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
        if !chain.previous_unknown && claim.previous != chain.last_checkpoint_event {
            let named = claim.previous.as_ref().map_or("none".to_owned(), |(s, _)| format!("event {s}"));
            let found =
                chain.last_checkpoint_event.as_ref().map_or("none".to_owned(), |(s, _)| format!("event {s}"));
            return Err(format!(
                "the checkpoint names {named} as the previous checkpoint, but the chain's is {found}: a checkpoint was removed or inserted"
            ));
        }
        let signed = statement(row.node, &claim);
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
        let signed_at =
            time::OffsetDateTime::parse(&claim.signed_at, &time::format_description::well_known::Rfc3339)
                .map_err(|_| "the checkpoint's signed_at is not an RFC 3339 time".to_owned())?;
        if let Some(last) = chain.last_signed_at {
            let gap = (signed_at - last).whole_seconds();
            status.longest_checkpoint_gap_seconds =
                Some(status.longest_checkpoint_gap_seconds.map_or(gap, |g| g.max(gap)));
        }
        status.signed_at = Some(claim.signed_at);
        chain.last_signed_at = Some(signed_at);
        chain.last_checkpoint_event = Some((row.node_seq, row.hash.to_owned()));
        chain.previous_unknown = false;
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
            let signed = status.signed_through.or(status.archived_through).unwrap_or(0);
            status.unsigned_events = u64::try_from(chain.last_seq - signed).unwrap_or(0);
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

    struct AcceptAll;

    impl SignatureCheck for AcceptAll {
        fn check(&self, _: &str, _: u32, _: &[u8], _: &[u8]) -> Result<bool, String> {
            Ok(true)
        }
    }

    fn event_json(action: &str, claim: Option<&Checkpoint>) -> String {
        let mut event: AuditEvent = serde_json::from_str(&format!(
            r#"{{"occurred_at":"2026-01-01T00:00:00Z","node":"n1","actor":"a","source":"s","tenant":"default","action":"{action}","outcome":"success","key_id":null,"key_name":null,"version":null,"algorithm":null,"purpose":null,"error_code":null,"reason":null,"details":{{}}}}"#
        ))
        .unwrap();
        if let Some(claim) = claim {
            claim.describe(&mut event);
        }
        String::from_utf8(event.canonical_bytes()).unwrap()
    }

    fn claim(covers: i64, hash: &str, previous: Option<(i64, String)>, minute: u32) -> Checkpoint {
        Checkpoint {
            previous,
            covers_node_seq: covers,
            covers_hash: hash.to_owned(),
            signed_at: format!("2026-01-01T00:{minute:02}:00Z"),
            key_id: "k".into(),
            key_version: 1,
            signature: vec![1],
        }
    }

    /// Appends an event; returns its hash.
    fn append(rows: &mut Vec<(i64, String, String, String)>, json: String) -> String {
        let prev = rows.last().map_or(GENESIS.to_owned(), |r| r.3.clone());
        let hash = link(&prev, json.as_bytes());
        rows.push((rows.len() as i64 + 1, json, prev, hash.clone()));
        hash
    }

    fn verify_all(rows: &[(i64, String, String, String)]) -> ChainReport {
        let mut verifier = ChainVerifier::new(&AcceptAll);
        for (seq, json, prev, hash) in rows {
            verifier.push(ChainRow { node: "n1", node_seq: *seq, event_json: json, prev_hash: prev, hash });
        }
        verifier.finish()
    }

    #[test]
    fn checkpoints_chain_to_their_predecessor_and_gaps_are_measured() {
        let mut rows = Vec::new();
        let e1 = append(&mut rows, event_json("server.start", None));
        let cp1 = append(&mut rows, event_json("audit.checkpoint", Some(&claim(1, &e1, None, 0))));
        let e3 = append(&mut rows, event_json("key.create", None));
        append(&mut rows, event_json("audit.checkpoint", Some(&claim(3, &e3, Some((2, cp1.clone())), 30))));
        let report = verify_all(&rows);
        assert!(report.intact(), "{report:?}");
        assert_eq!(report.checkpoints, 2);
        assert_eq!(report.nodes[0].longest_checkpoint_gap_seconds, Some(1_800));

        // A checkpoint whose predecessor is missing from the chain (removed, then relinked).
        let mut pruned = Vec::new();
        let e1 = append(&mut pruned, event_json("server.start", None));
        let e2 = append(&mut pruned, event_json("key.create", None));
        append(&mut pruned, event_json("audit.checkpoint", Some(&claim(2, &e2, Some((2, cp1.clone())), 5))));
        let report = verify_all(&pruned);
        assert_eq!(report.breaks.len(), 1, "{report:?}");
        assert!(report.breaks[0].2.contains("a checkpoint was removed or inserted"), "{report:?}");
        let _ = e1;

        // The first checkpoint must not claim a predecessor.
        let mut forged = Vec::new();
        let e1 = append(&mut forged, event_json("server.start", None));
        append(&mut forged, event_json("audit.checkpoint", Some(&claim(1, &e1, Some((9, "ab".into())), 0))));
        assert_eq!(verify_all(&forged).breaks.len(), 1);
    }
}
