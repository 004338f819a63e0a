//! Keys, versions, audit events, reviews, principals, grants.

use keystead_api as api;
use keystead_core::key::{CompromiseRecord, Provenance, RecoveryMark, VersionInfo};
use keystead_service::{AuditRecord, Grant, KeyView, ReviewRecord, StoredPrincipal};

use super::IntoWire;

impl IntoWire for KeyView {
    type Wire = api::keys::Key;
    fn into_wire(self) -> api::keys::Key {
        let a = self.attributes;
        api::keys::Key {
            id: a.id.to_string(),
            tenant: a.tenant.to_string(),
            name: a.name.to_string(),
            purpose: a.purpose.to_string(),
            algorithm: a.algorithm.to_string(),
            usage_context: a.usage_context.to_string(),
            owner: a.owner,
            description: a.description,
            environment: a.environment.to_string(),
            classification: a.classification.to_string(),
            labels: a.labels.into(),
            origin: a.origin.to_string(),
            rotation_period_seconds: a.rotation_period_seconds,
            protect_period_seconds: a.protect_period_seconds,
            recoverable: a.recoverable,
            criticality: a.criticality.to_string(),
            created_at: a.created_at,
            updated_at: a.updated_at,
            primary_version: self.primary_version,
            versions: self.versions.into_wire(),
            history: self.history.into_wire(),
            recent_events: self.recent_events.into_wire(),
            reviews: self.reviews.into_wire(),
            aliases: self.aliases,
            usage: self.usage.into_iter().map(IntoWire::into_wire).collect(),
        }
    }
}

impl IntoWire for VersionInfo {
    type Wire = api::keys::KeyVersion;
    fn into_wire(self) -> api::keys::KeyVersion {
        api::keys::KeyVersion {
            number: self.number.get(),
            state: self.state.to_string(),
            kcv: self.kcv,
            provenance: self.provenance.into_wire(),
            created_at: self.created_at,
            activated_at: self.activated_at,
            suspended_at: self.suspended_at,
            deactivated_at: self.deactivated_at,
            compromise: self.compromise.into_wire(),
            destroy_at: self.destroy_at,
            destroyed_at: self.destroyed_at,
        }
    }
}

impl IntoWire for Provenance {
    type Wire = api::keys::Provenance;
    fn into_wire(self) -> api::keys::Provenance {
        api::keys::Provenance {
            library: self.library,
            library_version: self.library_version,
            backend: self.backend,
            fips: self.fips,
            rng: self.rng,
            entropy_source: self.entropy_source,
            algorithm: self.algorithm.to_string(),
            security_strength_bits: self.security_strength_bits,
            generated_at: self.generated_at,
            environment: self.environment.to_string(),
            node: self.node,
            origin: self.origin.to_string(),
            recovered: self.recovered.into_wire(),
            imported: self.imported.map(|mark| api::keys::ImportMark {
                imported_by: mark.imported_by,
                imported_at: mark.imported_at,
                wrapping_algorithm: mark.wrapping_algorithm.to_string(),
                wrapping_key_spec: mark.wrapping_key_spec.to_string(),
                import_token_id: mark.import_token_id,
                attestation: mark.attestation,
            }),
        }
    }
}

impl IntoWire for RecoveryMark {
    type Wire = api::keys::RecoveryMark;
    fn into_wire(self) -> api::keys::RecoveryMark {
        api::keys::RecoveryMark {
            backup_id: self.backup_id,
            backed_up_at: self.backed_up_at,
            restored_at: self.restored_at,
            restored_by: self.restored_by,
            node: self.node,
            authorized_by: self.authorized_by,
        }
    }
}

impl IntoWire for CompromiseRecord {
    type Wire = api::keys::CompromiseReport;
    fn into_wire(self) -> api::keys::CompromiseReport {
        api::keys::CompromiseReport {
            incident: self.incident,
            occurred_at: self.occurred_at,
            reported_at: self.reported_at,
            reported_by: self.reported_by,
            reason: self.reason,
        }
    }
}

impl IntoWire for AuditRecord {
    type Wire = api::audit::AuditEvent;
    fn into_wire(self) -> api::audit::AuditEvent {
        let e = self.event;
        api::audit::AuditEvent {
            sequence: self.sequence,
            node_sequence: self.node_sequence,
            event: api::audit::CanonicalEvent {
                occurred_at: e.occurred_at,
                node: e.node,
                actor: e.actor,
                source: e.source,
                tenant: e.tenant,
                action: e.action.to_string(),
                outcome: e.outcome.to_string(),
                key_id: e.key_id.map(|id| id.to_string()),
                key_name: e.key_name,
                version: e.version,
                algorithm: e.algorithm.map(|a| a.to_string()),
                purpose: e.purpose.map(|p| p.to_string()),
                error_code: e.error_code,
                reason: e.reason,
                details: e.details,
            },
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

impl IntoWire for ReviewRecord {
    type Wire = api::inventory::ReviewRecord;
    fn into_wire(self) -> api::inventory::ReviewRecord {
        api::inventory::ReviewRecord {
            key_id: self.key_id.to_string(),
            reviewed_at: self.reviewed_at,
            reviewer: self.reviewer,
            as_owner: self.as_owner,
            attestation: self.attestation,
        }
    }
}

impl IntoWire for keystead_service::AliasView {
    type Wire = api::keys::Alias;
    fn into_wire(self) -> api::keys::Alias {
        api::keys::Alias {
            alias: self.record.alias,
            tenant: self.record.tenant,
            key_id: self.record.key_id.to_string(),
            key_name: self.key_name,
            key_usable: self.key_live,
            created_at: self.record.created_at,
            updated_at: self.record.updated_at,
        }
    }
}

impl IntoWire for StoredPrincipal {
    type Wire = api::principals::Principal;
    fn into_wire(self) -> api::principals::Principal {
        api::principals::Principal {
            name: self.name,
            roles: self.roles,
            tenant: self.tenant,
            disabled: self.disabled,
            expires_at: self.expires_at,
        }
    }
}

impl IntoWire for Grant {
    type Wire = api::principals::Grant;
    fn into_wire(self) -> api::principals::Grant {
        api::principals::Grant {
            principal: self.principal,
            key_id: self.key_id.to_string(),
            operations: self.operations.iter().map(ToString::to_string).collect(),
            created_at: self.created_at,
        }
    }
}

impl IntoWire for keystead_service::UsageRecord {
    type Wire = api::keys::VersionUsage;
    fn into_wire(self) -> api::keys::VersionUsage {
        api::keys::VersionUsage {
            version: self.version,
            operation: self.operation,
            uses: self.uses,
            first_used_at: self.first_used_at,
            last_used_at: self.last_used_at,
        }
    }
}
