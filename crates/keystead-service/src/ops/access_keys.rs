//! AWS SigV4 access keys: `principal access-key create|list|disable|enable|delete`, and
//! authentication by one. A SigV4 signature is an HMAC keyed by (a key derived from) the secret,
//! so the server must hold the secret itself: it is sealed under the root key like key
//! material, bound to the access key's id, and opened only to check a signature. The
//! signature check itself belongs to the adapter (`keystead-aws`), which hands it in as a
//! closure: the secret never leaves this module.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keystead_core::{Action, AuditAction};
use keystead_crypto::SecretBytes;
use keystead_store::{AccessKeyRecord, Change};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::access::CachedAccessKey;
use crate::auth_failures::{address_of, FailureReason, TallyKey};
use crate::{Caller, Error, Service};

/// The prefix of every access key id Keystead issues (AWS's own start with `AKIA`).
pub const ACCESS_KEY_PREFIX: &str = "AKKS";

/// An access key as listed: everything but its secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessKeyView {
    /// The access key id.
    pub id: String,
    /// The principal it authenticates as.
    pub principal: String,
    /// Whether it is refused.
    pub disabled: bool,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// Who created it.
    pub created_by: String,
}

impl From<&AccessKeyRecord> for AccessKeyView {
    fn from(record: &AccessKeyRecord) -> Self {
        Self {
            id: record.id.clone(),
            principal: record.principal.clone(),
            disabled: record.disabled,
            created_at: record.created_at,
            created_by: record.created_by.clone(),
        }
    }
}

/// A new access key with its secret: shown once, never again.
#[derive(Debug)]
pub struct NewAccessKeyView {
    /// The key.
    pub key: AccessKeyView,
    /// The secret access key (40 characters of base64), in a zeroizing buffer.
    pub secret: SecretBytes,
}

impl NewAccessKeyView {
    /// The secret as text: it is base64, so always ASCII.
    pub fn secret_text(&self) -> &str {
        std::str::from_utf8(self.secret.expose_secret()).unwrap_or_default()
    }
}

/// Why a SigV4 request was not authenticated.
#[derive(Debug)]
pub enum AccessKeyRefusal {
    /// No access key has this id, or it or its principal is disabled or expired (AWS:
    /// `UnrecognizedClientException`).
    Unrecognized,
    /// The signature does not verify; the text says why (AWS: `InvalidSignatureException`).
    BadSignature(String),
    /// Refused for another reason: sealed, rate limited, storage unavailable.
    Other(Error),
}

impl From<Error> for AccessKeyRefusal {
    fn from(err: Error) -> Self {
        Self::Other(err)
    }
}

fn sealing_aad(id: &str) -> Vec<u8> {
    keystead_core::envelope::canonical_fields(&[b"keystead access key secret", id.as_bytes()])
}

/// A fresh access key id: the prefix and 16 upper-case hex digits (64 random bits).
fn new_access_key_id() -> Result<String, Error> {
    let random = keystead_crypto::random_array::<8>()?;
    Ok(format!("{ACCESS_KEY_PREFIX}{}", hex::encode_upper(random)))
}

/// A fresh secret: 30 random bytes as 40 characters of base64, as AWS secrets look.
fn new_secret() -> Result<SecretBytes, Error> {
    let random = keystead_crypto::random_secret(30)?;
    let mut text = Zeroizing::new(String::with_capacity(40));
    STANDARD.encode_string(random.expose_secret(), &mut text);
    Ok(SecretBytes::from_slice(text.as_bytes()))
}

impl Service {
    /// Creates an access key for `principal` and returns its secret once.
    ///
    /// An access key authenticates as its principal, so making one for someone else is
    /// acting as them: a principal makes its own; an admin (confined to its tenant, if it is)
    /// makes them only for workload principals, whose one role is `crypto-user`. An admin who
    /// could mint a key custodian's or another admin's credential would get round the
    /// separation of duties that approvals rely on.
    pub async fn create_access_key(
        &self,
        caller: &Caller,
        principal: &str,
    ) -> Result<NewAccessKeyView, Error> {
        let (_, mut event) = self.attempt_in_tenant(caller, None, AuditAction::AccessKeyCreate).await?;
        event.details.insert("principal".into(), principal.chars().take(128).collect());
        let result = async {
            let own = caller.principal == principal;
            if !own {
                self.authorize(caller, Action::ManagePrincipals, None)?;
            }
            let target = self.principal_in_reach(caller, principal).await?;
            if target.roles.iter().any(|r| r == crate::access::ROOT_ROLE) {
                return Err(crate::error::invalid(
                    "principal",
                    "the root principal gets no access key: create one for a principal with the roles the workload needs",
                ));
            }
            if !own && target.roles.iter().any(|r| r != keystead_core::Role::CryptoUser.as_str()) {
                return Err(Error::PermissionDenied {
                    reason: format!(
                        "{principal} holds roles beyond crypto-user ({}): it creates its own access key \
                         (keystead principal access-key create {principal}, with its own token)",
                        target.roles.join(",")
                    ),
                });
            }
            let id = new_access_key_id()?;
            event.details.insert("access_key_id".into(), id.clone());
            let secret = new_secret()?;
            let record = AccessKeyRecord {
                sealed_secret: self.root()?.seal(&sealing_aad(&id), &secret)?,
                id,
                principal: target.name,
                disabled: false,
                created_at: self.now(),
                created_by: caller.principal.clone(),
            };
            let key = AccessKeyView::from(&record);
            self.store.commit(Change::CreateAccessKey(record), event.clone()).await?;
            Ok(NewAccessKeyView { key, secret })
        }
        .await;
        self.finish(event, result).await
    }

    /// Access keys of one principal, or of every principal in the caller's reach.
    pub async fn list_access_keys(
        &self,
        caller: &Caller,
        principal: Option<&str>,
    ) -> Result<Vec<AccessKeyView>, Error> {
        // A principal lists its own without being an admin.
        if principal != Some(caller.principal.as_str()) {
            self.guard(caller, AuditAction::PrincipalRead, Action::ManagePrincipals).await?;
        }
        if let Some(name) = principal {
            self.principal_in_reach(caller, name).await?;
        }
        let mut keys: Vec<AccessKeyView> =
            self.store.access_keys(principal).await?.iter().map(AccessKeyView::from).collect();
        if let Some(own) = &caller.tenant {
            let mut reachable = std::collections::BTreeSet::new();
            for principal in self.store.principals().await? {
                if principal.tenant.as_deref() == Some(own.as_str()) {
                    reachable.insert(principal.name);
                }
            }
            keys.retain(|k| reachable.contains(&k.principal));
        }
        Ok(keys)
    }

    /// Refuses an access key from the next request on (`disabled`), or accepts it again.
    pub async fn set_access_key_disabled(
        &self,
        caller: &Caller,
        id: &str,
        disabled: bool,
    ) -> Result<AccessKeyView, Error> {
        let action = if disabled { AuditAction::AccessKeyDisable } else { AuditAction::AccessKeyEnable };
        let (_, mut event) = self.attempt_in_tenant(caller, None, action).await?;
        event.details.insert("access_key_id".into(), id.chars().take(64).collect());
        let result = async {
            let record = self.access_key_in_reach(caller, id).await?;
            event.details.insert("principal".into(), record.principal.clone());
            if record.disabled == disabled {
                return Err(Error::WrongState {
                    reason: format!(
                        "access key {id} is {} already",
                        if disabled { "disabled" } else { "enabled" }
                    ),
                });
            }
            let committed = self
                .store
                .commit(Change::SetAccessKeyDisabled { id: record.id.clone(), disabled }, event.clone())
                .await;
            // Forgotten whatever the outcome: a commit that failed late may still have landed.
            self.access.forget_access_key(&record.id);
            committed?;
            Ok(AccessKeyView { disabled, ..AccessKeyView::from(&record) })
        }
        .await;
        self.finish(event, result).await
    }

    /// Deletes an access key for good: requests signed with it fail from then on.
    pub async fn delete_access_key(&self, caller: &Caller, id: &str) -> Result<AccessKeyView, Error> {
        let (_, mut event) = self.attempt_in_tenant(caller, None, AuditAction::AccessKeyDelete).await?;
        event.details.insert("access_key_id".into(), id.chars().take(64).collect());
        let result = async {
            let record = self.access_key_in_reach(caller, id).await?;
            event.details.insert("principal".into(), record.principal.clone());
            let committed =
                self.store.commit(Change::DeleteAccessKey { id: record.id.clone() }, event.clone()).await;
            self.access.forget_access_key(&record.id);
            committed?;
            Ok(AccessKeyView::from(&record))
        }
        .await;
        self.finish(event, result).await
    }

    /// An access key the caller may disable, enable or delete: its own, or (admins) one of a
    /// principal in reach.
    async fn access_key_in_reach(&self, caller: &Caller, id: &str) -> Result<AccessKeyRecord, Error> {
        let found = self.store.access_key(id).await?;
        if let Some(record) = found.as_ref().filter(|r| r.principal == caller.principal) {
            return Ok(record.clone());
        }
        self.authorize(caller, Action::ManagePrincipals, None)?;
        let record = found
            .ok_or_else(|| crate::error::invalid("access key", format!("no access key has the id {id}")))?;
        self.principal_in_reach(caller, &record.principal).await?;
        Ok(record)
    }

    /// Authenticates a request signed with access key `id`: `verify` gets the secret and
    /// checks the request's signature (and its time). Every refusal is counted and audited
    /// like a failed login, aggregated per source (`auth_failures.rs`).
    pub async fn authenticate_access_key(
        &self,
        id: &str,
        verify: impl FnOnce(&SecretBytes) -> Result<(), String>,
        source: &str,
        path: &str,
        request_id: Option<&str>,
    ) -> Result<Caller, AccessKeyRefusal> {
        let now = self.now();
        let address = address_of(source);
        if let Some(retry_after_seconds) = self.auth_failures.blocked_for(&address, now) {
            let key = TallyKey { address, reason: FailureReason::RateLimited, principal: None };
            self.count_failure(key, "sigv4", source, path, request_id).await;
            return Err(AccessKeyRefusal::Other(Error::RateLimited { retry_after_seconds }));
        }
        self.require_unsealed()?;
        let (reason, principal, refusal) = match self.check_access_key(id, verify, now).await? {
            Ok(principal) => {
                let caller = crate::access::caller_from(&principal, source, "sigv4")?;
                return Ok(caller.with_request_id(request_id.map(str::to_owned)));
            }
            Err(failure) => failure,
        };
        let key = TallyKey { address, reason, principal };
        self.count_failure(key, "sigv4", source, path, request_id).await;
        Err(refusal)
    }

    /// The principal behind access key `id` if the signature verifies; else why not (the
    /// tally's reason, the principal or key id named, the refusal to answer).
    async fn check_access_key(
        &self,
        id: &str,
        verify: impl FnOnce(&SecretBytes) -> Result<(), String>,
        now: OffsetDateTime,
    ) -> Result<
        Result<keystead_store::StoredPrincipal, (FailureReason, Option<String>, AccessKeyRefusal)>,
        Error,
    > {
        let key = match self.access.access_key(id) {
            Some(cached) => cached,
            None => match self.load_access_key(id).await? {
                Ok(loaded) => loaded,
                Err(failure) => return Ok(Err(failure)),
            },
        };
        let principal = key.principal;
        if !principal.is_active_at(now) {
            let who = Some(principal.name.clone());
            return Ok(Err((FailureReason::InactiveAccessKey, who, AccessKeyRefusal::Unrecognized)));
        }
        match verify(&key.secret) {
            Ok(()) => Ok(Ok(principal)),
            Err(why) => Ok(Err((
                FailureReason::BadSignature,
                Some(principal.name),
                AccessKeyRefusal::BadSignature(why),
            ))),
        }
    }

    /// Reads an access key and its principal from the store, unseals its secret, and caches
    /// it if it is enabled and its principal exists.
    async fn load_access_key(
        &self,
        id: &str,
    ) -> Result<Result<CachedAccessKey, (FailureReason, Option<String>, AccessKeyRefusal)>, Error> {
        let epoch = self.access.principal_epoch();
        let Some(record) = self.store.access_key(id).await? else {
            let named: String = id.chars().take(64).collect();
            return Ok(Err((FailureReason::UnknownAccessKey, Some(named), AccessKeyRefusal::Unrecognized)));
        };
        let principal = self.store.principal_by_name(&record.principal).await?;
        let Some(principal) = principal.filter(|_| !record.disabled) else {
            let who = Some(record.principal.clone());
            return Ok(Err((FailureReason::InactiveAccessKey, who, AccessKeyRefusal::Unrecognized)));
        };
        let secret = self
            .root()?
            .open(&sealing_aad(&record.id), &record.sealed_secret)
            .map_err(|_| Error::Store(keystead_store::Error::Corrupt { what: "sealed access key secret" }))?;
        let entry = CachedAccessKey { principal, secret: std::sync::Arc::new(secret) };
        self.access.remember_access_key(id, entry.clone(), epoch);
        Ok(Ok(entry))
    }
}
