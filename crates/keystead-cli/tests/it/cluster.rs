//! Several `keystead server` processes on one PostgreSQL database, and that database going
//! away under a running node. Each test runs its own private PostgreSQL instance.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::postgres::PrivatePostgres;
use crate::production::TestCa;
use crate::util::{free_port, DevServer};

/// A node's configuration: plain HTTP on loopback, the shared database.
fn start_node(dir: &Path, name: &str, database: &str) -> DevServer {
    let node_dir = dir.join(name);
    std::fs::create_dir_all(&node_dir).unwrap();
    let port = free_port();
    let config = node_dir.join("keystead.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\nenvironment = \"production\"\nnode = \"{name}\"\n\
             [storage]\nurl = \"{database}\"\nrecheck_ms = 1000\n"
        ),
    )
    .unwrap();
    DevServer::start_configured(&node_dir, &config, &format!("http://127.0.0.1:{port}"), &[])
}

/// A REST client with a token.
struct Api {
    http: reqwest::blocking::Client,
    token: String,
}

impl Api {
    fn new(token: &str) -> Self {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::blocking::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
        Self { http, token: token.to_owned() }
    }

    /// POSTs `body`; the status and the JSON answer.
    fn post(&self, node: &DevServer, path: &str, body: &Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", node.addr))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().unwrap_or(Value::Null))
    }

    fn ok(&self, node: &DevServer, path: &str, body: &Value) -> Value {
        let (status, out) = self.post(node, path, body);
        assert_eq!(status, 200, "{path}: {out}");
        out
    }

    /// GETs `path`; the status.
    fn get(&self, node: &DevServer, path: &str) -> u16 {
        self.http
            .get(format!("{}{path}", node.addr))
            .bearer_auth(&self.token)
            .send()
            .unwrap()
            .status()
            .as_u16()
    }

    fn patch(&self, node: &DevServer, path: &str, body: &Value) -> Value {
        let response = self
            .http
            .patch(format!("{}{path}", node.addr))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
        response.json().unwrap()
    }

    fn encrypt(&self, node: &DevServer, key: &str) -> (u16, Value) {
        self.post(node, &format!("/v1/keys/{key}/encrypt"), &json!({ "plaintext": "aGVsbG8=" }))
    }
}

/// Initializes through `first` (2 of 3 shares) and unseals every node; the root token.
fn init_and_unseal(nodes: &[&DevServer]) -> String {
    let init: Value = serde_json::from_str(
        &nodes[0].ok(&["--output", "json", "operator", "init", "--shares", "3", "--threshold", "2"], b""),
    )
    .unwrap();
    let shares: Vec<&str> = init["shares"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    for (i, node) in nodes.iter().enumerate() {
        // Each node is unsealed on its own, by any two operators.
        node.ok(&["operator", "unseal", shares[i % 3]], b"");
        node.ok(&["operator", "unseal", shares[(i + 1) % 3]], b"");
    }
    init["root_token"].as_str().unwrap().to_owned()
}

/// Polls `probe` until it returns true; how long that took. Panics after `limit`.
fn wait_until(limit: Duration, what: &str, mut probe: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !probe() {
        assert!(started.elapsed() < limit, "{what} did not happen within {limit:?}");
        std::thread::sleep(Duration::from_millis(1));
    }
    started.elapsed()
}

fn create_key(api: &Api, node: &DevServer, name: &str) {
    api.ok(
        node,
        "/v1/keys",
        &json!({ "name": name, "purpose": "encrypt", "algorithm": "aes-256-gcm", "usage_context": "prompt-encryption" }),
    );
}

#[test]
fn two_nodes_on_one_database_behave_as_one_service() {
    let Some(pg) = PrivatePostgres::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let a = start_node(dir.path(), "node-a", &pg.url());
    let b = start_node(dir.path(), "node-b", &pg.url());
    // B started before the store was initialized; it learns of A's init from the store.
    let root = Api::new(&init_and_unseal(&[&a, &b]));

    // A key created on A is usable on B, and B's ciphertext decrypts on A.
    create_key(&root, &a, "shared");
    let (status, sealed) = root.encrypt(&b, "shared");
    assert_eq!(status, 200, "{sealed}");
    let opened = root.ok(&a, "/v1/decrypt", &json!({ "ciphertext": sealed["ciphertext"] }));
    assert_eq!(opened["plaintext"], "aGVsbG8=");

    // A rotation on A reaches B's cache: B's next ciphertexts use version 2.
    root.ok(&a, "/v1/keys/shared/rotate", &json!({}));
    wait_until(Duration::from_secs(10), "rotation reaching node B", || {
        root.encrypt(&b, "shared").1["ciphertext"].as_str().is_some_and(|c| c.contains(":v2:"))
    });

    // Rotations racing on both nodes: each either succeeds or loses with `conflict`; none
    // breaks the server, and the versions stay a gap-free sequence.
    for _ in 0..5 {
        let statuses: Vec<(u16, Value)> = std::thread::scope(|scope| {
            let racers: Vec<_> = [&a, &b]
                .into_iter()
                .map(|node| scope.spawn(|| root.post(node, "/v1/keys/shared/rotate", &json!({}))))
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        for (status, out) in &statuses {
            assert!(
                *status == 200 || (*status == 409 && out["error"]["code"] == "conflict"),
                "{status}: {out}"
            );
        }
    }
    let shown: Value = serde_json::from_str(
        &a.ok(&["--token", &root.token, "--output", "json", "key", "show", "shared"], b""),
    )
    .unwrap();
    let numbers: Vec<u64> =
        shown["versions"].as_array().unwrap().iter().map(|v| v["number"].as_u64().unwrap()).collect();
    assert_eq!(numbers, (1..=numbers.len() as u64).collect::<Vec<_>>(), "{numbers:?}");

    // A grant added on A, then the principal disabled on A: B follows both.
    let app: Value = root.ok(&a, "/v1/principals", &json!({ "name": "app", "roles": ["crypto-user"] }));
    let app = Api::new(app["token"].as_str().unwrap());
    assert_eq!(app.encrypt(&b, "shared").0, 403, "no grant yet");
    root.ok(&a, "/v1/grants", &json!({ "principal": "app", "key": "shared", "ops": ["encrypt"] }));
    wait_until(Duration::from_secs(10), "grant reaching node B", || app.encrypt(&b, "shared").0 == 200);
    root.ok(&a, "/v1/principals/app/disable", &json!({}));
    wait_until(Duration::from_secs(10), "principal disable reaching node B", || {
        app.encrypt(&b, "shared").0 == 401
    });
    // Enabled again, its grant back in force; then the grant revoked and its role changed on
    // A: B follows each at once.
    root.ok(&a, "/v1/principals/app/enable", &json!({}));
    wait_until(Duration::from_secs(10), "principal enable reaching node B", || {
        app.encrypt(&b, "shared").0 == 200
    });
    root.ok(&a, "/v1/grants/revoke", &json!({ "principal": "app", "key": "shared", "ops": ["encrypt"] }));
    wait_until(Duration::from_secs(10), "grant revocation reaching node B", || {
        app.encrypt(&b, "shared").0 == 403
    });
    assert_eq!(app.get(&b, "/v1/audit/verify"), 403, "a crypto user does not read the audit log");
    let updated = root.patch(&a, "/v1/principals/app", &json!({ "roles": ["auditor"] }));
    assert_eq!(updated["roles"], json!(["auditor"]));
    wait_until(Duration::from_secs(10), "role change reaching node B", || {
        app.get(&b, "/v1/audit/verify") == 200
    });

    // The figure (CEK-19 "from that moment on every node"): from a compromise report
    // committed on A to node B refusing encryption with `key_compromised`.
    let mut figures = Vec::new();
    for i in 0..7 {
        let name = format!("hot-{i}");
        create_key(&root, &a, &name);
        assert_eq!(root.encrypt(&b, &name).0, 200, "B has the key in its cache");
        let report = json!({ "incident": "INC-1", "occurred_at": "2026-01-01T00:00:00Z", "reason": "drill" });
        root.ok(&a, &format!("/v1/keys/{name}/compromise"), &report);
        figures.push(wait_until(Duration::from_secs(10), "the compromise reaching node B", || {
            let (status, out) = root.encrypt(&b, &name);
            status == 409 && out["error"]["code"] == "key_compromised"
        }));
    }
    figures.sort();
    println!(
        "propagation from a compromise committed on node A to node B refusing encryption: median {:.1} ms, max {:.1} ms over {} keys (LISTEN/NOTIFY; re-check every 1000 ms as the fallback)",
        figures[figures.len() / 2].as_secs_f64() * 1000.0,
        figures[figures.len() - 1].as_secs_f64() * 1000.0,
        figures.len()
    );

    // Each node wrote its own audit chain; both verify.
    let verify = a.ok(&["--token", &root.token, "audit", "verify"], b"");
    assert!(verify.contains("in 2 chain(s)"), "{verify}");
    let b_log = b.stop();
    let a_log = a.stop();
    assert!(!a_log.contains(&root.token) && !b_log.contains(&root.token));
}

#[test]
fn a_database_outage_fails_requests_fast_and_the_node_recovers_by_itself() {
    let Some(pg) = PrivatePostgres::start() else { return };
    let dir = tempfile::tempdir().unwrap();
    let node = start_node(dir.path(), "node-a", &pg.url());
    let root = Api::new(&init_and_unseal(&[&node]));
    create_key(&root, &node, "before");
    assert_eq!(root.encrypt(&node, "before").0, 200);

    pg.stop();
    let started = Instant::now();
    let (status, out) = root.post(
        &node,
        "/v1/keys",
        &json!({ "name": "during", "purpose": "encrypt", "algorithm": "aes-256-gcm", "usage_context": "prompt-encryption" }),
    );
    let failed_after = started.elapsed();
    assert_eq!((status, out["error"]["code"].as_str()), (503, Some("storage_unavailable")), "{out}");
    println!("with the database down, key create failed after {:.0} ms", failed_after.as_secs_f64() * 1000.0);
    let listed = node.cli(&["--token", &root.token, "key", "list"], b"");
    assert_eq!(listed.status.code(), Some(9), "{}", String::from_utf8_lossy(&listed.stderr));
    // No unaudited operation: a key in memory still cannot be used without its audit event.
    let (status, out) = root.encrypt(&node, "before");
    assert_eq!((status, out["error"]["code"].as_str()), (503, Some("storage_unavailable")), "{out}");
    // The seal status needs no database.
    assert_eq!(node.cli(&["operator", "status"], b"").status.code(), Some(0));

    pg.restart();
    let recovered = wait_until(Duration::from_secs(60), "the node serving again", || {
        root.post(
            &node,
            "/v1/keys",
            &json!({ "name": "after", "purpose": "encrypt", "algorithm": "aes-256-gcm", "usage_context": "prompt-encryption" }),
        )
        .0 == 200
    });
    println!(
        "after the database returned, the node served again within {:.0} ms",
        recovered.as_secs_f64() * 1000.0
    );
    assert_eq!(root.encrypt(&node, "after").0, 200);

    // Nothing half-written: the key refused during the outage does not exist, the chain holds.
    let keys = node.ok(&["--token", &root.token, "--output", "json", "key", "list"], b"");
    let names: Vec<String> = serde_json::from_str::<Value>(&keys)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        // The audit signing key appears with the first checkpoint, whose scheduler tick may
        // or may not have fallen outside the outage by now.
        .filter(|name| name != "keystead-audit-signing")
        .collect();
    assert_eq!(names, ["after", "before"]);
    let verify = node.ok(&["--token", &root.token, "audit", "verify"], b"");
    assert!(verify.contains("intact"), "{verify}");
    node.stop();
}

#[test]
fn a_node_reaches_postgresql_over_verified_tls() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = TestCa::new("Database CA");
    ca.write(&d.join("db-ca.pem"));
    let (cert, key) = ca.issue(d, "db", "localhost", rcgen::ExtendedKeyUsagePurpose::ServerAuth);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap();
    let Some(pg) = PrivatePostgres::start_with_tls(&read(&cert), &read(&key)) else { return };

    let verified = format!("{}?sslmode=verify-full&sslrootcert={}", pg.url(), d.join("db-ca.pem").display());
    let node = start_node(d, "tls-node", &verified);
    let root = Api::new(&init_and_unseal(&[&node]));
    create_key(&root, &node, "k");
    assert_eq!(root.encrypt(&node, "k").0, 200);
    // The server side agrees: the node's connections are encrypted.
    let encrypted = pg.query("SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid) WHERE ssl AND client_addr IS NOT NULL");
    assert!(encrypted.parse::<u32>().unwrap() >= 1, "no TLS connection from the node: {encrypted}");
    node.stop();

    // A CA that did not sign the database's certificate: the node refuses to start.
    let rogue = TestCa::new("Rogue CA");
    rogue.write(&d.join("rogue-ca.pem"));
    let untrusted =
        format!("{}?sslmode=verify-full&sslrootcert={}", pg.url(), d.join("rogue-ca.pem").display());
    let node_dir = d.join("untrusting");
    std::fs::create_dir_all(&node_dir).unwrap();
    let config = node_dir.join("keystead.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{}\"\nenvironment = \"production\"\n[storage]\nurl = \"{untrusted}\"\n",
            free_port()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(crate::util::BIN)
        .args(["server", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cannot open the store"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
