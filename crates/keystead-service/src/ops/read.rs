//! Reads: authentication, `key show`, `key list`, `key public`, `audit list`, status, and the
//! development bootstrap of the root principal.

use keystead_core::{Action, AuditAction, KeyId, KeyRef, KeyState, Purpose, Tenant};
use keystead_crypto::AccessToken;
use keystead_store::{
    AuditFilter, AuditRecord, ChainReport, Change, KeyFilter, NewPrincipal, StoredAuditRow,
};
use time::OffsetDateTime;

use super::requests::KeyListFilter;
use super::resolve::parse_tenant;
use crate::error::invalid;
use crate::{Caller, Error, KeyView, ServerStatus, Service};

/// A key with a compromised version and no version left that could ever protect again
/// (pre-active, active or suspended).
fn is_compromised_key(key: &keystead_store::StoredKey) -> bool {
    let compromised = key
        .versions
        .iter()
        .any(|v| matches!(v.info.state, KeyState::Compromised | KeyState::DestroyedCompromised));
    let live = key
        .versions
        .iter()
        .any(|v| matches!(v.info.state, KeyState::PreActive | KeyState::Active | KeyState::Suspended));
    compromised && !live
}

/// The name of the principal created at first start in development mode.
pub const ROOT_PRINCIPAL: &str = "root";

impl Service {
    /// Establishes who holds `token`.
    /// While sealed nobody is authenticated: every request but `operator unseal` and the
    /// seal status is refused with `sealed`.
    pub async fn authenticate(&self, token: Option<&str>, source: &str) -> Result<Caller, Error> {
        self.require_unsealed()?;
        let token = token.filter(|t| !t.trim().is_empty()).ok_or(Error::Unauthenticated)?;
        let hash = AccessToken::from_presented(token).hash();
        let principal = match self.access.principal(&hash) {
            Some(principal) => principal,
            None => {
                let epoch = self.access.principal_epoch();
                let principal = self.store.principal_by_token(&hash).await?.ok_or(Error::Unauthenticated)?;
                self.access.remember_principal(&hash, principal.clone(), epoch);
                principal
            }
        };
        if !principal.is_active_at(self.now()) {
            return Err(Error::Unauthenticated);
        }
        crate::access::caller_from(&principal, source, "bearer")
    }

    /// Establishes the principal a verified client certificate names (its subject CN). The
    /// TLS layer has already checked the chain against the configured client CA. The root
    /// principal cannot log in this way: its token is the only way in, so that whoever runs
    /// the client CA cannot mint a root certificate.
    pub async fn authenticate_certificate(&self, common_name: &str, source: &str) -> Result<Caller, Error> {
        self.require_unsealed()?;
        if common_name == ROOT_PRINCIPAL {
            return Err(Error::Unauthenticated);
        }
        let principal = match self.access.certificate_principal(common_name) {
            Some(principal) => principal,
            None => {
                let epoch = self.access.principal_epoch();
                let principal =
                    self.store.principal_by_name(common_name).await?.ok_or(Error::Unauthenticated)?;
                self.access.remember_certificate_principal(principal.clone(), epoch);
                principal
            }
        };
        if !principal.is_active_at(self.now())
            || principal.roles.iter().any(|r| r == crate::access::ROOT_ROLE)
        {
            return Err(Error::Unauthenticated);
        }
        crate::access::caller_from(&principal, source, "mtls")
    }

    /// Creates the root principal if the store has none yet; returns its token only then.
    pub async fn bootstrap_root(&self) -> Result<Option<AccessToken>, Error> {
        if self.store.meta("root_principal").await?.is_some() {
            return Ok(None);
        }
        let token = AccessToken::generate()?;
        let caller = Caller::system("bootstrap");
        let mut event = self.attempt(&caller, AuditAction::PrincipalCreate, &Tenant::default_tenant());
        event.details.insert("principal".into(), ROOT_PRINCIPAL.into());
        event.details.insert("roles".into(), "root".into());
        let principal = NewPrincipal {
            name: ROOT_PRINCIPAL.into(),
            token_hash: *token.hash().as_bytes(),
            roles: vec![crate::access::ROOT_ROLE.into()],
            tenant: None,
            created_at: self.now(),
            expires_at: None,
        };
        self.store.commit(Change::CreatePrincipal(principal), event).await?;
        self.store.init_meta("root_principal", ROOT_PRINCIPAL).await?;
        Ok(Some(token))
    }

    /// Records this node's start in the audit log.
    pub async fn record_start(&self) -> Result<(), Error> {
        let caller = Caller::system("startup");
        let mut event = self.attempt(&caller, AuditAction::ServerStart, &Tenant::default_tenant());
        event.details.insert("crypto_library".into(), keystead_crypto::library_description());
        event.details.insert("self_tests".into(), "passed".into());
        event.details.insert("environment".into(), self.config.environment.to_string());
        self.store.commit(Change::AuditOnly, event).await?;
        Ok(())
    }

    /// A key with its versions, provenance, KCVs, reviews and history: every status change
    /// of every version (its newest 1,000, however many uses came between), with time,
    /// actor, source and reason; its newest 50 events of any kind (uses, refusals); and each
    /// version's use counts and last use. Every part is read by index: the cost does not grow
    /// with the key's uses.
    pub async fn show_key(&self, caller: &Caller, tenant: Option<&str>, key: &str) -> Result<KeyView, Error> {
        self.guard(caller, AuditAction::KeyRead, Action::ReadKeys).await?;
        let tenant = caller.resolve_tenant(parse_tenant(tenant)?.as_ref())?;
        let stored = self.stored_key(&tenant, key).await?;
        let mut view = KeyView::from(&stored);
        let filter = AuditFilter {
            key_id: Some(stored.attributes.id),
            limit: Some(1_000),
            actions: AuditAction::STATUS_CHANGES.to_vec(),
            ..AuditFilter::default()
        };
        let mut history = self.store.archived_key_history(stored.attributes.id, 1_000).await?;
        history.extend(self.store.audit_events(&filter).await?);
        history.retain(|r| r.event.outcome == keystead_core::Outcome::Success);
        let excess = history.len().saturating_sub(1_000);
        view.history = history.split_off(excess);
        let recent =
            AuditFilter { key_id: Some(stored.attributes.id), limit: Some(50), ..AuditFilter::default() };
        view.recent_events = self.store.audit_events(&recent).await?;
        view.reviews = self.store.reviews(stored.attributes.id).await?;
        view.aliases = self.aliases_of(&stored.attributes).await?;
        view.usage = self.store.key_usage(stored.attributes.id).await?;
        Ok(view)
    }

    /// A key's attributes and versions without its history (AWS `DescribeKey`): a key read
    /// like `key show`, audited as `key.read`.
    pub async fn describe_key(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
    ) -> Result<KeyView, Error> {
        self.guard(caller, AuditAction::KeyRead, Action::ReadKeys).await?;
        let tenant = caller.resolve_tenant(parse_tenant(tenant)?.as_ref())?;
        let stored = self.stored_key(&tenant, key).await?;
        let mut view = KeyView::from(&stored);
        view.aliases = self.aliases_of(&stored.attributes).await?;
        Ok(view)
    }

    /// Keys matching the filter.
    pub async fn list_keys(&self, caller: &Caller, filter: KeyListFilter) -> Result<Vec<KeyView>, Error> {
        self.guard(caller, AuditAction::KeyRead, Action::ReadKeys).await?;
        let requested = parse_tenant(filter.tenant.as_deref())?;
        let tenant = caller.listing_scope(requested.as_ref())?;
        let state = filter.state.as_deref().map(str::parse::<KeyState>).transpose()?;
        let store_filter = KeyFilter {
            tenant,
            purpose: filter.purpose.as_deref().map(str::parse::<Purpose>).transpose()?,
            owner: filter.owner,
            state,
            labels: filter.labels,
        };
        let keys = self.store.keys(&store_filter).await?;
        // CEK-19: compromised keys leave the default listing; asking for the state (or for
        // every key) shows them.
        Ok(keys
            .iter()
            .filter(|k| state.is_some() || filter.all || !is_compromised_key(k))
            .map(KeyView::from)
            .collect())
    }

    /// The public key of an asymmetric key's version (the primary one by default), as PEM.
    pub async fn public_key(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        version: Option<u32>,
    ) -> Result<String, Error> {
        self.guard(caller, AuditAction::KeyRead, Action::ReadKeys).await?;
        let tenant = caller.resolve_tenant(parse_tenant(tenant)?.as_ref())?;
        let stored = self.stored_key(&tenant, key).await?;
        let name = stored.attributes.name.to_string();
        if !stored.attributes.algorithm.is_asymmetric() {
            return Err(invalid(
                "key",
                format!("{name} is a symmetric {} key and has no public key", stored.attributes.algorithm),
            ));
        }
        let chosen = match version {
            Some(n) => stored.version(keystead_core::VersionNumber::new(n)?),
            None => stored.primary().or(stored.versions.last()),
        };
        let version = chosen
            .ok_or_else(|| Error::VersionNotFound { key: name.clone(), version: version.unwrap_or(0) })?;
        let der = version
            .info
            .public_key_der
            .clone()
            .ok_or_else(|| Error::VersionNotFound { key: name, version: version.info.number.get() })?;
        Ok(pem::encode(&pem::Pem::new("PUBLIC KEY", der)))
    }

    /// Audit events, oldest first.
    pub async fn audit_list(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: Option<&str>,
        actor: Option<String>,
        since: Option<OffsetDateTime>,
        limit: Option<u32>,
    ) -> Result<Vec<AuditRecord>, Error> {
        self.guard(caller, AuditAction::AuditRead, Action::ReadAudit).await?;
        let key_id = match key {
            None => None,
            Some(text) => match KeyRef::parse(text)? {
                KeyRef::Id(id) => Some(id),
                KeyRef::Name(_) | KeyRef::Alias(_) => {
                    let tenant = caller.resolve_tenant(parse_tenant(tenant)?.as_ref())?;
                    Some(self.stored_key(&tenant, text).await?.attributes.id)
                }
            },
        };
        let filter = AuditFilter { key_id, actor, since, limit, ..AuditFilter::default() };
        let mut records = self.store.audit_events(&filter).await?;
        if let Some(own) = &caller.tenant {
            records.retain(|r| r.event.tenant == own.as_str());
        }
        Ok(records)
    }

    /// A page of the audit log exactly as stored, for `audit export`: every node's chain in
    /// order, after the (node, node sequence) position given. The start of an export is
    /// itself audited and signs a checkpoint, so the export is signed up to its start. Only principals of no tenant export: a chain holds every tenant's
    /// events, and a verifier needs all of them.
    pub async fn audit_export_page(
        &self,
        caller: &Caller,
        after: Option<(String, i64)>,
        limit: u32,
    ) -> Result<Vec<StoredAuditRow>, Error> {
        self.guard(caller, AuditAction::AuditExport, Action::ReadAudit).await?;
        let mut event = self.attempt(caller, AuditAction::AuditExport, &Tenant::default_tenant());
        if caller.tenant.is_some() {
            let err = Error::PermissionDenied {
                reason: "an export holds every tenant's events; only a principal of no tenant can export"
                    .into(),
            };
            return Err(self.refuse(event, err).await);
        }
        let limit = limit.clamp(1, 10_000);
        if after.is_none() {
            event.details.insert("format".into(), "jsonl".into());
            self.store.commit(keystead_store::Change::AuditOnly, event).await?;
            // A log that no longer verifies is still exported (an investigator needs it); the
            // refusal to sign is audited and the offline verifier names the damage.
            if let Err(err) = self.sign_checkpoint().await {
                if err.kind() != crate::ErrorKind::IntegrityFailure {
                    return Err(err);
                }
            }
        }
        Ok(self.store.audit_rows(after, limit).await?)
    }

    /// Recomputes every audit hash chain and checks every signed checkpoint.
    pub async fn audit_verify(&self, caller: &Caller) -> Result<ChainReport, Error> {
        self.guard(caller, AuditAction::AuditRead, Action::ReadAudit).await?;
        self.verify_chains().await
    }

    /// What this server runs with, for a caller allowed to read it.
    pub async fn status_for(&self, caller: &Caller) -> Result<ServerStatus, Error> {
        self.guard(caller, AuditAction::StatusRead, Action::ReadStatus).await?;
        Ok(self.status())
    }

    /// What this server runs with (for the operator's start-up banner).
    pub fn status(&self) -> ServerStatus {
        ServerStatus {
            node: self.config.node.to_string(),
            environment: self.config.environment.to_string(),
            crypto_library: keystead_crypto::library_description(),
            fips: keystead_crypto::fips_mode(),
            minimum_strength_bits: self.config.minimum_strength_bits,
            self_tests: self.self_tests.clone(),
            seal: self.seal_status(),
        }
    }

    /// Drops a key from the cache (used by tests and by change notifications).
    pub fn forget_cached(&self, id: KeyId) {
        self.cache.invalidate(id);
    }
}
