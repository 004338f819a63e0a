//! `encrypt`, `decrypt` and `datakey`. Hot path: the key comes from the cache; nothing is read
//! from the database. Every use is audited: a success once its event is committed (group
//! commit, `use_audit.rs`), a refusal or failure as it happens.

use std::collections::BTreeMap;

use keystead_core::envelope::{ciphertext_aad, unix_ms, AeadPayload};
use keystead_core::{Action, AuditAction, AuditEvent, Envelope, Operation, Purpose};
use keystead_crypto::LoadedKey;
use keystead_store::StoredVersion;

use crate::cache::CachedKey;
use crate::error::invalid;
use crate::{Caller, DataKeyView, DecryptView, Error, RewrapView, Service};

/// Largest plaintext accepted by `encrypt` (16 MiB); larger data should use `datakey`.
pub const MAX_PLAINTEXT: usize = 16 * 1024 * 1024;
/// The most random bytes one request gets (AWS `GenerateRandom` and data keys).
pub const MAX_RANDOM: usize = 1024;
/// At most this many context pairs, each key and value at most 256 bytes.
const MAX_CONTEXT_PAIRS: usize = 64;

fn check_context(context: &BTreeMap<String, String>) -> Result<(), Error> {
    if context.len() > MAX_CONTEXT_PAIRS {
        return Err(invalid("context", "at most 64 pairs"));
    }
    if context.iter().any(|(k, v)| k.is_empty() || k.len() > 256 || v.len() > 256) {
        return Err(invalid("context", "keys must be 1 to 256 bytes and values at most 256 bytes"));
    }
    Ok(())
}

/// OAEP label binding the context, when one is given.
fn oaep_label(
    cached: &CachedKey,
    version: keystead_core::VersionNumber,
    context: &BTreeMap<String, String>,
) -> Option<Vec<u8>> {
    (!context.is_empty()).then(|| ciphertext_aad(cached.stored.attributes.id, version, 0, context))
}

impl Service {
    /// Encrypts under the key's primary version; returns a `ks1:` ciphertext.
    pub async fn encrypt(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        plaintext: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<String, Error> {
        let (tenant, mut event) = self.attempt_in_tenant(caller, tenant, AuditAction::Encrypt).await?;
        let result = async {
            if plaintext.len() > MAX_PLAINTEXT {
                return Err(invalid(
                    "plaintext",
                    "larger than 16 MiB; encrypt large data locally with a data key (keystead datakey)",
                ));
            }
            check_context(context)?;
            let cached = self.key_for_use(caller, &tenant, key, Operation::Encrypt, &mut event).await?;
            let (version, loaded) =
                self.protect_version(caller, &cached, Operation::Encrypt, &mut event).await?;
            self.encrypt_with(&cached, version, loaded, plaintext, context)
        }
        .await;
        self.finish_use(event, result).await
    }

    fn encrypt_with(
        &self,
        cached: &CachedKey,
        version: &StoredVersion,
        loaded: &LoadedKey,
        plaintext: &[u8],
        context: &BTreeMap<String, String>,
    ) -> Result<String, Error> {
        let number = version.info.number;
        let key_id = cached.stored.attributes.id;
        let payload = if cached.stored.attributes.purpose == Purpose::AsymmetricDecrypt {
            loaded.rsa_encrypt(plaintext, oaep_label(cached, number, context).as_deref())?
        } else {
            let protected_at_ms = unix_ms(self.now());
            let aad = ciphertext_aad(key_id, number, protected_at_ms, context);
            let (nonce, ciphertext) = loaded.aead_seal(&aad, plaintext)?;
            AeadPayload { protected_at_ms, nonce, ciphertext }.to_bytes()
        };
        Ok(Envelope { key_id, version: number, payload }.to_string())
    }

    /// Decrypts a `ks1:` ciphertext; the key and version come from the ciphertext. With a
    /// compromised version the result carries a warning when the data may be an attacker's.
    pub async fn decrypt(
        &self,
        caller: &Caller,
        ciphertext: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<DecryptView, Error> {
        let (_, mut event) = self.attempt_in_tenant(caller, None, AuditAction::Decrypt).await?;
        let result = async {
            check_context(context)?;
            let envelope = Envelope::parse("ciphertext", ciphertext)?;
            let cached =
                self.key_by_id_for_use(caller, envelope.key_id, Operation::Decrypt, &mut event).await?;
            self.decrypt_envelope(caller, &cached, &envelope, context, Operation::Decrypt, &mut event)
        }
        .await;
        self.finish_use(event, result).await
    }

    fn decrypt_envelope(
        &self,
        caller: &Caller,
        cached: &CachedKey,
        envelope: &Envelope,
        context: &BTreeMap<String, String>,
        operation: Operation,
        event: &mut AuditEvent,
    ) -> Result<DecryptView, Error> {
        if cached.stored.attributes.purpose == Purpose::AsymmetricDecrypt {
            let (loaded, warning) =
                self.process_version(caller, cached, envelope.version, operation, None, event)?;
            let label = oaep_label(cached, envelope.version, context);
            let plaintext = loaded.rsa_decrypt(&envelope.payload, label.as_deref())?;
            return Ok(DecryptView { plaintext, warning: warning.map(str::to_owned) });
        }
        let payload = AeadPayload::parse(&envelope.payload)?;
        let (loaded, warning) =
            self.process_version(caller, cached, envelope.version, operation, payload.protected_at(), event)?;
        let aad = ciphertext_aad(envelope.key_id, envelope.version, payload.protected_at_ms, context);
        let plaintext = loaded.aead_open(&payload.nonce, &aad, &payload.ciphertext)?;
        Ok(DecryptView { plaintext, warning: warning.map(str::to_owned) })
    }

    /// Re-encrypts a ciphertext under its key's primary version; the plaintext never leaves
    /// the service. Crypto users need decrypt and encrypt on the key; incident responders
    /// rewrap data of compromised versions (with a justification) onto a clean version. Data
    /// that may be an attacker's (protected after the compromise, or at an unknown time) is
    /// refused unless `accept_suspect`: a clean version would otherwise vouch for it.
    pub async fn rewrap(
        &self,
        caller: &Caller,
        ciphertext: &str,
        context: &BTreeMap<String, String>,
        accept_suspect: bool,
    ) -> Result<RewrapView, Error> {
        let (_, mut event) = self.attempt_in_tenant(caller, None, AuditAction::Rewrap).await?;
        let result = async {
            self.authorize(caller, Action::Rewrap, None)?;
            check_context(context)?;
            let envelope = Envelope::parse("ciphertext", ciphertext)?;
            let cached =
                self.key_by_id_for_use(caller, envelope.key_id, Operation::Decrypt, &mut event).await?;
            // A caller reaching the key only as an incident responder rewraps compromised
            // data (checked with the source version below) onto a clean version without
            // holding encrypt; anyone else needs encrypt on the key as well.
            if !self.responder_access_only(caller, &cached, Operation::Decrypt) {
                self.authorize(caller, Action::Use(Operation::Encrypt), Some(&cached.stored.attributes))?;
            }
            let opened =
                self.decrypt_envelope(caller, &cached, &envelope, context, Operation::Decrypt, &mut event)?;
            event.details.insert("from_version".into(), envelope.version.to_string());
            if opened.warning.is_some() {
                if !accept_suspect {
                    return Err(Error::SuspectData {
                        key: cached.stored.attributes.name.to_string(),
                        version: envelope.version.get(),
                    });
                }
                event.details.insert("accepted_suspect".into(), "true".into());
            }
            let (version, loaded) = cached.primary_for(Operation::Encrypt, &mut event)?;
            event.details.insert("to_version".into(), version.info.number.to_string());
            let ciphertext =
                self.encrypt_with(&cached, version, loaded, opened.plaintext.expose_secret(), context)?;
            Ok(RewrapView {
                ciphertext,
                from_version: envelope.version.get(),
                to_version: version.info.number.get(),
                warning: opened.warning,
            })
        }
        .await;
        self.finish_use(event, result).await
    }

    /// Generates a 256-bit data key and returns it in clear and encrypted under `key`.
    pub async fn generate_data_key(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        context: &BTreeMap<String, String>,
    ) -> Result<DataKeyView, Error> {
        self.generate_data_key_sized(caller, tenant, key, context, 32).await
    }

    /// Generates a data key of `bytes` random bytes (1 to 1024, as AWS `NumberOfBytes`)
    /// and returns it in clear and encrypted under `key`.
    pub async fn generate_data_key_sized(
        &self,
        caller: &Caller,
        tenant: Option<&str>,
        key: &str,
        context: &BTreeMap<String, String>,
        bytes: usize,
    ) -> Result<DataKeyView, Error> {
        let (tenant, mut event) = self.attempt_in_tenant(caller, tenant, AuditAction::DataKey).await?;
        event.details.insert("bytes".into(), bytes.to_string());
        let result = async {
            if !(1..=MAX_RANDOM).contains(&bytes) {
                return Err(invalid("number of bytes", "give 1 to 1024 bytes"));
            }
            check_context(context)?;
            let cached = self.key_for_use(caller, &tenant, key, Operation::DataKey, &mut event).await?;
            // A bare secret: no key schedule or check value is needed for a data key.
            let plaintext = keystead_crypto::random_secret(bytes)?;
            let (version, loaded) =
                self.protect_version(caller, &cached, Operation::DataKey, &mut event).await?;
            let ciphertext =
                self.encrypt_with(&cached, version, loaded, plaintext.expose_secret(), context)?;
            Ok(DataKeyView { plaintext, ciphertext })
        }
        .await;
        self.finish_use(event, result).await
    }

    /// `bytes` random bytes from the DRBG (1 to 1024), for any authenticated caller; audited
    /// as `random.generate` with the count, never the bytes.
    pub async fn generate_random(
        &self,
        caller: &Caller,
        bytes: usize,
    ) -> Result<keystead_crypto::SecretBytes, Error> {
        let (_, mut event) = self.attempt_in_tenant(caller, None, AuditAction::Random).await?;
        event.details.insert("bytes".into(), bytes.to_string());
        let result = async {
            self.require_unsealed()?;
            if !(1..=MAX_RANDOM).contains(&bytes) {
                return Err(invalid("number of bytes", "give 1 to 1024 bytes"));
            }
            Ok(keystead_crypto::random_secret(bytes)?)
        }
        .await;
        // Answered only once its event is durable, like every use.
        self.finish_use(event, result).await
    }
}
