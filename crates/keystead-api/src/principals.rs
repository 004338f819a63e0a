//! `/v1/principals` and `/v1/grants`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::Secret;

/// `POST /v1/principals`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePrincipal {
    /// Unique name.
    pub name: String,
    /// Roles, e.g. `["crypto-user"]`.
    pub roles: Vec<String>,
    /// The tenant it is confined to.
    pub tenant: Option<String>,
    /// Seconds until it stops authenticating (default: never).
    pub expires_in_seconds: Option<u64>,
}

/// `PATCH /v1/principals/{name}`: change roles or expiry. Absent fields stay as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePrincipal {
    /// The roles from now on (replacing the current ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    /// Seconds from now until it stops authenticating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in_seconds: Option<u64>,
    /// Remove the expiry: it authenticates until disabled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub never_expires: bool,
}

/// A principal (never its token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Principal {
    /// Unique name.
    pub name: String,
    /// Its roles.
    pub roles: Vec<String>,
    /// The tenant it is confined to, if any.
    pub tenant: Option<String>,
    /// Whether it can no longer authenticate.
    pub disabled: bool,
    /// When it stops authenticating, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// A created principal and its token, shown once.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedPrincipal {
    /// The principal.
    #[serde(flatten)]
    pub principal: Principal,
    /// Its bearer token; only its hash is stored.
    pub token: Secret,
}

/// `POST /v1/grants`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddGrant {
    /// The principal.
    pub principal: String,
    /// Key name, alias or id.
    pub key: String,
    /// Operations, e.g. `["encrypt", "decrypt"]`.
    pub ops: Vec<String>,
    /// The key's tenant.
    pub tenant: Option<String>,
}

/// `POST /v1/grants/revoke`: take operations back, or the whole grant.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeGrant {
    /// The principal.
    pub principal: String,
    /// Key name, alias or id.
    pub key: String,
    /// Operations to take back; every operation (the whole grant) when empty.
    #[serde(default)]
    pub ops: Vec<String>,
    /// The key's tenant.
    pub tenant: Option<String>,
}

/// What a principal may do with one key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Grant {
    /// The principal.
    pub principal: String,
    /// The key.
    pub key_id: String,
    /// The operations, e.g. `encrypt`, `decrypt`; empty once every one is revoked.
    pub operations: Vec<String>,
    /// When the grant was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An AWS SigV4 access key (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AccessKey {
    /// The access key id (`AKKS...`), as AWS clients send it.
    pub access_key_id: String,
    /// The principal it authenticates as.
    pub principal: String,
    /// Whether requests signed with it are refused.
    pub disabled: bool,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Who created it.
    pub created_by: String,
}

/// A created access key and its secret, shown once.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CreatedAccessKey {
    /// The access key.
    #[serde(flatten)]
    pub access_key: AccessKey,
    /// The secret access key; the server keeps it sealed and never shows it again.
    pub secret_access_key: Secret,
}

/// `GET /v1/access-keys` filter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AccessKeyQuery {
    /// Only this principal's access keys.
    pub principal: Option<String>,
}
