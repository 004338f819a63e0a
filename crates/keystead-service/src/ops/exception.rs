//! Controlled exceptions (CEK-19): a quorum-approved, time-boxed window in which exactly its
//! requester may protect with one compromised version. Outside the window the version is
//! decrypt-only again with no further action; the scheduler records the close.

use std::collections::BTreeMap;

use keystead_core::approval::{ApprovalOperation, ApprovalStatus};
use keystead_core::key::parse_duration_seconds;
use keystead_core::{Action, AuditAction, KeyState, Operation, OperationClass};
use keystead_store::{ApprovalFilter, ApprovalRecord};

use super::approvals::{exception_window_end, ApprovalView, NewRequest};
use crate::cache::CachedKey;
use crate::error::invalid;
use crate::{Caller, Error, Service};

/// An exception request.
#[derive(Clone, Debug, Default)]
pub struct ExceptionRequest {
    /// The compromised version; the newest compromised one when absent.
    pub version: Option<u32>,
    /// The protect operation, e.g. `encrypt`.
    pub operation: String,
    /// The window, such as `1h`, counted from the approval.
    pub duration: String,
    /// Why.
    pub justification: String,
    /// How long the request stays open for approvals.
    pub expires_in: Option<String>,
}

impl Service {
    /// Asks for an exception window on a compromised version for the caller.
    pub async fn request_exception(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        request: ExceptionRequest,
    ) -> Result<ApprovalView, Error> {
        let requester = caller.clone();
        self.managed(caller, tenant, key, AuditAction::ExceptionRequest, Action::RequestException, move |service, stored, event| {
            Box::pin(async move {
                let operation: Operation = request.operation.parse()?;
                if operation.class() != OperationClass::Protect {
                    return Err(invalid(
                        "operation",
                        "exceptions are for protect operations (encrypt, datakey, sign, mac, wrap); incident responders process with compromised keys without one",
                    ));
                }
                operation.check_purpose(stored.attributes.name.as_str(), stored.attributes.purpose)?;
                // The exception lifts only the state rule: the requester must hold the
                // operation on this key (role and grant) already.
                service.authorize(&requester, Action::Use(operation), Some(&stored.attributes))?;
                let version = match request.version {
                    Some(number) => stored
                        .versions
                        .iter()
                        .find(|v| v.info.number.get() == number)
                        .ok_or_else(|| Error::VersionNotFound { key: stored.attributes.name.to_string(), version: number })?,
                    None => stored
                        .versions
                        .iter()
                        .rev()
                        .find(|v| v.info.state == KeyState::Compromised)
                        .ok_or_else(|| invalid("key", "the key has no compromised version; exceptions are only for compromised keys"))?,
                };
                if version.info.state != KeyState::Compromised {
                    return Err(invalid(
                        "version",
                        format!("version {} is {}; exceptions are only for compromised versions", version.info.number, version.info.state),
                    ));
                }
                let seconds = parse_duration_seconds(request.duration.trim())?;
                if seconds > service.config.maximum_exception_seconds {
                    return Err(invalid(
                        "for",
                        format!("an exception lasts at most {} seconds", service.config.maximum_exception_seconds),
                    ));
                }
                let parameters = BTreeMap::from([
                    ("operation".to_owned(), operation.to_string()),
                    ("for_seconds".to_owned(), seconds.to_string()),
                ]);
                let new = NewRequest {
                    operation: ApprovalOperation::CompromisedKeyException,
                    version: Some(version.info.number.get()),
                    parameters,
                    justification: request.justification,
                    expires_in: request.expires_in,
                };
                service.create_request(&requester, (&stored).into(), new, event).await
            })
        })
        .await
    }

    /// The approved exception whose window is open now for `caller` to run `operation` with
    /// a compromised version of `cached`, if any. Read from the store (a rare path): every
    /// node sees a window open and close at the same moment.
    pub(crate) async fn open_exception(
        &self,
        caller: &Caller,
        cached: &CachedKey,
        operation: Operation,
    ) -> Result<Option<ApprovalRecord>, Error> {
        let filter = ApprovalFilter {
            status: Some(ApprovalStatus::Approved),
            key_id: Some(cached.stored.attributes.id),
            operation: Some(ApprovalOperation::CompromisedKeyException),
            requester: Some(caller.principal.clone()),
            ..ApprovalFilter::default()
        };
        let now = self.now();
        let open = self.store.approvals(&filter).await?.into_iter().find(|record| {
            record.parameters.get("operation").map(String::as_str) == Some(operation.as_str())
                && record.decided_at.is_some_and(|at| at <= now)
                && exception_window_end(record).is_some_and(|end| now < end)
        });
        Ok(open)
    }

    /// Records the close of every approved exception whose window has ended.
    pub(crate) async fn close_ended_exceptions(&self) -> Result<(), Error> {
        let filter = ApprovalFilter {
            status: Some(ApprovalStatus::Approved),
            operation: Some(ApprovalOperation::CompromisedKeyException),
            ..ApprovalFilter::default()
        };
        let now = self.now();
        for record in self.store.approvals(&filter).await? {
            if exception_window_end(&record).is_none_or(|end| end > now) {
                continue;
            }
            self.move_status(
                &record,
                AuditAction::ExceptionClose,
                ApprovalStatus::Approved,
                ApprovalStatus::Closed,
                "exception.closed",
            )
            .await?;
        }
        Ok(())
    }
}
