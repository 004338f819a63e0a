#![allow(missing_docs, reason = "criterion_group! generates an undocumented function")]
//! `inventory list` over 100,000 keys on the embedded store (SQLite in a temporary file),
//! CEK-21's "fast" claim measured rather than asserted.
//!
//! The store is seeded once with 100,000 keys (1,000 owners, 10 team labels, mixed purposes,
//! 1% with a rotation overdue, 0.5% compromised, 1% reviewed). Every function asks for one
//! page of 100 keys plus the total count, through [`Store::inventory`], the query behind
//! `keystead inventory list`:
//!
//! - `first_page_unfiltered` (the baseline): no filter, sorted by name;
//! - `owner`: one owner's keys (indexed);
//! - `label`: one team label (a scan of the labels column);
//! - `past_cryptoperiod`: rotation or originator-usage period overdue (per-key subqueries);
//! - `compromised`: keys with a compromised version;
//! - `not_reviewed_sorted_by_rotation`: not reviewed in 90 days, oldest rotation first.
//!
//! Report each as a ratio to the baseline from the same run, and the absolute time of the
//! slowest next to the one-second bound of the issue.
//!
//! Run with `cargo bench -p keystead-store --bench inventory`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use keystead_core::key::{
    Classification, Criticality, KeyAttributes, Labels, Origin, Provenance, VersionInfo,
};
use keystead_core::{
    Algorithm, AuditAction, AuditEvent, Environment, KeyId, KeyName, KeyState, Outcome, Purpose, Tenant,
    UsageContext, VersionNumber,
};
use keystead_store::inventory::{InventoryFilter, InventoryQuery, InventorySort, ReviewRecord};
use keystead_store::{Change, SqlStore, Store, StoredVersion};
use time::OffsetDateTime;
use tokio::runtime::Runtime;

const KEYS: usize = 100_000;
const BATCH: usize = 1_000;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("a valid time")
}

fn event() -> AuditEvent {
    AuditEvent {
        occurred_at: now(),
        node: "bench".into(),
        actor: "seed".into(),
        source: "bench".into(),
        tenant: "default".into(),
        action: AuditAction::KeyCreate,
        outcome: Outcome::Success,
        key_id: None,
        key_name: None,
        version: None,
        algorithm: None,
        purpose: None,
        error_code: None,
        reason: None,
        details: Default::default(),
    }
}

fn key(i: usize) -> (KeyAttributes, StoredVersion) {
    let (purpose, algorithm) = match i % 4 {
        0 => (Purpose::Sign, Algorithm::Ed25519),
        1 => (Purpose::Mac, Algorithm::HmacSha256),
        _ => (Purpose::Encrypt, Algorithm::Aes256Gcm),
    };
    let created = now() - time::Duration::days((i % 365) as i64);
    let attributes = KeyAttributes {
        id: KeyId::from_random_bytes(keystead_crypto::random_array().expect("randomness")),
        tenant: Tenant::default_tenant(),
        name: KeyName::new(format!("key-{i:06}")).expect("a valid name"),
        purpose,
        algorithm,
        usage_context: UsageContext::new("model-weights-encryption").expect("valid"),
        owner: format!("owner-{}", i % 1_000),
        description: String::new(),
        environment: Environment::Test,
        classification: Classification::Confidential,
        labels: Labels::new([("team".to_owned(), format!("team-{}", i % 10))].into()).expect("valid"),
        origin: Origin::Generated,
        // 1% have a 30-day rotation period; those created over 30 days ago are overdue.
        rotation_period_seconds: i.is_multiple_of(100).then_some(30 * 86_400),
        protect_period_seconds: None,
        recoverable: true,
        criticality: Criticality::Medium,
        created_at: created,
        updated_at: created,
    };
    let provenance = Provenance {
        library: "aws-lc-rs".into(),
        library_version: "1".into(),
        backend: "AWS-LC".into(),
        fips: false,
        rng: "CTR_DRBG".into(),
        entropy_source: "os".into(),
        algorithm,
        security_strength_bits: 128,
        generated_at: created,
        environment: Environment::Test,
        node: "bench".into(),
        origin: Origin::Generated,
        recovered: None,
        imported: None,
    };
    let state = if i % 200 == 7 { KeyState::Compromised } else { KeyState::Active };
    let version = StoredVersion {
        provenance_json: serde_json::to_string(&provenance).expect("serializes"),
        info: VersionInfo {
            number: VersionNumber::FIRST,
            state,
            kcv: "kcv".into(),
            public_key_der: None,
            provenance,
            created_at: created,
            activated_at: Some(created),
            suspended_at: None,
            deactivated_at: None,
            compromise: None,
            destroy_at: None,
            destroyed_at: None,
        },
        sealed_material: Some(vec![0; 60]),
    };
    (attributes, version)
}

async fn seed(store: &SqlStore) {
    for start in (0..KEYS).step_by(BATCH) {
        let mut changes = Vec::with_capacity(BATCH);
        for i in start..start + BATCH {
            let (attributes, version) = key(i);
            let review = (i % 100 == 50).then(|| ReviewRecord {
                key_id: attributes.id,
                reviewed_at: now() - time::Duration::days(10),
                reviewer: attributes.owner.clone(),
                as_owner: true,
                attestation: "still needed".into(),
            });
            changes.push(Change::CreateKey { key: attributes, version });
            changes.extend(review.map(Change::RecordReview));
        }
        store.commit(Change::Batch(changes), event()).await.expect("the seed commits");
    }
}

fn inventory(c: &mut Criterion) {
    let runtime = Runtime::new().expect("a tokio runtime");
    let dir = tempfile::tempdir().expect("a temp dir");
    let store = runtime.block_on(async {
        let store = SqlStore::open_sqlite(&dir.path().join("bench.db")).await.expect("the store opens");
        seed(&store).await;
        store
    });
    let f = InventoryFilter::default;
    let cases: Vec<(&str, InventoryFilter, InventorySort)> = vec![
        ("first_page_unfiltered", f(), InventorySort::Name),
        ("owner", InventoryFilter { owner: Some("owner-421".into()), ..f() }, InventorySort::Name),
        (
            "label",
            InventoryFilter { labels: [("team".into(), "team-3".into())].into(), ..f() },
            InventorySort::Name,
        ),
        (
            "past_cryptoperiod",
            InventoryFilter { past_cryptoperiod_at: Some(now()), ..f() },
            InventorySort::Name,
        ),
        ("compromised", InventoryFilter { states: vec![KeyState::Compromised], ..f() }, InventorySort::Name),
        (
            "not_reviewed_sorted_by_rotation",
            InventoryFilter { not_reviewed_since: Some(now() - time::Duration::days(90)), ..f() },
            InventorySort::Rotated,
        ),
    ];
    let mut group = c.benchmark_group("inventory_100k");
    group.sample_size(10).measurement_time(Duration::from_secs(5));
    for (name, filter, sort) in cases {
        let query = InventoryQuery { filter, sort, descending: false, offset: 0, limit: 100 };
        let page = runtime.block_on(store.inventory(&query)).expect("the query runs");
        assert!(page.total > 0, "{name} matches keys");
        group.bench_function(name, |b| {
            b.iter(|| black_box(runtime.block_on(store.inventory(&query)).expect("the query runs")))
        });
    }
    group.finish();
}

criterion_group!(benches, inventory);
criterion_main!(benches);
