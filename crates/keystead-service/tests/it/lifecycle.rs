//! Rotation, activation and deactivation, the cache, and the audit chain across them.

use std::collections::BTreeMap;

use keystead_core::{AuditAction, KeyState, Outcome};
use keystead_service::ErrorKind;

use crate::harness::{request, Harness, NODE};

#[tokio::test]
async fn rotation_keeps_old_ciphertexts() {
    let h = Harness::dev().await;
    let ctx: BTreeMap<String, String> = [("tenant".to_owned(), "acme".to_owned())].into();
    let key = h.create("prompts", "encrypt", "aes-256-gcm").await;
    let v1 = h.service.encrypt(&h.caller, None, "prompts", b"old", &ctx).await.unwrap();
    let rotated = h.service.rotate_key(&h.caller, None, "prompts").await.unwrap();
    assert_eq!(rotated.primary_version, Some(2));
    let v2 = h.service.encrypt(&h.caller, None, "prompts", b"new", &ctx).await.unwrap();
    assert!(v1.contains(":v1:") && v2.contains(":v2:"), "{v1} {v2}");
    // Also reachable by id.
    let by_id =
        h.service.encrypt(&h.caller, None, &key.attributes.id.to_string(), b"id", &ctx).await.unwrap();
    assert!(by_id.contains(":v2:"));

    let h = h.restart().await;
    assert_eq!(h.service.decrypt(&h.caller, &v1, &ctx).await.unwrap().plaintext.expose_secret(), b"old");
    assert_eq!(h.service.decrypt(&h.caller, &v2, &ctx).await.unwrap().plaintext.expose_secret(), b"new");

    let report = h.service.audit_verify(&h.caller).await.unwrap();
    assert!(report.intact(), "{report:?}");
    let rotations = h.audit_of(AuditAction::KeyRotate).await;
    assert_eq!(rotations.len(), 1);
    assert_eq!((rotations[0].event.version, rotations[0].event.node.as_str()), (Some(2), NODE));
}

#[tokio::test]
async fn pre_active_and_deactivated_states_are_enforced() {
    let h = Harness::dev().await;
    let s = &h.service;
    let c = &h.caller;
    let none = BTreeMap::new();
    let mut req = request("staged", "encrypt", "chacha20-poly1305");
    req.pre_active = true;
    let view = s.create_key(c, req).await.unwrap();
    assert_eq!(view.versions[0].state, KeyState::PreActive);
    assert_eq!(view.primary_version, None);
    let err = s.encrypt(c, None, "staged", b"x", &none).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert!(err.to_string().contains("pre-active"), "{err}");

    s.activate_key(c, None, "staged", None).await.unwrap();
    let ct = s.encrypt(c, None, "staged", b"x", &none).await.unwrap();

    let view = s.deactivate_key(c, None, "staged", None).await.unwrap();
    assert_eq!(view.versions[0].state, KeyState::Deactivated);
    assert!(view.versions[0].deactivated_at.is_some());
    let err = s.encrypt(c, None, "staged", b"y", &none).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState, "{err}");
    assert_eq!(
        s.decrypt(c, &ct, &none).await.unwrap().plaintext.expose_secret(),
        b"x",
        "deactivated keys still decrypt"
    );

    // Deactivated is final for activation: the transition table refuses it, and says so.
    let err = s.activate_key(c, None, "staged", Some(1)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    let last = h.audit_of(AuditAction::KeyActivate).await.pop().unwrap();
    assert_eq!(last.event.outcome, Outcome::Denied);

    // Signing keys: deactivated versions verify but do not sign.
    h.create("signer", "sign", "ed25519").await;
    let sig = s.sign(c, None, "signer", b"m").await.unwrap();
    s.deactivate_key(c, None, "signer", Some(1)).await.unwrap();
    assert!(s.verify(c, None, "signer", b"m", &sig).await.unwrap());
    assert_eq!(s.sign(c, None, "signer", b"m").await.unwrap_err().kind(), ErrorKind::InvalidState);
    // Rotation brings the key back into service with a new active version.
    s.rotate_key(c, None, "signer").await.unwrap();
    assert!(s.sign(c, None, "signer", b"m").await.unwrap().contains(":v2:"));
}

#[tokio::test]
async fn hot_path_uses_the_cache_and_changes_invalidate_it() {
    let h = Harness::dev().await;
    let none = BTreeMap::new();
    h.create("hot", "encrypt", "aes-256-gcm").await;
    h.create("other", "encrypt", "aes-256-gcm").await;
    h.service.encrypt(&h.caller, None, "hot", b"warm", &none).await.unwrap();

    // Corrupt the stored material behind the service's back.
    let pool = h.raw().await;
    sqlx::query("UPDATE key_versions SET sealed_material = (SELECT sealed_material FROM key_versions v JOIN keys k ON k.id = v.key_id WHERE k.name = 'other') WHERE key_id = (SELECT id FROM keys WHERE name = 'hot')")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;

    // The cached key serves without reading the database...
    h.service.encrypt(&h.caller, None, "hot", b"cached", &none).await.expect("served from the cache");
    // ...and a change of the key drops the cache entry, so the next use re-reads and refuses it.
    h.service.rotate_key(&h.caller, None, "hot").await.unwrap();
    let err = h.service.encrypt(&h.caller, None, "hot", b"x", &none).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::IntegrityFailure, "{err}");
}
