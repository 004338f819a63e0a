//! The barrier: every version's material is sealed under the root key with AES-256-GCM, with
//! associated data that names the key, so a sealed row moved or edited in the database fails
//! to open.

use std::fmt;

use keystead_core::envelope::NONCE_LEN;
use keystead_core::Algorithm;

use crate::{Error, LoadedKey, SecretBytes};

/// The root key: 256 bits, only ever held in memory.
pub struct RootKey {
    key: LoadedKey,
}

impl fmt::Debug for RootKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RootKey(redacted)")
    }
}

impl RootKey {
    /// Length of the root key in bytes.
    pub const LEN: usize = 32;

    /// Generates a new root key.
    pub fn generate() -> Result<(Self, SecretBytes), Error> {
        let material = crate::generate(Algorithm::Aes256Gcm)?.material;
        Ok((Self::from_material(&material)?, material))
    }

    /// Loads a root key from its 32 bytes.
    pub fn from_material(material: &SecretBytes) -> Result<Self, Error> {
        if material.len() != Self::LEN {
            return Err(Error::InvalidMaterial { algorithm: Algorithm::Aes256Gcm });
        }
        Ok(Self { key: LoadedKey::load(Algorithm::Aes256Gcm, material)? })
    }

    /// The root key's check value, recorded so a wrong root key is recognised at unseal.
    pub fn kcv(&self) -> String {
        self.key.kcv().unwrap_or_default()
    }

    /// Seals `plaintext` bound to `aad`: nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, aad: &[u8], plaintext: &SecretBytes) -> Result<Vec<u8>, Error> {
        let (nonce, mut ciphertext) = self.key.aead_seal(aad, plaintext.expose_secret())?;
        let mut out = nonce.to_vec();
        out.append(&mut ciphertext);
        Ok(out)
    }

    /// Opens what [`seal`](Self::seal) produced with the same `aad`.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, Error> {
        let (nonce, ciphertext) = sealed.split_first_chunk::<NONCE_LEN>().ok_or(Error::Unseal)?;
        self.key.aead_open(nonce, aad, ciphertext).map_err(|_| Error::Unseal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_material_is_bound_to_its_associated_data() {
        let (root, _) = RootKey::generate().unwrap();
        let secret = SecretBytes::from_slice(b"material");
        let sealed = root.seal(b"tenant|key|1|encrypt", &secret).unwrap();
        assert!(root.open(b"tenant|key|1|encrypt", &sealed).unwrap().ct_eq(&secret));
        assert!(matches!(root.open(b"tenant|key|1|sign", &sealed), Err(Error::Unseal)));
        let (other, _) = RootKey::generate().unwrap();
        assert!(matches!(other.open(b"tenant|key|1|encrypt", &sealed), Err(Error::Unseal)));
        assert!(matches!(root.open(b"x", &sealed[..5]), Err(Error::Unseal)));
    }
}
