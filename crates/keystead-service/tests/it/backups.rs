//! Backups, restores, break-glass and drills (CEK-20) through the service over real SQLite
//! files, with an injectable clock.

use std::collections::BTreeMap;
use std::sync::Arc;

use keystead_core::{AuditAction, Environment, Outcome};
use keystead_service::{Caller, Config, ErrorKind, OnConflict, RecoveryRequest, RestoreInput, RestoreReport};
use zeroize::Zeroizing;

use crate::harness::Harness;

/// A bundle and its shares, as `backup create` writes them.
struct Backup {
    bundle: String,
    shares: Vec<Zeroizing<String>>,
}

async fn backup(h: &Harness, caller: &Caller) -> Backup {
    let mut stream = h.service.create_backup(caller, 3, 2, &[]).await.expect("backup starts");
    let shares = stream.shares.iter().map(|s| Zeroizing::new(s.expose_secret().to_owned())).collect();
    let mut bundle = String::new();
    while let Some(line) = stream.lines.recv().await {
        bundle.push_str(&line.expect("a bundle line"));
    }
    Backup { bundle, shares }
}

struct Quorum {
    officers: Vec<Caller>,
    custodian: Caller,
}

async fn quorum(h: &Harness) -> Quorum {
    let mut officers = Vec::new();
    for name in ["ro-1", "ro-2", "ro-3"] {
        officers.push(h.principal(name, &["recovery-officer"]).await);
    }
    Quorum { officers, custodian: h.principal("kc-1", &["key-custodian"]).await }
}

/// A recovery request for `bundle` by the first officer, approved by the others and the custodian.
async fn approved_request(h: &Harness, q: &Quorum, bundle: &str) -> String {
    let header: serde_json::Value = serde_json::from_str(bundle.lines().next().unwrap()).unwrap();
    let request = RecoveryRequest {
        backup_id: header["backup_id"].as_str().unwrap().to_owned(),
        bundle_sha256: hex::encode(keystead_crypto::sha256(bundle.as_bytes())),
        keys: header["keys"].as_u64().unwrap() as usize,
        backed_up_at: header["created_at"].as_str().unwrap().to_owned(),
        justification: "lost the primary store".into(),
        expires_in: None,
    };
    let view = h.service.request_recovery(&q.officers[0], request).await.expect("request");
    let id = view.record.id.clone();
    for approver in [&q.officers[1], &q.officers[2], &q.custodian] {
        h.service.vote_approval(approver, &id, true, None).await.expect("approve");
    }
    id
}

fn input(b: &Backup, shares: &[usize], request: Option<&str>, on_conflict: OnConflict) -> RestoreInput {
    RestoreInput {
        bundle: b.bundle.clone(),
        shares: shares.iter().map(|i| b.shares[*i].clone()).collect(),
        request: request.map(str::to_owned),
        break_glass: false,
        justification: None,
        on_conflict,
    }
}

fn names(report: &[keystead_service::RestoredKey]) -> Vec<String> {
    let mut names: Vec<String> = report.iter().map(|k| k.name.clone()).collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_backup_restores_into_another_store_exactly_and_conflicts_need_a_choice() {
    let source = Harness::dev().await;
    source.create("data", "encrypt", "aes-256-gcm").await;
    source.create("kek", "wrap", "aes-256-kw").await;
    source.create("inbox", "asymmetric-decrypt", "rsa-2048-oaep").await;
    source.create("releases", "sign", "ed25519").await;
    // A signing key may be made recoverable: its signatures' test vectors travel too.
    let mut attest = crate::harness::request("attest", "sign", "ecdsa-p256");
    attest.recoverable = Some(true);
    source.service.create_key(&source.caller, attest).await.unwrap();
    let none = BTreeMap::new();
    let old = source.service.encrypt(&source.caller, None, "data", b"v1 data", &none).await.unwrap();
    source.service.rotate_key(&source.caller, None, "data").await.unwrap();
    let ro = source.principal("ro-src", &["recovery-officer"]).await;
    let b = backup(&source, &ro).await;
    assert!(!b.bundle.contains("v1 data"));

    let target = Harness::dev().await;
    let q = quorum(&target).await;
    let id = approved_request(&target, &q, &b.bundle).await;
    let report: RestoreReport = target
        .service
        .restore_backup(&q.officers[0], input(&b, &[0, 2], Some(&id), OnConflict::Abort))
        .await
        .unwrap();
    assert_eq!(names(&report.restored), ["attest", "data", "inbox", "kek"]);
    assert!(report.excluded.iter().any(|k| k.name == "releases"), "{:?}", report.excluded);
    for name in ["data", "kek", "inbox", "attest"] {
        let before = source.service.show_key(&source.caller, None, name).await.unwrap();
        let after = target.service.show_key(&target.caller, None, name).await.unwrap();
        assert_eq!(before.attributes.id, after.attributes.id);
        let kcvs = |v: &keystead_service::KeyView| -> Vec<(u32, String, String)> {
            v.versions.iter().map(|v| (v.number.get(), v.state.to_string(), v.kcv.clone())).collect()
        };
        assert_eq!(kcvs(&before), kcvs(&after), "{name}");
        let public = |v: &keystead_service::KeyView| -> Vec<Option<Vec<u8>>> {
            v.versions.iter().map(|v| v.public_key_der.clone()).collect()
        };
        assert_eq!(public(&before), public(&after), "{name}: the public key served after a restore");
        assert!(after.versions.iter().all(|v| v
            .provenance
            .recovered
            .as_ref()
            .is_some_and(|m| m.authorized_by == id)));
    }
    let opened = target.service.decrypt(&target.caller, &old, &none).await.unwrap();
    assert_eq!(opened.plaintext.expose_secret(), b"v1 data");
    let recovered = target.audit_of(AuditAction::KeyRecover).await;
    assert_eq!(recovered.len(), 4, "one event per key");
    assert!(recovered.iter().all(|r| r.event.details["authorized_by"] == id));

    // Into the source store, after a rotation: "data" conflicts. Abort (the default) changes
    // nothing and leaves the request usable; skip restores nothing new and keeps the store's state.
    let q = quorum(&source).await;
    source.service.rotate_key(&source.caller, None, "data").await.unwrap();
    let id = approved_request(&source, &q, &b.bundle).await;
    let events = source.audit().await.len();
    let err = source
        .service
        .restore_backup(&q.officers[0], input(&b, &[1, 2], Some(&id), OnConflict::Abort))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(err.to_string().contains("default/data (the store holds versions [1:"), "{err}");
    assert_eq!(source.audit().await.len(), events + 1, "only the refusal is recorded");
    let report = source
        .service
        .restore_backup(&q.officers[0], input(&b, &[1, 2], Some(&id), OnConflict::Skip))
        .await
        .unwrap();
    assert!(report.restored.is_empty());
    assert_eq!(names(&report.unchanged), ["attest", "inbox", "kek"]);
    assert_eq!(report.conflicts.len(), 1);
    assert_eq!(source.service.show_key(&source.caller, None, "data").await.unwrap().versions.len(), 3);
}

#[tokio::test]
async fn shares_are_checked_one_by_one_and_requests_are_bound_used_once_and_time_limited() {
    let h = Harness::dev().await;
    h.create("data", "encrypt", "aes-256-gcm").await;
    let q = quorum(&h).await;
    let b = backup(&h, &q.officers[0]).await;
    let restore = |shares: Vec<Zeroizing<String>>, request: Option<String>| RestoreInput {
        bundle: b.bundle.clone(),
        shares,
        request,
        break_glass: false,
        justification: None,
        on_conflict: OnConflict::Abort,
    };
    let message = |err: keystead_service::Error| err.to_string();

    let twice = vec![b.shares[0].clone(), b.shares[0].clone()];
    let err = h.service.restore_backup(&q.officers[0], restore(twice, None)).await.unwrap_err();
    assert!(message(err).contains("share 2 is share 1 again"));

    // A share with a changed value and recomputed check digits: caught by the bundle's digest.
    let line = b.shares[1].lines().find(|l| l.starts_with("ksb1.")).unwrap().to_owned();
    let (body, _) = line.rsplit_once('.').unwrap();
    let mut parts: Vec<&str> = body.split('.').collect();
    let forged_value = "A".repeat(parts[4].len());
    parts[4] = &forged_value;
    let body = parts.join(".");
    let check = hex::encode(&keystead_crypto::sha256(body.as_bytes())[..3]);
    let forged = vec![b.shares[0].clone(), Zeroizing::new(format!("{body}.{check}"))];
    let err = h.service.restore_backup(&q.officers[0], restore(forged, None)).await.unwrap_err();
    assert!(message(err).contains("share 2 (share 2 of backup"), "damaged or forged");
    let garbage = vec![b.shares[0].clone(), Zeroizing::new("hello".into())];
    let err = h.service.restore_backup(&q.officers[0], restore(garbage, None)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(!message(err).contains("hello"), "an error never echoes a share");

    // A tenant-confined officer may not back up or restore the whole store.
    let confined = h
        .service
        .create_principal(&h.caller, "ro-acme", &["recovery-officer".to_owned()], Some("acme"))
        .await
        .unwrap();
    let confined = h.service.authenticate(Some(confined.token.expose_secret()), "test").await.unwrap();
    let err = h.service.create_backup(&confined, 3, 2, &[]).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    // Nor see, approve or reject requests about the whole store.
    let pending = approved_request(&h, &q, &b.bundle).await;
    assert!(h.service.list_approvals(&confined, None).await.unwrap().iter().all(|a| a.record.id != pending));
    let err = h.service.vote_approval(&confined, &pending, false, Some("no")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    // The approval is for this bundle, used once, and only within the TTL after approval.
    let id = approved_request(&h, &q, &b.bundle).await;
    h.advance(time::Duration::seconds(86_401));
    let err = h
        .service
        .restore_backup(&q.officers[0], restore(b.shares[..2].to_vec(), Some(id)))
        .await
        .unwrap_err();
    assert!(message(err).contains("more than the approval TTL ago"));
    let id = approved_request(&h, &q, &b.bundle).await;
    let report = h
        .service
        .restore_backup(&q.officers[0], restore(b.shares[1..].to_vec(), Some(id.clone())))
        .await
        .unwrap();
    assert_eq!(report.unchanged.len(), 1, "the store holds the key as backed up");
    let err = h
        .service
        .restore_backup(&q.officers[0], restore(b.shares[1..].to_vec(), Some(id)))
        .await
        .unwrap_err();
    assert!(message(err).contains("closed"));
    let refusals = h.audit_of(AuditAction::BackupRestore).await;
    assert!(refusals.iter().filter(|r| r.event.outcome != Outcome::Success).count() >= 5);
    assert!(refusals.iter().all(|r| !r.event.details.values().any(|v| v.contains("ksb1"))));
}

#[tokio::test]
async fn break_glass_raises_an_anomaly_and_a_review_that_holds_cek20_until_signed_off() {
    let tweak: crate::harness::Tweak =
        Arc::new(|config: &mut Config| config.break_glass_principals = vec!["bg".into()]);
    let h = Harness::with(Environment::Development, tweak).await;
    h.create("data", "encrypt", "aes-256-gcm").await;
    h.service
        .add_webhook(&h.caller, "http://127.0.0.1:9/hook", &["recovery.*".to_owned(), "anomaly.*".to_owned()])
        .await
        .unwrap();
    let q = quorum(&h).await;
    let bg = h.principal("bg", &["recovery-officer"]).await;
    let b = backup(&h, &q.officers[0]).await;
    let glass = |justification: Option<&str>| RestoreInput {
        bundle: b.bundle.clone(),
        shares: b.shares[..2].to_vec(),
        request: None,
        break_glass: true,
        justification: justification.map(str::to_owned),
        on_conflict: OnConflict::Abort,
    };
    // Not a break-glass principal; no justification: refused.
    let err = h.service.restore_backup(&q.officers[0], glass(Some("outage"))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    let err = h.service.restore_backup(&bg, glass(None)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);

    let report = h.service.restore_backup(&bg, glass(Some("INC-12: primary lost"))).await.unwrap();
    let review = report.review.clone().expect("a review");
    let anomalies =
        h.service.list_anomalies(&h.caller, Some("break-glass-restore".into()), None, None).await.unwrap();
    assert_eq!(anomalies.len(), 1);
    assert_eq!(anomalies[0].severity, "high");
    let deliveries = h.service.list_deliveries(&h.caller, None).await.unwrap();
    let types: Vec<&str> = deliveries.iter().map(|d| d.event_type.as_str()).collect();
    assert!(types.contains(&"recovery.break-glass") && types.contains(&"anomaly.detected"), "{types:?}");

    let cek20 = |report: keystead_service::report::compliance::ComplianceReport| {
        report.controls.into_iter().find(|c| c.id == "CEK-20").unwrap()
    };
    let control = cek20(h.service.compliance_report(&h.caller, "json").await.unwrap());
    assert_eq!(format!("{:?}", control.status), "NotMet");
    assert!(control.reason.contains(&review));
    // The review never expires on its own: a year later it still holds the control.
    h.advance(time::Duration::days(365));
    h.service.run_due_work().await.ok();
    let control = cek20(h.service.compliance_report(&h.caller, "json").await.unwrap());
    assert_eq!(format!("{:?}", control.status), "NotMet");
    // The break-glass principal cannot sign off its own restore; the quorum can.
    assert!(h.service.vote_approval(&bg, &review, true, None).await.is_err());
    for approver in [&q.officers[0], &q.officers[1], &q.custodian] {
        h.service.vote_approval(approver, &review, true, None).await.unwrap();
    }
    let control = cek20(h.service.compliance_report(&h.caller, "json").await.unwrap());
    assert_ne!(format!("{:?}", control.status), "NotMet", "{}", control.reason);

    // Into a fresh store, break-glass writes the keys, marked as such.
    let tweak: crate::harness::Tweak =
        Arc::new(|config: &mut Config| config.break_glass_principals = vec!["bg".into()]);
    let fresh = Harness::with(Environment::Development, tweak).await;
    let bg = fresh.principal("bg", &["recovery-officer"]).await;
    let report = fresh.service.restore_backup(&bg, glass(Some("INC-13: region lost"))).await.unwrap();
    assert_eq!(names(&report.restored), ["data"]);
    let data = fresh.service.show_key(&fresh.caller, None, "data").await.unwrap();
    let mark = data.versions[0].provenance.recovered.clone().expect("recovered mark");
    assert_eq!((mark.authorized_by.as_str(), mark.restored_by.as_str()), ("break-glass", "bg"));
    let restore_event = fresh.audit_of(AuditAction::BackupRestore).await.pop().unwrap();
    assert_eq!(restore_event.event.details["break_glass"], "true");
    assert_eq!(Some(restore_event.event.details["review"].clone()), report.review);
}

#[tokio::test]
async fn a_drill_verifies_every_key_without_touching_the_store() {
    let h = Harness::dev().await;
    for (name, purpose, algorithm) in [
        ("data", "encrypt", "aes-256-gcm"),
        ("chacha", "encrypt", "chacha20-poly1305"),
        ("kek", "wrap", "aes-256-kw"),
        ("inbox", "asymmetric-decrypt", "rsa-2048-oaep"),
    ] {
        h.create(name, purpose, algorithm).await;
    }
    let q = quorum(&h).await;
    let b = backup(&h, &q.officers[0]).await;
    let keys_before = h.service.list_keys(&h.caller, Default::default()).await.unwrap().len();
    // The assessment now counts the copy and its holders in each recoverable key's exposure.
    let assessment = h.service.recovery_assess(&h.caller, None).await.unwrap();
    let data = assessment.assessments.iter().find(|a| a.key == "data").unwrap();
    assert!(data.exposure_factors.contains(&"backup copies: 1 +1".to_owned()), "{:?}", data.exposure_factors);
    assert!(
        data.exposure_factors.contains(&"share holders: up to 3 +0".to_owned()),
        "{:?}",
        data.exposure_factors
    );
    let report = h.service.recovery_drill(&q.officers[1], &b.bundle, &b.shares[1..]).await.unwrap();
    assert_eq!(report.result, "passed", "{:?}", report.failures);
    assert_eq!(report.keys_verified, 4);
    assert_eq!(report.versions_verified, 4);
    assert_eq!(h.service.list_keys(&h.caller, Default::default()).await.unwrap().len(), keys_before);
    let drills = h.audit_of(AuditAction::RecoveryDrill).await;
    assert_eq!(drills.last().unwrap().event.details["result"], "passed");

    // Lines reordered: every key still opens, but the end tag does not verify.
    let mut lines: Vec<&str> = b.bundle.lines().collect();
    lines.swap(1, 2);
    let reordered = lines.join("\n") + "\n";
    let report = h.service.recovery_drill(&q.officers[1], &reordered, &b.shares[..2]).await.unwrap();
    assert_eq!((report.result, report.authenticated, report.keys_verified), ("failed", false, 4));
    // One key line renamed: that key fails to open and is named; the others still verify.
    let renamed = b.bundle.replacen("\"name\":\"chacha\"", "\"name\":\"chacha2\"", 1);
    let report = h.service.recovery_drill(&q.officers[1], &renamed, &b.shares[..2]).await.unwrap();
    assert_eq!(report.result, "failed");
    assert_eq!(report.keys_verified, 3, "{:?}", report.failures);
    assert!(
        report.failures.iter().any(|f| f.key == "default/chacha2" && f.reason.contains("does not open")),
        "{:?}",
        report.failures
    );
    let drills = h.audit_of(AuditAction::RecoveryDrill).await;
    assert_eq!(drills.last().unwrap().event.outcome, Outcome::Failed);
}

#[tokio::test]
async fn shares_held_for_named_officers_are_seen_by_nobody_else_and_collected_once() {
    let h = Harness::dev().await;
    h.create("data", "encrypt", "aes-256-gcm").await;
    let q = quorum(&h).await;
    let ro4 = h.principal("ro-4", &["recovery-officer"]).await;
    let holders = |names: &[&str]| -> Vec<String> { names.iter().map(|n| (*n).to_owned()).collect() };
    let creator = &q.officers[0];
    for (bad, why) in [
        (holders(&["ro-2", "ro-3"]), "one holder per share"),
        (holders(&["ro-2", "ro-2", "ro-3"]), "named twice"),
        (holders(&["ro-2", "ro-3", "ro-1"]), "may not hold a share"),
        (holders(&["ro-2", "ro-3", "kc-1"]), "not an active recovery officer"),
    ] {
        let err = h.service.create_backup(creator, 3, 2, &bad).await.unwrap_err();
        assert!(err.to_string().contains(why), "{why}: {err}");
    }
    let mut stream =
        h.service.create_backup(creator, 3, 2, &holders(&["ro-2", "ro-3", "ro-4"])).await.unwrap();
    assert!(stream.shares.is_empty(), "the creator sees no share");
    let mut bundle = String::new();
    while let Some(line) = stream.lines.recv().await {
        bundle.push_str(&line.unwrap());
    }
    let backup_id = stream.backup_id.clone();
    let created = h.audit_of(AuditAction::BackupCreate).await.pop().unwrap();
    assert_eq!(created.event.details["held_for"], "ro-2,ro-3,ro-4");

    // Only a holder gets a share, its own, once.
    let err = h.service.collect_backup_share(creator, &backup_id).await.unwrap_err();
    assert!(err.to_string().contains("no share of backup"), "{err}");
    let second = h.service.collect_backup_share(&q.officers[1], &backup_id).await.unwrap();
    let fourth = h.service.collect_backup_share(&ro4, &backup_id).await.unwrap();
    assert!(second.expose_secret().starts_with(&format!("ksb1.{backup_id}.1.2.")));
    assert!(fourth.expose_secret().starts_with(&format!("ksb1.{backup_id}.3.2.")));
    let again = h.service.collect_backup_share(&q.officers[1], &backup_id).await.unwrap_err();
    assert!(again.to_string().contains("collected already"), "{again}");
    let collected = h.audit_of(AuditAction::BackupShareCollect).await;
    assert_eq!(collected.iter().filter(|r| r.event.outcome == Outcome::Success).count(), 2);

    // The two collected shares open the bundle.
    let shares = vec![
        Zeroizing::new(second.expose_secret().to_owned()),
        Zeroizing::new(fourth.expose_secret().to_owned()),
    ];
    let report = h.service.recovery_drill(&q.officers[2], &bundle, &shares).await.unwrap();
    assert_eq!(report.result, "passed", "{:?}", report.failures);
    assert_eq!(format!("{:?}", cek20(&h).await.status), "Met", "{}", cek20(&h).await.reason);
    // A newer backup that no drill has opened: restorability of what would be restored is
    // not shown any more.
    backup(&h, &q.officers[0]).await;
    let control = cek20(&h).await;
    assert_eq!(format!("{:?}", control.status), "PartlyMet");
    assert!(control.reason.contains("has not passed a recovery drill"), "{}", control.reason);

    // Keys of a development store are not restored (nor drilled) on a staging server.
    let staging = Harness::new(Environment::Staging).await;
    let officer = staging.principal("ro-s", &["recovery-officer"]).await;
    let err = staging
        .service
        .restore_backup(
            &officer,
            input(
                &Backup { bundle: bundle.clone(), shares: shares.clone() },
                &[0, 1],
                None,
                OnConflict::Abort,
            ),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("holds development keys; this server serves staging"), "{err}");
    let drill = staging.service.recovery_drill(&officer, &bundle, &shares).await.unwrap();
    assert_eq!(drill.result, "failed");
}

async fn cek20(h: &Harness) -> keystead_service::report::compliance::ControlAssessment {
    let report = h.service.compliance_report(&h.caller, "json").await.unwrap();
    report.controls.into_iter().find(|c| c.id == "CEK-20").unwrap()
}

/// Destroys (or schedules the destruction of) `version` of `key` with two custodians' approval.
async fn approve_destruction(h: &Harness, key: &str, version: u32, after: &str) {
    let kc = [
        h.principal(&format!("kc-a-{key}"), &["key-custodian"]).await,
        h.principal(&format!("kc-b-{key}"), &["key-custodian"]).await,
        h.principal(&format!("kc-c-{key}"), &["key-custodian"]).await,
    ];
    h.service.deactivate_key(&kc[0], None, key, Some(version)).await.unwrap();
    let request = keystead_service::DestroyRequest {
        version: Some(version),
        after: Some(after.into()),
        justification: Some("retired".into()),
        ..Default::default()
    };
    let id = h.service.request_destruction(&kc[0], None, key, request).await.unwrap().record.id;
    for approver in &kc[1..] {
        h.service.vote_approval(approver, &id, true, None).await.unwrap();
    }
}

#[tokio::test]
async fn destroyed_versions_travel_as_records_and_scheduled_destructions_are_reported() {
    let source = Harness::dev().await;
    let none = BTreeMap::new();
    source.create("model", "encrypt", "aes-256-gcm").await;
    source.service.rotate_key(&source.caller, None, "model").await.unwrap();
    let current = source.service.encrypt(&source.caller, None, "model", b"v2 data", &none).await.unwrap();
    approve_destruction(&source, "model", 1, "1m").await;
    source.advance(time::Duration::minutes(2));
    source.service.run_due_work().await.unwrap();
    let model = source.service.show_key(&source.caller, None, "model").await.unwrap();
    assert_eq!(model.versions[0].state, keystead_core::KeyState::Destroyed);
    source.create("pending", "encrypt", "aes-256-gcm").await;
    approve_destruction(&source, "pending", 1, "30d").await;

    let ro = source.principal("ro-src", &["recovery-officer"]).await;
    let b = backup(&source, &ro).await;
    let drill = source.service.recovery_drill(&ro, &b.bundle, &b.shares[..2]).await.unwrap();
    assert_eq!(drill.result, "passed", "{:?}", drill.failures);
    assert_eq!((drill.versions_verified, drill.versions_without_material), (2, 1));

    let target = Harness::dev().await;
    let q = quorum(&target).await;
    let id = approved_request(&target, &q, &b.bundle).await;
    let report = target
        .service
        .restore_backup(&q.officers[0], input(&b, &[0, 1], Some(&id), OnConflict::Abort))
        .await
        .unwrap();
    assert_eq!(names(&report.restored), ["model", "pending"]);
    assert_eq!(report.warnings.len(), 1, "{:?}", report.warnings);
    assert!(report.warnings[0].contains("default/pending version 1: its approved destruction is scheduled"));
    let restored = target.service.show_key(&target.caller, None, "model").await.unwrap();
    assert_eq!(restored.versions[0].state, keystead_core::KeyState::Destroyed);
    assert!(restored.versions[0].destroyed_at.is_some());
    let opened = target.service.decrypt(&target.caller, &current, &none).await.unwrap();
    assert_eq!(opened.plaintext.expose_secret(), b"v2 data");
}
