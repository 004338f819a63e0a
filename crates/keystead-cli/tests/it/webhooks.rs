//! Webhooks end to end: a local receiver checks the HMAC-SHA256 signature; a notification
//! raised while the receiver is down is retried, survives a server restart, and arrives.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{free_port, DevServer};

/// One request the receiver got: its headers (lower-cased names) and body.
#[derive(Clone, Debug)]
struct Received {
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or_default()
    }
}

/// A minimal HTTP/1.1 receiver on `port`: answers 200 to every POST and records it.
fn start_receiver(port: u16) -> Arc<Mutex<Vec<Received>>> {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("the receiver binds its port");
    let received = Arc::new(Mutex::new(Vec::new()));
    let sink = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut headers = Vec::new();
            let mut line = String::new();
            let _ = reader.read_line(&mut line); // request line
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.trim_end().split_once(':') {
                    headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
                }
            }
            let length: usize = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            sink.lock()
                .unwrap()
                .push(Received { headers, body: String::from_utf8_lossy(&body).into_owned() });
        }
    });
    received
}

fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(found) = probe() {
            return found;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Checks `keystead-signature: t=T,v1=HEX` against HMAC-SHA256(secret, "T.body").
fn assert_signed(received: &Received, secret: &str) {
    let header = received.header("keystead-signature");
    let (t, v1) = header.split_once(",v1=").unwrap_or_else(|| panic!("signature header: {header:?}"));
    let t = t.strip_prefix("t=").unwrap();
    let expected = keystead_crypto::hmac_sha256(
        &keystead_crypto::SecretBytes::from_slice(secret.as_bytes()),
        format!("{t}.{}", received.body).as_bytes(),
    );
    assert_eq!(v1, hex_encode(&expected), "the signature verifies with the webhook's secret");
    let wrong = keystead_crypto::hmac_sha256(
        &keystead_crypto::SecretBytes::from_slice(b"whsec_wrong"),
        format!("{t}.{}", received.body).as_bytes(),
    );
    assert_ne!(v1, hex_encode(&wrong));
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn webhooks_are_signed_and_redelivered_after_an_outage_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(dir.path());
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/keystead");
    let added = server.ok(&["webhook", "add", &url, "--events", "key.rotated,key.compromised"], b"");
    let secret = added
        .lines()
        .find_map(|l| {
            l.split_once("Signing secret (shown once; give it to the receiver): ")
                .map(|(_, s)| s.trim().to_owned())
        })
        .unwrap_or_else(|| panic!("{added}"));
    assert!(secret.starts_with("whsec_"));
    let bad = server.cli(&["webhook", "add", "http://127.0.0.1:1/x", "--events", "key.exploded"], b"");
    assert_eq!(bad.status.code(), Some(1));

    // The receiver is down: the rotation's notification waits in the outbox.
    server.ok(&["key", "create", "embeddings", "--purpose", "encrypt", "--algorithm", "aes-256-gcm"], b"");
    server.ok(&["key", "rotate", "embeddings"], b"");
    let failed = wait_for("a failed attempt", Duration::from_secs(30), || {
        let deliveries: Value =
            serde_json::from_str(&server.ok(&["--output", "json", "webhook", "deliveries"], b"")).unwrap();
        let first = deliveries.as_array()?.first()?.clone();
        (first["attempts"].as_i64()? >= 1).then_some(first)
    });
    assert_eq!(failed["status"], "pending");
    assert_eq!(failed["event_type"], "key.rotated");
    assert!(failed["last_error"].as_str().unwrap().contains("cannot connect"), "{failed}");
    let listed = server.ok(&["webhook", "list"], b"");
    assert!(listed.contains("cannot connect to the receiver"), "{listed}");

    // Restart the server, then bring the receiver up: the notification arrives.
    drop(server.stop());
    let received = start_receiver(port);
    let server = DevServer::start(dir.path());
    let rotated = wait_for("the redelivered rotation", Duration::from_secs(60), || {
        received.lock().unwrap().first().cloned()
    });
    assert_eq!(rotated.header("keystead-event"), "key.rotated");
    assert_eq!(rotated.header("content-type"), "application/json");
    assert_signed(&rotated, &secret);
    let body: Value = serde_json::from_str(&rotated.body).unwrap();
    assert_eq!(
        (body["type"].as_str(), body["key_name"].as_str(), body["version"].as_u64()),
        (Some("key.rotated"), Some("embeddings"), Some(2))
    );
    assert!(body["id"].as_str().unwrap().starts_with("evt_"));

    // With everything up, a compromise reaches the receiver at once.
    server.ok(
        &[
            "key",
            "compromise",
            "embeddings",
            "--version",
            "1",
            "--incident",
            "INC-7",
            "--occurred-at",
            "2026-11-01T00:00:00Z",
            "--reason",
            "leaked",
        ],
        b"",
    );
    let compromised = wait_for("the compromise notification", Duration::from_secs(20), || {
        received.lock().unwrap().iter().find(|r| r.header("keystead-event") == "key.compromised").cloned()
    });
    assert_signed(&compromised, &secret);
    let body: Value = serde_json::from_str(&compromised.body).unwrap();
    assert_eq!(body["details"]["incident"], "INC-7");
    assert_ne!(compromised.header("keystead-delivery"), rotated.header("keystead-delivery"));

    // The server records a delivery once the receiver has answered: wait for the counts.
    wait_for("both deliveries recorded", Duration::from_secs(20), || {
        let webhooks: Value =
            serde_json::from_str(&server.ok(&["--output", "json", "webhook", "list"], b"")).unwrap();
        (webhooks[0]["delivered"].as_u64() == Some(2) && webhooks[0]["pending"].as_u64() == Some(0))
            .then_some(())
    });
    // No signing secret in the server log, the audit log or a listing.
    let audit = server.ok(&["--output", "json", "audit", "list"], b"");
    for text in [server.log(), audit, server.ok(&["--output", "json", "webhook", "list"], b"")] {
        assert!(!text.contains(&secret), "the secret leaked");
    }
}

#[test]
fn webhooks_are_disabled_enabled_rotated_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let received = start_receiver(port);
    let server = DevServer::start(dir.path());
    let added: Value = serde_json::from_str(&server.ok(
        &[
            "--output",
            "json",
            "webhook",
            "add",
            &format!("http://127.0.0.1:{port}/hook"),
            "--events",
            "key.*",
        ],
        b"",
    ))
    .unwrap();
    let id = added["webhook"]["id"].as_str().unwrap().to_owned();
    let first_secret = added["secret"].as_str().unwrap().to_owned();

    // Disabled: a key event queues nothing for it.
    server.ok(&["webhook", "disable", &id], b"");
    let listed: Value =
        serde_json::from_str(&server.ok(&["--output", "json", "webhook", "list"], b"")).unwrap();
    assert_eq!(listed[0]["enabled"], false);
    server.ok(&["key", "create", "quiet", "--purpose", "encrypt", "--algorithm", "aes-256-gcm"], b"");
    server.ok(&["key", "rotate", "quiet"], b"");
    std::thread::sleep(Duration::from_secs(2));
    assert!(received.lock().unwrap().is_empty(), "a disabled webhook got a notification");
    let deliveries: Value =
        serde_json::from_str(&server.ok(&["--output", "json", "webhook", "deliveries"], b"")).unwrap();
    assert_eq!(deliveries.as_array().unwrap().len(), 0, "{deliveries}");
    assert_eq!(server.cli(&["webhook", "disable", &id], b"").status.code(), Some(5), "already disabled");

    // Enabled and rotated: the next notification is signed with the new secret only.
    server.ok(&["webhook", "enable", &id], b"");
    let rotated: Value =
        serde_json::from_str(&server.ok(&["--output", "json", "webhook", "rotate-secret", &id], b""))
            .unwrap();
    let second_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(first_secret, second_secret);
    assert!(rotated["webhook"]["secret_rotated_at"].is_string(), "{rotated}");
    server.ok(&["key", "create", "loud", "--purpose", "encrypt", "--algorithm", "aes-256-gcm"], b"");
    server.ok(&["key", "rotate", "loud"], b"");
    let got = wait_for("a notification after enabling", Duration::from_secs(30), || {
        received.lock().unwrap().first().cloned()
    });
    assert_signed(&got, &second_secret);
    assert!(got.body.contains("loud"), "{}", got.body);

    // Deleted: gone from the list, unknown afterwards; a crypto user may not manage webhooks.
    let app = server.ok(&["principal", "create", "app", "--role", "crypto-user"], b"");
    let app_token =
        app.lines().find(|l| l.starts_with("Token")).unwrap().rsplit(' ').next().unwrap().to_owned();
    assert_eq!(server.cli(&["--token", &app_token, "webhook", "delete", &id], b"").status.code(), Some(5));
    // Webhooks span every tenant: a tenant's admin may not touch them.
    let acme = server.ok(&["principal", "create", "acme-admin", "--role", "admin", "--tenant", "acme"], b"");
    let acme_token =
        acme.lines().find(|l| l.starts_with("Token")).unwrap().rsplit(' ').next().unwrap().to_owned();
    for verb in ["disable", "rotate-secret", "delete"] {
        assert_eq!(
            server.cli(&["--token", &acme_token, "webhook", verb, &id], b"").status.code(),
            Some(5),
            "{verb}"
        );
    }
    server.ok(&["webhook", "delete", &id], b"");
    let listed: Value =
        serde_json::from_str(&server.ok(&["--output", "json", "webhook", "list"], b"")).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 0);
    assert_eq!(server.cli(&["webhook", "delete", &id], b"").status.code(), Some(4));
    let events: Value =
        serde_json::from_str(&server.ok(&["audit", "list", "--output", "json"], b"")).unwrap();
    let actions: Vec<&str> =
        events.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    for wanted in ["webhook.disable", "webhook.enable", "webhook.rotate-secret", "webhook.delete"] {
        assert!(actions.contains(&wanted), "{wanted}: {actions:?}");
    }
    let rotation =
        events.as_array().unwrap().iter().find(|e| e["action"] == "webhook.rotate-secret").unwrap();
    assert!(!rotation.to_string().contains(&second_secret), "the new secret reached the audit log");
}
