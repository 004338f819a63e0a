//! Audit events and their canonical encoding, the input of the hash chain.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::algorithm::named_enum;
use crate::{Algorithm, KeyId, Purpose};

/// What an audit event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[allow(missing_docs, reason = "variant names are the action names")]
pub enum AuditAction {
    ServerStart,
    OperatorInit,
    OperatorUnseal,
    OperatorSeal,
    AuthFailed,
    PrincipalCreate,
    PrincipalDisable,
    PrincipalEnable,
    PrincipalUpdate,
    PrincipalRead,
    AccessKeyCreate,
    AccessKeyDisable,
    AccessKeyEnable,
    AccessKeyDelete,
    GrantAdd,
    GrantRevoke,
    KeyUpdate,
    KeyRecoveryPolicy,
    AliasCreate,
    AliasUpdate,
    AliasDelete,
    WebhookDelete,
    WebhookDisable,
    WebhookEnable,
    WebhookRotateSecret,
    KeyRead,
    AuditRead,
    AuditExport,
    AuditCheckpoint,
    AuditArchive,
    StatusRead,
    KeyCreate,
    KeyRotate,
    KeyActivate,
    KeyDeactivate,
    KeySuspend,
    KeyResume,
    KeyCompromise,
    KeyDestroyRequest,
    KeyDestroyCancel,
    KeyDestroy,
    KeyReview,
    KeyImportParams,
    KeyImport,
    KeyMaterialDelete,
    InventoryRead,
    AnomalyDetected,
    ComplianceReport,
    RecoveryAssess,
    RecoveryRequest,
    RecoveryDrill,
    BackupCreate,
    BackupRestore,
    BackupShareCollect,
    KeyRecover,
    ApprovalRead,
    ApprovalApprove,
    ApprovalReject,
    ApprovalExpire,
    ExceptionRequest,
    ExceptionClose,
    WebhookAdd,
    WebhookRead,
    Rewrap,
    Encrypt,
    Decrypt,
    Sign,
    Verify,
    Mac,
    MacVerify,
    Wrap,
    Unwrap,
    DataKey,
    Random,
}

named_enum!(AuditAction, "audit action", [
    ServerStart => "server.start",
    OperatorInit => "operator.init",
    OperatorUnseal => "operator.unseal",
    OperatorSeal => "operator.seal",
    AuthFailed => "auth.failed",
    PrincipalCreate => "principal.create",
    PrincipalDisable => "principal.disable",
    PrincipalEnable => "principal.enable",
    PrincipalUpdate => "principal.update",
    PrincipalRead => "principal.read",
    AccessKeyCreate => "access-key.create",
    AccessKeyDisable => "access-key.disable",
    AccessKeyEnable => "access-key.enable",
    AccessKeyDelete => "access-key.delete",
    GrantAdd => "grant.add",
    GrantRevoke => "grant.revoke",
    KeyUpdate => "key.update",
    KeyRecoveryPolicy => "key.recovery-policy",
    AliasCreate => "alias.create",
    AliasUpdate => "alias.update",
    AliasDelete => "alias.delete",
    WebhookDelete => "webhook.delete",
    WebhookDisable => "webhook.disable",
    WebhookEnable => "webhook.enable",
    WebhookRotateSecret => "webhook.rotate-secret",
    KeyRead => "key.read",
    AuditRead => "audit.read",
    AuditExport => "audit.export",
    AuditCheckpoint => "audit.checkpoint",
    AuditArchive => "audit.archive",
    StatusRead => "status.read",
    KeyCreate => "key.create",
    KeyRotate => "key.rotate",
    KeyActivate => "key.activate",
    KeyDeactivate => "key.deactivate",
    KeySuspend => "key.suspend",
    KeyResume => "key.resume",
    KeyCompromise => "key.compromise",
    KeyDestroyRequest => "key.destroy-request",
    KeyDestroyCancel => "key.destroy-cancel",
    KeyDestroy => "key.destroy",
    KeyReview => "key.review",
    KeyImportParams => "key.import-params",
    KeyImport => "key.import",
    KeyMaterialDelete => "key.material-delete",
    InventoryRead => "inventory.read",
    AnomalyDetected => "anomaly.detected",
    ComplianceReport => "compliance.report",
    RecoveryAssess => "recovery.assess",
    RecoveryRequest => "recovery.request",
    RecoveryDrill => "recovery.drill",
    BackupCreate => "backup.create",
    BackupRestore => "backup.restore",
    BackupShareCollect => "backup.share-collect",
    KeyRecover => "key.recover",
    ApprovalRead => "approval.read",
    ApprovalApprove => "approval.approve",
    ApprovalReject => "approval.reject",
    ApprovalExpire => "approval.expire",
    ExceptionRequest => "exception.request",
    ExceptionClose => "exception.close",
    WebhookAdd => "webhook.add",
    WebhookRead => "webhook.read",
    Rewrap => "crypto.rewrap",
    Encrypt => "crypto.encrypt",
    Decrypt => "crypto.decrypt",
    Sign => "crypto.sign",
    Verify => "crypto.verify",
    Mac => "crypto.mac",
    MacVerify => "crypto.mac-verify",
    Wrap => "crypto.wrap",
    Unwrap => "crypto.unwrap",
    DataKey => "crypto.datakey",
    Random => "random.generate",
]);

impl AuditAction {
    /// The cryptographic operation an event records (a rewrap decrypts, then encrypts with
    /// the same purpose), if it records one.
    pub fn operation(self) -> Option<crate::Operation> {
        use crate::Operation;
        Some(match self {
            Self::Encrypt | Self::Rewrap => Operation::Encrypt,
            Self::Decrypt => Operation::Decrypt,
            Self::DataKey => Operation::DataKey,
            Self::Sign => Operation::Sign,
            Self::Verify => Operation::Verify,
            Self::Mac => Operation::Mac,
            Self::MacVerify => Operation::MacVerify,
            Self::Wrap => Operation::Wrap,
            Self::Unwrap => Operation::Unwrap,
            _ => return None,
        })
    }

    /// The events that change a key version's status, decide on it (approvals, exceptions)
    /// or record its review: a key's history in `key show`.
    pub const STATUS_CHANGES: &'static [AuditAction] = &[
        AuditAction::KeyCreate,
        AuditAction::KeyRotate,
        AuditAction::KeyActivate,
        AuditAction::KeyDeactivate,
        AuditAction::KeySuspend,
        AuditAction::KeyResume,
        AuditAction::KeyCompromise,
        AuditAction::KeyDestroyRequest,
        AuditAction::KeyDestroyCancel,
        AuditAction::KeyDestroy,
        AuditAction::KeyReview,
        AuditAction::KeyImport,
        AuditAction::KeyMaterialDelete,
        AuditAction::KeyRecover,
        AuditAction::KeyUpdate,
        AuditAction::KeyRecoveryPolicy,
        AuditAction::AliasCreate,
        AuditAction::AliasUpdate,
        AuditAction::AliasDelete,
        AuditAction::ApprovalApprove,
        AuditAction::ApprovalReject,
        AuditAction::ApprovalExpire,
        AuditAction::ExceptionRequest,
        AuditAction::ExceptionClose,
    ];
}

impl From<crate::Operation> for AuditAction {
    fn from(op: crate::Operation) -> Self {
        use crate::Operation;
        match op {
            Operation::Encrypt => Self::Encrypt,
            Operation::Decrypt => Self::Decrypt,
            Operation::Sign => Self::Sign,
            Operation::Verify => Self::Verify,
            Operation::Mac => Self::Mac,
            Operation::MacVerify => Self::MacVerify,
            Operation::Wrap => Self::Wrap,
            Operation::Unwrap => Self::Unwrap,
            Operation::DataKey => Self::DataKey,
        }
    }
}

/// How an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Done.
    Success,
    /// Refused by a rule (purpose, state, policy, authorization).
    Denied,
    /// Attempted and failed (bad input, integrity failure, internal error).
    Failed,
}

named_enum!(Outcome, "outcome", [
    Success => "success",
    Denied => "denied",
    Failed => "failed",
]);

/// One audit event, as the service describes it. The store adds the sequence number, the
/// previous hash and the event's own hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// When it happened.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The node that recorded it.
    pub node: String,
    /// The principal who asked.
    pub actor: String,
    /// Where the request came from (e.g. `rest 127.0.0.1:53412`).
    pub source: String,
    /// The tenant concerned.
    pub tenant: String,
    /// What was attempted.
    pub action: AuditAction,
    /// How it ended.
    pub outcome: Outcome,
    /// The key concerned, if any and known.
    pub key_id: Option<KeyId>,
    /// The key's name as requested or stored.
    pub key_name: Option<String>,
    /// The version concerned.
    pub version: Option<u32>,
    /// The key's algorithm (or the requested one for a generation).
    pub algorithm: Option<Algorithm>,
    /// The key's purpose (or the requested one).
    pub purpose: Option<Purpose>,
    /// The stable error code for a denied or failed attempt.
    pub error_code: Option<String>,
    /// A human explanation (never secret material).
    pub reason: Option<String>,
    /// Further attributes (ids, counts, labels; never secrets).
    pub details: BTreeMap<String, String>,
}

impl AuditEvent {
    /// The canonical bytes hashed into the chain: compact JSON with the fields in declaration
    /// order and `details` sorted, so every node computes the same bytes for the same event.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        // A struct of strings, integers and a BTreeMap always serializes.
        serde_json::to_vec(self).expect("audit events are plain data and always serialize")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> AuditEvent {
        AuditEvent {
            occurred_at: OffsetDateTime::UNIX_EPOCH,
            node: "n1".into(),
            actor: "root".into(),
            source: "test".into(),
            tenant: "default".into(),
            action: AuditAction::KeyCreate,
            outcome: Outcome::Success,
            key_id: None,
            key_name: Some("k".into()),
            version: Some(1),
            algorithm: Some(Algorithm::Aes256Gcm),
            purpose: Some(Purpose::Encrypt),
            error_code: None,
            reason: None,
            details: [("b".into(), "2".into()), ("a".into(), "1".into())].into(),
        }
    }

    #[test]
    fn canonical_bytes_are_stable_and_round_trip() {
        let e = event();
        let bytes = e.canonical_bytes();
        let back: AuditEvent = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.canonical_bytes(), bytes);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.find("\"a\"") < text.find("\"b\""), "details sorted: {text}");
        let mut changed = e.clone();
        changed.outcome = Outcome::Denied;
        assert_ne!(changed.canonical_bytes(), e.canonical_bytes());
    }
}
