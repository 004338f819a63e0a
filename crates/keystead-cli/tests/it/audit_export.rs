//! CEK-21 with the real binary: `audit export --format jsonl` and the offline verifier
//! `audit verify --file F --public-key PEM`, run with the server stopped, against an intact
//! export and against edited, deleted, reordered, rewritten-and-relinked and mis-keyed ones.

use std::path::Path;
use std::process::{Command, Output};

use keystead_store::chain::{link, GENESIS};
use serde_json::Value;

use crate::util::{free_port, DevServer, BIN};

const NOT_VALID: i32 = 6;

/// `keystead audit verify --file F --public-key K` with no server anywhere.
pub(crate) fn verify_offline(file: &Path, key: &Path) -> Output {
    Command::new(BIN)
        .args(["audit", "verify", "--file"])
        .arg(file)
        .arg("--public-key")
        .arg(key)
        .env("KEYSTEAD_ADDR", format!("http://127.0.0.1:{}", free_port()))
        .env_remove("KEYSTEAD_TOKEN")
        .output()
        .expect("run keystead")
}

fn broken(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(NOT_VALID), "{stderr}");
    assert!(
        stderr.contains("first bad event") && stderr.contains(needle),
        "expected {needle:?} in: {stderr}"
    );
}

fn write_lines(path: &Path, lines: &[String]) {
    std::fs::write(path, lines.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
}

/// Recomputes every link of `lines` (one node), as an attacker with the file would.
fn relink(lines: &mut [String]) {
    let mut prev = GENESIS.to_owned();
    for line in lines.iter_mut() {
        let mut record: Value = serde_json::from_str(line).unwrap();
        // The event's exact bytes: the text between `"event":` and the closing brace.
        let start = line.find("\"event\":").unwrap() + "\"event\":".len();
        let event = &line[start..line.len() - 1];
        let hash = link(&prev, event.as_bytes());
        record["prev_hash"] = prev.clone().into();
        record["hash"] = hash.clone().into();
        let head = serde_json::to_string(&serde_json::json!({
            "sequence": record["sequence"], "node": record["node"], "node_seq": record["node_seq"],
            "prev_hash": record["prev_hash"], "hash": record["hash"],
        }))
        .unwrap();
        *line = format!("{},\"event\":{event}}}", &head[..head.len() - 1]);
        prev = hash;
    }
}

#[test]
fn an_export_verifies_offline_and_every_tampering_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(dir.path());
    server.ok(&["key", "create", "weights", "--purpose", "encrypt", "--algorithm", "aes-256-gcm"], b"");
    server.ok(&["encrypt", "weights"], b"model weights");
    server.ok(&["key", "create", "other-signer", "--purpose", "sign", "--algorithm", "ed25519"], b"");
    let export = dir.path().join("audit.jsonl");
    let said = server.ok(&["audit", "export", "--format", "jsonl", "--out", export.to_str().unwrap()], b"");
    assert!(said.starts_with("exported "), "{said}");
    let key = dir.path().join("audit-signing.pem");
    std::fs::write(&key, server.ok(&["key", "public", "keystead-audit-signing"], b"")).unwrap();
    let other_key = dir.path().join("other.pem");
    std::fs::write(&other_key, server.ok(&["key", "public", "other-signer"], b"")).unwrap();
    let online = server.ok(&["audit", "verify"], b"");
    assert!(online.contains("intact") && online.contains("signed checkpoint"), "{online}");
    server.stop();

    let out = verify_offline(&export, &key);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("intact") && stdout.contains("signed checkpoint(s) verified"), "{stdout}");
    assert!(!stdout.contains(" 0 signed checkpoint"), "{stdout}");

    let lines: Vec<String> = std::fs::read_to_string(&export).unwrap().lines().map(str::to_owned).collect();
    let created = lines.iter().position(|l| l.contains("\"key.create\"") && l.contains("weights")).unwrap();
    let seq_of = |i: usize| serde_json::from_str::<Value>(&lines[i]).unwrap()["node_seq"].as_i64().unwrap();
    let tampered = dir.path().join("tampered.jsonl");

    let mut edited = lines.clone();
    edited[created] = edited[created].replace("aes-256-gcm", "aes-128-gcm");
    write_lines(&tampered, &edited);
    broken(
        &verify_offline(&tampered, &key),
        &format!("event {}: event content does not match", seq_of(created)),
    );

    let mut deleted = lines.clone();
    deleted.remove(created);
    write_lines(&tampered, &deleted);
    broken(&verify_offline(&tampered, &key), &format!("event {} is missing", seq_of(created)));

    let mut reordered = lines.clone();
    reordered.swap(created, created + 1);
    write_lines(&tampered, &reordered);
    broken(&verify_offline(&tampered, &key), "missing");

    let mut rewritten = lines.clone();
    rewritten[created] = rewritten[created].replace("\"actor\":\"root\"", "\"actor\":\"alice\"");
    assert_ne!(rewritten[created], lines[created], "the edit applies");
    relink(&mut rewritten);
    // The first checkpoint covering the rewritten event is where the rewrite shows.
    let covers = |i: usize| {
        let record: Value = serde_json::from_str(&lines[i]).unwrap();
        record["event"]["details"]["covers_node_seq"].as_str().and_then(|s| s.parse::<i64>().ok())
    };
    let checkpoint = (0..lines.len()).find(|i| covers(*i).is_some_and(|c| c >= seq_of(created))).unwrap();
    write_lines(&tampered, &rewritten);
    broken(
        &verify_offline(&tampered, &key),
        &format!("event {}: the signed checkpoint does not match", seq_of(checkpoint)),
    );

    broken(&verify_offline(&export, &other_key), "does not verify");

    // Without its checkpoints, a relinked export proves nothing and is not called intact.
    let mut unsigned: Vec<String> =
        lines.iter().filter(|l| !l.contains("\"audit.checkpoint\"")).cloned().collect();
    for (i, line) in unsigned.iter_mut().enumerate() {
        let mut record: Value = serde_json::from_str(line).unwrap();
        record["node_seq"] = (i as i64 + 1).into();
        let start = line.find("\"event\":").unwrap() + "\"event\":".len();
        let event = line[start..line.len() - 1].to_owned();
        let head = serde_json::to_string(&serde_json::json!({
            "sequence": record["sequence"], "node": record["node"], "node_seq": record["node_seq"],
            "prev_hash": record["prev_hash"], "hash": record["hash"],
        }))
        .unwrap();
        *line = format!("{},\"event\":{event}}}", &head[..head.len() - 1]);
    }
    relink(&mut unsigned);
    write_lines(&tampered, &unsigned);
    let out = verify_offline(&tampered, &key);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(NOT_VALID), "{stdout}{stderr}");
    assert!(stdout.contains("UNPROVEN") && stderr.contains("no verified checkpoint"), "{stdout}{stderr}");

    let out = Command::new(BIN).args(["audit", "verify", "--file"]).arg(&export).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "--file needs --public-key");
}
