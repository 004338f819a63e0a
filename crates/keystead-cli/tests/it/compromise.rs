//! CEK-19 end to end with the real binary: compromise, decrypt-only for justified responders,
//! flagged post-compromise data, quorum approvals, a controlled exception, bulk rewrap, and a
//! scheduled destruction that leaves a tombstone.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::DevServer;

const DENIED: i32 = 5;

/// Creates a principal with the root token (from the data directory) and returns its token.
fn principal(server: &DevServer, name: &str, roles: &str) -> String {
    let out = server.ok(&["principal", "create", name, "--role", roles], b"");
    out.lines()
        .find_map(|l| l.split_once("Token (shown once; store it now): ").map(|(_, t)| t.trim().to_owned()))
        .unwrap_or_else(|| panic!("no token in {out}"))
}

/// `keystead --token TOKEN ARGS...`.
fn as_(server: &DevServer, token: &str, args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut all = vec!["--token", token];
    all.extend_from_slice(args);
    server.cli(&all, stdin)
}

fn ok_as(server: &DevServer, token: &str, args: &[&str], stdin: &[u8]) -> String {
    let out = as_(server, token, args, stdin);
    assert!(out.status.success(), "keystead {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn refused(out: &std::process::Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn compromise_exception_and_rewrap_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(dir.path());
    let kc1 = principal(&server, "kc1", "key-custodian");
    let ir = principal(&server, "ir", "incident-responder");
    let app = principal(&server, "app", "crypto-user");
    server.ok(&["key", "create", "prompts", "--purpose", "encrypt", "--algorithm", "aes-256-gcm"], b"");
    server.ok(&["grant", "add", "--principal", "app", "--key", "prompts", "--ops", "encrypt,decrypt"], b"");

    let before = ok_as(&server, &app, &["encrypt", "prompts"], b"before the leak");
    std::thread::sleep(Duration::from_millis(20));
    let occurred_at = now_rfc3339();
    std::thread::sleep(Duration::from_millis(20));
    let after = ok_as(&server, &app, &["encrypt", "prompts"], b"maybe the attacker's");

    // A crypto user cannot report a compromise; the responder does.
    let args = [
        "key",
        "compromise",
        "prompts",
        "--incident",
        "INC-2026-11",
        "--occurred-at",
        &occurred_at,
        "--reason",
        "key exported by a compromised CI runner",
    ];
    refused(&as_(&server, &app, &args, b""), DENIED, "permission_denied");
    let reported = as_(&server, &ir, &args, b"");
    assert!(reported.status.success(), "{}", String::from_utf8_lossy(&reported.stderr));
    assert!(String::from_utf8_lossy(&reported.stderr).contains("rotate it"), "the CLI says what to do next");

    // Decrypt-only, and only for a justified responder.
    refused(&as_(&server, &app, &["encrypt", "prompts"], b"x"), DENIED, "key_compromised");
    refused(&as_(&server, &app, &["decrypt"], before.as_bytes()), DENIED, "key_compromised");
    refused(&as_(&server, &ir, &["decrypt"], before.as_bytes()), DENIED, "--justification");
    refused(
        &as_(&server, &ir, &["decrypt", "--justification", "restore tenant 42"], before.as_bytes()),
        1,
        "affected systems",
    );
    let justify =
        ["--justification", "restore tenant 42 for INC-2026-11", "--affected-systems", "prompt-store,eval"];
    let clean = as_(&server, &ir, &[&["decrypt"][..], &justify].concat(), before.as_bytes());
    assert_eq!(clean.stdout, b"before the leak");
    assert!(
        clean.stderr.is_empty(),
        "no warning for data protected before: {}",
        String::from_utf8_lossy(&clean.stderr)
    );
    let suspect = as_(&server, &ir, &[&["decrypt"][..], &justify].concat(), after.as_bytes());
    assert_eq!(suspect.stdout, b"maybe the attacker's");
    assert!(String::from_utf8_lossy(&suspect.stderr).contains("warning: the data was protected after"));
    let audit = json(&server.ok(&["audit", "list", "--key", "prompts", "--output", "json"], b""));
    let flagged: Vec<&Value> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "crypto.decrypt" && e["outcome"] == "success")
        .collect();
    assert_eq!(flagged.len(), 2);
    for (event, post) in flagged.iter().zip(["false", "true"]) {
        assert_eq!(event["actor"], "ir");
        assert_eq!(event["details"]["incident"], "INC-2026-11");
        assert_eq!(event["details"]["affected_systems"], "prompt-store,eval");
        assert_eq!(event["details"]["post_compromise_data"], post);
    }

    // Compromised keys leave the default listing.
    assert!(!server.ok(&["key", "list"], b"").contains("prompts"));
    assert!(server.ok(&["key", "list", "--state", "compromised"], b"").contains("prompts"));

    // A controlled exception: asked by the application, approved by a custodian and a
    // responder, never by the requester or twice by one approver.
    let request = ok_as(
        &server,
        &app,
        &[
            "--output",
            "json",
            "exception",
            "request",
            "prompts",
            "--operation",
            "encrypt",
            "--for",
            "1h",
            "--justification",
            "legacy exporter until the cut-over",
        ],
        b"",
    );
    let id = json(&request)["id"].as_str().unwrap().to_owned();
    refused(&as_(&server, &app, &["approval", "approve", &id], b""), DENIED, "made this request");
    ok_as(&server, &kc1, &["approval", "approve", &id, "--reason", "cut-over planned"], b"");
    refused(&as_(&server, &kc1, &["approval", "approve", &id], b""), 1, "already voted");
    let approved = ok_as(&server, &ir, &["approval", "approve", &id], b"");
    assert!(approved.contains("approved") && approved.contains("Window closes"), "{approved}");
    let exceptional = ok_as(&server, &app, &["encrypt", "prompts"], b"exceptional");
    assert!(exceptional.contains(":v1:"), "{exceptional}");
    let listed = server.ok(&["approval", "list", "--status", "approved"], b"");
    assert!(listed.contains(&id), "{listed}");

    // Remediation: rotate, then rewrap every old ciphertext in bulk onto v2.
    ok_as(&server, &kc1, &["key", "rotate", "prompts"], b"");
    let input = dir.path().join("ciphertexts.txt");
    let output = dir.path().join("rewrapped.txt");
    std::fs::write(&input, format!("{}\n\n{}\n{}\n", before.trim(), after.trim(), exceptional.trim()))
        .unwrap();
    let bulk_rewrap = |output: &std::path::Path, extra: &[&str]| {
        let args = [
            &["rewrap", "--file", input.to_str().unwrap(), "--out", output.to_str().unwrap()][..],
            &justify,
            extra,
        ];
        as_(&server, &ir, &args.concat(), b"")
    };
    // Without --accept-suspect, data protected after the compromise (it may be the attacker's)
    // is not given a clean version's trust: those lines stay as they were and are reported.
    let cautious = bulk_rewrap(&output, &[]);
    let progress = String::from_utf8_lossy(&cautious.stderr);
    assert_eq!(cautious.status.code(), Some(1), "{progress}");
    assert!(progress.contains("rewrapped 3/3") && progress.contains("rewrapped 1 of 3"), "{progress}");
    assert!(progress.contains("failed: line 3") && progress.contains("failed: line 4"), "{progress}");
    assert!(progress.contains("--accept-suspect"), "{progress}");
    let lines: Vec<String> = std::fs::read_to_string(&output).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 4, "line for line, blank kept");
    assert!(lines[0].contains(":v2:") && lines[1].is_empty(), "{lines:?}");
    assert_eq!((lines[2].as_str(), lines[3].as_str()), (after.trim(), exceptional.trim()), "kept unchanged");

    // Accepted after checking: everything moves to v2 and the count of suspect lines is shown.
    let accepted_output = dir.path().join("rewrapped-accepted.txt");
    let accepted = bulk_rewrap(&accepted_output, &["--accept-suspect"]);
    let progress = String::from_utf8_lossy(&accepted.stderr);
    assert!(accepted.status.success(), "{progress}");
    assert!(progress.contains("rewrapped 3 of 3"), "{progress}");
    assert!(progress.contains("2 came from data protected after a reported compromise"), "{progress}");
    let lines: Vec<String> =
        std::fs::read_to_string(&accepted_output).unwrap().lines().map(str::to_owned).collect();
    let plaintexts: Vec<String> = [&lines[0], &lines[2], &lines[3]]
        .iter()
        .map(|line| {
            assert!(line.contains(":v2:"), "{line}");
            String::from_utf8(ok_as(&server, &app, &["decrypt"], line.as_bytes()).into_bytes()).unwrap()
        })
        .collect();
    assert_eq!(plaintexts, ["before the leak", "maybe the attacker's", "exceptional"]);
    // The output file is never overwritten.
    refused(&bulk_rewrap(&output, &[]), 1, "must not exist");
    server.ok(&["audit", "verify"], b"");
}

#[test]
fn a_scheduled_destruction_needs_a_quorum_runs_and_leaves_a_tombstone() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(dir.path());
    let kc1 = principal(&server, "kc1", "key-custodian");
    let kc2 = principal(&server, "kc2", "key-custodian");
    let kc3 = principal(&server, "kc3", "key-custodian");
    let created = json(&server.ok(
        &[
            "--output",
            "json",
            "key",
            "create",
            "old-model",
            "--purpose",
            "encrypt",
            "--algorithm",
            "aes-256-gcm",
        ],
        b"",
    ));
    let ciphertext = server.ok(&["encrypt", "old-model"], b"weights");
    let destroy = [
        "--output",
        "json",
        "key",
        "destroy",
        "old-model",
        "--after",
        "1s",
        "--justification",
        "model retired",
    ];
    refused(&as_(&server, &kc1, &destroy, b""), DENIED, "deactivate");
    ok_as(&server, &kc1, &["key", "deactivate", "old-model"], b"");
    let id = json(&ok_as(&server, &kc1, &destroy, b""))["id"].as_str().unwrap().to_owned();
    refused(&as_(&server, &kc1, &["approval", "approve", &id], b""), DENIED, "made this request");
    ok_as(&server, &kc2, &["approval", "approve", &id], b"");
    refused(&as_(&server, &kc2, &["approval", "approve", &id], b""), 1, "already voted");
    let shown = ok_as(&server, &kc1, &["approval", "show", &id], b"");
    assert!(shown.contains("Still needed    1 key-custodian"), "{shown}");
    ok_as(&server, &kc3, &["approval", "approve", &id], b"");

    // The scheduler runs it after the wait (the dev server checks every second).
    let deadline = Instant::now() + Duration::from_secs(30);
    let key = loop {
        let key = json(&server.ok(&["--output", "json", "key", "show", "old-model"], b""));
        if key["versions"][0]["state"] == "destroyed" {
            break key;
        }
        assert!(Instant::now() < deadline, "not destroyed: {key}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let version = &key["versions"][0];
    assert_eq!(version["kcv"], created["versions"][0]["kcv"], "the tombstone keeps the metadata");
    assert!(version["destroyed_at"].is_string());
    let history: Vec<&str> =
        key["history"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    for action in ["key.create", "key.deactivate", "key.destroy-request", "approval.approve", "key.destroy"] {
        assert!(history.contains(&action), "{action} in {history:?}");
    }
    assert!(server.ok(&["key", "show", "old-model"], b"").contains("material destroyed at"));
    refused(&server.cli(&["decrypt"], ciphertext.as_bytes()), DENIED, "destroyed");

    // An undecided request expires and stays expired.
    server.ok(
        &["key", "create", "scratch", "--purpose", "encrypt", "--algorithm", "aes-256-gcm", "--pre-active"],
        b"",
    );
    let expiring = json(&ok_as(
        &server,
        &kc1,
        &["--output", "json", "key", "destroy", "scratch", "--after", "1s", "--expires-in", "1s"],
        b"",
    ));
    std::thread::sleep(Duration::from_millis(1500));
    let id = expiring["id"].as_str().unwrap();
    refused(&as_(&server, &kc2, &["approval", "approve", id], b""), DENIED, "expired");
    server.ok(&["audit", "verify"], b"");
}

/// Every state × every lifecycle command through the binary: allowed exactly as DESIGN.md's
/// transition table says (exit 0 and the new state), refused otherwise (exit 5, state kept).
#[test]
fn every_transition_and_every_illegal_one_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(dir.path());
    let [kc1, kc2, kc3] = ["kc1", "kc2", "kc3"].map(|name| principal(&server, name, "key-custodian"));
    let states = [
        "pre-active",
        "active",
        "suspended",
        "deactivated",
        "compromised",
        "destroyed",
        "destroyed-compromised",
    ];
    let commands = ["activate", "suspend", "resume", "deactivate", "compromise", "destroy"];
    let compromise = ["--incident", "INC-9", "--occurred-at", "2026-01-01T00:00:00Z", "--reason", "drill"];
    let name = |state: &str, command: &str| format!("t-{state}-{command}");

    // Drive version 1 of one key per (state, command) into the state.
    for state in states {
        for command in commands {
            let key = name(state, command);
            let mut create =
                vec!["key", "create", key.as_str(), "--purpose", "encrypt", "--algorithm", "aes-256-gcm"];
            if state == "pre-active" {
                create.push("--pre-active");
            }
            server.ok(&create, b"");
            match state {
                "suspended" => drop(server.ok(&["key", "suspend", &key], b"")),
                "deactivated" | "destroyed" => drop(server.ok(&["key", "deactivate", &key], b"")),
                "compromised" | "destroyed-compromised" => {
                    drop(server.ok(&[&["key", "compromise", key.as_str()][..], &compromise].concat(), b""))
                }
                _ => {}
            }
            if state.starts_with("destroyed") {
                let request = json(&ok_as(
                    &server,
                    &kc1,
                    &["--output", "json", "key", "destroy", &key, "--after", "1s"],
                    b"",
                ));
                let id = request["id"].as_str().unwrap();
                ok_as(&server, &kc2, &["approval", "approve", id], b"");
                ok_as(&server, &kc3, &["approval", "approve", id], b"");
            }
        }
    }
    let state_of = |key: &str| {
        json(&server.ok(&["--output", "json", "key", "show", key], b""))["versions"][0]["state"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    for state in ["destroyed", "destroyed-compromised"] {
        for command in commands {
            while state_of(&name(state, command)) != state {
                assert!(Instant::now() < deadline, "{state} setup did not complete");
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }

    fn allowed<'a>(from: &'a str, command: &str) -> Option<&'a str> {
        match (from, command) {
            ("pre-active", "activate") => Some("active"),
            ("active", "suspend") => Some("suspended"),
            ("suspended", "resume") => Some("active"),
            ("active" | "suspended", "deactivate") => Some("deactivated"),
            ("pre-active" | "active" | "suspended" | "deactivated", "compromise") => Some("compromised"),
            ("destroyed", "compromise") => Some("destroyed-compromised"),
            // A destruction request leaves the state until approval and the wait.
            ("pre-active" | "deactivated" | "compromised", "destroy") => Some(from),
            _ => None,
        }
    }
    for state in states {
        for command in commands {
            let key = name(state, command);
            let mut args = vec!["key", command, key.as_str(), "--version", "1"];
            match command {
                "compromise" => args.extend_from_slice(&compromise),
                "destroy" => args.extend_from_slice(&["--after", "1s"]),
                _ => {}
            }
            let out = as_(&server, &kc1, &args, b"");
            let after = state_of(&key);
            match allowed(state, command) {
                Some(expected) => {
                    assert!(
                        out.status.success(),
                        "{state} × {command}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    assert_eq!(after, expected, "{state} × {command}");
                }
                None => {
                    assert_eq!(
                        out.status.code(),
                        Some(DENIED),
                        "{state} × {command}: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    assert_eq!(after, state, "a refused {command} changes nothing");
                }
            }
        }
    }
    server.ok(&["audit", "verify"], b"");
}
