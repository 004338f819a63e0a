//! Bring your own key through the real binary: `key import-params`, `key import` (new key and
//! external key, raw and base64 wrapped files), `key delete-material`, and what `key show` says.

use base64::Engine as _;
use keystead_core::WrappingAlgorithm;
use keystead_crypto::{wrap_for_import, SecretBytes};
use serde_json::Value;

use crate::util::DevServer;

fn der_of_pem(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).unwrap()
}

#[test]
fn keys_are_imported_used_deleted_and_imported_again_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = DevServer::start(dir.path());
    let path = |name: &str| dir.path().join(name).to_string_lossy().into_owned();

    // A new key: parameters first, then the import creates it.
    let printed = server.ok(
        &[
            "key",
            "import-params",
            "byok",
            "--public-key-out",
            &path("pub.pem"),
            "--token-out",
            &path("token.txt"),
        ],
        b"",
    );
    assert!(printed.contains("a new key, created by the import"), "{printed}");
    let public = der_of_pem(&std::fs::read_to_string(path("pub.pem")).unwrap());
    let material = SecretBytes::from_slice(&[0x5a; 32]);
    let wrapped = wrap_for_import(WrappingAlgorithm::RsaOaepSha256, &public, &material).unwrap();
    std::fs::write(path("wrapped.bin"), &wrapped).unwrap();
    let import = [
        "key",
        "import",
        "byok",
        "--purpose",
        "encrypt",
        "--algorithm",
        "aes-256-gcm",
        "--wrapped",
        &path("wrapped.bin"),
        "--token",
        &path("token.txt"),
    ];
    let shown = server.ok(&import, b"");
    assert!(shown.contains("generated outside Keystead: not attested"), "{shown}");
    let ciphertext = server.ok(&["encrypt", "byok"], b"bring your own");
    assert_eq!(server.ok(&["decrypt"], ciphertext.as_bytes()), "bring your own");

    // The token imports once.
    let again = server.cli(&import, b"");
    assert!(!again.status.success());
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("used at"), "{stderr}");

    // An external key made first, an EC private key wrapped with the AES key wrap, base64 file.
    server.ok(
        &["key", "create", "ext", "--purpose", "sign", "--algorithm", "ecdsa-p256", "--origin", "external"],
        b"",
    );
    let pending: Value =
        serde_json::from_str(&server.ok(&["key", "show", "ext", "--output", "json"], b"")).unwrap();
    assert_eq!(pending["versions"][0]["state"], "pending-import");
    let refused = server.cli(&["sign", "ext"], b"m");
    assert!(!refused.status.success(), "a key without material refuses use");
    let params: Value = serde_json::from_str(&server.ok(
        &["key", "import-params", "ext", "--wrapping-algorithm", "rsa-aes-kw-sha256", "--output", "json"],
        b"",
    ))
    .unwrap();
    std::fs::write(path("ext-token.txt"), params["token"].as_str().unwrap()).unwrap();
    let ec = keystead_crypto::generate(keystead_core::Algorithm::EcdsaP256).unwrap();
    let public = der_of_pem(params["public_key_pem"].as_str().unwrap());
    let wrapped = wrap_for_import(WrappingAlgorithm::RsaAesKeyWrapSha256, &public, &ec.material).unwrap();
    std::fs::write(path("ext.b64"), base64::engine::general_purpose::STANDARD.encode(wrapped)).unwrap();
    let imported: Value = serde_json::from_str(&server.ok(
        &[
            "key",
            "import",
            "ext",
            "--wrapped",
            &path("ext.b64"),
            "--token",
            &path("ext-token.txt"),
            "--output",
            "json",
        ],
        b"",
    ))
    .unwrap();
    let version = &imported["versions"][0];
    assert_eq!(version["state"], "active");
    assert_eq!(version["kcv"], ec.kcv.as_str());
    assert_eq!(version["provenance"]["origin"], "external");
    assert_eq!(version["provenance"]["imported"]["wrapping_algorithm"], "rsa-aes-kw-sha256");
    server.ok(&["sign", "ext"], b"m");

    let deleted: Value =
        serde_json::from_str(&server.ok(&["key", "delete-material", "ext", "--output", "json"], b""))
            .unwrap();
    assert_eq!(deleted["versions"][0]["state"], "pending-import");
    assert!(!server.cli(&["sign", "ext"], b"m").status.success());
    let history = server.ok(&["audit", "list", "--key", "ext"], b"");
    for action in ["key.import-params", "key.import", "key.material-delete"] {
        assert!(history.contains(action), "{action} in {history}");
    }
}
