//! CEK-10: generation with aws-lc-rs, provenance on every version, every attempt audited,
//! weak and cross-environment requests refused.

use std::collections::BTreeMap;

use keystead_core::{Algorithm, AuditAction, Environment, Outcome, Purpose};
use keystead_service::ErrorKind;

use crate::harness::{request, Harness, NODE};

#[tokio::test]
async fn every_algorithm_generates_and_round_trips() {
    let h = Harness::dev().await;
    let s = &h.service;
    let c = &h.caller;
    let context: BTreeMap<String, String> = [("tenant".to_owned(), "acme".to_owned())].into();
    for algorithm in Algorithm::ALL {
        let name = format!("k-{algorithm}");
        let purpose = algorithm.purpose();
        let view = h.create(&name, purpose.as_str(), algorithm.as_str()).await;
        assert_eq!(view.attributes.algorithm, *algorithm);
        assert_eq!(view.primary_version, Some(1));
        match purpose {
            Purpose::Encrypt | Purpose::AsymmetricDecrypt => {
                let ct = s.encrypt(c, None, &name, b"hello", &context).await.unwrap();
                assert!(ct.starts_with(&format!("ks1:{}:v1:", view.attributes.id)), "{ct}");
                assert_eq!(
                    s.decrypt(c, &ct, &context).await.unwrap().plaintext.expose_secret(),
                    b"hello",
                    "{algorithm}"
                );
                assert_eq!(
                    s.decrypt(c, &ct, &BTreeMap::new()).await.unwrap_err().kind(),
                    ErrorKind::DecryptionFailed
                );
                if purpose == Purpose::Encrypt {
                    let data_key = s.generate_data_key(c, None, &name, &context).await.unwrap();
                    assert_eq!(data_key.plaintext.len(), 32);
                    let opened = s.decrypt(c, &data_key.ciphertext, &context).await.unwrap();
                    assert!(opened.plaintext.ct_eq(&data_key.plaintext));
                }
            }
            Purpose::Sign => {
                let sig = s.sign(c, None, &name, b"model weights").await.unwrap();
                assert!(s.verify(c, None, &name, b"model weights", &sig).await.unwrap(), "{algorithm}");
                assert!(!s.verify(c, None, &name, b"model weightz", &sig).await.unwrap());
            }
            Purpose::Mac => {
                let tag = s.mac(c, None, &name, b"token").await.unwrap();
                assert!(s.mac_verify(c, None, &name, b"token", &tag).await.unwrap());
                assert!(!s.mac_verify(c, None, &name, b"tokem", &tag).await.unwrap());
            }
            Purpose::Wrap => {
                let dek = keystead_service::SecretBytes::from_slice(&[7; 32]);
                let wrapped = s.wrap(c, None, &name, &dek).await.unwrap();
                assert!(s.unwrap(c, &wrapped).await.unwrap().ct_eq(&dek));
            }
        }
        if algorithm.is_asymmetric() {
            let pem = s.public_key(c, None, &name, None).await.unwrap();
            assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"), "{pem}");
        } else {
            assert_eq!(
                s.public_key(c, None, &name, None).await.unwrap_err().kind(),
                ErrorKind::InvalidArgument
            );
        }
    }
    let created = h.audit_of(AuditAction::KeyCreate).await;
    assert_eq!(created.len(), Algorithm::ALL.len());
    assert!(created.iter().all(|r| r.event.outcome == Outcome::Success));
}

#[tokio::test]
async fn provenance_is_recorded_on_every_version() {
    let h = Harness::dev().await;
    h.create("signer", "sign", "ecdsa-p384").await;
    h.service.rotate_key(&h.caller, None, "signer").await.unwrap();
    let view = h.service.rotate_key(&h.caller, None, "signer").await.unwrap();
    assert_eq!(view.versions.len(), 3);
    assert_eq!(view.primary_version, Some(3));
    let mut kcvs: Vec<&str> = view.versions.iter().map(|v| v.kcv.as_str()).collect();
    for v in &view.versions {
        let p = &v.provenance;
        assert_eq!(p.library, "aws-lc-rs");
        assert!(p.library_version.starts_with("1."), "{}", p.library_version);
        assert!(p.backend.starts_with("AWS-LC "), "{}", p.backend);
        assert_eq!(p.fips, keystead_crypto::fips_mode(), "provenance reports what the library says");
        assert!(p.rng.contains("CTR_DRBG") && p.rng.contains("SP 800-90A"), "{}", p.rng);
        assert!(!p.entropy_source.is_empty());
        assert_eq!(p.algorithm, Algorithm::EcdsaP384);
        assert_eq!(p.security_strength_bits, 192);
        assert_eq!(p.environment, Environment::Development);
        assert_eq!(p.node, NODE);
        assert_eq!(v.kcv.len(), 16);
        assert!(v.kcv.chars().all(|c| c.is_ascii_hexdigit()));
    }
    kcvs.dedup();
    assert_eq!(kcvs.len(), 3, "every version has its own KCV");
    // The JSON form exposes provenance under versions[].provenance.
    let json = serde_json::to_value(&view).unwrap();
    assert_eq!(json["versions"][2]["provenance"]["library"], "aws-lc-rs");
    assert_eq!(json["versions"][2]["provenance"]["security_strength_bits"], 192);
}

#[tokio::test]
async fn refused_generation_is_audited() {
    let h = Harness::dev().await;
    let cases = [
        (request("a", "encrypt", "aes-512-gcm"), ErrorKind::InvalidArgument, Outcome::Failed),
        (request("b", "sign", "aes-256-gcm"), ErrorKind::PolicyViolation, Outcome::Denied),
        (request("", "encrypt", "aes-256-gcm"), ErrorKind::InvalidArgument, Outcome::Failed),
        (request("c", "encipher", "aes-256-gcm"), ErrorKind::InvalidArgument, Outcome::Failed),
    ];
    for (req, kind, _) in &cases {
        let err = h.service.create_key(&h.caller, req.clone()).await.unwrap_err();
        assert_eq!(err.kind(), *kind, "{err}");
    }
    let events = h.audit_of(AuditAction::KeyCreate).await;
    assert_eq!(events.len(), cases.len());
    for (record, (req, kind, outcome)) in events.iter().zip(&cases) {
        let e = &record.event;
        assert_eq!(e.outcome, *outcome);
        assert_eq!(e.error_code.as_deref(), Some(kind.code()));
        assert_eq!(e.tenant, "default");
        assert_eq!(e.actor, "root");
        assert_eq!(e.node, NODE);
        assert_eq!(e.details.get("requested_algorithm"), Some(&req.algorithm));
        assert!(e.reason.as_deref().is_some_and(|r| !r.is_empty()));
    }
    assert_eq!(events[1].event.algorithm, Some(Algorithm::Aes256Gcm));
    assert!(h.service.list_keys(&h.caller, Default::default()).await.unwrap().is_empty());
}

#[tokio::test]
async fn weak_algorithms_are_refused_in_production() {
    let h = Harness::new(Environment::Production).await;
    let err = h.service.create_key(&h.caller, request("legacy", "sign", "rsa-2048-pss")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PolicyViolation);
    assert!(err.to_string().contains("112-bit"), "{err}");
    let events = h.audit_of(AuditAction::KeyCreate).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.outcome, Outcome::Denied);
    assert_eq!(events[0].event.algorithm, Some(Algorithm::Rsa2048Pss));
    h.create("modern", "sign", "rsa-3072-pss").await;
}

#[tokio::test]
async fn other_environment_keys_are_refused() {
    let h = Harness::dev().await;
    let mut req = request("prod-key", "encrypt", "aes-256-gcm");
    req.environment = Some("production".into());
    let err = h.service.create_key(&h.caller, req).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PolicyViolation);
    assert!(err.to_string().contains("production"), "{err}");
    let events = h.audit_of(AuditAction::KeyCreate).await;
    assert_eq!(events[0].event.outcome, Outcome::Denied);
}

#[tokio::test]
async fn store_of_another_environment_is_refused() {
    let h = Harness::dev().await;
    h.create("dev-key", "encrypt", "aes-256-gcm").await;
    let err = h.reopen(Environment::Production).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert!(err.to_string().contains("development"), "{err}");
    h.reopen(Environment::Development).await.expect("the right environment still starts");
}
