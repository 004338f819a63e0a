//! Bad input gets a clear error and changes nothing.

use std::collections::BTreeMap;

use keystead_core::{Envelope, KeyId, VersionNumber};
use keystead_service::{ErrorKind, SecretBytes};

use crate::harness::{request, Harness};

#[tokio::test]
async fn bad_input_changes_nothing() {
    let h = Harness::dev().await;
    let s = &h.service;
    let c = &h.caller;
    let ctx: BTreeMap<String, String> = [("tenant".to_owned(), "acme".to_owned())].into();
    let key = h.create("prompts", "encrypt", "aes-256-gcm").await;
    h.create("signer", "sign", "ed25519").await;
    h.create("other-signer", "sign", "ed25519").await;
    h.create("kek", "wrap", "aes-256-kw").await;
    let ct = s.encrypt(c, None, "prompts", b"hello", &ctx).await.unwrap();
    let before = serde_json::to_string(&s.list_keys(c, Default::default()).await.unwrap()).unwrap();

    let expect = |result: Result<(), keystead_service::Error>, kind: ErrorKind, needle: &str| {
        let err = result.expect_err("bad input must be refused");
        assert_eq!(err.kind(), kind, "{err}");
        assert!(err.to_string().contains(needle), "{err:?} lacks {needle:?}");
    };

    for malformed in
        ["", "hello", "ks1:", "ks1:zz:v1:AA", &ct.replace(":v1:", ":v0:"), &ct.replace(":v1:", ":v1:***")]
    {
        expect(
            s.decrypt(c, malformed, &ctx).await.map(|_| ()),
            ErrorKind::InvalidArgument,
            "malformed ciphertext",
        );
    }
    let mut truncated = ct.clone();
    truncated.truncate(ct.len() - 10);
    let result = s.decrypt(c, &truncated, &ctx).await.map(|_| ());
    assert!(matches!(result.unwrap_err().kind(), ErrorKind::DecryptionFailed | ErrorKind::InvalidArgument));
    let mut flipped = ct.clone().into_bytes();
    let last = flipped.len() - 2;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    expect(
        s.decrypt(c, std::str::from_utf8(&flipped).unwrap(), &ctx).await.map(|_| ()),
        ErrorKind::DecryptionFailed,
        "authentication failed",
    );
    let wrong: BTreeMap<String, String> = [("tenant".to_owned(), "globex".to_owned())].into();
    expect(s.decrypt(c, &ct, &wrong).await.map(|_| ()), ErrorKind::DecryptionFailed, "context");
    // A ciphertext whose header names another version or key fails authentication or lookup.
    let mut moved = Envelope::parse("ciphertext", &ct).unwrap();
    moved.version = VersionNumber::new(2).unwrap();
    expect(s.decrypt(c, &moved.to_string(), &ctx).await.map(|_| ()), ErrorKind::NotFound, "no version 2");
    moved.key_id = KeyId::from_random_bytes([3; 16]);
    expect(s.decrypt(c, &moved.to_string(), &ctx).await.map(|_| ()), ErrorKind::NotFound, "not found");

    expect(
        s.encrypt(c, None, "nope", b"x", &ctx).await.map(|_| ()),
        ErrorKind::NotFound,
        "key nope not found",
    );
    expect(s.encrypt(c, None, "", b"x", &ctx).await.map(|_| ()), ErrorKind::InvalidArgument, "key name");
    expect(
        s.encrypt(c, Some("bad tenant"), "prompts", b"x", &ctx).await.map(|_| ()),
        ErrorKind::InvalidArgument,
        "tenant",
    );
    expect(
        s.create_key(c, request("", "encrypt", "aes-256-gcm")).await.map(|_| ()),
        ErrorKind::InvalidArgument,
        "key name",
    );
    expect(
        s.create_key(c, request("prompts", "encrypt", "aes-256-gcm")).await.map(|_| ()),
        ErrorKind::AlreadyExists,
        "already exists",
    );
    let mut bad_label = request("labelled", "encrypt", "aes-256-gcm");
    bad_label.labels.insert("bad key".into(), "v".into());
    expect(s.create_key(c, bad_label).await.map(|_| ()), ErrorKind::InvalidArgument, "label");
    let mut bad_period = request("periodic", "encrypt", "aes-256-gcm");
    bad_period.rotation_period = Some("soon".into());
    expect(s.create_key(c, bad_period).await.map(|_| ()), ErrorKind::InvalidArgument, "duration");
    expect(
        s.wrap(c, None, "kek", &SecretBytes::from_slice(&[1; 15])).await.map(|_| ()),
        ErrorKind::InvalidArgument,
        "RFC 3394",
    );
    let foreign = s.sign(c, None, "other-signer", b"m").await.unwrap();
    expect(
        s.verify(c, None, "signer", b"m", &foreign).await.map(|_| ()),
        ErrorKind::InvalidArgument,
        "was made by key",
    );
    expect(s.rotate_key(c, None, "nope").await.map(|_| ()), ErrorKind::NotFound, "not found");
    expect(
        s.deactivate_key(c, None, "prompts", Some(9)).await.map(|_| ()),
        ErrorKind::NotFound,
        "no version 9",
    );

    let after = serde_json::to_string(&s.list_keys(c, Default::default()).await.unwrap()).unwrap();
    assert_eq!(before, after, "no key changed");
    assert_eq!(s.decrypt(c, &ct, &ctx).await.unwrap().plaintext.expose_secret(), b"hello");
    assert_eq!(key.versions.len(), 1);
    let report = s.audit_verify(c).await.unwrap();
    assert!(report.intact(), "{report:?}");
}
