//! The wire layer through the real binary: request ids on every answer, in the JSON log and
//! in audit events; error bodies (5xx included) naming them; exit codes from error codes.

use serde_json::Value;

use crate::util::DevServer;

fn http() -> reqwest::blocking::Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::blocking::Client::new()
}

/// A production-style server (shamir seal, loopback, no TLS) whose config asks for JSON logs.
fn configured_json_server(dir: &std::path::Path) -> DevServer {
    let port = crate::util::free_port();
    let config = dir.join("keystead.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\nenvironment = \"staging\"\nnode = \"wire-1\"\n\
             [storage]\nurl = \"sqlite://data/keystead.db\"\n[seal]\nkind = \"shamir\"\n[log]\nformat = \"json\"\n"
        ),
    )
    .unwrap();
    DevServer::start_configured(dir, &config, &format!("http://127.0.0.1:{port}"), &[])
}

#[test]
fn request_ids_reach_headers_error_bodies_the_json_log_and_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let server = configured_json_server(dir.path());
    let init: Value = serde_json::from_str(
        &server.ok(&["--output", "json", "operator", "init", "--shares", "1", "--threshold", "1"], b""),
    )
    .unwrap();
    let token = init["root_token"].as_str().unwrap().to_owned();
    let share = init["shares"][0].as_str().unwrap().to_owned();
    let client = http();

    // A 5xx (sealed: 503) names its request id, in the body and the header.
    let sealed = client
        .post(format!("{}/v1/keys", server.addr))
        .bearer_auth(&token)
        .header("x-request-id", "e2e-sealed-1")
        .json(&serde_json::json!({"name": "k", "purpose": "encrypt", "algorithm": "aes-256-gcm"}))
        .send()
        .unwrap();
    assert!(sealed.status().is_server_error(), "{}", sealed.status());
    assert_eq!(sealed.headers()["x-request-id"], "e2e-sealed-1");
    let body: Value = sealed.json().unwrap();
    assert_eq!(body["error"]["code"], "sealed", "{body}");
    assert_eq!(body["error"]["request_id"], "e2e-sealed-1", "{body}");

    server.ok(&["operator", "unseal", &share], b"");

    // A client's well-formed id is kept and echoed.
    let ok = client
        .get(format!("{}/v1/status", server.addr))
        .bearer_auth(&token)
        .header("x-request-id", "e2e-req-42")
        .send()
        .unwrap();
    assert!(ok.status().is_success());
    assert_eq!(ok.headers()["x-request-id"], "e2e-req-42");

    // A malformed one is replaced by a fresh id, which the error body names too.
    let refused =
        client.get(format!("{}/v1/status", server.addr)).header("x-request-id", "bad id!").send().unwrap();
    assert_eq!(refused.status(), 401);
    let fresh = refused.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(fresh.starts_with("req_"), "{fresh}");
    let body: Value = refused.json().unwrap();
    assert_eq!(body["error"]["code"], "unauthenticated");
    assert_eq!(body["error"]["request_id"], fresh.as_str());

    // An unauthenticated request with an id of ours: its log line and audit event carry it.
    let refused = client
        .get(format!("{}/v1/status", server.addr))
        .header("x-request-id", "e2e-unauth-7")
        .send()
        .unwrap();
    assert_eq!(refused.status(), 401);
    let events: Value =
        serde_json::from_str(&server.ok(&["--token", &token, "audit", "list", "--output", "json"], b""))
            .unwrap();
    let refused_event = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["details"]["request_id"] == "e2e-unauth-7")
        .unwrap_or_else(|| panic!("no audit event names request e2e-unauth-7: {events:#}"));
    assert_eq!(refused_event["action"], "auth.failed");

    let log = server.stop();
    assert!(!log.contains('\u{1b}'), "ANSI escape codes in a log written to a pipe");
    let mut lines = Vec::new();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let parsed: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        lines.push(parsed);
    }
    assert!(
        lines.iter().any(|l| l["span"]["request_id"] == "e2e-unauth-7" && l["level"] == "WARN"),
        "no log line of request e2e-unauth-7:\n{log}"
    );
}

#[test]
fn the_log_format_flag_writes_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start_with(dir.path(), &["--log-format", "json"]);
    let refused =
        http().get(format!("{}/v1/status", server.addr)).header("x-request-id", "flag-req-1").send().unwrap();
    assert_eq!(refused.status(), 401);
    let log = server.stop();
    let lines: Vec<Value> = log
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}")))
        .collect();
    assert!(lines
        .iter()
        .any(|l| l["fields"]["message"].as_str().is_some_and(|m| m.contains("keystead listening"))));
    assert!(lines.iter().any(|l| l["span"]["request_id"] == "flag-req-1"), "{log}");
}

#[test]
fn exit_codes_follow_error_codes() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(dir.path());
    let missing = server.cli(&["key", "show", "no-such-key"], b"");
    assert_eq!(missing.status.code(), Some(4), "{}", String::from_utf8_lossy(&missing.stderr));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("(not_found)"), "{stderr}");
    server.ok(&["key", "create", "prompts", "--purpose", "encrypt", "--algorithm", "aes-256-gcm"], b"");
    let misuse = server.cli(&["sign", "prompts"], b"data");
    assert_eq!(misuse.status.code(), Some(5), "{}", String::from_utf8_lossy(&misuse.stderr));
    let denied = server.cli(&["key", "show", "prompts", "--token", "kst_not_a_real_token"], b"");
    assert_eq!(denied.status.code(), Some(3), "{}", String::from_utf8_lossy(&denied.stderr));
}
