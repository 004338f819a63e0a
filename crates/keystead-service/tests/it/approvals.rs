//! Quorum approvals through the service: destruction (scheduled, cancellable, tombstone),
//! self-approval, duplicate and ineligible approvers, rejection and expiry as final, and the
//! compromised-key exception window.

use std::collections::BTreeMap;

use keystead_core::approval::ApprovalStatus;
use keystead_core::{AuditAction, KeyState, Outcome};
use keystead_service::{CompromiseReport, DestroyRequest, ErrorKind, ExceptionRequest};

use crate::harness::Harness;

fn destroy_in(after: &str) -> DestroyRequest {
    DestroyRequest {
        after: Some(after.into()),
        justification: Some("retired model".into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn destruction_needs_two_other_custodians_then_waits_and_leaves_a_tombstone() {
    let h = Harness::dev().await;
    let s = &h.service;
    let none = BTreeMap::new();
    let kc1 = h.principal("kc1", &["key-custodian"]).await;
    let kc2 = h.principal("kc2", &["key-custodian"]).await;
    let kc3 = h.principal("kc3", &["key-custodian"]).await;
    let app = h.principal("app", &["crypto-user"]).await;
    let created = h.create("old-model", "encrypt", "aes-256-gcm").await;
    let ct = s.encrypt(&h.caller, None, "old-model", b"weights", &none).await.unwrap();

    // An active version cannot be destroyed: deactivate first.
    let err = s.request_destruction(&kc1, None, "old-model", destroy_in("1h")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState, "{err}");
    s.deactivate_key(&kc1, None, "old-model", None).await.unwrap();
    // The waiting period has a floor (1 s in development) and a parsable value.
    assert_eq!(
        s.request_destruction(&kc1, None, "old-model", destroy_in("soon")).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );

    let request = s.request_destruction(&kc1, None, "old-model", destroy_in("1h")).await.unwrap();
    let id = request.record.id.clone();
    assert_eq!(request.record.status, ApprovalStatus::Pending);
    assert_eq!(request.still_needed.values().sum::<u32>(), 2);
    // A second request while one is pending is refused.
    assert_eq!(
        s.request_destruction(&kc2, None, "old-model", destroy_in("1h")).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );

    // The requester cannot approve; a crypto user is not eligible; nobody votes twice.
    let err = s.vote_approval(&kc1, &id, true, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert!(err.to_string().contains("made this request"), "{err}");
    let err = s.vote_approval(&app, &id, true, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert!(err.to_string().contains("still needed: 2 key-custodian"), "{err}");
    // The root principal holds no role and does not count either.
    assert_eq!(
        s.vote_approval(&h.caller, &id, true, None).await.unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
    let one = s.vote_approval(&kc2, &id, true, Some("checked the inventory")).await.unwrap();
    assert_eq!((one.record.status, one.still_needed.values().sum::<u32>()), (ApprovalStatus::Pending, 1));
    assert_eq!(s.vote_approval(&kc2, &id, true, None).await.unwrap_err().kind(), ErrorKind::Conflict);
    let done = s.vote_approval(&kc3, &id, true, None).await.unwrap();
    assert_eq!(done.record.status, ApprovalStatus::Approved);
    assert_eq!(done.record.votes.iter().map(|v| v.principal.as_str()).collect::<Vec<_>>(), ["kc2", "kc3"]);
    // Decided is final.
    assert_eq!(
        s.vote_approval(&kc3, &id, false, Some("no")).await.unwrap_err().kind(),
        ErrorKind::InvalidState
    );

    // Scheduled, not yet run: the material is still there.
    let key = s.show_key(&h.caller, None, "old-model").await.unwrap();
    assert!(key.versions[0].destroy_at.is_some());
    s.run_due_work().await.unwrap();
    assert_eq!(s.decrypt(&h.caller, &ct, &none).await.unwrap().plaintext.expose_secret(), b"weights");

    h.advance(time::Duration::hours(1) + time::Duration::seconds(1));
    s.run_due_work().await.unwrap();
    let tombstone = s.show_key(&h.caller, None, "old-model").await.unwrap();
    let version = &tombstone.versions[0];
    assert_eq!(version.state, KeyState::Destroyed);
    assert!(version.destroyed_at.is_some() && version.destroy_at.is_none());
    assert_eq!(version.kcv, created.versions[0].kcv, "metadata kept");
    assert_eq!(version.provenance, created.versions[0].provenance);
    let actions: Vec<_> = tombstone.history.iter().map(|r| r.event.action).collect();
    for action in [
        AuditAction::KeyCreate,
        AuditAction::KeyDestroyRequest,
        AuditAction::ApprovalApprove,
        AuditAction::KeyDestroy,
    ] {
        assert!(actions.contains(&action), "history keeps {action}: {actions:?}");
    }
    let sealed: Option<Vec<u8>> =
        sqlx::query_scalar("SELECT sealed_material FROM key_versions WHERE key_id = ?")
            .bind(created.attributes.id.to_string())
            .fetch_one(&h.raw().await)
            .await
            .unwrap();
    assert_eq!(sealed, None, "the material row is gone");
    let err = s.decrypt(&h.caller, &ct, &none).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert!(err.to_string().contains("destroyed"), "{err}");
    // Destroyed keys are still listed (the tombstone is inventory).
    assert!(s.list_keys(&h.caller, Default::default()).await.unwrap().iter().any(|k| k
        .attributes
        .name
        .as_str()
        == "old-model"));
}

#[tokio::test]
async fn a_scheduled_destruction_can_be_cancelled_until_it_runs() {
    let h = Harness::dev().await;
    let s = &h.service;
    let kc1 = h.principal("kc1", &["key-custodian"]).await;
    let kc2 = h.principal("kc2", &["key-custodian"]).await;
    let kc3 = h.principal("kc3", &["key-custodian"]).await;
    let mut request = crate::harness::request("staged", "encrypt", "aes-256-gcm");
    request.pre_active = true;
    s.create_key(&h.caller, request).await.unwrap();
    let id = s.request_destruction(&kc1, None, "staged", destroy_in("1h")).await.unwrap().record.id;
    assert_eq!(
        s.cancel_destruction(&kc1, None, "staged", None).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument,
        "nothing scheduled yet"
    );
    s.vote_approval(&kc2, &id, true, None).await.unwrap();
    s.vote_approval(&kc3, &id, true, None).await.unwrap();
    // A version waiting for destruction is not put back into use.
    let err = s.activate_key(&kc1, None, "staged", None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("--cancel"), "{err}");
    let cancelled = s.cancel_destruction(&kc1, None, "staged", None).await.unwrap();
    assert!(cancelled.versions[0].destroy_at.is_none());
    h.advance(time::Duration::hours(2));
    s.run_due_work().await.unwrap();
    assert_eq!(s.show_key(&h.caller, None, "staged").await.unwrap().versions[0].state, KeyState::PreActive);
    s.activate_key(&kc1, None, "staged", None).await.unwrap();
    let cancels = h.audit_of(AuditAction::KeyDestroyCancel).await;
    let outcomes: Vec<_> = cancels.iter().map(|r| r.event.outcome).collect();
    assert_eq!(outcomes, [Outcome::Failed, Outcome::Success], "the early cancel is refused and audited");
}

/// Two approvals at the same moment: neither is decided on a stale read, so the request ends
/// approved (and its destruction scheduled) instead of full of votes but still pending.
#[tokio::test]
async fn concurrent_approvals_complete_the_quorum() {
    let h = Harness::dev().await;
    let s = &h.service;
    let kc1 = h.principal("kc1", &["key-custodian"]).await;
    let kc2 = h.principal("kc2", &["key-custodian"]).await;
    let kc3 = h.principal("kc3", &["key-custodian"]).await;
    for round in 0..5 {
        let name = format!("k{round}");
        let mut request = crate::harness::request(&name, "encrypt", "aes-256-gcm");
        request.pre_active = true;
        s.create_key(&h.caller, request).await.unwrap();
        let id = s.request_destruction(&kc1, None, &name, destroy_in("1h")).await.unwrap().record.id;
        let (a, b) =
            tokio::join!(s.vote_approval(&kc2, &id, true, None), s.vote_approval(&kc3, &id, true, None));
        a.unwrap();
        b.unwrap();
        let decided = s.show_approval(&kc1, &id).await.unwrap();
        assert_eq!(
            (decided.record.status, decided.record.votes.len()),
            (ApprovalStatus::Approved, 2),
            "round {round}"
        );
        assert!(s.show_key(&h.caller, None, &name).await.unwrap().versions[0].destroy_at.is_some());
    }
}

#[tokio::test]
async fn rejections_and_expiries_are_final() {
    let h = Harness::dev().await;
    let s = &h.service;
    let kc1 = h.principal("kc1", &["key-custodian"]).await;
    let kc2 = h.principal("kc2", &["key-custodian"]).await;
    let kc3 = h.principal("kc3", &["key-custodian"]).await;
    for name in ["a", "b"] {
        let mut request = crate::harness::request(name, "encrypt", "aes-256-gcm");
        request.pre_active = true;
        s.create_key(&h.caller, request).await.unwrap();
    }
    let rejected = s.request_destruction(&kc1, None, "a", destroy_in("1h")).await.unwrap().record.id;
    assert_eq!(
        s.vote_approval(&kc2, &rejected, false, None).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument,
        "a rejection needs a reason"
    );
    let view =
        s.vote_approval(&kc2, &rejected, false, Some("still in use by the eval pipeline")).await.unwrap();
    assert_eq!(view.record.status, ApprovalStatus::Rejected);
    let err = s.vote_approval(&kc3, &rejected, true, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert!(err.to_string().contains("rejected"), "{err}");

    let mut short = destroy_in("1h");
    short.expires_in = Some("60s".into());
    let expiring = s.request_destruction(&kc1, None, "b", short).await.unwrap().record.id;
    // A request may not outlive the configured TTL.
    let mut long = destroy_in("1h");
    long.expires_in = Some("30d".into());
    assert_eq!(
        s.request_destruction(&kc1, None, "a", long).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );
    s.vote_approval(&kc2, &expiring, true, None).await.unwrap();
    h.advance(time::Duration::seconds(61));
    assert_eq!(s.show_approval(&kc1, &expiring).await.unwrap().record.status, ApprovalStatus::Expired);
    let err = s.vote_approval(&kc3, &expiring, true, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert!(err.to_string().contains("expired"), "{err}");
    s.run_due_work().await.unwrap();
    let expired = h.audit_of(AuditAction::ApprovalExpire).await;
    assert_eq!(expired.len(), 1, "recorded once, by the vote that found it expired");
    assert_eq!(expired[0].event.details["approval_id"], expiring);
    let pending = s.list_approvals(&kc1, Some("pending")).await.unwrap();
    assert!(pending.is_empty(), "{pending:?}");
    // Every step is audited, refusals included.
    let votes = h.audit_of(AuditAction::ApprovalApprove).await;
    assert!(votes.iter().any(|r| r.event.outcome == Outcome::Denied));
    assert!(votes.iter().any(|r| r.event.outcome == Outcome::Success));
}

#[tokio::test]
async fn an_exception_window_opens_for_its_requester_only_and_closes_by_itself() {
    let h = Harness::dev().await;
    let s = &h.service;
    let none = BTreeMap::new();
    h.create("legacy-logs", "encrypt", "aes-256-gcm").await;
    let app = h.principal("app", &["crypto-user"]).await;
    let other = h.principal("other-app", &["crypto-user"]).await;
    h.grant("app", "legacy-logs", &["encrypt", "decrypt", "datakey"]).await;
    h.grant("other-app", "legacy-logs", &["encrypt", "decrypt"]).await;
    let ir = h.principal("ir", &["incident-responder"]).await;
    let kc = h.principal("kc", &["key-custodian"]).await;
    let kc2 = h.principal("kc2", &["key-custodian"]).await;
    let report = CompromiseReport {
        version: None,
        incident: "INC-9".into(),
        occurred_at: "2026-01-01T00:00:00Z".into(),
        reason: "HSM backup stolen".into(),
    };
    s.compromise_key(&ir, None, "legacy-logs", report).await.unwrap();

    let ask = |duration: &str| ExceptionRequest {
        operation: "encrypt".into(),
        duration: duration.into(),
        justification: "legacy log shipper cannot switch keys before Friday".into(),
        ..Default::default()
    };
    assert_eq!(
        s.request_exception(&app, None, "legacy-logs", ask("48h")).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument,
        "longer than the maximum"
    );
    assert_eq!(
        s.request_exception(&ir, None, "legacy-logs", ask("1h")).await.unwrap_err().kind(),
        ErrorKind::PermissionDenied,
        "responders never protect"
    );
    let mut process = ask("1h");
    process.operation = "decrypt".into();
    assert_eq!(
        s.request_exception(&app, None, "legacy-logs", process).await.unwrap_err().kind(),
        ErrorKind::InvalidArgument
    );

    let id = s.request_exception(&app, None, "legacy-logs", ask("1h")).await.unwrap().record.id;
    // Not open before approval; two custodians do not make the quorum (one responder needed).
    assert_eq!(
        s.encrypt(&app, None, "legacy-logs", b"x", &none).await.unwrap_err().kind(),
        ErrorKind::KeyCompromised
    );
    s.vote_approval(&kc, &id, true, None).await.unwrap();
    let err = s.vote_approval(&kc2, &id, true, None).await.unwrap_err();
    assert!(err.to_string().contains("1 incident-responder"), "{err}");
    let approved = s.vote_approval(&ir, &id, true, None).await.unwrap();
    assert_eq!(approved.record.status, ApprovalStatus::Approved);
    assert!(approved.window_closes_at.is_some());

    let ct = s.encrypt(&app, None, "legacy-logs", b"shipped", &none).await.unwrap();
    assert!(ct.contains(":v1:"));
    let exceptional = h
        .audit_of(AuditAction::Encrypt)
        .await
        .into_iter()
        .rfind(|r| r.event.outcome == Outcome::Success)
        .unwrap();
    assert_eq!(exceptional.event.details["exceptional_use"], "true");
    assert_eq!(exceptional.event.details["exception"], id);
    // Only the requester, only the approved operation.
    assert_eq!(
        s.encrypt(&other, None, "legacy-logs", b"x", &none).await.unwrap_err().kind(),
        ErrorKind::KeyCompromised
    );
    assert_eq!(
        s.generate_data_key(&app, None, "legacy-logs", &none).await.unwrap_err().kind(),
        ErrorKind::KeyCompromised
    );

    h.advance(time::Duration::hours(1) + time::Duration::seconds(1));
    assert_eq!(
        s.encrypt(&app, None, "legacy-logs", b"x", &none).await.unwrap_err().kind(),
        ErrorKind::KeyCompromised,
        "closed by itself"
    );
    s.run_due_work().await.unwrap();
    assert_eq!(s.show_approval(&app, &id).await.unwrap().record.status, ApprovalStatus::Closed);
    assert_eq!(h.audit_of(AuditAction::ExceptionClose).await.len(), 1);
}
