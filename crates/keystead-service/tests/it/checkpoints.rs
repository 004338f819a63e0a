//! CEK-21 tamper evidence: signed checkpoints over the audit chain. Someone with write access
//! to the database can rewrite an event and recompute every hash after it; the checkpoint
//! signature, made with a key only the service can use, still catches it.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use keystead_core::checkpoint::{SIGNING_KEY_NAME, SIGNING_USAGE_CONTEXT};
use keystead_core::{AuditAction, Environment};
use keystead_service::{ChainReport, Config, ErrorKind, ExportLine};
use keystead_store::chain::{link, GENESIS};
use keystead_store::export::{verify_export, PublicKeys};

use crate::harness::{request, Harness, NODE};

/// Rewrites `node_seq`'s event with `edit` and, like a careful attacker, recomputes every
/// later link so the plain hash chain is intact again.
async fn rewrite_and_relink(h: &Harness, node_seq: i64, edit: impl Fn(&str) -> String) {
    let pool = h.raw().await;
    sqlx::query("DROP TRIGGER IF EXISTS audit_events_no_update").execute(&pool).await.unwrap();
    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT node_seq, event_json FROM audit_events WHERE node = ?1 ORDER BY node_seq")
            .bind(NODE)
            .fetch_all(&pool)
            .await
            .unwrap();
    let mut prev = GENESIS.to_owned();
    for (seq, json) in rows {
        let json = if seq == node_seq { edit(&json) } else { json };
        let hash = link(&prev, json.as_bytes());
        if seq >= node_seq {
            sqlx::query("UPDATE audit_events SET event_json = ?1, prev_hash = ?2, hash = ?3 WHERE node = ?4 AND node_seq = ?5")
                .bind(&json)
                .bind(&prev)
                .bind(&hash)
                .bind(NODE)
                .bind(seq)
                .execute(&pool)
                .await
                .unwrap();
        }
        prev = hash;
    }
    pool.close().await;
}

async fn verify(h: &Harness) -> ChainReport {
    h.service.audit_verify(&h.caller).await.unwrap()
}

async fn node_seq_of(h: &Harness, action: AuditAction) -> i64 {
    let record = h.audit_of(action).await.into_iter().next().unwrap_or_else(|| panic!("a {action} event"));
    record.node_sequence
}

#[tokio::test]
async fn the_scheduler_signs_checkpoints_with_a_reserved_inventory_key() {
    let h = Harness::dev().await;
    h.create("k1", "encrypt", "aes-256-gcm").await;
    h.service.run_due_work().await.unwrap();
    let report = verify(&h).await;
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.checkpoints, 1, "{report:?}");
    let node = &report.nodes[0];
    let checkpoint = node_seq_of(&h, AuditAction::AuditCheckpoint).await;
    assert_eq!(node.signed_through, Some(checkpoint - 1), "it covers the head before it: {report:?}");
    assert_eq!(node.unsigned_events, 1, "only the checkpoint itself is after the signed head");

    // The signing key is in the inventory like any key, and reserved.
    let key = h.service.show_key(&h.caller, None, SIGNING_KEY_NAME).await.unwrap();
    let key = serde_json::to_value(&key).unwrap();
    assert_eq!(key["purpose"], "sign");
    assert_eq!(key["algorithm"], "ed25519");
    assert_eq!(key["usage_context"], SIGNING_USAGE_CONTEXT);
    assert_eq!(key["owner"], "keystead");
    let err = h.service.sign(&h.caller, None, SIGNING_KEY_NAME, b"forged checkpoint").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{err}");
    let mut forged = request("my-audit-key", "sign", "ed25519");
    forged.usage_context = Some(SIGNING_USAGE_CONTEXT.into());
    let err = h.service.create_key(&h.caller, forged).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{err}");

    // Nothing new: not due again until the interval passes.
    h.service.run_due_work().await.unwrap();
    assert_eq!(verify(&h).await.checkpoints, 1);
    h.advance(time::Duration::seconds(301));
    h.service.run_due_work().await.unwrap();
    let report = verify(&h).await;
    assert_eq!(report.checkpoints, 2, "a quiet node still signs every interval: {report:?}");
    assert!(report.warnings.is_empty(), "{report:?}");
    h.advance(time::Duration::seconds(3_600));
    let report = verify(&h).await;
    assert!(report.warnings.iter().any(|w| w.contains("newest checkpoint")), "{report:?}");
}

#[tokio::test]
async fn a_checkpoint_is_signed_after_the_configured_number_of_events() {
    let tweak: crate::harness::Tweak = Arc::new(|config: &mut Config| config.checkpoint_events = 3);
    let h = Harness::with(Environment::Development, tweak).await;
    h.service.run_due_work().await.unwrap();
    assert_eq!(verify(&h).await.checkpoints, 1);
    h.create("a", "encrypt", "aes-256-gcm").await;
    h.create("b", "encrypt", "aes-256-gcm").await;
    h.service.run_due_work().await.unwrap();
    assert_eq!(verify(&h).await.checkpoints, 1, "two events: not due");
    h.create("c", "encrypt", "aes-256-gcm").await;
    h.service.run_due_work().await.unwrap();
    assert_eq!(verify(&h).await.checkpoints, 2, "the third event makes it due");
}

#[tokio::test]
async fn a_relinked_rewrite_is_caught_by_the_signed_checkpoint() {
    let h = Harness::dev().await;
    h.create("model-weights", "encrypt", "aes-256-gcm").await;
    h.service.run_due_work().await.unwrap();
    let created = node_seq_of(&h, AuditAction::KeyCreate).await;
    let checkpoint = node_seq_of(&h, AuditAction::AuditCheckpoint).await;
    rewrite_and_relink(&h, created, |json| json.replace("\"actor\":\"root\"", "\"actor\":\"alice\"")).await;

    let report = verify(&h).await;
    assert_eq!(report.breaks.len(), 1, "{report:?}");
    let (node, seq, why) = &report.breaks[0];
    assert_eq!((node.as_str(), *seq), (NODE, checkpoint), "{report:?}");
    assert!(why.contains("rewritten"), "{why}");
}

#[tokio::test]
async fn a_forged_checkpoint_signature_is_caught() {
    let h = Harness::dev().await;
    h.service.run_due_work().await.unwrap();
    let checkpoint = node_seq_of(&h, AuditAction::AuditCheckpoint).await;
    let forged = STANDARD.encode([7u8; 64]);
    rewrite_and_relink(&h, checkpoint, |json| {
        let mut event: serde_json::Value = serde_json::from_str(json).unwrap();
        event["details"]["signature"] = forged.clone().into();
        // Re-encode in the canonical field order through the event type.
        let event: keystead_core::AuditEvent = serde_json::from_value(event).unwrap();
        String::from_utf8(event.canonical_bytes()).unwrap()
    })
    .await;
    let report = verify(&h).await;
    assert_eq!(report.breaks.len(), 1, "{report:?}");
    assert_eq!(report.breaks[0].1, checkpoint);
    assert!(report.breaks[0].2.contains("does not verify"), "{report:?}");
}

#[tokio::test]
async fn edited_deleted_and_reordered_rows_are_named() {
    for case in ["edit", "delete", "reorder"] {
        let h = Harness::dev().await;
        h.create("k", "encrypt", "aes-256-gcm").await;
        // A later event, so the target is inside the chain: a removed tail after the newest
        // checkpoint shows only as checkpoint times (see the warnings of verify).
        h.create("later", "encrypt", "aes-256-gcm").await;
        let target = node_seq_of(&h, AuditAction::KeyCreate).await;
        assert!(target > 1);
        let pool = h.raw().await;
        sqlx::query("DROP TRIGGER audit_events_no_update").execute(&pool).await.unwrap();
        sqlx::query("DROP TRIGGER audit_events_no_delete").execute(&pool).await.unwrap();
        let statements: Vec<String> = match case {
            "edit" => vec![format!(
                "UPDATE audit_events SET event_json = replace(event_json, 'aes-256-gcm', 'aes-128-gcm') WHERE node_seq = {target}"
            )],
            "delete" => vec![format!("DELETE FROM audit_events WHERE node_seq = {target}")],
            _ => vec![
                format!("UPDATE audit_events SET node_seq = -1 WHERE node_seq = {target}"),
                format!("UPDATE audit_events SET node_seq = {target} WHERE node_seq = {}", target - 1),
                format!("UPDATE audit_events SET node_seq = {} WHERE node_seq = -1", target - 1),
            ],
        };
        for sql in statements {
            sqlx::query(&sql).execute(&pool).await.unwrap();
        }
        pool.close().await;
        let report = verify(&h).await;
        assert_eq!(report.breaks.len(), 1, "{case}: {report:?}");
        let (expected, why) = match case {
            "edit" => (target, "content does not match"),
            "delete" => (target + 1, "missing"),
            _ => (target - 1, "previous hash"),
        };
        assert_eq!(report.breaks[0].1, expected, "{case}: {report:?}");
        assert!(report.breaks[0].2.contains(why), "{case}: {report:?}");
    }
}

fn pem_to_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).unwrap()
}

#[tokio::test]
async fn an_export_verifies_offline_with_the_public_key_only() {
    let h = Harness::dev().await;
    h.create("k", "encrypt", "aes-256-gcm").await;
    let rows = h.service.audit_export_page(&h.caller, None, 10_000).await.unwrap();
    let last = rows.last().unwrap();
    let exported: String = rows
        .iter()
        .cloned()
        .map(|row| serde_json::to_string(&ExportLine::from_row(row)).unwrap() + "\n")
        .collect();
    assert!(last.event_json.contains("audit.checkpoint"), "an export starts by signing: {last:?}");
    let pem = h.service.public_key(&h.caller, None, SIGNING_KEY_NAME, None).await.unwrap();

    let report = verify_export(exported.as_bytes(), &PublicKeys(vec![pem_to_der(&pem)])).unwrap();
    assert!(report.intact(), "{report:?}");
    assert_eq!((report.checkpoints, report.nodes[0].unsigned_events), (1, 1), "{report:?}");

    let other = h.create("other-signer", "sign", "ed25519").await;
    let other = h.service.public_key(&h.caller, None, other.attributes.name.as_str(), None).await.unwrap();
    let report = verify_export(exported.as_bytes(), &PublicKeys(vec![pem_to_der(&other)])).unwrap();
    assert!(report.breaks[0].2.contains("does not verify"), "{report:?}");
    assert!(verify_export("{not json\n".as_bytes(), &PublicKeys(vec![])).is_err());

    // A tenant-bound auditor cannot export: the chain holds every tenant's events.
    let tenant_auditor =
        h.service.create_principal(&h.caller, "t-auditor", &["auditor".into()], Some("t1")).await.unwrap();
    let caller = h.service.authenticate(Some(tenant_auditor.token.expose_secret()), "test").await.unwrap();
    let err = h.service.audit_export_page(&caller, None, 10).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
}

#[tokio::test]
async fn the_signing_key_cannot_be_squatted_stalled_or_destroyed() {
    let h = Harness::dev().await;
    let custodian = h.principal("custodian", &["key-custodian"]).await;
    // Taking the reserved name before the first checkpoint is refused.
    let err =
        h.service.create_key(&custodian, request(SIGNING_KEY_NAME, "sign", "ed25519")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{err}");
    h.service.run_due_work().await.unwrap();
    for refused in [
        h.service.suspend_key(&custodian, None, SIGNING_KEY_NAME, None).await.map(drop),
        h.service.deactivate_key(&custodian, None, SIGNING_KEY_NAME, None).await.map(drop),
        h.service
            .request_destruction(
                &custodian,
                None,
                SIGNING_KEY_NAME,
                keystead_service::DestroyRequest::default(),
            )
            .await
            .map(drop),
    ] {
        let err = refused.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PolicyViolation, "{err}");
        assert!(
            err.to_string().contains("only `keystead key rotate` and `keystead key compromise`"),
            "{err}"
        );
    }
    // A compromise is reported like any other; the next checkpoint rotates to a new version.
    let report = keystead_service::CompromiseReport {
        version: None,
        incident: "INC-2".into(),
        occurred_at: (time::OffsetDateTime::now_utc() - time::Duration::minutes(5))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap(),
        reason: "host image leaked".into(),
    };
    h.service.compromise_key(&custodian, None, SIGNING_KEY_NAME, report).await.unwrap();
    h.advance(time::Duration::seconds(301));
    h.service.run_due_work().await.unwrap();
    let report = verify(&h).await;
    assert!(report.intact(), "{report:?}");
    assert_eq!(report.checkpoints, 2, "{report:?}");
    let newest = h.audit_of(AuditAction::AuditCheckpoint).await.pop().unwrap();
    assert_eq!(newest.event.details["signing_version"], "2", "signed by the new version");
}

#[tokio::test]
async fn the_service_does_not_sign_over_a_rewritten_or_pruned_log() {
    let h = Harness::dev().await;
    h.create("k", "encrypt", "aes-256-gcm").await;
    h.service.run_due_work().await.unwrap();
    let created = node_seq_of(&h, AuditAction::KeyCreate).await;
    rewrite_and_relink(&h, created, |json| json.replace("aes-256-gcm", "aes-128-gcm")).await;
    h.advance(time::Duration::seconds(301));
    let work = h.service.run_due_work().await.unwrap();
    assert!(work.failures >= 1, "the checkpoint is refused: {work:?}");
    // The damaged log is still exported for investigation, unsigned.
    let exported = h.service.audit_export_page(&h.caller, None, 10_000).await.unwrap();
    assert!(
        exported.iter().any(|r| r.event_json.contains("aes-128-gcm")),
        "the rewritten event is in the export"
    );
    assert_eq!(verify(&h).await.checkpoints, 0, "still broken, nothing new vouches for it");
    let refusals: Vec<_> = h
        .audit_of(AuditAction::AuditCheckpoint)
        .await
        .into_iter()
        .filter(|r| r.event.outcome != keystead_core::Outcome::Success)
        .collect();
    assert_eq!(refusals.len(), 1, "the refusal is audited once per finding and interval: {refusals:?}");

    // Removing the newest checkpoint (and relinking) is noticed by the node that signed it.
    let h = Harness::dev().await;
    h.service.run_due_work().await.unwrap();
    let checkpoint = node_seq_of(&h, AuditAction::AuditCheckpoint).await;
    rewrite_and_relink(&h, checkpoint, |json| json.replace("audit.checkpoint", "server.start")).await;
    h.advance(time::Duration::seconds(301));
    let work = h.service.run_due_work().await.unwrap();
    assert!(work.failures >= 1, "{work:?}");
    h.service.audit_export_page(&h.caller, None, 10).await.unwrap();
    let refusal = h
        .audit_of(AuditAction::AuditCheckpoint)
        .await
        .into_iter()
        .rfind(|r| r.event.outcome != keystead_core::Outcome::Success)
        .unwrap();
    assert!(
        refusal.event.reason.as_deref().unwrap_or_default().contains("this node signed last"),
        "{refusal:?}"
    );
}

#[tokio::test]
async fn a_recorded_refusal_is_not_a_checkpoint() {
    let h = Harness::dev().await;
    h.service.run_due_work().await.unwrap();
    // The record a refused signing leaves behind (action audit.checkpoint, outcome failed).
    let mut refusal = h.audit_of(AuditAction::AuditCheckpoint).await.pop().unwrap().event;
    refusal.outcome = keystead_core::Outcome::Failed;
    refusal.details.clear();
    refusal.error_code = Some("integrity_failure".into());
    let store = keystead_store::SqlStore::open_sqlite(&h.db_path()).await.unwrap();
    keystead_store::Store::commit(&store, keystead_store::Change::AuditOnly, refusal).await.unwrap();
    let report = verify(&h).await;
    assert!(report.intact(), "{report:?}");
    h.advance(time::Duration::seconds(301));
    let work = h.service.run_due_work().await.unwrap();
    assert_eq!(work.failures, 0, "{work:?}");
    let report = verify(&h).await;
    assert!(report.intact() && report.checkpoints == 2, "{report:?}");
}
