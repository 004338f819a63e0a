//! Key recovery (CEK-20) end to end with the real binary: a populated store is backed up with
//! its key split 2-of-3, destroyed, and restored on a fresh store (new root key) with two
//! share files and an approved request; old ciphertexts decrypt again. Refusals change
//! nothing; a drill passes on the bundle and fails on a damaged copy; a break-glass restore
//! raises its anomaly and keeps CEK-20 "not met" until its review is signed off.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::util::{free_port, DevServer};

/// A production-style server (shamir seal, SQLite file) on plain loopback HTTP.
fn start(dir: &Path, break_glass: &str) -> DevServer {
    std::fs::create_dir_all(dir).unwrap();
    let port = free_port();
    let config = dir.join("keystead.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"127.0.0.1:{port}\"\nenvironment = \"staging\"\nnode = \"recovery-node\"\n\
             [storage]\nurl = \"sqlite://{}\"\n[seal]\nkind = \"shamir\"\n\
             [policy]\nbreak_glass_principals = [{break_glass}]\n",
            dir.join("keystead.db").display()
        ),
    )
    .unwrap();
    DevServer::start_configured(dir, &config, &format!("http://127.0.0.1:{port}"), &[])
}

/// Initializes and unseals; the root token.
fn init(server: &DevServer) -> String {
    let init: Value = serde_json::from_str(
        &server.ok(&["--output", "json", "operator", "init", "--shares", "3", "--threshold", "2"], b""),
    )
    .unwrap();
    let shares: Vec<&str> = init["shares"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
    server.ok(&["operator", "unseal", shares[0]], b"");
    server.ok(&["operator", "unseal", shares[2]], b"");
    init["root_token"].as_str().unwrap().to_owned()
}

struct Team {
    root: String,
    officers: [String; 3],
    custodian: String,
    break_glass: String,
}

fn team(server: &DevServer) -> Team {
    let root = init(server);
    let create = |name: &str, role: &str| -> String {
        let out: Value =
            serde_json::from_str(&server.ok(
                &["--token", &root, "--output", "json", "principal", "create", name, "--role", role],
                b"",
            ))
            .unwrap();
        out["token"].as_str().unwrap().to_owned()
    };
    let officers = [
        create("ro-1", "recovery-officer"),
        create("ro-2", "recovery-officer"),
        create("ro-3", "recovery-officer"),
    ];
    let custodian = create("kc-1", "key-custodian");
    let break_glass = create("bg-1", "recovery-officer");
    Team { root, officers, custodian, break_glass }
}

fn run(server: &DevServer, token: &str, args: &[&str]) -> Output {
    let args = [&["--token", token][..], args].concat();
    server.cli(&args, b"")
}

fn ok(server: &DevServer, token: &str, args: &[&str]) -> String {
    let out = run(server, token, args);
    assert!(out.status.success(), "keystead {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn json(server: &DevServer, token: &str, args: &[&str]) -> Value {
    let out = ok(server, token, &[&["--output", "json"][..], args].concat());
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// Refused with exit code `code` and a message containing `needle`.
fn refused(server: &DevServer, token: &str, args: &[&str], code: i32, needle: &str) {
    let out = run(server, token, args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "keystead {args:?}: {stderr}");
    assert!(stderr.contains(needle), "keystead {args:?}: expected {needle:?} in {stderr}");
}

fn key_count(server: &DevServer, token: &str) -> usize {
    json(server, token, &["key", "list"]).as_array().map_or(0, Vec::len)
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn shares_of(bundle: &Path) -> Vec<PathBuf> {
    (1..=3).map(|i| PathBuf::from(format!("{}.share-{i}-of-3", bundle.display()))).collect()
}

#[test]
fn a_destroyed_store_comes_back_from_a_backup_with_a_quorum() {
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    std::fs::create_dir_all(&backups).unwrap();
    let bundle = backups.join("keys.ksb");
    let other_bundle = backups.join("other.ksb");

    // A populated store: a data key with two versions, a compromised key, a signing key
    // (not recoverable by default).
    let old = start(&dir.path().join("old"), "");
    let old_team = team(&old);
    let root = &old_team.root;
    for (name, purpose, algorithm) in [
        ("prompts", "encrypt", "aes-256-gcm"),
        ("leaked", "encrypt", "aes-256-gcm"),
        ("releases", "sign", "ed25519"),
    ] {
        ok(&old, root, &["key", "create", name, "--purpose", purpose, "--algorithm", algorithm]);
    }
    let ciphertext_v1 = dir.path().join("v1.ct");
    std::fs::write(
        &ciphertext_v1,
        old.ok(&["--token", root, "encrypt", "prompts", "--context", "app=chat"], b"first secret"),
    )
    .unwrap();
    ok(&old, root, &["key", "rotate", "prompts"]);
    let ciphertext_v2 = dir.path().join("v2.ct");
    std::fs::write(&ciphertext_v2, old.ok(&["--token", root, "encrypt", "prompts"], b"second secret"))
        .unwrap();
    ok(
        &old,
        &old_team.custodian,
        &[
            "key",
            "compromise",
            "leaked",
            "--incident",
            "INC-7",
            "--occurred-at",
            "2026-01-01T00:00:00Z",
            "--reason",
            "drill",
        ],
    );

    // A crypto user or a key custodian may not back up; a recovery officer may.
    refused(
        &old,
        &old_team.custodian,
        &["backup", "create", "--out", path(&bundle), "--shares", "3", "--threshold", "2"],
        5,
        "permission denied",
    );
    refused(
        &old,
        &old_team.officers[0],
        &["backup", "create", "--out", path(&bundle), "--shares", "3", "--threshold", "1"],
        1,
        "no single share",
    );
    let made = json(
        &old,
        &old_team.officers[0],
        &["backup", "create", "--out", path(&bundle), "--shares", "3", "--threshold", "2"],
    );
    assert_eq!(made["keys"], 2, "{made}");
    assert!(made["excluded"].as_u64().unwrap() >= 1, "the signing key at least: {made}");
    let text = std::fs::read_to_string(&bundle).unwrap();
    assert!(text.contains("\"reason\":\"recovery policy: non-recoverable"), "manifest lists exclusions");
    assert!(!text.contains("first secret"));
    for share in shares_of(&bundle) {
        let share_text = std::fs::read_to_string(&share).unwrap();
        assert!(share_text.contains("ksb1."), "{share_text}");
        assert!(!text.contains(share_text.lines().last().unwrap()), "a share is in the bundle");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(std::fs::metadata(&share).unwrap().permissions().mode() & 0o777, 0o600);
        }
    }
    // A second backup never overwrites the first, and gives shares of another backup.
    refused(
        &old,
        &old_team.officers[0],
        &["backup", "create", "--out", path(&bundle), "--shares", "3", "--threshold", "2"],
        1,
        "exists already",
    );
    json(
        &old,
        &old_team.officers[1],
        &["backup", "create", "--out", path(&other_bundle), "--shares", "3", "--threshold", "2"],
    );

    // The store is lost.
    old.stop();
    std::fs::remove_dir_all(dir.path().join("old")).unwrap();

    // A fresh store: a new root key, new principals.
    let new = start(&dir.path().join("new"), "\"bg-1\"");
    let t = team(&new);
    let [ro1, ro2, ro3] = &t.officers;
    let shares = shares_of(&bundle);
    let foreign = shares_of(&other_bundle);
    let restore = |token: &str, share_files: &[&PathBuf], extra: &[&str]| -> Output {
        let mut args = vec!["backup", "restore", path(&bundle)];
        for share in share_files {
            args.extend(["--share-file", path(share)]);
        }
        args.extend(extra);
        run(&new, token, &args)
    };
    let expect_refused = |out: Output, code: i32, needle: &str| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        assert!(stderr.contains(needle), "expected {needle:?} in {stderr}");
    };

    // Fewer than M shares, a share of another backup, a tampered bundle: refused, nothing changed.
    let before = key_count(&new, &t.root);
    expect_refused(restore(ro1, &[&shares[0]], &["--request", "apr_x"]), 1, "1 valid share(s) given; backup");
    expect_refused(
        restore(ro1, &[&shares[0], &foreign[1]], &["--request", "apr_x"]),
        1,
        "share 2 belongs to backup",
    );
    let tampered = backups.join("tampered.ksb");
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[1] = lines[1].replacen("\"name\":\"leaked\"", "\"name\":\"leaker\"", 1).replacen(
        "\"name\":\"prompts\"",
        "\"name\":\"prompta\"",
        1,
    );
    std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();
    let out = run(
        &new,
        ro1,
        &[
            "backup",
            "restore",
            path(&tampered),
            "--share-file",
            path(&shares[0]),
            "--share-file",
            path(&shares[1]),
            "--request",
            "apr_x",
        ],
    );
    expect_refused(out, 5, "altered");
    // Without an approved request.
    expect_refused(restore(ro1, &[&shares[0], &shares[1]], &[]), 5, "needs an approved recovery request");
    assert_eq!(key_count(&new, &t.root), before, "nothing was restored");

    // The request, its quorum (two other recovery officers and a key custodian).
    let request =
        json(&new, ro1, &["recovery", "request", path(&bundle), "--justification", "store lost in INC-8"]);
    let id = request["id"].as_str().unwrap().to_owned();
    expect_refused(restore(ro1, &[&shares[0], &shares[1]], &["--request", &id]), 5, "not approved yet");
    refused(&new, ro1, &["approval", "approve", &id], 5, "made this request");
    ok(&new, ro2, &["approval", "approve", &id]);
    ok(&new, ro3, &["approval", "approve", &id]);
    ok(&new, &t.custodian, &["approval", "approve", &id]);
    // The approval is for exactly this file.
    let out = run(
        &new,
        ro1,
        &[
            "backup",
            "restore",
            path(&other_bundle),
            "--share-file",
            path(&foreign[0]),
            "--share-file",
            path(&foreign[2]),
            "--request",
            &id,
        ],
    );
    expect_refused(out, 5, "approves another bundle");

    let report: Value = {
        let out = restore(ro1, &[&shares[2], &shares[0]], &["--request", &id, "--output", "json"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(report["restored"].as_array().unwrap().len(), 2, "{report}");
    assert_eq!(report["authorized_by"], id.as_str());
    // Used up: a second restore with the same request is refused.
    expect_refused(restore(ro1, &[&shares[0], &shares[1]], &["--request", &id]), 5, "closed");

    // Old ciphertexts decrypt under the new root key; states are preserved.
    assert_eq!(
        new.ok(&["--token", &t.root, "decrypt", "--context", "app=chat", "--in", path(&ciphertext_v1)], b""),
        "first secret"
    );
    assert_eq!(new.ok(&["--token", &t.root, "decrypt", "--in", path(&ciphertext_v2)], b""), "second secret");
    let leaked = json(&new, &t.root, &["key", "show", "leaked"]);
    assert_eq!(leaked["versions"][0]["state"], "compromised", "{leaked}");
    let prompts = json(&new, &t.root, &["key", "show", "prompts"]);
    let recovered = &prompts["versions"][1]["provenance"]["recovered"];
    assert_eq!(recovered["authorized_by"], id.as_str(), "{prompts}");
    assert_eq!(recovered["restored_by"], "ro-1");
    assert!(
        new.cli(&["--token", &t.root, "key", "show", "releases"], b"").status.code() == Some(4),
        "excluded key restored"
    );
    let audit = ok(&new, &t.root, &["--output", "json", "audit", "list"]);
    assert_eq!(audit.matches("\"key.recover\"").count(), 2, "one event per restored key");

    // Shares held for named officers: no share file is written; each holder collects its own,
    // once, and two of them open the bundle.
    let held = backups.join("held.ksb");
    let made = json(
        &new,
        ro1,
        &["backup", "create", "--out", path(&held), "--shares", "3", "--threshold", "2"]
            .into_iter()
            .chain(["--holder", "ro-2", "--holder", "ro-3", "--holder", "bg-1"])
            .collect::<Vec<_>>(),
    );
    assert_eq!(made["share_files"].as_array().unwrap().len(), 0, "{made}");
    assert!(!PathBuf::from(format!("{}.share-1-of-3", held.display())).exists());
    let held_id = made["backup_id"].as_str().unwrap().to_owned();
    let (ro2_share, ro3_share, again) =
        (backups.join("ro-2.share"), backups.join("ro-3.share"), backups.join("again.share"));
    ok(&new, ro2, &["backup", "collect-share", &held_id, "--out", path(&ro2_share)]);
    refused(&new, ro2, &["backup", "collect-share", &held_id, "--out", path(&again)], 5, "collected already");
    assert!(!again.exists(), "a refused collection leaves no file");
    refused(
        &new,
        ro1,
        &["backup", "collect-share", &held_id, "--out", path(&again)],
        1,
        "no share of backup",
    );
    ok(&new, ro3, &["backup", "collect-share", &held_id, "--out", path(&ro3_share)]);
    let drilled = run(
        &new,
        ro1,
        &[
            "recovery",
            "drill",
            path(&held),
            "--share-file",
            path(&ro2_share),
            "--share-file",
            path(&ro3_share),
        ],
    );
    assert!(drilled.status.success(), "{}", String::from_utf8_lossy(&drilled.stderr));

    // A drill on the bundle passes; on a damaged copy it reports the damage (exit 6).
    let drill = |file: &Path| {
        run(
            &new,
            ro2,
            &[
                "--output",
                "json",
                "recovery",
                "drill",
                path(file),
                "--share-file",
                path(&shares[1]),
                "--share-file",
                path(&shares[2]),
            ],
        )
    };
    let good = drill(&bundle);
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    let good: Value = serde_json::from_slice(&good.stdout).unwrap();
    assert_eq!(good["result"], "passed", "{good}");
    assert_eq!(good["keys_verified"], 2);
    assert_eq!(good["versions_verified"], 3);
    let bad = drill(&tampered);
    assert_eq!(bad.status.code(), Some(6), "{}", String::from_utf8_lossy(&bad.stderr));
    let bad: Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(bad["result"], "failed");
    assert_eq!(bad["authenticated"], false);
    assert_eq!(bad["keys_verified"], 1, "the untouched key still verifies: {bad}");
    let drill_text = serde_json::to_string(&good).unwrap() + &serde_json::to_string(&bad).unwrap();
    assert!(!drill_text.contains("secret"));

    // CEK-20 with a passed drill... and then the newest drill failed: not met.
    let compliance = json(&new, &t.root, &["compliance", "report", "--format", "json"]);
    let cek20 =
        compliance["controls"].as_array().unwrap().iter().find(|c| c["id"] == "CEK-20").unwrap().clone();
    assert_eq!(cek20["status"], "not met", "{cek20}");
    assert!(cek20["reason"].as_str().unwrap().contains("newest recovery drill failed"), "{cek20}");
    drill(&bundle);

    // Break-glass: only the configured principal, with a justification; an anomaly and a
    // review at once; CEK-20 not met until the review is signed off.
    expect_refused(
        restore(ro1, &[&shares[0], &shares[1]], &["--break-glass", "--justification", "x"]),
        5,
        "not a break-glass principal",
    );
    let glass: Value = {
        let out = restore(
            &t.break_glass,
            &[&shares[0], &shares[1]],
            &["--break-glass", "--justification", "INC-9 outage", "--output", "json"],
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(glass["unchanged"].as_array().unwrap().len(), 2, "{glass}");
    let review = glass["review"].as_str().unwrap().to_owned();
    let anomalies = json(&new, &t.root, &["inventory", "anomalies"]);
    assert!(anomalies.to_string().contains("break-glass-restore"), "{anomalies}");
    let status_of_cek20 = || {
        let report = json(&new, &t.root, &["compliance", "report", "--format", "json"]);
        report["controls"].as_array().unwrap().iter().find(|c| c["id"] == "CEK-20").unwrap().clone()
    };
    let cek20 = status_of_cek20();
    assert_eq!(cek20["status"], "not met", "{cek20}");
    assert!(cek20["reason"].as_str().unwrap().contains(&review), "{cek20}");
    for approver in [ro1, ro2, &t.custodian] {
        ok(&new, approver, &["approval", "approve", &review]);
    }
    let cek20 = status_of_cek20();
    assert_ne!(cek20["status"], "not met", "{cek20}");
    let log = new.stop();
    for share in shares.iter().chain(&foreign) {
        let value = std::fs::read_to_string(share).unwrap();
        assert!(!log.contains(value.lines().last().unwrap()), "a share reached the server log");
    }
}
