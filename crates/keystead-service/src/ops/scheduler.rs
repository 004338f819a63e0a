//! The scheduler's work: what falls due with time. Every node runs it (the server calls
//! [`Service::run_due_work`] on a timer); each step is a compare-and-set change, so when two
//! nodes race one does the step and the other's attempt is a conflict, ignored.

use keystead_core::approval::ApprovalStatus;
use keystead_core::{AuditAction, KeyState};
use keystead_store::{ApprovalFilter, StoredKey, VersionUpdate};

use super::lifecycle::moved;
use crate::audit::describe_key;
use crate::{Caller, Error, Service};

/// What one run of the scheduler did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DueWork {
    /// Keys looked at.
    pub keys: usize,
    /// Failures (logged; retried next run).
    pub failures: usize,
}

fn ignore_conflict(result: Result<(), Error>) -> Result<(), Error> {
    match result {
        Err(Error::Store(keystead_store::Error::Conflict { .. })) => Ok(()),
        other => other,
    }
}

impl Service {
    /// Signs an audit checkpoint when one is due, scans new audit events for anomalies, expires undecided approval requests, closes ended exception windows, runs due
    /// destructions, rotates keys whose rotation period has passed, and deactivates versions
    /// past their originator-usage period. Does nothing while sealed.
    pub async fn run_due_work(&self) -> Result<DueWork, Error> {
        if self.root().is_err() {
            return Ok(DueWork::default());
        }
        let mut work = DueWork::default();
        let now = self.now();
        // Each step is logged and retried on the next run if it fails; the others still run.
        let due = ApprovalFilter {
            status: Some(ApprovalStatus::Pending),
            expires_before: Some(now),
            ..ApprovalFilter::default()
        };
        for record in self.store.approvals(&due).await? {
            if let Err(err) = self.expire(&record).await {
                work.failures += 1;
                tracing::warn!(approval = %record.id, error = %err, "cannot record an expiry; retrying on the next run");
            }
        }
        if let Err(err) = self.checkpoint_if_due().await {
            work.failures += 1;
            tracing::warn!(error = %err, "cannot sign an audit checkpoint; retrying on the next run");
        }
        // Batch after batch until caught up (or 2 s spent): under a sustained load of key uses
        // one batch per run would fall further behind every run.
        let scanning = std::time::Instant::now();
        loop {
            match self.detect_anomalies().await {
                Ok(scan)
                    if scan.events == crate::ops::anomaly::SCAN_BATCH as usize
                        && scanning.elapsed() < std::time::Duration::from_secs(2) => {}
                Ok(_) => break,
                Err(err) => {
                    work.failures += 1;
                    tracing::warn!(error = %err, "anomaly detection failed; retrying on the next run");
                    break;
                }
            }
        }
        if let Err(err) = self.close_ended_exceptions().await {
            work.failures += 1;
            tracing::warn!(error = %err, "cannot close ended exceptions; retrying on the next run");
        }
        for key_id in self.store.keys_due(now).await? {
            work.keys += 1;
            for step in [Step::Destroy, Step::Rotate, Step::Deactivate] {
                // Each step reads the key afresh: the previous one may have changed it.
                let Some(stored) = self.store.key_by_id(key_id).await? else { break };
                if stored.attributes.environment != self.config.environment {
                    break;
                }
                let result = match step {
                    Step::Destroy => self.destroy_due(&stored).await,
                    Step::Rotate => self.rotate_due(&stored).await,
                    Step::Deactivate => self.deactivate_past_period(&stored).await,
                };
                if let Err(err) = ignore_conflict(result) {
                    work.failures += 1;
                    tracing::warn!(key = %key_id, error = %err, "scheduled key work failed; retrying on the next run");
                }
            }
        }
        Ok(work)
    }

    async fn rotate_due(&self, stored: &StoredKey) -> Result<(), Error> {
        let Some(period) = stored.attributes.rotation_period_seconds else { return Ok(()) };
        let Some(primary) = stored.primary() else { return Ok(()) };
        if primary.info.created_at + time::Duration::seconds(period) > self.now() {
            return Ok(());
        }
        let caller = Caller::system("scheduler");
        let mut event = self.attempt(&caller, AuditAction::KeyRotate, &stored.attributes.tenant);
        describe_key(&mut event, &stored.attributes);
        event.details.insert("trigger".into(), "rotation period".into());
        let result = self.rotate_checked(stored.clone(), &mut event).await;
        self.cache.invalidate(stored.attributes.id);
        result.map(|_| ())
    }

    async fn deactivate_past_period(&self, stored: &StoredKey) -> Result<(), Error> {
        let Some(period) = stored.attributes.protect_period_seconds else { return Ok(()) };
        let now = self.now();
        let due: Vec<VersionUpdate> = stored
            .versions
            .iter()
            .filter(|v| v.info.state == KeyState::Active)
            .filter(|v| v.info.activated_at.is_some_and(|at| at + time::Duration::seconds(period) <= now))
            .map(|v| VersionUpdate::of(&v.info, moved(&v.info, KeyState::Deactivated, now)))
            .collect();
        if due.is_empty() {
            return Ok(());
        }
        let caller = Caller::system("scheduler");
        let mut event = self.attempt(&caller, AuditAction::KeyDeactivate, &stored.attributes.tenant);
        describe_key(&mut event, &stored.attributes);
        event.details.insert("trigger".into(), "originator-usage period ended".into());
        let result = self.commit_versions(stored.clone(), due, &mut event, "key.state_changed").await;
        self.cache.invalidate(stored.attributes.id);
        result.map(|_| ())
    }
}

#[derive(Clone, Copy)]
enum Step {
    Destroy,
    Rotate,
    Deactivate,
}
