//! Request types. Fields arrive as text so that even an unparsable request is an audited attempt.

use std::collections::BTreeMap;

/// `key create`.
#[derive(Clone, Debug, Default)]
pub struct CreateKeyRequest {
    /// Tenant; the caller's or `default` when absent.
    pub tenant: Option<String>,
    /// Key name.
    pub name: String,
    /// One of the purposes.
    pub purpose: String,
    /// One of the algorithms.
    pub algorithm: String,
    /// Usage context; `x-unspecified` when absent (reported in the inventory).
    pub usage_context: Option<String>,
    /// Owner; the calling principal when absent.
    pub owner: Option<String>,
    /// What the key is for.
    pub description: Option<String>,
    /// Environment; the server's when absent. Another environment is refused.
    pub environment: Option<String>,
    /// Data classification; `confidential` when absent.
    pub classification: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Rotation period such as `90d`.
    pub rotation_period: Option<String>,
    /// Originator-usage period such as `365d`: each version protects for at most this long
    /// after its activation.
    pub protect_period: Option<String>,
    /// Included in backups; true when absent.
    pub recoverable: Option<bool>,
    /// Criticality; `medium` when absent.
    pub criticality: Option<String>,
    /// Create version 1 in pre-active state.
    pub pre_active: bool,
    /// `generated` (the default) or `external`: an external key is created without material,
    /// in state `pending-import`, and takes the owner's material by `key import`.
    pub origin: Option<String>,
}

/// `key list` filters.
#[derive(Clone, Debug, Default)]
pub struct KeyListFilter {
    /// Tenant; the caller's or all tenants for an unconfined caller when absent.
    pub tenant: Option<String>,
    /// Purpose.
    pub purpose: Option<String>,
    /// State of at least one version.
    pub state: Option<String>,
    /// Owner.
    pub owner: Option<String>,
    /// Labels that must all match.
    pub labels: BTreeMap<String, String>,
    /// Include compromised keys without naming their state.
    pub all: bool,
}
