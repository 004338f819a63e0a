//! Each anomaly rule fires on a crafted sequence of requests and stays quiet on a benign one;
//! every finding is a record, an audit event, a metric and a webhook notification, raised once.

use std::collections::BTreeMap;
use std::sync::Arc;

use keystead_core::{AuditAction, Environment};
use keystead_service::{AnomalyRecord, Caller, CompromiseReport, Config, Justification};

use crate::harness::{Harness, Tweak};

async fn scan(h: &Harness) -> Vec<AnomalyRecord> {
    h.service.detect_anomalies().await.unwrap();
    h.service.list_anomalies(&h.caller, None, None, None).await.unwrap()
}

fn rules_of(found: &[AnomalyRecord]) -> Vec<&str> {
    let mut rules: Vec<&str> = found.iter().map(|a| a.rule.as_str()).collect();
    rules.sort_unstable();
    rules
}

fn report() -> CompromiseReport {
    CompromiseReport {
        version: None,
        incident: "INC-9".into(),
        occurred_at: (time::OffsetDateTime::now_utc() - time::Duration::hours(1))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
        reason: "found in a public repository".into(),
    }
}

/// A custodian who created `names`, and an application allowed to use them.
async fn setting(h: &Harness, names: &[(&str, &str, &str)]) -> (Caller, Caller) {
    let custodian = h.principal("custodian", &["key-custodian"]).await;
    let app = h.principal("app", &["crypto-user"]).await;
    for (name, purpose, algorithm) in names {
        h.service.create_key(&custodian, crate::harness::request(name, purpose, algorithm)).await.unwrap();
        let ops: &[&str] = if *purpose == "sign" { &["sign", "verify"] } else { &["encrypt", "decrypt"] };
        h.grant("app", name, ops).await;
    }
    (custodian, app)
}

#[tokio::test]
async fn a_benign_day_raises_nothing() {
    let h = Harness::dev().await;
    let (custodian, app) = setting(&h, &[("weights", "encrypt", "aes-256-gcm")]).await;
    let none = BTreeMap::new();
    for _ in 0..20 {
        let ct = h.service.encrypt(&app, None, "weights", b"model", &none).await.unwrap();
        h.service.decrypt(&app, &ct, &none).await.unwrap();
    }
    h.service.rotate_key(&custodian, None, "weights").await.unwrap();
    h.service.suspend_key(&custodian, None, "weights", None).await.unwrap();
    h.service.resume_key(&custodian, None, "weights", None).await.unwrap();
    h.service.review_key(&custodian, None, "weights", "still needed").await.unwrap();
    // A few denials, below the burst threshold.
    for _ in 0..3 {
        h.service.encrypt(&custodian, None, "weights", b"x", &none).await.unwrap_err();
    }
    // The custodian who manages the key reports its compromise: familiar, not an anomaly.
    h.service.compromise_key(&custodian, None, "weights", report()).await.unwrap();
    assert_eq!(rules_of(&scan(&h).await), Vec::<&str>::new());
    assert!(h.service.anomaly_counts().is_empty());
}

#[tokio::test]
async fn purpose_violations_and_compromised_key_uses_are_raised_once() {
    let h = Harness::dev().await;
    let (custodian, app) =
        setting(&h, &[("signer", "sign", "ed25519"), ("prompts", "encrypt", "aes-256-gcm")]).await;
    let none = BTreeMap::new();
    // A grant cannot name an operation outside the purpose, so the request that reaches the
    // purpose check is one without a grant check: the root principal's.
    h.service.encrypt(&h.caller, None, "signer", b"x", &none).await.unwrap_err();
    let ct = h.service.encrypt(&app, None, "prompts", b"prompt", &none).await.unwrap();
    h.service.compromise_key(&custodian, None, "prompts", report()).await.unwrap();
    h.service.encrypt(&app, None, "prompts", b"more", &none).await.unwrap_err();
    let responder = h.principal("responder", &["incident-responder"]).await;
    let justified = responder.clone().with_justification(Some(
        Justification::new("restore prompts for INC-9", &["prompt-store".into()]).unwrap(),
    ));
    h.service.decrypt(&justified, &ct, &none).await.unwrap();

    let found = scan(&h).await;
    assert_eq!(rules_of(&found), ["compromised-key-use", "compromised-key-use", "purpose-violation"]);
    let violation = found.iter().find(|a| a.rule == "purpose-violation").unwrap();
    assert_eq!((violation.severity.as_str(), violation.actor.as_str()), ("high", "root"));
    assert!(violation.summary.contains("signer"), "{}", violation.summary);
    let severities: Vec<(&str, &str)> = found
        .iter()
        .filter(|a| a.rule == "compromised-key-use")
        .map(|a| (a.actor.as_str(), a.severity.as_str()))
        .collect();
    assert!(
        severities.contains(&("app", "high")) && severities.contains(&("responder", "medium")),
        "{severities:?}"
    );

    // Scanning again (or from another node) raises nothing twice.
    assert_eq!(scan(&h).await.len(), 3);
    assert_eq!(h.service.anomaly_counts().get("compromised-key-use"), Some(&2));
    let audited = h.audit_of(AuditAction::AnomalyDetected).await;
    assert_eq!(audited.len(), 3);
    assert!(audited.iter().all(|r| r.event.actor == "keystead" && r.event.details.contains_key("rule")));
}

#[tokio::test]
async fn compromise_or_destruction_by_a_stranger_to_the_key_is_raised() {
    let h = Harness::dev().await;
    let (_custodian, _app) = setting(&h, &[("weights", "encrypt", "aes-256-gcm")]).await;
    let stranger = h.principal("stranger", &["key-custodian"]).await;
    let hook = h
        .service
        .add_webhook(&h.caller, "https://hooks.example/anomalies", &["anomaly.detected".into()])
        .await;
    assert!(hook.is_ok(), "{hook:?}");
    h.service.compromise_key(&stranger, None, "weights", report()).await.unwrap();
    let found = scan(&h).await;
    assert_eq!(rules_of(&found), ["unfamiliar-destroyer"]);
    assert_eq!(found[0].actor, "stranger");
    assert!(found[0].summary.contains("never managed"), "{}", found[0].summary);
    let queued = h.service.list_deliveries(&h.caller, None).await.unwrap();
    assert_eq!(queued.len(), 1, "the webhook event is queued with the anomaly");
    assert_eq!(queued[0].event_type, "anomaly.detected");
}

#[tokio::test]
async fn a_burst_of_denials_from_one_principal_is_raised() {
    let tweak: Tweak = Arc::new(|config: &mut Config| config.anomaly_rules.denial_burst = Some((4, 60)));
    let h = Harness::with(Environment::Development, tweak).await;
    let (custodian, _app) = setting(&h, &[("weights", "encrypt", "aes-256-gcm")]).await;
    let prober = h.principal("prober", &["crypto-user"]).await;
    let none = BTreeMap::new();
    for _ in 0..3 {
        h.service.encrypt(&prober, None, "weights", b"x", &none).await.unwrap_err();
    }
    h.service.encrypt(&custodian, None, "weights", b"x", &none).await.unwrap_err();
    assert_eq!(scan(&h).await.len(), 0, "three of prober's and one of another principal's");
    for _ in 0..3 {
        h.service.encrypt(&prober, None, "weights", b"x", &none).await.unwrap_err();
    }
    let found = scan(&h).await;
    assert_eq!(rules_of(&found), ["denial-burst"], "one finding per principal and window");
    assert_eq!(found[0].actor, "prober");
    assert_eq!(found[0].evidence.get("denied").map(String::as_str), Some("4"));
}

#[tokio::test]
async fn use_past_the_cryptoperiod_is_raised_once_a_day() {
    let h = Harness::dev().await;
    let (custodian, app) = setting(&h, &[]).await;
    let mut request = crate::harness::request("short-lived", "encrypt", "aes-256-gcm");
    request.rotation_period = Some("1d".into());
    h.service.create_key(&custodian, request).await.unwrap();
    h.grant("app", "short-lived", &["encrypt"]).await;
    let none = BTreeMap::new();
    h.service.encrypt(&app, None, "short-lived", b"x", &none).await.unwrap();
    assert_eq!(scan(&h).await.len(), 0, "within the period");
    // The scheduler did not rotate (it is not run here): the version is used past its period.
    h.advance(time::Duration::days(2));
    for _ in 0..3 {
        h.service.encrypt(&app, None, "short-lived", b"x", &none).await.unwrap();
    }
    let found = scan(&h).await;
    assert_eq!(rules_of(&found), ["past-cryptoperiod-use"]);
    assert!(found[0].summary.contains("rotation period"), "{}", found[0].summary);
}

#[tokio::test]
async fn lifecycle_changes_outside_the_change_window_are_raised() {
    let today = time::OffsetDateTime::now_utc().weekday().number_days_from_monday();
    let day =
        |offset: u8| ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][usize::from((today + offset) % 7)];
    let window = format!("{} 00:00-24:00", day(3));
    let tweak: Tweak = Arc::new(move |config: &mut Config| {
        config.anomaly_rules.change_window = Some(window.parse().unwrap());
    });
    let h = Harness::with(Environment::Development, tweak).await;
    let (custodian, _) = setting(&h, &[("weights", "encrypt", "aes-256-gcm")]).await;
    h.service.rotate_key(&custodian, None, "weights").await.unwrap();
    let found = scan(&h).await;
    assert_eq!(rules_of(&found), ["outside-change-window", "outside-change-window"], "create and rotate");
    assert!(found.iter().all(|a| a.actor == "custodian"));

    let inside = format!("{} 00:00-24:00", day(0));
    let tweak: Tweak = Arc::new(move |config: &mut Config| {
        config.anomaly_rules.change_window = Some(inside.parse().unwrap());
    });
    let h = Harness::with(Environment::Development, tweak).await;
    let (custodian, _) = setting(&h, &[("weights", "encrypt", "aes-256-gcm")]).await;
    h.service.rotate_key(&custodian, None, "weights").await.unwrap();
    assert_eq!(scan(&h).await.len(), 0, "inside the window");
}

#[tokio::test]
async fn a_crypto_user_asking_outside_the_purpose_is_a_purpose_violation() {
    let h = Harness::dev().await;
    let (_, app) = setting(&h, &[("release", "sign", "ed25519")]).await;
    // Refused at the grant check (no grant can name encrypt on a signing key).
    let err = h.service.encrypt(&app, None, "release", b"x", &BTreeMap::new()).await.unwrap_err();
    assert_eq!(err.kind(), keystead_service::ErrorKind::PermissionDenied, "{err}");
    // A plain permission refusal inside the purpose is not one.
    let stranger = h.principal("stranger", &["crypto-user"]).await;
    h.service.sign(&stranger, None, "release", b"x").await.unwrap_err();
    let found = scan(&h).await;
    assert_eq!(rules_of(&found), ["purpose-violation"]);
    assert_eq!(found[0].actor, "app");
}
