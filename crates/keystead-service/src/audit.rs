//! Building audit events and recording failed or refused attempts.

use std::collections::BTreeMap;

use keystead_core::key::KeyAttributes;
use keystead_core::{Action, AuditAction, AuditEvent, Outcome, Tenant};

use crate::{Caller, Error, ErrorKind, Service};

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
                details
            },
        }
    }

    /// Records a request refused for a missing or unknown token. The presented token is never
    /// recorded; the source and the path are.
    /// `certificate_subject` is the CN of a verified client certificate that named no usable
    /// principal (not a secret: the certificate is public).
    pub async fn record_failed_authentication(
        &self,
        source: &str,
        path: &str,
        certificate_subject: Option<&str>,
        request_id: Option<&str>,
    ) {
        let method = if certificate_subject.is_some() { "mtls" } else { "bearer" };
        let caller = Caller::anonymous(source, method).with_request_id(request_id.map(str::to_owned));
        let mut event = self.attempt(&caller, AuditAction::AuthFailed, &Tenant::default_tenant());
        event.outcome = Outcome::Denied;
        event.error_code = Some(ErrorKind::Unauthenticated.code().to_owned());
        event.reason = Some(match certificate_subject {
            Some(_) => "the client certificate names no active principal".to_owned(),
            None => "missing, unknown, disabled or expired bearer token".to_owned(),
        });
        event.details.insert("path".into(), path.chars().take(200).collect());
        if let Some(subject) = certificate_subject {
            event.details.insert("certificate_subject".into(), subject.chars().take(200).collect());
        }
        if let Err(err) = self.store.commit(keystead_store::Change::AuditOnly, event).await {
            tracing::error!(error = %err, "could not record a failed authentication in the audit log");
        }
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
    /// Unauthenticated refusals are not recorded here: the transport records each one once,
    /// without the presented credential ([`record_failed_authentication`](Self::record_failed_authentication)).
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
