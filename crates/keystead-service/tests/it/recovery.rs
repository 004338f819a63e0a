//! CEK-20's first part: recovery policies follow the key type by default, and the assessment
//! weighs continuity against exposure, flags policies that do not fit and recommends one.

use keystead_core::AuditAction;
use keystead_service::{ErrorKind, RecoveryAssessment};

use crate::harness::{request, Harness};

fn find<'a>(assessment: &'a RecoveryAssessment, key: &str) -> &'a keystead_service::KeyAssessment {
    assessment.assessments.iter().find(|a| a.key == key).unwrap_or_else(|| panic!("{key} assessed"))
}

#[tokio::test]
async fn policies_default_by_key_type_and_mismatches_are_flagged() {
    let h = Harness::dev().await;
    let data = h.create("prompts", "encrypt", "aes-256-gcm").await;
    assert!(data.attributes.recoverable, "data keys are recoverable by default");
    let signer = h.create("release", "sign", "ed25519").await;
    assert!(!signer.attributes.recoverable, "signing keys are replaced, not recovered");
    let mut critical = request("weights-kek", "wrap", "aes-256-kw");
    critical.criticality = Some("critical".into());
    critical.classification = Some("restricted".into());
    critical.recoverable = Some(false);
    h.service.create_key(&h.caller, critical).await.unwrap();
    let mut kept = request("tags", "mac", "hmac-sha256");
    kept.recoverable = Some(true);
    h.service.create_key(&h.caller, kept).await.unwrap();

    let assessment = h.service.recovery_assess(&h.caller, None).await.unwrap();
    assert_eq!(assessment.keys, 4);
    assert_eq!(assessment.mismatches, 2);
    let total: u64 = assessment.matrix.values().flat_map(|row| row.values()).sum();
    assert_eq!(total, 4, "every key is in the matrix once");

    let kek = find(&assessment, "weights-kek");
    assert_eq!((kek.continuity, kek.continuity_level), (9, "high"), "{:?}", kek.continuity_factors);
    assert!(kek.recommend_recoverable);
    assert_eq!(
        kek.mismatch.as_deref(),
        Some("critical data key marked non-recoverable: losing it loses the data it protects")
    );
    let tags = find(&assessment, "tags");
    assert!(!tags.recommend_recoverable);
    assert!(tags.mismatch.as_deref().unwrap().contains("without need"));
    let prompts = find(&assessment, "prompts");
    assert_eq!((prompts.continuity, prompts.continuity_level, prompts.exposure), (6, "medium", 3));
    assert!(prompts.recommend_recoverable && prompts.mismatch.is_none());
    assert!(find(&assessment, "release").mismatch.is_none());

    let markdown = assessment.to_markdown();
    assert!(markdown.contains("| high | 0 | 1 | 0 |"), "{markdown}");
    let audited = h.audit_of(AuditAction::RecoveryAssess).await;
    assert_eq!(audited.last().unwrap().event.details["mismatches"], "2");
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_keys() {
    let h = Harness::dev().await;
    h.create("shared", "encrypt", "aes-256-gcm").await;
    let mut theirs = request("theirs", "encrypt", "aes-256-gcm");
    theirs.tenant = Some("acme".into());
    h.service.create_key(&h.caller, theirs).await.unwrap();
    let created = h
        .service
        .create_principal(&h.caller, "acme-officer", &["recovery-officer".into()], Some("acme"))
        .await
        .unwrap();
    let officer = h.service.authenticate(Some(created.token.expose_secret()), "test").await.unwrap();
    let assessment = h.service.recovery_assess(&officer, None).await.unwrap();
    assert_eq!(assessment.assessments.iter().map(|a| a.key.as_str()).collect::<Vec<_>>(), ["theirs"]);
    let err = h.service.recovery_assess(&officer, Some("default")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
}
