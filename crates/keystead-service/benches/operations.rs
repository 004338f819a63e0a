#![allow(missing_docs, reason = "criterion_group! generates an undocumented function")]
//! Benchmarks of Keystead's hot operations against the bare aws-lc-rs primitive each one wraps.
//!
//! Every group holds two functions measured in the same run:
//!
//! - `service`: the [`keystead_service::Service`] method end to end, driven with
//!   `Runtime::block_on` on a multi-thread tokio runtime, over a real SQLite file in a temporary
//!   directory, as the root principal. This includes tenant resolution, authorization, the key
//!   cache, envelope encoding and the audit event every use writes before it returns; for `key_create_aes256` also key generation,
//!   sealing under the root key and the SQLite commit with its audit event.
//! - `raw_aws_lc_rs`: the same primitive called directly with aws-lc-rs.
//!
//! The groups:
//!
//! - `encrypt_1KiB`: AES-256-GCM seal of 1 KiB with a random nonce (raw: empty AAD; the input
//!   buffer is prepared outside the timed region).
//! - `decrypt_1KiB`: AES-256-GCM open of a 1 KiB ciphertext made once before measuring (raw: the
//!   sealed buffer is cloned outside the timed region).
//! - `sign_ed25519`: Ed25519 signature over a 1 KiB message.
//! - `sign_ecdsa_p256`: ECDSA P-256 / SHA-256 (ASN.1 DER) signature over a 1 KiB message.
//! - `encrypt_1KiB_64_clients`: 64 encryptions one at a time against 64 at once (this group's
//!   ratio is concurrent / one-at-a-time: what group commit of the use audit saves).
//! - `key_create_aes256`: creation of an AES-256-GCM key under a fresh name (raw: 32 random bytes
//!   and the AES-256-GCM key schedule).
//!
//! Absolute times depend on the machine. The figure to report is the ratio service / raw within
//! each group, taken from the same run: the overhead the service adds to the primitive.
//!
//! Run with `cargo bench -p keystead-service --bench operations`.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, Ed25519KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion};
use keystead_core::{Environment, NodeName};
use keystead_crypto::RootKey;
use keystead_service::{Caller, Config, CreateKeyRequest, SealSetup, Service};
use keystead_store::SqlStore;
use tokio::runtime::Runtime;

/// Size of every plaintext and message.
const MESSAGE_LEN: usize = 1024;
/// The AES-256-GCM encryption key.
const AES_KEY: &str = "bench-aes";
/// The Ed25519 signing key.
const ED25519_KEY: &str = "bench-ed25519";
/// The ECDSA P-256 signing key.
const P256_KEY: &str = "bench-p256";
/// Usage context of every key the benchmark creates.
const USAGE_CONTEXT: &str = "x-bench";

/// A service over a real SQLite file, its root caller and the runtime that drives it.
///
/// Fields drop in declaration order: the service before the directory holding its database,
/// and both before the runtime.
struct Fixture {
    service: Service,
    caller: Caller,
    _dir: tempfile::TempDir,
    runtime: Runtime,
}

impl Fixture {
    /// Starts the service on a fresh database, bootstraps the root principal and creates the
    /// three keys the benchmarks use.
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a multi-thread tokio runtime builds");
        let dir = tempfile::tempdir().expect("a temporary directory can be created");
        let path = dir.path().join("keystead.db");
        let (service, caller) = runtime.block_on(async {
            let store = SqlStore::open_sqlite(&path).await.expect("a fresh SQLite file opens");
            let (root, _root_material) = RootKey::generate().expect("a root key generates");
            let node = NodeName::new("bench").expect("`bench` is a valid node name");
            let config = Config::new(node, Environment::Development);
            let service = Service::new(
                Arc::new(store),
                SealSetup::File(root),
                config,
                keystead_service::system_clock(),
            )
            .await
            .expect("the service starts over a fresh store");
            let token = service
                .bootstrap_root()
                .await
                .expect("bootstrapping the root principal succeeds")
                .expect("a fresh store gives a root token");
            let caller = service
                .authenticate(Some(token.expose_secret()), "bench")
                .await
                .expect("the root token authenticates");
            for (name, purpose, algorithm) in [
                (AES_KEY, "encrypt", "aes-256-gcm"),
                (ED25519_KEY, "sign", "ed25519"),
                (P256_KEY, "sign", "ecdsa-p256"),
            ] {
                service
                    .create_key(&caller, create_request(name, purpose, algorithm))
                    .await
                    .unwrap_or_else(|e| panic!("creating {name} ({algorithm}) succeeds: {e}"));
            }
            (service, caller)
        });
        Self { service, caller, _dir: dir, runtime }
    }
}

/// A `key create` request with the benchmark's usage context.
fn create_request(name: &str, purpose: &str, algorithm: &str) -> CreateKeyRequest {
    CreateKeyRequest {
        name: name.into(),
        purpose: purpose.into(),
        algorithm: algorithm.into(),
        usage_context: Some(USAGE_CONTEXT.into()),
        ..Default::default()
    }
}

/// Short warm-up and measurement so the whole run stays modest.
fn configure(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
}

/// A fresh random AES-256-GCM key for the raw side.
fn raw_aes_key() -> LessSafeKey {
    let mut material = [0u8; 32];
    aws_lc_rs::rand::fill(&mut material).expect("the system RNG fills 32 bytes");
    LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &material).expect("32 bytes make an AES-256-GCM key"))
}

/// A fresh random 96-bit nonce.
fn random_nonce() -> [u8; NONCE_LEN] {
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce).expect("the system RNG fills a nonce");
    nonce
}

fn encrypt_1kib(c: &mut Criterion, f: &Fixture) {
    let plaintext = [0u8; MESSAGE_LEN];
    let context = BTreeMap::new();
    let raw_key = raw_aes_key();

    let mut group = c.benchmark_group("encrypt_1KiB");
    configure(&mut group);
    group.bench_function("service", |b| {
        b.iter(|| {
            f.runtime
                .block_on(f.service.encrypt(&f.caller, None, AES_KEY, black_box(&plaintext[..]), &context))
                .expect("encrypting 1 KiB under an active AES-256-GCM key succeeds")
        });
    });
    group.bench_function("raw_aws_lc_rs", |b| {
        b.iter_batched(
            || {
                let mut buffer = Vec::with_capacity(MESSAGE_LEN + AES_256_GCM.tag_len());
                buffer.extend_from_slice(&plaintext);
                buffer
            },
            |mut in_out| {
                let nonce = random_nonce();
                raw_key
                    .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut in_out)
                    .expect("sealing 1 KiB with AES-256-GCM succeeds");
                (nonce, in_out)
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn decrypt_1kib(c: &mut Criterion, f: &Fixture) {
    let plaintext = [0u8; MESSAGE_LEN];
    let context = BTreeMap::new();
    let ciphertext = f
        .runtime
        .block_on(f.service.encrypt(&f.caller, None, AES_KEY, &plaintext, &context))
        .expect("encrypting 1 KiB under an active AES-256-GCM key succeeds");
    let raw_key = raw_aes_key();
    let nonce = random_nonce();
    let mut sealed = plaintext.to_vec();
    raw_key
        .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut sealed)
        .expect("sealing 1 KiB with AES-256-GCM succeeds");

    let mut group = c.benchmark_group("decrypt_1KiB");
    configure(&mut group);
    group.bench_function("service", |b| {
        b.iter(|| {
            f.runtime
                .block_on(f.service.decrypt(&f.caller, black_box(ciphertext.as_str()), &context))
                .expect("a ciphertext made by the service decrypts")
        });
    });
    group.bench_function("raw_aws_lc_rs", |b| {
        b.iter_batched(
            || sealed.clone(),
            |mut in_out| {
                let opened = raw_key
                    .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut in_out)
                    .expect("a buffer sealed with this key and nonce opens")
                    .len();
                black_box(opened);
                in_out
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn sign_ed25519(c: &mut Criterion, f: &Fixture) {
    let message = [0u8; MESSAGE_LEN];
    let key_pair = Ed25519KeyPair::generate().expect("aws-lc-rs generates an Ed25519 key pair");

    let mut group = c.benchmark_group("sign_ed25519");
    configure(&mut group);
    group.bench_function("service", |b| {
        b.iter(|| {
            f.runtime
                .block_on(f.service.sign(&f.caller, None, ED25519_KEY, black_box(&message[..])))
                .expect("signing with an active Ed25519 key succeeds")
        });
    });
    group.bench_function("raw_aws_lc_rs", |b| {
        b.iter(|| key_pair.sign(black_box(&message[..])));
    });
    group.finish();
}

fn sign_ecdsa_p256(c: &mut Criterion, f: &Fixture) {
    let message = [0u8; MESSAGE_LEN];
    let key_pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING)
        .expect("aws-lc-rs generates an ECDSA P-256 key pair");
    let rng = SystemRandom::new();

    let mut group = c.benchmark_group("sign_ecdsa_p256");
    configure(&mut group);
    group.bench_function("service", |b| {
        b.iter(|| {
            f.runtime
                .block_on(f.service.sign(&f.caller, None, P256_KEY, black_box(&message[..])))
                .expect("signing with an active ECDSA P-256 key succeeds")
        });
    });
    group.bench_function("raw_aws_lc_rs", |b| {
        b.iter(|| {
            key_pair
                .sign(&rng, black_box(&message[..]))
                .expect("ECDSA P-256 signing with the system RNG succeeds")
        });
    });
    group.finish();
}

fn key_create_aes256(c: &mut Criterion, f: &Fixture) {
    // Names must stay unique across warm-up and measurement: a second key under a taken name
    // is refused.
    let mut counter: u64 = 0;

    let mut group = c.benchmark_group("key_create_aes256");
    configure(&mut group);
    group.sample_size(20);
    group.bench_function("service", |b| {
        b.iter(|| {
            counter += 1;
            let request = create_request(&format!("k{counter}"), "encrypt", "aes-256-gcm");
            f.runtime
                .block_on(f.service.create_key(&f.caller, request))
                .expect("creating an AES-256-GCM key under a fresh name succeeds")
        });
    });
    group.bench_function("raw_aws_lc_rs", |b| {
        b.iter(|| {
            let mut material = [0u8; 32];
            aws_lc_rs::rand::fill(&mut material).expect("the system RNG fills 32 bytes");
            UnboundKey::new(&AES_256_GCM, &material).expect("32 bytes make an AES-256-GCM key")
        });
    });
    group.finish();
}

/// Clients in the concurrency group.
const CLIENTS: usize = 64;

/// 64 encryptions one after the other against 64 at once: every use waits for its audit
/// event's commit, and concurrent uses share one commit (group commit).
fn encrypt_1kib_64_clients(c: &mut Criterion, f: &Fixture) {
    let plaintext = [0u8; MESSAGE_LEN];
    let context = BTreeMap::new();
    let encrypt = || f.service.encrypt(&f.caller, None, AES_KEY, black_box(&plaintext[..]), &context);
    let mut group = c.benchmark_group("encrypt_1KiB_64_clients");
    configure(&mut group);
    group.bench_function("one_at_a_time", |b| {
        b.iter(|| {
            f.runtime.block_on(async {
                for _ in 0..CLIENTS {
                    encrypt().await.expect("encrypting succeeds");
                }
            })
        });
    });
    group.bench_function("concurrent", |b| {
        b.iter(|| {
            let results = f.runtime.block_on(futures_util::future::join_all((0..CLIENTS).map(|_| encrypt())));
            assert!(results.iter().all(Result::is_ok), "every concurrent encryption succeeds");
        });
    });
    group.finish();
}

/// Builds the fixture once and runs every group against it.
fn operations(c: &mut Criterion) {
    let fixture = Fixture::new();
    encrypt_1kib(c, &fixture);
    encrypt_1kib_64_clients(c, &fixture);
    decrypt_1kib(c, &fixture);
    sign_ed25519(c, &fixture);
    sign_ecdsa_p256(c, &fixture);
    key_create_aes256(c, &fixture);
}

criterion_group!(benches, operations);
criterion_main!(benches);
