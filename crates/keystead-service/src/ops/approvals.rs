//! Quorum approvals: making a request, listing, approving and rejecting, expiry. What an
//! approved request does is in `destroy.rs` and `exception.rs`.

use std::collections::BTreeMap;

use keystead_core::approval::{still_needed, vote_role, ApprovalOperation, ApprovalStatus, Vote};
use keystead_core::key::parse_duration_seconds;
use keystead_core::{Action, AuditAction, AuditEvent, Role, Tenant};
use keystead_store::{ApprovalFilter, ApprovalRecord, Change, StoredKey};
use serde::Serialize;
use time::OffsetDateTime;

use crate::error::invalid;
use crate::{Caller, Error, Service};

/// An approval request as shown by `approval show`.
#[derive(Clone, Debug, Serialize)]
pub struct ApprovalView {
    /// The request and its votes.
    #[serde(flatten)]
    pub record: ApprovalRecord,
    /// Approvals still missing per role (empty once decided).
    pub still_needed: BTreeMap<Role, u32>,
    /// For an approved exception: when its window closes.
    #[serde(with = "time::serde::rfc3339::option")]
    pub window_closes_at: Option<OffsetDateTime>,
}

impl From<ApprovalRecord> for ApprovalView {
    fn from(record: ApprovalRecord) -> Self {
        let still_needed = if record.status == ApprovalStatus::Pending {
            still_needed(&record.policy, &record.votes)
        } else {
            BTreeMap::new()
        };
        let window_closes_at = exception_window_end(&record);
        Self { record, still_needed, window_closes_at }
    }
}

/// When an approved exception's window ends (`for_seconds` after its approval).
pub(crate) fn exception_window_end(record: &ApprovalRecord) -> Option<OffsetDateTime> {
    if record.operation != ApprovalOperation::CompromisedKeyException {
        return None;
    }
    let seconds: i64 = record.parameters.get("for_seconds")?.parse().ok()?;
    Some(record.decided_at? + time::Duration::seconds(seconds))
}

/// What a request is about: a key, or (recovery) a backup.
pub(crate) struct RequestSubject {
    pub tenant: String,
    pub key_id: Option<keystead_core::KeyId>,
    pub name: String,
}

impl From<&StoredKey> for RequestSubject {
    fn from(stored: &StoredKey) -> Self {
        Self {
            tenant: stored.attributes.tenant.to_string(),
            key_id: Some(stored.attributes.id),
            name: stored.attributes.name.to_string(),
        }
    }
}

/// What a new request asks for.
pub(crate) struct NewRequest {
    pub operation: ApprovalOperation,
    pub version: Option<u32>,
    pub parameters: BTreeMap<String, String>,
    pub justification: String,
    pub expires_in: Option<String>,
}

impl Service {
    /// Stores a new request with its audit event and an `approval.requested` notification.
    pub(crate) async fn create_request(
        &self,
        caller: &Caller,
        subject: RequestSubject,
        request: NewRequest,
        event: &mut AuditEvent,
    ) -> Result<ApprovalView, Error> {
        let justification = request.justification.trim();
        if justification.is_empty()
            || justification.chars().count() > 1024
            || justification.chars().any(char::is_control)
        {
            return Err(invalid("justification", "must be 1 to 1024 printable characters"));
        }
        let ttl = match request.expires_in.as_deref() {
            Some(text) => parse_duration_seconds(text)?,
            None => self.config.approval_ttl_seconds,
        };
        if ttl > self.config.approval_ttl_seconds {
            return Err(invalid(
                "expires-in",
                format!("requests stay open at most {} seconds", self.config.approval_ttl_seconds),
            ));
        }
        let policy = self.config.approval_policy(request.operation);
        let now = self.now();
        let record = ApprovalRecord {
            id: format!("apr_{}", hex::encode(keystead_crypto::random_array::<16>()?)),
            operation: request.operation,
            tenant: subject.tenant,
            key_id: subject.key_id,
            key_name: subject.name,
            version: request.version,
            requester: caller.principal.clone(),
            status: ApprovalStatus::Pending,
            created_at: now,
            expires_at: now + time::Duration::seconds(ttl),
            decided_at: None,
            justification: justification.to_owned(),
            policy,
            parameters: request.parameters,
            votes: Vec::new(),
        };
        event.version = record.version;
        event.details.insert("approval_id".into(), record.id.clone());
        event.details.insert("operation".into(), record.operation.to_string());
        event.details.insert("justification".into(), record.justification.clone());
        for (name, value) in &record.parameters {
            event.details.insert(name.clone(), value.clone());
        }
        let notification = self.notification("approval.requested", event)?;
        self.store
            .commit(
                Change::Batch(vec![Change::CreateApproval(record.clone()), Change::Notify(notification)]),
                event.clone(),
            )
            .await?;
        Ok(record.into())
    }

    /// Approval requests, newest first, optionally of one status.
    pub async fn list_approvals(
        &self,
        caller: &Caller,
        status: Option<&str>,
    ) -> Result<Vec<ApprovalView>, Error> {
        self.guard(caller, AuditAction::ApprovalRead, Action::ReadApprovals).await?;
        let status = status.map(str::parse::<ApprovalStatus>).transpose()?;
        let records = self.store.approvals(&ApprovalFilter { status, ..ApprovalFilter::default() }).await?;
        Ok(records
            .into_iter()
            .filter(|r| caller.tenant.as_ref().is_none_or(|t| t.as_str() == r.tenant && r.key_id.is_some()))
            .map(|r| self.with_lazy_expiry(r).into())
            .collect())
    }

    /// One approval request with its votes.
    pub async fn show_approval(&self, caller: &Caller, id: &str) -> Result<ApprovalView, Error> {
        self.guard(caller, AuditAction::ApprovalRead, Action::ReadApprovals).await?;
        let record = self.approval_record(caller, id).await?;
        Ok(self.with_lazy_expiry(record).into())
    }

    /// A request past its expiry reads as expired even before the scheduler has recorded it.
    fn with_lazy_expiry(&self, mut record: ApprovalRecord) -> ApprovalRecord {
        if record.status == ApprovalStatus::Pending && self.now() >= record.expires_at {
            record.status = ApprovalStatus::Expired;
        }
        record
    }

    async fn approval_record(&self, caller: &Caller, id: &str) -> Result<ApprovalRecord, Error> {
        let not_found = || Error::ApprovalNotFound { id: id.chars().take(80).collect() };
        if id.len() > 80 {
            return Err(not_found());
        }
        let record = self.store.approval(id).await?.ok_or_else(not_found)?;
        // Requests about a backup cover every tenant: only whole-store principals see them.
        let confined = caller.tenant.as_ref();
        if confined.is_some_and(|t| t.as_str() != record.tenant)
            || (confined.is_some() && record.key_id.is_none())
        {
            return Err(not_found());
        }
        Ok(record)
    }

    /// Approves (or rejects, with a reason) a request. The vote that completes the quorum
    /// runs the operation in the same transaction.
    pub async fn vote_approval(
        &self,
        caller: &Caller,
        id: &str,
        approve: bool,
        reason: Option<&str>,
    ) -> Result<ApprovalView, Error> {
        let action = if approve { AuditAction::ApprovalApprove } else { AuditAction::ApprovalReject };
        let tenant = caller.tenant.clone().unwrap_or_else(Tenant::default_tenant);
        let mut event = self.attempt(caller, action, &tenant);
        event.details.insert("approval_id".into(), id.chars().take(80).collect());
        let result = self.vote_checked(caller, id, approve, reason, &mut event).await;
        self.finish(event, result).await
    }

    async fn vote_checked(
        &self,
        caller: &Caller,
        id: &str,
        approve: bool,
        reason: Option<&str>,
        event: &mut AuditEvent,
    ) -> Result<ApprovalView, Error> {
        self.authorize(caller, Action::ReadApprovals, None)?;
        // A vote decided on a stale read (another vote committed in between) is refused by the
        // store as a conflict: read the request again and decide again. A retry that finds the
        // request decided or the vote cast reports that instead.
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.vote_once(caller, id, approve, reason, event).await {
                Err(Error::Store(keystead_store::Error::Conflict { .. })) if attempts < 3 => continue,
                other => return other,
            }
        }
    }

    async fn vote_once(
        &self,
        caller: &Caller,
        id: &str,
        approve: bool,
        reason: Option<&str>,
        event: &mut AuditEvent,
    ) -> Result<ApprovalView, Error> {
        let record = self.approval_record(caller, id).await?;
        event.tenant = record.tenant.clone();
        event.key_id = record.key_id;
        event.key_name = Some(record.key_name.clone());
        event.version = record.version;
        event.details.insert("operation".into(), record.operation.to_string());
        event.details.insert("requester".into(), record.requester.clone());
        if record.status == ApprovalStatus::Pending && self.now() >= record.expires_at {
            self.expire(&record).await?;
            return Err(Error::ApprovalClosed { id: record.id, status: ApprovalStatus::Expired });
        }
        if record.status != ApprovalStatus::Pending {
            return Err(Error::ApprovalClosed { id: record.id, status: record.status });
        }
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if !approve && reason.is_none() {
            return Err(invalid("reason", "a rejection needs a reason (--reason)"));
        }
        if reason.is_some_and(|r| r.len() > 1024 || r.chars().any(char::is_control)) {
            return Err(invalid("reason", "must be at most 1024 printable characters"));
        }
        let role = vote_role(
            &record.policy,
            &record.requester,
            &record.votes,
            &caller.principal,
            &caller.roles,
            approve,
        )?;
        let vote = Vote {
            principal: caller.principal.clone(),
            role,
            approve,
            reason: reason.map(str::to_owned),
            at: self.now(),
        };
        event.details.insert("role".into(), role.to_string());
        if let Some(reason) = reason {
            event.details.insert("vote_reason".into(), reason.to_owned());
        }
        let mut after = record.clone();
        after.votes.push(vote.clone());
        let decides = if !approve {
            Some(ApprovalStatus::Rejected)
        } else if still_needed(&after.policy, &after.votes).is_empty() {
            Some(ApprovalStatus::Approved)
        } else {
            None
        };
        if let Some(status) = decides {
            after.status = status;
            after.decided_at = Some(vote.at);
            event.details.insert("decision".into(), status.to_string());
        }
        let mut changes = vec![Change::Vote {
            approval_id: record.id.clone(),
            expected_votes: record.votes.len(),
            vote,
            decides,
        }];
        match decides {
            Some(ApprovalStatus::Approved) => {
                changes.extend(self.run_approved(&after, event).await?);
                changes.push(Change::Notify(self.notification("approval.approved", event)?));
            }
            Some(_) => changes.push(Change::Notify(self.notification("approval.rejected", event)?)),
            None => {}
        }
        self.store.commit(Change::Batch(changes), event.clone()).await?;
        if let Some(key_id) = record.key_id {
            self.cache.invalidate(key_id);
        }
        Ok(after.into())
    }

    /// The changes an approved request makes, committed with the deciding vote.
    async fn run_approved(
        &self,
        record: &ApprovalRecord,
        event: &mut AuditEvent,
    ) -> Result<Vec<Change>, Error> {
        match record.operation {
            ApprovalOperation::DestroyKey => self.schedule_destruction(record, event).await,
            ApprovalOperation::CompromisedKeyException => {
                if let Some(closes) = exception_window_end(record) {
                    event.details.insert("window_closes_at".into(), crate::views::rfc3339(closes));
                }
                Ok(vec![Change::Notify(self.notification("exception.opened", event)?)])
            }
            // The restore itself runs later, by whoever holds the bundle and the shares; the
            // approval only authorizes it (once, for this bundle).
            ApprovalOperation::RestoreBackup => Ok(Vec::new()),
            ApprovalOperation::BreakGlassReview => {
                Ok(vec![Change::Notify(self.notification("recovery.break-glass-signed-off", event)?)])
            }
        }
    }

    /// Records a pending request past its expiry as expired (final), with its event.
    pub(crate) async fn expire(&self, record: &ApprovalRecord) -> Result<(), Error> {
        self.move_status(
            record,
            AuditAction::ApprovalExpire,
            ApprovalStatus::Pending,
            ApprovalStatus::Expired,
            "approval.expired",
        )
        .await
    }

    /// Moves a request's status on the scheduler's behalf, with its event and notification.
    /// If another node (or a racing vote) moved it first, there is nothing to do.
    pub(crate) async fn move_status(
        &self,
        record: &ApprovalRecord,
        action: AuditAction,
        from: ApprovalStatus,
        to: ApprovalStatus,
        event_type: &str,
    ) -> Result<(), Error> {
        let caller = Caller::system("scheduler");
        let mut event = self.attempt(&caller, action, &Tenant::new(record.tenant.as_str())?);
        event.key_id = record.key_id;
        event.key_name = Some(record.key_name.clone());
        event.version = record.version;
        event.details.insert("approval_id".into(), record.id.clone());
        event.details.insert("operation".into(), record.operation.to_string());
        event.details.insert("requester".into(), record.requester.clone());
        let notification = self.notification(event_type, &event)?;
        let change = Change::Batch(vec![
            Change::SetApprovalStatus { id: record.id.clone(), from, to, at: self.now() },
            Change::Notify(notification),
        ]);
        match self.store.commit(change, event).await {
            Ok(_) | Err(keystead_store::Error::Conflict { .. }) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }
}
