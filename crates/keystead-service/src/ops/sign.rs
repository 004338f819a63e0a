//! `sign`, `verify`, `mac`, `mac-verify`. Signatures and tags are `ks1:` envelopes naming the
//! key and version; the raw signature inside verifies with the public key alone.

use keystead_core::{AuditAction, Envelope, Operation};

use crate::error::invalid;
use crate::{Caller, Error, Service};

/// Largest message accepted for signing or MAC (16 MiB).
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

impl Service {
    /// Signs with the primary version; ECDSA signatures are DER, RSA uses PSS.
    pub async fn sign(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        message: &[u8],
    ) -> Result<String, Error> {
        self.protect_message(caller, tenant, key, message, Operation::Sign, AuditAction::Sign).await
    }

    /// Computes an HMAC tag with the primary version.
    pub async fn mac(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        message: &[u8],
    ) -> Result<String, Error> {
        self.protect_message(caller, tenant, key, message, Operation::Mac, AuditAction::Mac).await
    }

    /// Verifies a signature made by `key`; `Ok(false)` when it does not verify.
    pub async fn verify(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        message: &[u8],
        signature: &str,
    ) -> Result<bool, Error> {
        self.check_message(caller, tenant, key, message, signature, Operation::Verify, AuditAction::Verify)
            .await
    }

    /// Verifies an HMAC tag made by `key` in constant time; `Ok(false)` when it does not match.
    pub async fn mac_verify(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        message: &[u8],
        tag: &str,
    ) -> Result<bool, Error> {
        self.check_message(caller, tenant, key, message, tag, Operation::MacVerify, AuditAction::MacVerify)
            .await
    }

    async fn protect_message(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        message: &[u8],
        operation: Operation,
        action: AuditAction,
    ) -> Result<String, Error> {
        let (tenant, mut event) = self.attempt_in_tenant(caller, tenant, action).await?;
        let result = async {
            if message.len() > MAX_MESSAGE {
                return Err(invalid("message", "larger than 16 MiB; sign a digest of large files instead"));
            }
            let cached = self.key_for_use(caller, &tenant, key, operation, &mut event).await?;
            if super::checkpoint::is_audit_signing(&cached.stored.attributes) {
                return Err(Error::ReservedKey { key: cached.stored.attributes.name.to_string() });
            }
            let (version, loaded) = self.protect_version(caller, &cached, operation, &mut event).await?;
            let payload = match operation {
                Operation::Mac => loaded.mac(message)?,
                _ => loaded.sign(message)?,
            };
            Ok(Envelope { key_id: cached.stored.attributes.id, version: version.info.number, payload }
                .to_string())
        }
        .await;
        self.finish_use(event, result).await
    }

    #[allow(clippy::too_many_arguments, reason = "one flat signature per verify-style operation")]
    async fn check_message(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        message: &[u8],
        envelope: &str,
        operation: Operation,
        action: AuditAction,
    ) -> Result<bool, Error> {
        let what = if operation == Operation::Verify { "signature" } else { "MAC tag" };
        let (tenant, mut event) = self.attempt_in_tenant(caller, tenant, action).await?;
        let result = async {
            if message.len() > MAX_MESSAGE {
                return Err(invalid("message", "larger than 16 MiB"));
            }
            let envelope = Envelope::parse(what, envelope)?;
            let cached = self.key_for_use(caller, &tenant, key, operation, &mut event).await?;
            if envelope.key_id != cached.stored.attributes.id {
                return Err(invalid(
                    "signature",
                    format!("this {what} was made by key {}, not by {key}", envelope.key_id),
                ));
            }
            let (loaded, _) =
                self.process_version(caller, &cached, envelope.version, operation, None, &mut event)?;
            let valid = match operation {
                Operation::MacVerify => loaded.mac_verify(message, &envelope.payload)?,
                _ => loaded.verify(message, &envelope.payload)?,
            };
            event.details.insert("valid".into(), valid.to_string());
            Ok(valid)
        }
        .await;
        self.finish_use(event, result).await
    }
}
