//! CEK-21 through the service: owners' reviews and who may record them, the review policy
//! marking keys overdue, and a key's history of status changes however busy the key is.

use std::collections::BTreeMap;

use keystead_core::{AuditAction, Outcome};
use keystead_service::{ErrorKind, InventoryRequest};

use crate::harness::{request, Harness};

#[tokio::test]
async fn the_owner_or_a_custodian_reviews_and_others_are_refused() {
    let h = Harness::dev().await;
    let alice = h.principal("alice", &["crypto-user"]).await;
    let bob = h.principal("bob", &["crypto-user"]).await;
    let custodian = h.principal("carol", &["key-custodian"]).await;
    let mut owned = request("alices-key", "encrypt", "aes-256-gcm");
    owned.owner = Some("alice".into());
    h.service.create_key(&h.caller, owned).await.unwrap();

    let review =
        h.service.review_key(&alice, None, "alices-key", "still used by the ranking service").await.unwrap();
    assert!(review.as_owner);
    let err = h.service.review_key(&bob, None, "alices-key", "looks fine").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
    assert!(err.to_string().contains("owner (alice)"), "{err}");
    let by_custodian =
        h.service.review_key(&custodian, None, "alices-key", "confirmed with the team").await.unwrap();
    assert!(!by_custodian.as_owner);
    let err = h.service.review_key(&alice, None, "alices-key", "  ").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");

    let reviews = h.audit_of(AuditAction::KeyReview).await;
    let outcomes: Vec<(String, Outcome)> =
        reviews.iter().map(|r| (r.event.actor.clone(), r.event.outcome)).collect();
    assert_eq!(
        outcomes,
        [
            ("alice".to_owned(), Outcome::Success),
            ("bob".into(), Outcome::Denied),
            ("carol".into(), Outcome::Success),
            ("alice".into(), Outcome::Failed),
        ]
    );
    assert_eq!(reviews[0].event.details["attestation"], "still used by the ranking service");
    let shown = h.service.show_key(&h.caller, None, "alices-key").await.unwrap();
    assert_eq!(shown.reviews.len(), 2);
}

#[tokio::test]
async fn the_review_policy_marks_keys_overdue_until_reviewed() {
    let h = Harness::dev().await;
    h.create("weights", "encrypt", "aes-256-gcm").await;
    let overdue = InventoryRequest { review_overdue: true, ..InventoryRequest::default() };
    let listed = h.service.inventory_list(&h.caller, overdue.clone()).await.unwrap();
    assert_eq!(listed.total, 0, "a new key is not overdue");

    h.advance(time::Duration::days(181));
    let listed = h.service.inventory_list(&h.caller, overdue.clone()).await.unwrap();
    let names: Vec<&str> = listed.keys.iter().map(|k| k.key.attributes.name.as_str()).collect();
    assert_eq!(names, ["weights"]);
    assert!(listed.keys[0].review_overdue);

    h.service.review_key(&h.caller, None, "weights", "reviewed with the owner").await.unwrap();
    assert_eq!(h.service.inventory_list(&h.caller, overdue).await.unwrap().total, 0);
    let all = h.service.inventory_list(&h.caller, InventoryRequest::default()).await.unwrap();
    let weights = all.keys.iter().find(|k| k.key.attributes.name.as_str() == "weights").unwrap();
    assert!(!weights.review_overdue);
    let review = weights.last_review.as_ref().unwrap();
    assert_eq!(weights.review_due_at, review.reviewed_at + time::Duration::days(180));
    assert_eq!(weights.last_review.as_ref().unwrap().attestation, "reviewed with the owner");

    let bad = InventoryRequest { sort: Some("size".into()), ..InventoryRequest::default() };
    assert_eq!(
        h.service.inventory_list(&h.caller, bad).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    let bad = InventoryRequest { created_before: Some("yesterday".into()), ..InventoryRequest::default() };
    assert_eq!(
        h.service.inventory_list(&h.caller, bad).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
}

#[tokio::test]
async fn history_shows_every_status_change_however_busy_the_key() {
    let h = Harness::dev().await;
    h.create("busy", "encrypt", "aes-256-gcm").await;
    h.service.suspend_key(&h.caller, None, "busy", None).await.unwrap();
    h.service.resume_key(&h.caller, None, "busy", None).await.unwrap();
    for _ in 0..1_100 {
        h.service.encrypt(&h.caller, None, "busy", b"x", &BTreeMap::new()).await.unwrap();
    }
    h.service.rotate_key(&h.caller, None, "busy").await.unwrap();
    let shown = h.service.show_key(&h.caller, None, "busy").await.unwrap();
    let actions: Vec<AuditAction> = shown.history.iter().map(|r| r.event.action).collect();
    assert_eq!(
        actions,
        [AuditAction::KeyCreate, AuditAction::KeySuspend, AuditAction::KeyResume, AuditAction::KeyRotate]
    );
    for record in &shown.history {
        assert_eq!(record.event.actor, "root");
        assert_eq!(record.event.source, "test");
    }
    let uses = h
        .service
        .audit_list(&h.caller, None, Some("busy"), None, None, Some(5_000))
        .await
        .unwrap()
        .iter()
        .filter(|r| r.event.action == AuditAction::Encrypt)
        .count();
    assert_eq!(uses, 1_100, "audit list --key shows the uses too");
}
