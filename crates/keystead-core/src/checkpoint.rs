//! Signed checkpoints over the audit hash chain (CEK-21, tamper evidence).
//!
//! The hash chain alone shows that events were not edited, removed or reordered one at a
//! time; someone who can write to the database could still rewrite an event and recompute
//! every hash after it. A checkpoint is an audit event in the chain carrying an Ed25519
//! signature, by a key only Keystead can use, over a node's chain head: a rewrite of any
//! event before the checkpoint no longer matches the signed hash.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::{AuditAction, AuditEvent};

/// The usage context reserved for the audit signing key: no principal may sign with a key
/// of this context or create one.
pub const SIGNING_USAGE_CONTEXT: &str = "audit-log-signing";

/// The name of the audit signing key Keystead creates in the default tenant.
pub const SIGNING_KEY_NAME: &str = "keystead-audit-signing";

/// What a checkpoint claims: that `node`'s chain had `covers_hash` at `covers_node_seq`, and
/// that the node's previous checkpoint event was `previous` (so checkpoints form a chain of
/// their own, and removing one breaks it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The node's previous checkpoint event: its position and hash; `None` for the first.
    pub previous: Option<(i64, String)>,
    /// The last event covered, in the node's chain.
    pub covers_node_seq: i64,
    /// That event's hash (hex).
    pub covers_hash: String,
    /// When it was signed, RFC 3339 as signed.
    pub signed_at: String,
    /// The signing key's id.
    pub key_id: String,
    /// The signing key's version.
    pub key_version: u32,
    /// The raw Ed25519 signature over [`statement`].
    pub signature: Vec<u8>,
}

/// The bytes a checkpoint signs. The domain prefix keeps a checkpoint signature from being
/// mistaken for any other signed message.
pub fn statement(node: &str, claim: &Checkpoint) -> Vec<u8> {
    let previous = match &claim.previous {
        Some((seq, hash)) => format!("{seq}:{hash}"),
        None => "none".to_owned(),
    };
    format!(
        "keystead-audit-checkpoint/v1\nnode={node}\nnode_seq={}\nhash={}\nprevious={previous}\nsigned_at={}\n",
        claim.covers_node_seq, claim.covers_hash, claim.signed_at
    )
    .into_bytes()
}

impl Checkpoint {
    /// Writes the claim into a checkpoint event's details.
    pub fn describe(&self, event: &mut AuditEvent) {
        let details = &mut event.details;
        details.insert("covers_node_seq".into(), self.covers_node_seq.to_string());
        details.insert("covers_hash".into(), self.covers_hash.clone());
        details.insert("signed_at".into(), self.signed_at.clone());
        details.insert("signing_key".into(), self.key_id.clone());
        details.insert("signing_version".into(), self.key_version.to_string());
        details.insert("signature".into(), STANDARD.encode(&self.signature));
        if let Some((seq, hash)) = &self.previous {
            details.insert("previous_checkpoint".into(), format!("{seq}:{hash}"));
        }
    }

    /// Reads the claim of a checkpoint event; `None` for other events, and for the record of
    /// a checkpoint the service refused to sign (outcome other than success).
    pub fn of(event: &AuditEvent) -> Option<Result<Self, String>> {
        if event.action != AuditAction::AuditCheckpoint || event.outcome != crate::Outcome::Success {
            return None;
        }
        let field = |name: &str| {
            event.details.get(name).cloned().ok_or_else(|| format!("the checkpoint has no {name}"))
        };
        let number = |name: &str| {
            field(name)?.parse::<i64>().map_err(|_| format!("the checkpoint's {name} is not a number"))
        };
        Some((|| {
            let previous = match event.details.get("previous_checkpoint") {
                None => None,
                Some(text) => {
                    let (seq, hash) = text
                        .split_once(':')
                        .and_then(|(s, h)| Some((s.parse::<i64>().ok()?, h.to_owned())))
                        .ok_or_else(|| "the checkpoint's previous_checkpoint is malformed".to_owned())?;
                    Some((seq, hash))
                }
            };
            Ok(Self {
                previous,
                covers_node_seq: number("covers_node_seq")?,
                covers_hash: field("covers_hash")?,
                signed_at: field("signed_at")?,
                key_id: field("signing_key")?,
                key_version: u32::try_from(number("signing_version")?)
                    .map_err(|_| "the checkpoint's signing_version is out of range".to_owned())?,
                signature: STANDARD
                    .decode(field("signature")?)
                    .map_err(|_| "the checkpoint's signature is not base64".to_owned())?,
            })
        })())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_round_trips_through_event_details() {
        let mut event: AuditEvent = serde_json::from_str(
            r#"{"occurred_at":"2026-01-01T00:00:00Z","node":"n1","actor":"system:checkpoint","source":"scheduler","tenant":"default","action":"audit.checkpoint","outcome":"success","key_id":null,"key_name":null,"version":null,"algorithm":null,"purpose":null,"error_code":null,"reason":null,"details":{}}"#,
        )
        .unwrap();
        let claim = Checkpoint {
            previous: Some((30, "cd".repeat(32))),
            covers_node_seq: 41,
            covers_hash: "ab".repeat(32),
            signed_at: "2026-01-01T00:00:00Z".into(),
            key_id: "k".into(),
            key_version: 2,
            signature: vec![1, 2, 3],
        };
        claim.describe(&mut event);
        assert_eq!(Checkpoint::of(&event), Some(Ok(claim)));
        event.details.insert("signing_version".into(), "x".into());
        assert!(matches!(Checkpoint::of(&event), Some(Err(why)) if why.contains("signing_version")));
        event.action = AuditAction::KeyCreate;
        assert_eq!(Checkpoint::of(&event), None);
    }

    #[test]
    fn statement_names_every_claimed_field() {
        let mut claim = Checkpoint {
            previous: None,
            covers_node_seq: 7,
            covers_hash: "ff".into(),
            signed_at: "T".into(),
            key_id: "k".into(),
            key_version: 1,
            signature: Vec::new(),
        };
        let text = String::from_utf8(statement("n1", &claim)).unwrap();
        assert_eq!(
            text,
            "keystead-audit-checkpoint/v1\nnode=n1\nnode_seq=7\nhash=ff\nprevious=none\nsigned_at=T\n"
        );
        claim.previous = Some((5, "ee".into()));
        assert!(String::from_utf8(statement("n1", &claim)).unwrap().contains("previous=5:ee\n"));
    }
}
