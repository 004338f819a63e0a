//! `/v1/audit`: events, chain verification, export.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use time::OffsetDateTime;

/// Query of `GET /v1/audit`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only events of this key (name, alias or id).
    pub key: Option<String>,
    /// Only events of this principal.
    pub actor: Option<String>,
    /// Only events at or after this RFC 3339 time.
    pub since: Option<String>,
    /// At most this many, newest first.
    pub limit: Option<u32>,
    /// The key's tenant.
    pub tenant: Option<String>,
}

/// Query of `GET /v1/audit/export`: the page after a (node, node sequence) position.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// The node of the last row already read.
    pub after_node: Option<String>,
    /// The node sequence of the last row already read.
    pub after_node_seq: Option<i64>,
    /// Rows per page (at most 10,000; default 1,000).
    pub limit: Option<u32>,
}

/// One audit event with its place in its node's hash chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditEvent {
    /// Global order of insertion.
    pub sequence: i64,
    /// Position in its node's chain, from 1.
    pub node_sequence: i64,
    /// The event itself.
    #[serde(flatten)]
    pub event: CanonicalEvent,
    /// Hash of the previous event of the node's chain (hex), zeros for the first.
    pub prev_hash: String,
    /// SHA-256 over the previous hash and this event's canonical bytes (hex).
    pub hash: String,
}

/// What `audit verify` found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChainReport {
    /// Events checked.
    pub events: u64,
    /// Chains (nodes) checked.
    pub chains: u64,
    /// Signed checkpoints verified.
    pub checkpoints: u64,
    /// Where each broken chain first breaks.
    pub breaks: Vec<ChainBreak>,
    /// Each chain's state.
    pub nodes: Vec<ChainStatus>,
    /// Findings that are not breaks but deserve a look (e.g. a stale newest checkpoint).
    pub warnings: Vec<String>,
}

/// The first bad event of one node's chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChainBreak {
    /// The node whose chain breaks.
    pub node: String,
    /// The position of the first bad event in that chain.
    pub node_sequence: i64,
    /// What is wrong with it.
    pub problem: String,
}

/// One node's chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// Events after the newest verified checkpoint: intact links, no signature yet.
    pub unsigned_events: u64,
    /// The longest time between two consecutive verified checkpoints, in seconds.
    pub longest_checkpoint_gap_seconds: Option<i64>,
    /// Events 1 to this one are archived; the chain checked continues from the last of them.
    #[serde(default)]
    pub archived_through: Option<i64>,
}

/// One exported row: the stored event byte for byte with its chain position.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
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
    /// The canonical event exactly as hashed (its bytes matter for offline verification, so
    /// it is carried raw; a damaged stored event is exported as a JSON string).
    #[schema(value_type = CanonicalEvent)]
    pub event: Box<RawValue>,
}

/// An audit event's fields, in the canonical form that is hashed into its chain (what
/// [`ExportLine::event`] holds, and what [`AuditEvent`] flattens).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CanonicalEvent {
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The node that recorded it.
    pub node: String,
    /// The principal who asked.
    pub actor: String,
    /// Where the request came from.
    pub source: String,
    /// The tenant concerned.
    pub tenant: String,
    /// What was attempted.
    pub action: String,
    /// How it ended.
    pub outcome: String,
    /// The key concerned.
    pub key_id: Option<String>,
    /// The key's name.
    pub key_name: Option<String>,
    /// The version concerned.
    pub version: Option<u32>,
    /// The algorithm.
    pub algorithm: Option<String>,
    /// The purpose.
    pub purpose: Option<String>,
    /// The error code of a denied or failed attempt.
    pub error_code: Option<String>,
    /// A human explanation.
    pub reason: Option<String>,
    /// Further attributes.
    pub details: BTreeMap<String, String>,
}

/// Query of `GET /v1/audit/archive-plan`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArchivePlanQuery {
    /// Archive events older than this (RFC 3339); default: `[audit] retain_days` ago.
    pub before: Option<String>,
}

/// One node's events in an archive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
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

/// What an archive would hold: the archive file's header, and its size.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ArchivePlan {
    /// The archive format (1).
    pub keystead_audit_archive: u32,
    /// Events older than this were asked for (RFC 3339).
    pub before: String,
    /// One range per node, in node order.
    pub nodes: Vec<ArchiveRange>,
    /// Events in all ranges.
    pub events: i64,
}

/// Query of `GET /v1/audit/archive-rows`: one range's rows after a position.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ArchiveRowsQuery {
    /// The node.
    pub node: String,
    /// Rows after this node sequence.
    pub after_seq: i64,
    /// Up to and including this one.
    pub through_seq: i64,
    /// Rows per page (at most 10,000; default 1,000).
    pub limit: Option<u32>,
}

/// `POST /v1/audit/archives`: move the planned events out, given the file's digest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitArchive {
    /// The plan's `before`.
    pub before: String,
    /// The plan's ranges, unchanged.
    pub nodes: Vec<ArchiveRange>,
    /// SHA-256 (hex) of the archive file written from the plan and its rows.
    pub file_sha256: String,
}

/// An archive made: its events left the store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ArchiveDone {
    /// The archive's id.
    pub archive_id: String,
    /// Events older than this were archived (up to each node's last checkpoint before it).
    pub before: String,
    /// The ranges moved.
    pub nodes: Vec<ArchiveRange>,
    /// Events moved out of the store.
    pub events: i64,
    /// SHA-256 (hex) of the archive file.
    pub file_sha256: String,
}
