//! The AWS KMS endpoint through real AWS clients: boto3, the aws CLI and the AWS Encryption
//! SDK (`tests/aws/clients.py`) against the real `keystead server --dev`, with access keys made
//! by `keystead principal access-key`.
//!
//! The clients come from PyPI, pinned in `.ci/aws-clients.txt`; `.ci/run` installs them in a
//! virtualenv and names its Python in `KEYSTEAD_TEST_PYTHON`. Without them the client half is
//! skipped with a note, except in CI, where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::{DevServer, BIN};

/// A Python that imports boto3, awscli and the Encryption SDK, if there is one.
fn python_with_aws_clients() -> Option<PathBuf> {
    let candidates: Vec<PathBuf> = match std::env::var_os("KEYSTEAD_TEST_PYTHON") {
        Some(path) => vec![PathBuf::from(path)],
        None => vec![PathBuf::from("python3")],
    };
    let found = candidates.into_iter().find(|python| {
        Command::new(python)
            .args(["-c", "import boto3, awscli, aws_encryption_sdk, cryptography"])
            .output()
            .is_ok_and(|out| out.status.success())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the AWS clients are required in CI (.ci/run installs .ci/aws-clients.txt and sets KEYSTEAD_TEST_PYTHON)"
        );
        eprintln!("SKIPPED the AWS client checks: no Python with boto3, awscli and aws-encryption-sdk (CI installs them)");
    }
    found
}

struct AccessKey {
    id: String,
    secret: String,
}

fn access_key(server: &DevServer, principal: &str) -> AccessKey {
    access_key_as(server, principal, None)
}

/// Creates an access key as root, or as the principal itself when `token` is given.
fn access_key_as(server: &DevServer, principal: &str, token: Option<&str>) -> AccessKey {
    let mut args = vec!["principal", "access-key", "create", principal, "--output", "json"];
    if let Some(token) = token {
        args.extend(["--token", token]);
    }
    let created: Value = serde_json::from_str(&server.ok(&args, b"")).unwrap();
    AccessKey {
        id: created["access_key_id"].as_str().unwrap().to_owned(),
        secret: created["secret_access_key"].as_str().unwrap().to_owned(),
    }
}

#[test]
fn access_keys_are_managed_on_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(dir.path());
    assert!(server.log().contains("AWS KMS endpoint: POST"), "the dev server announces the endpoint");
    server.ok(&["principal", "create", "app", "--role", "crypto-user"], b"");
    let text = server.ok(&["principal", "access-key", "create", "app"], b"");
    assert!(text.contains("Access key id:") && text.contains("Secret access key"), "{text}");
    let key = access_key(&server, "app");
    assert!(key.id.starts_with("AKKS") && key.id.len() == 20, "{}", key.id);
    assert_eq!(key.secret.len(), 40);
    let listed = server.ok(&["principal", "access-key", "list", "--principal", "app"], b"");
    assert!(listed.contains(&key.id) && !listed.contains(&key.secret), "{listed}");
    server.ok(&["principal", "access-key", "disable", &key.id], b"");
    let again = server.cli(&["principal", "access-key", "disable", &key.id], b"");
    assert!(!again.status.success(), "disabling twice is refused");
    server.ok(&["principal", "access-key", "enable", &key.id], b"");
    server.ok(&["principal", "access-key", "delete", &key.id], b"");
    let json: Value =
        serde_json::from_str(&server.ok(&["principal", "access-key", "list", "--output", "json"], b""))
            .unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1, "one of the two keys is left: {json}");
    let missing = server.cli(&["principal", "access-key", "delete", &key.id], b"");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no access key"), "a clear error");
    let root = server.cli(&["principal", "access-key", "create", "root"], b"");
    assert!(!root.status.success(), "root gets no access key");
    // The secret never reaches the server log or the audit log.
    let audit = server.ok(&["audit", "list", "--output", "json", "--limit", "1000"], b"");
    assert!(audit.contains("access-key.create") && !audit.contains(&key.secret));
    assert!(!server.log().contains(&key.secret));
}

#[test]
fn boto3_the_aws_cli_and_the_encryption_sdk_work_against_keystead() {
    let Some(python) = python_with_aws_clients() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(dir.path());
    let created: Value = serde_json::from_str(
        &server.ok(&["principal", "create", "custodian", "--role", "key-custodian", "--output", "json"], b""),
    )
    .unwrap();
    server.ok(&["principal", "create", "app", "--role", "crypto-user"], b"");
    // An admin cannot mint a key custodian's credential; the custodian makes its own.
    let refused = server.cli(&["principal", "access-key", "create", "custodian"], b"");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("creates its own access key"));
    let custodian = access_key_as(&server, "custodian", created["token"].as_str());
    let app = access_key(&server, "app");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/aws/clients.py");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let out = Command::new(&python)
        .arg(&script)
        .current_dir(&work)
        .env("KEYSTEAD_AWS_ENDPOINT", &server.addr)
        .env("KEYSTEAD_BIN", BIN)
        .env("KEYSTEAD_ADDR", &server.addr)
        .env("KEYSTEAD_DATA_DIR", &server.data_dir)
        .env_remove("KEYSTEAD_TOKEN")
        .env("CUSTODIAN_KEY_ID", &custodian.id)
        .env("CUSTODIAN_SECRET", &custodian.secret)
        .env("APP_KEY_ID", &app.id)
        .env("APP_SECRET", &app.secret)
        // Nothing from the developer's own AWS setup may leak in.
        .env("AWS_CONFIG_FILE", work.join("no-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", work.join("no-credentials"))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("ALL CHECKS PASSED"),
        "clients.py failed:\n{stdout}\n{stderr}"
    );
    eprintln!("{stdout}");
    // Every AWS call is audited with its source and operation.
    let audit = server.ok(&["audit", "list", "--output", "json", "--limit", "5000"], b"");
    assert!(audit.contains("TrentService.Encrypt") && audit.contains("\"sigv4\""), "AWS calls are audited");
    assert!(!audit.contains(&app.secret) && !server.log().contains(&app.secret));
}
