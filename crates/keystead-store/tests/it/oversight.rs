//! Conformance of the lifecycle and oversight tables on every backend: version updates
//! (compromise, destruction schedule, material deletion), what the scheduler finds due,
//! approvals with their votes, and the webhook outbox with its leases.

use std::collections::BTreeMap;

use keystead_core::approval::{ApprovalOperation, ApprovalPolicy, ApprovalStatus, Vote};
use keystead_core::key::CompromiseRecord;
use keystead_core::{AuditAction, KeyState, Role};
use keystead_store::{
    ApprovalFilter, ApprovalRecord, AuditFilter, Change, DeliveryResult, Error, Notification, Store,
    VersionUpdate, WebhookRecord,
};
use time::Duration;

use crate::conformance::{attributes, event, now, version};
use crate::db::TestDb;

async fn store_with_key(db: &TestDb, name: &str) -> (keystead_store::SqlStore, keystead_core::KeyAttributes) {
    let store = db.open().await;
    let key = attributes(name);
    store
        .commit(
            Change::CreateKey { key: key.clone(), version: version(1) },
            event(AuditAction::KeyCreate, "n1"),
        )
        .await
        .unwrap();
    (store, key)
}

async fn versions_carry_compromise_and_destruction(db: TestDb) {
    let (store, mut key) = store_with_key(&db, "k").await;
    let mut info = version(1).info;
    info.state = KeyState::Compromised;
    info.compromise = Some(CompromiseRecord {
        incident: "INC-1".into(),
        occurred_at: now() - Duration::hours(1),
        reported_at: now(),
        reported_by: "ir".into(),
        reason: "leaked".into(),
    });
    info.destroy_at = Some(now() + Duration::days(7));
    let update = |from, info| Change::UpdateVersions {
        key_id: key.id,
        updates: vec![VersionUpdate { from, from_destroy_at: None, info, destroy_material: false }],
        at: now(),
    };
    store
        .commit(update(KeyState::Active, info.clone()), event(AuditAction::KeyCompromise, "n1"))
        .await
        .unwrap();
    // Compare-and-set: the same update expects an active version and finds it compromised.
    let err = store
        .commit(update(KeyState::Active, info.clone()), event(AuditAction::KeyCompromise, "n1"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    assert_eq!(
        store.audit_events(&AuditFilter::default()).await.unwrap().len(),
        2,
        "the refused change left no event"
    );
    let stored = store.key_by_id(key.id).await.unwrap().unwrap();
    assert_eq!(stored.versions[0].info, info, "every new attribute round-trips");

    assert!(store.keys_due(now()).await.unwrap().is_empty());
    assert_eq!(store.keys_due(now() + Duration::days(7)).await.unwrap(), [key.id]);

    let mut destroyed = info.clone();
    destroyed.state = KeyState::DestroyedCompromised;
    destroyed.destroy_at = None;
    destroyed.destroyed_at = Some(now() + Duration::days(7));
    let destroy = Change::UpdateVersions {
        key_id: key.id,
        updates: vec![VersionUpdate {
            from: KeyState::Compromised,
            from_destroy_at: info.destroy_at,
            info: destroyed.clone(),
            destroy_material: true,
        }],
        at: now(),
    };
    // A destruction read before a cancel does not run after it: the schedule is compared too.
    let mut cancelled = info.clone();
    cancelled.destroy_at = None;
    let cancel = Change::UpdateVersions {
        key_id: key.id,
        updates: vec![VersionUpdate {
            from: KeyState::Compromised,
            from_destroy_at: info.destroy_at,
            info: cancelled.clone(),
            destroy_material: false,
        }],
        at: now(),
    };
    store.commit(cancel, event(AuditAction::KeyDestroyCancel, "n1")).await.unwrap();
    let err = store.commit(destroy.clone(), event(AuditAction::KeyDestroy, "n1")).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    assert!(store.key_by_id(key.id).await.unwrap().unwrap().versions[0].sealed_material.is_some());
    let reschedule = Change::UpdateVersions {
        key_id: key.id,
        updates: vec![VersionUpdate {
            from: KeyState::Compromised,
            from_destroy_at: None,
            info: info.clone(),
            destroy_material: false,
        }],
        at: now(),
    };
    store.commit(reschedule, event(AuditAction::ApprovalApprove, "n1")).await.unwrap();
    store.commit(destroy, event(AuditAction::KeyDestroy, "n1")).await.unwrap();
    let tombstone = store.key_by_id(key.id).await.unwrap().unwrap();
    assert_eq!(tombstone.versions[0].sealed_material, None);
    assert_eq!(tombstone.versions[0].info, destroyed);
    assert!(store.keys_due(now() + Duration::days(30)).await.unwrap().is_empty(), "nothing left to do");

    // Originator-usage and rotation periods make keys due.
    key = attributes("periodic");
    key.id = keystead_core::KeyId::from_random_bytes([7; 16]);
    key.protect_period_seconds = Some(3600);
    store
        .commit(
            Change::CreateKey { key: key.clone(), version: version(1) },
            event(AuditAction::KeyCreate, "n1"),
        )
        .await
        .unwrap();
    let mut rotating = attributes("rotating");
    rotating.id = keystead_core::KeyId::from_random_bytes([8; 16]);
    rotating.rotation_period_seconds = Some(7200);
    store
        .commit(
            Change::CreateKey { key: rotating.clone(), version: version(1) },
            event(AuditAction::KeyCreate, "n1"),
        )
        .await
        .unwrap();
    assert!(store.keys_due(now() + Duration::minutes(59)).await.unwrap().is_empty());
    assert_eq!(store.keys_due(now() + Duration::hours(1)).await.unwrap(), [key.id]);
    let mut both = store.keys_due(now() + Duration::hours(2)).await.unwrap();
    both.sort_by_key(|id| id.to_string());
    let mut expected = vec![key.id, rotating.id];
    expected.sort_by_key(|id| id.to_string());
    assert_eq!(both, expected);
}

fn request(key: &keystead_core::KeyAttributes, id: &str) -> ApprovalRecord {
    ApprovalRecord {
        id: id.into(),
        operation: ApprovalOperation::DestroyKey,
        tenant: "default".into(),
        key_id: Some(key.id),
        key_name: key.name.to_string(),
        version: Some(1),
        requester: "alice".into(),
        status: ApprovalStatus::Pending,
        created_at: now(),
        expires_at: now() + Duration::days(1),
        decided_at: None,
        justification: "retired".into(),
        policy: ApprovalPolicy::default_for(ApprovalOperation::DestroyKey),
        parameters: BTreeMap::from([("after_seconds".into(), "60".into())]),
        votes: Vec::new(),
    }
}

fn vote(principal: &str, minutes: i64) -> Vote {
    Vote {
        principal: principal.into(),
        role: Role::KeyCustodian,
        approve: true,
        reason: None,
        at: now() + Duration::minutes(minutes),
    }
}

async fn approvals_and_votes_are_compare_and_set(db: TestDb) {
    let (store, key) = store_with_key(&db, "k").await;
    store
        .commit(Change::CreateApproval(request(&key, "apr_1")), event(AuditAction::KeyDestroyRequest, "n1"))
        .await
        .unwrap();
    let cast = |principal, minutes, expected_votes, decides| Change::Vote {
        approval_id: "apr_1".into(),
        expected_votes,
        vote: vote(principal, minutes),
        decides,
    };
    store.commit(cast("bob", 1, 0, None), event(AuditAction::ApprovalApprove, "n1")).await.unwrap();
    let err =
        store.commit(cast("bob", 2, 1, None), event(AuditAction::ApprovalApprove, "n1")).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "one vote per principal: {err}");
    // A vote decided on a stale count (no votes seen, one there) is refused: nothing stored.
    let err =
        store.commit(cast("carol", 3, 0, None), event(AuditAction::ApprovalApprove, "n1")).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    assert_eq!(store.approval("apr_1").await.unwrap().unwrap().votes.len(), 1);
    store
        .commit(
            cast("carol", 3, 1, Some(ApprovalStatus::Approved)),
            event(AuditAction::ApprovalApprove, "n1"),
        )
        .await
        .unwrap();
    let err =
        store.commit(cast("dave", 4, 2, None), event(AuditAction::ApprovalApprove, "n1")).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "decided requests take no votes: {err}");

    let record = store.approval("apr_1").await.unwrap().unwrap();
    assert_eq!(record.status, ApprovalStatus::Approved);
    assert_eq!(record.decided_at, Some(now() + Duration::minutes(3)));
    assert_eq!(record.votes, [vote("bob", 1), vote("carol", 3)]);
    let expected = ApprovalRecord {
        status: ApprovalStatus::Approved,
        decided_at: record.decided_at,
        votes: record.votes.clone(),
        ..request(&key, "apr_1")
    };
    assert_eq!(record, expected, "every field round-trips");

    // Status moves are compare-and-set, and keep the decision time.
    let close = Change::SetApprovalStatus {
        id: "apr_1".into(),
        from: ApprovalStatus::Approved,
        to: ApprovalStatus::Closed,
        at: now() + Duration::hours(1),
    };
    store.commit(close.clone(), event(AuditAction::ExceptionClose, "n1")).await.unwrap();
    assert!(matches!(
        store.commit(close, event(AuditAction::ExceptionClose, "n1")).await.unwrap_err(),
        Error::Conflict { .. }
    ));
    assert_eq!(
        store.approval("apr_1").await.unwrap().unwrap().decided_at,
        Some(now() + Duration::minutes(3))
    );

    // A batch fails as a whole: a new request with a vote on a closed one leaves nothing.
    let events_before = store.audit_events(&AuditFilter::default()).await.unwrap().len();
    let batch = Change::Batch(vec![Change::CreateApproval(request(&key, "apr_2")), cast("erin", 5, 2, None)]);
    assert!(store.commit(batch, event(AuditAction::KeyDestroyRequest, "n1")).await.is_err());
    assert!(store.approval("apr_2").await.unwrap().is_none());
    assert_eq!(store.audit_events(&AuditFilter::default()).await.unwrap().len(), events_before);

    store
        .commit(Change::CreateApproval(request(&key, "apr_3")), event(AuditAction::KeyDestroyRequest, "n1"))
        .await
        .unwrap();
    let pending = ApprovalFilter { status: Some(ApprovalStatus::Pending), ..ApprovalFilter::default() };
    assert_eq!(
        store.approvals(&pending).await.unwrap().iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["apr_3"]
    );
    let by_key = ApprovalFilter {
        key_id: Some(key.id),
        operation: Some(ApprovalOperation::DestroyKey),
        requester: Some("alice".into()),
        ..ApprovalFilter::default()
    };
    assert_eq!(store.approvals(&by_key).await.unwrap().len(), 2);
    let nobody = ApprovalFilter { requester: Some("mallory".into()), ..ApprovalFilter::default() };
    assert!(store.approvals(&nobody).await.unwrap().is_empty());
}

fn webhook(id: &str, events: &[&str]) -> WebhookRecord {
    WebhookRecord {
        id: id.into(),
        url: format!("http://127.0.0.1:9/{id}"),
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        sealed_secret: vec![1, 2, 3],
        created_at: now(),
        created_by: "admin".into(),
        enabled: true,
        secret_rotated_at: None,
    }
}

fn notification(id: &str, event_type: &str, expires_in: Duration) -> Notification {
    Notification {
        id: id.into(),
        event_type: event_type.into(),
        body: format!("{{\"id\":\"{id}\"}}"),
        created_at: now(),
        expires_at: now() + expires_in,
    }
}

async fn the_outbox_is_written_with_its_change_and_leased(db: TestDb) {
    let (store, key) = store_with_key(&db, "k").await;
    store
        .commit(Change::AddWebhook(webhook("whk_keys", &["key.*"])), event(AuditAction::WebhookAdd, "n1"))
        .await
        .unwrap();
    store
        .commit(
            Change::AddWebhook(webhook("whk_approvals", &["approval.approved"])),
            event(AuditAction::WebhookAdd, "n1"),
        )
        .await
        .unwrap();
    assert_eq!(store.webhooks().await.unwrap().len(), 2);
    let hooks = store.webhooks().await.unwrap();
    assert_eq!(hooks.iter().find(|w| w.id == "whk_keys").unwrap().events, ["key.*"]);

    store
        .commit(
            Change::Notify(notification("evt_1", "key.compromised", Duration::hours(1))),
            event(AuditAction::KeyCompromise, "n1"),
        )
        .await
        .unwrap();
    // A notification whose change fails is not queued.
    let failing = Change::Batch(vec![
        Change::Notify(notification("evt_2", "key.compromised", Duration::hours(1))),
        Change::AddVersion { key_id: key.id, version: version(5) },
    ]);
    assert!(store.commit(failing, event(AuditAction::KeyRotate, "n1")).await.is_err());
    let queued = store.deliveries(None, 10).await.unwrap();
    assert_eq!(
        queued.iter().map(|d| (d.id.as_str(), d.webhook_id.as_str())).collect::<Vec<_>>(),
        [("evt_1.whk_keys", "whk_keys")]
    );

    let lease = now() + Duration::seconds(60);
    let claimed = store.claim_deliveries(now(), lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].body, "{\"id\":\"evt_1\"}");
    assert!(
        store.claim_deliveries(now(), lease, 10).await.unwrap().is_empty(),
        "leased to the first claimer"
    );

    let retry_at = now() + Duration::seconds(2);
    store
        .record_delivery(
            "evt_1.whk_keys",
            DeliveryResult::Failed { error: "cannot connect".into(), retry_at },
            now(),
        )
        .await
        .unwrap();
    let failed = &store.deliveries(Some("whk_keys"), 10).await.unwrap()[0];
    assert_eq!(
        (failed.status.as_str(), failed.attempts, failed.last_error.as_deref()),
        ("pending", 1, Some("cannot connect"))
    );
    assert!(
        store.claim_deliveries(now() + Duration::seconds(1), lease, 10).await.unwrap().is_empty(),
        "not before its retry time"
    );
    assert_eq!(
        store.claim_deliveries(retry_at, retry_at + Duration::seconds(60), 10).await.unwrap().len(),
        1
    );
    store.record_delivery("evt_1.whk_keys", DeliveryResult::Delivered, retry_at).await.unwrap();
    let done = &store.deliveries(None, 10).await.unwrap()[0];
    assert_eq!((done.status.as_str(), done.attempts, done.delivered_at), ("delivered", 2, Some(retry_at)));

    // Undelivered past its expiry, a notification is given up; a retry past it expires too.
    store
        .commit(
            Change::Notify(notification("evt_3", "approval.approved", Duration::seconds(10))),
            event(AuditAction::ApprovalApprove, "n1"),
        )
        .await
        .unwrap();
    store
        .commit(
            Change::Notify(notification("evt_4", "key.rotated", Duration::seconds(5))),
            event(AuditAction::KeyRotate, "n1"),
        )
        .await
        .unwrap();
    let claimed = store.claim_deliveries(now(), lease, 10).await.unwrap();
    assert_eq!(claimed.len(), 2);
    store
        .record_delivery(
            "evt_4.whk_keys",
            DeliveryResult::Failed { error: "500".into(), retry_at: now() + Duration::seconds(6) },
            now(),
        )
        .await
        .unwrap();
    assert!(store
        .claim_deliveries(now() + Duration::seconds(120), lease + Duration::seconds(120), 10)
        .await
        .unwrap()
        .is_empty());
    let statuses: BTreeMap<String, String> =
        store.deliveries(None, 10).await.unwrap().into_iter().map(|d| (d.id, d.status)).collect();
    assert_eq!(statuses["evt_3.whk_approvals"], "expired");
    assert_eq!(statuses["evt_4.whk_keys"], "expired");
}

/// A key restored from a backup keeps every version's state; a second restore of the same
/// key, or of another key with its name, is refused; versions not numbered 1..n are refused
/// and nothing is stored. A restore request (about a backup, not a key) round-trips.
async fn restores_and_keyless_approvals(db: TestDb) {
    let store = db.open().await;
    let key = attributes("restored");
    let mut second = version(2);
    second.info.state = KeyState::Compromised;
    let mut first = version(1);
    first.info.state = KeyState::Deactivated;
    let restore = |key: keystead_core::KeyAttributes, versions| Change::RestoreKey { key, versions };
    store
        .commit(
            restore(key.clone(), vec![first.clone(), second.clone()]),
            event(AuditAction::KeyRecover, "n1"),
        )
        .await
        .unwrap();
    let stored = store.key_by_id(key.id).await.unwrap().unwrap();
    let states: Vec<KeyState> = stored.versions.iter().map(|v| v.info.state).collect();
    assert_eq!(states, [KeyState::Deactivated, KeyState::Compromised]);
    assert!(stored.versions.iter().all(|v| v.sealed_material.is_some()));

    let again =
        store.commit(restore(key.clone(), vec![first.clone()]), event(AuditAction::KeyRecover, "n1")).await;
    assert!(matches!(again, Err(Error::Conflict { .. })), "{again:?}");
    let mut namesake = attributes("restored");
    namesake.id = keystead_core::KeyId::from_random_bytes([9; 16]);
    let taken =
        store.commit(restore(namesake, vec![first.clone()]), event(AuditAction::KeyRecover, "n1")).await;
    assert!(matches!(taken, Err(Error::NameTaken { .. })), "{taken:?}");
    let gap = attributes("gap");
    let refused =
        store.commit(restore(gap.clone(), vec![second]), event(AuditAction::KeyRecover, "n1")).await;
    assert!(matches!(refused, Err(Error::Corrupt { .. })), "{refused:?}");
    assert!(store.key_by_id(gap.id).await.unwrap().is_none());
    assert_eq!(
        store.audit_events(&AuditFilter::default()).await.unwrap().len(),
        1,
        "refused restores leave no event"
    );

    let mut request = request(&key, "apr_restore");
    request.operation = ApprovalOperation::RestoreBackup;
    request.key_id = None;
    request.version = None;
    request.key_name = "backup bkp_1".into();
    store
        .commit(Change::CreateApproval(request.clone()), event(AuditAction::RecoveryRequest, "n1"))
        .await
        .unwrap();
    let read = store.approval("apr_restore").await.unwrap().unwrap();
    assert_eq!(read, request);
    let filtered = store
        .approvals(&ApprovalFilter {
            operation: Some(ApprovalOperation::RestoreBackup),
            ..ApprovalFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);
    store
        .commit(
            Change::Vote {
                approval_id: "apr_restore".into(),
                expected_votes: 0,
                vote: vote("bob", 1),
                decides: None,
            },
            event(AuditAction::ApprovalApprove, "n1"),
        )
        .await
        .unwrap();
    assert_eq!(store.approval("apr_restore").await.unwrap().unwrap().votes.len(), 1);

    // Held backup shares: stored with their backup, collected once, the sealed share deleted.
    let held = |index: u8, holder: &str| keystead_store::HeldShare {
        backup_id: "bkp_1".into(),
        index,
        holder: holder.into(),
        sealed_share: Some(vec![index; 60]),
        created_at: now(),
        collected_at: None,
    };
    store
        .commit(
            Change::HoldShares(vec![held(1, "ro-1"), held(2, "ro-2")]),
            event(AuditAction::BackupCreate, "n1"),
        )
        .await
        .unwrap();
    let twice =
        store.commit(Change::HoldShares(vec![held(3, "ro-1")]), event(AuditAction::BackupCreate, "n1")).await;
    assert!(twice.is_err(), "one share per holder and backup");
    assert_eq!(store.held_share("bkp_1", "ro-2").await.unwrap().unwrap().sealed_share, Some(vec![2; 60]));
    let collect = || Change::CollectShare { backup_id: "bkp_1".into(), holder: "ro-2".into(), at: now() };
    store.commit(collect(), event(AuditAction::BackupShareCollect, "n1")).await.unwrap();
    let after = store.held_share("bkp_1", "ro-2").await.unwrap().unwrap();
    assert_eq!((after.sealed_share, after.collected_at), (None, Some(now())));
    let again = store.commit(collect(), event(AuditAction::BackupShareCollect, "n1")).await;
    assert!(matches!(again, Err(Error::Conflict { .. })), "{again:?}");
    assert!(store.held_share("bkp_1", "ro-3").await.unwrap().is_none());
}

on_every_backend!(
    restores_and_keyless_approvals,
    versions_carry_compromise_and_destruction,
    approvals_and_votes_are_compare_and_set,
    the_outbox_is_written_with_its_change_and_leased,
);
