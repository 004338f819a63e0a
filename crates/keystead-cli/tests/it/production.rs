//! A production-style server (`--config`, shamir seal, HTTPS with a test CA made here) driven
//! by the real CLI: init 3-of-5, restart, unseal by three shares, every role allowed and
//! denied, client-certificate logins, and bad input refused without changing anything.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use serde_json::Value;

use crate::util::{free_port, DevServer, BIN};

/// A certificate authority made for one test.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Self { cert, key }
    }

    /// Issues a leaf certificate; writes `<stem>.pem` and `<stem>.key` into `dir`.
    pub fn issue(
        &self,
        dir: &Path,
        stem: &str,
        common_name: &str,
        usage: ExtendedKeyUsagePurpose,
    ) -> (PathBuf, PathBuf) {
        let names = if usage == ExtendedKeyUsagePurpose::ServerAuth {
            vec!["localhost".to_owned(), "127.0.0.1".to_owned()]
        } else {
            Vec::new()
        };
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![usage];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let (cert_path, key_path) = (dir.join(format!("{stem}.pem")), dir.join(format!("{stem}.key")));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path)
    }

    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.cert.pem()).unwrap();
    }
}

fn config_text(port: u16) -> String {
    format!(
        "listen = \"127.0.0.1:{port}\"\nenvironment = \"production\"\nnode = \"prod-1\"\n\
         [storage]\nurl = \"sqlite://data/keystead.db\"\n[seal]\nkind = \"shamir\"\n\
         [tls]\ncert = \"server.pem\"\nkey = \"server.key\"\nclient_ca = \"ca.pem\"\n"
    )
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs a command that must fail with `code`; returns its stderr.
fn fails(server: &DevServer, args: &[&str], code: i32) -> String {
    let out = server.cli(args, b"");
    assert_eq!(out.status.code(), Some(code), "keystead {args:?}: {}", stderr(&out));
    stderr(&out)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// `keystead server --config` that must fail at start; returns its stderr.
fn server_refuses(dir: &Path, config: &Path) -> String {
    let out = Command::new(BIN)
        .args(["server", "--config"])
        .arg(config)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "the server started with {}", config.display());
    stderr(&out)
}

/// `GET /metrics` over HTTPS, trusting only the test CA.
fn fetch_metrics(url: &str, ca: &Path) -> String {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
    let client = reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let response = client.get(format!("{url}/metrics")).send().unwrap();
    assert!(response.status().is_success());
    response.text().unwrap()
}

#[test]
fn production_server_over_https_with_shamir_seal_roles_and_mtls() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = TestCa::new("Keystead test CA");
    ca.write(&d.join("ca.pem"));
    ca.issue(d, "server", "localhost", ExtendedKeyUsagePurpose::ServerAuth);
    let (svc_cert, svc_key) = ca.issue(d, "svc", "svc-encryptor", ExtendedKeyUsagePurpose::ClientAuth);
    let (ghost_cert, ghost_key) = ca.issue(d, "ghost", "ghost", ExtendedKeyUsagePurpose::ClientAuth);
    let (root_cert, root_key) = ca.issue(d, "root-cert", "root", ExtendedKeyUsagePurpose::ClientAuth);
    let rogue = TestCa::new("Rogue CA");
    let (rogue_cert, rogue_key) =
        rogue.issue(d, "rogue", "svc-encryptor", ExtendedKeyUsagePurpose::ClientAuth);
    rogue.write(&d.join("rogue-ca.pem"));

    let port = free_port();
    let config = d.join("keystead.toml");
    std::fs::write(&config, config_text(port)).unwrap();
    let url = format!("https://127.0.0.1:{port}");
    let ca_env = [("KEYSTEAD_CACERT", d.join("ca.pem"))];
    let ca_env: Vec<(&str, &Path)> = ca_env.iter().map(|(k, v)| (*k, v.as_path())).collect();

    let server = DevServer::start_configured(d, &config, &url, &ca_env);
    assert!(server.log().contains(&format!("https://127.0.0.1:{port}")), "{}", server.log());
    // The store is the owner's alone from the first byte.
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777
    };
    assert_eq!((mode(&d.join("data")), mode(&d.join("data/keystead.db"))), (0o700, 0o600));
    assert!(server.log().contains("not initialized"), "{}", server.log());
    assert_eq!(server.cli(&["operator", "status"], b"").status.code(), Some(8));

    // Without the CA the client refuses to talk; with a CA that did not sign the server's
    // certificate the handshake fails and says why.
    let no_ca = Command::new(BIN)
        .args(["operator", "status", "--addr", &url])
        .env_remove("KEYSTEAD_CACERT")
        .output()
        .unwrap();
    assert!(stderr(&no_ca).contains("--ca-cert"), "{}", stderr(&no_ca));
    let wrong_ca =
        fails(&server, &["operator", "status", "--ca-cert", d.join("rogue-ca.pem").to_str().unwrap()], 7);
    assert!(wrong_ca.to_lowercase().contains("certificate"), "{wrong_ca}");

    let init =
        json(&server.ok(&["--output", "json", "operator", "init", "--shares", "5", "--threshold", "3"], b""));
    let shares: Vec<String> =
        init["shares"].as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_owned()).collect();
    assert_eq!(shares.len(), 5);
    let root_token = init["root_token"].as_str().unwrap().to_owned();
    assert!(root_token.starts_with("kst_"));
    // A second init is refused and changes nothing.
    fails(&server, &["operator", "init", "--shares", "3", "--threshold", "2"], 5);
    // Initialized but sealed: nothing with material works.
    let sealed = fails(&server, &["--token", &root_token, "key", "list"], 8);
    assert!(sealed.contains("sealed"), "{sealed}");
    let first_log = server.stop();

    // Restart: still sealed, the shares open it.
    let server = DevServer::start_configured(d, &config, &url, &ca_env);
    assert!(server.log().contains("3 of 5 unseal shares"), "{}", server.log());
    let progress = server.ok(&["operator", "unseal", &shares[0]], b"");
    assert!(progress.contains("1 of 3"), "{progress}");
    let repeated = fails(&server, &["operator", "unseal", &shares[0]], 1);
    assert!(repeated.contains("already"), "{repeated}");
    // One mistyped character: refused by the check digits, and the share is not echoed.
    let mut mistyped = shares[1].clone().into_bytes();
    let at = mistyped.len() - 12;
    mistyped[at] = if mistyped[at] == b'A' { b'B' } else { b'A' };
    let mistyped = String::from_utf8(mistyped).unwrap();
    let refused = fails(&server, &["operator", "unseal", &mistyped], 1);
    assert!(!refused.contains(&mistyped), "{refused}");
    let status = server.cli(&["--output", "json", "operator", "status"], b"");
    assert_eq!(status.status.code(), Some(8));
    assert_eq!(json(&String::from_utf8_lossy(&status.stdout))["progress"], 1);
    // The second share from stdin, as an operator would keep it out of the shell history.
    server.ok(&["operator", "unseal"], format!("{}\n", shares[2]).as_bytes());
    let unsealed = server.ok(&["operator", "unseal", &shares[4]], b"");
    assert!(unsealed.contains("unsealed"), "{unsealed}");

    // One principal per role.
    let root = |args: &[&str]| -> String {
        let mut all = vec!["--token", root_token.as_str()];
        all.extend_from_slice(args);
        server.ok(&all, b"")
    };
    let mut tokens = std::collections::HashMap::new();
    for role in ["admin", "key-custodian", "crypto-user", "auditor", "incident-responder", "recovery-officer"]
    {
        let out =
            json(&root(&["--output", "json", "principal", "create", &format!("the-{role}"), "--role", role]));
        tokens.insert(role, out["token"].as_str().unwrap().to_owned());
    }
    root(&["principal", "create", "svc-encryptor", "--role", "crypto-user"]);
    let as_role = |role: &str, args: &[&str]| -> Output {
        let mut all = vec!["--token", tokens[role].as_str()];
        all.extend_from_slice(args);
        server.cli(&all, b"payload")
    };
    let expect = |role: &str, args: &[&str], code: i32| {
        let out = as_role(role, args);
        assert_eq!(out.status.code(), Some(code), "{role} {args:?}: {}", stderr(&out));
    };

    let create = [
        "key",
        "create",
        "prompts",
        "--purpose",
        "encrypt",
        "--algorithm",
        "aes-256-gcm",
        "--usage-context",
        "prompt-encryption",
    ];
    for role in ["admin", "crypto-user", "auditor", "incident-responder", "recovery-officer"] {
        expect(role, &create, 5);
    }
    expect("key-custodian", &create, 0);
    // Nobody but a granted crypto user encrypts: not the custodian, not the admin.
    for role in ["key-custodian", "admin", "auditor", "incident-responder", "recovery-officer", "crypto-user"]
    {
        expect(role, &["encrypt", "prompts"], 5);
    }
    expect(
        "admin",
        &["grant", "add", "--principal", "the-crypto-user", "--key", "prompts", "--ops", "encrypt,decrypt"],
        0,
    );
    expect(
        "key-custodian",
        &["grant", "add", "--principal", "the-crypto-user", "--key", "prompts", "--ops", "encrypt"],
        5,
    );
    let ciphertext = as_role("crypto-user", &["encrypt", "prompts"]);
    assert!(ciphertext.status.success(), "{}", stderr(&ciphertext));
    for role in ["auditor", "incident-responder"] {
        expect(role, &["audit", "verify"], 0);
    }
    for role in ["admin", "key-custodian", "crypto-user", "recovery-officer"] {
        expect(role, &["audit", "verify"], 5);
    }
    expect("admin", &["principal", "list"], 0);
    for role in ["key-custodian", "crypto-user", "auditor", "incident-responder", "recovery-officer"] {
        expect(role, &["principal", "create", "intruder", "--role", "admin"], 5);
        expect(role, &["key", "list"], 0);
    }

    // A client certificate from the configured CA logs in as the principal its CN names.
    let svc = ["--client-cert", svc_cert.to_str().unwrap(), "--client-key", svc_key.to_str().unwrap()];
    fails(&server, &[&svc[..], &["encrypt", "prompts"]].concat(), 5);
    expect(
        "admin",
        &["grant", "add", "--principal", "svc-encryptor", "--key", "prompts", "--ops", "encrypt"],
        0,
    );
    let by_certificate = server.cli(&[&svc[..], &["encrypt", "prompts"]].concat(), b"from a service");
    assert!(by_certificate.status.success(), "{}", stderr(&by_certificate));
    // Unknown CN, the root principal by certificate, a certificate of another CA: refused.
    let ghost = ["--client-cert", ghost_cert.to_str().unwrap(), "--client-key", ghost_key.to_str().unwrap()];
    fails(&server, &[&ghost[..], &["key", "list"]].concat(), 3);
    let root_by_cert =
        ["--client-cert", root_cert.to_str().unwrap(), "--client-key", root_key.to_str().unwrap()];
    fails(&server, &[&root_by_cert[..], &["key", "list"]].concat(), 3);
    let rogue_args =
        ["--client-cert", rogue_cert.to_str().unwrap(), "--client-key", rogue_key.to_str().unwrap()];
    fails(&server, &[&rogue_args[..], &["key", "list"]].concat(), 7);
    // A key that does not belong to the certificate.
    let mismatched = fails(
        &server,
        &[
            "--client-cert",
            svc_cert.to_str().unwrap(),
            "--client-key",
            ghost_key.to_str().unwrap(),
            "key",
            "list",
        ],
        1,
    );
    assert!(mismatched.contains("do not go together"), "{mismatched}");

    // Bad credentials: malformed, disabled, expired.
    fails(&server, &["--token", "kst_not-a-real-token", "key", "list"], 3);
    fails(&server, &["--token", "garbage with spaces", "key", "list"], 3);
    expect("admin", &["principal", "disable", "the-recovery-officer"], 0);
    expect("recovery-officer", &["key", "list"], 3);
    let short = json(&root(&[
        "--output",
        "json",
        "principal",
        "create",
        "contractor",
        "--role",
        "auditor",
        "--expires-in",
        "1s",
    ]));
    assert!(short["expires_at"].is_string(), "{short}");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    fails(&server, &["--token", short["token"].as_str().unwrap(), "key", "list"], 3);
    let bad_lifetime = fails(
        &server,
        &["--token", &root_token, "principal", "create", "x", "--role", "auditor", "--expires-in", "5y"],
        2,
    );
    assert!(bad_lifetime.contains("unit"), "{bad_lifetime}");

    // The audit log names the method and counts the denials.
    let events =
        json(&server.ok(
            &["--token", &tokens["auditor"], "--output", "json", "audit", "list", "--limit", "1000"],
            b"",
        ));
    let events = events.as_array().unwrap();
    let denied = events.iter().filter(|e| e["outcome"] == "denied" && e["action"] != "auth.failed").count();
    assert!(denied >= 20, "{denied} denials audited");
    let by_mtls = |outcome: &str| {
        events.iter().any(|e| {
            e["details"]["auth_method"] == "mtls"
                && e["actor"] == "svc-encryptor"
                && e["action"] == "crypto.encrypt"
                && e["outcome"] == outcome
        })
    };
    assert!(by_mtls("denied") && by_mtls("success"), "certificate logins are attributed");
    assert!(events
        .iter()
        .any(|e| e["action"] == "auth.failed" && e["details"]["certificate_subject"] == "ghost"));
    assert!(events.iter().any(|e| e["action"] == "operator.unseal"));

    // An incident responder pulls the emergency stop: everything needing material stops.
    expect("incident-responder", &["operator", "seal"], 0);
    expect("crypto-user", &["encrypt", "prompts"], 8);
    assert_eq!(server.cli(&["operator", "status"], b"").status.code(), Some(8));

    // Metrics: counts by route template and error code, never a key name, principal or token.
    let metrics = fetch_metrics(&url, &d.join("ca.pem"));
    for expected in [
        "keystead_sealed 1",
        "keystead_initialized 1",
        r#"keystead_requests_total{operation="POST /v1/keys/{key}/encrypt",outcome="permission_denied"}"#,
        r#"keystead_requests_total{operation="POST /v1/keys/{key}/encrypt",outcome="success"}"#,
        r#"keystead_requests_total{operation="POST /v1/keys/{key}/encrypt",outcome="sealed"}"#,
        r#"keystead_denials_total{reason="unauthenticated"}"#,
        r#"keystead_request_duration_seconds_bucket{le="#,
        "keystead_key_cache_hits_total",
    ] {
        assert!(metrics.contains(expected), "{expected} missing from\n{metrics}");
    }
    for private in ["prompts", "svc-encryptor", "the-crypto-user", "kst_", "kss1"] {
        assert!(!metrics.contains(private), "{private} in the metrics");
    }
    let second_log = server.stop();

    // Nothing secret reached the server's log.
    for log in [&first_log, &second_log] {
        for secret in shares.iter().chain([&root_token]).chain(tokens.values()) {
            assert!(!log.contains(secret.as_str()), "a secret reached the server log");
        }
    }
}

#[test]
fn bad_configurations_stop_the_server_before_it_touches_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let port = free_port();

    let garbage = d.join("garbage.toml");
    std::fs::write(&garbage, "listen = \"127.0.0.1:1\"\n[storage\nurl = \"postgres://u:HUNTER2@h/db\"\n")
        .unwrap();
    let out = server_refuses(d, &garbage);
    assert!(out.contains("line 2") && !out.contains("HUNTER2"), "{out}");

    // A missing certificate file is named; the store is not created.
    let missing = d.join("missing-cert.toml");
    std::fs::write(&missing, config_text(port)).unwrap();
    let out = server_refuses(d, &missing);
    assert!(out.contains("server.pem"), "{out}");
    assert!(!d.join("data").exists(), "the store was created despite a bad configuration");

    // A private key file that holds no key: named, its content never quoted.
    let ca = TestCa::new("Keystead test CA");
    ca.write(&d.join("ca.pem"));
    ca.issue(d, "server", "localhost", ExtendedKeyUsagePurpose::ServerAuth);
    std::fs::write(d.join("server.key"), "not a key but a SECRETISH line\n").unwrap();
    let out = server_refuses(d, &missing);
    assert!(out.contains("server.key") && !out.contains("SECRETISH"), "{out}");
    assert!(!d.join("data").exists());

    // --dev and --config together, or neither: a clear usage error.
    let both = Command::new(BIN).args(["server", "--dev", "--config"]).arg(&missing).output().unwrap();
    assert_eq!(both.status.code(), Some(2), "{}", stderr(&both));
    assert!(stderr(&both).contains("cannot be used with"), "{}", stderr(&both));
    let ignored = Command::new(BIN)
        .args(["server", "--listen", "0.0.0.0:1", "--config"])
        .arg(&missing)
        .output()
        .unwrap();
    assert_eq!(ignored.status.code(), Some(2), "flags the file overrides are refused, not ignored");
    let neither = Command::new(BIN).args(["server"]).output().unwrap();
    assert!(stderr(&neither).contains("--config FILE"), "{}", stderr(&neither));
}
