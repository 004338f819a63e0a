//! The compliance report's figures against a seeded store with known counts, and its status
//! turning when the evidence does (a protect operation with a compromised key, a key used
//! for two purposes, a broken audit chain).

use std::collections::BTreeMap;

use keystead_core::{AuditAction, AuditEvent, Outcome};
use keystead_service::report::compliance::{ComplianceReport, ControlAssessment, Status};
use keystead_service::{Caller, CompromiseReport, Justification, KeyView};
use keystead_store::{Change, SqlStore, Store};
use serde_json::Value;

use crate::harness::{request, Harness, NODE};

fn control<'a>(report: &'a ComplianceReport, id: &str) -> &'a ControlAssessment {
    report.controls.iter().find(|c| c.id == id).unwrap()
}

fn figure(control: &ControlAssessment, name: &str) -> Value {
    control
        .evidence
        .iter()
        .find(|e| e.name.starts_with(name))
        .unwrap_or_else(|| panic!("{}: no evidence {name}", control.id))
        .value
        .clone()
}

/// An event written straight into the store, as a bug or an insider with database access
/// would: the report must see what the service would never have allowed.
async fn forge(h: &Harness, key: &KeyView, action: AuditAction) {
    let store = SqlStore::open_sqlite(&h.db_path()).await.unwrap();
    let event = AuditEvent {
        occurred_at: time::OffsetDateTime::now_utc(),
        node: NODE.into(),
        actor: "app".into(),
        source: "forged".into(),
        tenant: "default".into(),
        action,
        outcome: Outcome::Success,
        key_id: Some(key.attributes.id),
        key_name: Some(key.attributes.name.to_string()),
        version: Some(1),
        algorithm: Some(key.attributes.algorithm),
        purpose: Some(key.attributes.purpose),
        error_code: None,
        reason: None,
        details: BTreeMap::new(),
    };
    store.commit(Change::AuditOnly, event).await.unwrap();
}

async fn seeded() -> (Harness, Caller, KeyView) {
    let h = Harness::dev().await;
    let custodian = h.principal("custodian", &["key-custodian"]).await;
    let prompts =
        h.service.create_key(&custodian, request("prompts", "encrypt", "aes-256-gcm")).await.unwrap();
    h.service.create_key(&custodian, request("release", "sign", "ed25519")).await.unwrap();
    let mut undeclared = request("scratch", "encrypt", "aes-256-gcm");
    undeclared.usage_context = None;
    h.service.create_key(&custodian, undeclared).await.unwrap();
    let none = BTreeMap::new();
    let ct = h.service.encrypt(&h.caller, None, "prompts", b"prompt", &none).await.unwrap();
    h.service.encrypt(&h.caller, None, "release", b"x", &none).await.unwrap_err();
    let report = CompromiseReport {
        version: None,
        incident: "INC-7".into(),
        occurred_at: (time::OffsetDateTime::now_utc() - time::Duration::hours(1))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
        reason: "leaked".into(),
    };
    h.service.compromise_key(&custodian, None, "prompts", report).await.unwrap();
    let responder = h.principal("responder", &["incident-responder"]).await;
    let justified =
        responder.with_justification(Some(Justification::new("restore prompts", &["store".into()]).unwrap()));
    h.service.decrypt(&justified, &ct, &none).await.unwrap();
    h.service.run_due_work().await.unwrap();
    let auditor = h.principal("auditor", &["auditor"]).await;
    (h, auditor, prompts)
}

#[tokio::test]
async fn figures_match_a_seeded_store() {
    let (h, auditor, _) = seeded().await;
    let report = h.service.compliance_report(&auditor, "json").await.unwrap();
    assert_eq!(
        report.controls.iter().map(|c| c.id).collect::<Vec<_>>(),
        ["CEK-10", "CEK-11", "CEK-19", "CEK-20", "CEK-21"]
    );

    // Three keys and the audit signing key, one version each.
    let generation = control(&report, "CEK-10");
    assert_eq!(figure(generation, "generated versions with complete provenance"), "100.0% (4 of 4)");
    assert_eq!(figure(generation, "versions below the minimum strength"), 0);
    assert_eq!(figure(generation, "key generations refused"), 0);
    assert_eq!(generation.status, Status::Met, "{}", generation.reason);

    let purpose = control(&report, "CEK-11");
    assert_eq!(figure(purpose, "keys used for more than one purpose"), 0);
    assert_eq!(figure(purpose, "keys without a declared usage context"), 1);
    assert_eq!(figure(purpose, "purpose violations refused"), 1);
    assert_eq!(purpose.status, Status::PartlyMet, "{}", purpose.reason);
    assert!(purpose.sample_next.iter().any(|s| s.contains("scratch")), "{:?}", purpose.sample_next);

    let compromise = control(&report, "CEK-19");
    assert_eq!(figure(compromise, "compromised versions"), 1);
    assert_eq!(figure(compromise, "protect operations with compromised versions outside"), 0);
    assert_eq!(figure(compromise, "decrypt-only uses"), 1);
    assert_eq!(figure(compromise, "of which justified"), 1);
    assert_eq!(compromise.status, Status::Met, "{}", compromise.reason);

    let recovery = control(&report, "CEK-20");
    assert_eq!(
        figure(recovery, "keys marked recoverable"),
        "50.0% (2 of 4)",
        "signing keys (release, the audit signing key) are replaced, not recovered"
    );
    assert!(figure(recovery, "last recovery drill").as_str().unwrap().starts_with("none"));
    assert_eq!(recovery.status, Status::PartlyMet);

    let inventory = control(&report, "CEK-21");
    assert_eq!(figure(inventory, "keys in the inventory"), 4);
    assert_eq!(figure(inventory, "audit chain intact"), true);
    assert_eq!(figure(inventory, "signed checkpoints verified"), 1);
    assert_eq!(figure(inventory, "keys with no owner"), 0);
    assert_eq!(inventory.status, Status::Met, "{}", inventory.reason);
    // The refused purpose violation raised a high-severity anomaly: evidence, and sampled first.
    assert_eq!(figure(inventory, "high-severity anomalies raised"), 1);
    assert!(
        inventory.sample_next.iter().any(|s| s.contains("purpose-violation, high")),
        "{:?}",
        inventory.sample_next
    );
    assert!(
        inventory.standards.contains(&"ISO/IEC 27001 A.8.24")
            && inventory.standards.contains(&"CCM v4 CEK-21")
    );

    let markdown = report.to_markdown();
    assert!(markdown.contains("| CEK-19 Key Compromise | **met** |"), "{markdown}");
    let html = report.to_html();
    assert!(html.contains("status-partly") && !html.contains("<script"));
    let audited = h.audit_of(AuditAction::ComplianceReport).await;
    assert_eq!(audited.last().unwrap().event.details["CEK-11"], "partly met");

    // A tenant-bound auditor and a crypto user may not read it.
    let app = h.principal("app", &["crypto-user"]).await;
    assert!(h.service.compliance_report(&app, "json").await.is_err());
}

#[tokio::test]
async fn the_status_turns_with_the_evidence() {
    let (h, auditor, prompts) = seeded().await;
    // A protect operation with the compromised version, outside any exception, and a use of
    // an encryption key for signing: neither could pass the service, both are in the log.
    forge(&h, &prompts, AuditAction::Encrypt).await;
    forge(&h, &prompts, AuditAction::Sign).await;
    let report = h.service.compliance_report(&auditor, "json").await.unwrap();
    let compromise = control(&report, "CEK-19");
    assert_eq!(
        figure(compromise, "protect operations with compromised versions outside"),
        2,
        "encrypt and sign"
    );
    assert_eq!(compromise.status, Status::NotMet);
    let purpose = control(&report, "CEK-11");
    assert_eq!(figure(purpose, "keys used for more than one purpose"), 1);
    assert_eq!(figure(purpose, "keys used outside their own purpose"), 1);
    assert_eq!(purpose.status, Status::NotMet);

    let pool = h.raw().await;
    sqlx::query("DROP TRIGGER audit_events_no_update").execute(&pool).await.unwrap();
    sqlx::query("UPDATE audit_events SET event_json = replace(event_json, 'INC-7', 'INC-8') WHERE action = 'key.compromise'")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let report = h.service.compliance_report(&auditor, "json").await.unwrap();
    let inventory = control(&report, "CEK-21");
    assert_eq!(inventory.status, Status::NotMet);
    assert!(inventory.reason.contains("broken"), "{}", inventory.reason);
}

/// Imported material is counted on its own under CEK-10 and never credited to AWS-LC.
#[tokio::test]
async fn imported_keys_are_counted_apart_under_key_generation() {
    use keystead_service::{ImportKeyRequest, ImportParamsRequest};
    let h = Harness::dev().await;
    h.create("generated", "encrypt", "aes-256-gcm").await;
    let mut pending = crate::harness::request("waiting", "encrypt", "aes-256-gcm");
    pending.origin = Some("external".into());
    h.service.create_key(&h.caller, pending).await.unwrap();
    let params = h
        .service
        .import_params(&h.caller, ImportParamsRequest { key: "own".into(), ..Default::default() })
        .await
        .unwrap();
    let wrapped = keystead_crypto::wrap_for_import(
        params.wrapping_algorithm,
        &params.public_key_der,
        &keystead_crypto::SecretBytes::from_slice(&[3; 32]),
    )
    .unwrap();
    let key = crate::harness::request("own", "encrypt", "aes-256-gcm");
    let request = ImportKeyRequest { token: params.token.into_bytes(), wrapped, key };
    h.service.import_key(&h.caller, request).await.unwrap();

    let auditor = h.principal("auditor", &["auditor"]).await;
    let report = h.service.compliance_report(&auditor, "json").await.unwrap();
    let generation = control(&report, "CEK-10");
    // The generated key alone (no checkpoint has made the audit signing key yet).
    assert_eq!(figure(generation, "generated versions with complete provenance"), "100.0% (1 of 1)");
    assert_eq!(figure(generation, "versions with imported material"), 1);
    assert_eq!(figure(generation, "external key versions waiting"), 1);
    assert_eq!(generation.status, Status::Met, "{}", generation.reason);
    assert!(generation.reason.contains("not attested"), "{}", generation.reason);
    let libraries = figure(generation, "generating libraries");
    assert!(!libraries.to_string().contains("external"), "{libraries}");
}
