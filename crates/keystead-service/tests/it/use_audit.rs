//! Every successful key use is in the audit log before its result is handed back, and
//! concurrent uses share transactions without losing or reordering a chain link.

use std::collections::BTreeMap;
use std::sync::Arc;

use keystead_core::{AuditAction, Outcome};

use crate::harness::Harness;

#[tokio::test]
async fn every_successful_use_is_audited_with_its_key_and_version() {
    let h = Harness::dev().await;
    let (s, c) = (&h.service, &h.caller);
    let key = h.create("prompts", "encrypt", "aes-256-gcm").await;
    let context = BTreeMap::from([("tenant".to_owned(), "acme".to_owned())]);
    let ciphertext = s.encrypt(c, None, "prompts", b"hello", &context).await.unwrap();
    s.decrypt(c, &ciphertext, &context).await.unwrap();
    let signer = h.create("signer", "sign", "ed25519").await;
    let signature = s.sign(c, None, "signer", b"model").await.unwrap();
    assert!(s.verify(c, None, "signer", b"model", &signature).await.unwrap());

    for (action, key_id) in [
        (AuditAction::Encrypt, key.attributes.id),
        (AuditAction::Decrypt, key.attributes.id),
        (AuditAction::Sign, signer.attributes.id),
        (AuditAction::Verify, signer.attributes.id),
    ] {
        let events = h.audit_of(action).await;
        assert_eq!(events.len(), 1, "{action}: {events:?}");
        let event = &events[0].event;
        assert_eq!((event.outcome, event.key_id, event.version), (Outcome::Success, Some(key_id), Some(1)));
        assert_eq!(event.actor, c.principal);
    }
}

#[tokio::test]
async fn concurrent_uses_are_each_audited_once_in_an_intact_chain() {
    let h = Harness::dev().await;
    h.create("prompts", "encrypt", "aes-256-gcm").await;
    let service = Arc::new(h.service);
    let caller = h.caller.clone();
    let mut tasks = Vec::new();
    for i in 0..200u32 {
        let (service, caller) = (service.clone(), caller.clone());
        tasks.push(tokio::spawn(async move {
            service.encrypt(&caller, None, "prompts", &i.to_be_bytes(), &BTreeMap::new()).await.unwrap()
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let encrypts = service
        .audit_list(&caller, None, None, None, None, Some(10_000))
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.event.action == AuditAction::Encrypt && r.event.outcome == Outcome::Success)
        .count();
    assert_eq!(encrypts, 200);
    let report = service.audit_verify(&caller).await.unwrap();
    assert!(report.breaks.is_empty(), "{report:?}");
}

/// The store fails part-way through batches (a trigger refuses every seventh chain position,
/// so a batch holding one fails after some of its rows went in): every batch is all or
/// nothing, no caller gets a result whose use is not stored, and the use counters agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_use_is_never_answered_unless_its_event_is_stored() {
    let h = Harness::dev().await;
    let key = h.create("prompts", "encrypt", "aes-256-gcm").await;
    let pool = h.raw().await;
    sqlx::query(
        "CREATE TRIGGER refuse_some BEFORE INSERT ON audit_events \
         WHEN NEW.action = 'crypto.encrypt' AND NEW.node_seq % 7 = 0 \
         BEGIN SELECT RAISE(ABORT, 'disk trouble'); END",
    )
    .execute(&pool)
    .await
    .unwrap();
    let service = Arc::new(h.service);
    let caller = h.caller.clone();
    let mut tasks = Vec::new();
    for i in 0..300u32 {
        let (service, caller) = (service.clone(), caller.clone());
        tasks.push(tokio::spawn(async move {
            service.encrypt(&caller, None, "prompts", &i.to_be_bytes(), &BTreeMap::new()).await
        }));
    }
    let mut answered = 0;
    let mut withheld = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => answered += 1,
            Err(err) => {
                assert_eq!(err.kind(), keystead_service::ErrorKind::Internal, "{err}");
                withheld += 1;
            }
        }
    }
    assert!(withheld > 0, "the store refused some batches");
    sqlx::query("DROP TRIGGER refuse_some").execute(&pool).await.unwrap();
    let stored = service
        .audit_list(&caller, None, None, None, None, Some(10_000))
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.event.action == AuditAction::Encrypt && r.event.outcome == Outcome::Success)
        .count();
    assert_eq!(stored, answered, "exactly the answered uses are stored ({withheld} withheld)");
    let shown = service.show_key(&caller, None, "prompts").await.unwrap();
    assert_eq!(shown.usage[0].uses, u64::try_from(answered).unwrap(), "counters move with their events");
    assert_eq!(shown.attributes.id, key.attributes.id);
    let report = service.audit_verify(&caller).await.unwrap();
    assert!(report.breaks.is_empty(), "{report:?}");
}
