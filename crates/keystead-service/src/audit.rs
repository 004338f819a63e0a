//! Building audit events and recording failed or refused attempts.

use std::collections::BTreeMap;

use keystead_core::key::KeyAttributes;
use keystead_core::{Action, AuditAction, AuditEvent, Outcome, Tenant};

use crate::auth_failures::{self, address_of, AuthFailurePolicy, Counted, FailureReason, TallyKey};
use crate::{Caller, Credential, Error, ErrorKind, Service};

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default()
}

impl Service {
    /// An event for an attempt by `caller`, assumed successful until told otherwise.
    pub(crate) fn attempt(&self, caller: &Caller, action: AuditAction, tenant: &Tenant) -> AuditEvent {
        AuditEvent {
            occurred_at: self.now(),
            node: self.config.node.to_string(),
            actor: caller.principal.clone(),
            source: caller.source.clone(),
            tenant: tenant.to_string(),
            action,
            outcome: Outcome::Success,
            key_id: None,
            key_name: None,
            version: None,
            algorithm: None,
            purpose: None,
            error_code: None,
            reason: None,
            details: {
                let mut details = BTreeMap::from([("auth_method".to_owned(), caller.auth_method.to_owned())]);
                if let Some(id) = &caller.request_id {
                    details.insert("request_id".to_owned(), id.clone());
                }
                if let Some(operation) = &caller.api_operation {
                    details.insert("api_operation".to_owned(), operation.clone());
                }
                details
            },
        }
    }

    /// Authenticates a request's credential (a bearer token, else a verified client
    /// certificate's CN) from `source`, or refuses it. A source that failed too often is
    /// refused with [`Error::RateLimited`] before its credential is looked at. Every refusal is
    /// counted and audited as `auth.failed`, aggregated per source address, reason and
    /// principal (`auth_failures.rs`); the presented token is never recorded.
    pub async fn authenticate_request(
        &self,
        credential: Credential<'_>,
        source: &str,
        path: &str,
        request_id: Option<&str>,
    ) -> Result<Caller, Error> {
        let now = self.now();
        let address = address_of(source);
        if let Some(retry_after_seconds) = self.auth_failures.blocked_for(&address, now) {
            let key = TallyKey { address, reason: FailureReason::RateLimited, principal: None };
            self.count_failure(key, credential.method(), source, path, request_id).await;
            return Err(Error::RateLimited { retry_after_seconds });
        }
        let refused = match credential {
            Credential::Certificate(subject) => self.authenticate_certificate(subject, source).await,
            Credential::Bearer(token) => self.authenticate(token, source).await,
        };
        let err = match refused {
            Ok(caller) => return Ok(caller.with_request_id(request_id.map(str::to_owned))),
            Err(err) => err,
        };
        if err.kind() == ErrorKind::Unauthenticated {
            let (reason, principal) = self.why_unauthenticated(credential).await;
            let key = TallyKey { address, reason, principal };
            self.count_failure(key, credential.method(), source, path, request_id).await;
        }
        Err(err)
    }

    /// Why `credential` named no usable principal, and the principal it named, if any.
    async fn why_unauthenticated(&self, credential: Credential<'_>) -> (FailureReason, Option<String>) {
        match credential {
            Credential::Certificate(subject) => {
                (FailureReason::UnknownCertificate, Some(subject.chars().take(200).collect()))
            }
            Credential::Bearer(None) => (FailureReason::MissingCredential, None),
            Credential::Bearer(Some(token)) => {
                let hash = keystead_crypto::AccessToken::from_presented(token).hash();
                match self.access.principal(&hash) {
                    Some(principal) => (FailureReason::InactivePrincipal, Some(principal.name)),
                    // Not cached: unknown (an inactive principal's token stays cached once seen).
                    None => match self.store.principal_by_token(&hash).await {
                        Ok(Some(principal)) => (FailureReason::InactivePrincipal, Some(principal.name)),
                        Ok(None) | Err(_) => (FailureReason::UnknownToken, None),
                    },
                }
            }
        }
    }

    /// Counts one refused authentication (`method` as the caller tried it), writing it at
    /// once if it is among the first of its tally.
    pub(crate) async fn count_failure(
        &self,
        key: TallyKey,
        method: &'static str,
        source: &str,
        path: &str,
        request_id: Option<&str>,
    ) {
        let counted = self.auth_failures.count(key, path, source, self.now());
        let Counted::First(key) = counted else { return };
        tracing::warn!(%source, path, reason = key.reason.as_str(), "request refused: not authenticated");
        let caller = Caller::anonymous(source, method).with_request_id(request_id.map(str::to_owned));
        let mut event = self.failure_event(&caller, &key);
        event.details.insert("count".into(), "1".into());
        event.details.insert("path".into(), path.chars().take(200).collect());
        if let Err(err) = self.store.commit(keystead_store::Change::AuditOnly, event).await {
            tracing::error!(error = %err, "could not record a failed authentication in the audit log");
            // Counted again with the next summary, so the total stays exact.
            self.auth_failures.restore(vec![(
                key,
                auth_failures::Pending {
                    count: 1,
                    first_seen: self.now(),
                    last_seen: self.now(),
                    path: path.to_owned(),
                    source: source.to_owned(),
                },
            )]);
        }
    }

    fn failure_event(&self, caller: &Caller, key: &TallyKey) -> AuditEvent {
        let mut event = self.attempt(caller, AuditAction::AuthFailed, &Tenant::default_tenant());
        event.outcome = Outcome::Denied;
        event.error_code = Some(
            match key.reason {
                FailureReason::RateLimited => ErrorKind::RateLimited.code(),
                FailureReason::MissingCredential
                | FailureReason::UnknownToken
                | FailureReason::InactivePrincipal
                | FailureReason::UnknownCertificate
                | FailureReason::UnknownAccessKey
                | FailureReason::InactiveAccessKey
                | FailureReason::BadSignature => ErrorKind::Unauthenticated.code(),
            }
            .to_owned(),
        );
        event.reason = Some(key.reason.describe().to_owned());
        event.details.insert("reason_code".into(), key.reason.as_str().into());
        event.details.insert("address".into(), key.address.clone());
        if let Some(principal) = &key.principal {
            let field = match key.reason {
                FailureReason::UnknownCertificate => "certificate_subject",
                // An access key id is an identifier, not a secret (AWS logs it too).
                FailureReason::UnknownAccessKey => "access_key_id",
                FailureReason::MissingCredential
                | FailureReason::UnknownToken
                | FailureReason::InactivePrincipal
                | FailureReason::RateLimited
                | FailureReason::InactiveAccessKey
                | FailureReason::BadSignature => "principal",
            };
            event.details.insert(field.into(), principal.clone());
        }
        event
    }

    /// Writes the failed authentications counted since the last summary (all but the first of
    /// each tally, which were written at once): one `auth.failed` event per source address,
    /// reason and principal, with `count`, `first_seen` and `last_seen`. The server calls
    /// this every `summary_seconds` and once more when it stops.
    pub async fn write_auth_failure_summaries(&self) -> Result<usize, Error> {
        let pending = self.auth_failures.drain(self.now());
        let mut unwritten = Vec::new();
        let mut written = 0;
        let mut failure = None;
        for (key, tally) in pending {
            if failure.is_some() {
                unwritten.push((key, tally));
                continue;
            }
            let caller = Caller::anonymous(&tally.source, key.reason.method());
            let mut event = self.failure_event(&caller, &key);
            event.details.insert("count".into(), tally.count.to_string());
            event.details.insert("aggregated".into(), "true".into());
            event.details.insert("first_seen".into(), rfc3339(tally.first_seen));
            event.details.insert("last_seen".into(), rfc3339(tally.last_seen));
            event.details.insert("path".into(), tally.path.chars().take(200).collect());
            match self.store.commit(keystead_store::Change::AuditOnly, event).await {
                Ok(_) => {
                    written += 1;
                    tracing::warn!(
                        address = %key.address,
                        reason = key.reason.as_str(),
                        count = tally.count,
                        "more requests refused: not authenticated"
                    );
                }
                Err(err) => {
                    unwritten.push((key, tally));
                    failure = Some(err);
                }
            }
        }
        if let Some(err) = failure {
            // Kept for the next summary: the counts stay exact.
            self.auth_failures.restore(unwritten);
            return Err(err.into());
        }
        Ok(written)
    }

    /// How failed authentication is limited and summarized.
    pub fn auth_failure_policy(&self) -> &AuthFailurePolicy {
        self.auth_failures.policy()
    }

    /// Records a refused or failed attempt in the audit log, then hands the result back.
    /// Successes are recorded by the operation itself, in the transaction of its change.
    pub(crate) async fn finish<T>(&self, event: AuditEvent, result: Result<T, Error>) -> Result<T, Error> {
        match result {
            Ok(value) => Ok(value),
            Err(err) => Err(self.refuse(event, err).await),
        }
    }

    /// Like [`finish`](Self::finish) for a key use: a success is handed back only once its
    /// audit event is stored; if it cannot be, the result is withheld.
    pub(crate) async fn finish_use<T>(
        &self,
        event: AuditEvent,
        result: Result<T, Error>,
    ) -> Result<T, Error> {
        match result {
            Ok(value) => {
                self.use_audit.record(event).await?;
                Ok(value)
            }
            Err(err) => Err(self.refuse(event, err).await),
        }
    }

    /// Records `err` as the outcome of the attempt described by `event` and returns it.
    /// Unauthenticated refusals are not recorded here: they are counted and summarized
    /// ([`authenticate_request`](Self::authenticate_request)), without the presented credential.
    pub(crate) async fn refuse(&self, event: AuditEvent, err: Error) -> Error {
        record_refusal(self.store.as_ref(), event, err).await
    }

    /// The permission check of an operation that changes nothing (reads): a refusal is
    /// audited, a success is not.
    pub(crate) async fn guard(
        &self,
        caller: &Caller,
        action: AuditAction,
        permission: Action,
    ) -> Result<(), Error> {
        match self.authorize(caller, permission, None) {
            Ok(()) => Ok(()),
            Err(err) => {
                let tenant = caller.tenant.clone().unwrap_or_else(Tenant::default_tenant);
                Err(self.refuse(self.attempt(caller, action, &tenant), err).await)
            }
        }
    }

    /// The tenant a request acts on, with the event describing the attempt; a tenant the
    /// caller may not name is refused and audited.
    pub(crate) async fn attempt_in_tenant(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        action: AuditAction,
    ) -> Result<(Tenant, AuditEvent), Error> {
        let requested = tenant.map(Tenant::new).transpose().map_err(Error::from);
        match requested.and_then(|t| caller.resolve_tenant(t.as_ref())) {
            Ok(tenant) => {
                let event = self.attempt(caller, action, &tenant);
                Ok((tenant, event))
            }
            Err(err) => Err(self.refuse(self.attempt(caller, action, &Tenant::default_tenant()), err).await),
        }
    }
}

/// Fills the key fields of an event.
pub(crate) fn describe_key(event: &mut AuditEvent, key: &KeyAttributes) {
    event.key_id = Some(key.id);
    event.key_name = Some(key.name.to_string());
    event.algorithm = Some(key.algorithm);
    event.purpose = Some(key.purpose);
    event.tenant = key.tenant.to_string();
}

/// Records a refused or failed attempt (outcome, stable code, reason) and hands the error
/// back; for work that outlives its request (a backup's writer task).
pub(crate) async fn record_refusal(
    store: &dyn keystead_store::Store,
    mut event: AuditEvent,
    err: Error,
) -> Error {
    let kind = err.kind();
    if kind == ErrorKind::Unauthenticated {
        return err;
    }
    if kind == ErrorKind::StorageUnavailable {
        // The audit log lives in the same database: writing the failure would only wait
        // out another connection timeout. Nothing was changed; the server log keeps it.
        tracing::warn!(action = %event.action, actor = %event.actor, "attempt failed: storage unavailable");
        return err;
    }
    event.outcome = if kind.is_denial() { Outcome::Denied } else { Outcome::Failed };
    event.error_code = Some(kind.code().to_owned());
    event.reason = Some(if kind == ErrorKind::Internal {
        tracing::error!(error = %err, action = %event.action, "operation failed");
        "internal error; see the server log".to_owned()
    } else {
        err.to_string()
    });
    if let Err(audit_err) = store.commit(keystead_store::Change::AuditOnly, event).await {
        // The attempt is refused either way; an audit failure must not turn it into a success.
        tracing::error!(error = %audit_err, "could not record a refused attempt in the audit log");
    }
    err
}
