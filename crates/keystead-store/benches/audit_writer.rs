#![allow(missing_docs, reason = "criterion_group! generates an undocumented function")]
//! The audit writer alone: [`Store::append_audit_events`] with batches of key-use events, as
//! the use-audit writer sends them, on a real SQLite file (WAL, `synchronous = FULL`: every
//! batch is one durable commit) and, when `KEYSTEAD_BENCH_DATABASE_URL` names a PostgreSQL
//! server, on a fresh database there.
//!
//! - `append_256_uses`: a batch of 256 successful encrypt events of one key version (the
//!   writer's largest batch), linked onto the chain and counted in `key_usage` in one
//!   transaction. Criterion prints the throughput in events per second.
//! - `append_16_uses`: a batch of 16 (a lightly loaded server).
//!
//! The chain grows while measuring; each iteration appends after the last.
//!
//! Run with `cargo bench -p keystead-store --bench audit_writer`.

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use keystead_core::{Algorithm, AuditAction, AuditEvent, KeyId, Outcome, Purpose};
use keystead_store::{SqlStore, Store};
use time::OffsetDateTime;
use tokio::runtime::Runtime;

fn use_event(key: KeyId) -> AuditEvent {
    AuditEvent {
        occurred_at: OffsetDateTime::now_utc(),
        node: "bench-node".into(),
        actor: "bench-app".into(),
        source: "rest 127.0.0.1:50000".into(),
        tenant: "default".into(),
        action: AuditAction::Encrypt,
        outcome: Outcome::Success,
        key_id: Some(key),
        key_name: Some("bench-aes".into()),
        version: Some(1),
        algorithm: Some(Algorithm::Aes256Gcm),
        purpose: Some(Purpose::Encrypt),
        error_code: None,
        reason: None,
        details: BTreeMap::from([
            ("auth_method".to_owned(), "bearer".to_owned()),
            ("request_id".to_owned(), "req_0123456789abcdef01234567".to_owned()),
        ]),
    }
}

fn measure(c: &mut Criterion, backend: &str, runtime: &Runtime, store: &dyn Store) {
    let key = KeyId::from_random_bytes(keystead_crypto::random_array().expect("randomness"));
    let mut group = c.benchmark_group(format!("audit_writer_{backend}"));
    for size in [256usize, 16] {
        group.throughput(Throughput::Elements(size as u64));
        group.bench_function(format!("append_{size}_uses"), |b| {
            b.iter_batched(
                || (0..size).map(|_| use_event(key)).collect::<Vec<_>>(),
                |batch| runtime.block_on(store.append_audit_events(black_box(batch))).expect("appended"),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

fn audit_writer(c: &mut Criterion) {
    let runtime = Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("temporary directory");
    let sqlite = runtime.block_on(SqlStore::open_sqlite(&dir.path().join("bench.db"))).expect("store");
    measure(c, "sqlite", &runtime, &sqlite);
    if let Ok(url) = std::env::var("KEYSTEAD_BENCH_DATABASE_URL") {
        let name = format!("keystead_writer_bench_{}", std::process::id());
        let (base, _) = url.rsplit_once('/').expect("a PostgreSQL URL names a database");
        runtime.block_on(async {
            use sqlx::Connection as _;
            let mut admin = sqlx::PgConnection::connect(&url).await.expect("PostgreSQL");
            sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await.expect("create");
        });
        let postgres = runtime.block_on(SqlStore::open(&format!("{base}/{name}"))).expect("store");
        measure(c, "postgres", &runtime, &postgres);
        drop(postgres);
        runtime.block_on(async {
            use sqlx::Connection as _;
            let mut admin = sqlx::PgConnection::connect(&url).await.expect("PostgreSQL");
            sqlx::query(&format!("DROP DATABASE {name}")).execute(&mut admin).await.expect("drop");
        });
    }
}

criterion_group!(benches, audit_writer);
criterion_main!(benches);
