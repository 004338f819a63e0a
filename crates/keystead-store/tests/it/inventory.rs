//! The inventory's filters, sorts and pages, reviews and anomalies, on every backend. Each
//! filter is checked against a seeded set where exactly the expected keys match.

use std::collections::BTreeMap;

use keystead_core::key::Labels;
use keystead_core::{
    Algorithm, AuditAction, Environment, KeyAttributes, KeyState, Purpose, Tenant, UsageContext,
};
use keystead_store::inventory::{
    AnomalyFilter, AnomalyRecord, InventoryFilter, InventoryQuery, InventorySort, ReviewRecord,
};
use keystead_store::{Change, Error, SqlStore, Store, StoredVersion};
use time::Duration;

use crate::conformance::{attributes, event, now, version};
use crate::db::TestDb;

fn at(days: i64) -> time::OffsetDateTime {
    now() + Duration::days(days)
}

fn version_at(number: u32, state: KeyState, created_days: i64) -> StoredVersion {
    let mut v = version(number);
    v.info.state = state;
    v.info.created_at = at(created_days);
    v.info.activated_at = Some(at(created_days));
    if !state.has_material() {
        v.sealed_material = None;
    }
    v
}

async fn add(store: &SqlStore, key: KeyAttributes, versions: Vec<StoredVersion>) {
    let mut versions = versions.into_iter();
    let first = versions.next().unwrap();
    store
        .commit(Change::CreateKey { key: key.clone(), version: first }, event(AuditAction::KeyCreate, "n1"))
        .await
        .unwrap();
    for version in versions {
        store
            .commit(Change::AddVersion { key_id: key.id, version }, event(AuditAction::KeyRotate, "n1"))
            .await
            .unwrap();
    }
}

/// Seven keys, each standing out on some filters.
async fn seeded(db: &TestDb) -> (SqlStore, BTreeMap<&'static str, KeyAttributes>) {
    let store = db.open().await;
    let mut keys = BTreeMap::new();
    let mut key = |name: &'static str, edit: &dyn Fn(&mut KeyAttributes)| {
        let mut attributes = attributes(name);
        attributes.created_at = at(0);
        edit(&mut attributes);
        keys.insert(name, attributes.clone());
        attributes
    };
    // Plain, created at day 0, one active version.
    let plain = key("plain", &|_| {});
    add(&store, plain, vec![version_at(1, KeyState::Active, 0)]).await;
    // A signing key of another owner and tenant with a label, created at day 10.
    let signer = key("signer", &|k| {
        k.purpose = Purpose::Sign;
        k.algorithm = Algorithm::Ed25519;
        k.owner = "release".into();
        k.tenant = Tenant::new("acme").unwrap();
        k.usage_context = UsageContext::new("model-signing").unwrap();
        k.labels = Labels::new([("team".to_owned(), "ml_ops%".to_owned())].into()).unwrap();
        k.created_at = at(10);
    });
    add(&store, signer, vec![version_at(1, KeyState::Active, 10)]).await;
    // Rotated at day 50, rotation period 30 days: overdue at day 90.
    let rotated = key("rotated", &|k| k.rotation_period_seconds = Some(30 * 86_400));
    add(&store, rotated, vec![version_at(1, KeyState::Deactivated, 0), version_at(2, KeyState::Active, 50)])
        .await;
    // An active version past its 20-day protect period by day 25.
    let protect = key("protect", &|k| k.protect_period_seconds = Some(20 * 86_400));
    add(&store, protect, vec![version_at(1, KeyState::Active, 0)]).await;
    // A destroyed tombstone whose owner was disabled.
    let tombstone = key("tombstone", &|k| {
        k.owner = "gone".into();
        k.environment = Environment::Staging;
    });
    add(&store, tombstone, vec![version_at(1, KeyState::Destroyed, 0)]).await;
    // A compromised key with a label that must not match a near miss.
    let compromised = key("compromised", &|k| {
        k.labels = Labels::new([("team".to_owned(), "ml".to_owned())].into()).unwrap();
    });
    add(&store, compromised, vec![version_at(1, KeyState::Compromised, 0)]).await;
    // A rotation period but no active version: never overdue.
    let idle = key("idle", &|k| k.rotation_period_seconds = Some(86_400));
    add(&store, idle, vec![version_at(1, KeyState::Suspended, 0)]).await;

    let token = keystead_crypto::AccessToken::generate().unwrap();
    let gone = keystead_store::NewPrincipal {
        name: "gone".into(),
        token_hash: *token.hash().as_bytes(),
        roles: vec!["key-custodian".into()],
        tenant: None,
        created_at: now(),
        expires_at: None,
    };
    store.commit(Change::CreatePrincipal(gone), event(AuditAction::PrincipalCreate, "n1")).await.unwrap();
    store
        .commit(Change::DisablePrincipal { name: "gone".into() }, event(AuditAction::PrincipalDisable, "n1"))
        .await
        .unwrap();
    (store, keys)
}

async fn names(store: &SqlStore, filter: InventoryFilter) -> Vec<String> {
    let query = InventoryQuery { filter, limit: 100, ..InventoryQuery::default() };
    let page = store.inventory(&query).await.unwrap();
    let names: Vec<String> = page.entries.iter().map(|e| e.key.attributes.name.to_string()).collect();
    assert_eq!(page.total, names.len() as u64);
    names
}

async fn every_filter_selects_exactly_its_keys(db: TestDb) {
    let (store, keys) = seeded(&db).await;
    let all = names(&store, InventoryFilter::default()).await;
    assert_eq!(all.len(), 7, "tombstones included: {all:?}");
    let f = InventoryFilter::default;
    let cases: Vec<(&str, InventoryFilter, Vec<&str>)> = vec![
        ("tenant", InventoryFilter { tenant: Some(Tenant::new("acme").unwrap()), ..f() }, vec!["signer"]),
        ("state", InventoryFilter { states: vec![KeyState::Destroyed], ..f() }, vec!["tombstone"]),
        (
            "states",
            InventoryFilter { states: vec![KeyState::Compromised, KeyState::Suspended], ..f() },
            vec!["compromised", "idle"],
        ),
        (
            "deactivated version",
            InventoryFilter { states: vec![KeyState::Deactivated], ..f() },
            vec!["rotated"],
        ),
        ("purpose", InventoryFilter { purpose: Some(Purpose::Sign), ..f() }, vec!["signer"]),
        ("algorithm", InventoryFilter { algorithm: Some(Algorithm::Ed25519), ..f() }, vec!["signer"]),
        ("owner", InventoryFilter { owner: Some("release".into()), ..f() }, vec!["signer"]),
        (
            "environment",
            InventoryFilter { environment: Some(Environment::Staging), ..f() },
            vec!["tombstone"],
        ),
        (
            "usage context",
            InventoryFilter { usage_context: Some(UsageContext::new("model-signing").unwrap()), ..f() },
            vec!["signer"],
        ),
        (
            "label with LIKE wildcards",
            InventoryFilter { labels: [("team".into(), "ml_ops%".into())].into(), ..f() },
            vec!["signer"],
        ),
        (
            "label exact",
            InventoryFilter { labels: [("team".into(), "ml".into())].into(), ..f() },
            vec!["compromised"],
        ),
        (
            "label case matters",
            InventoryFilter { labels: [("team".into(), "ML".into())].into(), ..f() },
            vec![],
        ),
        ("created before", InventoryFilter { created_before: Some(at(5)), ..f() }, {
            let mut v: Vec<&str> = keys.keys().copied().filter(|n| *n != "signer").collect();
            v.sort_unstable();
            v
        }),
        ("created after", InventoryFilter { created_after: Some(at(5)), ..f() }, vec!["signer"]),
        ("rotated after", InventoryFilter { rotated_after: Some(at(5)), ..f() }, vec!["rotated", "signer"]),
        (
            "rotated before",
            InventoryFilter { rotated_before: Some(at(5)), created_after: Some(at(-1)), ..f() },
            vec!["compromised", "idle", "plain", "protect", "tombstone"],
        ),
        (
            "past cryptoperiod at day 25",
            InventoryFilter { past_cryptoperiod_at: Some(at(25)), ..f() },
            vec!["protect"],
        ),
        (
            "past cryptoperiod at day 90",
            InventoryFilter { past_cryptoperiod_at: Some(at(90)), ..f() },
            vec!["protect", "rotated"],
        ),
        ("no owner", InventoryFilter { no_owner_at: Some(at(1)), ..f() }, vec!["tombstone"]),
    ];
    for (what, filter, mut expected) in cases {
        expected.sort_unstable();
        let mut got = names(&store, filter).await;
        got.sort_unstable();
        assert_eq!(got, expected, "{what}");
    }

    // Reviews: the newest one is listed with its key; "not reviewed since" honours it.
    let plain = keys["plain"].id;
    for (days, reviewer) in [(1, "ml"), (100, "custodian")] {
        let review = ReviewRecord {
            key_id: plain,
            reviewed_at: at(days),
            reviewer: reviewer.into(),
            as_owner: reviewer == "ml",
            attestation: "still needed".into(),
        };
        store.commit(Change::RecordReview(review), event(AuditAction::KeyReview, "n1")).await.unwrap();
    }
    let not_since = names(&store, InventoryFilter { not_reviewed_since: Some(at(50)), ..f() }).await;
    assert_eq!(not_since.len(), 6);
    assert!(!not_since.contains(&"plain".to_owned()));
    assert_eq!(names(&store, InventoryFilter { not_reviewed_since: Some(at(101)), ..f() }).await.len(), 7);
    let page = store
        .inventory(&InventoryQuery {
            filter: InventoryFilter { owner: Some("ml".into()), states: vec![KeyState::Active], ..f() },
            limit: 10,
            ..InventoryQuery::default()
        })
        .await
        .unwrap();
    let plain_entry = page.entries.iter().find(|e| e.key.attributes.id == plain).unwrap();
    assert_eq!(plain_entry.last_review.as_ref().map(|r| r.reviewer.as_str()), Some("custodian"));
    assert_eq!(store.reviews(plain).await.unwrap().len(), 2);
}

async fn inventory_sorts_and_pages(db: TestDb) {
    let (store, _) = seeded(&db).await;
    let page = |sort, descending, offset, limit| {
        let store = &store;
        async move {
            let query =
                InventoryQuery { filter: InventoryFilter::default(), sort, descending, offset, limit };
            let page = store.inventory(&query).await.unwrap();
            (page.total, page.entries.iter().map(|e| e.key.attributes.name.to_string()).collect::<Vec<_>>())
        }
    };
    // By tenant then name: acme's key, then the default tenant's.
    let (total, first) = page(InventorySort::Name, false, 0, 3).await;
    assert_eq!((total, first), (7, vec!["signer".to_owned(), "compromised".into(), "idle".into()]));
    let (_, second) = page(InventorySort::Name, false, 3, 3).await;
    assert_eq!(second, ["plain", "protect", "rotated"]);
    let (_, last) = page(InventorySort::Name, false, 6, 3).await;
    assert_eq!(last, ["tombstone"]);
    let (_, newest) = page(InventorySort::Rotated, true, 0, 2).await;
    assert_eq!(newest, ["rotated", "signer"]);
    let (_, created) = page(InventorySort::Created, true, 0, 1).await;
    assert_eq!(created, ["signer"]);
    let (_, by_owner) = page(InventorySort::Owner, false, 0, 1).await;
    assert_eq!(by_owner, ["tombstone"], "owner gone < ml < release");
}

async fn anomalies_are_raised_once(db: TestDb) {
    let store = db.open().await;
    let anomaly = |id: &str| AnomalyRecord {
        id: id.into(),
        rule: "denial-burst".into(),
        dedupe: "denial-burst:mallory:1".into(),
        severity: "medium".into(),
        detected_at: now(),
        occurred_at: now(),
        actor: "mallory".into(),
        tenant: "default".into(),
        key_id: None,
        summary: "12 denied requests in 60 s".into(),
        evidence: [("denied".to_owned(), "12".to_owned())].into(),
    };
    store
        .commit(Change::RaiseAnomaly(anomaly("an_1")), event(AuditAction::AnomalyDetected, "n1"))
        .await
        .unwrap();
    let again =
        store.commit(Change::RaiseAnomaly(anomaly("an_2")), event(AuditAction::AnomalyDetected, "n2")).await;
    assert!(matches!(again, Err(Error::Conflict { .. })), "{again:?}");
    assert!(store.anomaly_exists("denial-burst:mallory:1").await.unwrap());
    let listed = store.anomalies(&AnomalyFilter::default()).await.unwrap();
    assert_eq!(listed, vec![anomaly("an_1")]);
    let other_rule = AnomalyFilter { rule: Some("purpose-violation".into()), ..AnomalyFilter::default() };
    assert!(store.anomalies(&other_rule).await.unwrap().is_empty());
    // The refused duplicate left no audit event behind: both or neither.
    let events = store.audit_events(&keystead_store::AuditFilter::default()).await.unwrap();
    assert_eq!(events.iter().filter(|e| e.event.action == AuditAction::AnomalyDetected).count(), 1);
}

on_every_backend!(
    every_filter_selects_exactly_its_keys,
    inventory_sorts_and_pages,
    anomalies_are_raised_once
);
