#![allow(missing_docs, reason = "criterion_group! generates an undocumented function")]
//! Benchmarks of backups and recovery drills (CEK-20) against the least any backup must do.
//!
//! One group, `recovery_500_keys`, over a real SQLite file holding 500 AES-256-GCM keys, as
//! the root principal, all measured in the same run:
//!
//! - `open_all_baseline`: read every key from the store and open each version's material from
//!   the barrier (AES-256-GCM under the root key, KCV check): what any backup must do at least.
//! - `backup`: `Service::create_backup` 2-of-3, every line of the bundle received.
//! - `drill`: `Service::recovery_drill` on that bundle: shares checked and combined, end tag,
//!   every key unsealed, checked (KCV, test vector), restored into a scratch in-memory store,
//!   read back and checked again; audited.
//!
//! The figures to report are `backup / open_all_baseline` and `drill / open_all_baseline`.
//!
//! Run with `cargo bench -p keystead-service --bench recovery`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use keystead_core::{Environment, NodeName};
use keystead_crypto::{RootKey, SecretBytes};
use keystead_service::{Caller, Config, CreateKeyRequest, SealSetup, Service};
use keystead_store::{barrier, KeyFilter, SqlStore, Store};
use tokio::runtime::Runtime;
use zeroize::Zeroizing;

const KEYS: usize = 500;

struct Fixture {
    service: Service,
    store: Arc<SqlStore>,
    root: RootKey,
    caller: Caller,
    _dir: tempfile::TempDir,
    runtime: Runtime,
}

fn fixture() -> Fixture {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("keystead.db");
    let (service, store, root, caller) = runtime.block_on(async {
        let store = Arc::new(SqlStore::open_sqlite(&path).await.expect("the store opens"));
        let (_, material): (RootKey, SecretBytes) = RootKey::generate().expect("a root key");
        let config = Config::new(NodeName::new("bench").expect("valid"), Environment::Development);
        let root = RootKey::from_material(&material).expect("root key");
        let service =
            Service::new(store.clone(), SealSetup::File(root), config, keystead_service::system_clock())
                .await
                .expect("the service starts");
        let token = service.bootstrap_root().await.expect("bootstrap").expect("a root token");
        let caller = service.authenticate(Some(token.expose_secret()), "bench").await.expect("authenticates");
        for i in 0..KEYS {
            let request = CreateKeyRequest {
                name: format!("k{i:04}"),
                purpose: "encrypt".into(),
                algorithm: "aes-256-gcm".into(),
                usage_context: Some("x-bench".into()),
                ..Default::default()
            };
            service.create_key(&caller, request).await.expect("key created");
        }
        (service, store, RootKey::from_material(&material).expect("root key"), caller)
    });
    Fixture { service, store, root, caller, _dir: dir, runtime }
}

/// A 2-of-3 backup: the bundle and two shares.
async fn backup(f: &Fixture) -> (String, Vec<Zeroizing<String>>) {
    let mut stream = f.service.create_backup(&f.caller, 3, 2, &[]).await.expect("backup starts");
    let shares = stream.shares[..2].iter().map(|s| Zeroizing::new(s.expose_secret().to_owned())).collect();
    let mut bundle = String::new();
    while let Some(line) = stream.lines.recv().await {
        bundle.push_str(&line.expect("a line"));
    }
    (bundle, shares)
}

fn recovery(c: &mut Criterion) {
    let f = fixture();
    let mut group = c.benchmark_group("recovery_500_keys");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("open_all_baseline", |b| {
        b.iter(|| {
            f.runtime.block_on(async {
                for key in f.store.keys(&KeyFilter::default()).await.expect("keys") {
                    for version in key.versions.iter().filter(|v| v.sealed_material.is_some()) {
                        black_box(
                            barrier::open_material_bytes(&f.root, &key.attributes, version).expect("opens"),
                        );
                    }
                }
            })
        })
    });
    group.bench_function("backup", |b| b.iter(|| black_box(f.runtime.block_on(backup(&f)))));
    let (bundle, shares) = f.runtime.block_on(backup(&f));
    group.bench_function("drill", |b| {
        b.iter(|| {
            let report = f
                .runtime
                .block_on(f.service.recovery_drill(&f.caller, &bundle, &shares))
                .expect("the drill runs");
            assert_eq!(report.result, "passed");
            black_box(report)
        })
    });
    group.finish();
}

criterion_group!(benches, recovery);
criterion_main!(benches);
