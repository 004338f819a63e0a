//! CEK-11: the purpose (and tenant, id, version, algorithm, environment, KCV, provenance) is
//! bound into the sealed material. Editing a row in the SQLite file makes the service refuse
//! the key instead of obeying the edited row.

use std::collections::BTreeMap;

use keystead_core::{AuditAction, Environment, Outcome};
use keystead_service::ErrorKind;

use crate::harness::Harness;

async fn exec(h: &Harness, sql: &str) {
    let pool = h.raw().await;
    let done = sqlx::query(sql).execute(&pool).await.expect("the edit applies");
    assert!(done.rows_affected() >= 1, "{sql} changed nothing");
    pool.close().await;
}

#[tokio::test]
async fn edited_purpose_is_refused() {
    let h = Harness::dev().await;
    h.create("victim", "encrypt", "aes-256-gcm").await;
    let ct = h.service.encrypt(&h.caller, None, "victim", b"hello", &BTreeMap::new()).await.unwrap();
    exec(&h, "UPDATE keys SET purpose = 'sign', algorithm = 'ed25519' WHERE name = 'victim'").await;
    let h = h.restart().await;
    let err = h.service.sign(&h.caller, None, "victim", b"forged").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IntegrityFailure, "{err}");
    let err = h.service.decrypt(&h.caller, &ct, &BTreeMap::new()).await.unwrap_err();
    // Decrypt is not allowed for the edited purpose; either way the key is not used.
    assert!(matches!(err.kind(), ErrorKind::IntegrityFailure | ErrorKind::PurposeViolation), "{err}");
    let last = h.audit_of(AuditAction::Sign).await.pop().unwrap();
    assert_eq!(last.event.outcome, Outcome::Denied);
    assert_eq!(last.event.error_code.as_deref(), Some("integrity_failure"));
}

#[tokio::test]
async fn edited_purpose_keeping_algorithm_is_refused() {
    let h = Harness::dev().await;
    h.create("tagger", "mac", "hmac-sha256").await;
    exec(&h, "UPDATE keys SET purpose = 'encrypt' WHERE name = 'tagger'").await;
    let h = h.restart().await;
    let err = h.service.encrypt(&h.caller, None, "tagger", b"x", &BTreeMap::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IntegrityFailure, "{err}");
}

#[tokio::test]
async fn swapped_material_is_refused() {
    let h = Harness::dev().await;
    let a = h.create("alpha", "encrypt", "aes-256-gcm").await;
    let b = h.create("beta", "encrypt", "aes-256-gcm").await;
    exec(
        &h,
        &format!(
            "UPDATE key_versions SET sealed_material = (SELECT sealed_material FROM key_versions WHERE key_id = '{}') WHERE key_id = '{}'",
            b.attributes.id, a.attributes.id
        ),
    )
    .await;
    let h = h.restart().await;
    let err = h.service.encrypt(&h.caller, None, "alpha", b"x", &BTreeMap::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IntegrityFailure, "{err}");
    h.service
        .encrypt(&h.caller, None, "beta", b"x", &BTreeMap::new())
        .await
        .expect("the untouched key still works");
}

#[tokio::test]
async fn edited_environment_is_refused() {
    let h = Harness::dev().await;
    h.create("dev-only", "encrypt", "aes-256-gcm").await;
    // Relabel the whole store and the key as test, and start a test server on it.
    exec(&h, "UPDATE meta SET value = 'test' WHERE name = 'environment'").await;
    exec(&h, "UPDATE keys SET environment = 'test' WHERE name = 'dev-only'").await;
    let service = h.reopen(Environment::Test).await.expect("the relabelled store starts as test");
    let err = service.encrypt(&h.caller, None, "dev-only", b"x", &BTreeMap::new()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IntegrityFailure, "{err}");
}

#[tokio::test]
async fn edited_provenance_is_refused() {
    let h = Harness::dev().await;
    h.create("claims-fips", "sign", "ecdsa-p256").await;
    exec(&h, r#"UPDATE key_versions SET provenance = replace(provenance, '"fips":false', '"fips":true')"#)
        .await;
    let h = h.restart().await;
    let shown = h.service.show_key(&h.caller, None, "claims-fips").await.unwrap();
    assert!(shown.versions[0].provenance.fips, "the edit is visible in the metadata");
    let err = h.service.sign(&h.caller, None, "claims-fips", b"x").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IntegrityFailure, "{err}");
}
