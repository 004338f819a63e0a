//! CEK-21 guideline 6 with the real binary: `audit archive --before T --out FILE` moves the
//! events up to the newest signed checkpoint before T into a file that verifies offline, the
//! store's chain goes on verifying from the boundary, key history survives, a second archive
//! continues the first, and a tampered archive or one with a segment removed is refused.

use std::path::Path;

use serde_json::Value;

use crate::audit_export::verify_offline;
use crate::util::DevServer;

const NOT_VALID: i32 = 6;

fn now() -> String {
    std::thread::sleep(std::time::Duration::from_millis(20));
    let at = time::OffsetDateTime::now_utc();
    std::thread::sleep(std::time::Duration::from_millis(20));
    at.format(&time::format_description::well_known::Rfc3339).unwrap()
}

/// Uses `weights` `n` times, then exports (which signs a checkpoint) and returns a time
/// just after that checkpoint.
fn uses_then_checkpoint(server: &DevServer, n: usize, dir: &Path) -> String {
    for _ in 0..n {
        server.ok(&["encrypt", "weights"], b"model weights");
    }
    let export = dir.join("scratch.jsonl");
    server.ok(&["audit", "export", "--out", export.to_str().unwrap()], b"");
    std::fs::remove_file(export).unwrap();
    now()
}

#[test]
fn old_events_move_to_a_verifiable_archive_and_the_chain_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(dir.path());
    server.ok(&["key", "create", "weights", "--purpose", "encrypt", "--algorithm", "aes-256-gcm"], b"");
    let first = uses_then_checkpoint(&server, 5, dir.path());
    let second = uses_then_checkpoint(&server, 3, dir.path());
    server.ok(&["encrypt", "weights"], b"after both checkpoints");

    // Nothing signed that early: refused, nothing written.
    let early = dir.path().join("early.jsonl");
    let out = server.cli(
        &["audit", "archive", "--before", "2001-01-01T00:00:00Z", "--out", early.to_str().unwrap()],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to archive"));
    assert!(!early.exists());

    let archive = dir.path().join("archive-1.jsonl");
    let said: Value = serde_json::from_str(&server.ok(
        &["--output", "json", "audit", "archive", "--before", &first, "--out", archive.to_str().unwrap()],
        b"",
    ))
    .unwrap();
    let through = said["nodes"][0]["through_seq"].as_i64().unwrap();
    assert_eq!(said["nodes"][0]["first_seq"], 1);
    assert_eq!(said["events"].as_i64().unwrap(), through);
    let lines: Vec<String> = std::fs::read_to_string(&archive).unwrap().lines().map(str::to_owned).collect();
    assert_eq!(lines.len() as i64, through + 1, "a header and one line per event");
    assert!(lines.last().unwrap().contains("\"audit.checkpoint\""), "the archive ends at a checkpoint");
    let digest = said["file_sha256"].as_str().unwrap();
    let file_digest: String = keystead_crypto::sha256(&std::fs::read(&archive).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(digest, file_digest);

    // The store: the chain verifies on from the boundary, the key's creation is still in its
    // history, its use counts are whole, and the move itself is in the log.
    let verify: Value =
        serde_json::from_str(&server.ok(&["--output", "json", "audit", "verify"], b"")).unwrap();
    assert_eq!(verify["breaks"], serde_json::json!([]), "{verify}");
    assert_eq!(verify["nodes"][0]["archived_through"].as_i64(), Some(through));
    let key: Value =
        serde_json::from_str(&server.ok(&["--output", "json", "key", "show", "weights"], b"")).unwrap();
    assert_eq!(key["history"][0]["action"], "key.create", "{key}");
    assert_eq!(key["usage"][0]["uses"], 9);
    let events: Value =
        serde_json::from_str(&server.ok(&["--output", "json", "audit", "list"], b"")).unwrap();
    let moved = events
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "audit.archive" && e["outcome"] == "success")
        .unwrap();
    assert_eq!(moved["details"]["file_sha256"], digest);
    assert!(events.as_array().unwrap().iter().all(|e| e["node_sequence"].as_i64().unwrap() > through));

    // The second archive continues from the first.
    let archive2 = dir.path().join("archive-2.jsonl");
    let said2: Value = serde_json::from_str(&server.ok(
        &["--output", "json", "audit", "archive", "--before", &second, "--out", archive2.to_str().unwrap()],
        b"",
    ))
    .unwrap();
    assert_eq!(said2["nodes"][0]["first_seq"].as_i64(), Some(through + 1));
    let again = server.cli(
        &["audit", "archive", "--before", &second, "--out", dir.path().join("x").to_str().unwrap()],
        b"",
    );
    assert_eq!(again.status.code(), Some(1), "archived already");
    let verify = server.ok(&["audit", "verify"], b"");
    assert!(verify.contains("intact"), "{verify}");

    let key_pem = dir.path().join("audit-signing.pem");
    std::fs::write(&key_pem, server.ok(&["key", "public", "keystead-audit-signing"], b"")).unwrap();
    server.stop();

    for file in [&archive, &archive2] {
        let out = verify_offline(file, &key_pem);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("audit archive") && stdout.contains("intact"), "{stdout}");
    }

    // Tampered: one event's content changed.
    let tampered = dir.path().join("tampered.jsonl");
    let mut edited = lines.clone();
    let use_line = edited.iter().position(|l| l.contains("\"crypto.encrypt\"")).unwrap();
    edited[use_line] = edited[use_line].replace("crypto.encrypt", "crypto.decrypt");
    std::fs::write(&tampered, edited.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let out = verify_offline(&tampered, &key_pem);
    assert_eq!(out.status.code(), Some(NOT_VALID));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not match its hash"));

    // A segment removed from the middle.
    let mut cut = lines.clone();
    cut.drain(3..5);
    std::fs::write(&tampered, cut.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let out = verify_offline(&tampered, &key_pem);
    assert_eq!(out.status.code(), Some(NOT_VALID));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("missing"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The tail cut off (the signed checkpoint at the end gone).
    let mut short = lines.clone();
    short.pop();
    std::fs::write(&tampered, short.iter().map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let out = verify_offline(&tampered, &key_pem);
    assert_eq!(out.status.code(), Some(NOT_VALID));
    assert!(String::from_utf8_lossy(&out.stderr).contains("events are missing"));
}
