//! CEK-19 through the service: every lifecycle transition (and every illegal one), compromise
//! semantics for protect and process operations, flagged post-compromise data, listings.

use std::collections::BTreeMap;

use keystead_core::{AuditAction, KeyState};
use keystead_service::{Caller, CompromiseReport, DestroyRequest, ErrorKind, Justification, Service};

use crate::harness::Harness;

fn report(occurred_at: &str) -> CompromiseReport {
    CompromiseReport {
        version: None,
        incident: "INC-4711".into(),
        occurred_at: occurred_at.into(),
        reason: "token leaked in a CI log".into(),
    }
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339).unwrap()
}

fn justified(caller: &Caller) -> Caller {
    let justification =
        Justification::new("recover tenant data for INC-4711", &["prompt-store".into(), "billing".into()])
            .unwrap();
    caller.clone().with_justification(Some(justification))
}

async fn state_of(h: &Harness, key: &str) -> KeyState {
    h.service.show_key(&h.caller, None, key).await.unwrap().versions[0].state
}

/// Drives version 1 of a fresh key to `state` through the service's own commands.
async fn key_in(h: &Harness, name: &str, state: KeyState, custodians: &[Caller; 2]) {
    let s = &h.service;
    let root = &h.caller;
    let mut request = crate::harness::request(name, "encrypt", "aes-256-gcm");
    request.pre_active = state == KeyState::PreActive;
    if state == KeyState::PendingImport {
        request.origin = Some("external".into());
    }
    s.create_key(root, request).await.unwrap();
    match state {
        KeyState::PreActive | KeyState::Active | KeyState::PendingImport => {}
        KeyState::Suspended => drop(s.suspend_key(root, None, name, None).await.unwrap()),
        KeyState::Deactivated => drop(s.deactivate_key(root, None, name, None).await.unwrap()),
        KeyState::Compromised => {
            drop(s.compromise_key(root, None, name, report("2026-01-01T00:00:00Z")).await.unwrap())
        }
        KeyState::Destroyed | KeyState::DestroyedCompromised => {
            if state == KeyState::DestroyedCompromised {
                s.compromise_key(root, None, name, report("2026-01-01T00:00:00Z")).await.unwrap();
            } else {
                s.deactivate_key(root, None, name, None).await.unwrap();
            }
            let request = DestroyRequest { after: Some("1s".into()), ..Default::default() };
            let approval = s.request_destruction(root, None, name, request).await.unwrap();
            for custodian in custodians {
                s.vote_approval(custodian, &approval.record.id, true, None).await.unwrap();
            }
            h.advance(time::Duration::seconds(2));
            s.run_due_work().await.unwrap();
        }
    }
    assert_eq!(state_of(h, name).await, state, "setup of {name}");
}

#[derive(Clone, Copy, Debug)]
enum Command {
    Activate,
    Suspend,
    Resume,
    Deactivate,
    Compromise,
    Destroy,
}

async fn run(
    s: &Service,
    caller: &Caller,
    command: Command,
    key: &str,
) -> Result<(), keystead_service::Error> {
    let v = Some(1);
    match command {
        Command::Activate => s.activate_key(caller, None, key, v).await.map(drop),
        Command::Suspend => s.suspend_key(caller, None, key, v).await.map(drop),
        Command::Resume => s.resume_key(caller, None, key, v).await.map(drop),
        Command::Deactivate => s.deactivate_key(caller, None, key, v).await.map(drop),
        Command::Compromise => {
            let mut report = report("2026-01-01T00:00:00Z");
            report.version = v;
            s.compromise_key(caller, None, key, report).await.map(drop)
        }
        Command::Destroy => {
            let request = DestroyRequest { version: v, after: Some("1s".into()), ..Default::default() };
            s.request_destruction(caller, None, key, request).await.map(drop)
        }
    }
}

/// Every (state, command) pair: allowed exactly when DESIGN.md's transition table says so,
/// a refusal is `invalid_state`, audited as denied, and changes nothing.
#[tokio::test]
async fn every_transition_and_every_illegal_one() {
    use KeyState::*;
    let h = Harness::dev().await;
    let custodians =
        [h.principal("kc1", &["key-custodian"]).await, h.principal("kc2", &["key-custodian"]).await];
    let commands = [
        Command::Activate,
        Command::Suspend,
        Command::Resume,
        Command::Deactivate,
        Command::Compromise,
        Command::Destroy,
    ];
    // (from, command) → the state it lands in (a destruction request only asks: the state
    // stays until approval and the wait, tested in approvals.rs).
    let allowed = |from: KeyState, command: Command| -> Option<KeyState> {
        match (from, command) {
            (PreActive, Command::Activate) => Some(Active),
            (Active, Command::Suspend) => Some(Suspended),
            (Suspended, Command::Resume) => Some(Active),
            (Active | Suspended, Command::Deactivate) => Some(Deactivated),
            (PreActive | Active | Suspended | Deactivated, Command::Compromise) => Some(Compromised),
            (Destroyed, Command::Compromise) => Some(DestroyedCompromised),
            (PreActive | Deactivated | Compromised | PendingImport, Command::Destroy) => Some(from),
            _ => None,
        }
    };
    let mut checked = 0;
    for (i, from) in KeyState::ALL.iter().enumerate() {
        for (j, command) in commands.iter().enumerate() {
            let name = format!("k{i}-{j}");
            key_in(&h, &name, *from, &custodians).await;
            let before = h.audit().await.len();
            let result = run(&h.service, &h.caller, *command, &name).await;
            let after = state_of(&h, &name).await;
            match allowed(*from, *command) {
                Some(expected) => {
                    result.unwrap_or_else(|e| panic!("{from} × {command:?} should be allowed: {e}"));
                    assert_eq!(after, expected, "{from} × {command:?}");
                }
                None => {
                    let err = result.expect_err("illegal transition");
                    assert_eq!(err.kind(), ErrorKind::InvalidState, "{from} × {command:?}: {err}");
                    assert_eq!(after, *from, "a refused transition changes nothing");
                    let events = h.audit().await;
                    assert_eq!(events.len(), before + 1, "the refusal is audited");
                    assert_eq!(events.last().unwrap().event.outcome, keystead_core::Outcome::Denied);
                }
            }
            checked += 1;
        }
    }
    assert_eq!(checked, KeyState::ALL.len() * commands.len());
}

#[tokio::test]
async fn a_compromised_key_never_protects_and_processes_only_for_justified_responders() {
    let h = Harness::dev().await;
    let s = &h.service;
    let none = BTreeMap::new();
    h.create("prompts", "encrypt", "aes-256-gcm").await;
    let app = h.principal("app", &["crypto-user"]).await;
    h.grant("app", "prompts", &["encrypt", "decrypt", "datakey"]).await;
    let responder = h.principal("ir", &["incident-responder"]).await;

    let before = s.encrypt(&app, None, "prompts", b"before", &none).await.unwrap();
    h.advance(time::Duration::seconds(10));
    let occurred = time::OffsetDateTime::now_utc() + time::Duration::seconds(5);
    h.advance(time::Duration::seconds(10));
    // Data the attacker could have made: protected after the compromise time.
    let suspect = s.encrypt(&app, None, "prompts", b"suspect", &none).await.unwrap();

    // A crypto user cannot report a compromise; a responder can.
    assert_eq!(
        s.compromise_key(&app, None, "prompts", report(&rfc3339(occurred))).await.unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
    let view = s.compromise_key(&responder, None, "prompts", report(&rfc3339(occurred))).await.unwrap();
    assert_eq!(view.primary_version, None, "a compromised version is never primary");
    let record = view.versions[0].compromise.clone().unwrap();
    assert_eq!((record.incident.as_str(), record.reported_by.as_str()), ("INC-4711", "ir"));

    // Protect: refused with key_compromised, for everyone (root included).
    for caller in [&app, &h.caller] {
        let err = s.encrypt(caller, None, "prompts", b"x", &none).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::KeyCompromised, "{err}");
        assert_eq!(err.kind().code(), "key_compromised");
    }
    assert_eq!(
        s.generate_data_key(&app, None, "prompts", &none).await.unwrap_err().kind(),
        ErrorKind::KeyCompromised
    );

    // Process: not for crypto users, not for responders without a justification.
    assert_eq!(s.decrypt(&app, &before, &none).await.unwrap_err().kind(), ErrorKind::KeyCompromised);
    assert_eq!(
        s.decrypt(&justified(&app), &before, &none).await.unwrap_err().kind(),
        ErrorKind::KeyCompromised
    );
    let err = s.decrypt(&responder, &before, &none).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeyCompromised);
    assert!(err.to_string().contains("incident responder"), "{err}");

    let opened = s.decrypt(&justified(&responder), &before, &none).await.unwrap();
    assert_eq!(opened.plaintext.expose_secret(), b"before");
    assert_eq!(opened.warning, None, "protected before the compromise");
    let flagged = s.decrypt(&justified(&responder), &suspect, &none).await.unwrap();
    assert_eq!(flagged.plaintext.expose_secret(), b"suspect");
    assert!(flagged.warning.as_deref().unwrap().contains("after the key version's reported compromise"));

    // Each use is logged with reason, identity, affected systems and the incident.
    let uses: Vec<_> = h
        .audit_of(AuditAction::Decrypt)
        .await
        .into_iter()
        .filter(|r| r.event.outcome == keystead_core::Outcome::Success)
        .collect();
    assert_eq!(uses.len(), 2);
    for (event, suspect) in uses.iter().map(|r| &r.event).zip(["false", "true"]) {
        assert_eq!(event.actor, "ir");
        assert_eq!(event.details["justification"], "recover tenant data for INC-4711");
        assert_eq!(event.details["affected_systems"], "prompt-store,billing");
        assert_eq!(event.details["incident"], "INC-4711");
        assert_eq!(event.details["compromised_key_use"], "true");
        assert_eq!(event.details["post_compromise_data"], suspect);
    }

    // Responders process only compromised versions: not other keys.
    h.create("clean", "encrypt", "aes-256-gcm").await;
    let clean = s.encrypt(&h.caller, None, "clean", b"x", &none).await.unwrap();
    let err = s.decrypt(&justified(&responder), &clean, &none).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");

    // The compromise report is audited and the event names the incident.
    let reported = h.audit_of(AuditAction::KeyCompromise).await;
    let success = reported.iter().find(|r| r.event.outcome == keystead_core::Outcome::Success).unwrap();
    assert_eq!(success.event.details["incident"], "INC-4711");
    assert_eq!(success.event.details["compromise_reason"], "token leaked in a CI log");

    // A rotation brings a clean primary in; the compromised version stays decrypt-only.
    s.rotate_key(&h.caller, None, "prompts").await.unwrap();
    let fresh = s.encrypt(&app, None, "prompts", b"fresh", &none).await.unwrap();
    assert!(fresh.contains(":v2:"), "{fresh}");
    assert_eq!(s.decrypt(&app, &before, &none).await.unwrap_err().kind(), ErrorKind::KeyCompromised);

    // Remediation: the responder rewraps old data onto v2 without seeing it.
    let rewrapped = s.rewrap(&justified(&responder), &before, &none, false).await.unwrap();
    assert_eq!((rewrapped.from_version, rewrapped.to_version), (1, 2));
    assert_eq!(
        s.decrypt(&app, &rewrapped.ciphertext, &none).await.unwrap().plaintext.expose_secret(),
        b"before"
    );
    // Data that may be the attacker's is not rewrapped onto a clean version unless accepted.
    let err = s.rewrap(&justified(&responder), &suspect, &none, false).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PolicyViolation);
    assert!(err.to_string().contains("--accept-suspect"), "{err}");
    let accepted = s.rewrap(&justified(&responder), &suspect, &none, true).await.unwrap();
    assert!(accepted.warning.is_some());
    let event = h.audit_of(AuditAction::Rewrap).await.pop().unwrap().event;
    assert_eq!(
        (event.details["accepted_suspect"].as_str(), event.details["post_compromise_data"].as_str()),
        ("true", "true")
    );
    // Without a justification the responder cannot; the app cannot rewrap compromised data.
    assert_eq!(
        s.rewrap(&responder, &before, &none, false).await.unwrap_err().kind(),
        ErrorKind::KeyCompromised
    );
    assert_eq!(s.rewrap(&app, &before, &none, false).await.unwrap_err().kind(), ErrorKind::KeyCompromised);
}

/// Holding the responder role beside another never widens access: without a grant, a
/// crypto user who is also a responder processes only compromised versions.
#[tokio::test]
async fn a_second_role_does_not_lift_the_responder_limit_or_the_grant_check() {
    let h = Harness::dev().await;
    let s = &h.service;
    let none = BTreeMap::new();
    h.create("healthy", "encrypt", "aes-256-gcm").await;
    h.create("leaked", "encrypt", "aes-256-gcm").await;
    let healthy = s.encrypt(&h.caller, None, "healthy", b"h", &none).await.unwrap();
    let leaked = s.encrypt(&h.caller, None, "leaked", b"l", &none).await.unwrap();
    s.compromise_key(&h.caller, None, "leaked", report("2026-01-01T00:00:00Z")).await.unwrap();
    let both = justified(&h.principal("both", &["crypto-user", "incident-responder"]).await);

    let err = s.decrypt(&both, &healthy, &none).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "no grant, not compromised: {err}");
    assert_eq!(
        s.rewrap(&both, &healthy, &none, false).await.unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
    assert_eq!(s.decrypt(&both, &leaked, &none).await.unwrap().plaintext.expose_secret(), b"l");
    // With a grant, the crypto-user role reaches the healthy key as usual.
    h.grant("both", "healthy", &["decrypt"]).await;
    assert_eq!(s.decrypt(&both, &healthy, &none).await.unwrap().plaintext.expose_secret(), b"h");
    // Rewrapping healthy data needs encrypt as well.
    assert_eq!(
        s.rewrap(&both, &healthy, &none, false).await.unwrap_err().kind(),
        ErrorKind::PermissionDenied
    );
}

#[tokio::test]
async fn compromise_reports_are_validated_and_change_nothing_when_refused() {
    let h = Harness::dev().await;
    h.create("k", "encrypt", "aes-256-gcm").await;
    let future = rfc3339(time::OffsetDateTime::now_utc() + time::Duration::hours(1));
    for (bad, field) in [
        (CompromiseReport { incident: " ".into(), ..report("2026-01-01T00:00:00Z") }, "incident"),
        (CompromiseReport { reason: String::new(), ..report("2026-01-01T00:00:00Z") }, "reason"),
        (report("yesterday"), "occurred-at"),
        (report(&future), "occurred-at"),
    ] {
        let err = h.service.compromise_key(&h.caller, None, "k", bad).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
        assert!(err.to_string().contains(field), "{err}");
    }
    assert_eq!(state_of(&h, "k").await, KeyState::Active);
}

#[tokio::test]
async fn compromised_keys_leave_the_default_listing() {
    let h = Harness::dev().await;
    h.create("healthy", "encrypt", "aes-256-gcm").await;
    h.create("leaked", "encrypt", "aes-256-gcm").await;
    h.create("leaked-and-rotated", "encrypt", "aes-256-gcm").await;
    for key in ["leaked", "leaked-and-rotated"] {
        h.service.compromise_key(&h.caller, None, key, report("2026-01-01T00:00:00Z")).await.unwrap();
    }
    h.service.rotate_key(&h.caller, None, "leaked-and-rotated").await.unwrap();
    let names = |keys: Vec<keystead_service::KeyView>| {
        keys.into_iter().map(|k| k.attributes.name.to_string()).collect::<Vec<_>>()
    };
    let default = h.service.list_keys(&h.caller, Default::default()).await.unwrap();
    assert_eq!(names(default), ["healthy", "leaked-and-rotated"]);
    let filter = keystead_service::KeyListFilter { state: Some("compromised".into()), ..Default::default() };
    assert_eq!(
        names(h.service.list_keys(&h.caller, filter).await.unwrap()),
        ["leaked", "leaked-and-rotated"]
    );
    let all = keystead_service::KeyListFilter { all: true, ..Default::default() };
    assert_eq!(h.service.list_keys(&h.caller, all).await.unwrap().len(), 3);
}

#[tokio::test]
async fn a_suspended_version_processes_only_data_protected_before_the_suspension() {
    let h = Harness::dev().await;
    let s = &h.service;
    let none = BTreeMap::new();
    h.create("k", "encrypt", "aes-256-gcm").await;
    let early = s.encrypt(&h.caller, None, "k", b"early", &none).await.unwrap();
    h.advance(time::Duration::seconds(10));
    let late = s.encrypt(&h.caller, None, "k", b"late", &none).await.unwrap();
    // Another node's clock (or a forged timestamp) puts the suspension between the two.
    h.advance(time::Duration::seconds(-5));
    s.suspend_key(&h.caller, None, "k", None).await.unwrap();
    assert_eq!(
        s.encrypt(&h.caller, None, "k", b"x", &none).await.unwrap_err().kind(),
        ErrorKind::InvalidState
    );
    assert_eq!(s.decrypt(&h.caller, &early, &none).await.unwrap().plaintext.expose_secret(), b"early");
    let err = s.decrypt(&h.caller, &late, &none).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidState);
    assert!(err.to_string().contains("after the version was suspended"), "{err}");
    s.resume_key(&h.caller, None, "k", None).await.unwrap();
    assert_eq!(s.decrypt(&h.caller, &late, &none).await.unwrap().plaintext.expose_secret(), b"late");
}
