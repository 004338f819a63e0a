//! Bring your own key (CEK-10 guideline 6): import parameters (an RSA wrapping key and a
//! single-use, 24-hour import token), the import of wrapped material into an external key or a
//! new one, and the deletion of Keystead's copy of imported material.
//!
//! Imported material is checked against the key's algorithm and the strength policy, gets a
//! KCV, and its provenance says it was generated outside Keystead and is not attested. A key
//! whose imported material is deleted waits in `pending-import` and takes back only the same
//! material (same KCV), as AWS KMS requires.

use keystead_core::import::{IMPORT_TOKEN_LIFETIME_SECONDS, NOT_ATTESTED};
use keystead_core::key::{ImportMark, KeyAttributes, Origin, VersionInfo};
use keystead_core::{
    Action, AuditAction, AuditEvent, KeyId, KeyRef, KeyState, Tenant, VersionNumber, WrappingAlgorithm,
    WrappingKeySpec,
};
use keystead_crypto::{external_provenance, SecretBytes};
use keystead_store::{barrier, Change, ImportTokenRecord, StoredKey, StoredVersion, VersionUpdate};
use time::OffsetDateTime;

use super::requests::CreateKeyRequest;
use crate::error::{invalid, ImportTokenProblem};
use crate::{Caller, Error, KeyView, Service};

/// How an import token starts, so a token is recognisable in a file or a log of commands.
const TOKEN_PREFIX: &str = "ksit_";

/// What `key import-params` returns: the owner wraps the material under `public_key_der` with
/// `wrapping_algorithm`, and sends it with `token` before `expires_at`.
#[derive(Clone, Debug)]
pub struct ImportParamsView {
    /// The import token (ASCII: `ksit_` and 32 hex digits). Not a secret on its own: it only
    /// works for a caller allowed to import into the key, once.
    pub token: String,
    /// The key it imports into, if it exists already.
    pub key_id: Option<KeyId>,
    /// The key's name.
    pub key_name: String,
    /// The key's tenant.
    pub tenant: Tenant,
    /// How to wrap.
    pub wrapping_algorithm: WrappingAlgorithm,
    /// The wrapping key's size.
    pub wrapping_key_spec: WrappingKeySpec,
    /// DER SubjectPublicKeyInfo of the wrapping key.
    pub public_key_der: Vec<u8>,
    /// The same, PEM.
    pub public_key_pem: String,
    /// When the token stops being accepted.
    pub expires_at: OffsetDateTime,
}

/// `key import-params`.
#[derive(Clone, Debug, Default)]
pub struct ImportParamsRequest {
    /// Tenant; the caller's or `default` when absent.
    pub tenant: Option<String>,
    /// An external key (name or id) waiting for material, or the name of a key to create by
    /// the import.
    pub key: String,
    /// `rsa-oaep-sha256` (default) or `rsa-aes-kw-sha256`.
    pub wrapping_algorithm: Option<String>,
    /// `rsa-3072` (default) or `rsa-4096`.
    pub wrapping_key_spec: Option<String>,
}

/// `key import`.
#[derive(Clone, Debug, Default)]
pub struct ImportKeyRequest {
    /// The import token as `key import-params` gave it.
    pub token: Vec<u8>,
    /// The material wrapped under the token's public key.
    pub wrapped: Vec<u8>,
    /// The key: `name` names an existing external key (name or id) or the key to create;
    /// for a new key, `purpose` and `algorithm` are required and the other attributes are as
    /// for `key create`; for an existing key, `purpose` and `algorithm` (if given) must be
    /// the key's, and nothing else may be given.
    pub key: CreateKeyRequest,
}

fn sealing_aad(token_id: &str) -> Vec<u8> {
    keystead_core::envelope::canonical_fields(&[b"keystead import token", token_id.as_bytes()])
}

fn bad_token(reason: impl Into<String>) -> Error {
    Error::ImportToken { problem: ImportTokenProblem::Invalid, reason: reason.into() }
}

/// The token id inside a token: the text itself, or base64 of it (as the AWS CLI prints blobs).
fn token_id(token: &[u8]) -> Result<String, Error> {
    use base64::Engine as _;
    let text = std::str::from_utf8(token).unwrap_or_default().trim();
    let decoded;
    let text = if text.starts_with(TOKEN_PREFIX) {
        text
    } else {
        decoded = base64::engine::general_purpose::STANDARD.decode(text).unwrap_or_default();
        std::str::from_utf8(&decoded).unwrap_or_default().trim()
    };
    match text.strip_prefix(TOKEN_PREFIX) {
        Some(id)
            if id.len() == 32 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
        {
            Ok(id.to_owned())
        }
        _ => Err(bad_token(
            "not an import token (expected ksit_ and 32 hex digits, as key import-params gives)",
        )),
    }
}

impl Service {
    /// The version an external key starts with, or waits in again once its material is
    /// deleted: no material, no KCV until the first import.
    pub(crate) fn pending_import_version(
        &self,
        key: &KeyAttributes,
        number: VersionNumber,
    ) -> Result<StoredVersion, Error> {
        let now = self.now();
        let provenance =
            external_provenance(key.algorithm, key.environment, self.config.node.as_str(), now, None);
        let provenance_json = serde_json::to_string(&provenance)
            .map_err(|_| keystead_store::Error::Corrupt { what: "provenance" })?;
        Ok(StoredVersion {
            info: VersionInfo {
                number,
                state: KeyState::PendingImport,
                kcv: String::new(),
                public_key_der: None,
                provenance,
                created_at: now,
                activated_at: None,
                suspended_at: None,
                deactivated_at: None,
                compromise: None,
                destroy_at: None,
                destroyed_at: None,
            },
            provenance_json,
            sealed_material: None,
        })
    }

    /// Issues import parameters for an external key waiting for material, or for a new key
    /// of that name.
    pub async fn import_params(
        &self,
        caller: &Caller,
        request: ImportParamsRequest,
    ) -> Result<ImportParamsView, Error> {
        let (tenant, mut event) =
            self.attempt_in_tenant(caller, request.tenant.as_deref(), AuditAction::KeyImportParams).await?;
        event.key_name = Some(request.key.chars().take(128).collect());
        let result = self.import_params_checked(caller, tenant, request, &mut event).await;
        self.finish(event, result).await
    }

    async fn import_params_checked(
        &self,
        caller: &Caller,
        tenant: Tenant,
        request: ImportParamsRequest,
        event: &mut AuditEvent,
    ) -> Result<ImportParamsView, Error> {
        self.authorize(caller, Action::CreateKey, None)?;
        let wrapping_algorithm: WrappingAlgorithm =
            request.wrapping_algorithm.as_deref().unwrap_or("rsa-oaep-sha256").parse()?;
        let wrapping_key_spec: WrappingKeySpec =
            request.wrapping_key_spec.as_deref().unwrap_or("rsa-3072").parse()?;
        let existing = self.store.key(&tenant, &KeyRef::parse(&request.key)?).await?;
        let (key_id, key_name) = match &existing {
            Some(stored) => {
                crate::audit::describe_key(event, &stored.attributes);
                caller.check_tenant(&stored.attributes.tenant)?;
                self.check_environment(stored)?;
                pending_version(stored)?;
                (Some(stored.attributes.id), stored.attributes.name.to_string())
            }
            None => {
                let name = keystead_core::KeyName::new(request.key.as_str()).map_err(|_| {
                    Error::KeyNotFound { tenant: tenant.to_string(), key: request.key.clone() }
                })?;
                event.details.insert("new_key".into(), "true".into());
                (None, name.to_string())
            }
        };
        let wrapping =
            tokio::task::spawn_blocking(move || keystead_crypto::generate_wrapping_key(wrapping_key_spec))
                .await
                .map_err(|_| keystead_crypto::Error::Random)??;
        let id = hex::encode(keystead_crypto::random_array::<16>()?);
        let now = self.now();
        let expires_at = now + time::Duration::seconds(IMPORT_TOKEN_LIFETIME_SECONDS);
        let record = ImportTokenRecord {
            id: id.clone(),
            tenant: tenant.clone(),
            key_id,
            key_name: key_name.clone(),
            wrapping_algorithm,
            wrapping_key_spec,
            public_key_der: wrapping.public_key_der.clone(),
            sealed_private_key: Some(self.root()?.seal(&sealing_aad(&id), &wrapping.private_pkcs8)?),
            created_at: now,
            created_by: caller.principal.clone(),
            expires_at,
            used_at: None,
        };
        event.details.insert("import_token_id".into(), id.clone());
        event.details.insert("wrapping_algorithm".into(), wrapping_algorithm.to_string());
        event.details.insert("wrapping_key_spec".into(), wrapping_key_spec.to_string());
        event.details.insert("expires_at".into(), crate::views::rfc3339(expires_at));
        self.store.commit(Change::CreateImportToken(record), event.clone()).await?;
        Ok(ImportParamsView {
            token: format!("{TOKEN_PREFIX}{id}"),
            key_id,
            key_name,
            tenant,
            wrapping_algorithm,
            wrapping_key_spec,
            public_key_pem: pem::encode(&pem::Pem::new("PUBLIC KEY", wrapping.public_key_der.clone())),
            public_key_der: wrapping.public_key_der,
            expires_at,
        })
    }

    /// Imports wrapped material with a token from [`Service::import_params`].
    pub async fn import_key(&self, caller: &Caller, request: ImportKeyRequest) -> Result<KeyView, Error> {
        let (tenant, mut event) =
            self.attempt_in_tenant(caller, request.key.tenant.as_deref(), AuditAction::KeyImport).await?;
        event.key_name = Some(request.key.name.chars().take(128).collect());
        event.details.insert("origin".into(), Origin::External.to_string());
        let result = self.import_key_checked(caller, tenant, request, &mut event).await;
        self.finish(event, result).await
    }

    async fn import_key_checked(
        &self,
        caller: &Caller,
        tenant: Tenant,
        request: ImportKeyRequest,
        event: &mut AuditEvent,
    ) -> Result<KeyView, Error> {
        self.authorize(caller, Action::CreateKey, None)?;
        let id = token_id(&request.token)?;
        event.details.insert("import_token_id".into(), id.clone());
        let token = self.store.import_token(&id).await?.ok_or_else(|| bad_token("no such import token"))?;
        let now = self.now();
        if token.tenant != tenant {
            return Err(bad_token(format!(
                "it was issued for another tenant's key, not for tenant {tenant}"
            )));
        }
        if let Some(used) = token.used_at {
            return Err(bad_token(format!(
                "it was used at {}: a token imports once; ask for new import parameters",
                crate::views::rfc3339(used)
            )));
        }
        if token.expires_at <= now {
            return Err(Error::ImportToken {
                problem: ImportTokenProblem::Expired,
                reason: format!(
                    "it expired at {} (tokens last 24 hours); ask for new import parameters",
                    crate::views::rfc3339(token.expires_at)
                ),
            });
        }
        event.details.insert("wrapping_algorithm".into(), token.wrapping_algorithm.to_string());
        let existing = self.store.key(&tenant, &KeyRef::parse(&request.key.name)?).await?;
        let (attributes, pending) = match (token.key_id, existing) {
            (Some(token_key), Some(stored)) if stored.attributes.id == token_key => {
                crate::audit::describe_key(event, &stored.attributes);
                caller.check_tenant(&stored.attributes.tenant)?;
                self.check_environment(&stored)?;
                check_no_new_attributes(&request.key, &stored.attributes)?;
                let pending = pending_version(&stored)?.clone();
                (stored.attributes, Some(pending))
            }
            (Some(_), _) => {
                return Err(bad_token(format!(
                    "it was issued for key {}, not for {}",
                    token.key_name, request.key.name
                )))
            }
            (None, Some(stored)) => {
                return Err(keystead_store::Error::NameTaken {
                    tenant: tenant.to_string(),
                    name: stored.attributes.name.to_string(),
                }
                .into())
            }
            (None, None) if token.key_name != request.key.name => {
                return Err(bad_token(format!(
                    "it was issued for a new key named {}, not {}",
                    token.key_name, request.key.name
                )))
            }
            (None, None) => {
                let attributes =
                    self.new_key_attributes(caller, tenant.clone(), &request.key, Origin::External).await?;
                crate::audit::describe_key(event, &attributes);
                (attributes, None)
            }
        };
        let sealed_private =
            token.sealed_private_key.as_deref().ok_or_else(|| bad_token("it was used already"))?;
        let private = self.root()?.open(&sealing_aad(&token.id), sealed_private)?;
        let material = unwrap(&token, private, request.wrapped).await?;
        let algorithm = attributes.algorithm;
        attributes.algorithm.check_for(attributes.purpose, self.config.minimum_strength_bits)?;
        let imported = keystead_crypto::import_material(algorithm, material)?;
        event.details.insert("kcv".into(), imported.kcv.clone());
        if let Some(pending) = &pending {
            if !pending.info.kcv.is_empty() && pending.info.kcv != imported.kcv {
                return Err(Error::ImportedMaterialDiffers {
                    key: attributes.name.to_string(),
                    expected_kcv: pending.info.kcv.clone(),
                    kcv: imported.kcv,
                });
            }
        }
        let number = pending.as_ref().map_or(VersionNumber::FIRST, |p| p.info.number);
        event.version = Some(number.get());
        let mark = ImportMark {
            imported_by: caller.principal.clone(),
            imported_at: now,
            wrapping_algorithm: token.wrapping_algorithm,
            wrapping_key_spec: token.wrapping_key_spec,
            import_token_id: token.id.clone(),
            attestation: NOT_ATTESTED.to_owned(),
        };
        let provenance = external_provenance(
            algorithm,
            attributes.environment,
            self.config.node.as_str(),
            now,
            Some(mark),
        );
        let provenance_json = serde_json::to_string(&provenance)
            .map_err(|_| keystead_store::Error::Corrupt { what: "provenance" })?;
        let sealed = barrier::seal_material(
            &*self.root()?,
            &attributes,
            number,
            &imported.kcv,
            &provenance_json,
            &imported.material,
        )?;
        let version = StoredVersion {
            info: VersionInfo {
                number,
                state: KeyState::Active,
                kcv: imported.kcv,
                public_key_der: imported.public_key_der,
                provenance,
                created_at: pending.as_ref().map_or(now, |p| p.info.created_at),
                activated_at: Some(now),
                suspended_at: None,
                deactivated_at: None,
                compromise: None,
                destroy_at: None,
                destroyed_at: None,
            },
            provenance_json,
            sealed_material: Some(sealed),
        };
        event.details.insert("state".into(), KeyState::Active.to_string());
        let key_id = attributes.id;
        let mut changes = match &pending {
            Some(pending) => vec![
                Change::ImportMaterial {
                    key_id,
                    expected_kcv: pending.info.kcv.clone(),
                    version: version.clone(),
                },
                Change::Notify(self.notification("key.state_changed", event)?),
            ],
            None => vec![Change::CreateKey { key: attributes.clone(), version: version.clone() }],
        };
        changes.push(Change::UseImportToken { id: token.id.clone(), at: now });
        let after = match self.store.key_by_id(key_id).await? {
            Some(mut stored) => {
                stored.versions.retain(|v| v.info.number != number);
                stored.versions.push(version);
                stored.versions.sort_by_key(|v| v.info.number);
                stored
            }
            None => StoredKey { attributes, versions: vec![version] },
        };
        self.store.commit(Change::Batch(changes), event.clone()).await?;
        self.cache.invalidate(key_id);
        Ok(KeyView::from(&after))
    }

    /// Deletes Keystead's copy of an external key's material: its versions wait in
    /// `pending-import` for the same material again. Compromised or destroyed versions are
    /// left as they are (their record is evidence).
    pub async fn delete_imported_material(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
    ) -> Result<KeyView, Error> {
        self.managed(
            caller,
            tenant,
            key,
            AuditAction::KeyMaterialDelete,
            Action::ManageKeyLifecycle,
            |service, stored, event| {
                Box::pin(async move {
                    if stored.attributes.origin != Origin::External {
                        return Err(Error::WrongState {
                            reason: format!(
                                "key {} was generated by Keystead (origin generated): only imported material can be \
                                 deleted and imported again; retire a generated key with key deactivate and key destroy",
                                stored.attributes.name
                            ),
                        });
                    }
                    let now = service.now();
                    let updates: Vec<VersionUpdate> = stored
                        .versions
                        .iter()
                        .filter(|v| v.info.state.can_transition_to(KeyState::PendingImport))
                        .map(|v| {
                            VersionUpdate::of(&v.info, super::lifecycle::moved(&v.info, KeyState::PendingImport, now))
                                .destroying_material()
                        })
                        .collect();
                    if updates.is_empty() {
                        return Err(Error::WrongState {
                            reason: format!(
                                "key {} holds no imported material to delete (its versions are {})",
                                stored.attributes.name,
                                stored.versions.iter().map(|v| v.info.state.as_str()).collect::<Vec<_>>().join(", ")
                            ),
                        });
                    }
                    service.commit_versions(stored, updates, event, "key.state_changed").await
                })
            },
        )
        .await
    }
}

/// The version of an external key that waits for material.
fn pending_version(stored: &StoredKey) -> Result<&StoredVersion, Error> {
    let name = &stored.attributes.name;
    if stored.attributes.origin != Origin::External {
        return Err(Error::WrongState {
            reason: format!(
                "key {name} was generated by Keystead (origin generated) and takes no imported material; \
                 import into a new key instead (key import-params NEW-NAME)"
            ),
        });
    }
    let pending =
        stored.versions.iter().rev().find(|v| v.info.state == KeyState::PendingImport).ok_or_else(|| {
            Error::WrongState {
                reason: format!(
                    "key {name} holds its imported material (state {}); to import it again, delete it first (key delete-material)",
                    stored.versions.last().map_or("none", |v| v.info.state.as_str())
                ),
            }
        })?;
    if let Some(at) = pending.info.destroy_at {
        return Err(Error::WrongState {
            reason: format!(
                "key {name} is scheduled for destruction at {}: cancel the destruction first (key destroy --cancel)",
                crate::views::rfc3339(at)
            ),
        });
    }
    Ok(pending)
}

/// An import into an existing key takes no new attributes: only the key's own purpose and
/// algorithm may be restated.
fn check_no_new_attributes(request: &CreateKeyRequest, key: &KeyAttributes) -> Result<(), Error> {
    if !request.purpose.is_empty() && request.purpose != key.purpose.as_str() {
        return Err(invalid("purpose", format!("key {} has purpose {}", key.name, key.purpose)));
    }
    if !request.algorithm.is_empty() && request.algorithm != key.algorithm.as_str() {
        return Err(invalid("algorithm", format!("key {} has algorithm {}", key.name, key.algorithm)));
    }
    let given = [
        ("usage-context", request.usage_context.is_some()),
        ("owner", request.owner.is_some()),
        ("description", request.description.is_some()),
        ("environment", request.environment.is_some()),
        ("classification", request.classification.is_some()),
        ("label", !request.labels.is_empty()),
        ("rotation-period", request.rotation_period.is_some()),
        ("protect-period", request.protect_period.is_some()),
        ("recoverable", request.recoverable.is_some()),
        ("criticality", request.criticality.is_some()),
        ("pre-active", request.pre_active),
        ("origin", request.origin.is_some()),
    ];
    if let Some((field, _)) = given.iter().find(|(_, set)| *set) {
        return Err(invalid(
            field,
            format!("key {} exists: change its attributes with key update", key.name),
        ));
    }
    Ok(())
}

/// Opens the wrapped material off the async threads (RSA private-key operations).
async fn unwrap(
    token: &ImportTokenRecord,
    private: SecretBytes,
    wrapped: Vec<u8>,
) -> Result<SecretBytes, Error> {
    let (spec, algorithm) = (token.wrapping_key_spec, token.wrapping_algorithm);
    let material = tokio::task::spawn_blocking(move || {
        keystead_crypto::unwrap_imported(spec, algorithm, &private, &wrapped)
    })
    .await
    .map_err(|_| keystead_crypto::Error::Random)??;
    Ok(material)
}
