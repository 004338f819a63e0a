//! Bring your own key through the service: import parameters, imports into new and external
//! keys, every refusal the issue lists (each changes nothing and is audited), deletion of
//! imported material and the same-material rule for re-imports.

use std::collections::BTreeMap;

use keystead_core::{AuditAction, KeyState, Outcome, WrappingAlgorithm};
use keystead_crypto::{wrap_for_import, SecretBytes};
use keystead_service::{ErrorKind, ImportKeyRequest, ImportParamsRequest, ImportParamsView};

use crate::harness::{request, Harness};

async fn params(h: &Harness, key: &str, algorithm: Option<&str>) -> ImportParamsView {
    let request = ImportParamsRequest {
        key: key.into(),
        wrapping_algorithm: algorithm.map(Into::into),
        ..Default::default()
    };
    h.service.import_params(&h.caller, request).await.unwrap()
}

fn wrapped(params: &ImportParamsView, material: &[u8]) -> Vec<u8> {
    wrap_for_import(params.wrapping_algorithm, &params.public_key_der, &SecretBytes::from_slice(material))
        .unwrap()
}

fn import(
    key: &str,
    params: &ImportParamsView,
    wrapped: Vec<u8>,
    purpose: &str,
    algorithm: &str,
) -> ImportKeyRequest {
    let mut key = request(key, purpose, algorithm);
    key.usage_context = None;
    key.owner = None;
    ImportKeyRequest { token: params.token.clone().into_bytes(), wrapped, key }
}

#[tokio::test]
async fn material_imported_into_a_new_key_encrypts_and_says_where_it_came_from() {
    let h = Harness::dev().await;
    let p = params(&h, "byok", None).await;
    assert!(p.key_id.is_none(), "a new key: no id yet");
    assert!(p.token.starts_with("ksit_"));
    assert_eq!(p.wrapping_algorithm, WrappingAlgorithm::RsaOaepSha256);
    let material = [9u8; 32];
    let view = h
        .service
        .import_key(&h.caller, import("byok", &p, wrapped(&p, &material), "encrypt", "aes-256-gcm"))
        .await
        .unwrap();
    let version = &view.versions[0];
    assert_eq!(version.state, KeyState::Active);
    assert_eq!(view.attributes.origin.as_str(), "external");
    assert_eq!(version.provenance.origin.as_str(), "external");
    let mark = version.provenance.imported.as_ref().expect("import mark");
    assert_eq!(mark.attestation, "generated outside Keystead: not attested");
    assert_eq!(mark.imported_by, h.caller.principal);
    assert_ne!(version.provenance.library, "aws-lc-rs", "never credited to AWS-LC");
    let expected_kcv = keystead_crypto::LoadedKey::load(
        keystead_core::Algorithm::Aes256Gcm,
        &SecretBytes::from_slice(&material),
    )
    .unwrap()
    .kcv()
    .unwrap();
    assert_eq!(version.kcv, expected_kcv);

    let context = BTreeMap::new();
    let ciphertext = h.service.encrypt(&h.caller, None, "byok", b"hello", &context).await.unwrap();
    let plain = h.service.decrypt(&h.caller, &ciphertext, &context).await.unwrap();
    assert_eq!(plain.plaintext.expose_secret(), b"hello");

    let rotate = h.service.rotate_key(&h.caller, None, "byok").await.unwrap_err();
    assert!(rotate.to_string().contains("imported material"), "{rotate}");
    let imports = h.audit_of(AuditAction::KeyImport).await;
    assert_eq!(imports.len(), 1);
    assert_eq!(imports[0].event.outcome, Outcome::Success);
    assert_eq!(imports[0].event.details["kcv"], expected_kcv);
}

#[tokio::test]
async fn an_external_key_waits_refuses_use_and_takes_back_only_its_own_material() {
    let h = Harness::dev().await;
    let mut create = request("ext", "sign", "rsa-2048-pss");
    create.origin = Some("external".into());
    let created = h.service.create_key(&h.caller, create).await.unwrap();
    assert_eq!(created.versions[0].state, KeyState::PendingImport);
    let err = h.service.sign(&h.caller, None, "ext", b"m").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState, "{err}");

    let rsa = keystead_crypto::generate(keystead_core::Algorithm::Rsa2048Pss).unwrap();
    // RSA private keys do not fit RSA-OAEP: the token must ask for the AES key wrap.
    let p = params(&h, "ext", None).await;
    let too_big = wrap_for_import(WrappingAlgorithm::RsaOaepSha256, &p.public_key_der, &rsa.material);
    assert!(too_big.is_err());
    let p = params(&h, "ext", Some("rsa-aes-kw-sha256")).await;
    assert_eq!(p.key_id, Some(created.attributes.id));
    let w = wrap_for_import(p.wrapping_algorithm, &p.public_key_der, &rsa.material).unwrap();
    let view = h.service.import_key(&h.caller, import("ext", &p, w, "", "")).await.unwrap();
    assert_eq!(view.versions[0].kcv, rsa.kcv);
    h.service.sign(&h.caller, None, "ext", b"m").await.unwrap();

    // Delete Keystead's copy: pending again, use refused, then only the same material returns.
    let view = h.service.delete_imported_material(&h.caller, None, "ext").await.unwrap();
    assert_eq!(view.versions[0].state, KeyState::PendingImport);
    assert_eq!(view.versions[0].kcv, rsa.kcv, "the KCV stays to check a re-import");
    assert!(h.service.sign(&h.caller, None, "ext", b"m").await.is_err());

    let other = keystead_crypto::generate(keystead_core::Algorithm::Rsa2048Pss).unwrap();
    let p = params(&h, "ext", Some("rsa-aes-kw-sha256")).await;
    let w = wrap_for_import(p.wrapping_algorithm, &p.public_key_der, &other.material).unwrap();
    let err = h.service.import_key(&h.caller, import("ext", &p, w, "", "")).await.unwrap_err();
    assert!(err.to_string().contains(&rsa.kcv), "{err}");
    let w = wrap_for_import(p.wrapping_algorithm, &p.public_key_der, &rsa.material).unwrap();
    let view = h.service.import_key(&h.caller, import("ext", &p, w, "", "")).await.unwrap();
    assert_eq!(view.versions[0].state, KeyState::Active);
    h.service.sign(&h.caller, None, "ext", b"m").await.unwrap();
}

#[tokio::test]
async fn every_bad_import_is_refused_audited_and_changes_nothing() {
    let h = Harness::dev().await;
    let material = [5u8; 32];
    let p = params(&h, "target", None).await;
    let other = params(&h, "elsewhere", None).await;
    let before = h.audit_of(AuditAction::KeyImport).await.len();

    let mut cases: Vec<(&str, ImportKeyRequest, &str)> = Vec::new();
    let mut unknown = import("target", &p, wrapped(&p, &material), "encrypt", "aes-256-gcm");
    unknown.token = format!("ksit_{}", "0".repeat(32)).into_bytes();
    cases.push(("unknown token", unknown, "no such import token"));
    let mut garbage = import("target", &p, wrapped(&p, &material), "encrypt", "aes-256-gcm");
    garbage.token = b"not-a-token".to_vec();
    cases.push(("malformed token", garbage, "not an import token"));
    cases.push((
        "token of another key",
        import("target", &other, wrapped(&other, &material), "encrypt", "aes-256-gcm"),
        "issued for a new key named elsewhere",
    ));
    cases.push((
        "material wrapped for another token",
        import("target", &p, wrapped(&other, &material), "encrypt", "aes-256-gcm"),
        "does not decrypt",
    ));
    cases.push((
        "wrong-size material",
        import("target", &p, wrapped(&p, &[5u8; 16]), "encrypt", "aes-256-gcm"),
        "16 bytes that are not 32 raw bytes",
    ));
    cases.push((
        "material of another algorithm",
        import("target", &p, wrapped(&p, &material), "sign", "ecdsa-p256"),
        "does not fit ecdsa-p256",
    ));
    for (what, request, expected) in cases {
        let err = h.service.import_key(&h.caller, request).await.expect_err(what);
        assert!(err.to_string().contains(expected), "{what}: {err}");
        assert!(h.service.show_key(&h.caller, None, "target").await.is_err(), "{what}: no key was created");
    }
    let refusals = h.audit_of(AuditAction::KeyImport).await;
    assert_eq!(refusals.len(), before + 6, "each refusal is audited");
    assert!(refusals.iter().all(|r| r.event.outcome != Outcome::Success));

    // The token still works after the refusals (nothing consumed it), then never again.
    let good = import("target", &p, wrapped(&p, &material), "encrypt", "aes-256-gcm");
    h.service.import_key(&h.caller, good.clone()).await.unwrap();
    h.service.delete_imported_material(&h.caller, None, "target").await.unwrap();
    let err = h
        .service
        .import_key(&h.caller, import("target", &p, wrapped(&p, &material), "", ""))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("used at"), "{err}");

    // Expired: 24 hours and a second later.
    let late = params(&h, "target", None).await;
    h.advance(time::Duration::hours(24) + time::Duration::seconds(1));
    let err = h
        .service
        .import_key(&h.caller, import("target", &late, wrapped(&late, &material), "", ""))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expired"), "{err}");
    let view = h.service.show_key(&h.caller, None, "target").await.unwrap();
    assert_eq!(view.versions[0].state, KeyState::PendingImport, "refusals changed nothing");
}

#[tokio::test]
async fn generated_keys_take_no_imported_material() {
    let h = Harness::dev().await;
    h.create("native", "encrypt", "aes-256-gcm").await;
    let err = h
        .service
        .import_params(&h.caller, ImportParamsRequest { key: "native".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert!(err.to_string().contains("origin generated"), "{err}");
    let err = h.service.delete_imported_material(&h.caller, None, "native").await.unwrap_err();
    assert!(err.to_string().contains("origin generated"), "{err}");
}

/// A deactivated version is retired: deleting its material and importing it again must not
/// bring it back to active. A key scheduled for destruction takes no import.
#[tokio::test]
async fn imports_never_revive_retired_or_doomed_versions() {
    let h = Harness::dev().await;
    let material = [7u8; 32];
    let p = params(&h, "retired", None).await;
    h.service
        .import_key(&h.caller, import("retired", &p, wrapped(&p, &material), "encrypt", "aes-256-gcm"))
        .await
        .unwrap();
    h.service.deactivate_key(&h.caller, None, "retired", None).await.unwrap();
    let err = h.service.delete_imported_material(&h.caller, None, "retired").await.unwrap_err();
    assert!(err.to_string().contains("no imported material to delete"), "{err}");
    let view = h.service.show_key(&h.caller, None, "retired").await.unwrap();
    assert_eq!(view.versions[0].state, KeyState::Deactivated);

    let mut create = request("doomed", "encrypt", "aes-256-gcm");
    create.origin = Some("external".into());
    h.service.create_key(&h.caller, create).await.unwrap();
    let early = params(&h, "doomed", None).await;
    let custodians =
        [h.principal("kc1", &["key-custodian"]).await, h.principal("kc2", &["key-custodian"]).await];
    let request = keystead_service::DestroyRequest { after: Some("7d".into()), ..Default::default() };
    let approval = h.service.request_destruction(&h.caller, None, "doomed", request).await.unwrap();
    for custodian in &custodians {
        h.service.vote_approval(custodian, &approval.record.id, true, None).await.unwrap();
    }
    let refused = h
        .service
        .import_params(&h.caller, ImportParamsRequest { key: "doomed".into(), ..Default::default() })
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("scheduled for destruction"), "{refused}");
    let err = h
        .service
        .import_key(&h.caller, import("doomed", &early, wrapped(&early, &material), "", ""))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("scheduled for destruction"), "{err}");
    let view = h.service.show_key(&h.caller, None, "doomed").await.unwrap();
    assert_eq!(view.versions[0].state, KeyState::PendingImport);
    assert!(view.versions[0].destroy_at.is_some());
}
