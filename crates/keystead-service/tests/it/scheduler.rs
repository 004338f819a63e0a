//! Cryptoperiods on the injectable clock: rotation periods rotate, originator-usage periods
//! deactivate, each audited with its trigger; notifications are queued with the change.

use std::collections::BTreeMap;

use keystead_core::{AuditAction, KeyState};
use keystead_service::ErrorKind;

use crate::harness::{request, Harness};

#[tokio::test]
async fn rotation_and_originator_usage_periods_act_on_their_own() {
    let h = Harness::dev().await;
    let s = &h.service;
    let none = BTreeMap::new();
    let mut rotating = request("rotating", "encrypt", "aes-256-gcm");
    rotating.rotation_period = Some("30d".into());
    s.create_key(&h.caller, rotating).await.unwrap();
    // A version that stopped protecting before the next rotation would leave the key unusable.
    let mut unusable = request("unusable", "encrypt", "aes-256-gcm");
    unusable.rotation_period = Some("90d".into());
    unusable.protect_period = Some("30d".into());
    assert_eq!(s.create_key(&h.caller, unusable).await.unwrap_err().kind(), ErrorKind::InvalidArgument);
    let mut too_long = request("too-long", "encrypt", "aes-256-gcm");
    too_long.rotation_period = Some("3000000d".into());
    assert_eq!(s.create_key(&h.caller, too_long).await.unwrap_err().kind(), ErrorKind::InvalidArgument);
    let mut expiring = request("expiring", "encrypt", "aes-256-gcm");
    expiring.protect_period = Some("7d".into());
    s.create_key(&h.caller, expiring).await.unwrap();
    let old = s.encrypt(&h.caller, None, "expiring", b"old", &none).await.unwrap();

    h.advance(time::Duration::days(6));
    s.run_due_work().await.unwrap();
    assert_eq!(s.show_key(&h.caller, None, "expiring").await.unwrap().versions[0].state, KeyState::Active);

    h.advance(time::Duration::days(2));
    s.run_due_work().await.unwrap();
    let expired = s.show_key(&h.caller, None, "expiring").await.unwrap();
    assert_eq!(expired.versions[0].state, KeyState::Deactivated);
    let err = s.encrypt(&h.caller, None, "expiring", b"x", &none).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert_eq!(
        s.decrypt(&h.caller, &old, &none).await.unwrap().plaintext.expose_secret(),
        b"old",
        "still processes"
    );
    let deactivation = h.audit_of(AuditAction::KeyDeactivate).await.pop().unwrap();
    assert_eq!(
        (deactivation.event.actor.as_str(), deactivation.event.details["trigger"].as_str()),
        ("keystead", "originator-usage period ended")
    );

    assert_eq!(s.show_key(&h.caller, None, "rotating").await.unwrap().versions.len(), 1);
    h.advance(time::Duration::days(23));
    s.run_due_work().await.unwrap();
    s.run_due_work().await.unwrap();
    let rotated = s.show_key(&h.caller, None, "rotating").await.unwrap();
    assert_eq!(rotated.versions.len(), 2, "rotated once, not on every run");
    assert_eq!(rotated.primary_version, Some(2));
    let rotation = h.audit_of(AuditAction::KeyRotate).await.pop().unwrap();
    assert_eq!(rotation.event.details["trigger"], "rotation period");
}

#[tokio::test]
async fn notifications_are_queued_with_their_change_for_subscribed_webhooks_only() {
    let h = Harness::dev().await;
    let s = &h.service;
    let admin = h.principal("admin", &["admin"]).await;
    let added = s
        .add_webhook(
            &admin,
            "http://127.0.0.1:9/hook/T0KEN?sig=abc",
            &["key.compromised".into(), "approval.*".into()],
        )
        .await
        .unwrap();
    // The audit event keeps the origin only: a path or query may be the receiver's secret.
    let recorded = h.audit_of(AuditAction::WebhookAdd).await.pop().unwrap().event;
    assert_eq!(recorded.details["url_origin"], "http://127.0.0.1:9");
    assert!(!serde_json::to_string(&recorded).unwrap().contains("T0KEN"));
    let secret = String::from_utf8(added.secret.expose_secret().to_vec()).unwrap();
    assert!(secret.starts_with("whsec_") && secret.len() == 6 + 64);
    // Bad input changes nothing.
    for (url, events) in [
        ("ftp://x", vec!["key.rotated"]),
        ("http://u:p@127.0.0.1/", vec!["key.rotated"]),
        ("http://127.0.0.1/", vec!["key.exploded"]),
    ] {
        let events: Vec<String> = events.into_iter().map(str::to_owned).collect();
        assert_eq!(
            s.add_webhook(&admin, url, &events).await.unwrap_err().kind(),
            ErrorKind::InvalidArgument,
            "{url}"
        );
    }
    assert_eq!(
        s.add_webhook(&h.principal("kc", &["key-custodian"]).await, "http://127.0.0.1/", &["*".into()])
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::PermissionDenied
    );

    // Webhooks span tenants: a tenant-confined admin can neither add nor read them.
    let roles = vec!["admin".to_owned()];
    let confined = s.create_principal(&h.caller, "acme-admin", &roles, Some("acme")).await.unwrap();
    let confined = s.authenticate(Some(confined.token.expose_secret()), "test").await.unwrap();
    assert_eq!(s.list_webhooks(&confined).await.unwrap_err().kind(), ErrorKind::PermissionDenied);
    assert_eq!(s.list_deliveries(&confined, None).await.unwrap_err().kind(), ErrorKind::PermissionDenied);
    assert_eq!(
        s.add_webhook(&confined, "http://127.0.0.1/", &["*".into()]).await.unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );

    h.create("k", "encrypt", "aes-256-gcm").await;
    s.rotate_key(&h.caller, None, "k").await.unwrap();
    let report = keystead_service::CompromiseReport {
        version: Some(1),
        incident: "INC-1".into(),
        occurred_at: "2026-01-01T00:00:00Z".into(),
        reason: "r".into(),
    };
    s.compromise_key(&h.caller, None, "k", report).await.unwrap();
    let deliveries = s.list_deliveries(&admin, None).await.unwrap();
    assert_eq!(
        deliveries.iter().map(|d| d.event_type.as_str()).collect::<Vec<_>>(),
        ["key.compromised"],
        "rotation not subscribed"
    );
    let body: serde_json::Value = serde_json::from_str(&deliveries[0].body).unwrap();
    assert_eq!(body["type"], "key.compromised");
    assert_eq!(body["key_name"], "k");
    assert_eq!(body["details"]["incident"], "INC-1");
    assert_eq!(deliveries[0].status, "pending");
    let listed = s.list_webhooks(&admin).await.unwrap();
    assert_eq!((listed.len(), listed[0].pending), (1, 1));
}
