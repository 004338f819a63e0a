//! `/v1/status` and `/v1/sys/*`: the node's status, initialization, sealing.

use serde::{Deserialize, Serialize};

use crate::{Secret, SecretList};

/// What `GET /v1/status` reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ServerStatus {
    /// This node.
    pub node: String,
    /// The environment served.
    pub environment: String,
    /// The cryptographic library in use.
    pub crypto_library: String,
    /// Whether it runs in FIPS mode.
    pub fips: bool,
    /// The minimum security strength of new keys.
    pub minimum_strength_bits: u32,
    /// Self-tests that passed at start-up.
    pub self_tests: Vec<String>,
    /// The seal.
    pub seal: SealStatus,
}

/// The seal's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SealStatus {
    /// `shamir`, `pkcs11`, or `file` (development only).
    pub kind: String,
    /// Whether the store has a root key.
    pub initialized: bool,
    /// Whether the root key is out of memory.
    pub sealed: bool,
    /// Shares needed to unseal.
    pub threshold: Option<u8>,
    /// Shares issued.
    pub shares: Option<u8>,
    /// Shares entered so far towards the next unseal.
    pub progress: u64,
    /// The store's seal id, printed in every share.
    pub seal_id: Option<String>,
    /// A loud warning when the seal is not fit for real keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
    /// The node this status is of.
    pub node: String,
    /// The environment it serves.
    pub environment: String,
}

/// `POST /v1/sys/init`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Init {
    /// Shares to issue (1..=255).
    pub shares: u8,
    /// Shares needed to unseal.
    pub threshold: u8,
}

/// What `POST /v1/sys/init` returns, once.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Initialized {
    /// The store's seal id (printed in every share).
    pub seal_id: String,
    /// Shares needed to unseal.
    pub threshold: u8,
    /// One unseal share per operator.
    pub shares: SecretList,
    /// The root principal's token.
    pub root_token: Secret,
}

/// `POST /v1/sys/unseal`.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Unseal {
    /// One unseal share.
    pub share: Secret,
}
