//! The admin verbs through the real binary: grant revoke, principal update and enable, each
//! refused for roles and tenants that may not, each audited.

use serde_json::Value;

use crate::util::DevServer;

fn token_of(created: &str) -> String {
    let line = created.lines().find(|l| l.starts_with("Token")).expect("a token line");
    line.rsplit(' ').next().unwrap().trim().to_owned()
}

fn code(server: &DevServer, args: &[&str], stdin: &[u8]) -> (Option<i32>, String) {
    let out = server.cli(args, stdin);
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn grants_are_revoked_and_principals_updated_and_enabled() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(dir.path());
    server.ok(&["key", "create", "prompts", "--purpose", "encrypt", "--algorithm", "aes-256-gcm"], b"");
    let app = token_of(&server.ok(&["principal", "create", "app", "--role", "crypto-user"], b""));
    server.ok(&["grant", "add", "--principal", "app", "--key", "prompts", "--ops", "encrypt,decrypt"], b"");
    let ciphertext = server.ok(&["--token", &app, "encrypt", "prompts"], b"hello");

    // Part of a grant, then the rest: each takes effect on the next request.
    let out =
        server.ok(&["grant", "revoke", "--principal", "app", "--key", "prompts", "--ops", "encrypt"], b"");
    assert!(out.contains("may still decrypt"), "{out}");
    assert_eq!(code(&server, &["--token", &app, "encrypt", "prompts"], b"x").0, Some(5));
    assert_eq!(server.ok(&["--token", &app, "decrypt"], ciphertext.as_bytes()), "hello");
    let gone: Value = serde_json::from_str(
        &server.ok(&["--output", "json", "grant", "revoke", "--principal", "app", "--key", "prompts"], b""),
    )
    .unwrap();
    assert_eq!(gone["operations"], serde_json::json!([]));
    assert_eq!(code(&server, &["--token", &app, "decrypt"], ciphertext.as_bytes()).0, Some(5));
    // Nothing left to revoke: not found, and nothing changes.
    let (status, err) = code(&server, &["grant", "revoke", "--principal", "app", "--key", "prompts"], b"");
    assert_eq!(status, Some(4), "{err}");
    assert!(err.contains("no grant"), "{err}");
    // A crypto user may not revoke grants.
    let (status, err) =
        code(&server, &["--token", &app, "grant", "revoke", "--principal", "app", "--key", "prompts"], b"");
    assert_eq!(status, Some(5), "{err}");

    // Roles replaced: the new role's rights, the old one's gone, at once.
    assert_eq!(code(&server, &["--token", &app, "audit", "verify"], b"").0, Some(5));
    let updated: Value = serde_json::from_str(&server.ok(
        &["--output", "json", "principal", "update", "app", "--role", "auditor", "--expires-in", "30d"],
        b"",
    ))
    .unwrap();
    assert_eq!(updated["roles"], serde_json::json!(["auditor"]));
    assert!(updated["expires_at"].is_string(), "{updated}");
    assert_eq!(code(&server, &["--token", &app, "audit", "verify"], b"").0, Some(0));
    // Separation of duties: a forbidden pair is refused, and the roles stay as they were.
    let (status, err) = code(&server, &["principal", "update", "app", "--role", "admin,crypto-user"], b"");
    assert_eq!(status, Some(5), "{err}");
    assert!(err.contains("may not be held together"), "{err}");
    let (status, _) = code(&server, &["principal", "create", "both", "--role", "auditor,key-custodian"], b"");
    assert_eq!(status, Some(5));
    assert_eq!(code(&server, &["--token", &app, "audit", "verify"], b"").0, Some(0));
    // An auditor may not update principals; an update of nothing is a usage mistake.
    assert_eq!(
        code(&server, &["--token", &app, "principal", "update", "app", "--never-expires"], b"").0,
        Some(5)
    );
    assert_eq!(code(&server, &["principal", "update", "app"], b"").0, Some(1));
    assert_eq!(code(&server, &["principal", "update", "ghost", "--never-expires"], b"").0, Some(4));

    // Disabled, then enabled: the same token works again.
    server.ok(&["principal", "disable", "app"], b"");
    assert_eq!(code(&server, &["--token", &app, "audit", "verify"], b"").0, Some(3));
    let (status, err) = code(&server, &["principal", "enable", "app"], b"");
    assert_eq!(status, Some(0), "{err}");
    assert_eq!(code(&server, &["--token", &app, "audit", "verify"], b"").0, Some(0));
    assert_eq!(code(&server, &["principal", "enable", "app"], b"").0, Some(5), "already enabled");
    assert_eq!(code(&server, &["principal", "enable", "root"], b"").0, Some(1), "root is never re-enabled");

    // A tenant's admin reaches its own tenant's principals only.
    let tenant_admin = token_of(
        &server.ok(&["principal", "create", "acme-admin", "--role", "admin", "--tenant", "acme"], b""),
    );
    server.ok(&["principal", "create", "acme-app", "--role", "crypto-user", "--tenant", "acme"], b"");
    server.ok(&["--token", &tenant_admin, "principal", "update", "acme-app", "--expires-in", "1d"], b"");
    let (status, err) =
        code(&server, &["--token", &tenant_admin, "principal", "update", "app", "--never-expires"], b"");
    assert_eq!(status, Some(5), "{err}");

    // Every change is in the audit log, with what it changed.
    let events: Value =
        serde_json::from_str(&server.ok(&["audit", "list", "--output", "json"], b"")).unwrap();
    let actions: Vec<(String, String)> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["action"].as_str().unwrap().to_owned(), e["outcome"].as_str().unwrap().to_owned()))
        .collect();
    for wanted in ["grant.revoke", "principal.update", "principal.enable"] {
        assert!(actions.contains(&(wanted.to_owned(), "success".to_owned())), "{wanted}: {actions:?}");
        assert!(actions.contains(&(wanted.to_owned(), "denied".to_owned())), "{wanted} refused: {actions:?}");
    }
    let update = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "principal.update" && e["outcome"] == "success")
        .unwrap();
    assert_eq!(update["details"]["previous_roles"], "crypto-user", "{update}");
}

#[test]
fn keys_are_updated_and_named_by_aliases() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(dir.path());
    server.ok(
        &[
            "key",
            "create",
            "prompts",
            "--purpose",
            "encrypt",
            "--algorithm",
            "aes-256-gcm",
            "--label",
            "team=ml",
        ],
        b"",
    );
    server.ok(
        &[
            "key",
            "create",
            "prompts-v2",
            "--purpose",
            "encrypt",
            "--algorithm",
            "aes-256-gcm",
            "--description",
            "next",
        ],
        b"",
    );
    assert_eq!(json_of(&server, &["key", "show", "prompts-v2"])["description"], "next", "stored at creation");

    // Attributes change; purpose and algorithm cannot even be named.
    let updated: Value = serde_json::from_str(&server.ok(
        &[
            "--output",
            "json",
            "key",
            "update",
            "prompts",
            "--owner",
            "ml-platform",
            "--label",
            "tier=gold",
            "--remove-label",
            "team",
            "--description",
            "prompt store",
            "--rotation-period",
            "90d",
            "--criticality",
            "high",
            "--classification",
            "restricted",
        ],
        b"",
    ))
    .unwrap();
    assert_eq!(updated["owner"], "ml-platform");
    assert_eq!(updated["labels"], serde_json::json!({"tier": "gold"}));
    assert_eq!(updated["description"], "prompt store");
    assert_eq!(updated["rotation_period_seconds"], 90 * 86_400);
    assert_eq!(updated["criticality"], "high");
    assert_eq!(updated["purpose"], "encrypt");
    assert_eq!(
        code(&server, &["key", "update", "prompts", "--purpose", "sign"], b"").0,
        Some(2),
        "no such flag"
    );
    assert_eq!(code(&server, &["key", "update", "prompts", "--remove-label", "absent"], b"").0, Some(1));
    assert_eq!(
        code(&server, &["key", "update", "prompts", "--protect-period", "30d"], b"").0,
        Some(1),
        "shorter than rotation"
    );
    let recoverable = json_of(&server, &["key", "update", "prompts", "--non-recoverable"]);
    assert_eq!(recoverable["recoverable"], false);
    // Only key custodians (and root) update keys.
    let app = token_of(&server.ok(&["principal", "create", "app", "--role", "crypto-user"], b""));
    assert_eq!(
        code(&server, &["--token", &app, "key", "update", "prompts", "--owner", "me"], b"").0,
        Some(5)
    );

    // An alias names a key wherever a key name is accepted.
    server.ok(&["alias", "create", "alias/current-prompts", "--key", "prompts"], b"");
    let ciphertext = server.ok(&["encrypt", "alias/current-prompts"], b"hello");
    assert!(ciphertext.starts_with(&format!("ks1:{}:", updated["id"].as_str().unwrap())), "{ciphertext}");
    let shown = json_of(&server, &["key", "show", "alias/current-prompts"]);
    assert_eq!(shown["name"], "prompts");
    assert_eq!(shown["aliases"], serde_json::json!(["alias/current-prompts"]));
    assert_eq!(code(&server, &["alias", "create", "no-prefix", "--key", "prompts"], b"").0, Some(1));
    assert_eq!(
        code(&server, &["alias", "create", "alias/current-prompts", "--key", "prompts-v2"], b"").0,
        Some(1)
    );
    assert_eq!(code(&server, &["alias", "create", "alias/x", "--key", "missing"], b"").0, Some(4));
    // Moved to another key: new data goes there; old ciphertexts still decrypt by key id.
    server.ok(&["alias", "update", "alias/current-prompts", "--key", "prompts-v2"], b"");
    let newer = server.ok(&["encrypt", "alias/current-prompts"], b"again");
    assert!(!newer.starts_with(&format!("ks1:{}:", updated["id"].as_str().unwrap())), "{newer}");
    assert_eq!(server.ok(&["decrypt"], ciphertext.as_bytes()), "hello");
    let listed = json_of(&server, &["alias", "list"]);
    assert_eq!(listed[0]["key_name"], "prompts-v2");
    assert_eq!(listed[0]["key_usable"], true);
    // Custodian work: a crypto user may not make aliases; then deleted, the alias is unknown.
    assert_eq!(
        code(&server, &["--token", &app, "alias", "create", "alias/mine", "--key", "prompts"], b"").0,
        Some(5)
    );
    server.ok(&["alias", "delete", "alias/current-prompts"], b"");
    assert_eq!(code(&server, &["encrypt", "alias/current-prompts"], b"x").0, Some(4));
    assert_eq!(code(&server, &["alias", "delete", "alias/current-prompts"], b"").0, Some(4));

    let events: Value =
        serde_json::from_str(&server.ok(&["audit", "list", "--output", "json"], b"")).unwrap();
    let actions: Vec<&str> =
        events.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for wanted in ["key.update", "key.recovery-policy", "alias.create", "alias.update", "alias.delete"] {
        assert!(actions.contains(&wanted), "{wanted}: {actions:?}");
    }
    let policy = events.as_array().unwrap().iter().find(|e| e["action"] == "key.recovery-policy").unwrap();
    assert_eq!(policy["details"]["recoverable_to"], "false", "{policy}");
}

fn json_of(server: &DevServer, args: &[&str]) -> Value {
    let mut full = vec!["--output", "json"];
    full.extend_from_slice(args);
    serde_json::from_str(&server.ok(&full, b"")).unwrap()
}
