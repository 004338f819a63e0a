//! CEK-11: every (purpose, operation) pair the table forbids is refused through the service,
//! with an error naming key, purpose and operation, and a `denied` audit event.

use std::collections::BTreeMap;

use keystead_core::{AuditAction, Envelope, Operation, Outcome, Purpose, VersionNumber};
use keystead_service::{ErrorKind, SecretBytes};

use crate::harness::Harness;

#[tokio::test]
async fn every_wrong_purpose_operation_pair_is_refused_and_audited() {
    let h = Harness::dev().await;
    let s = &h.service;
    let c = &h.caller;
    let no_context = BTreeMap::new();
    let keys = [
        (Purpose::Encrypt, "aes-256-gcm"),
        (Purpose::Sign, "ed25519"),
        (Purpose::Mac, "hmac-sha256"),
        (Purpose::Wrap, "aes-256-kw"),
        (Purpose::AsymmetricDecrypt, "rsa-2048-oaep"),
    ];
    let mut refused = 0;
    for (purpose, algorithm) in keys {
        let name = format!("key-{purpose}");
        let view = h.create(&name, purpose.as_str(), algorithm).await;
        // An envelope naming this key, as a ciphertext, signature or wrapped key would.
        let envelope =
            Envelope { key_id: view.attributes.id, version: VersionNumber::FIRST, payload: vec![0; 64] }
                .to_string();
        for operation in Operation::ALL.iter().copied().filter(|op| !op.allowed_for(purpose)) {
            let result = match operation {
                Operation::Encrypt => s.encrypt(c, None, &name, b"x", &no_context).await.map(|_| ()),
                Operation::Decrypt => s.decrypt(c, &envelope, &no_context).await.map(|_| ()),
                Operation::Sign => s.sign(c, None, &name, b"x").await.map(|_| ()),
                Operation::Verify => s.verify(c, None, &name, b"x", &envelope).await.map(|_| ()),
                Operation::Mac => s.mac(c, None, &name, b"x").await.map(|_| ()),
                Operation::MacVerify => s.mac_verify(c, None, &name, b"x", &envelope).await.map(|_| ()),
                Operation::Wrap => {
                    s.wrap(c, None, &name, &SecretBytes::from_slice(&[1; 32])).await.map(|_| ())
                }
                Operation::Unwrap => s.unwrap(c, &envelope).await.map(|_| ()),
                Operation::DataKey => s.generate_data_key(c, None, &name, &no_context).await.map(|_| ()),
            };
            let err = result.expect_err("a purpose violation must be refused");
            assert_eq!(err.kind(), ErrorKind::PurposeViolation, "{purpose} × {operation}: {err}");
            let message = err.to_string();
            assert!(
                message.contains(&name)
                    && message.contains(purpose.as_str())
                    && message.contains(operation.as_str()),
                "{message}"
            );
            refused += 1;

            let last = h.audit().await.pop().expect("an audit event");
            assert_eq!(last.event.action, AuditAction::from(operation));
            assert_eq!(last.event.outcome, Outcome::Denied);
            assert_eq!(last.event.error_code.as_deref(), Some("purpose_violation"));
            assert_eq!(last.event.key_id, Some(view.attributes.id));
            assert_eq!(last.event.purpose, Some(purpose));
        }
    }
    // 5 purposes × 9 operations, less the 11 allowed pairs.
    assert_eq!(refused, 5 * 9 - 11);
    let denied = h
        .audit()
        .await
        .into_iter()
        .filter(|r| r.event.error_code.as_deref() == Some("purpose_violation"))
        .count();
    assert_eq!(denied, refused);
}
