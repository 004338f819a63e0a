//! Approvals, webhooks, deliveries, anomalies, the audit chain, inventory pages, status.

use keystead_api as api;
use keystead_service::{
    AnomalyRecord, ApprovalView, ChainReport, ChainStatus, Delivery, InventoryItem, InventoryView,
    RewrapView, SealStatus, ServerStatus, WebhookView,
};

use super::{count, named_keys, IntoWire};

impl IntoWire for ApprovalView {
    type Wire = api::oversight::Approval;
    fn into_wire(self) -> api::oversight::Approval {
        let r = self.record;
        api::oversight::Approval {
            id: r.id,
            operation: r.operation.to_string(),
            tenant: r.tenant,
            key_id: r.key_id.map(|id| id.to_string()),
            key_name: r.key_name,
            version: r.version,
            requester: r.requester,
            status: r.status.to_string(),
            created_at: r.created_at,
            expires_at: r.expires_at,
            decided_at: r.decided_at,
            justification: r.justification,
            policy: api::oversight::ApprovalPolicy { required: named_keys(r.policy.required) },
            parameters: r.parameters,
            votes: r
                .votes
                .into_iter()
                .map(|v| api::oversight::Vote {
                    principal: v.principal,
                    role: v.role.to_string(),
                    approve: v.approve,
                    reason: v.reason,
                    at: v.at,
                })
                .collect(),
            still_needed: named_keys(self.still_needed),
            window_closes_at: self.window_closes_at,
        }
    }
}

impl IntoWire for WebhookView {
    type Wire = api::oversight::Webhook;
    fn into_wire(self) -> api::oversight::Webhook {
        api::oversight::Webhook {
            id: self.id,
            url: self.url,
            events: self.events,
            created_at: self.created_at,
            created_by: self.created_by,
            enabled: self.enabled,
            secret_rotated_at: self.secret_rotated_at,
            pending: count(self.pending),
            delivered: count(self.delivered),
            expired: count(self.expired),
            last_error: self.last_error,
        }
    }
}

impl IntoWire for Delivery {
    type Wire = api::oversight::Delivery;
    fn into_wire(self) -> api::oversight::Delivery {
        api::oversight::Delivery {
            id: self.id,
            webhook_id: self.webhook_id,
            event_type: self.event_type,
            status: self.status,
            attempts: self.attempts,
            created_at: self.created_at,
            next_attempt_at: self.next_attempt_at,
            expires_at: self.expires_at,
            delivered_at: self.delivered_at,
            last_error: self.last_error,
        }
    }
}

impl IntoWire for AnomalyRecord {
    type Wire = api::inventory::Anomaly;
    fn into_wire(self) -> api::inventory::Anomaly {
        api::inventory::Anomaly {
            id: self.id,
            rule: self.rule,
            dedupe: self.dedupe,
            severity: self.severity,
            detected_at: self.detected_at,
            occurred_at: self.occurred_at,
            actor: self.actor,
            tenant: self.tenant,
            key_id: self.key_id.map(|id| id.to_string()),
            summary: self.summary,
            evidence: self.evidence,
        }
    }
}

impl IntoWire for ChainReport {
    type Wire = api::audit::ChainReport;
    fn into_wire(self) -> api::audit::ChainReport {
        api::audit::ChainReport {
            events: self.events,
            chains: self.chains,
            checkpoints: self.checkpoints,
            breaks: self
                .breaks
                .into_iter()
                .map(|(node, node_sequence, problem)| api::audit::ChainBreak { node, node_sequence, problem })
                .collect(),
            nodes: self.nodes.into_wire(),
            warnings: self.warnings,
        }
    }
}

impl IntoWire for ChainStatus {
    type Wire = api::audit::ChainStatus;
    fn into_wire(self) -> api::audit::ChainStatus {
        api::audit::ChainStatus {
            node: self.node,
            events: self.events,
            checkpoints: self.checkpoints,
            signed_through: self.signed_through,
            signed_at: self.signed_at,
            unsigned_events: self.unsigned_events,
            longest_checkpoint_gap_seconds: self.longest_checkpoint_gap_seconds,
            archived_through: self.archived_through,
        }
    }
}

impl IntoWire for InventoryView {
    type Wire = api::inventory::InventoryPage;
    fn into_wire(self) -> api::inventory::InventoryPage {
        api::inventory::InventoryPage {
            total: self.total,
            offset: self.offset,
            keys: self.keys.into_wire(),
            next_offset: self.next_offset,
        }
    }
}

impl IntoWire for InventoryItem {
    type Wire = api::inventory::InventoryItem;
    fn into_wire(self) -> api::inventory::InventoryItem {
        api::inventory::InventoryItem {
            key: self.key.into_wire(),
            last_rotated_at: self.last_rotated_at,
            rotation_due_at: self.rotation_due_at,
            past_cryptoperiod: self.past_cryptoperiod,
            owner_status: self.owner_status.to_owned(),
            last_review: self.last_review.into_wire(),
            last_used_at: self.last_used_at,
            review_due_at: self.review_due_at,
            review_overdue: self.review_overdue,
        }
    }
}

impl IntoWire for RewrapView {
    type Wire = api::crypto::Rewrapped;
    fn into_wire(self) -> api::crypto::Rewrapped {
        api::crypto::Rewrapped {
            ciphertext: self.ciphertext,
            from_version: self.from_version,
            to_version: self.to_version,
            warning: self.warning,
        }
    }
}

impl IntoWire for SealStatus {
    type Wire = api::sys::SealStatus;
    fn into_wire(self) -> api::sys::SealStatus {
        api::sys::SealStatus {
            kind: self.kind.to_owned(),
            initialized: self.initialized,
            sealed: self.sealed,
            threshold: self.threshold,
            shares: self.shares,
            progress: count(self.progress),
            seal_id: self.seal_id,
            warning: self.warning.map(str::to_owned),
            node: self.node,
            environment: self.environment,
        }
    }
}

impl IntoWire for ServerStatus {
    type Wire = api::sys::ServerStatus;
    fn into_wire(self) -> api::sys::ServerStatus {
        api::sys::ServerStatus {
            node: self.node,
            environment: self.environment,
            crypto_library: self.crypto_library,
            fips: self.fips,
            minimum_strength_bits: self.minimum_strength_bits,
            self_tests: self.self_tests.into_iter().map(str::to_owned).collect(),
            seal: self.seal.into_wire(),
        }
    }
}

impl IntoWire for keystead_service::ExportLine {
    type Wire = api::audit::ExportLine;
    fn into_wire(self) -> api::audit::ExportLine {
        api::audit::ExportLine {
            sequence: self.sequence,
            node: self.node,
            node_seq: self.node_seq,
            prev_hash: self.prev_hash,
            hash: self.hash,
            event: self.event,
        }
    }
}

impl IntoWire for keystead_service::ArchiveRange {
    type Wire = api::audit::ArchiveRange;
    fn into_wire(self) -> api::audit::ArchiveRange {
        api::audit::ArchiveRange {
            node: self.node,
            first_seq: self.first_seq,
            after_hash: self.after_hash,
            through_seq: self.through_seq,
            through_hash: self.through_hash,
        }
    }
}

/// A range as the client sent it back.
pub(crate) fn range_from_wire(range: api::audit::ArchiveRange) -> keystead_service::ArchiveRange {
    keystead_service::ArchiveRange {
        node: range.node,
        first_seq: range.first_seq,
        after_hash: range.after_hash,
        through_seq: range.through_seq,
        through_hash: range.through_hash,
    }
}

impl IntoWire for keystead_service::ArchivePlan {
    type Wire = api::audit::ArchivePlan;
    fn into_wire(self) -> api::audit::ArchivePlan {
        api::audit::ArchivePlan {
            keystead_audit_archive: self.header.keystead_audit_archive,
            before: self.header.before,
            nodes: self.header.nodes.into_iter().map(IntoWire::into_wire).collect(),
            events: self.events,
        }
    }
}

impl IntoWire for keystead_service::ArchiveDone {
    type Wire = api::audit::ArchiveDone;
    fn into_wire(self) -> api::audit::ArchiveDone {
        api::audit::ArchiveDone {
            archive_id: self.archive_id,
            before: self.header.before,
            nodes: self.header.nodes.into_iter().map(IntoWire::into_wire).collect(),
            events: self.events,
            file_sha256: self.file_sha256,
        }
    }
}
