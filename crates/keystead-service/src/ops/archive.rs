//! `audit archive`: old audit events move into a signed archive file the operator holds and
//! out of the hot store (CEK-21 guideline 6). In three steps, so nothing is deleted before
//! the file exists and verifies: the plan (per node, up to the newest signed checkpoint before
//! the date), the rows (the client writes and verifies the file), the commit (the server
//! rebuilds the same file's digest and checks the chain and signatures, then records the
//! archive, keeps key status changes and deletes the events, with its `audit.archive` event,
//! in one transaction).

use keystead_core::{Action, AuditAction, Tenant};
use keystead_store::archive::{ArchiveChecker, ArchiveHeader, ArchiveRange, ARCHIVE_FORMAT};
use keystead_store::export::ExportLine;
use keystead_store::{Change, StoredAuditRow};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::invalid;
use crate::{Caller, Error, Service};

/// Rows read per query while checking an archive.
const PAGE: u32 = 5_000;

/// What an archive before a date would hold.
#[derive(Clone, Debug)]
pub struct ArchivePlan {
    /// The archive file's header (its first line).
    pub header: ArchiveHeader,
    /// Events in all ranges.
    pub events: i64,
}

/// An archive made.
#[derive(Clone, Debug)]
pub struct ArchiveDone {
    /// Its id.
    pub archive_id: String,
    /// What it holds.
    pub header: ArchiveHeader,
    /// Events moved out of the store.
    pub events: i64,
    /// SHA-256 (hex) of the archive file.
    pub file_sha256: String,
}

impl Service {
    fn archive_before(&self, before: Option<&str>) -> Result<OffsetDateTime, Error> {
        match before {
            Some(text) => OffsetDateTime::parse(text, &Rfc3339)
                .map_err(|_| invalid("before", "must be an RFC 3339 time such as 2026-01-01T00:00:00Z")),
            None => match self.config.audit_retain_days {
                Some(days) => Ok(self.now() - time::Duration::days(days)),
                None => Err(invalid("before", "give a date, or set [audit] retain_days")),
            },
        }
    }

    async fn plan_for(&self, before: OffsetDateTime) -> Result<ArchivePlan, Error> {
        if before > self.now() {
            return Err(invalid("before", "is in the future"));
        }
        let nodes = self.store.archive_plan(before).await?;
        if nodes.is_empty() {
            return Err(invalid(
                "before",
                "nothing to archive: no node has a signed checkpoint before that time after its last archive",
            ));
        }
        let events = nodes.iter().map(ArchiveRange::events).sum();
        let before = before.format(&Rfc3339).map_err(|_| invalid("before", "cannot be formatted"))?;
        Ok(ArchivePlan {
            header: ArchiveHeader { keystead_audit_archive: ARCHIVE_FORMAT, before, nodes },
            events,
        })
    }

    /// What `audit archive --before` would move: per node, from its last archive (or its first
    /// event) to its newest signed checkpoint before `before` (default: `retain_days` ago).
    pub async fn plan_audit_archive(
        &self,
        caller: &Caller,
        before: Option<&str>,
    ) -> Result<ArchivePlan, Error> {
        self.guard(caller, AuditAction::AuditArchive, Action::ArchiveAudit).await?;
        let event = self.attempt(caller, AuditAction::AuditArchive, &Tenant::default_tenant());
        let plan = async { self.plan_for(self.archive_before(before)?).await }.await;
        self.finish(event, plan).await
    }

    /// Rows of one range of a plan, in chain order (the client writes them to the file).
    pub async fn audit_archive_rows(
        &self,
        caller: &Caller,
        node: &str,
        after_seq: i64,
        through_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredAuditRow>, Error> {
        self.guard(caller, AuditAction::AuditArchive, Action::ArchiveAudit).await?;
        Ok(self.store.archive_rows(node, after_seq, through_seq, limit.clamp(1, 10_000)).await?)
    }

    /// Moves the planned events out of the store, once the caller shows it holds the archive
    /// file: `nodes` must be the plan for `before` now, and `file_sha256` the digest of the
    /// file the server would write for it. The events must verify (links, checkpoints and
    /// their signatures, ending at a signed checkpoint) or nothing is deleted.
    pub async fn commit_audit_archive(
        &self,
        caller: &Caller,
        before: &str,
        nodes: Vec<ArchiveRange>,
        file_sha256: &str,
    ) -> Result<ArchiveDone, Error> {
        self.guard(caller, AuditAction::AuditArchive, Action::ArchiveAudit).await?;
        let mut event = self.attempt(caller, AuditAction::AuditArchive, &Tenant::default_tenant());
        let result = self.move_to_archive(caller, before, nodes, file_sha256, &mut event).await;
        match result {
            Ok((done, record)) => {
                match self.store.commit(Change::ArchiveAudit(record), event.clone()).await {
                    Ok(_) => Ok(done),
                    // A concurrent archive won, or the store failed: nothing moved, and the attempt is audited.
                    Err(err) => Err(self.refuse(event, err.into()).await),
                }
            }
            Err(err) => Err(self.refuse(event, err).await),
        }
    }

    async fn move_to_archive(
        &self,
        caller: &Caller,
        before: &str,
        nodes: Vec<ArchiveRange>,
        file_sha256: &str,
        event: &mut keystead_core::AuditEvent,
    ) -> Result<(ArchiveDone, keystead_store::archive::ArchiveRecord), Error> {
        let before_at = self.archive_before(Some(before))?;
        let plan = self.plan_for(before_at).await?;
        if plan.header.nodes != nodes {
            return Err(keystead_store::Error::Conflict {
                what: "the archive plan (the log or its archives changed; plan again)",
            }
            .into());
        }
        let signatures = self.signing_keys().await?;
        let mut checker = ArchiveChecker::new(plan.header.clone(), &signatures);
        let mut line = 2u64;
        for range in &plan.header.nodes {
            let mut after = range.first_seq - 1;
            while after < range.through_seq {
                let rows = self.store.archive_rows(&range.node, after, range.through_seq, PAGE).await?;
                let Some(last) = rows.last() else { break };
                after = last.node_seq;
                for row in rows {
                    let text = serde_json::to_string(&ExportLine::from_row(row)).map_err(|_| {
                        Error::AuditTampered { reason: "a stored event does not export".into() }
                    })?;
                    checker.push_line(&text, line).map_err(|err| Error::AuditTampered {
                        reason: format!("archive line {line}: {err}"),
                    })?;
                    line += 1;
                }
            }
        }
        let (header, report, digest) = checker.finish();
        if let Some((node, seq, why)) = report.breaks.first() {
            return Err(Error::AuditTampered {
                reason: format!("the events to archive do not verify (node {node}, event {seq}: {why}); nothing was archived"),
            });
        }
        if !keystead_crypto::ct_eq_str(&digest, &file_sha256.trim().to_ascii_lowercase()) {
            return Err(invalid(
                "file_sha256",
                "is not the digest of the archive for this plan: the file is incomplete or altered; nothing was archived",
            ));
        }
        let archive_id = format!("arc_{}", hex::encode(keystead_crypto::random_array::<8>()?));
        event.details.insert("archive_id".into(), archive_id.clone());
        event.details.insert("before".into(), header.before.clone());
        event.details.insert("file_sha256".into(), digest.clone());
        event.details.insert("events".into(), plan.events.to_string());
        for range in &header.nodes {
            event.details.insert(
                format!("range {}", range.node),
                format!("{}-{} {}", range.first_seq, range.through_seq, range.through_hash),
            );
        }
        let record = keystead_store::archive::ArchiveRecord {
            id: archive_id.clone(),
            ranges: header.nodes.clone(),
            file_sha256: digest.clone(),
            before: before_at,
            archived_at: event.occurred_at,
            archived_by: caller.principal.clone(),
        };
        Ok((ArchiveDone { archive_id, header, events: plan.events, file_sha256: digest }, record))
    }
}
