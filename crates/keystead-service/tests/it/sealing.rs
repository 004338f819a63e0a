//! The shamir seal: init M-of-N, unseal by distinct shares, wrong and repeated shares, restart,
//! `operator seal`, and that no share or token reaches the audit log.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use keystead_core::{AuditAction, Environment, NodeName, Outcome};
use keystead_service::{Caller, Config, ErrorKind, InitOutput, SealSetup, Service};
use keystead_store::SqlStore;

async fn shamir_service(path: &Path) -> Result<Service, keystead_service::Error> {
    shamir_service_for(path, Environment::Production).await
}

async fn shamir_service_for(
    path: &Path,
    environment: Environment,
) -> Result<Service, keystead_service::Error> {
    let store = SqlStore::open_sqlite(path).await.expect("the store opens");
    Service::new(
        Arc::new(store),
        SealSetup::Shamir,
        Config::new(NodeName::new("seal-node").unwrap(), environment),
        keystead_service::system_clock(),
    )
    .await
}

fn share(init: &InitOutput, i: usize) -> String {
    init.shares[i].expose_secret().to_owned()
}

/// A share with valid format and check digits but a wrong value, as an operator holding a
/// share of the right store that was damaged (or forged) would present.
fn forged_share(init: &InitOutput, index: u8) -> String {
    use base64::Engine as _;
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0x5a; 32]);
    let body = format!("kss1.{}.{index}.{value}", init.seal_id);
    let check = hex::encode(&keystead_crypto::sha256(body.as_bytes())[..3]);
    format!("{body}.{check}")
}

async fn root_caller(service: &Service, init: &InitOutput) -> Caller {
    service.authenticate(Some(init.root_token.expose_secret()), "test").await.unwrap()
}

async fn unseal_with(service: &Service, shares: &[String]) {
    for share in shares {
        service.operator_unseal("test", share).await.unwrap();
    }
    assert!(!service.seal_status().sealed);
}

#[tokio::test]
async fn init_three_of_five_restart_and_unseal_with_any_three_shares() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keystead.db");
    let service = shamir_service(&path).await.unwrap();
    let status = service.seal_status();
    assert!(!status.initialized && status.sealed);
    assert_eq!(service.authenticate(Some("kst_x"), "t").await.unwrap_err().kind(), ErrorKind::NotInitialized);

    let init = service.operator_init("test", 5, 3).await.unwrap();
    assert_eq!(init.shares.len(), 5);
    let texts: Vec<String> = (0..5).map(|i| share(&init, i)).collect();
    for (i, text) in texts.iter().enumerate() {
        assert!(text.starts_with(&format!("kss1.{}.{}.", init.seal_id, i + 1)), "{text}");
        assert_eq!(texts.iter().filter(|t| *t == text).count(), 1, "shares are distinct");
    }
    // Initialized but sealed: the operators prove their shares before anything else.
    let status = service.seal_status();
    assert!(status.initialized && status.sealed);
    assert_eq!((status.threshold, status.shares, status.progress), (Some(3), Some(5), 0));
    let err = service.authenticate(Some(init.root_token.expose_secret()), "t").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Sealed);
    assert!(err.to_string().contains("0 of 3 unseal shares entered"), "{err}");
    let again = service.operator_init("test", 5, 3).await.unwrap_err();
    assert_eq!(again.kind(), ErrorKind::InvalidState);

    unseal_with(&service, &texts[0..3]).await;
    let root = root_caller(&service, &init).await;
    let mut request = crate::harness::request("data", "encrypt", "aes-256-gcm");
    request.environment = Some("production".into());
    service.create_key(&root, request).await.unwrap();
    let none = BTreeMap::new();
    let ciphertext = service.encrypt(&root, None, "data", b"model weights", &none).await.unwrap();
    drop(service);

    // Restart: sealed again; three other shares in another order open it.
    let service = shamir_service(&path).await.unwrap();
    assert!(service.seal_status().sealed && service.seal_status().initialized);
    unseal_with(&service, &[texts[4].clone(), texts[1].clone(), texts[3].clone()]).await;
    let root = root_caller(&service, &init).await;
    assert_eq!(
        service.decrypt(&root, &ciphertext, &none).await.unwrap().plaintext.expose_secret(),
        b"model weights"
    );

    // Nothing secret in the audit log: no share, no token.
    let audit = service.audit_list(&root, None, None, None, None, Some(10_000)).await.unwrap();
    let log = serde_json::to_string(&audit).unwrap();
    for text in &texts {
        let value = text.split('.').nth(3).unwrap();
        assert!(!log.contains(value), "a share value reached the audit log");
    }
    assert!(!log.contains(init.root_token.expose_secret()));
    let inits: Vec<_> = audit.iter().filter(|r| r.event.action == AuditAction::OperatorInit).collect();
    assert_eq!(inits.len(), 2, "the init and the refused second init");
    assert_eq!(inits[0].event.details["threshold"], "3");
    assert_eq!(inits[0].event.outcome, Outcome::Success);
    assert_eq!(inits[1].event.outcome, Outcome::Denied);
    let unseals: Vec<_> = audit.iter().filter(|r| r.event.action == AuditAction::OperatorUnseal).collect();
    assert_eq!(unseals.len(), 6, "one event per share entered");
    assert_eq!(unseals[5].event.details["progress"], "3/3");
    assert_eq!(unseals[5].event.details["result"], "unsealed");
    assert!(service.audit_verify(&root).await.unwrap().intact());
}

#[tokio::test]
async fn bad_init_parameters_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let service = shamir_service(&dir.path().join("keystead.db")).await.unwrap();
    for (shares, threshold) in [(3, 0), (3, 4), (0, 0), (3, 1)] {
        let err = service.operator_init("test", shares, threshold).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{shares}/{threshold}: {err}");
        assert!(!service.seal_status().initialized);
    }
    // One share alone is allowed (a single-operator lab), and works.
    let init = service.operator_init("test", 1, 1).await.unwrap();
    unseal_with(&service, &[share(&init, 0)]).await;
}

#[tokio::test]
async fn repeated_garbage_foreign_mistyped_and_wrong_shares_leave_it_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let service = shamir_service(&dir.path().join("keystead.db")).await.unwrap();
    let init = service.operator_init("test", 5, 3).await.unwrap();
    let other_dir = tempfile::tempdir().unwrap();
    let other = shamir_service(&other_dir.path().join("keystead.db")).await.unwrap();
    let foreign = other.operator_init("test", 5, 3).await.unwrap();

    service.operator_unseal("test", &share(&init, 0)).await.unwrap();
    let repeated = service.operator_unseal("test", &share(&init, 0)).await.unwrap_err();
    assert!(repeated.to_string().contains("share 1 was already entered"), "{repeated}");
    let garbage = service.operator_unseal("test", "kss1.SECRET-GARBAGE").await.unwrap_err();
    assert_eq!(garbage.kind(), ErrorKind::InvalidArgument);
    assert!(!garbage.to_string().contains("SECRET-GARBAGE"), "errors never echo a share: {garbage}");
    let from_elsewhere = service.operator_unseal("test", &share(&foreign, 1)).await.unwrap_err();
    assert!(from_elsewhere.to_string().contains("another Keystead store"), "{from_elsewhere}");
    let mut mistyped = share(&init, 1);
    let flipped = if mistyped.ends_with('a') { 'b' } else { 'a' };
    mistyped.pop();
    mistyped.push(flipped);
    let typo = service.operator_unseal("test", &mistyped).await.unwrap_err();
    assert!(typo.to_string().contains("check digits"), "{typo}");
    assert_eq!(service.seal_status().progress, 1, "refused shares do not count");

    // A well-formed share with valid check digits and this store's seal id, but a value that
    // was never issued (anyone can forge one; the seal id is public): refused on entry, and
    // the honest operators' progress is kept, so nobody can stall an unseal this way.
    service.operator_unseal("test", &share(&init, 1)).await.unwrap();
    let forged = service.operator_unseal("test", &forged_share(&init, 5)).await.unwrap_err();
    assert!(forged.to_string().contains("not the share issued"), "{forged}");
    let status = service.seal_status();
    assert!(status.sealed);
    assert_eq!(status.progress, 2, "a forged share does not spoil the progress");

    unseal_with(&service, &[share(&init, 4)]).await;
    let root = root_caller(&service, &init).await;
    let audit = service.audit_list(&root, None, None, None, None, Some(10_000)).await.unwrap();
    let refused = audit
        .iter()
        .filter(|r| r.event.action == AuditAction::OperatorUnseal && r.event.outcome != Outcome::Success)
        .count();
    assert_eq!(refused, 5, "every refused share is audited");
}

#[tokio::test]
async fn seal_drops_the_root_key_and_only_admins_and_responders_may_pull_it() {
    let dir = tempfile::tempdir().unwrap();
    let service = shamir_service(&dir.path().join("keystead.db")).await.unwrap();
    let init = service.operator_init("test", 3, 2).await.unwrap();
    unseal_with(&service, &[share(&init, 0), share(&init, 2)]).await;
    let root = root_caller(&service, &init).await;
    let mut principals = BTreeMap::new();
    for role in ["crypto-user", "incident-responder", "key-custodian"] {
        let created = service.create_principal(&root, role, &[role.to_owned()], None).await.unwrap();
        principals.insert(role, created.token.expose_secret().to_owned());
    }
    let custodian = service.authenticate(Some(&principals["key-custodian"]), "t").await.unwrap();
    let mut request = crate::harness::request("data", "encrypt", "aes-256-gcm");
    request.environment = Some("production".into());
    service.create_key(&custodian, request).await.unwrap();
    let none = BTreeMap::new();
    service.encrypt(&root, None, "data", b"x", &none).await.unwrap();

    let user = service.authenticate(Some(&principals["crypto-user"]), "t").await.unwrap();
    let denied = service.operator_seal(&user).await.unwrap_err();
    assert_eq!(denied.kind(), ErrorKind::PermissionDenied);
    let responder = service.authenticate(Some(&principals["incident-responder"]), "t").await.unwrap();
    let status = service.operator_seal(&responder).await.unwrap();
    assert!(status.sealed && status.progress == 0);
    // Sealed: even a held caller cannot use a key (the cache was dropped with the root key).
    let err = service.encrypt(&root, None, "data", b"x", &none).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Sealed, "{err}");
    assert_eq!(
        service.authenticate(Some(&principals["crypto-user"]), "t").await.unwrap_err().kind(),
        ErrorKind::Sealed
    );

    unseal_with(&service, &[share(&init, 1), share(&init, 0)]).await;
    service.encrypt(&root, None, "data", b"x", &none).await.unwrap();
    let audit = service.audit_list(&root, None, None, None, None, Some(10_000)).await.unwrap();
    let seals: Vec<_> = audit.iter().filter(|r| r.event.action == AuditAction::OperatorSeal).collect();
    assert_eq!(seals.len(), 2);
    assert_eq!((seals[0].event.outcome, seals[0].event.actor.as_str()), (Outcome::Denied, "crypto-user"));
    assert_eq!(
        (seals[1].event.outcome, seals[1].event.actor.as_str()),
        (Outcome::Success, "incident-responder")
    );
}

#[tokio::test]
async fn a_store_keeps_the_seal_it_was_initialized_with() {
    let h = crate::harness::Harness::dev().await;
    let path = h.db_path();
    drop(h.service);
    let err = shamir_service_for(&path, Environment::Development).await.unwrap_err();
    assert!(err.to_string().contains("initialized with the file seal"), "{err}");
}

/// A store initialized before share digests were kept: shares are checked only when combined,
/// so a forged one is caught there, the progress resets, and genuine shares still unseal.
#[tokio::test]
async fn without_share_digests_a_wrong_combination_resets_and_real_shares_unseal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keystead.db");
    let service = shamir_service(&path).await.unwrap();
    let init = service.operator_init("test", 5, 3).await.unwrap();
    drop(service);
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let removed =
        sqlx::query("DELETE FROM meta WHERE name = 'seal_share_digests'").execute(&raw).await.unwrap();
    assert_eq!(removed.rows_affected(), 1);
    raw.close().await;

    let service = shamir_service(&path).await.unwrap();
    service.operator_unseal("test", &share(&init, 0)).await.unwrap();
    service.operator_unseal("test", &share(&init, 1)).await.unwrap();
    let wrong = service.operator_unseal("test", &forged_share(&init, 5)).await.unwrap_err();
    assert!(wrong.to_string().contains("do not open the root key"), "{wrong}");
    let status = service.seal_status();
    assert!(status.sealed);
    assert_eq!(status.progress, 0, "a failed combination resets the progress");
    unseal_with(&service, &[share(&init, 2), share(&init, 3), share(&init, 4)]).await;
}
