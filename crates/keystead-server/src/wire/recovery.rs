//! Restores and drills.

use keystead_api as api;
use keystead_service::{ConflictingKey, DrillFailure, DrillReport, ManifestKey, RestoreReport, RestoredKey};

use super::{count, IntoWire};

impl IntoWire for RestoreReport {
    type Wire = api::recovery::RestoreReport;
    fn into_wire(self) -> api::recovery::RestoreReport {
        api::recovery::RestoreReport {
            backup_id: self.backup_id,
            backed_up_at: self.backed_up_at,
            authorized_by: self.authorized_by,
            restored: self.restored.into_wire(),
            unchanged: self.unchanged.into_wire(),
            conflicts: self.conflicts.into_wire(),
            excluded: self.excluded.into_wire(),
            review: self.review,
            anomaly: self.anomaly,
            warnings: self.warnings,
        }
    }
}

impl IntoWire for RestoredKey {
    type Wire = api::recovery::RestoredKey;
    fn into_wire(self) -> api::recovery::RestoredKey {
        api::recovery::RestoredKey {
            key_id: self.key_id,
            tenant: self.tenant,
            name: self.name,
            versions: self.versions,
        }
    }
}

impl IntoWire for ConflictingKey {
    type Wire = api::recovery::ConflictingKey;
    fn into_wire(self) -> api::recovery::ConflictingKey {
        api::recovery::ConflictingKey {
            key_id: self.key_id,
            tenant: self.tenant,
            name: self.name,
            reason: self.reason,
        }
    }
}

impl IntoWire for ManifestKey {
    type Wire = api::recovery::BackedUpKey;
    fn into_wire(self) -> api::recovery::BackedUpKey {
        api::recovery::BackedUpKey {
            key_id: self.key_id,
            tenant: self.tenant,
            name: self.name,
            purpose: self.purpose,
            versions: self.versions,
            reason: self.reason,
        }
    }
}

impl IntoWire for DrillReport {
    type Wire = api::recovery::DrillReport;
    fn into_wire(self) -> api::recovery::DrillReport {
        api::recovery::DrillReport {
            drill_id: self.drill_id,
            backup_id: self.backup_id,
            backed_up_at: self.backed_up_at,
            result: self.result.to_owned(),
            authenticated: self.authenticated,
            keys_in_bundle: count(self.keys_in_bundle),
            keys_verified: count(self.keys_verified),
            versions_verified: count(self.versions_verified),
            versions_without_material: count(self.versions_without_material),
            keys_excluded: count(self.keys_excluded),
            failures: self.failures.into_wire(),
            duration_ms: self.duration_ms,
        }
    }
}

impl IntoWire for DrillFailure {
    type Wire = api::recovery::DrillFailure;
    fn into_wire(self) -> api::recovery::DrillFailure {
        api::recovery::DrillFailure {
            key_id: self.key_id,
            key: self.key,
            version: self.version,
            reason: self.reason,
        }
    }
}
