//! `wrap` and `unwrap`: AES key wrap (RFC 3394) of key material under a `wrap` key.

use keystead_core::{AuditAction, Envelope, Operation};
use keystead_crypto::SecretBytes;

use crate::{Caller, Error, Service};

impl Service {
    /// Wraps key material (16 to 4096 bytes, a multiple of 8) with the primary version.
    pub async fn wrap(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        material: &SecretBytes,
    ) -> Result<String, Error> {
        let (tenant, mut event) = self.attempt_in_tenant(caller, tenant, AuditAction::Wrap).await?;
        let result = async {
            let cached = self.key_for_use(caller, &tenant, key, Operation::Wrap, &mut event).await?;
            let (version, loaded) =
                self.protect_version(caller, &cached, Operation::Wrap, &mut event).await?;
            let payload = loaded.wrap(material)?;
            Ok(Envelope { key_id: cached.stored.attributes.id, version: version.info.number, payload }
                .to_string())
        }
        .await;
        self.finish_use(event, result).await
    }

    /// Unwraps a `ks1:` wrapped key; the key and version come from the envelope.
    pub async fn unwrap(&self, caller: &Caller, wrapped: &str) -> Result<SecretBytes, Error> {
        let (_, mut event) = self.attempt_in_tenant(caller, None, AuditAction::Unwrap).await?;
        let result = async {
            let envelope = Envelope::parse("wrapped key", wrapped)?;
            let cached =
                self.key_by_id_for_use(caller, envelope.key_id, Operation::Unwrap, &mut event).await?;
            let (loaded, _) =
                self.process_version(caller, &cached, envelope.version, Operation::Unwrap, None, &mut event)?;
            Ok(loaded.unwrap_key(&envelope.payload)?)
        }
        .await;
        self.finish_use(event, result).await
    }
}
