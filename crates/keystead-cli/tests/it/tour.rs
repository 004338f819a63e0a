//! The README's tour, on the real binary, across a restart.

use std::os::unix::fs::PermissionsExt;

use crate::util::DevServer;

#[test]
fn dev_server_tour_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(dir.path());

    // The root token is printed once and written to a private file.
    let token_file = server.data_dir.join("dev-root-token");
    let token = std::fs::read_to_string(&token_file).unwrap();
    assert!(token.starts_with("kst_"));
    assert!(server.stdout.contains(&token), "stdout: {}", server.stdout);
    assert_eq!(std::fs::metadata(&token_file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(
        std::fs::metadata(server.data_dir.join("seal.key")).unwrap().permissions().mode() & 0o777,
        0o600
    );

    server.ok(
        &[
            "key",
            "create",
            "prompts",
            "--purpose",
            "encrypt",
            "--algorithm",
            "aes-256-gcm",
            "--usage-context",
            "prompt-encryption",
            "--owner",
            "ml-platform",
        ],
        b"",
    );
    let ciphertext = server.ok(&["encrypt", "prompts", "--context", "tenant=acme"], b"hello");
    assert!(ciphertext.starts_with("ks1:") && ciphertext.contains(":v1:"), "{ciphertext}");
    let ct_file = dir.path().join("ct.txt");
    std::fs::write(&ct_file, &ciphertext).unwrap();
    let ct_path = ct_file.to_str().unwrap();
    assert_eq!(server.ok(&["decrypt", "--context", "tenant=acme", "--in", ct_path], b""), "hello");
    let wrong = server.cli(&["decrypt", "--context", "tenant=globex", "--in", ct_path], b"");
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("decryption_failed"));

    server.ok(
        &[
            "key",
            "create",
            "release-signer",
            "--purpose",
            "sign",
            "--algorithm",
            "ed25519",
            "--usage-context",
            "model-signing",
        ],
        b"",
    );
    let model = dir.path().join("model.bin");
    std::fs::write(&model, vec![42u8; 200_000]).unwrap();
    let model = model.to_str().unwrap();
    let signature = server.ok(&["sign", "release-signer", "--in", model], b"");
    assert_eq!(
        server.ok(&["verify", "release-signer", "--signature", signature.trim(), "--in", model], b"").trim(),
        "valid"
    );
    let forged = server.cli(&["verify", "release-signer", "--signature", signature.trim()], b"other model");
    assert_eq!(forged.status.code(), Some(6), "a signature over other data does not verify");

    // Purpose violation: refused with a non-zero exit code and a clear message.
    let refused = server.cli(&["sign", "prompts", "--in", model], b"");
    assert_eq!(refused.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("prompts")
            && stderr.contains("purpose encrypt")
            && stderr.contains("purpose_violation"),
        "{stderr}"
    );
    assert!(refused.stdout.is_empty());

    let shown: serde_json::Value =
        serde_json::from_str(&server.ok(&["key", "show", "prompts", "--output", "json"], b"")).unwrap();
    assert_eq!(shown["purpose"], "encrypt");
    assert_eq!(shown["owner"], "ml-platform");
    let provenance = &shown["versions"][0]["provenance"];
    assert_eq!(provenance["library"], "aws-lc-rs");
    assert_eq!(provenance["node"], "e2e-node");
    assert_eq!(provenance["environment"], "development");
    assert_eq!(shown["versions"][0]["kcv"].as_str().map(str::len), Some(16));
    let history = shown["history"].as_array().unwrap();
    assert_eq!(history[0]["action"], "key.create");
    assert!(
        history.iter().all(|e| !e["action"].as_str().unwrap().starts_with("crypto.")),
        "status changes only"
    );
    let recent = shown["recent_events"].as_array().unwrap();
    assert!(recent.iter().any(|e| e["action"] == "crypto.sign" && e["outcome"] == "denied"));

    let rotated: serde_json::Value =
        serde_json::from_str(&server.ok(&["key", "rotate", "prompts", "--output", "json"], b"")).unwrap();
    assert_eq!(rotated["primary_version"], 2);
    assert!(server.ok(&["encrypt", "prompts"], b"x").contains(":v2:"));
    assert_eq!(server.ok(&["decrypt", "--context", "tenant=acme", "--in", ct_path], b""), "hello");

    // Secrets that passed through the server, to look for in its log.
    let marker = "SECRET-PLAINTEXT-MARKER";
    let marked = server.ok(&["encrypt", "prompts"], marker.as_bytes());
    assert_eq!(server.ok(&["decrypt"], marked.as_bytes()), marker);
    let data_key: serde_json::Value =
        serde_json::from_str(&server.ok(&["datakey", "prompts", "--output", "json"], b"")).unwrap();
    let data_key_plaintext = data_key["plaintext"].as_str().unwrap().to_owned();
    let seal_key = std::fs::read(server.data_dir.join("seal.key")).unwrap();

    // Restart on the same data dir: nothing is lost, no new root token is printed.
    let first_log = server.stop();
    assert!(first_log.contains("keystead listening"), "the log was captured");
    for (what, secret) in [
        ("root token", token.trim().to_owned()),
        ("plaintext", marker.to_owned()),
        ("data key", data_key_plaintext.clone()),
        ("seal key (hex)", seal_key.iter().map(|b| format!("{b:02x}")).collect()),
    ] {
        assert!(!first_log.contains(&secret), "the server log leaks the {what}");
    }
    let server = DevServer::start(dir.path());
    assert!(!server.stdout.contains("kst_"), "the root token is printed only once");
    assert_eq!(server.ok(&["decrypt", "--context", "tenant=acme", "--in", ct_path], b""), "hello");
    let listed: serde_json::Value =
        serde_json::from_str(&server.ok(&["key", "list", "--output", "json"], b"")).unwrap();
    let names: Vec<&str> = listed.as_array().unwrap().iter().filter_map(|k| k["name"].as_str()).collect();
    assert_eq!(names.len(), 3, "two keys and the audit signing key: {names:?}");
    assert!(names.contains(&"keystead-audit-signing"), "{names:?}");

    // The audit log recorded the refusal, and its chain is intact.
    let audit: serde_json::Value =
        serde_json::from_str(&server.ok(&["audit", "list", "--key", "prompts", "--output", "json"], b""))
            .unwrap();
    let events = audit.as_array().unwrap();
    assert!(events.iter().any(|e| e["action"] == "crypto.sign"
        && e["outcome"] == "denied"
        && e["error_code"] == "purpose_violation"));
    assert!(events.iter().any(|e| e["action"] == "key.rotate" && e["outcome"] == "success"));
    assert!(server.ok(&["audit", "verify"], b"").contains("intact"));

    // Separation of duties: a crypto user with a grant encrypts and decrypts, nothing more.
    let created: serde_json::Value = serde_json::from_str(
        &server.ok(&["principal", "create", "app", "--role", "crypto-user", "--output", "json"], b""),
    )
    .unwrap();
    let app_token = created["token"].as_str().unwrap().to_owned();
    assert!(app_token.starts_with("kst_") && app_token.len() >= 4 + 64, "at least 256 bits of token");
    server.ok(&["grant", "add", "--principal", "app", "--key", "prompts", "--ops", "encrypt,decrypt"], b"");
    let app_ct = server.ok(&["--token", &app_token, "encrypt", "prompts"], b"from the app");
    assert_eq!(server.ok(&["--token", &app_token, "decrypt"], app_ct.as_bytes()), "from the app");
    let denied = server.cli(&["--token", &app_token, "key", "rotate", "prompts"], b"");
    assert_eq!(denied.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&denied.stderr).contains("permission_denied"));
    let ungranted = server.cli(&["--token", &app_token, "sign", "release-signer"], b"m");
    assert_eq!(ungranted.status.code(), Some(5));
    assert!(server.ok(&["principal", "list"], b"").contains("crypto-user"));
    server.ok(&["principal", "disable", "app"], b"");
    let disabled = server.cli(&["--token", &app_token, "encrypt", "prompts"], b"x");
    assert_eq!(disabled.status.code(), Some(3), "a disabled principal is refused at once");

    // Errors are clear and exit codes stable.
    let missing = server.cli(&["key", "show", "nope"], b"");
    assert_eq!(missing.status.code(), Some(4));
    let bad_token = server.cli(&["--token", "kst_wrong", "key", "list"], b"");
    assert_eq!(bad_token.status.code(), Some(3));
    let audit = server.ok(&["audit", "list", "--output", "json"], b"");
    let events: serde_json::Value = serde_json::from_str(&audit).unwrap();
    let failed = events.as_array().unwrap().iter().rev().find(|e| e["action"] == "auth.failed").unwrap();
    assert_eq!(
        (failed["outcome"].as_str(), failed["details"]["path"].as_str()),
        (Some("denied"), Some("/v1/keys"))
    );
    assert!(failed["source"].as_str().unwrap().starts_with("rest 127.0.0.1:"));
    assert!(!audit.contains("kst_wrong"), "a presented token never reaches the audit log");
    check_openapi(&server.addr);
    let second_log = server.stop();
    assert!(!second_log.contains(token.trim()), "the restarted server's log leaks the root token");
    assert!(!second_log.contains(&app_token), "the server log leaks a principal's token");
    assert!(second_log.contains("request refused"), "refused requests are logged: {second_log}");

    // A client with no server gets a clear message.
    let offline = std::process::Command::new(crate::util::BIN)
        .args(["--addr", "http://127.0.0.1:9", "--token", "x", "key", "list"])
        .output()
        .unwrap();
    assert_eq!(offline.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&offline.stderr).contains("cannot reach Keystead"));
}

/// The OpenAPI document lists every route with its method, the request and response schemas,
/// and which routes need no credentials.
fn check_openapi(addr: &str) {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let document: serde_json::Value =
        reqwest::blocking::get(format!("{addr}/v1/openapi.json")).unwrap().json().unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."), "{document}");
    let paths = document["paths"].as_object().unwrap();
    let mut operations: Vec<String> = paths
        .iter()
        .flat_map(|(path, item)| {
            item.as_object().unwrap().keys().map(move |method| format!("{method} {path}"))
        })
        .collect();
    operations.sort();
    let mut expected = vec![
        "get /v1/status",
        "get /v1/sys/seal-status",
        "post /v1/sys/init",
        "post /v1/sys/unseal",
        "post /v1/sys/seal",
        "post /v1/keys",
        "get /v1/keys",
        "get /v1/keys/{key}",
        "post /v1/keys/{key}/rotate",
        "post /v1/keys/{key}/activate",
        "post /v1/keys/{key}/deactivate",
        "get /v1/keys/{key}/public",
        "post /v1/keys/{key}/encrypt",
        "post /v1/keys/{key}/datakey",
        "post /v1/keys/{key}/sign",
        "post /v1/keys/{key}/verify",
        "post /v1/keys/{key}/mac",
        "post /v1/keys/{key}/mac-verify",
        "post /v1/keys/{key}/wrap",
        "post /v1/decrypt",
        "post /v1/unwrap",
        "get /v1/audit",
        "get /v1/audit/export",
        "get /v1/audit/verify",
        "post /v1/principals",
        "get /v1/principals",
        "post /v1/principals/{name}/disable",
        "post /v1/grants",
        "post /v1/keys/{key}/suspend",
        "post /v1/keys/{key}/resume",
        "post /v1/keys/{key}/compromise",
        "post /v1/keys/{key}/destroy",
        "post /v1/keys/{key}/destroy/cancel",
        "post /v1/keys/{key}/exceptions",
        "get /v1/approvals",
        "get /v1/approvals/{id}",
        "post /v1/approvals/{id}/approve",
        "post /v1/approvals/{id}/reject",
        "post /v1/webhooks",
        "get /v1/webhooks",
        "get /v1/webhooks/deliveries",
        "post /v1/rewrap",
        "get /v1/inventory",
        "post /v1/keys/{key}/reviews",
        "get /v1/anomalies",
        "get /v1/inventory/report",
        "get /v1/compliance/report",
        "get /v1/recovery/assessment",
        "post /v1/backups",
        "post /v1/backups/{id}/share",
        "post /v1/backups/restore",
        "post /v1/recovery/requests",
        "post /v1/recovery/drills",
        "post /v1/principals/{name}/enable",
        "patch /v1/principals/{name}",
        "post /v1/grants/revoke",
        "patch /v1/keys/{key}",
        "get /v1/aliases",
        "post /v1/aliases",
        "put /v1/aliases/{alias}",
        "delete /v1/aliases/{alias}",
        "delete /v1/webhooks/{id}",
        "get /v1/audit/archive-plan",
        "get /v1/audit/archive-rows",
        "post /v1/audit/archives",
        "post /v1/webhooks/{id}/disable",
        "post /v1/webhooks/{id}/enable",
        "post /v1/webhooks/{id}/rotate-secret",
        "post /v1/principals/{name}/access-keys",
        "get /v1/access-keys",
        "post /v1/access-keys/{id}/disable",
        "post /v1/access-keys/{id}/enable",
        "delete /v1/access-keys/{id}",
        "post /v1/keys/{key}/import-params",
        "post /v1/keys/{key}/import",
        "delete /v1/keys/{key}/material",
    ];
    expected.sort_unstable();
    assert_eq!(operations, expected);
    let encrypt = &paths["/v1/keys/{key}/encrypt"]["post"];
    assert_eq!(
        encrypt["requestBody"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Encrypt"
    );
    assert!(encrypt["responses"]["default"].is_object(), "errors are described");
    // Public routes say so; the rest inherit bearer-or-mTLS.
    assert_eq!(paths["/v1/sys/unseal"]["post"]["security"], serde_json::json!([{}]));
    assert!(paths["/v1/keys"]["post"].get("security").is_none());
    let schemes = &document["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["mtls"]["type"], "mutualTLS");
    let create = &document["components"]["schemas"]["CreateKey"]["properties"];
    for field in ["name", "purpose", "algorithm", "usage_context"] {
        assert!(create[field].is_object(), "CreateKey.{field} is documented");
    }
}
