use std::collections::BTreeMap;

use keystead_core::key::{
    Classification, Criticality, KeyAttributes, Labels, Origin, Provenance, VersionInfo,
};
use keystead_core::{
    Algorithm, AuditAction, AuditEvent, Environment, KeyId, KeyName, KeyRef, KeyState, Outcome, Purpose,
    Tenant, UsageContext, VersionNumber,
};
use keystead_store::{AuditFilter, Change, Error, SqlStore, Store, StoredVersion};

use crate::db::TestDb;
use time::OffsetDateTime;

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

pub(crate) fn attributes(name: &str) -> KeyAttributes {
    KeyAttributes {
        id: KeyId::from_random_bytes(keystead_crypto::random_array().unwrap()),
        tenant: Tenant::default_tenant(),
        name: KeyName::new(name).unwrap(),
        purpose: Purpose::Encrypt,
        algorithm: Algorithm::Aes256Gcm,
        usage_context: UsageContext::new("prompt-encryption").unwrap(),
        owner: "ml".into(),
        description: String::new(),
        environment: Environment::Test,
        classification: Classification::Confidential,
        labels: Labels::default(),
        origin: Origin::Generated,
        rotation_period_seconds: None,
        protect_period_seconds: None,
        recoverable: true,
        criticality: Criticality::Medium,
        created_at: now(),
        updated_at: now(),
    }
}

pub(crate) fn version(number: u32) -> StoredVersion {
    let provenance = Provenance {
        library: "aws-lc-rs".into(),
        library_version: "1".into(),
        backend: "AWS-LC".into(),
        fips: false,
        rng: "CTR_DRBG".into(),
        entropy_source: "os".into(),
        algorithm: Algorithm::Aes256Gcm,
        security_strength_bits: 256,
        generated_at: now(),
        environment: Environment::Test,
        node: "n1".into(),
        origin: Origin::Generated,
        recovered: None,
        imported: None,
    };
    let provenance_json = serde_json::to_string(&provenance).unwrap();
    StoredVersion {
        info: VersionInfo {
            number: VersionNumber::new(number).unwrap(),
            state: KeyState::Active,
            kcv: format!("kcv{number}"),
            public_key_der: None,
            provenance,
            created_at: now(),
            activated_at: Some(now()),
            suspended_at: None,
            deactivated_at: None,
            compromise: None,
            destroy_at: None,
            destroyed_at: None,
        },
        provenance_json,
        sealed_material: Some(vec![1, 2, 3]),
    }
}

/// Version `number` moves to deactivated at `now()`, if it is still in `from` (and unscheduled).
fn deactivation(key_id: KeyId, number: VersionNumber, from: KeyState) -> Change {
    let mut info = version(number.get()).info;
    info.state = KeyState::Deactivated;
    info.deactivated_at = Some(now());
    Change::UpdateVersions {
        key_id,
        updates: vec![keystead_store::VersionUpdate {
            from,
            from_destroy_at: None,
            info,
            destroy_material: false,
        }],
        at: now(),
    }
}

pub(crate) fn event(action: AuditAction, node: &str) -> AuditEvent {
    AuditEvent {
        occurred_at: now(),
        node: node.into(),
        actor: "root".into(),
        source: "test".into(),
        tenant: "default".into(),
        action,
        outcome: Outcome::Success,
        key_id: None,
        key_name: None,
        version: None,
        algorithm: None,
        purpose: None,
        error_code: None,
        reason: None,
        details: BTreeMap::new(),
    }
}

async fn create_and_audit_are_atomic(db: TestDb) {
    let store = db.open().await;
    let key = attributes("prompts");
    store
        .commit(
            Change::CreateKey { key: key.clone(), version: version(1) },
            event(AuditAction::KeyCreate, "n1"),
        )
        .await
        .unwrap();

    // A second key with the same name fails, and its audit event is not stored either.
    let mut same_name = attributes("prompts");
    same_name.id = KeyId::from_random_bytes([9; 16]);
    let err = store
        .commit(
            Change::CreateKey { key: same_name, version: version(1) },
            event(AuditAction::KeyCreate, "n1"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NameTaken { .. }), "{err}");
    assert_eq!(store.audit_events(&AuditFilter::default()).await.unwrap().len(), 1);

    // Reopening the file finds exactly what was committed.
    drop(store);
    let store = SqlStore::open(&db.url).await.unwrap();
    let found = store.key(&Tenant::default_tenant(), &KeyRef::Name(key.name.clone())).await.unwrap().unwrap();
    assert_eq!(found.attributes, key);
    assert_eq!(found.versions.len(), 1);
    assert_eq!(found.versions[0].sealed_material.as_deref(), Some(&[1u8, 2, 3][..]));
    let by_id = store.key_by_id(key.id).await.unwrap().unwrap();
    assert_eq!(by_id.attributes.name, key.name);
}

async fn audit_log_is_append_only(db: TestDb) {
    let store = db.open().await;
    store.commit(Change::AuditOnly, event(AuditAction::ServerStart, "n1")).await.unwrap();
    let pool = db.raw().await;
    let update = sqlx::query("UPDATE audit_events SET actor = 'mallory'").execute(&pool).await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = sqlx::query("DELETE FROM audit_events").execute(&pool).await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert_eq!(store.audit_events(&AuditFilter::default()).await.unwrap().len(), 1);
}

async fn chain_verification_detects_edits(db: TestDb) {
    let store = db.open().await;
    for node in ["n1", "n2", "n1", "n1"] {
        store.commit(Change::AuditOnly, event(AuditAction::ServerStart, node)).await.unwrap();
    }
    let report = store.verify_audit_chain(&keystead_store::chain::NoSignatureKeys).await.unwrap();
    assert!(report.intact(), "{report:?}");
    assert_eq!((report.events, report.chains), (4, 2));

    // Someone with file access drops the trigger and rewrites an event.
    let pool = db.raw().await;
    sqlx::query(&db.drop_trigger("audit_events_no_update")).execute(&pool).await.unwrap();
    sqlx::query("UPDATE audit_events SET event_json = replace(event_json, 'root', 'mallory') WHERE node = 'n1' AND node_seq = 2")
        .execute(&pool)
        .await
        .unwrap();
    let report = store.verify_audit_chain(&keystead_store::chain::NoSignatureKeys).await.unwrap();
    assert_eq!(report.breaks.len(), 1, "{report:?}");
    assert_eq!((report.breaks[0].0.as_str(), report.breaks[0].1), ("n1", 2));

    // Deleting an event is a gap in the node's sequence.
    sqlx::query(&db.drop_trigger("audit_events_no_delete")).execute(&pool).await.unwrap();
    sqlx::query("DELETE FROM audit_events WHERE node = 'n2'").execute(&pool).await.unwrap();
    sqlx::query("DELETE FROM audit_events WHERE node = 'n1' AND node_seq = 1").execute(&pool).await.unwrap();
    let report = store.verify_audit_chain(&keystead_store::chain::NoSignatureKeys).await.unwrap();
    assert!(report.breaks.iter().any(|b| b.2.contains("missing")), "{report:?}");
}

async fn reordered_events_are_detected(db: TestDb) {
    let store = db.open().await;
    for _ in 0..4 {
        store.commit(Change::AuditOnly, event(AuditAction::ServerStart, "n1")).await.unwrap();
    }
    // Swap events 2 and 3 whole (content, links and hashes): each is intact on its own, but
    // the chain no longer links.
    let pool = db.raw().await;
    sqlx::query(&db.drop_trigger("audit_events_no_update")).execute(&pool).await.unwrap();
    for (from, to) in [(2, -2), (3, 2), (-2, 3)] {
        sqlx::query("UPDATE audit_events SET node_seq = $1 WHERE node = 'n1' AND node_seq = $2")
            .bind(to)
            .bind(from)
            .execute(&pool)
            .await
            .unwrap();
    }
    let report = store.verify_audit_chain(&keystead_store::chain::NoSignatureKeys).await.unwrap();
    assert_eq!(report.breaks.len(), 1, "{report:?}");
    assert_eq!(report.breaks[0].1, 2, "{report:?}");
    assert!(report.breaks[0].2.contains("previous hash"), "{report:?}");
}

async fn audit_rows_page_in_chain_order(db: TestDb) {
    let store = db.open().await;
    assert_eq!(store.chain_head("n1").await.unwrap().node_seq, 0);
    for node in ["n2", "n1", "n2", "n1", "n1"] {
        store.commit(Change::AuditOnly, event(AuditAction::ServerStart, node)).await.unwrap();
    }
    let mut checkpoint = event(AuditAction::AuditCheckpoint, "n1");
    checkpoint.occurred_at = now() + time::Duration::seconds(5);
    store.commit(Change::AuditOnly, checkpoint).await.unwrap();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.audit_rows(after.clone(), 2).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some((last.node.clone(), last.node_seq));
        seen.extend(page.iter().map(|r| (r.node.clone(), r.node_seq)));
    }
    let expected: Vec<(String, i64)> = [("n1", 1), ("n1", 2), ("n1", 3), ("n1", 4), ("n2", 1), ("n2", 2)]
        .map(|(n, s)| (n.to_owned(), s))
        .into();
    assert_eq!(seen, expected);
    let head = store.chain_head("n1").await.unwrap();
    assert_eq!(head.node_seq, 4);
    assert_eq!(head.last_checkpoint, Some((4, now() + time::Duration::seconds(5))));
    let rows = store.audit_rows(None, 10).await.unwrap();
    assert_eq!(head.hash, rows[3].hash);
    assert_eq!(store.chain_head("n2").await.unwrap().last_checkpoint, None);
}

async fn state_change_is_compare_and_set(db: TestDb) {
    let store = db.open().await;
    let key = attributes("k");
    store
        .commit(
            Change::CreateKey { key: key.clone(), version: version(1) },
            event(AuditAction::KeyCreate, "n1"),
        )
        .await
        .unwrap();
    let v1 = VersionNumber::FIRST;
    let deactivate = |from| deactivation(key.id, v1, from);
    store.commit(deactivate(KeyState::Active), event(AuditAction::KeyDeactivate, "n1")).await.unwrap();
    // The same change again expects Active but finds Deactivated: refused, nothing written.
    let err = store
        .commit(deactivate(KeyState::Active), event(AuditAction::KeyDeactivate, "n1"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    let events = store.audit_events(&AuditFilter::default()).await.unwrap();
    assert_eq!(events.len(), 2);
    let stored = store.key_by_id(key.id).await.unwrap().unwrap();
    assert_eq!(stored.versions[0].info.state, KeyState::Deactivated);
    assert_eq!(stored.versions[0].info.deactivated_at, Some(now()));

    // A version number that skips ahead is refused too.
    let err = store
        .commit(
            Change::AddVersion { key_id: key.id, version: version(3) },
            event(AuditAction::KeyRotate, "n1"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    store
        .commit(
            Change::AddVersion { key_id: key.id, version: version(2) },
            event(AuditAction::KeyRotate, "n1"),
        )
        .await
        .unwrap();
    assert_eq!(
        store.key_by_id(key.id).await.unwrap().unwrap().primary().map(|v| v.info.number.get()),
        Some(2)
    );
}

/// Changes other nodes must see go into the feed with their transaction, and only then.
async fn changes_reach_the_feed_atomically(db: TestDb) {
    let store = db.open().await;
    assert_eq!(store.feed_head().await.unwrap(), 0);
    let key = attributes("k");
    store
        .commit(
            Change::CreateKey { key: key.clone(), version: version(1) },
            event(AuditAction::KeyCreate, "n1"),
        )
        .await
        .unwrap();
    store.commit(Change::AuditOnly, event(AuditAction::KeyRead, "n1")).await.unwrap();
    assert_eq!(store.feed_head().await.unwrap(), 0, "creations and audit-only events need no refresh");
    let deactivate = deactivation(key.id, VersionNumber::FIRST, KeyState::Active);
    store.commit(deactivate.clone(), event(AuditAction::KeyDeactivate, "n2")).await.unwrap();
    // The same change again conflicts: neither the change nor its feed entry is written.
    assert!(store.commit(deactivate, event(AuditAction::KeyDeactivate, "n2")).await.is_err());
    let entries = store.feed_after(0, 10).await.unwrap();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry = entries[0].as_ref().unwrap();
    assert_eq!(
        (entry.kind, entry.subject.as_str(), entry.node.as_str()),
        (keystead_store::FeedKind::Key, key.id.to_string().as_str(), "n2")
    );
    assert_eq!(store.feed_head().await.unwrap(), entry.seq);
    assert!(store.feed_after(entry.seq, 10).await.unwrap().is_empty());
    // A bounded wait returns (on SQLite it only sleeps; on PostgreSQL nothing notifies).
    store.wait_for_feed(std::time::Duration::from_millis(50)).await;
}

on_every_backend!(
    create_and_audit_are_atomic,
    audit_log_is_append_only,
    chain_verification_detects_edits,
    reordered_events_are_detected,
    audit_rows_page_in_chain_order,
    state_change_is_compare_and_set,
    keys_filter_and_principals,
    changes_reach_the_feed_atomically,
);

async fn keys_filter_and_principals(db: TestDb) {
    let store = db.open().await;
    let mut signer = attributes("signer");
    signer.purpose = Purpose::Sign;
    signer.owner = "release".into();
    signer.labels = Labels::new([("team".to_owned(), "ml".to_owned())].into()).unwrap();
    store
        .commit(
            Change::CreateKey { key: attributes("enc"), version: version(1) },
            event(AuditAction::KeyCreate, "n1"),
        )
        .await
        .unwrap();
    store
        .commit(
            Change::CreateKey { key: signer.clone(), version: version(1) },
            event(AuditAction::KeyCreate, "n1"),
        )
        .await
        .unwrap();
    let by_purpose = store
        .keys(&keystead_store::KeyFilter { purpose: Some(Purpose::Sign), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(by_purpose.len(), 1);
    assert_eq!(by_purpose[0].attributes, signer);
    let by_owner = store
        .keys(&keystead_store::KeyFilter { owner: Some("ml".into()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(by_owner.len(), 1);
    let by_label = store
        .keys(&keystead_store::KeyFilter {
            labels: [("team".to_owned(), "ml".to_owned())].into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(by_label.len(), 1);
    assert_eq!(store.keys(&Default::default()).await.unwrap().len(), 2);

    let token = keystead_crypto::AccessToken::generate().unwrap();
    let principal = keystead_store::NewPrincipal {
        name: "alice".into(),
        token_hash: *token.hash().as_bytes(),
        roles: vec!["auditor".into()],
        tenant: Some("acme".into()),
        created_at: now(),
        expires_at: Some(now() + time::Duration::hours(1)),
    };
    store
        .commit(Change::CreatePrincipal(principal), event(AuditAction::PrincipalCreate, "n1"))
        .await
        .unwrap();
    let found = store.principal_by_token(&token.hash()).await.unwrap().unwrap();
    assert_eq!(
        (found.name.as_str(), found.roles.as_slice(), found.tenant.as_deref()),
        ("alice", &["auditor".to_owned()][..], Some("acme"))
    );
    // The expiry survives the round trip (to the millisecond) and is enforced by its reader.
    let expires = found.expires_at.unwrap();
    assert!((expires - (now() + time::Duration::hours(1))).abs() < time::Duration::minutes(1));
    assert!(found.is_active_at(now()) && !found.is_active_at(expires));
    assert_eq!(store.principal_by_name("alice").await.unwrap(), Some(found));
    assert!(store.principal_by_name("bob").await.unwrap().is_none());
    let other = keystead_crypto::AccessToken::generate().unwrap();
    assert!(store.principal_by_token(&other.hash()).await.unwrap().is_none());
    assert_eq!(store.init_meta("environment", "test").await.unwrap(), "test");
    assert_eq!(store.init_meta("environment", "production").await.unwrap(), "test", "set once");
}
