//! Service errors, each with a stable [`ErrorKind`] that adapters map to the wire in one place.

use keystead_core::{Environment, KeyState};

/// The stable class of an error: adapters map it to HTTP status and error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// No valid credentials.
    Unauthenticated,
    /// Authenticated but not allowed.
    PermissionDenied,
    /// The key (or other object) does not exist.
    NotFound,
    /// A name is already taken.
    AlreadyExists,
    /// The request is malformed or a value is invalid.
    InvalidArgument,
    /// The key's purpose does not allow the operation (CEK-11).
    PurposeViolation,
    /// The version's state does not allow the operation.
    InvalidState,
    /// The version is compromised: it never protects (outside an approved exception) and
    /// processes only for incident responders with a justification.
    KeyCompromised,
    /// The request breaks a policy (weak algorithm, another environment's key).
    PolicyViolation,
    /// Decryption, unwrapping or an integrity check of caller data failed.
    DecryptionFailed,
    /// Stored key material failed its integrity check: the key is refused.
    IntegrityFailure,
    /// A concurrent change won; retry.
    Conflict,
    /// The server is sealed: the root key is not in memory.
    Sealed,
    /// The store has not been initialized (`operator init`).
    NotInitialized,
    /// The database is out of reach; retry later. Nothing was changed.
    StorageUnavailable,
    /// The source failed to authenticate too often and is refused for a while.
    RateLimited,
    /// Something broke inside the server; details are only in the server log.
    Internal,
}

impl ErrorKind {
    /// The stable `code` string of the JSON error body.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::PermissionDenied => "permission_denied",
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::InvalidArgument => "invalid_argument",
            ErrorKind::PurposeViolation => "purpose_violation",
            ErrorKind::InvalidState => "invalid_state",
            ErrorKind::KeyCompromised => "key_compromised",
            ErrorKind::PolicyViolation => "policy_violation",
            ErrorKind::DecryptionFailed => "decryption_failed",
            ErrorKind::IntegrityFailure => "integrity_failure",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Sealed => "sealed",
            ErrorKind::NotInitialized => "not_initialized",
            ErrorKind::StorageUnavailable => "storage_unavailable",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Internal => "internal",
        }
    }

    /// Whether an attempt that ended in this error was refused by a rule (audited as `denied`)
    /// rather than failed (audited as `failed`).
    pub fn is_denial(self) -> bool {
        matches!(
            self,
            ErrorKind::Unauthenticated
                | ErrorKind::RateLimited
                | ErrorKind::PermissionDenied
                | ErrorKind::PurposeViolation
                | ErrorKind::InvalidState
                | ErrorKind::KeyCompromised
                | ErrorKind::PolicyViolation
                | ErrorKind::IntegrityFailure
        )
    }
}

/// An operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Missing or unknown token.
    #[error("missing or invalid token: pass --token or set KEYSTEAD_TOKEN")]
    Unauthenticated,
    /// The source failed to authenticate too often; it may try again after this many seconds.
    #[error("too many failed authentications from this address; retry in {retry_after_seconds} s")]
    RateLimited {
        /// Seconds until the source may try again.
        retry_after_seconds: u64,
    },
    /// The caller may not act on this tenant or key.
    #[error("permission denied: {reason}")]
    PermissionDenied {
        /// Why.
        reason: String,
    },
    /// No such key.
    #[error("key {key} not found in tenant {tenant}")]
    KeyNotFound {
        /// The tenant searched.
        tenant: String,
        /// The key asked for.
        key: String,
    },
    /// The envelope names a version the key does not have.
    #[error("key {key} has no version {version}")]
    VersionNotFound {
        /// The key.
        key: String,
        /// The version asked for.
        version: u32,
    },
    /// A domain rule refused the request.
    #[error(transparent)]
    Rule(#[from] keystead_core::Error),
    /// An argument is missing or invalid.
    #[error("invalid {field}: {reason}")]
    InvalidArgument {
        /// The field.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The key belongs to another environment than this server.
    #[error("key {key} belongs to environment {key_environment}, but this server serves {server_environment}; production and non-production keys are kept apart")]
    EnvironmentMismatch {
        /// The key.
        key: String,
        /// The key's environment.
        key_environment: Environment,
        /// The server's environment.
        server_environment: Environment,
    },
    /// The key has no active version to protect with.
    #[error("key {key} has no active version; activate one or rotate the key")]
    NoActiveVersion {
        /// The key.
        key: String,
    },
    /// The root key is not in memory; `progress` says how far unsealing has come.
    #[error(
        "the server is sealed ({progress}); operators enter unseal shares with `keystead operator unseal`"
    )]
    Sealed {
        /// E.g. `1 of 3 unseal shares entered`.
        progress: String,
    },
    /// The store has no root key yet.
    #[error("the server is not initialized; run `keystead operator init --shares N --threshold M` (shamir seal) or `keystead operator init` (pkcs11 seal)")]
    NotInitialized,
    /// The seal is not in a state that allows the request (already initialized, already
    /// unsealed, a development seal).
    #[error("{reason}")]
    SealState {
        /// Why.
        reason: String,
    },
    /// The audit event of a key use could not be written, so its result is withheld: no
    /// unaudited operation.
    #[error("the operation's audit event could not be written; its result is withheld")]
    UseNotAudited {
        /// Whether the database was out of reach (retry later) rather than refusing the write.
        unavailable: bool,
    },
    /// Rewrapping data that may be an attacker's would give it a clean version's trust.
    #[error("key {key} version {version} is compromised and this data was protected after the reported compromise (or at an unknown time), so it may be the attacker's; rewrapping it under a clean version would hide that. Check it, then pass --accept-suspect")]
    SuspectData {
        /// The key.
        key: String,
        /// The compromised version.
        version: u32,
    },
    /// The audit signing key signs only Keystead's checkpoints.
    #[error("key {key} is reserved for Keystead's audit checkpoints (name keystead-audit-signing, usage context audit-log-signing): no principal may sign with it or create a key of that name or context")]
    ReservedKey {
        /// The key.
        key: String,
    },
    /// The audit log does not verify where it must before a checkpoint is signed.
    #[error("audit log integrity: {reason}")]
    AuditTampered {
        /// What does not verify.
        reason: String,
    },
    /// The audit signing key's versions stay as they are, so old checkpoints stay verifiable.
    #[error("key {key} signs Keystead's audit checkpoints: its versions are kept so old checkpoints stay verifiable, and only `keystead key rotate` and `keystead key compromise` apply to it")]
    AuditSigningKeyFixed {
        /// The key.
        key: String,
    },
    /// A version in use cannot be destroyed.
    #[error("key {key} version {version} is {state} and cannot be destroyed; deactivate it first (`keystead key deactivate`)")]
    NotDestroyable {
        /// The key.
        key: String,
        /// The version.
        version: u32,
        /// Its state.
        state: keystead_core::KeyState,
    },
    /// No such approval request.
    #[error("approval request {id} not found; `keystead approval list` shows the open ones")]
    ApprovalNotFound {
        /// The id asked for.
        id: String,
    },
    /// The request was decided, expired or closed: decisions are final.
    #[error("approval request {id} is {status}; decisions are final, make a new request if needed")]
    ApprovalClosed {
        /// The request.
        id: String,
        /// Its status.
        status: keystead_core::approval::ApprovalStatus,
    },
    /// A backup bundle that cannot be opened as given: altered, truncated, foreign shares.
    #[error("backup bundle refused: {reason}; nothing was changed")]
    Bundle {
        /// What is wrong, naming the share or line concerned (never a share's value).
        reason: String,
    },
    /// Keys of the bundle exist in the store in another state; the restore needs a choice.
    #[error("{count} key(s) of the backup conflict with the store: {summary}. Nothing was restored; pass --on-conflict skip to restore the other keys and keep the store's state of these")]
    RestoreConflicts {
        /// How many.
        count: usize,
        /// The first few, each with why.
        summary: String,
    },
    /// A backup stopped before its bundle was complete.
    #[error("the backup stopped before it was complete: {reason}")]
    BackupInterrupted {
        /// Why.
        reason: String,
    },
    /// The alias names a key of its tenant already.
    #[error("alias {alias} exists already in this tenant; `keystead alias update` points it at another key")]
    AliasTaken {
        /// The alias.
        alias: String,
    },
    /// No such webhook.
    #[error("webhook {id} not found; `keystead webhook list` shows them")]
    WebhookNotFound {
        /// The id asked for.
        id: String,
    },
    /// No such principal.
    #[error("principal {name} not found; `keystead principal list` shows them")]
    PrincipalNotFound {
        /// The name asked for.
        name: String,
    },
    /// A principal, webhook or key is not in the state the request needs (enabling an enabled
    /// principal, naming a destroyed key in an alias).
    #[error("{reason}")]
    WrongState {
        /// Why.
        reason: String,
    },
    /// Roles that separation of duties keeps apart.
    #[error("roles {first} and {second} may not be held together: {why}")]
    RolesTogether {
        /// One role.
        first: keystead_core::Role,
        /// The other.
        second: keystead_core::Role,
        /// Why.
        why: &'static str,
    },
    /// The principal holds no grant on the key (or none of the operations named).
    #[error(
        "principal {principal} has no grant on key {key}{detail}; `keystead key show` lists what is granted"
    )]
    GrantNotFound {
        /// The principal.
        principal: String,
        /// The key as named.
        key: String,
        /// Which operations were not granted, if some were named.
        detail: String,
    },
    /// An import token that cannot be used for this import.
    #[error("import token refused: {reason}")]
    ImportToken {
        /// Why, in the terms AWS distinguishes.
        problem: ImportTokenProblem,
        /// Why, in words.
        reason: String,
    },
    /// A re-import of different material into a key whose material was deleted: only the same
    /// material may come back (the data it protected depends on it).
    #[error(
        "key {key} held material with KCV {expected_kcv}; the imported material has KCV {kcv}: import the same material, or import the new material into a new key"
    )]
    ImportedMaterialDiffers {
        /// The key.
        key: String,
        /// The KCV of the material it held.
        expected_kcv: String,
        /// The KCV of what was sent.
        kcv: String,
    },
    /// A vote that cannot count.
    #[error(transparent)]
    Vote(#[from] keystead_core::approval::VoteError),
    /// A crypto operation failed.
    #[error(transparent)]
    Crypto(#[from] keystead_crypto::Error),
    /// A storage operation failed.
    #[error(transparent)]
    Store(#[from] keystead_store::Error),
}

impl Error {
    /// The stable class of the error. No `_` arm: a new variant must be classified.
    pub fn kind(&self) -> ErrorKind {
        use keystead_core::Error as Rule;
        use keystead_crypto::Error as Crypto;
        use keystead_store::Error as Store;
        match self {
            Error::Unauthenticated => ErrorKind::Unauthenticated,
            Error::RateLimited { .. } => ErrorKind::RateLimited,
            Error::PermissionDenied { .. } => ErrorKind::PermissionDenied,
            Error::KeyNotFound { .. }
            | Error::VersionNotFound { .. }
            | Error::ApprovalNotFound { .. }
            | Error::PrincipalNotFound { .. }
            | Error::WebhookNotFound { .. }
            | Error::GrantNotFound { .. } => ErrorKind::NotFound,
            Error::WrongState { .. } => ErrorKind::InvalidState,
            Error::RolesTogether { .. } => ErrorKind::PolicyViolation,
            Error::ImportToken { .. } | Error::ImportedMaterialDiffers { .. } => ErrorKind::InvalidArgument,
            Error::AliasTaken { .. } => ErrorKind::AlreadyExists,
            Error::ApprovalClosed { .. } | Error::NotDestroyable { .. } => ErrorKind::InvalidState,
            Error::AuditTampered { .. } | Error::Bundle { .. } => ErrorKind::IntegrityFailure,
            Error::RestoreConflicts { .. } => ErrorKind::Conflict,
            // Not a refusal (the audit records it as failed, not denied): the client went away
            // or the server was sealed under it.
            Error::BackupInterrupted { .. } => ErrorKind::Conflict,
            Error::SuspectData { .. } | Error::ReservedKey { .. } | Error::AuditSigningKeyFixed { .. } => {
                ErrorKind::PolicyViolation
            }
            Error::Vote(keystead_core::approval::VoteError::AlreadyVoted { .. }) => ErrorKind::Conflict,
            Error::Vote(_) => ErrorKind::PermissionDenied,
            Error::InvalidArgument { .. } => ErrorKind::InvalidArgument,
            Error::EnvironmentMismatch { .. } => ErrorKind::PolicyViolation,
            Error::NoActiveVersion { .. } | Error::SealState { .. } => ErrorKind::InvalidState,
            Error::Sealed { .. } => ErrorKind::Sealed,
            Error::NotInitialized => ErrorKind::NotInitialized,
            Error::Rule(rule) => match rule {
                Rule::InvalidValue { .. } | Rule::MalformedEnvelope { .. } => ErrorKind::InvalidArgument,
                Rule::TooWeak { .. } | Rule::AlgorithmPurposeMismatch { .. } => ErrorKind::PolicyViolation,
                Rule::PurposeViolation { .. } => ErrorKind::PurposeViolation,
                Rule::InvalidState {
                    state: KeyState::Compromised | KeyState::DestroyedCompromised, ..
                } => ErrorKind::KeyCompromised,
                Rule::InvalidState { .. } | Rule::InvalidTransition { .. } => ErrorKind::InvalidState,
            },
            Error::Crypto(crypto) => match crypto {
                Crypto::Authentication => ErrorKind::DecryptionFailed,
                Crypto::InvalidInput { .. } | Crypto::Unsupported { .. } | Crypto::Sharing { .. } => {
                    ErrorKind::InvalidArgument
                }
                Crypto::Unseal | Crypto::InvalidMaterial { .. } => ErrorKind::IntegrityFailure,
                Crypto::ImportUnwrap { .. } => ErrorKind::DecryptionFailed,
                Crypto::ImportedMaterial { .. } => ErrorKind::InvalidArgument,
                Crypto::Generation { .. } | Crypto::Random | Crypto::SelfTest { .. } => ErrorKind::Internal,
            },
            Error::UseNotAudited { unavailable: true } => ErrorKind::StorageUnavailable,
            Error::UseNotAudited { unavailable: false } => ErrorKind::Internal,
            Error::Store(store) if store.is_unavailable() => ErrorKind::StorageUnavailable,
            Error::Store(store) => match store {
                Store::NameTaken { .. } | Store::PrincipalTaken { .. } => ErrorKind::AlreadyExists,
                Store::Conflict { .. } => ErrorKind::Conflict,
                Store::Integrity { .. } | Store::Corrupt { .. } => ErrorKind::IntegrityFailure,
                Store::Database(_) | Store::Migration(_) | Store::Crypto(_) | Store::UnsupportedUrl => {
                    ErrorKind::Internal
                }
            },
        }
    }
}

/// Why an import token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportTokenProblem {
    /// Malformed, unknown, used already, or issued for another key or tenant.
    Invalid,
    /// Older than its 24 hours.
    Expired,
}

/// Builds an invalid-argument error.
pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::InvalidArgument { field, reason: reason.into() }
}
