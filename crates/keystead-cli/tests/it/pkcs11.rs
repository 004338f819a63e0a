//! The `pkcs11` seal against SoftHSM2 with the real binary: a token is made in the test;
//! `operator init` wraps the root key with a key generated in the token; the server restarts
//! unsealed by the token alone; `operator seal` holds until a restart (`operator unseal` is
//! refused); a wrong PIN or a token without the key refuses to start.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::util::{free_port, DevServer, BIN};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "4321-user";

/// A private SoftHSM2 token directory with one initialized token labelled `label`; the
/// `SOFTHSM2_CONF` file to point the module at it. `None` (outside CI) if SoftHSM2 is absent.
fn softhsm(dir: &Path, label: &str) -> Option<PathBuf> {
    if !Path::new(MODULE).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "SoftHSM2 ({MODULE}) is missing; .ci/run installs the softhsm2 package"
        );
        eprintln!("skipping: SoftHSM2 is not installed (apt-get install softhsm2)");
        return None;
    }
    let tokens = dir.join("tokens");
    std::fs::create_dir_all(&tokens).unwrap();
    let conf = dir.join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!("directories.tokendir = {}\nobjectstore.backend = file\n", tokens.display()),
    )
    .unwrap();
    let out = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", label, "--so-pin", "so-9876", "--pin", PIN])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .expect("run softhsm2-util");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Some(conf)
}

fn config(dir: &Path, port: u16, token: &str) -> PathBuf {
    let path = dir.join("keystead.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:{port}\"\nenvironment = \"staging\"\nnode = \"hsm-node\"\n\
             [storage]\nurl = \"sqlite://{}\"\n\
             [seal]\nkind = \"pkcs11\"\nmodule = \"{MODULE}\"\ntoken_label = \"{token}\"\n",
            dir.join("keystead.db").display()
        ),
    )
    .unwrap();
    path
}

fn start(dir: &Path, port: u16, conf: &Path, pin: &str) -> DevServer {
    let config = dir.join("keystead.toml");
    DevServer::start_configured_env(
        dir,
        &config,
        &format!("http://127.0.0.1:{port}"),
        &[],
        &[("SOFTHSM2_CONF", conf.to_str().unwrap()), ("KEYSTEAD_PKCS11_PIN", pin)],
    )
}

/// `keystead server --config` that must refuse to start; its stderr.
fn refused_start(dir: &Path, conf: &Path, pin: &str) -> String {
    let out = Command::new(BIN)
        .args(["server", "--config"])
        .arg(dir.join("keystead.toml"))
        .env("SOFTHSM2_CONF", conf)
        .env("KEYSTEAD_PKCS11_PIN", pin)
        .output()
        .expect("run keystead server");
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_pkcs11_seal_initializes_seals_and_unseals_with_softhsm2() {
    let dir = tempfile::tempdir().unwrap();
    let Some(conf) = softhsm(dir.path(), "keystead-hsm") else { return };
    let node = dir.path().join("node");
    std::fs::create_dir_all(&node).unwrap();
    let port = free_port();
    config(&node, port, "keystead-hsm");

    let server = start(&node, port, &conf, PIN);
    // Not initialized yet: status says so (and exits non-zero, as a sealed server does).
    let status = server.cli(&["--output", "json", "operator", "status"], b"");
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(status["kind"], "pkcs11", "{status}");
    assert_eq!(status["initialized"], false, "{status}");
    // Shares make no sense here: refused clearly.
    let with_shares = server.cli(&["operator", "init", "--shares", "3", "--threshold", "2"], b"");
    assert!(String::from_utf8_lossy(&with_shares.stderr).contains("issues no shares"));
    let init: Value =
        serde_json::from_str(&server.ok(&["--output", "json", "operator", "init"], b"")).unwrap();
    assert_eq!(init["shares"].as_array().unwrap().len(), 0, "{init}");
    let root = init["root_token"].as_str().unwrap().to_owned();
    let cli =
        |args: &[&str], stdin: &[u8]| server.ok(&[&["--token", root.as_str()][..], args].concat(), stdin);
    // Unsealed at once by the token: keys work.
    cli(&["key", "create", "weights", "--purpose", "encrypt", "--algorithm", "aes-256-gcm"], b"");
    let ciphertext = cli(&["encrypt", "weights"], b"model weights");

    // An operator's seal holds until a restart: the unseal route takes no credentials, so it
    // may not undo the seal through the token.
    cli(&["operator", "seal"], b"");
    let sealed = server.cli(&["--token", &root, "encrypt", "weights"], b"x");
    assert_eq!(sealed.status.code(), Some(8), "{}", String::from_utf8_lossy(&sealed.stderr));
    let unseal = server.cli(&["operator", "unseal", "anything"], b"");
    assert!(String::from_utf8_lossy(&unseal.stderr).contains("restart it to unseal"), "{unseal:?}");
    server.stop();

    // The store holds the root key only wrapped by the token's key: a restart with a wrong
    // PIN, or with another token, does not start.
    let refused = refused_start(&node, &conf, "wrong-pin");
    assert!(refused.contains("PIN"), "{refused}");
    let other = dir.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    let other_conf = softhsm(&other, "keystead-hsm").unwrap();
    let refused = refused_start(&node, &other_conf, PIN);
    assert!(refused.contains("no key labelled"), "{refused}");

    // Restart with the token: unsealed without any operator, old ciphertexts decrypt.
    let server = start(&node, port, &conf, PIN);
    let status: Value =
        serde_json::from_str(&server.ok(&["--token", &root, "--output", "json", "operator", "status"], b""))
            .unwrap();
    assert_eq!(status["seal"]["kind"], "pkcs11", "{status}");
    assert_eq!(status["seal"]["sealed"], false, "{status}");
    assert_eq!(server.ok(&["--token", &root, "decrypt"], ciphertext.as_bytes()), "model weights");
    let audit: Value =
        serde_json::from_str(&server.ok(&["--token", &root, "--output", "json", "audit", "list"], b""))
            .unwrap();
    let by_token: Vec<(&str, &str)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["details"]["seal"] == "pkcs11")
        .map(|e| (e["action"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .collect();
    // The init, the refused unseal and the unseal at restart.
    assert_eq!(
        by_token,
        [("operator.init", "success"), ("operator.unseal", "denied"), ("operator.unseal", "success")],
        "{audit}"
    );
    let log = server.stop();
    assert!(!log.contains(PIN), "the PIN reached the server log");
}
